"""Training throughput of every model family in its MNIST configuration, and DDVI-semi's batched
per-class diffusion against a naive loop over classes, in one run on one machine.

Each variant runs in its own subprocess (so its peak memory, max RSS on CPU or max allocated on
CUDA, is its own), times whole training steps (every optimiser plan of the family, sleep steps
included) through ``fit`` in a timed epoch after a warm-up epoch, and reports examples/s. Data: real MNIST images when the IDX file is
available, otherwise uniform noise (throughput does not depend on pixel values).

Usage: python -m workflows.bench.family_throughput --out workflows/results/bench [--device cpu]
       [--batches 20] [--semi-batches 2] [--threads 2] [--compile off,cuda-graph]
       [--families ddvi,ddvi_semi_batched]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ddvi_genomics.core.data import (
    mask_labels,
)
from ddvi_genomics.core.diffusion import denoising_loss
from ddvi_genomics.core.models import AAE, DDVI, HIAFVAE, IAFVAE, VAE, DDVISemi
from ddvi_genomics.core.models.ddvi import _kl_standard_normal
from ddvi_genomics.core.models.ddvi_semi import _take_state
from ddvi_genomics.core.training import LossOutput
from workflows.bench import variant_in_subprocess
from workflows.bench.ddvi_throughput import load_images, peak_memory_bytes
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


def run_variant(
    name: str, device: str, batches: int, mnist_dir, compile_mode: str = "off"
) -> dict:
    """The family's last phase through :func:`fit`: a warm-up epoch, then a timed epoch.

    The warm-up epoch holds everything done once (the first eager step of each recorded key and
    its recording); the timed epoch's seconds come from the history, read after the epoch's one
    device read, so queued device work is included.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    semi = name.startswith("ddvi_semi")
    batch_size = 1024 if semi else 128
    x = load_images(mnist_dir, batch_size * batches)
    last_phase_only = {"epochs": 2}
    if semi:
        cls = NaiveLoopDDVISemi if name.endswith("naive_loop") else DDVISemi
        model = cls(784, prior_pretrain_epochs=0, stage1_epochs=0, **last_phase_only)
        extra = (mask_labels(np.arange(len(x)) % 10, len(x) // 60, seed=0),)
    else:
        if FAMILIES[name] is DDVI:
            last_phase_only.update(prior_pretrain_epochs=0, stage1_epochs=0)
        model = FAMILIES[name](784, **last_phase_only)
        extra = ()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rows = model.fit(x, *extra, device=dev, seed=0, verbose=False, compile=compile_mode).rows
    seconds = rows[-1]["seconds"]
    peak = peak_memory_bytes(dev)
    phase = model.training_phases()[-1]
    return {
        "variant": name if compile_mode == "off" else f"{name}, {compile_mode}",
        "compile": compile_mode,
        "batch_size": batch_size,
        "batches": batches,
        "seconds": seconds,
        "warmup_seconds": rows[-2]["seconds"],
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
    parser.add_argument(
        "--compile",
        default="off",
        help="comma-separated fit(compile=...) modes, each run for every family (on CUDA: "
        "off,cuda-graph)",
    )
    parser.add_argument(
        "--families",
        default=",".join([*FAMILIES, "ddvi_semi_batched", "ddvi_semi_naive_loop"]),
        help="comma-separated subset of the variants",
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        name, mode = args.variant.split("@")
        batches = args.semi_batches if name.startswith("ddvi_semi") else args.batches
        print(json.dumps(run_variant(name, args.device, batches, args.mnist_dir, mode)))
        return
    from ddvi_genomics.provenance import provenance

    results = []
    for name in args.families.split(","):
        for mode in args.compile.split(","):
            results.append(
                variant_in_subprocess("workflows.bench.family_throughput", f"{name}@{mode}")
            )
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
