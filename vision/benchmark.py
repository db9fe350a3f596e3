"""One benchmark run: data -> model -> fit -> metrics, written to a run directory.

A run directory holds ``spec.json`` (what was asked), ``config.json`` (the model config),
``checkpoint.pt`` (for resume), ``model.pt``, ``metrics.json``, ``latents.png``, ``samples.png``
and ``provenance.json``. :func:`evaluate_run` recomputes the metrics from ``model.pt``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from pathlib import Path

import numpy as np

from ddvi_genomics.core.data import mask_labels
from ddvi_genomics.core.metrics import (
    class_head_accuracy,
    knn_accuracy,
    latent_nll,
    mmd_rbf,
    mmd_reference,
)
from ddvi_genomics.core.runtime import derive_seed, resolve_device, seeded_global_rng, stream
from ddvi_genomics.core.training import load_plain
from ddvi_genomics.provenance import provenance

from . import data as vdata
from . import nets, presets


@dataclasses.dataclass
class RunSpec:
    """Everything needed to rebuild a run."""

    dataset: str
    method: str
    prior: str
    semi: bool = False
    labels: int | None = None
    seed: int = 0
    epochs: int | None = None
    subset: int | None = None
    test_subset: int | None = None
    data_dir: str | None = None
    synthetic: bool = False
    label_masking: str = "balanced"
    smoke: bool = False
    data_epochs: int | None = None  # equal data-epoch budget (DDVI's stages counted together)
    weights: str = "reference"  # presets.WEIGHTINGS
    diffusion_steps: int | None = None  # DDVI's T (ablation)
    semi_objective: str | None = None  # presets.SEMI_OBJECTIVES; None: the family's default (m2)

    def __post_init__(self):
        if self.epochs is not None and self.data_epochs is not None:
            raise ValueError("give --epochs (every stage) or --data-epochs (all stages), not both")
        if self.weights not in presets.WEIGHTINGS:
            raise ValueError(
                f"--weights {self.weights!r} is not allowed; choose one of {list(presets.WEIGHTINGS)}"
            )
        if self.weights == "elbo" and self.semi:
            raise ValueError("--weights elbo applies to the unsupervised setting only")
        if self.semi_objective is not None:
            presets.check_semi_objective(self.method, self.semi, self.semi_objective)
        if self.diffusion_steps is not None and self.method != "ddvi":
            raise ValueError(f"--diffusion-steps applies to ddvi only; got method {self.method!r}")
        for name in (
            "labels",
            "epochs",
            "subset",
            "test_subset",
            "data_epochs",
            "diffusion_steps",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"--{name.replace('_', '-')} must be an integer >= 1; got {value!r}"
                )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer; got {self.seed!r}")


def load_data(spec: RunSpec) -> dict[str, np.ndarray]:
    """Training and test arrays for a spec (synthetic images when ``spec.synthetic``)."""
    if spec.synthetic:
        shape = (784,) if spec.dataset == "mnist" else nets.CIFAR_SHAPE
        n = spec.subset or 256
        x, y = vdata.synthetic_images(n, shape, seed=derive_seed(spec.seed, "train-images"))
        xt, yt = vdata.synthetic_images(
            spec.test_subset or max(n // 4, 64), shape, seed=derive_seed(spec.seed, "test-images")
        )
        return {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}
    if spec.data_dir is None:
        raise ValueError("--data-dir is required (or use the synthetic smoke mode)")
    arrays = vdata.load_dataset(spec.dataset, spec.data_dir)
    if spec.subset:
        arrays["x_train"], arrays["y_train"] = (
            arrays["x_train"][: spec.subset],
            arrays["y_train"][: spec.subset],
        )
    if spec.test_subset:
        arrays["x_test"], arrays["y_test"] = (
            arrays["x_test"][: spec.test_subset],
            arrays["y_test"][: spec.test_subset],
        )
    return arrays


def _networks(spec: RunSpec, cfg) -> dict:
    if spec.dataset != "cifar10":
        return {}
    decoder = nets.TransposedConvDecoder(
        cfg.latent_dim,
        likelihood=getattr(cfg, "likelihood", "bernoulli"),
        scale=getattr(cfg, "decoder_scale", 1.0),
    )
    if spec.method == "ddvi":
        return {
            "encoder": None,
            "decoder": decoder,
            "context_net": nets.cifar_context_net(cfg.context_dim, cfg.context_dropout),
            "_encoder_body": nets.cifar_encoder_body(cfg.hidden[-1], cfg.dropout),
        }
    return {
        "encoder_body": nets.cifar_encoder_body(cfg.hidden[-1], cfg.dropout),
        "decoder": decoder,
    }


def build_networks(spec: RunSpec, cfg) -> dict:
    """Return constructor keyword arguments for CIFAR networks (none for MNIST)."""
    kw = _networks(spec, cfg)
    body = kw.pop("_encoder_body", None)
    if body is not None:
        from ddvi_genomics.core.nn import GaussianEncoder

        n_classes = getattr(cfg, "n_classes", 0) if spec.semi else 0
        kw["encoder"] = GaussianEncoder(
            nets.CIFAR_FEATURES, cfg.hidden, cfg.latent_dim, body=body, n_classes=n_classes
        )
    return kw


def build_model(spec: RunSpec):
    """Build the model for a spec, with reference hyperparameters and the ``--epochs`` override."""
    n_features = 784 if spec.dataset == "mnist" else nets.CIFAR_FEATURES
    cfg = presets.config_for(spec.dataset, spec.method, spec.prior, spec.semi)
    cfg = presets.with_epochs(cfg, spec.epochs)
    cfg = presets.with_data_epochs(cfg, spec.data_epochs)
    cfg = presets.with_weights(cfg, spec.weights, n_features)
    cfg = presets.with_diffusion_steps(cfg, spec.diffusion_steps)
    if spec.semi_objective is not None:
        cfg = cfg.replace(semi_objective=spec.semi_objective)
    if spec.smoke:
        cfg = presets.smoke(cfg)
    with seeded_global_rng(derive_seed(spec.seed, "init")):  # network initialisation
        return presets.model_class(spec.method, spec.semi)(
            n_features, cfg, **build_networks(spec, cfg)
        )


def train_labels(spec: RunSpec, y_train: np.ndarray) -> np.ndarray:
    """Masked training labels: exactly ``spec.labels`` kept (reference budget by default)."""
    budget = spec.labels if spec.labels is not None else presets.LABEL_BUDGETS[spec.dataset]
    if spec.labels is not None and not 1 <= spec.labels <= len(y_train):
        raise ValueError(
            f"--labels {spec.labels} is not allowed: the training set has {len(y_train)} "
            f"images{' (--subset)' if spec.subset else ''}; choose 1..{len(y_train)}"
        )
    return mask_labels(
        y_train,
        min(budget, len(y_train)),
        seed=derive_seed(spec.seed, "label-mask"),
        method=spec.label_masking,
    )


def compute_metrics(model, arrays: dict, spec: RunSpec, device) -> dict:
    """Compute the paper's metrics on the test split (reference protocol, sizes capped by the data)."""
    g = stream(spec.seed, "posterior", device)
    z_tr = model.encode(arrays["x_train"], generator=g).numpy()
    z_te = model.encode(arrays["x_test"], generator=g).numpy()
    n_prior = min(10_000, len(arrays["x_test"]))
    prior_z = (
        model.prior.sample(10_000, generator=stream(spec.seed, "prior-reference")).cpu().numpy()
    )
    decoded = model.sample(n_prior, generator=stream(spec.seed, "prior-decode", device)).numpy()
    out = {
        "knn_accuracy_k20": knn_accuracy(
            z_tr, arrays["y_train"], z_te, arrays["y_test"], k=min(20, len(z_tr))
        ),
        "latent_nll": latent_nll(z_te, prior_z),
        "mmd2_unbiased": mmd_rbf(decoded, arrays["x_test"][:n_prior], unbiased=True),
        "mmd_reference": mmd_reference(decoded, arrays["x_test"][:n_prior]),
        "elbo_per_example": float(model.elbo(arrays["x_test"], generator=g).mean())
        if getattr(model, "has_elbo", True)
        else None,
    }
    if spec.semi and hasattr(model, "predict_classes"):
        out["class_head_accuracy"] = class_head_accuracy(model, arrays["x_test"], arrays["y_test"])
    return out, z_te


