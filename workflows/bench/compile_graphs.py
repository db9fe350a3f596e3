"""Graph breaks of the torch.compile-fused training steps (``compile="default"`` /
``"cuda-graph-fused"``), with noise drawn from an explicit generator against the default one.

torch.compile fuses what it can trace into one graph; a call it cannot trace ends the graph
(a *graph break*), runs eagerly, and a new graph starts after it. Before commit f606519 every
random draw of a compiled loss passed the run's ``torch.Generator``, which torch.compile does not
trace, so each prior sample, diffusion time and noise draw cut the step into more, smaller
graphs. Since then a compiled loss draws from torch's default generator of the device
(:func:`ddvi_genomics.core.training._step_generator`). This benchmark runs both ways in the same
process, on the CPU: the explicit generator is restored by patching that one function.

Per configuration and variant: graph breaks and distinct graphs compiled over the whole fit,
compiled graphs run per batch (forward and backward graphs, every plan's steps of one batch,
counted with the profiler on a late batch), seconds of the first epoch (compiling included) and
of the last (steady state, inductor's CPU code), and eager's last epoch beside them.

Usage: python -m workflows.bench.compile_graphs --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import time
from unittest import mock

import torch
import torch._dynamo
import torch._inductor.config
from torch.profiler import ProfilerActivity, profile

from ddvi_genomics.core import training
from workflows.report import markdown_table, write_result

VARIANTS = ("explicit generator", "default generator")


@contextlib.contextmanager
def noise_from(variant: str):
    """Run compiled losses with the run's explicit generator (the old way) or the default one."""
    if variant == "default generator":
        yield
        return
    with mock.patch.object(training, "_step_generator", lambda run: run.noise_gen):
        yield


def graph_calls_per_batch(model, x, labels, epochs: int, compile: str) -> tuple[float, list]:
    """Fit, profiling every step of the last epoch's second batch; return graph calls and rows.

    The plans of one batch share its :class:`~ddvi_genomics.core.training.StepContext`, so a
    batch is told apart by its context object.
    """
    real_step = training._optimiser_step
    last_epoch_batches: list[int] = []
    calls = collections.Counter()

    def profiled(run, plan, optim, data, ctx):
        if ctx.epoch == epochs - 1 and id(ctx) not in last_epoch_batches:
            last_epoch_batches.append(id(ctx))
        if len(last_epoch_batches) == 2 and id(ctx) == last_epoch_batches[1]:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                record = real_step(run, plan, optim, data, ctx)
            calls[plan.name] += sum(
                e.name.startswith("## Call CompiledFxGraph") for e in prof.events()
            )
            return record
        return real_step(run, plan, optim, data, ctx)

    with mock.patch.object(training, "_optimiser_step", profiled):
        rows = model.fit(x, labels, device="cpu", seed=0, verbose=False, compile=compile).rows
    return float(sum(calls.values())), rows


def _configs(mnist: bool):
    """(name, model factory, inputs, labels) of the configurations measured (stage 2 only)."""
    from ddvi_genomics.core.models import DDVI, DDVISemi
    from ddvi_genomics.genotype.mapping.embed import (
        GENOTYPE_DDVI_CONFIG,
        GENOTYPE_DDVI_SEMI_CONFIG,
    )

    g = torch.Generator().manual_seed(0)
    genotype = torch.randn(2504, 20, generator=g)
    populations = torch.randint(26, (2504,), generator=g)
    yield (
        "genotype preset DDVI (2,504 x 20 PCs, T = 20)",
        lambda epochs: DDVI(20, GENOTYPE_DDVI_CONFIG.replace(epochs=epochs)),
        genotype,
        None,
    )
    yield (
        "genotype preset DDVI-semi (26 classes, T = 10)",
        lambda epochs: DDVISemi(
            20, GENOTYPE_DDVI_SEMI_CONFIG.replace(epochs=epochs, n_classes=26)
        ),
        genotype,
        populations,
    )
    if mnist:
        images = torch.rand(1280, 784, generator=g)
        yield (
            "MNIST config DDVI stage 2 (784-1000-1000, T = 40, 3 sleep steps; 1,280 rows)",
            lambda epochs: DDVI(
                784, prior="pinwheel", prior_pretrain_epochs=0, stage1_epochs=0, epochs=epochs
            ),
            images,
            None,
        )


