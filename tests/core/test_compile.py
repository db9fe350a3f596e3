"""``fit(compile=...)``: the compiled loss functions give eager's losses and weights.

Oracle: the eager run from the same initial weights, data and seed. A compiled loss draws its
noise from torch's default generator (``ctx.generator`` is None), so the eager oracle is made
to draw from it too (:func:`eager_on_default_generator`), and the compiled run's random ops call
the eager ones (inductor's ``fallback_random``): both then consume the same stream identically.
"""

import warnings

import pytest
import torch
import torch._inductor.config

from ddvi_genomics.core import training
from ddvi_genomics.core.models import DDVI, VAE
from ddvi_genomics.core.training import compile_mode
from tests.conftest import TINY_DDVI, eager_on_default_generator, gen

STAGE2_ONLY = dict(TINY_DDVI, prior_pretrain_epochs=0, stage1_epochs=0, epochs=2, dropout=0.0)


def build(prior: str = "pinwheel") -> DDVI:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return DDVI(12, **STAGE2_ONLY, prior=prior, context_dropout=0.0)


def test_compile_modes__auto_is_eager_off_cuda_and_bad_names_are_refused():
    assert compile_mode("auto", torch.device("cpu")) == "off"
    assert compile_mode("auto", torch.device("cuda")) == "cuda-graph"
    with pytest.raises(ValueError, match=r"compile='fast' is not allowed; choose one of"):
        build().fit(torch.rand(64, 12), device="cpu", compile="fast")


def test_step_generator__default_generator_only_for_compiled_losses(monkeypatch):
    x = torch.rand(32, 12, generator=gen(1))
    seen = {}
    real_step = training._optimiser_step
    for mode in ("off", "default"):
        torch._dynamo.reset()

        def spy(run, plan, optim, data, ctx, mode=mode):
            seen[mode] = ctx.generator
            return real_step(run, plan, optim, data, ctx)

        monkeypatch.setattr(training, "_optimiser_step", spy)
        build().fit(x, device="cpu", seed=4, verbose=False, compile=mode)
    assert isinstance(seen["off"], torch.Generator) and seen["default"] is None


def _count_graph_breaks(model, x) -> int:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model.fit(x, device="cpu", seed=4, verbose=False, compile="default")
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it really compiled
    return sum(torch._dynamo.utils.counters["graph_break"].values())


@pytest.mark.parametrize("family", ["ddvi", "vae"])
def test_compiled_losses__trace_their_noise_draws_without_graph_breaks(family):
    """Prior samples, diffusion times and noise are drawn inside the compiled graphs.

    An explicit ``torch.Generator`` argument is a graph break; DDVI's stage 2 had 18 of them.
    """
    x = torch.rand(64, 12, generator=gen(1))
    model = build() if family == "ddvi" else VAE(12, hidden=(16,), epochs=2, batch_size=32)
    assert _count_graph_breaks(model, x) == 0


def test_fit_compiled__reproducible_from_the_seed():
    """Inductor's own random numbers (no fallback) come from the seeded default generator."""
    x = torch.rand(64, 12, generator=gen(1))
    states = []
    for _ in range(2):
        torch._dynamo.reset()
        model = build()
        model.fit(x, device="cpu", seed=4, verbose=False, compile="default")
        states.append(model.state_dict())
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