def _plots(run: Path, model, z_te, y_te, spec: RunSpec) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    pts = ax.scatter(z_te[:, 0], z_te[:, 1], c=y_te, cmap="tab10", s=3)
    fig.colorbar(pts, ax=ax, label="class")
    ax.set_title(f"{spec.method} / {spec.dataset} / {spec.prior}: test latents")
    fig.tight_layout()
    fig.savefig(run / "latents.png", dpi=110)
    plt.close(fig)
    images = model.sample(100, generator=stream(spec.seed, "sample-figure", model.device)).numpy()
    shape = (28, 28) if spec.dataset == "mnist" else (3, 32, 32)
    fig, axes = plt.subplots(10, 10, figsize=(6, 6))
    for ax, img in zip(axes.ravel(), images, strict=True):
        img = img.reshape(shape)
        ax.imshow(
            img if img.ndim == 2 else img.transpose(1, 2, 0),
            cmap="gray" if img.ndim == 2 else None,
        )
        ax.axis("off")
    fig.savefig(run / "samples.png", dpi=100)
    plt.close(fig)


def write_history(path: Path, rows: list[dict]) -> None:
    """Per-epoch training rows (phase, epoch, seconds, loss terms) as CSV, for learning curves."""
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)


def _save_arrays(path: Path, model, z_te, y_te, spec: RunSpec) -> None:
    """Test latents, their labels, prior samples and decoded prior samples (for summary figures).

    Arrays: ``z_test`` (n_test, d), ``y_test`` (n_test,), ``prior_z`` (2000, d) and ``decoded``
    (64, n_features); written without pickling.
    """
    prior_z = model.prior.sample(2000, generator=stream(spec.seed, "prior-figure")).cpu().numpy()
    decoded = model.sample(64, generator=stream(spec.seed, "sample-figure", model.device)).numpy()
    np.savez_compressed(
        path,
        z_test=np.asarray(z_te, dtype=np.float32),
        y_test=np.asarray(y_te),
        prior_z=prior_z.astype(np.float32),
        decoded=decoded.astype(np.float32),
    )


