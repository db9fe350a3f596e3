"""Embedding-quality metrics for ancestry maps (kNN accuracy, GMM clustering, silhouette, trustworthiness and continuity, distance correlation).

Every method (PCA-2D, t-SNE, UMAP, DDVI, ...) is scored by the same function:

* kNN accuracy by stratified 5-fold cross-validation, k = 5 and 20, for populations and
  super-populations; plus the DDVI code's variant (k = 20, 50, 100 fitted and scored on the same
  latents), reported for comparability only;
* a 20-component full-covariance GMM's purity, NMI and V-measure against population labels
  (reference settings: reg_covar 1e-2, n_init 10). The coordinates are first centred and divided
  by their overall standard deviation, so ``reg_covar`` means the same for every method (PCA, t-SNE
  and DDVI coordinates live on very different scales);
* silhouette on population labels;
* trustworthiness and continuity (k = 10) against the reference PC space (top 50 PCs);
* Spearman correlation of pairwise distances, latent against PC space.

The last three and the silhouette cost time and memory quadratic in the samples (all pairwise
distances: 40 GB at 100,000 samples), so above :data:`MAX_QUADRATIC_SAMPLES` they are computed
on a random subset of that many samples (the ``"metrics:subsample"`` stream), and the result
says so (``quadratic_metrics_samples``).
"""

from __future__ import annotations

import numpy as np

from ...core.seeds import library_seed
from ..errors import InputError

#: PCs of the reference space for trustworthiness, continuity and the distance correlation.
N_REFERENCE_PCS = 50
#: Samples the quadratic metrics (silhouette, trustworthiness, continuity, distance
#: correlation) use at most; a random subset above it.
MAX_QUADRATIC_SAMPLES = 5000


def knn_cv_accuracy(coords, labels, *, k: int, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of a k-NN classifier over stratified, shuffled folds.

    Classes with fewer members than ``folds`` are left out (they cannot be stratified).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, values[counts >= folds])
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(
        cross_val_score(KNeighborsClassifier(k), coords[keep], labels[keep], cv=cv).mean()
    )


def cluster_purity(labels_true, labels_pred) -> float:
    """Fraction of points whose cluster's majority label is their own label."""
    from sklearn.metrics.cluster import contingency_matrix

    m = contingency_matrix(labels_true, labels_pred)
    return float(m.max(axis=0).sum() / m.sum())


