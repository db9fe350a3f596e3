"""How much larger batches move DDVI's 1000 Genomes map: the batch size a GPU would want.

A GPU step costs about the same for 128 or 1,024 rows, so a GPU run of the genotype preset wants
large batches (issue 13, deliverable 5). This measures what that does to the map, on the CPU,
over five seeds: the preset (batch 128, lr 1e-3, 150 epochs) against batch 512 and 1,024 with
the learning rate scaled by the square root of the batch ratio, the same 150 epochs (so 4x and
8x fewer optimiser steps). Metrics are the protocol of ``ddvi_genomics.genotype.mapping.evaluate`` through the in-memory
API (the same code as ``infer --example``); fit seconds are the embedding stage on 2 CPU cores,
where a larger batch costs as much per epoch, so they say nothing of GPU speed.

Usage: python -m workflows.bench.genotype_batch --out workflows/results/genotype [--seeds 5]
"""

from __future__ import annotations

import argparse
import math
import sys

from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel
from ddvi_genomics.genotype.mapping.embed import GENOTYPE_DDVI_CONFIG
from ddvi_genomics.provenance import provenance
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

KEYS = [
    "knn20_cv_accuracy_population",
    "knn20_cv_accuracy_super_population",
    "gmm_nmi_population",
    "trustworthiness_k10",
]
BATCHES = (128, 512, 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    vcf, panel_path = example_paths()
    gm, panel = read_genotypes(vcf), read_panel(panel_path)
    base = GENOTYPE_DDVI_CONFIG
    results = {}
    for batch in BATCHES:
        lr = base.lr * math.sqrt(batch / base.batch_size)
        config = base.replace(batch_size=batch, lr=lr)
        runs = []
        for seed in range(args.seeds):
            amap = infer(gm, panel, method="ddvi", config=config, seed=seed, device="cpu",
                         verbose=False)  # fmt: skip
            runs.append({**amap.metrics, "seconds": amap.timings["embedding"]})
            print(batch, seed, {k: round(runs[-1][k], 3) for k in KEYS[:2]}, file=sys.stderr)
        results[batch] = {"lr": lr, "runs": runs}
    rows = []
    for batch, r in results.items():
        steps = math.floor(2504 / batch) * base.epochs
        cells = [format_mean_ci(*mean_ci([run[k] for run in r["runs"]])) for k in KEYS]
        seconds = format_mean_ci(*mean_ci([run["seconds"] for run in r["runs"]]), digits=1)
        rows.append([str(batch), f"{r['lr']:.2g}", f"{steps:,}", *cells, seconds])
    lines = [
        "# DDVI on the 1000 Genomes example: batch size (CPU)",
        "",
        f"Genotype preset, 150 epochs, lr scaled by sqrt(batch / 128); mean and 95 % Student-t "
        f"half-width over {args.seeds} seeds.",
        "",
        *markdown_table(
            [
                "batch",
                "lr",
                "optimiser steps",
                "pop kNN20",
                "super kNN20",
                "GMM NMI",
                "trustworthiness",
                "fit s (CPU)",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Command: `python -m workflows.bench.genotype_batch --out workflows/results/genotype "
        f"--seeds {args.seeds}`",
    ]
    record = {"results": {str(k): v for k, v in results.items()}, "provenance": provenance()}
    write_result(args.out, "genotype_batch_cpu", record, lines)


if __name__ == "__main__":
    main()