def train_run(
    spec: RunSpec,
    out_dir: str | Path,
    *,
    device: str = "auto",
    verbose=None,
    compile: str = "auto",
) -> dict:
    """Train (resuming from ``checkpoint.pt`` when present) and evaluate; write the run directory.

    ``compile`` is :func:`ddvi_genomics.core.training.fit`'s (``"auto"``: CUDA graphs on CUDA); it changes
    speed, not the run's specification.
    """
    run = Path(out_dir)
    check_run_folder(run, spec)
    dev = resolve_device(device)
    arrays = load_data(spec)
    model = build_model(spec)
    labels = train_labels(spec, arrays["y_train"]) if spec.semi else None
    check_checkpoint(run / "checkpoint.pt")  # before anything in the run folder is (re)written
    run.mkdir(parents=True, exist_ok=True)
    (run / "spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=2))
    (run / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2))
    transform = None
    if spec.dataset == "cifar10":

        def transform(batch, generator):  # train split only
            return vdata.horizontal_flip(batch, generator)

    fit_args = dict(
        device=dev,
        seed=spec.seed,
        verbose=verbose,
        checkpoint=run / "checkpoint.pt",
        resume=True,
        batch_transform=transform,
        compile=compile,
    )
    t0 = time.perf_counter()
    if spec.semi:
        history = model.fit(arrays["x_train"], labels, **fit_args)
        n_labelled = int((labels >= 0).sum())
    else:
        history = model.fit(arrays["x_train"], **fit_args)
        n_labelled = None
    # a run resumed from its checkpoint trained before too: its epochs' seconds are in history
    train_seconds = max(time.perf_counter() - t0, sum(r["seconds"] for r in history.rows))
    model.save(run / "model.pt")
    t0 = time.perf_counter()
    metrics, z_te = compute_metrics(model, arrays, spec, dev)
    metrics.update(
        {
            "train_seconds": train_seconds,
            "eval_seconds": time.perf_counter() - t0,
            "device": str(dev),
            "n_train": len(arrays["x_train"]),
            "n_test": len(arrays["x_test"]),
            "n_labelled": n_labelled,
            "seconds_per_epoch": {r["phase"]: r["seconds"] for r in history.rows},
        }
    )
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_history(run / "history.csv", history.rows)
    _save_arrays(run / "latents.npz", model, z_te, arrays["y_test"], spec)
    _plots(run, model, z_te, arrays["y_test"], spec)
    (run / "provenance.json").write_text(
        json.dumps(provenance({"spec": dataclasses.asdict(spec)}), indent=2)
    )
    return metrics


