import numpy as np
import pytest
from sklearn.metrics.cluster import contingency_matrix

from ddvi_genomics.genotype.mapping.evaluate import (
    average_ranks,
    cluster_purity,
    continuity,
    evaluate_embedding,
    knn_cv_accuracy,
    spearman_correlation,
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


def naive_continuity(high, low, k):
    """Venna & Kaski (2001): penalise high-space neighbours that are missing from the low space.

    C(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in V_k(i)} (r_low(i, j) - k), with V_k(i)
    the k nearest neighbours of i in the high space that are not among its k nearest in the low
    space and r_low(i, j) the rank of j among i's neighbours in the low space (1 = nearest).
    """
    n = len(high)

    def ranks(x):
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        order = np.argsort(d, axis=1, kind="stable")
        r = np.empty_like(order)
        for i in range(n):
            r[i, order[i]] = np.arange(1, n + 1)
        return r

    r_high, r_low = ranks(high), ranks(low)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j and r_high[i, j] <= k and r_low[i, j] > k:
                total += r_low[i, j] - k
    return 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * total


def test_continuity__identity_embedding_is_perfect():
    x, _ = blobs()
    assert continuity(x, x) == pytest.approx(1.0)


def test_continuity__matches_naive_formula_on_an_asymmetric_pair():
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(3)
    high = rng.normal(size=(60, 5))
    low = high[:, :2] + 0.3 * rng.normal(size=(60, 2))  # drops three dimensions: not symmetric
    got = continuity(high, low, n_neighbors=5)
    assert got == pytest.approx(naive_continuity(high, low, 5), abs=1e-12)
    # the two directions differ here, so swapped arguments cannot pass
    assert abs(got - trustworthiness(high, low, n_neighbors=5)) > 0.01


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


@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_rank_correlation__equals_scipy(kind):
    from scipy.stats import rankdata, spearmanr

    rng = np.random.default_rng(3)
    if kind == "ties":  # few distinct values: long runs of ties, as equal distances give
        a, b = rng.integers(0, 7, 500).astype(float), rng.integers(0, 4, 500).astype(float)
    else:
        a = rng.normal(size=500)
        b = a + rng.normal(size=500)
    np.testing.assert_array_equal(average_ranks(a), rankdata(a))
    assert spearman_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_distance_spearman__skipped_with_a_reason_for_a_collapsed_map():
    x, y = blobs()
    pcs = np.concatenate([x, np.zeros((120, 3))], axis=1)
    m = evaluate_embedding(np.zeros_like(x), y, reference_pcs=pcs, n_clusters=3)
    assert "distance_spearman" not in m
    assert "not all equal" in m["skipped"]["distance_spearman"]


def test_quadratic_metrics__on_a_stated_random_subset_above_the_cap(monkeypatch):
    """Oracle: the same metrics computed by hand on the subset the function names."""
    from sklearn.manifold import trustworthiness

    from ddvi_genomics.core.seeds import library_seed
    from ddvi_genomics.genotype.mapping import evaluate

    monkeypatch.setattr(evaluate, "MAX_QUADRATIC_SAMPLES", 120)
    rng = np.random.default_rng(3)
    pcs = rng.normal(size=(400, 6))
    coords = pcs[:, :2] + 0.1 * rng.normal(size=(400, 2))
    pop = np.repeat(["A", "B", "C", "D"], 100)
    out = evaluate.evaluate_embedding(coords, pop, reference_pcs=pcs, seed=5)
    assert out["quadratic_metrics_samples"] == 120 and out["n_samples"] == 400
    subset = evaluate.quadratic_subset(400, library_seed(5, "metrics:subsample"))
    assert len(subset) == 120 and len(np.unique(subset)) == 120
    expected = trustworthiness(pcs[subset], coords[subset], n_neighbors=10)
    assert out["trustworthiness_k10"] == pytest.approx(expected)
    below = evaluate.evaluate_embedding(coords[:100], pop[:100], reference_pcs=pcs[:100], seed=5)
    assert "quadratic_metrics_samples" not in below
