"""How wide the residual band must be for calibrated regions under read-like missingness.

The chip-density simulation of :mod:`workflows.bench.projection_calibration` (AmericanAdmixture_4B18,
one common SNP per 5 kb), its split (20 % held out, 2 seeds), 10 PCs, the ``bayes`` projection;
each held-out sample keeps 20 % or 5 % of its variants in runs of consecutive variants. Reported:
the share of complete-data PC1-2 positions inside the 90 % region, for residual bands of 0
(independent residuals), 10, 25, 50 and 100 neighbours (:mod:`ddvi_genomics.genotype.pca.linkage`).

Usage: python -m workflows.bench.projection_band_width --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ddvi_genomics.provenance import provenance
from workflows.bench.projection_calibration import (
    gaussian_coverage,
    load_sim,
    observed_mask,
    pc_projection,
)
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

WIDTHS = (0, 10, 25, 50, 100)
LEVELS = (0.2, 0.05)


def main(argv=None) -> None:
    from sklearn.model_selection import train_test_split

    from ddvi_genomics.genotype.mapping.ancestry_map import fit_pca
    from ddvi_genomics.genotype.pca.linkage import residual_band

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args(argv)
    gm, labels = load_sim()
    pops = labels["population"].to_numpy()
    cover = {(w, lv): [] for w in WIDTHS for lv in LEVELS}
    for seed in args.seeds:
        ref_idx, test_idx = train_test_split(
            np.arange(gm.n_samples), test_size=0.2, stratify=pops, random_state=seed
        )
        ref, test = gm.subset(samples=np.sort(ref_idx)), gm.subset(samples=np.sort(test_idx))
        pca, scores = fit_pca(ref, 10, seed=seed)
        full = pca.transform(test.dosage)[:, :2]
        rng = np.random.default_rng(seed)
        masks = {
            lv: observed_mask(test.n_variants, test.n_samples, lv, "runs", rng) for lv in LEVELS
        }
        for width in WIDTHS:
            pca.residual_band_ = (
                None if width == 0
                else residual_band(pca, ref.dosage, scores[:, :10], ref.variant_contig, width)
            )  # fmt: skip
            for lv, mask in masks.items():
                projected = pc_projection(
                    pca, np.where(mask, test.dosage, -1).astype(np.int8), "bayes"
                )
                diff = full - projected.scores[:, :2]
                inside = gaussian_coverage(diff, projected.covariance[:, :2, :2], 0.9)
                cover[width, lv].append(float(inside.mean()))
    rows = [[str(w), *(format_mean_ci(*mean_ci(cover[w, lv])) for lv in LEVELS)] for w in WIDTHS]
    lines = ["# Residual band width and 90 % coverage under read-like missingness", ""]
    lines += [f"{gm.n_variants:,} variants x {gm.n_samples:,} samples; seeds {args.seeds}", ""]
    lines += markdown_table(["band (neighbours)", *(f"{lv:.0%} kept" for lv in LEVELS)], rows)
    record = {
        "command": " ".join(["python -m workflows.bench.projection_band_width", *sys.argv[1:]]),
        "coverage90": {f"{w}/{lv}": v for (w, lv), v in cover.items()},
        "provenance": provenance(),
    }
    write_result(args.out, "projection_band_width_cpu", record, lines)


if __name__ == "__main__":
    main()
