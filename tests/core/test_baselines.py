import math

import numpy as np
import pytest
import torch
from torch import nn

from ddvi_genomics.core.models import AAE, HIAFVAE, IAFVAE, VAE
from ddvi_genomics.core.models.aae import discriminator_noise
from ddvi_genomics.core.nn import GaussianDecoder
from ddvi_genomics.core.training import StepContext, kl_weight_at
from tests.conftest import gen

SMALL = dict(hidden=(16,), epochs=2, batch_size=32)
FAMILIES = [VAE, IAFVAE, HIAFVAE, AAE]


def small(cls, n_features=12, **kw):
    extra = {"flow_hidden": (8,), "context_dim": 3} if cls in (IAFVAE, HIAFVAE) else {}
    if cls is AAE:
        extra = {"disc_hidden": (16,)}
    return cls(n_features, **{**SMALL, **extra, **kw})


def test_kl_weight_schedule__hand_computed():
    assert [kl_weight_at(e, 10, 0.01, "linear") for e in (0, 4, 7, 8, 9)] == pytest.approx(
        [0, 0.005, 0.00875, 0.01, 0.01]
    )
    assert kl_weight_at(3, 10, 0.5) == 0.5
    with pytest.raises(ValueError, match="constant"):
        kl_weight_at(0, 10, 1.0, "cyclic")


def test_discriminator_noise__reference_schedule():
    assert [discriminator_noise(e, 200) for e in (0, 1, 49, 50, 99, 100, 199)] == pytest.approx(
        [0.3, 0.2, 0.2, 0.1, 0.1, 0.0, 0.0]
    )


@pytest.mark.parametrize("cls", FAMILIES)
def test_one_step__lowers_every_plan_loss(cls, device):
    torch.manual_seed(0)
    model = small(cls, dropout=0.0).to(device).eval()
    x = torch.rand(64, 12, generator=gen(1)).to(device)
    for plan in model.training_phases()[0].plans:
        opt = torch.optim.Adam(plan.parameters(), lr=1e-3)

        def loss():
            return plan.loss_fn(x, StepContext(5, 10, gen(2, device))).loss

        before = loss()
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            assert float(loss()) < float(before.detach()), (cls.__name__, plan.name)


@pytest.mark.parametrize("cls", FAMILIES)
def test_save_load__identical_outputs(cls, tmp_path, device):
    model = small(cls)
    x = torch.rand(40, 12, generator=gen(3))
    model.fit(x, device=device)
    model.save(tmp_path / "m.pt")
    loaded = cls.load(tmp_path / "m.pt", map_location=device)
    assert torch.equal(
        model.encode(x, generator=gen(4, device)), loaded.encode(x, generator=gen(4, device))
    )
    assert torch.equal(
        model.sample(5, generator=gen(5, device)), loaded.sample(5, generator=gen(5, device))
    )
    if cls.has_elbo:
        assert torch.equal(
            model.elbo(x, generator=gen(6, device)), loaded.elbo(x, generator=gen(6, device))
        )


def test_aae__reports_no_elbo():
    with pytest.raises(ValueError, match="no evidence lower bound"):
        small(AAE).elbo(torch.rand(3, 12))


class ExactGaussianEncoder(nn.Module):
    """Outputs the exact posterior of the linear-Gaussian model (mean, log-variance)."""

    def __init__(self, W, b, sigma, shift=0.0):
        super().__init__()
        d = W.shape[1]
        self.cov = torch.linalg.inv(torch.eye(d) + W.T @ W / sigma**2)
        self.A = self.cov @ W.T / sigma**2
        self.b, self.shift = b, shift

    def forward(self, x):
        loc = (x - self.b) @ self.A.T + self.shift
        return loc, torch.log(torch.diagonal(self.cov)).expand_as(loc)


def linear_gaussian_vae():
    """x = W z + b + sigma eps with orthogonal columns of W, so the exact posterior is diagonal."""
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(5, 2, dtype=torch.float64))
    W = q * torch.tensor([1.5, 0.7], dtype=torch.float64)
    b, sigma = torch.linspace(-0.5, 0.5, 5, dtype=torch.float64), 0.4
    model = VAE(
        5,
        prior="gaussian",
        likelihood="gaussian",
        decoder_scale=sigma,
        variance="logvar",
        hidden=(4,),
        dropout=0.0,
    ).double()
    body = nn.Linear(2, 5).double()
    body.weight.data, body.bias.data = W.clone(), b.clone()
    model.decoder = GaussianDecoder(2, (), 5, scale=sigma, body=body)
    x = (
        torch.randn(6, 5, generator=gen(7), dtype=torch.float64)
        @ torch.eye(5, dtype=torch.float64)
        + b
    )
    cov_x = W @ W.T + sigma**2 * torch.eye(5, dtype=torch.float64)
    log_px = torch.distributions.MultivariateNormal(b, cov_x).log_prob(x)
    return model, W, b, sigma, x, log_px


