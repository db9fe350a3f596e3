import numpy as np
import pytest
import torch
from torch import distributions as D

from ddvi_genomics.core.diffusion import (
    GaussianDiffusion,
    cosine_beta_schedule,
    gaussian_kl,
    linear_beta_schedule,
    make_betas,
)
from tests.conftest import gen


def naive_tables(betas):
    """Loop implementation of the derived schedule quantities."""
    T = len(betas)
    abar, prod = [], 1.0
    for b in betas:
        prod *= 1.0 - b
        abar.append(prod)
    abar_prev = [1.0] + abar[:-1]
    var = [betas[k] * (1 - abar_prev[k]) / (1 - abar[k]) for k in range(T)]
    return np.array(abar), np.array(abar_prev), np.array(var)


@pytest.mark.parametrize("T", [20, 40, 100])
def test_schedule_buffers__equal_numpy_loop(T):
    diff = GaussianDiffusion(T)
    betas = np.linspace(1e-4, 0.02, T)
    abar, abar_prev, var = naive_tables(betas)
    np.testing.assert_allclose(diff.betas.numpy(), betas, rtol=1e-6)
    np.testing.assert_allclose(diff.alphas_cumprod.numpy(), abar, rtol=1e-6)
    np.testing.assert_allclose(diff.alphas_cumprod_prev.numpy(), abar_prev, rtol=1e-6)
    np.testing.assert_allclose(diff.posterior_variance.numpy(), var, rtol=1e-5, atol=1e-12)
    assert diff.posterior_variance[0] == 0.0


def test_schedule__reference_endpoints():
    # the authors' linear schedule (github.com/topwasu/DDVI): abar_{T-1} = 0.817 / 0.667 / 0.364
    # for T = 20 / 40 / 100
    for T, expected in [(20, 0.817), (40, 0.667), (100, 0.364)]:
        assert float(GaussianDiffusion(T).alphas_cumprod[-1]) == pytest.approx(expected, abs=1e-3)
    assert cosine_beta_schedule(40).max() <= 0.9999
    assert np.prod(1 - cosine_beta_schedule(1000)) < 1e-3


def test_make_betas__unknown_schedule_lists_choices():
    with pytest.raises(ValueError, match="linear"):
        make_betas("quadratic", 10)
    assert np.allclose(make_betas("linear", 5), linear_beta_schedule(5))


def test_q_sample__moments(device):
    diff = GaussianDiffusion(40).to(device)
    z = torch.tensor([[0.7, -1.2]], device=device).expand(200_000, 2)
    k = 25
    noise = torch.randn(z.shape, generator=gen(0, device), device=device)
    y = diff.q_sample(z, k, noise)
    abar = float(diff.alphas_cumprod[k])
    assert torch.allclose(y.mean(0).cpu(), np.sqrt(abar) * torch.tensor([0.7, -1.2]), atol=0.01)
    assert torch.allclose(y.var(0).cpu(), torch.full((2,), 1 - abar), rtol=0.02)


def test_q_posterior__equals_bayes_rule(device):
    """Posterior of y^(k) given y^(k+1) and z, derived independently by Gaussian conjugacy."""
    diff = GaussianDiffusion(40).to(device)
    betas = np.linspace(1e-4, 0.02, 40)
    abar, abar_prev, _ = naive_tables(betas)
    z = torch.tensor([[0.3, -0.5], [1.0, 2.0]], device=device)
    y_next = torch.tensor([[0.1, 0.2], [-0.4, 0.9]], device=device)
    for k in [1, 7, 39]:
        # prior on y^(k): N(sqrt(abar_{k-1}) z, 1 - abar_{k-1}); likelihood N(y^(k+1); sqrt(alpha_k) y^(k), beta_k)
        prec = 1 / (1 - abar_prev[k]) + (1 - betas[k]) / betas[k]
        var = 1 / prec
        mean = var * (
            np.sqrt(abar_prev[k]) * z.cpu().numpy() / (1 - abar_prev[k])
            + np.sqrt(1 - betas[k]) * y_next.cpu().numpy() / betas[k]
        )
        got_mean, got_var, got_logvar = diff.q_posterior(z, y_next, k)
        np.testing.assert_allclose(got_mean.cpu().numpy(), mean, rtol=1e-4, atol=1e-5)
        assert float(got_var) == pytest.approx(var, rel=1e-4)
        assert float(got_logvar) == pytest.approx(np.log(var), rel=1e-4)


