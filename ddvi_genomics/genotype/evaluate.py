"""Embedding-quality metrics for ancestry maps (the protocol of DESIGN.md section 6).

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
"""

from __future__ import annotations

import numpy as np

#: PCs of the reference space for trustworthiness, continuity and the distance correlation.
N_REFERENCE_PCS = 50


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
    population : array_like, shape (n_samples,)
    super_population : array_like, optional
    reference_pcs : np.ndarray, shape (n_samples, n_pcs), optional
        PC scores (the top 50 are used) for trustworthiness, continuity and distance correlation.
    seed : int
    n_clusters : int
        GMM components (reference: 20).

    Returns
    -------
    dict
        Flat metric name -> float.
    """
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score, v_measure_score
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KNeighborsClassifier

    coords = np.asarray(coords, dtype=np.float64)
    pop = np.asarray(population)
    out: dict = {"n_samples": int(len(coords)), "n_populations": int(len(np.unique(pop)))}
    levels = [("population", pop)]
    if super_population is not None:
        levels.append(("super_population", np.asarray(super_population)))
    for name, labels in levels:
        for k in (5, 20):
            out[f"knn{k}_cv_accuracy_{name}"] = knn_cv_accuracy(coords, labels, k=k, seed=seed)
    for k in (20, 50, 100):  # the DDVI code's variant: fitted and scored on the same points
        clf = KNeighborsClassifier(min(k, len(coords))).fit(coords, pop)
        out[f"knn{k}_same_points_accuracy_population"] = float(clf.score(coords, pop))
    n_comp = min(n_clusters, len(coords))
    gmm = GaussianMixture(
        n_comp, covariance_type="full", reg_covar=1e-2, n_init=10, random_state=seed
    )
    standardised = (coords - coords.mean(0)) / coords.std()
    clusters = gmm.fit_predict(standardised)
    out["gmm_purity_population"] = cluster_purity(pop, clusters)
    out["gmm_nmi_population"] = float(normalized_mutual_info_score(pop, clusters))
    out["gmm_v_measure_population"] = float(v_measure_score(pop, clusters))
    if len(np.unique(pop)) > 1:
        out["silhouette_population"] = float(silhouette_score(coords, pop, random_state=seed))
    if reference_pcs is not None:
        ref = np.asarray(reference_pcs, dtype=np.float64)[:, :N_REFERENCE_PCS]
        out["trustworthiness_k10"] = float(trustworthiness(ref, coords, n_neighbors=10))
        out["continuity_k10"] = continuity(ref, coords, n_neighbors=10)
        out["distance_spearman"] = float(spearmanr(pdist(coords), pdist(ref)).statistic)
    return out
