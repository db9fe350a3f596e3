"""Fast guards on two lines of DDVI's objective that a sign or a source can silently break.

* The sleep step's fantasy latents come from the model's prior p(z) (here pinwheel, which
  N(0, I) draws do not resemble), not from a standard normal.
* The wake step rewards prior density: d(loss)/d(log p(z)) = -kl_weight * prior_weight < 0,
  checked by shifting log p(z) by a constant (a finite difference on the objective).
"""

import pytest
import torch

from ddvi_genomics.core.models.ddvi import DDVI
from ddvi_genomics.core.training import StepContext
from tests.conftest import TINY_DDVI, gen


def tiny(**kw):
    model = DDVI(12, **{**TINY_DDVI, "dropout": 0.0, "context_dropout": 0.0, **kw})
    return model.eval()


def test_sleep_step__fantasy_latents_are_prior_samples(monkeypatch):
    model = tiny(prior="pinwheel")
    seen = {}
    original = model.diffusion.epsilon_loss

    def spy(denoiser, z, *args, **kwargs):
        seen["z"] = z.detach().clone()
        return original(denoiser, z, *args, **kwargs)

    monkeypatch.setattr(model.diffusion, "epsilon_loss", spy)
    model._sleep_loss(None, StepContext(0, 1, gen(3)))
    expected = model.prior.sample(model.config.batch_size, generator=gen(3))  # oracle: same stream
    assert seen["z"].shape == expected.shape
    torch.testing.assert_close(seen["z"], expected)


@pytest.mark.parametrize("prior_weight", [1.0, 0.5])
def test_wake_step__loss_falls_as_prior_density_rises(monkeypatch, prior_weight):
    model = tiny(prior="pinwheel", prior_weight=prior_weight)
    x = torch.rand(32, 12, generator=gen(0))
    true_log_prob = model.prior.log_prob

    def loss_with_log_prob_shifted(shift: float) -> float:
        monkeypatch.setattr(model.prior, "log_prob", lambda z: true_log_prob(z) + shift)
        with torch.no_grad():
            return float(model._wake_loss(x, StepContext(0, 1, gen(5))).loss)

    slope = loss_with_log_prob_shifted(1.0) - loss_with_log_prob_shifted(0.0)
    expected = -model.config.kl_weight * prior_weight
    assert expected < 0
    assert slope == pytest.approx(expected, rel=1e-3, abs=1e-7)
