"""Run a (method x prior x seed) grid of vision benchmarks and write a result table.

Each cell is ``python -m vision train`` in-process (``vision.benchmark.train_run``) with its own
run directory under ``--out/runs``. The table reports the paper's metrics (mean and 95 % Student-t
half-width over seeds when there are several) and the measured seconds per epoch of every phase.

Usage (the reduced CPU protocol committed under workflows/results/vision):
    python -m workflows.vision_grid --dataset mnist --data-dir ../shared/data/mnist --subset 10000 \
        --test-subset 2000 --epochs 5 --out workflows/results/vision/mnist_reduced
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ddvi_genomics.provenance import provenance
from vision import presets
from vision.benchmark import RunSpec, train_run
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

ROOT = Path(__file__).resolve().parents[1]

KEYS = [
    "knn_accuracy_k20",
    "latent_nll",
    "mmd_reference",
    "elbo_per_example",
    "class_head_accuracy",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--methods", default=",".join(presets.METHODS))
    parser.add_argument("--priors", default=",".join(presets.PRIORS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--semi", action="store_true")
    parser.add_argument("--labels", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--subset", type=int)
    parser.add_argument("--test-subset", type=int)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    cells = {}
    for method in args.methods.split(","):
        for prior in args.priors.split(","):
            runs = []
            for seed in (int(s) for s in args.seeds.split(",")):
                d, m, p, semi = presets.resolve(args.dataset, method, prior, args.semi)
                spec = RunSpec(
                    d,
                    m,
                    p,
                    semi,
                    args.labels,
                    seed,
                    args.epochs,
                    args.subset,
                    args.test_subset,
                    args.data_dir,
                )
                t0 = time.perf_counter()
                metrics = train_run(spec, out / "runs" / f"{m}_{p}_seed{seed}", device=args.device)
                metrics["wall_seconds"] = time.perf_counter() - t0
                runs.append(metrics)
                print(
                    m,
                    p,
                    seed,
                    {k: metrics.get(k) for k in KEYS},
                    f"{metrics['wall_seconds']:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
            cells[f"{m}/{p}"] = runs
    summary = {}
    for cell, runs in cells.items():
        row = {}
        for key in KEYS:
            values = [r[key] for r in runs if r.get(key) is not None]
            if values:
                row[key] = mean_ci(values)
        row["seconds_per_epoch"] = runs[0]["seconds_per_epoch"]
        summary[cell] = row
    record = {
        "dataset": args.dataset,
        "semi": args.semi,
        "protocol": vars(args),
        "cells": cells,
        "provenance": provenance({"threads": args.threads}),
    }
    head = [
        "method",
        "prior",
        "kNN acc (k=20)",
        "latent NLL",
        "MMD (ref.)",
        "ELBO / example",
        "class head",
        "s / epoch (last phase)",
    ]
    rows = []
    for cell, row in summary.items():
        cells_fmt = [format_mean_ci(*row[k]) if k in row else "n/a" for k in KEYS]
        last = list(row["seconds_per_epoch"].values())[-1]
        rows.append([*cell.split("/"), *cells_fmt, f"{last:.1f}"])
    lines = [
        f"# {args.dataset} {'semi-supervised' if args.semi else 'unsupervised'}: reduced CPU protocol",
        "",
        f"Protocol: {args.subset or 'all'} training / {args.test_subset or 'all'} test images, every stage "
        f"{args.epochs or 'reference'} epochs, seeds {args.seeds}, device {args.device}, {args.threads} threads. "
        "Not the paper's full protocol (see workflows/README.md).",
        "",
        *markdown_table(head, rows),
    ]
    write_result(out, "results", record, lines)


if __name__ == "__main__":
    main()