def continuity(high, low, *, n_neighbors: int = 10) -> float:
    """Continuity: trustworthiness with the roles of the two spaces swapped."""
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(low, high, n_neighbors=n_neighbors))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values`` (n,), ties given their mean rank (``scipy.stats.rankdata``).

    Sorts with NumPy's default (vectorised) sort rather than the stable one that ``rankdata``
    uses: ties are averaged, so the order within them does not matter, and for the 3.1 million
    pairwise distances of the 1000 Genomes example this is about 3x faster.
    """
    order = np.argsort(values)
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each run
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # mean of start+1..end
    return ranks


def spearman_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two (n,) arrays: Pearson's of their average ranks."""
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def expected_calibration_error(probs, labels, *, n_bins: int = 10) -> float:
    """Return the expected calibration error of the top-class probability (equal-width bins).

    ``ECE = sum_b |B_b| / n * |accuracy(B_b) - mean confidence(B_b)|`` over bins of the
    confidence ``max_c p(c | x)`` (Guo et al., 2017).

    Parameters
    ----------
    probs : np.ndarray, shape (n, K)
    labels : np.ndarray of int, shape (n,)
        True class indices.
    n_bins : int
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    confidence, predicted = probs.max(1), probs.argmax(1)
    correct = predicted == labels
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def evaluate_embedding(
    coords: np.ndarray,
    population: np.ndarray,
    super_population: np.ndarray | None = None,
    *,
    reference_pcs: np.ndarray | None = None,
    seed: int = 0,
    n_clusters: int = 20,
) -> dict:
    """Score an embedding ``(n_samples, 2)`` against labels and the PC space.

    Parameters
    ----------
    coords : np.ndarray, shape (n_samples, 2)
        Finite coordinates.
    population : array_like, shape (n_samples,)
    super_population : array_like, optional
    reference_pcs : np.ndarray, shape (n_samples, n_pcs), optional
        PC scores (the top 50 are used) for trustworthiness, continuity and distance correlation.
    seed : int
        Split into named streams: ``"metrics:cv"`` (the cross-validation folds) and
        ``"metrics:clusters"`` (GMM starts, silhouette subsampling).
    n_clusters : int

    Returns
    -------
    dict
        Flat metric name -> float, plus ``skipped``: metric name -> the reason it could not be
        computed on these data (too few samples, classes or labels).

    Raises
    ------
    InputError
        When the coordinates are not finite or do not match the labels in length.
    """
    coords = np.asarray(coords, dtype=np.float64)
    pop = np.asarray(population)
    if coords.ndim != 2 or len(coords) != len(pop):
        raise InputError(
            f"coordinates of shape {coords.shape} do not match {len(pop)} population labels"
        )
    if not np.isfinite(coords).all():
        row = int(np.flatnonzero(~np.isfinite(coords).all(1))[0])
        raise InputError(f"coordinates hold NaN or infinite values (first at row {row + 1})")
    out: dict = {"n_samples": int(len(coords)), "n_populations": int(len(np.unique(pop)))}
    skipped: dict[str, str] = {}
    levels = [("population", pop)]
    if super_population is not None:
        levels.append(("super_population", np.asarray(super_population)))
    for name, labels in levels:
        _knn_scores(out, skipped, coords, labels, name, library_seed(seed, "metrics:cv"))
    _cluster_scores(out, skipped, coords, pop, n_clusters, library_seed(seed, "metrics:clusters"))
    subset = quadratic_subset(len(coords), library_seed(seed, "metrics:subsample"))
    if subset is not None:
        out["quadratic_metrics_samples"] = len(subset)
    if reference_pcs is not None:
        reference_pcs = np.asarray(reference_pcs, dtype=np.float64)
        if len(reference_pcs) != len(coords):
            raise InputError(
                f"reference PCs have {len(reference_pcs)} rows for {len(coords)} samples"
            )
        rows = slice(None) if subset is None else subset
        _geometry_scores(out, skipped, coords[rows], reference_pcs[rows])
    out["skipped"] = skipped
    return out


def quadratic_subset(n_samples: int, seed: int) -> np.ndarray | None:
    """Sorted indices of :data:`MAX_QUADRATIC_SAMPLES` random samples; None when n is below."""
    if n_samples <= MAX_QUADRATIC_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_samples, MAX_QUADRATIC_SAMPLES, replace=False))


def _knn_scores(out, skipped, coords, labels, level: str, seed: int) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    values, counts = np.unique(labels, return_counts=True)
    n_cv = int(counts[counts >= 5].sum())  # samples of classes that 5 folds can stratify
    for k in (5, 20):
        key = f"knn{k}_cv_accuracy_{level}"
        if (counts >= 5).sum() < 2 or n_cv * 4 // 5 < k:
            skipped[key] = (
                f"needs >= 2 classes of >= 5 samples and > {k} training samples per fold"
            )
        else:
            out[key] = knn_cv_accuracy(coords, labels, k=k, seed=seed)
    if level != "population":
        return
    for k in (20, 50, 100):  # the DDVI code's variant: fitted and scored on the same points
        key = f"knn{k}_same_points_accuracy_population"
        if len(coords) < 2:
            skipped[key] = "needs >= 2 samples"
            continue
        clf = KNeighborsClassifier(min(k, len(coords))).fit(coords, labels)
        out[key] = float(clf.score(coords, labels))


def _cluster_scores(out, skipped, coords, pop, n_clusters: int, seed: int) -> None:
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score, v_measure_score
    from sklearn.mixture import GaussianMixture

    n_classes = len(np.unique(pop))
    if len(coords) < 2 * n_clusters or coords.std() == 0:
        for key in ("gmm_purity_population", "gmm_nmi_population", "gmm_v_measure_population"):
            skipped[key] = (
                f"needs >= {2 * n_clusters} samples with spread for {n_clusters} GMM components"
            )
    else:
        gmm = GaussianMixture(
            n_clusters, covariance_type="full", reg_covar=1e-2, n_init=10, random_state=seed
        )
        clusters = gmm.fit_predict((coords - coords.mean(0)) / coords.std())
        out["gmm_purity_population"] = cluster_purity(pop, clusters)
        out["gmm_nmi_population"] = float(normalized_mutual_info_score(pop, clusters))
        out["gmm_v_measure_population"] = float(v_measure_score(pop, clusters))
    if 2 <= n_classes <= len(coords) - 1:
        size = MAX_QUADRATIC_SAMPLES if len(coords) > MAX_QUADRATIC_SAMPLES else None
        out["silhouette_population"] = float(
            silhouette_score(coords, pop, sample_size=size, random_state=seed)
        )
    else:
        skipped["silhouette_population"] = "needs 2 to n_samples - 1 populations"


def _geometry_scores(out, skipped, coords, reference_pcs, k: int = 10) -> None:
    from scipy.spatial.distance import pdist
    from sklearn.manifold import trustworthiness

    ref = reference_pcs[:, :N_REFERENCE_PCS]
    if len(coords) <= 2 * k:
        for key in (f"trustworthiness_k{k}", f"continuity_k{k}"):
            skipped[key] = f"needs > {2 * k} samples for k = {k} neighbours"
    else:
        out[f"trustworthiness_k{k}"] = float(trustworthiness(ref, coords, n_neighbors=k))
        out[f"continuity_k{k}"] = continuity(ref, coords, n_neighbors=k)
    if len(coords) < 3:
        skipped["distance_spearman"] = "needs >= 3 samples"
        return
    latent, reference = pdist(coords), pdist(ref)
    if np.ptp(latent) == 0 or np.ptp(reference) == 0:
        skipped["distance_spearman"] = "needs pairwise distances that are not all equal"
    else:
        out["distance_spearman"] = spearman_correlation(latent, reference)
