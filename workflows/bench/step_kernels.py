"""Kernels per training step: the quantity that sets a recorded CUDA graph's time (issue 13).

A replayed CUDA graph runs no Python and launches nothing from the host, but each of its
kernels still costs a few microseconds on the GPU; the small networks of a DDVI step are bound
by that count, not by arithmetic. This benchmark counts, on any machine, the operations that
reach a backend (views excluded: each counted op is one kernel on a GPU, give or take a fused
pair) in every optimiser plan's step through ``fit`` with ``compile="off"``, the optimiser's own
update excluded (fused Adam on CUDA, foreach on the CPU). Counts do not depend on the data's
values, so the inputs are seeded noise of the real shapes.

Two layouts of the chain's denoiser side by side: ``unrolled`` (today's: per-step weight and
offset views built once per chain, :class:`ddvi_genomics.core.nn.UnrolledEpsilonNet`) and
``forward`` (the previous one: the network's ``forward`` called at every step). On CUDA,
dropout is one fused kernel each way where the CPU path counted here takes four and two.

Usage: python -m workflows.bench.step_kernels --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import collections
import contextlib
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ddvi_genomics.core import training
from ddvi_genomics.core.models import DDVI, DDVISemi
from ddvi_genomics.core.nn import ClassBatchedEpsilonNet, EpsilonNet
from workflows.report import markdown_table, write_result


class KernelCount(TorchDispatchMode):
    """Count the ops that reach a backend by name, views and detaches excluded.

    ``paused`` stops the count (the optimiser's update, for instance).
    """

    def __init__(self):
        super().__init__()
        self.count: collections.Counter = collections.Counter()
        self.key = None
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if not (self.paused or func.is_view or name in ("detach", "lift_fresh")):
            self.count[(self.key, name)] += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forward_layout():
    """Run chains through the denoisers' ``forward`` at every step (the previous layout)."""
    with (
        mock.patch.object(EpsilonNet, "unrolled", None),
        mock.patch.object(ClassBatchedEpsilonNet, "unrolled", None),
    ):
        yield


def count_plan_kernels(model, x, labels=None) -> dict[str, dict]:
    """Kernels per step of each optimiser plan over one epoch of ``model.fit``.

    Returns
    -------
    dict
        plan name -> ``{"steps": int, "kernels_per_step": float, "top": {op: per step}}``.
    """
    counter = KernelCount()
    steps: collections.Counter = collections.Counter()
    real_step = training._optimiser_step

    def counted_step(run, plan, optim, data, ctx):
        counter.key = plan.name
        steps[plan.name] += 1
        update = optim.step

        def paused_update(*a, **k):
            counter.paused = True
            try:
                return update(*a, **k)
            finally:
                counter.paused = False

        optim.step = paused_update
        try:
            with counter:
                return real_step(run, plan, optim, data, ctx)
        finally:
            del optim.step

    with mock.patch.object(training, "_optimiser_step", counted_step):
        model.fit(x, labels, device="cpu", compile="off", seed=0, verbose=False)
    out = {}
    for plan, n in steps.items():
        ops = {name: c / n for (key, name), c in counter.count.items() if key == plan}
        top = dict(sorted(ops.items(), key=lambda kv: -kv[1])[:8])
        out[plan] = {"steps": n, "kernels_per_step": sum(ops.values()), "top": top}
    return out


def per_batch(plans: dict[str, dict]) -> float:
    """Kernels of one batch: every plan's steps (sleep repeats included) per data batch."""
    batches = min(p["steps"] for p in plans.values())
    return sum(p["kernels_per_step"] * p["steps"] for p in plans.values()) / batches


def _configs():
    """(name, model factory, inputs, labels, one phase?) of the configurations counted."""
    from ddvi_genomics.genotype.mapping.embed import (
        GENOTYPE_DDVI_CONFIG,
        GENOTYPE_DDVI_PAPER_CONFIG,
        GENOTYPE_DDVI_SEMI_CONFIG,
    )

    g = torch.Generator().manual_seed(0)
    genotype = torch.randn(2504, 20, generator=g)
    mnist = torch.rand(1280, 784, generator=g)
    populations = torch.randint(26, (2504,), generator=g)
    yield (
        "genotype preset DDVI (infer --example: 2,504 x 20 PCs, T = 20)",
        lambda: DDVI(20, GENOTYPE_DDVI_CONFIG.replace(epochs=1)),
        genotype,
        None,
        True,
    )
    yield (
        "genotype DDVI, paper recipe (infer --example --recipe paper)",
        lambda: DDVI(20, GENOTYPE_DDVI_PAPER_CONFIG.replace(epochs=1)),
        genotype,
        None,
        True,
    )
    yield (
        "genotype preset DDVI-semi (26 classes, T = 10)",
        lambda: DDVISemi(20, GENOTYPE_DDVI_SEMI_CONFIG.replace(epochs=1, n_classes=26)),
        genotype,
        populations,
        True,
    )
    yield (
        "MNIST config DDVI stage 2 (784-1000-1000, T = 40, 3 sleep steps)",
        lambda: DDVI(784, prior="pinwheel", prior_pretrain_epochs=0, stage1_epochs=0, epochs=1),
        mnist,
        None,
        True,
    )
    yield (
        "MNIST config DDVI prior pre-training and stage 1 (T = 20 prior chain)",
        lambda: DDVI(
            784, prior="pinwheel", prior_pretrain_steps_per_epoch=10, stage1_epochs=1, epochs=0
        ),
        mnist,
        None,
        False,  # two phases: no single batch sums them
    )
    from vision.presets import config_for

    semi = config_for("mnist", "ddvi", "pinwheel", True).replace(
        prior_pretrain_epochs=1, prior_pretrain_steps_per_epoch=3, stage1_epochs=1, epochs=0
    )
    mnist_labels = torch.randint(10, (1280,), generator=g)
    mnist_labels[128:] = -1  # a tenth labelled
    yield (
        "MNIST semi-supervised DDVI stage 2 (10 classes, T = 100, batch 1,024, 30 sleep steps)",
        lambda: DDVISemi(784, semi.replace(prior_pretrain_epochs=0, stage1_epochs=0, epochs=1)),
        mnist,
        mnist_labels,
        True,
    )
    yield (
        "MNIST semi-supervised DDVI prior pre-training and stage 1 (10 classes, T = 100, batch 1,024)",
        lambda: DDVISemi(784, semi),
        mnist,
        mnist_labels,
        False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="Output folder for the .json and .md.")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, records = [], []
    for name, factory, x, labels, one_phase in _configs():
        counts = {}
        for layout, ctx in (("forward", forward_layout), ("unrolled", contextlib.nullcontext)):
            torch.manual_seed(0)
            with ctx():
                counts[layout] = count_plan_kernels(factory(), x, labels)
        records.append({"config": name, "layouts": counts})
        for plan in counts["unrolled"]:
            before = counts["forward"][plan]["kernels_per_step"]
            after = counts["unrolled"][plan]["kernels_per_step"]
            rows.append([name, plan, f"{before:.0f}", f"{after:.0f}", f"{after / before:.2f}"])
        if not one_phase:
            continue
        total = {layout: per_batch(c) for layout, c in counts.items()}
        rows.append(
            [name, "**one batch, all plans**", f"{total['forward']:.0f}", f"{total['unrolled']:.0f}",
             f"{total['unrolled'] / total['forward']:.2f}"]
        )  # fmt: skip
    from ddvi_genomics.provenance import provenance

    record = {"benchmark": "step_kernels", "configs": records, "provenance": provenance()}
    lines = [
        "# Kernels per optimiser step (backend ops, views excluded; optimiser update excluded)",
        "",
        'Counted on the CPU through `fit(compile="off")`, one epoch, mean per step of each '
        "plan (each of a plan's repeats, such as DDVI's sleep steps, is a step; the last row of a "
        "configuration sums one batch's steps). `forward`: the denoiser's "
        "`forward` at every chain step; `unrolled`: per-step views built once per chain. "
        "Counts do not depend on data values (seeded noise of the real shapes). On CUDA, "
        "dropout is one fused kernel each way, fewer than counted here, and a KDE prior "
        "(the MNIST pinwheel) is evaluated in cache-sized chunks of queries on the CPU against "
        "2^24-element ones there: a KDE term costs more kernels here than on a GPU.",
        "",
        *markdown_table(
            ["configuration", "plan", "forward layout", "unrolled layout", "ratio"], rows
        ),
        "",
        "Command: `python -m workflows.bench.step_kernels --out OUT`",
    ]
    write_result(args.out, "step_kernels", record, lines)


if __name__ == "__main__":
    main()