def test_ddim_step__folded_coefficients_equal_the_two_stage_formula():
    """Oracle: zhat from the noise, then sqrt(abar_prev) zhat + sqrt(1 - abar_prev) eps, in float64."""
    diff = GaussianDiffusion(40)
    g = gen(0)
    y, eps = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    abar = diff.alphas_cumprod.double()
    abar_prev = diff.alphas_cumprod_prev.double()
    for k in range(40):
        z_hat = (y.double() - (1 - abar[k]).sqrt() * eps.double()) / abar[k].sqrt()
        want = abar_prev[k].sqrt() * z_hat + (1 - abar_prev[k]).sqrt() * eps.double()
        fast = diff.ddim_step(y, k, eps)  # Python int k: folded
        tensor_k = diff.ddim_step(y, torch.full((64,), k), eps)  # tensor k: two-stage
        torch.testing.assert_close(fast.double(), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast, tensor_k, rtol=1e-5, atol=1e-5)


def test_ddim_step__with_true_noise_moves_along_the_forward_path():
    """With the exact noise, a DDIM step maps q_sample(z, k, eps) to q_sample(z, k-1, eps)."""
    diff = GaussianDiffusion(40)
    z = torch.randn(64, 2, generator=gen(1))
    eps = torch.randn(64, 2, generator=gen(2))
    k = torch.randint(1, 40, (64,), generator=gen(3))
    y_next = diff.q_sample(z, k, eps)
    np.testing.assert_allclose(
        diff.ddim_step(y_next, k, eps).numpy(), diff.q_sample(z, k - 1, eps).numpy(), atol=1e-5
    )
    # at k = 0 the step returns z itself
    np.testing.assert_allclose(
        diff.ddim_step(diff.q_sample(z, 0, eps), 0, eps).numpy(), z.numpy(), atol=1e-5
    )


def test_ancestral_step__mean_and_variance():
    diff = GaussianDiffusion(40)
    y = torch.tensor([[0.5, -0.5]]).expand(100_000, 2)
    eps = torch.tensor([[0.2, 0.1]]).expand(100_000, 2)
    noise = torch.randn(100_000, 2, generator=gen(4))
    out = diff.ancestral_step(y, 10, eps, noise)
    z_hat = diff.predict_start_from_noise(y[:1], 10, eps[:1])
    mean = diff.q_posterior(z_hat, y[:1], 10)[0]
    assert torch.allclose(out.mean(0), mean[0], atol=2e-3)
    assert torch.allclose(out.var(0), diff.posterior_variance[10].expand(2), rtol=0.02)


def test_gaussian_kl__zero_for_identical_and_matches_torch():
    m1, lv1 = torch.randn(5, 3, generator=gen(5)), torch.randn(5, 3, generator=gen(6))
    m2, lv2 = torch.randn(5, 3, generator=gen(7)), torch.randn(5, 3, generator=gen(8))
    assert torch.allclose(gaussian_kl(m1, lv1, m1, lv1), torch.zeros(5, 3), atol=1e-6)
    expected = D.kl_divergence(D.Normal(m1, (0.5 * lv1).exp()), D.Normal(m2, (0.5 * lv2).exp()))
    assert torch.allclose(gaussian_kl(m1, lv1, m2, lv2), expected, atol=1e-5)


def test_transition_kl__matches_torch_distributions():
    diff = GaussianDiffusion(20)
    z, y_next, mean_q = (torch.randn(8, 2, generator=gen(s)) for s in (9, 10, 11))
    k = 5
    mean_r, var_r, _ = diff.q_posterior(z, y_next, k)
    expected = D.kl_divergence(
        D.Normal(mean_q, diff.reverse_variance[k].sqrt()), D.Normal(mean_r, var_r.sqrt())
    ).sum(-1)
    assert torch.allclose(diff.transition_kl(mean_q, z, y_next, k), expected, rtol=1e-4)


def test_buffers__follow_device_and_state_dict(device):
    diff = GaussianDiffusion(10, "cosine").to(device)
    assert diff.betas.device.type == device.type
    assert "posterior_mean_coef_start" in diff.state_dict()
    assert diff.betas.dtype == torch.float32
