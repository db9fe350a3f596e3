"""Each optimiser step computes the gradients of its own plan's parameters, and no others.

Oracle: a full ``loss.backward()`` of the same loss, on the same batch and generator state.
Its gradients of the plan's parameters must be the step's, bit for bit, and it must also reach
parameters outside the plan (else the check below would be empty).
"""

import types

import pytest
import torch

from ddvi_genomics.core import training
from ddvi_genomics.core.distributed import Shard
from ddvi_genomics.core.models import DDVI, VAE
from ddvi_genomics.core.training import StepContext
from tests.conftest import TINY_DDVI, gen


class _GradientsSeen:
    """An optimiser stand-in: ``step`` keeps a copy of every model gradient (None if unset)."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {
            name: None if p.grad is None else p.grad.clone()
            for name, p in self.model.named_parameters()
        }


def _eager_run(model):
    """What ``training._optimiser_step`` reads of a run: the model, one process, the loss."""
    return types.SimpleNamespace(
        model=model, shard=Shard(), loss=lambda plan, data, ctx: plan.loss_fn(data, ctx)
    )


def _step_gradients(model, plan, x):
    """The gradients ``training._optimiser_step`` leaves, by parameter name."""
    seen = _GradientsSeen(model)
    data = x if plan.uses_batch else None
    training._optimiser_step(_eager_run(model), plan, seen, data, StepContext(0, 1, gen(7)))
    return seen.grads


def _full_backward_gradients(model, plan, x):
    model.zero_grad(set_to_none=True)
    data = x if plan.uses_batch else None
    plan.loss_fn(data, StepContext(0, 1, gen(7))).loss.backward()
    return {name: p.grad for name, p in model.named_parameters()}


def _paper_recipe():
    cfg = dict(TINY_DDVI, prior="learnable_mixture", likelihood="gaussian")
    cfg.update(wake_trains_denoiser=False, prior_weight=0.0, diff_weight=0.0)
    return DDVI(12, **cfg), ("context_net.", "denoiser.", "prior.")


#: name -> (model factory returning (model, prefixes of parameters outside its first plan))
MODELS = {
    "ddvi-paper-recipe": _paper_recipe,
    "ddvi": lambda: (
        DDVI(12, **TINY_DDVI, prior="learnable_mixture", likelihood="gaussian"),
        ("prior.",),
    ),
    "vae": lambda: (
        VAE(12, hidden=(16,), prior="learnable_mixture", likelihood="gaussian", epochs=1),
        ("prior.",),
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_step__gradients_of_the_plan_only_and_equal_to_a_full_backward(name):
    torch.manual_seed(0)
    model, outside = MODELS[name]()
    model.eval()  # no dropout: the two passes see the same network
    x = torch.randn(32, 12, generator=gen(1))
    first = model.training_phases()[-1].plans[0]  # the wake (DDVI) or ELBO (VAE) step
    for p in model.parameters():
        p.requires_grad_(True)
    own = {n for n, p in model.named_parameters() if any(p is q for q in first.parameters())}
    stepped = _step_gradients(model, first, x)
    full = _full_backward_gradients(model, first, x)
    reached_outside = [n for n in full if n.startswith(outside) and full[n] is not None]
    assert reached_outside, f"{name}: the full backward reaches no parameter outside the plan"
    for n, grad in stepped.items():
        if n in own:
            assert grad is not None and torch.equal(grad, full[n]), n
        else:
            assert grad is None, f"{name}: {n} got a gradient its step does not use"


def test_step__a_plan_whose_parameters_are_all_frozen_still_runs():
    """``backward(inputs=[])`` is an error in torch; such a step falls back to a full pass."""
    torch.manual_seed(0)
    model = DDVI(12, **dict(TINY_DDVI, wake_trains_denoiser=False))
    x = torch.rand(32, 12, generator=gen(1))
    wake = model.training_phases()[-1].plans[0]  # encoder and decoder
    model.requires_grad_(True)
    for p in wake.parameters():
        p.requires_grad_(False)
    seen = _GradientsSeen(model)
    record = training._optimiser_step(_eager_run(model), wake, seen, x, StepContext(0, 1, gen(7)))
    assert torch.isfinite(record.values).all()
    assert all(seen.grads[n] is None for n, p in model.named_parameters() if not p.requires_grad)