def check_checkpoint(path: Path) -> None:
    """Refuse, before anything is written, a checkpoint that cannot be resumed from.

    Raises
    ------
    ValueError
        Naming the file when it is truncated, damaged or not a plain-data checkpoint.
    """
    if not path.is_file():
        return
    try:
        state = load_plain(path)
        if not isinstance(state, dict) or "model" not in state:
            raise ValueError("not a checkpoint of this tool")
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        MemoryError,
    ) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"checkpoint {path} cannot be resumed from ({first}): it is truncated or damaged; "
            "delete it to start the run over, or use another --out"
        ) from None


def check_run_folder(run: Path, spec: RunSpec) -> None:
    """Refuse a run folder that holds another run (a resume must continue the same spec).

    Raises
    ------
    ValueError
        When ``run`` is a file, holds a checkpoint without ``spec.json``, or a ``spec.json`` that
        differs from ``spec`` (the differing fields are named).
    """
    if run.exists() and not run.is_dir():
        raise ValueError(f"--out {run} is a file; give a folder")
    spec_file = run / "spec.json"
    if not spec_file.is_file():
        if (run / "checkpoint.pt").exists():
            raise ValueError(f"{run} holds a checkpoint but no spec.json; use another --out")
        return
    try:
        saved = json.loads(spec_file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{spec_file} cannot be read ({err}); use another --out") from None
    wanted = dataclasses.asdict(spec)
    defaults = dataclasses.asdict(RunSpec(spec.dataset, spec.method, spec.prior))
    saved = {**{k: defaults[k] for k in wanted if k not in saved}, **saved}  # older spec.json
    differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if differ:
        shown = ", ".join(f"{k} {saved.get(k)!r} -> {wanted.get(k)!r}" for k in differ)
        raise ValueError(
            f"{run} holds a different run ({shown}); resume only continues the same run, "
            "use another --out"
        )


def evaluate_run(run_dir: str | Path, *, device: str = "auto") -> dict:
    """Recompute the metrics of a finished run from ``model.pt``."""
    run = Path(run_dir)
    spec = RunSpec(**json.loads((run / "spec.json").read_text()))
    dev = resolve_device(device)
    cls = presets.model_class(spec.method, spec.semi)
    cfg = cls.config_class.from_dict(json.loads((run / "config.json").read_text()))
    model = cls.load(run / "model.pt", map_location=dev, **build_networks(spec, cfg))
    metrics, _ = compute_metrics(model, load_data(spec), spec, dev)
    return metrics
