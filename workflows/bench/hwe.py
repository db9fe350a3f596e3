"""Seconds of the Hardy-Weinberg exact test (``--hwe``) on many variants, three ways in one run.

Simulated genotypes (``--samples`` samples, ``--variants`` variants in HWE with allele
frequencies uniform on [0.01, 0.99], 1 % missing calls). Timed on the same genotype counts:

* ``hwe_pvalues_from_counts``: the package's test, one window of the het-count distribution per
  distinct ``(called, rare allele count)`` pair, chunks of windows in padded arrays;
* ``full distributions``: :func:`full_distribution_pvalues`, the package's previous version
  (each group's whole distribution, one group at a time);
* ``per-variant loop``: :func:`hwe_exact_pvalue` once per distinct count triple;
* the genotype counting (``genotype_counts`` on the int8 dosages) that comes before any of them;
* ``plink2 --hardy`` on a ``.bed`` of the same genotypes (its wall time includes reading the
  file), when plink2 is on PATH; its p-values are compared with ours.

Usage: python -m workflows.bench.hwe --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def simulate_dosage(n_variants: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """Binomial genotypes in HWE, shape (n_variants, n_samples), int8, -1 for 1 % missing."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, n_variants)
    dosage = rng.binomial(2, p[:, None], size=(n_variants, n_samples)).astype(np.int8)
    dosage[rng.random(dosage.shape) < 0.01] = -1
    return dosage


def full_distribution_pvalues(counts: np.ndarray) -> np.ndarray:
    """The previous array version: every group's whole het-count distribution, sorted.

    Kept here as the "before" of the benchmark (the package's version until this commit).
    """
    unique, inverse = np.unique(counts, axis=0, return_inverse=True)
    hom1, het, hom2 = unique.T
    n = hom1 + het + hom2
    n_rare = 2 * np.minimum(hom1, hom2) + het
    p = np.ones(len(unique))
    order = np.lexsort((n_rare, n))
    starts = np.flatnonzero(np.diff(n[order]) | np.diff(n_rare[order])) + 1
    for rows in np.split(order, starts):
        if n[rows[0]] == 0:
            continue
        size, rare = int(n[rows[0]]), int(n_rare[rows[0]])
        probs = np.zeros(rare + 1)
        mode = rare * (2 * size - rare) // (2 * size)
        mode += (rare - mode) % 2
        rare0, common0 = (rare - mode) // 2, size - mode - (rare - mode) // 2
        probs[mode] = 1.0
        down = np.arange(mode, 1, -2)
        k = np.arange(len(down))
        probs[down - 2] = np.cumprod(
            down * (down - 1.0) / (4.0 * (rare0 + k + 1.0) * (common0 + k + 1.0))
        )
        up = np.arange(mode, rare - 1, 2)
        k = np.arange(len(up))
        probs[up + 2] = np.cumprod(4.0 * (rare0 - k) * (common0 - k) / ((up + 2.0) * (up + 1.0)))
        probs /= probs.sum()
        ascending = np.sort(probs)
        below = np.searchsorted(ascending, probs[het[rows]] * (1 + 1e-8), side="right")
        p[rows] = np.cumsum(ascending)[below - 1]
    return np.minimum(1.0, p)[np.asarray(inverse).ravel()]


