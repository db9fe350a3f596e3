import numpy as np
import pytest
import torch
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity

from ddvi_genomics.core.kde import REFERENCE_BANDWIDTHS, kde_log_prob
from tests.conftest import gen


def naive_kde(z, ref, bandwidths):
    """Double loop over queries and bandwidths, float64, straight from the formula."""
    z, ref = np.asarray(z, float), np.asarray(ref, float)
    n, d = ref.shape
    out = []
    for q in z:
        dens = 0.0
        for h in bandwidths:
            sq = ((ref - q) ** 2).sum(1)
            dens += np.exp(-sq / (2 * h * h)).sum() / (n * (2 * np.pi * h * h) ** (d / 2))
        out.append(np.log(dens / len(bandwidths)))
    return np.array(out)


def test_kde__single_bandwidth_matches_sklearn(device):
    ref = torch.randn(500, 2, generator=gen(0), dtype=torch.float64).to(device)
    z = torch.randn(40, 2, generator=gen(1), dtype=torch.float64).to(device)
    kd = KernelDensity(bandwidth=0.3).fit(ref.cpu().numpy())
    expected = kd.score_samples(z.cpu().numpy())
    np.testing.assert_allclose(kde_log_prob(z, ref, [0.3]).cpu().numpy(), expected, rtol=1e-10)


def test_kde__matches_scipy_gaussian_kde_on_whitened_data():
    # scipy's kernel covariance is factor^2 * data covariance; whitened data makes it h^2 I
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 2))
    ref = (ref - ref.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(ref.T))).T
    h = 0.4
    z = rng.normal(size=(30, 2))
    expected = gaussian_kde(ref.T, bw_method=h).logpdf(z.T)
    got = kde_log_prob(torch.tensor(z), torch.tensor(ref), [h]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_kde__multi_bandwidth_matches_naive_loop_including_far_points():
    ref = torch.randn(300, 2, generator=gen(2), dtype=torch.float64)
    z = torch.cat(
        [
            torch.randn(20, 2, generator=gen(3), dtype=torch.float64),
            torch.tensor([[0.0, 9.0], [30.0, -4.0]], dtype=torch.float64),
        ]
    )
    got = kde_log_prob(z, ref, REFERENCE_BANDWIDTHS).numpy()
    expected = naive_kde(z[:20], ref, REFERENCE_BANDWIDTHS)
    np.testing.assert_allclose(got[:20], expected, rtol=1e-9)
    # far points: finite, and not clamped at the reference's -1000 floor
    assert np.isfinite(got[20:]).all() and got[21] < -1000


def test_kde__float32_agrees_with_float64():
    ref = torch.randn(2000, 2, generator=gen(4))
    z = ref[:50] + 0.01 * torch.randn(50, 2, generator=gen(5))
    got32 = kde_log_prob(z, ref).double()
    got64 = kde_log_prob(z.double(), ref.double())
    assert torch.allclose(got32, got64, rtol=1e-5, atol=1e-4)


def test_kde__analytic_gradient_passes_gradcheck():
    ref = torch.randn(200, 2, generator=gen(6), dtype=torch.float64)
    z = (0.5 * torch.randn(6, 2, generator=gen(7), dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q: kde_log_prob(q, ref, (0.05, 0.2, 0.5)), (z,))


def test_kde__gradient_far_from_support_points_back():
    ref = torch.zeros(100, 2) + 0.01 * torch.randn(100, 2, generator=gen(8))
    z = torch.tensor([[6.0, -8.0]], requires_grad=True)
    kde_log_prob(z, ref).sum().backward()
    g = z.grad[0]
    assert torch.isfinite(g).all() and g[0] < 0 and g[1] > 0  # ascent direction is toward 0


def test_kde__chunked_equals_unchunked(device):
    ref = torch.randn(1000, 2, generator=gen(9)).to(device)
    z = torch.randn(300, 2, generator=gen(10)).to(device).requires_grad_(True)
    a = kde_log_prob(z, ref, max_elements=1 << 22)
    (ga,) = torch.autograd.grad(a.sum(), z)
    b = kde_log_prob(z, ref, max_elements=7000)  # 7 queries per chunk
    (gb,) = torch.autograd.grad(b.sum(), z)
    # float32 sums in a different order: equal to rounding (the gradient carries 1/h^2 = 4e4)
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(ga, gb, rtol=1e-4, atol=1e-3)


def test_kde__high_dimensional_path_matches_naive():
    ref = torch.randn(100, 12, generator=gen(11), dtype=torch.float64)
    z = torch.randn(5, 12, generator=gen(12), dtype=torch.float64)
    np.testing.assert_allclose(
        kde_log_prob(z, ref, [1.0, 2.0]).numpy(), naive_kde(z, ref, [1.0, 2.0]), rtol=1e-9
    )


@pytest.mark.parametrize("bad", [[0.0], [-1.0], []])
def test_kde__rejects_bad_bandwidths(bad):
    with pytest.raises(ValueError, match="bandwidths"):
        kde_log_prob(torch.zeros(2, 2), torch.zeros(3, 2), bad)


def test_kde__rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same d"):
        kde_log_prob(torch.zeros(2, 3), torch.zeros(3, 2))
