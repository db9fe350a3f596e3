"""What ``infer --fit-subset N`` costs in map quality, and what it saves in training time.

The embedding network trains on N samples (stratified by population) and places the rest
through its encoder. On the bundled example (2,504 samples, 26 populations; the default QC and
20 PCs) DDVI's default preset is trained on every sample and on stratified subsets, seeds 0-2;
each map is scored on **all** samples, the placed ones included: population and super-population
kNN20 (5-fold), trustworthiness (k = 10) and the embedding stage's wall time.

Usage: python -m workflows.bench.fit_subset --out workflows/results/bench [--sizes 250 1000]
"""

from __future__ import annotations

import argparse
import time

SEEDS = (0, 1, 2)
METRICS = (
    ("knn20_cv_accuracy_population", "kNN20 pop"),
    ("knn20_cv_accuracy_super_population", "kNN20 super-pop"),
    ("trustworthiness_k10", "trust. k10"),
)


def one_map(size: int | None, seed: int) -> dict:
    """Fit the example's DDVI map with ``fit_subset=size``; return its metrics and times."""
    from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel

    vcf, panel = example_paths()
    t0 = time.perf_counter()
    amap = infer(read_genotypes(vcf), read_panel(panel), method="ddvi", seed=seed,
                 device="cpu", fit_subset=size, verbose=False)  # fmt: skip
    return {
        **{key: amap.metrics[key] for key, _ in METRICS},
        "embedding_seconds": amap.timings["embedding"],
        "total_seconds": time.perf_counter() - t0,
        "n_samples": len(amap.sample_id),
    }


def main(argv=None) -> None:
    import torch

    from ddvi_genomics.provenance import provenance
    from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results, rows = {}, []
    for size in [None, *args.sizes]:
        runs = [one_map(size, seed) for seed in SEEDS]
        n = runs[0]["n_samples"]
        label = f"{n:,} (all)" if size is None else f"{size:,}"
        results[label] = runs
        print(label, runs, flush=True)
        cells = []
        for key, _ in [*METRICS, ("embedding_seconds", "")]:
            mean, half = mean_ci([r[key] for r in runs])
            cells.append(format_mean_ci(mean, half, 1 if key.endswith("seconds") else 3))
        rows.append([label, *cells])
    lines = [
        "# `infer --fit-subset`: map quality against training samples (1000 Genomes example)",
        "",
        "DDVI's default preset (150 epochs, 20 PCs) trained on every sample or on a stratified "
        "subset; every map scored on all 2,504 samples (placed ones included). Mean ± 95 % "
        "t-interval over seeds 0-2; 1 CPU thread. See `workflows/bench/fit_subset.py`.",
        "",
        *markdown_table(["samples trained on", *(h for _, h in METRICS), "embedding s"], rows),
    ]
    record = {
        "protocol": __doc__,
        "results": results,
        "provenance": provenance({"benchmark": "fit_subset"}),
    }
    write_result(args.out, "fit_subset_1kg_cpu", record, lines)


if __name__ == "__main__":
    main()
