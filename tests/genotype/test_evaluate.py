import numpy as np
import pytest
from sklearn.metrics.cluster import contingency_matrix

from ddvi_genomics.genotype.evaluate import (
    cluster_purity,
    continuity,
    evaluate_embedding,
    knn_cv_accuracy,
)


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [5, 0], [0, 5]])
    labels = np.repeat(np.arange(3), 40)
    return centres[labels] + rng.normal(0, 0.5, (120, 2)), labels


def test_cluster_purity__hand_computed():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 1])
    # cluster 0 = {0, 0} majority 2 points; cluster 1 = {0, 1, 1, 2} majority 2 points -> 4 / 6
    assert cluster_purity(true, pred) == pytest.approx(4 / 6)
    assert contingency_matrix(true, pred).sum() == 6


def test_knn_cv__separable_blobs_and_chance_on_noise():
    x, y = blobs()
    assert knn_cv_accuracy(x, y, k=5) == 1.0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(300, 2))
    assert knn_cv_accuracy(noise, rng.integers(0, 3, 300), k=20) < 0.5


def test_continuity__identity_embedding_is_perfect():
    x, _ = blobs()
    assert continuity(x, x) == pytest.approx(1.0)


def test_evaluate_embedding__perfect_clusters_and_pc_space():
    x, y = blobs()
    sup = np.where(y == 0, "A", "B")
    pcs = np.concatenate([x, np.zeros((120, 3))], axis=1)
    m = evaluate_embedding(x, y, sup, reference_pcs=pcs, n_clusters=3)
    assert (
        m["knn5_cv_accuracy_population"] == 1.0 and m["knn20_cv_accuracy_super_population"] == 1.0
    )
    assert m["gmm_purity_population"] == 1.0 and m["gmm_nmi_population"] == pytest.approx(1.0)
    assert m["trustworthiness_k10"] == pytest.approx(1.0) and m[
        "distance_spearman"
    ] == pytest.approx(1.0)
    assert m["silhouette_population"] > 0.8
