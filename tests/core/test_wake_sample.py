"""A learnable prior is fitted to the wake step's posterior sample of the same batch.

Oracle: the posterior chain run again from the generator state the wake step started from gives
the sample z that step drew (eval mode, so dropout draws nothing); ``prior_fit_loss`` on that z
is the loss the prior-fit step must report. Its own generator (a different seed) would give a
different loss, so a step that drew a fresh sample fails the check.
"""

import numpy as np
import pytest
import torch

from ddvi_genomics.core.models import DDVI, DDVISemi
from ddvi_genomics.core.models.base import WakeSample, prior_fit_loss
from ddvi_genomics.core.training import StepContext
from tests.conftest import TINY_DDVI, gen

STAGE2 = dict(TINY_DDVI, prior_pretrain_epochs=0, stage1_epochs=0, prior="learnable_mixture")

MODELS = {
    "ddvi": lambda: DDVI(12, **STAGE2, likelihood="gaussian"),
    "ddvi-elbo": lambda: DDVI(12, **STAGE2, likelihood="gaussian", objective="elbo"),
    "ddvi-semi": lambda: DDVISemi(12, **STAGE2, n_classes=3, likelihood="gaussian"),
}


def build(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MODELS[name]().eval()


def context(seed, n=40):
    labels = torch.tensor(np.where(np.arange(n) % 2 == 0, np.arange(n) % 3, -1))
    return StepContext(0, 1, gen(seed), labels=labels)


def drawn_sample(model, x, seed):
    """z ~ q(z | x) drawn afresh from ``gen(seed)``, as the wake step draws it."""
    with torch.no_grad():
        if model.config.objective == "elbo":  # the stochastic chain of the bound
            return model._elbo_terms(x, gen(seed))[2]
        return model.posterior_chain(x, gen(seed))[2][-1]


@pytest.mark.parametrize("name", MODELS)
def test_prior_fit_step__fits_the_wake_steps_sample(name):
    model = build(name)
    x = torch.rand(40, 12, generator=gen(1))
    model._wake_loss(x, context(3))
    fitted = model._prior_fit_loss(x, context(99)).loss.detach()
    expected = prior_fit_loss(model.prior, drawn_sample(model, x, 3))[0].detach()
    assert float(fitted) == pytest.approx(float(expected), rel=1e-6)
    assert float(fitted) != pytest.approx(
        float(prior_fit_loss(model.prior, drawn_sample(model, x, 99))[0].detach()), rel=1e-3
    )


@pytest.mark.parametrize("name", ["ddvi", "ddvi-semi"])
def test_prior_fit_step__without_a_wake_step_draws_its_own_sample(name):
    model = build(name)
    x = torch.rand(40, 12, generator=gen(1))
    model._wake_loss(x, context(3))
    model._prior_fit_loss(x, context(99))  # uses the wake sample
    again = model._prior_fit_loss(x, context(5)).loss.detach()  # no wake step since: a fresh draw
    expected = prior_fit_loss(model.prior, drawn_sample(model, x, 5))[0].detach()
    assert float(again) == pytest.approx(float(expected), rel=1e-6)


def test_wake_sample__a_fixed_prior_keeps_nothing():
    model = DDVI(12, **{**STAGE2, "prior": "pinwheel"})
    model._wake_loss(torch.rand(40, 12, generator=gen(1)), context(3))
    assert model.wake_sample.buffer is None
    assert [p.name for p in model.training_phases()[-1].plans] == ["wake", "sleep"]


def test_fit__every_prior_fit_step_reads_one_fixed_buffer(monkeypatch):
    """One buffer address for the whole run (a recorded CUDA graph reads it by address)."""
    kept, taken = [], []
    keep, take = WakeSample.keep, WakeSample.take

    def watched_keep(self, z):
        keep(self, z)
        kept.append(self.buffer.data_ptr())

    def watched_take(self, n_rows):
        z = take(self, n_rows)
        taken.append(None if z is None else z.data_ptr())
        return z

    monkeypatch.setattr(WakeSample, "keep", watched_keep)
    monkeypatch.setattr(WakeSample, "take", watched_take)
    model = DDVI(12, **STAGE2, likelihood="gaussian")
    model.fit(torch.rand(100, 12, generator=gen(0)), device="cpu", seed=0, verbose=False)
    steps = 2 * 3  # 2 epochs of 3 full batches of 32 (the ragged 4 rows are dropped)
    assert len(kept) == len(taken) == steps
    assert len(set(kept) | set(taken)) == 1
