"""Embedding quality on the bundled 1000 Genomes example: DDVI against PCA-2D, t-SNE, UMAP and VAE.

Runs the same pipeline as ``ddvi-genomics infer --example`` (QC -> PCA with 20 PCs -> 2-D) for
each method and scores it with the protocol of ``ddvi_genomics.genotype.mapping.evaluate``. Neural methods run over several
seeds (mean and 95 % Student-t half-width); deterministic baselines run once (t-SNE and UMAP also
over the seeds). Also times ``infer --example`` end to end.

Usage: python -m workflows.bench.genotype_1kg --out workflows/results/genotype [--seeds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import torch

from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel
from ddvi_genomics.provenance import provenance
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

KEYS = [
    "knn5_cv_accuracy_population",
    "knn20_cv_accuracy_population",
    "knn20_cv_accuracy_super_population",
    "knn20_same_points_accuracy_population",
    "gmm_nmi_population",
    "gmm_purity_population",
    "silhouette_population",
    "trustworthiness_k10",
    "continuity_k10",
    "distance_spearman",
]


def run_method(gm, panel, method: str, seeds: list[int], device: str) -> list[dict]:
    """Metrics of ``method`` per seed through the in-memory API (the same code as ``infer``)."""
    runs = []
    for seed in seeds:
        try:
            amap = infer(gm, panel, method=method, seed=seed, device=device, verbose=False)
        except ValueError as err:
            print(f"skip {method}: {err}", file=sys.stderr)
            break
        metrics = {**amap.metrics, "seconds": amap.timings["embedding"]}
        runs.append(metrics)
        shown = {k: round(metrics[k], 3) for k in KEYS[:3]}
        print(method, seed, shown, f"{metrics['seconds']:.1f}s", file=sys.stderr)
    return runs


def time_infer_example(device: str, threads: int) -> float:
    """Wall time of ``ddvi-genomics infer --example`` (DDVI, seed 0), end to end."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ddvi_genomics",
                "infer",
                "--example",
                "--out",
                f"{tmp}/ex",
                "--device",
                device,
                "--threads",
                str(threads),
                "-q",
            ],
            check=True,
        )
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default="pca,tsne,umap,vae,ddvi")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vcf, panel_path = example_paths()
    gm, panel = read_genotypes(vcf), read_panel(panel_path)
    rows = {}
    for method in args.methods.split(","):
        seeds = [0] if method == "pca" else list(range(args.seeds))
        runs = run_method(gm, panel, method, seeds, args.device)
        if runs:
            rows[method] = runs
    infer_seconds = time_infer_example(args.device, args.threads)
    summary = {
        method: {
            "n_seeds": len(runs),
            **{
                key: dict(zip(("mean", "ci95_half_width"), mean_ci([r[key] for r in runs])))
                for key in KEYS + ["seconds"]
            },
        }
        for method, runs in rows.items()
    }
    record = {
        "benchmark": "genotype_1kg_example",
        "data": "bundled 1000 Genomes example: 2,504 samples, 169 AISNPs, "
        "26 populations; QC defaults; 20 PCs in, 50 PCs as the reference space",
        "summary": summary,
        "runs": rows,
        "infer_example_seconds": infer_seconds,
        "provenance": provenance({"threads": args.threads}),
    }
    table = markdown_table(
        ["method", "seeds", *KEYS, "seconds"],
        (
            [
                method,
                s["n_seeds"],
                *(
                    format_mean_ci(s[k]["mean"], s[k]["ci95_half_width"])
                    for k in KEYS + ["seconds"]
                ),
            ]
            for method, s in summary.items()
        ),
    )
    lines = [
        f"# 1000 Genomes example: embedding metrics ({args.device}, {args.threads} threads)",
        "",
        record["data"] + ". Mean ± 95 % t half-width over seeds.",
        "",
        *table,
        "",
        f"`ddvi-genomics infer --example` (DDVI, seed 0) end to end: {infer_seconds:.0f} s.",
    ]
    write_result(args.out, f"genotype_1kg_{args.device}", record, lines)


if __name__ == "__main__":
    main()
