"""``fit(compile=...)``: the compiled loss functions give eager's losses and weights.

Oracle: the eager run from the same initial weights, data and seed (the generators are consumed
identically, so the noise draws are the same).
"""

import warnings

import pytest
import torch

from ddvi_genomics.core.models import DDVI
from ddvi_genomics.core.training import compile_mode
from tests.conftest import TINY_DDVI, gen

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


# learnable_mixture: a third plan fits the prior to the wake step's sample (a side effect of
# the compiled wake loss)
@pytest.mark.parametrize("prior", ["pinwheel", "learnable_mixture"])
def test_fit_compiled__same_losses_and_weights_as_eager(prior):
    torch._dynamo.reset()
    x = torch.rand(64, 12, generator=gen(1))  # 2 batches of 32 per epoch, 2 epochs
    eager, compiled = build(prior), build(prior)
    eager_rows = eager.fit(x, device="cpu", seed=4, verbose=False).rows
    with warnings.catch_warnings(record=True) as seen:
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
