"""The embeddings that need no network (PCA, t-SNE, UMAP), and what every embedding returns.

Kept apart from :mod:`.embed` (DDVI, VAE: torch) so that a PCA, t-SNE or UMAP map never imports
torch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...core.seeds import library_seed

#: t-SNE's perplexity: 100 won the fair-tuning search over {10, 30, 50, 100} on the tuning half;
#: on the reporting half it kept population kNN20 (0.400 against 0.398 at 30) and raised distance
#: Spearman from 0.791 to 0.869 (workflows/results/tuning).
TSNE_PERPLEXITY = 100.0


@dataclasses.dataclass
class Embedding:
    """Per-sample 2-D coordinates and, where the method has them, posterior standard deviations."""

    method: str
    coords: np.ndarray  # (n_samples, 2)
    sd: np.ndarray | None = None  # (n_samples, 2)
    model: object | None = None  # the trained network (DDVI, VAE, DDVISemi)
    input_scale: float = 1.0
    history: list | None = None
    class_probs: np.ndarray | None = None  # (n_samples, n_classes), label-guided methods


def input_scale(pcs: np.ndarray) -> float:
    """Return the standard deviation of PC1 (the data-derived replacement of the reference's /30)."""
    s = float(np.std(pcs[:, 0]))
    return s if s > 0 else 1.0


def classic_embedding(pcs: np.ndarray, method: str, *, seed: int = 0, options=None) -> Embedding:
    """2-D coordinates of PC scores ``(n, n_pcs)`` by ``pca`` (PC1-PC2), ``tsne`` or ``umap``.

    Parameters
    ----------
    pcs : np.ndarray, shape (n_samples, n_pcs)
    method : {"pca", "tsne", "umap"}
    seed : int
        The ``"tsne"`` / ``"umap"`` streams.
    options : dict, optional
        ``perplexity`` (t-SNE), ``n_neighbors`` and ``min_dist`` (UMAP).
    """
    pcs = np.asarray(pcs, dtype=np.float32)
    if method == "pca":
        method_options(method, options, {})
        return Embedding("pca", pcs[:, :2].astype(np.float64))
    if method == "tsne":
        from sklearn.manifold import TSNE

        knobs = method_options(method, options, {"perplexity": TSNE_PERPLEXITY})
        perplexity = float(knobs["perplexity"])
        coords = TSNE(
            2,
            perplexity=min(perplexity, (len(pcs) - 1) / 3),
            random_state=library_seed(seed, "tsne"),
            init="pca",
        ).fit_transform(pcs)
        return Embedding("tsne", coords)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ValueError(
                "method 'umap' needs the umap-learn package: pip install 'ddvi-genomics[umap]'"
            ) from None
        knobs = method_options(method, options, {"n_neighbors": 15, "min_dist": 0.5})
        coords = umap.UMAP(
            n_neighbors=int(knobs["n_neighbors"]), min_dist=float(knobs["min_dist"]),
            random_state=library_seed(seed, "umap"),
        ).fit_transform(pcs)  # fmt: skip
        return Embedding("umap", coords)
    raise ValueError(f"method {method!r} is not one of pca, tsne, umap")


def method_options(method: str, options: dict | None, defaults: dict) -> dict:
    """Merge ``options`` into ``defaults``; refuse keys the method does not have."""
    unknown = sorted(set(options or {}) - set(defaults))
    if unknown:
        allowed = sorted(defaults) or "none"
        raise ValueError(f"method {method!r} has no option {unknown[0]!r}; allowed: {allowed}")
    return {**defaults, **(options or {})}