# learnable_mixture: a third plan fits the prior to the wake step's sample (a side effect of
# the compiled wake loss)
@pytest.mark.parametrize("prior", ["pinwheel", "learnable_mixture"])
def test_fit_compiled__same_losses_and_weights_as_eager(prior):
    torch._dynamo.reset()
    x = torch.rand(64, 12, generator=gen(1))  # 2 batches of 32 per epoch, 2 epochs
    eager, compiled = build(prior), build(prior)
    with eager_on_default_generator():
        eager_rows = eager.fit(x, device="cpu", seed=4, verbose=False).rows
    with (
        warnings.catch_warnings(record=True) as seen,
        torch._inductor.config.patch(fallback_random=True),
    ):
        warnings.simplefilter("always")
        compiled_rows = compiled.fit(
            x, device="cpu", seed=4, verbose=False, compile="default"
        ).rows
    # the compiled run really compiled (else this would compare eager with eager)
    assert not [w for w in seen if "torch.compile failed" in str(w.message)]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    for a, b in zip(eager_rows, compiled_rows, strict=True):
        for key in a:
            if key not in ("phase", "epoch", "seconds"):
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    worst = max(
        float((p - q).abs().max())
        for p, q in zip(eager.state_dict().values(), compiled.state_dict().values(), strict=True)
    )
    assert worst < 1e-4, f"largest weight difference {worst:.2e}"


@pytest.mark.parametrize("plan_name", ["wake", "sleep"])
def test_compiled_loss__one_graph_per_plan_loss(plan_name):
    """torch.compile traces a whole DDVI loss, context reads included, as one graph.

    Oracle: ``torch._dynamo.explain`` on the loss with the context ``fit`` builds for compiled
    losses (noise from the default generator). A context class that torch.compile cannot trace
    (an ``__getattribute__`` override) made it compile only the functions a loss calls, one graph
    each.
    """
    torch._dynamo.reset()
    model = build()
    (plan,) = [p for p in model.training_phases()[-1].plans if p.name == plan_name]
    ctx = training.StepContext(0, 2, None)
    data = torch.rand(32, 12, generator=gen(1)) if plan.uses_batch else None
    explained = torch._dynamo.explain(plan.loss_fn)(data, ctx)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_compiled_vae__linear_kl_warmup_does_not_recompile_every_epoch():
    """The epoch read by a loss (the KL warm-up's weight) is a symbolic int after one recompile.

    Compiled with ``dynamic=False`` the loss was specialised to each epoch: a new graph per epoch
    until dynamo's recompile limit (8), and eager after it. Oracle: dynamo's own counters; the
    warm-up needs at most three graphs (epoch 0, epochs inside the ramp, epochs after it).
    """
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    x = torch.rand(64, 12, generator=gen(1))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = VAE(12, hidden=(16,), epochs=12, batch_size=32, kl_schedule="linear")
    model.fit(x, device="cpu", seed=4, verbose=False, compile="default")
    assert 0 < torch._dynamo.utils.counters["stats"]["unique_graphs"] <= 3


def test_compiled_ddvi_semi__sleep_class_stays_symbolic_and_matches_eager():
    """DDVI-semi's sleep step picks one of 10 class diffusions on the host (``ctx.choice``).

    Compiled, the class used to be specialised: one sleep graph per class until dynamo's
    recompile limit (8), then eager for the other classes. Oracles: dynamo's counters (wake,
    sleep, one recompile to make the class symbolic, one for the context's row set), and the
    eager run on the same stream.
    """
    from ddvi_genomics.core.models.ddvi_semi import DDVISemi
    from tests.core.test_ddvi_semi import TINY, data

    config = dict(TINY, prior_pretrain_epochs=0, stage1_epochs=0, epochs=2, sleep_steps=6)
    x, labels = data()

    def build_semi():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return DDVISemi(12, prior="pinwheel", **config)

    eager, compiled = build_semi(), build_semi()
    with eager_on_default_generator():
        eager.fit(x, labels, device="cpu", seed=1, verbose=False)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    with torch._inductor.config.patch(fallback_random=True):
        compiled.fit(x, labels, device="cpu", seed=1, verbose=False, compile="default")
    assert 0 < torch._dynamo.utils.counters["stats"]["unique_graphs"] <= 4
    worst = max(
        float((p - q).abs().max())
        for p, q in zip(eager.state_dict().values(), compiled.state_dict().values(), strict=True)
    )
    assert worst < 1e-4, f"largest weight difference {worst:.2e}"
