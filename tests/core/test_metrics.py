import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.neighbors import KernelDensity, KNeighborsClassifier

from ddvi_genomics.core.metrics import (
    LATENT_NLL_BANDWIDTHS,
    knn_accuracy,
    latent_nll,
    mmd_rbf,
    mmd_reference,
    t_interval,
)


def test_knn_accuracy__separable_and_matches_sklearn():
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(-3, 1, (50, 2)), rng.normal(3, 1, (50, 2))])
    labels = np.repeat([0, 1], 50)
    test = rng.normal(0, 2, (40, 2))
    test_labels = (test[:, 0] > 0).astype(int)
    expected = KNeighborsClassifier(20).fit(train, labels).score(test, test_labels)
    assert knn_accuracy(train, labels, test, test_labels) == pytest.approx(expected)
    assert knn_accuracy(train, labels, train, labels, k=5) == 1.0


def test_latent_nll__matches_sklearn_kernel_density_mixture():
    rng = np.random.default_rng(1)
    latents, prior = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    per_bw = [
        KernelDensity(bandwidth=h).fit(latents).score_samples(prior) for h in LATENT_NLL_BANDWIDTHS
    ]
    expected = -np.mean(np.log(np.mean(np.exp(per_bw), axis=0)))
    assert latent_nll(latents, prior) == pytest.approx(expected, rel=1e-9)


def naive_mmd2(x, y, scales, unbiased):
    z = np.concatenate([x, y])
    sq = ((z[:, None, :] - z[None]) ** 2).sum(-1)
    k = sum(np.exp(-sq / (2 * s)) for s in scales)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    if unbiased:
        return (
            (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    w = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
    return w @ k @ w  # the reference's s^T K s


@pytest.mark.parametrize("unbiased", [False, True])
def test_mmd__chunked_equals_dense_naive(unbiased):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(70, 5)), rng.normal(0.5, 1, size=(55, 5))
    got = mmd_rbf(x, y, unbiased=unbiased, chunk_size=16)
    assert got == pytest.approx(naive_mmd2(x, y, (2, 5, 10, 20, 40, 80), unbiased), rel=1e-9)


def test_mmd__same_distribution_near_zero_and_reference_is_sqrt():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(400, 3, generator=g), torch.randn(400, 3, generator=g)
    assert abs(mmd_rbf(x, y, unbiased=True)) < 0.01
    assert mmd_reference(x, x) == pytest.approx(0.0, abs=1e-6)
    assert mmd_reference(x, y + 2) == pytest.approx(np.sqrt(mmd_rbf(x, y + 2)))


def test_t_interval__matches_scipy():
    values = [0.81, 0.85, 0.78, 0.9, 0.83]
    mean, half = t_interval(values)
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values)) and half == pytest.approx((hi - lo) / 2)


def test_t_interval__needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])
