"""Training throughput of every model family in its MNIST configuration, and DDVI-semi's batched
per-class diffusion against a naive loop over classes, in one run on one machine.

Each variant runs in its own subprocess (so its peak memory, max RSS on CPU or max allocated on
CUDA, is its own), times whole training steps (every optimiser plan of the family, sleep steps
included) after a warm-up, and reports examples/s. Data: real MNIST images when the IDX file is
available, otherwise uniform noise (throughput does not depend on pixel values).

Usage: python -m workflows.bench.family_throughput --out workflows/results/bench [--device cpu]
       [--batches 20] [--semi-batches 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ddvi_genomics.core.data import (
    as_label_tensor,
    mask_labels,
)
from ddvi_genomics.core.diffusion import denoising_loss
from ddvi_genomics.core.models import AAE, DDVI, HIAFVAE, IAFVAE, VAE, DDVISemi
from ddvi_genomics.core.models.ddvi import _kl_standard_normal
from ddvi_genomics.core.models.ddvi_semi import _take_state
from ddvi_genomics.core.training import LossOutput, StepContext, build_optimisers
from workflows.bench.ddvi_throughput import load_images
from workflows.report import markdown_table, write_result

ROOT = Path(__file__).resolve().parents[2]

FAMILIES = {"vae": VAE, "iaf_vae": IAFVAE, "h_iaf_vae": HIAFVAE, "aae": AAE, "ddvi": DDVI}


class NaiveLoopDDVISemi(DDVISemi):
    """Same maths as DDVISemi, but the K class chains run one after another (a Python loop)."""

    def _wake_loss(self, batch, ctx):
        cfg = self.config
        x, labels = batch, ctx.labels
        qy, logits = self.encoder.classify(x)
        y = self._sample_y(qy, ctx.generator)
        context = self.context_net(x)
        chains = []
        for c in range(cfg.n_classes):

            def eps(v, k, ctx_, c=c):
                return self.denoiser(
                    v[None], k if isinstance(k, int) else k[None], ctx_, classes=[c]
                )[0]

            chains.append(torch.stack(self.diffusion.reverse_chain(eps, y, context)[::-1]))
        chain = torch.stack(chains, dim=1)  # (T + 1, K, n, d)
        z = chain[0]
        w = self._class_weights(logits, labels)
        rec = (w * self._rec_per_class(z, x)).sum()
        neg_log_pz = (w * -self._log_prior(z)).sum()
        k = self.diffusion.random_steps(z.shape[:2], ctx.generator, x.device)
        target = self.diffusion.q_posterior(z, _take_state(chain, k + 1), k)[0]
        diff = (w * denoising_loss(_take_state(chain, k), target, cfg.denoising_loss)).sum()
        kl, ce = _kl_standard_normal(qy).mean(), self._ce(logits, labels)
        class_term, _ = self._class_term(logits, labels)
        cls_weight = cfg.m2_cls_weight if self._m2 else cfg.cls_weight
        loss = (
            rec
            + cfg.diff_weight * diff
            + cfg.kl_weight * (kl + class_term + cfg.prior_weight * neg_log_pz + cls_weight * ce)
        )
        return LossOutput(loss, {"rec": rec.detach()})


def run_variant(name: str, device: str, batches: int, warmup: int, mnist_dir) -> dict:
    dev = torch.device(device)
    torch.manual_seed(0)
    semi = name.startswith("ddvi_semi")
    batch_size = 1024 if semi else 128
    x = load_images(mnist_dir, batch_size * (batches + warmup))
    if semi:
        model = (NaiveLoopDDVISemi if name.endswith("naive") else DDVISemi)(784).to(dev)
        labels = as_label_tensor(
            mask_labels(np.arange(len(x)) % 10, len(x) // 60, seed=0), len(x), 10
        ).to(dev)
    else:
        model = FAMILIES[name](784).to(dev)
        labels = None
    data = x.to(dev)
    model.train()
    phase = model.training_phases()[-1]
    optims = build_optimisers(phase)
    ctx = StepContext(
        epoch=phase.epochs // 2,
        n_epochs=phase.epochs,
        generator=torch.Generator(device=dev).manual_seed(0),
    )

    def step(i):
        rows = slice(i * batch_size, (i + 1) * batch_size)
        batch = data[rows]
        ctx.labels = None if labels is None else labels[rows]
        for plan in phase.plans:
            for _ in range(plan.repeats):
                model.zero_grad(set_to_none=True)
                plan.loss_fn(batch if plan.uses_batch else None, ctx).loss.backward()
                optims[plan.name].step()

    for i in range(warmup):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + batches):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = (
        torch.cuda.max_memory_allocated()
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "variant": name,
        "batch_size": batch_size,
        "batches": batches,
        "seconds": seconds,
        "examples_per_s": batches * batch_size / seconds,
        "s_per_batch": seconds / batches,
        "peak_memory_mb": peak / 2**20,
        "plans": [f"{p.name} x{p.repeats}" for p in phase.plans],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--semi-batches", type=int, default=2)
    default_mnist = ROOT.parent / "shared" / "data" / "mnist"
    parser.add_argument(
        "--mnist-dir", default=str(default_mnist) if default_mnist.exists() else None
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        semi = args.variant.startswith("ddvi_semi")
        print(
            json.dumps(
                run_variant(
                    args.variant,
                    args.device,
                    args.semi_batches if semi else args.batches,
                    1,
                    args.mnist_dir,
                )
            )
        )
        return
    from ddvi_genomics.provenance import provenance

    results = []
    for name in [*FAMILIES, "ddvi_semi_batched", "ddvi_semi_naive_loop"]:
        cmd = [
            sys.executable,
            "-m",
            "workflows.bench.family_throughput",
            "--out",
            args.out,
            "--device",
            args.device,
            "--threads",
            str(args.threads),
            "--batches",
            str(args.batches),
            "--semi-batches",
            str(args.semi_batches),
            "--variant",
            name,
        ]
        if args.mnist_dir:
            cmd += ["--mnist-dir", args.mnist_dir]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    record = {
        "benchmark": "family_throughput",
        "config": "MNIST presets (784-1000-1000 MLPs; DDVI T = 40 with 3 "
        "sleep steps; DDVI-semi T = 100, K = 10, batch 1024, 30 sleep steps)",
        "results": results,
        "provenance": provenance({"threads": args.threads}),
    }
    table = markdown_table(
        ["variant", "batch", "examples/s", "s per batch", "peak memory (MB)", "plans per batch"],
        (
            [
                r["variant"],
                r["batch_size"],
                f"{r['examples_per_s']:.0f}",
                f"{r['s_per_batch']:.2f}",
                f"{r['peak_memory_mb']:.0f}",
                ", ".join(r["plans"]),
            ]
            for r in results
        ),
    )
    lines = [
        f"# Training throughput per family ({args.device}, {args.threads} threads)",
        "",
        record["config"] + ".",
        "",
        *table,
    ]
    write_result(args.out, f"family_throughput_{args.device}", record, lines)


if __name__ == "__main__":
    main()
