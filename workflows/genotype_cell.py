"""One cell of the genotype benchmark: one data set, one method, one seed -> a metrics record.

Runs the package's in-memory pipeline (:func:`ddvi_genomics.genotype.infer`: QC -> PCA -> 2-D map)
and scores it with the protocol of ``ddvi_genomics.genotype.mapping.evaluate``. ``pca-10d`` is a reference row, not a map:
the first 10 PCs scored with the same metrics. The cell writes

* ``metrics.json``: the metrics, wall times and the protocol (method, seed, epochs, data);
* ``embedding.tsv``: sample, population, x, y (for the side-by-side maps);
* ``history.csv``: per-epoch losses of the neural methods (learning curves).

Usage::

    python -m workflows.genotype_cell --genotypes example --method ddvi --seed 0 --out DIR
    python -m workflows.genotype_cell --genotypes sims/ooa.vcf.gz --panel sims/ooa.panel ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel
from ddvi_genomics.genotype.mapping.ancestry_map import score_map
from ddvi_genomics.genotype.mapping.embed import preset_config
from ddvi_genomics.provenance import provenance

#: The benchmark's method names -> (infer method, number of coordinates scored).
METHODS = {
    "ddvi": ("ddvi", 2),
    "vae": ("vae", 2),
    "pca-2d": ("pca", 2),
    "pca-10d": ("pca", 10),
    "tsne": ("tsne", 2),
    "umap": ("umap", 2),
}


def run_cell(
    genotypes: str,
    panel: str | None,
    method: str,
    seed: int,
    out: Path,
    *,
    epochs: int | None = None,
    device: str = "cpu",
) -> dict:
    """Fit and score one cell; write its folder; return the metrics record."""
    if method not in METHODS:
        raise ValueError(f"--method {method!r} is not allowed; choose one of {list(METHODS)}")
    if genotypes == "example":
        vcf, panel_path = example_paths()
        genotypes, panel = str(vcf), str(panel_path)
    if panel is None:
        raise ValueError("--panel is required (population labels score the map)")
    infer_method, n_dims = METHODS[method]
    config = preset_config(infer_method, epochs) if infer_method in ("ddvi", "vae") else None
    gm, labels = read_genotypes(genotypes), read_panel(panel)
    t0 = time.perf_counter()
    amap = infer(gm, labels, method=infer_method, config=config, seed=seed, device=device)
    seconds = time.perf_counter() - t0
    coords = amap.coords if n_dims == 2 else amap.pcs[:, :n_dims]
    metrics = score_map(coords, amap.labels, amap.reference_pcs, method=method, seed=seed)
    record = {
        "method": method,
        "seed": seed,
        "genotypes": str(genotypes),
        "n_samples": int(len(amap.sample_id)),
        "n_variants": int(amap.qc.n_variants_out),
        "epochs": None if config is None else config.epochs,
        "embedding_seconds": amap.timings["embedding"],
        "total_seconds": seconds,
        "metrics": {k: v for k, v in metrics.items() if k not in ("skipped", "method")},
        "skipped": metrics["skipped"],
        "provenance": provenance({"threads": torch.get_num_threads(), "device": device}),
    }
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        {
            "sample": amap.sample_id,
            "population": amap.labels["population"].to_numpy(),
            "x": amap.coords[:, 0],
            "y": amap.coords[:, 1],
        }
    )
    table.to_csv(out / "embedding.tsv", sep="\t", index=False)
    if amap.history:
        pd.DataFrame(amap.history).to_csv(out / "history.csv", index=False)
    # metrics.json last: it is the rule's output, so a cell killed mid-way is re-run
    (out / "metrics.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotypes", required=True, help="'example' or a VCF/BCF/PLINK path")
    parser.add_argument("--panel", help="Population panel (not needed with 'example').")
    parser.add_argument("--method", required=True, choices=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="Data epochs of DDVI and the VAE (equal).")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = run_cell(
        args.genotypes,
        args.panel,
        args.method,
        args.seed,
        Path(args.out),
        epochs=args.epochs,
        device=args.device,
    )
    knn = record["metrics"].get("knn20_cv_accuracy_population")
    print(
        f"{args.method} seed {args.seed}: population kNN20 {knn:.3f}, {record['total_seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