def measure(factory, x, labels, epochs: int, variant: str) -> dict:
    """One compiled fit of ``epochs`` epochs and one eager fit, from the same initial weights."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch.manual_seed(0)
    model = factory(epochs)
    t0 = time.perf_counter()
    with noise_from(variant):
        calls, rows = graph_calls_per_batch(model, x, labels, epochs, "default")
    wall = time.perf_counter() - t0
    counters = torch._dynamo.utils.counters
    reasons = collections.Counter()
    for reason, n in counters["graph_break"].items():
        reasons[reason.splitlines()[0][:80]] += n
    torch.manual_seed(0)
    eager_rows = factory(epochs).fit(x, labels, device="cpu", seed=0, verbose=False).rows
    return {
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "break_reasons": dict(reasons),
        "unique_graphs": int(counters["stats"]["unique_graphs"]),
        "graph_calls_per_batch": calls,
        "first_epoch_s": rows[0]["seconds"],
        "last_epoch_s": rows[-1]["seconds"],
        "eager_last_epoch_s": eager_rows[-1]["seconds"],
        "fit_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="Output folder for the .json and .md.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--no-mnist", action="store_true", help="Skip the MNIST configuration (slow to compile)."
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch._inductor.config.force_disable_caches = True  # compile times without on-disk caches
    rows, records = [], []
    for name, factory, x, labels in _configs(not args.no_mnist):
        for variant in VARIANTS:
            result = measure(factory, x, labels, args.epochs, variant)
            print(name, variant, result, flush=True)
            records.append({"config": name, "variant": variant, **result})
            rows.append(
                [
                    name,
                    variant,
                    result["graph_breaks"],
                    result["unique_graphs"],
                    f"{result['graph_calls_per_batch']:.0f}",
                    f"{result['first_epoch_s']:.1f}",
                    f"{result['last_epoch_s']:.2f}",
                    f"{result['eager_last_epoch_s']:.2f}",
                ]
            )
    header = [
        "configuration",
        "compiled losses draw from",
        "graph breaks",
        "graphs compiled",
        "graph calls per batch",
        "first epoch s (compiling)",
        "last epoch s, compiled",
        "last epoch s, eager",
    ]
    from ddvi_genomics.provenance import provenance

    extra = " --no-mnist" if args.no_mnist else ""
    record = {"benchmark": "compile_graphs", "results": records, "provenance": provenance()}
    lines = [
        "# torch.compile graph breaks: noise from an explicit generator against the default one",
        "",
        f'`compile="default"` on the CPU, {args.epochs} epochs of stage 2 per fit, seed 0; each '
        "variant compiled from scratch (`torch._dynamo.reset()`, inductor's on-disk caches off). "
        "DDVI-semi's sleep class is a symbolic int after one recompile (before commit d9dc854 "
        "the sleep loss was compiled once per class, up to torch.compile's recompile limit of "
        "8, and the other classes ran eagerly). Graph breaks and graphs count "
        "the whole fit; graph calls are the compiled forward and backward graphs run by one "
        "batch's steps (every plan, sleep repeats included). Eager is the same model and data "
        'with `compile="off"`, run right after.',
        "",
        *markdown_table(header, rows),
        "",
        f"Command: `python -m workflows.bench.compile_graphs --out OUT --epochs {args.epochs}{extra}`",
    ]
    write_result(args.out, "compile_graphs_cpu", record, lines)


if __name__ == "__main__":
    main()
