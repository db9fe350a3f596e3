"""Benchmark bookkeeping: the kernel-count benchmark's plans and layouts, the MNIST projection."""

import torch

from ddvi_genomics.core.models import DDVI
from tests.conftest import TINY_DDVI
from workflows.bench.step_kernels import count_plan_kernels, forward_layout, per_batch


def _tiny():
    torch.manual_seed(0)
    cfg = dict(TINY_DDVI, prior_pretrain_epochs=0, stage1_epochs=0, epochs=1, sleep_steps=3)
    return DDVI(6, **cfg, prior="pinwheel")


def test_count_plan_kernels__counts_every_step_of_every_plan_and_sums_a_batch():
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(1))  # 2 batches of 32
    counts = count_plan_kernels(_tiny(), x)
    assert {p: c["steps"] for p, c in counts.items()} == {"wake": 2, "sleep": 6}
    # one batch: one wake step and three sleep steps
    expected = counts["wake"]["kernels_per_step"] + 3 * counts["sleep"]["kernels_per_step"]
    assert per_batch(counts) == expected
    with forward_layout():
        before = count_plan_kernels(_tiny(), x)
    # the chain (wake) changes layout; the sleep step evaluates the denoiser once, unchanged
    assert counts["wake"]["kernels_per_step"] < before["wake"]["kernels_per_step"]
    assert counts["sleep"]["kernels_per_step"] == before["sleep"]["kernels_per_step"]


def test_mnist_epoch_projection__counts_the_first_epoch_once():
    from workflows.bench.mnist_epoch import projected_minutes

    epochs = {"prior_diffusion": 100, "stage1": 100, "stage2": 0}
    # two epochs measured: 30 s first (recording), 3 s after; stage 1 one epoch of 6 s
    seconds = {"prior_diffusion": [30.0, 3.0], "stage1": [6.0], "stage2": [9.0]}
    assert projected_minutes(seconds, epochs) == (30 + 99 * 3 + 6 * 100) / 60