def plink2_hardy(dosage: np.ndarray, folder: Path) -> tuple[float, np.ndarray]:
    """Wall seconds of ``plink2 --hardy`` on a ``.bed`` of ``dosage``, and its p-values."""
    from ddvi_genomics.genotype.matrix import GenotypeMatrix
    from ddvi_genomics.genotype.outputs.plink_files import write_plink

    n_var, n = dosage.shape
    gm = GenotypeMatrix(
        dosage, np.full(n_var, "1", object), np.arange(1, n_var + 1) * 10,
        np.array([f"v{i}" for i in range(n_var)], object), np.full(n_var, "A", object),
        np.full(n_var, "G", object), np.array([f"S{i}" for i in range(n)], object),
    )  # fmt: skip
    write_plink(gm, folder / "g")
    t0 = time.perf_counter()
    subprocess.run(
        ["plink2", "--bfile", str(folder / "g"), "--hardy", "--threads", "2",
         "--out", str(folder / "g")],
        check=True, capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    table = np.genfromtxt(folder / "g.hardy", names=True, comments=None, dtype=None)
    return seconds, np.asarray(table["P"], dtype=float)


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=2504)
    parser.add_argument("--variants", default="100000,400000")
    parser.add_argument("--name", default="hwe_cpu")
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    args = parser.parse_args(argv)
    rows, records = [], []
    for n_variants in (int(v) for v in args.variants.split(",")):
        record = measure(n_variants, args.samples)
        records.append(record)
        ratio = (record["counts_seconds"] + record["array_seconds"]) / record.get(
            "plink2_seconds", float("nan")
        )
        rows.append([f"{n_variants:,}", f"{record['distinct_triples']:,}",
                     f"{record['groups']:,}", f"{record['counts_seconds']:.2f}",
                     f"{record['array_seconds']:.2f}", f"{record['full_seconds']:.2f}",
                     f"{record['loop_seconds']:.2f}", f"{record['loop_max_rel_diff']:.1e}",
                     f"{record.get('plink2_seconds', float('nan')):.2f}", f"{ratio:.1f}x",
                     f"{record.get('plink2_max_rel_diff', float('nan')):.1e}"])  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Hardy-Weinberg exact test: seconds for many variants",
        "",
        f"Simulated variants x {args.samples:,} samples (HWE, allele frequencies uniform on "
        "[0.01, 0.99], 1 % missing calls), one process, the same genotype counts for every "
        "method. 'groups': distinct (called genotypes, rare allele count) pairs, one het-count "
        "distribution window each. plink2's time includes reading the .bed and counting; ours "
        "is 'counts s' + 'windows s' (the int8 dosages already in memory). plink2's p-values "
        "are printed to 6 significant digits, hence its relative differences. " + args.note,
        "",
        *markdown_table(
            [
                "variants",
                "distinct count triples",
                "groups",
                "counts s",
                "windows s (now)",
                "full distributions s (before)",
                "per-variant loop s",
                "loop vs windows, max rel. diff",
                "plink2 --hardy s",
                "ours / plink2",
                "plink2 vs windows, max rel. diff",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Command: `python -m workflows.bench.hwe --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants} --name {args.name}`",
    ]
    write_result(args.out, args.name, {"rows": records, "provenance": provenance()}, lines)


def measure(n_variants: int, n_samples: int) -> dict:
    """Time the three methods on one simulated set; see the module docstring."""
    from ddvi_genomics.genotype.counts import genotype_counts
    from ddvi_genomics.genotype.qc.hwe import hwe_exact_pvalue, hwe_pvalues_from_counts

    dosage = simulate_dosage(n_variants, n_samples)
    t0 = time.perf_counter()
    counts = genotype_counts(dosage)
    counts_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = hwe_pvalues_from_counts(counts)
    array_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    before = full_distribution_pvalues(counts)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    unique, inverse = np.unique(counts, axis=0, return_inverse=True)
    loop = np.array([hwe_exact_pvalue(int(h), int(a), int(b)) for a, h, b in unique])
    loop = loop[np.asarray(inverse).ravel()]
    loop_s = time.perf_counter() - t0
    n = unique.sum(axis=1)
    n_rare = 2 * np.minimum(unique[:, 0], unique[:, 2]) + unique[:, 1]
    record = {
        "variants": n_variants, "samples": n_samples, "distinct_triples": len(unique),
        "groups": len(np.unique(np.stack([n, n_rare], axis=1), axis=0)),
        "counts_seconds": counts_s, "array_seconds": array_s, "full_seconds": full_s,
        "loop_seconds": loop_s,
        "loop_max_rel_diff": float(np.max(np.abs(loop - ours) / np.maximum(loop, 1e-300))),
        "before_max_rel_diff": float(np.max(np.abs(before - ours) / np.maximum(before, 1e-300))),
    }  # fmt: skip
    if shutil.which("plink2"):
        with tempfile.TemporaryDirectory() as tmp:
            plink_s, plink_p = plink2_hardy(dosage, Path(tmp))
        shown = plink_p > 0  # printed to 6 significant digits; 0 where it underflows the print
        record["plink2_seconds"] = plink_s
        record["plink2_max_rel_diff"] = float(
            np.max(np.abs(plink_p[shown] - ours[shown]) / plink_p[shown])
        )
    return record


if __name__ == "__main__":
    main()
