"""DDVI stage-2 training throughput: this package against a reference-style implementation.

The MNIST configuration of the paper (784-1000-1000 MLPs for Q, P and Q2; T = 40; batch 128;
3 sleep steps per batch; 5-bandwidth KDE prior term on 10,000 pinwheel samples). For each
variant the script times whole training steps (one wake step + 3 sleep steps per batch) after a
warm-up and reports examples/s; each variant runs in its own subprocess so its peak memory
(max RSS on CPU, max allocated on CUDA) is its own.

``reference-style`` re-creates the cost structure of the authors' code (github.com/topwasu/DDVI):
per-bandwidth (B, 10000, 2) difference tensors with a [-1000, 1000]
clamp, schedule tables gathered per step, a second G2 pass for the wake consistency loss, and one
Adam optimiser shared by wake and sleep steps. It uses the same network sizes and the same maths.

Usage::

    python -m workflows.bench.ddvi_throughput --out workflows/results/bench [--threads 2]
        [--batches 30] [--device cpu|cuda] [--compile off,cuda-graph] [--mnist-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ddvi_genomics.core.kde import REFERENCE_BANDWIDTHS, kde_log_prob
from ddvi_genomics.core.models.ddvi import DDVI
from workflows.bench import variant_in_subprocess

ROOT = Path(__file__).resolve().parents[2]

BATCH = 128
PEAK_KIND = {True: "cuda max_memory_allocated", False: "process max RSS"}


def load_images(mnist_dir: str | None, n: int) -> torch.Tensor:
    """First ``n`` MNIST training images in [0, 1] when the IDX file is there, else uniform noise."""
    path = Path(mnist_dir or "") / "train-images-idx3-ubyte.gz"
    if mnist_dir and path.exists():
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
        images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)[:n]
        return torch.from_numpy(images.astype(np.float32) / 255.0)
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------------------------
# reference-style step (cost structure of topwasu/DDVI; see module docstring)


class RefMLP(nn.Module):
    def __init__(self, n_in, hidden, outs, p):
        super().__init__()
        sizes = [n_in, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.heads = nn.ModuleList(nn.Linear(sizes[-1], o) for o in outs)
        self.p = p

    def forward(self, x):
        for layer in self.layers:
            x = F.dropout(
                F.leaky_relu(layer(x), 0.2), self.p
            )  # no training= flag, as the reference
        out = [h(x) for h in self.heads]
        return out if len(out) > 1 else out[0]


class RefCondLinear(nn.Module):
    def __init__(self, n_in, n_out, T):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)
        self.embed = nn.Embedding(T, n_out)
        self.embed.weight.data.uniform_()

    def forward(self, x, t):
        return self.lin(x) + self.embed(t)  # per-example gather, t is a (B,) tensor


class RefG2(nn.Module):
    def __init__(self, T):
        super().__init__()
        self.l1, self.l2 = RefCondLinear(4, 128, T), RefCondLinear(128, 128, T)
        self.l3, self.l4 = RefCondLinear(128, 128, T), RefCondLinear(128, 128, T)
        self.out = nn.Linear(128, 2)

    def forward(self, y, aux, t):
        h1 = F.relu(self.l1(torch.cat([y, aux], 1), t))
        h2 = F.relu(self.l2(h1, t))
        h3 = F.relu(self.l3(h2, t)) + h1
        return self.out(F.relu(self.l4(h3, t)))


class ReferenceStyle:
    def __init__(self, prior, device):
        T = 40
        self.device, self.T, self.prior = device, T, prior
        betas = torch.linspace(1e-4, 0.02, T)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([torch.ones(1), abar[:-1]])
        self.tab = {  # plain CPU tensors, gathered per step (reference get_by_idx)
            "sa": abar.sqrt(),
            "s1a": (1 - abar).sqrt(),
            "sap": abar_prev.sqrt(),
            "s1ap": (1 - abar_prev).sqrt(),
            "w0": betas * abar_prev.sqrt() / (1 - abar),
            "wt": (1 - betas).sqrt() * (1 - abar_prev) / (1 - abar),
        }
        self.Q = RefMLP(784, [1000, 1000], [2, 2], 0.2).to(device)
        self.P = RefMLP(2, [1000, 1000], [784], 0.2).to(device)
        self.Q2 = RefMLP(784, [1000, 1000], [2], 0.4).to(device)
        self.G2 = RefG2(T).to(device)
        params = [
            *self.P.parameters(),
            *self.Q.parameters(),
            *self.Q2.parameters(),
            *self.G2.parameters(),
        ]
        self.optim = torch.optim.Adam(
            params, lr=1e-4
        )  # shared by wake and sleep, as the reference
        self.kde_ref = prior.sample(10_000, generator=torch.Generator().manual_seed(0)).to(device)

    def get(self, name, t, like):
        return self.tab[name][t.cpu()].reshape(-1, 1).to(like.device)

    def p_sample(self, y, t, aux):
        eps = self.G2(y, aux, t)
        x0 = (y - self.get("s1a", t, y) * eps) / self.get("sa", t, y)
        return self.get("sap", t, y) * x0 + self.get("s1ap", t, y) * eps

    def kde(self, z):
        vals = []
        n, d = self.kde_ref.shape
        for h in REFERENCE_BANDWIDTHS:
            diff = (z[:, None, :] - self.kde_ref[None]) / h  # (B, 10000, 2) per bandwidth
            lp = (
                torch.logsumexp(-0.5 * diff.square().sum(-1), 1)
                - 0.5 * d * math.log(2 * math.pi)
                - d * math.log(h)
                - math.log(n)
            )
            vals.append(lp.clamp(-1000, 1000))
        return torch.logsumexp(torch.stack(vals), 0) - math.log(len(vals))

    def step(self, x):
        B = x.shape[0]
        mu, lv = self.Q(x)
        y = mu + torch.randn_like(mu) * (0.5 * lv).exp()
        aux = self.Q2(x)
        states = [y]
        for k in reversed(range(self.T)):
            t = torch.full((B,), k, dtype=torch.long, device=x.device)
            states.append(self.p_sample(states[-1], t, aux))
        z = states[-1]
        rec = F.binary_cross_entropy(torch.sigmoid(self.P(z)), x)
        kl = (-0.5 * (1 + lv - mu.square() - lv.exp()).sum(1)).mean()
        prior = -self.kde(z).mean()
        t = torch.randint(0, self.T, (B,), device=x.device)
        chain = torch.stack(states[::-1])  # chain[i] = y^(i)
        xt = chain[t + 1, torch.arange(B)]
        target = self.get("w0", t, z) * z + self.get("wt", t, z) * xt
        weird = F.smooth_l1_loss(self.p_sample(xt, t, aux), target)  # second G2 pass
        loss = rec + 0.003 * (kl + prior) + weird
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        for _ in range(3):
            zp = self.prior.sample(B).to(x.device)
            with torch.no_grad():
                xp = torch.sigmoid(self.P(zp))
            aux_p = self.Q2(xp)
            t = torch.randint(0, self.T, (B,), device=x.device)
            eps = torch.randn_like(zp)
            noisy = self.get("sa", t, zp) * zp + self.get("s1a", t, zp) * eps
            sl = F.smooth_l1_loss(self.G2(noisy, aux_p, t), eps)
            self.optim.zero_grad()
            sl.backward()
            self.optim.step()


# --------------------------------------------------------------------------------------------


def peak_memory_bytes(dev: torch.device) -> int:
    """Peak memory of this process: max allocated on CUDA, max resident set size elsewhere."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_fit_variant(compile_mode: str, device: str, batches: int, mnist_dir: str | None) -> dict:
    """Stage 2 through :func:`fit` itself: a warm-up epoch, then a timed epoch of ``batches``.

    The warm-up epoch holds everything done once (compilation, the first eager step of each
    recorded key and its recording); the timed epoch's seconds come from the history, read after
    the epoch's one device read, so queued device work is included.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    data = load_images(mnist_dir, BATCH * batches)
    model = DDVI(784, prior="pinwheel", prior_pretrain_epochs=0, stage1_epochs=0, epochs=2)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rows = model.fit(data, device=dev, seed=0, verbose=False, compile=compile_mode).rows
    warm, timed = rows[0]["seconds"], rows[1]["seconds"]
    peak = peak_memory_bytes(dev)
    return {
        "variant": f"ours, fit compile={compile_mode}",
        "device": device,
        "batches": batches,
        "seconds": timed,
        "warmup_seconds": warm,  # a whole first epoch: compilation / recording included
        "examples_per_s": batches * BATCH / timed,
        "s_per_100_batches": 100 * timed / batches,
        "peak_memory_mb": peak / 2**20,
        "peak_memory_kind": PEAK_KIND[dev.type == "cuda"],
    }


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_reference_style(device: str, batches: int, warmup: int, mnist_dir: str | None) -> dict:
    dev = torch.device(device)
    torch.manual_seed(0)
    data = load_images(mnist_dir, BATCH * (batches + warmup)).to(dev)
    runner = ReferenceStyle(DDVI(784).prior.to(dev), dev)
    t_warm = time.perf_counter()
    for i in range(warmup):
        runner.step(data[i * BATCH : (i + 1) * BATCH])
    sync(dev)
    warmup_seconds = time.perf_counter() - t_warm
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(warmup, warmup + batches):
        runner.step(data[i * BATCH : (i + 1) * BATCH])
    sync(dev)
    seconds = time.perf_counter() - start
    peak = peak_memory_bytes(dev)
    return {
        "variant": "reference-style",
        "device": device,
        "batches": batches,
        "seconds": seconds,
        "warmup_seconds": warmup_seconds,
        "examples_per_s": batches * BATCH / seconds,
        "s_per_100_batches": 100 * seconds / batches,
        "peak_memory_mb": peak / 2**20,
        "peak_memory_kind": PEAK_KIND[dev.type == "cuda"],
    }


def kde_microbench(device: str, repeats: int = 20) -> dict:
    """Forward + backward of the prior term for a batch of 128 against 10,000 reference points."""
    dev = torch.device(device)
    prior = DDVI(784).prior.to(dev)
    ref_style = ReferenceStyle.__new__(ReferenceStyle)
    ref_style.kde_ref = prior.kde_reference
    z = torch.randn(BATCH, 2, device=dev, generator=torch.Generator(device=dev).manual_seed(0))
    out = {}
    for name, fn in (
        ("ours", lambda q: kde_log_prob(q, prior.kde_reference, REFERENCE_BANDWIDTHS)),
        ("reference-style", ref_style.kde),
    ):
        for _ in range(3):
            q = z.clone().requires_grad_(True)
            fn(q).sum().backward()
        sync(dev)
        start = time.perf_counter()
        for _ in range(repeats):
            q = z.clone().requires_grad_(True)
            fn(q).sum().backward()
        sync(dev)
        out[name] = 1000 * (time.perf_counter() - start) / repeats
    return {"kde_fwd_bwd_ms": out}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", required=True, help="Output folder for results.json and results.md."
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--compile",
        default="off,default",
        help="comma-separated fit(compile=...) modes of our variants (the first is the one "
        "compared with the reference-style step); on CUDA: off,cuda-graph",
    )
    default_mnist = ROOT.parent / "shared" / "data" / "mnist"
    parser.add_argument(
        "--mnist-dir", default=str(default_mnist) if default_mnist.exists() else None
    )
    parser.add_argument(
        "--stem-suffix", default="", help="appended to the result files' name (a second run)"
    )
    parser.add_argument(
        "--variant", help=argparse.SUPPRESS
    )  # internal: run one variant, print JSON
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        if args.variant == "kde":
            result = kde_microbench(args.device)
        elif args.variant == "reference-style":
            result = run_reference_style(args.device, args.batches, args.warmup, args.mnist_dir)
        else:
            result = run_fit_variant(args.variant, args.device, args.batches, args.mnist_dir)
        print(json.dumps(result))
        return
    results = []
    modes = args.compile.split(",")
    for variant in (*modes, "reference-style", "kde"):
        results.append(variant_in_subprocess("workflows.bench.ddvi_throughput", variant))
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    *ours, ref, kde = results
    record = {
        "benchmark": "ddvi_stage2_throughput",
        "config": "MNIST: 784-1000-1000 MLPs, T=40, batch 128, "
        "3 sleep steps, 5-bandwidth KDE pinwheel prior",
        "data": "MNIST" if args.mnist_dir else "uniform noise",
        "results": [*ours, ref],
        **kde,
        "speedup": ours[0]["examples_per_s"] / ref["examples_per_s"],
        "provenance": provenance({"threads": args.threads}),
    }
    lines = [
        f"# DDVI stage-2 throughput ({args.device}, {args.threads} threads)",
        "",
        f"{record['config']}; data: {record['data']}. Ours: stage 2 through `fit`, a warm-up "
        f"epoch then a timed epoch of {args.batches} batches (seconds from the history, after "
        f"the epoch's one device read). Reference-style: {args.batches} timed batches after "
        f"{args.warmup} warm-up.",
        "",
        *markdown_table(
            ["variant", "examples/s", "s per 100 batches", "warm-up s", "peak memory (MB)"],
            (
                [
                    r["variant"],
                    f"{r['examples_per_s']:.0f}",
                    f"{r['s_per_100_batches']:.1f}",
                    f"{r['warmup_seconds']:.1f}",
                    f"{r['peak_memory_mb']:.0f}",
                ]
                for r in (*ours, ref)
            ),
        ),
        "",
        "Warm-up: ours, the whole first epoch (compilation or recording included); "
        "reference-style, its warm-up batches.",
        "",
        f"Speed-up of {ours[0]['variant']} over reference-style: {record['speedup']:.2f}x. "
        "KDE prior term, forward + backward, batch 128 x 10,000 "
        f"points: ours {kde['kde_fwd_bwd_ms']['ours']:.1f} ms, reference-style "
        f"{kde['kde_fwd_bwd_ms']['reference-style']:.1f} ms.",
    ]
    write_result(args.out, f"ddvi_throughput_{args.device}{args.stem_suffix}", record, lines)


if __name__ == "__main__":
    main()
