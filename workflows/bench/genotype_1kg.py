"""Embedding quality on the bundled 1000 Genomes example: DDVI against PCA-2D, t-SNE, UMAP and VAE.

Runs the same pipeline as ``ddvi-genomics infer --example`` (QC -> PCA with 20 PCs -> 2-D) for
each method and scores it with the DESIGN.md section 6 protocol. Neural methods run over several
seeds (mean and 95 % Student-t half-width); deterministic baselines run once (t-SNE and UMAP also
over the seeds). Also times ``infer --example`` end to end.

Usage: python -m workflows.bench.genotype_1kg --out workflows/results/genotype [--seeds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ddvi_genomics.core.metrics import t_interval
from ddvi_genomics.genotype.embed import embed
from ddvi_genomics.genotype.evaluate import evaluate_embedding
from ddvi_genomics.genotype.io import read_panel, read_vcf
from ddvi_genomics.genotype.pca import GenotypePCA
from ddvi_genomics.genotype.pipeline import example_paths
from ddvi_genomics.genotype.qc import run_qc
from ddvi_genomics.provenance import provenance

ROOT = Path(__file__).resolve().parents[2]

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
    gm, _ = run_qc(read_vcf(vcf))
    panel = read_panel(panel_path).loc[gm.sample_id]
    pca = GenotypePCA(50)
    pcs_all = pca.fit_transform(gm.dosage)
    pcs = pcs_all[:, :20]
    rows = {}
    for method in args.methods.split(","):
        seeds = [0] if method == "pca" else list(range(args.seeds))
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            try:
                emb = embed(pcs, method=method, seed=seed, device=args.device, verbose=False)
            except ValueError as err:
                print(f"skip {method}: {err}", file=sys.stderr)
                break
            seconds = time.perf_counter() - t0
            m = evaluate_embedding(
                emb.coords,
                panel["population"].to_numpy(),
                panel["super_population"].to_numpy(),
                reference_pcs=pcs_all,
                seed=seed,
            )
            m["seconds"] = seconds
            runs.append(m)
            print(
                method,
                seed,
                {k: round(m[k], 3) for k in KEYS[:3]},
                f"{seconds:.1f}s",
                file=sys.stderr,
            )
        if runs:
            rows[method] = runs
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
                args.device,
                "--threads",
                str(args.threads),
                "-q",
            ],
            check=True,
        )
        infer_seconds = time.perf_counter() - t0
    summary = {}
    for method, runs in rows.items():
        summary[method] = {"n_seeds": len(runs)}
        for key in KEYS + ["seconds"]:
            values = [r[key] for r in runs]
            mean, half = t_interval(values) if len(values) > 1 else (values[0], None)
            summary[method][key] = {"mean": mean, "ci95_half_width": half}
    record = {
        "benchmark": "genotype_1kg_example",
        "data": "bundled 1000 Genomes example: 2,504 samples, 169 AISNPs, "
        "26 populations; QC defaults; 20 PCs in, 50 PCs as the reference space",
        "summary": summary,
        "runs": rows,
        "infer_example_seconds": infer_seconds,
        "provenance": provenance({"threads": args.threads}),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"genotype_1kg_{args.device}.json").write_text(
        json.dumps(record, indent=2, default=float)
    )
    head = ["method", "seeds"] + KEYS + ["seconds"]
    lines = [
        f"# 1000 Genomes example: embedding metrics ({args.device}, {args.threads} threads)",
        "",
        record["data"] + ". Mean ± 95 % t half-width over seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, s in summary.items():
        cells = [method, str(s["n_seeds"])]
        for key in KEYS + ["seconds"]:
            v = s[key]
            cells.append(
                f"{v['mean']:.3f}"
                + (f" ± {v['ci95_half_width']:.3f}" if v["ci95_half_width"] is not None else "")
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`ddvi-genomics infer --example` (DDVI, seed 0) end to end: {infer_seconds:.0f} s.",
        "",
        f"Provenance: commit {record['provenance']['git_commit']}, torch {record['provenance']['torch']}, "
        f"{record['provenance']['platform']}, {record['provenance']['cpu_count']} CPUs, {record['provenance']['date_utc']}.",
        "",
    ]
    (out / f"genotype_1kg_{args.device}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