def test_vae_elbo__tight_for_the_exact_posterior_and_below_otherwise():
    model, W, b, sigma, x, log_px = linear_gaussian_vae()
    model.encoder = ExactGaussianEncoder(W, b, sigma)
    elbo = model.elbo(x, n_samples=3, generator=gen(8))
    assert torch.allclose(elbo.double(), log_px, atol=1e-6)  # zero gap, zero variance
    model.encoder = ExactGaussianEncoder(W, b, sigma, shift=0.3)
    worse = model.elbo(x, n_samples=400, generator=gen(9))
    assert (worse.double() < log_px - 1e-3).all()


def test_vae_gaussian_entropy__matches_torch_distributions():
    model, W, b, sigma, x, _ = linear_gaussian_vae()
    model.encoder = ExactGaussianEncoder(W, b, sigma)
    log_qs = torch.stack([model.posterior(x, gen(s))[1] for s in range(2000)])
    expected = (
        torch.distributions.Normal(0.0, torch.diagonal(model.encoder.cov).sqrt()).entropy().sum()
    )
    assert float(-log_qs.mean()) == pytest.approx(float(expected), abs=0.03)


@pytest.mark.parametrize("cls", [IAFVAE, HIAFVAE])
def test_flow_bounds__below_quadrature_log_likelihood(cls):
    torch.manual_seed(1)
    model = small(
        cls,
        n_features=3,
        prior="gaussian",
        likelihood="gaussian",
        decoder_scale=0.5,
        epochs=3,
        dropout=0.0,
    )
    model.fit(torch.randn(64, 3, generator=gen(10)) * 0.5, device="cpu")
    x = torch.randn(4, 3, generator=gen(11)) * 0.5
    xs = torch.linspace(-7, 7, 401)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        log_joint = model.decoder(grid).log_prob(x[:, None, :]).sum(-1) + model.prior.log_prob(
            grid
        )
        log_px = torch.logsumexp(log_joint, 1) + 2 * math.log(float(xs[1] - xs[0]))
    bound = model.elbo(x, n_samples=300, generator=gen(12))
    assert (bound < log_px).all() and (bound > log_px - 30).all()


def test_aae__discriminator_accuracy_moves_toward_chance():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(512, 2)) * 0.3 + 0.5, dtype=torch.float32).clamp(0, 1)
    model = AAE(
        2,
        prior="gaussian",
        hidden=(32,),
        disc_hidden=(32,),
        epochs=30,
        batch_size=64,
        lr=2e-3,
        dropout=0.0,
        disc_dropout=0.0,
    )
    hist = model.fit(x, device="cpu")
    acc = [r["discriminator/d_accuracy"] for r in hist.rows]
    early, late = (
        np.mean(np.abs(np.array(acc[:3]) - 0.5)),
        np.mean(np.abs(np.array(acc[-5:]) - 0.5)),
    )
    assert late < early, acc


def test_lr_factor__scales_the_optimiser_step():
    from ddvi_genomics.core.training import LossOutput, OptimiserPlan, Phase, fit

    module = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(module.weight)
    plan = OptimiserPlan(
        "p",
        [module],
        lambda b, c: LossOutput(module.weight.sum(), {}),
        lr=0.1,
        uses_batch=False,
        lr_factor=lambda e: 1.0 if e == 0 else 0.0,
    )
    seen = []
    fit(
        module,
        [Phase("p", [plan], 3, 1, steps_per_epoch=1)],
        torch.zeros(2, 1),
        device="cpu",
        eval_fn=lambda m: seen.append(float(m.weight.detach())) or {},
        eval_every=1,
    )
    # Adam's first step moves by lr; with the factor 0 afterwards the weight stays put
    assert seen == pytest.approx([-0.1, -0.1, -0.1], abs=1e-6)
    assert small(AAE, lr_milestone=2).training_phases()[0].plans[0].lr_factor(2) == 0.1


def test_vae__learnable_prior_gets_its_own_plan_and_moves():
    model = small(VAE, prior="learnable_mixture", likelihood="gaussian", epochs=3)
    assert [p.name for p in model.training_phases()[0].plans] == ["elbo", "prior"]
    before = model.prior.centres.detach().clone()
    model.fit(torch.randn(64, 12, generator=gen(14)), device="cpu")
    assert not torch.allclose(model.prior.centres.detach(), before)


def test_aae_with_cluster_heads__prior_plan_fits_the_heads_to_the_codes():
    """A learnable prior adds a plan whose loss is base.prior_fit_loss on Q(x), heads only."""
    from ddvi_genomics.core.models.base import prior_fit_loss

    torch.manual_seed(0)
    model = AAE(6, prior="learnable_mixture", hidden=(16,), disc_hidden=(8,), dropout=0.0)
    plans = {plan.name: plan for plan in model.training_phases()[0].plans}
    assert list(plans) == ["reconstruction", "discriminator", "generator", "prior"]
    assert set(plans["prior"].parameters()) == set(model.prior.parameters())
    x = torch.randn(64, 6, generator=gen(3))
    out = plans["prior"].loss_fn(x, StepContext(0, 1, gen(4)))
    expected, _ = prior_fit_loss(model.prior, model.encoder(x))
    assert float(out.loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    out.loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # the codes are detached
    assert (
        AAE(6, prior="pinwheel", hidden=(16,)).training_phases()[0].plans[-1].name == "generator"
    )
