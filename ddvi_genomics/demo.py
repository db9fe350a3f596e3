"""The core quickstart as a function: DDVI with a pinwheel prior on scikit-learn's 8x8 digits.

The digits (1,797 handwritten 8x8 images, UCI ML repository, shipped inside scikit-learn) are a
small real data set that every installation has. The configuration shrinks the reference's MNIST
networks and epochs so that the run takes about a minute on two CPU cores.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .core.metrics import knn_accuracy, latent_nll
from .core.models.ddvi import DDVI, DDVIConfig
from .core.runtime import derive_seed, resolve_device, seeded_global_rng, stream

#: Quickstart configuration: reference maths, smaller networks and schedule (see module docstring).
DIGITS_CONFIG = DDVIConfig(
    prior="pinwheel",
    hidden=(256, 256),
    context_hidden=(256,),
    prior_pretrain_epochs=2,
    prior_pretrain_steps_per_epoch=500,
    stage1_epochs=5,
    epochs=40,
    batch_size=64,
    stage1_lr=2e-3,
    lr=2e-3,
)


def load_digits_split(seed: int = 0):
    """Digits scaled to [0, 1], stratified 75/25 split: ``(x_train, x_test, y_train, y_test)``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(
        (x / 16.0).astype(np.float32), y, test_size=0.25, random_state=seed, stratify=y
    )


def run_digits_demo(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    device: str = "auto",
    config: DDVIConfig = DIGITS_CONFIG,
    verbose: bool | None = None,
) -> dict:
    """Fit DDVI on the digits, write ``metrics.json``, ``latents.png`` and ``model.pt``.

    Parameters
    ----------
    out_dir : path
        Output folder (created).
    seed : int
    device : str
    config : DDVIConfig
    verbose : bool, optional

    Returns
    -------
    dict
        kNN accuracy (k = 20, train -> test latents), latent NLL of the test latents on 10,000 prior
        samples, the same two numbers before training, wall time and device.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    x_tr, x_te, y_tr, y_te = load_digits_split(seed)
    with seeded_global_rng(derive_seed(seed, "init")):  # network initialisation
        model = DDVI(x_tr.shape[1], config).to(dev)
    prior_z = model.prior.sample(10_000, generator=stream(seed, "prior-reference")).cpu()

    def scores():
        g = stream(seed, "posterior", dev)
        z_tr, z_te = model.encode(x_tr, generator=g), model.encode(x_te, generator=g)
        return knn_accuracy(z_tr, y_tr, z_te, y_te, k=20), latent_nll(z_te, prior_z), z_te

    knn0, nll0, _ = scores()
    start = time.perf_counter()
    model.fit(x_tr, device=dev, seed=seed, verbose=verbose)
    seconds = time.perf_counter() - start
    knn, nll, z_te = scores()
    metrics = {
        "knn_accuracy": knn,
        "latent_nll": nll,
        "knn_accuracy_at_init": knn0,
        "latent_nll_at_init": nll0,
        "fit_seconds": seconds,
        "device": str(dev),
        "seed": seed,
        "config": config.to_dict(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    model.save(out / "model.pt")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(prior_z[:3000, 0], prior_z[:3000, 1], s=1, c="0.85", label="prior samples")
    pts = ax.scatter(z_te[:, 0], z_te[:, 1], c=y_te, cmap="tab10", s=8)
    fig.colorbar(pts, ax=ax, label="digit")
    ax.set_title(f"DDVI test latents (kNN acc {knn:.2f}, latent NLL {nll:.2f})")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(out / "latents.png", dpi=120)
    plt.close(fig)
    return metrics
