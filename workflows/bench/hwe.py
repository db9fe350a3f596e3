"""Seconds of the Hardy-Weinberg exact test (``--hwe``) on many variants, three ways in one run.

Simulated genotypes (``--samples`` samples, ``--variants`` variants in HWE with allele
frequencies uniform on [0.01, 0.99], 1 % missing calls). Timed on the same genotype counts:

* ``hwe_pvalues_from_counts``: the package's test, one het-count distribution per distinct
  ``(called, rare allele count)`` pair, built with array products;
* ``per-variant loop``: :func:`hwe_exact_pvalue` once per distinct count triple, which is how the
  package computed it before;
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
    args = parser.parse_args(argv)
    rows, records = [], []
    for n_variants in (int(v) for v in args.variants.split(",")):
        record = measure(n_variants, args.samples)
        records.append(record)
        rows.append([f"{n_variants:,}", f"{record['distinct_triples']:,}",
                     f"{record['groups']:,}", f"{record['array_seconds']:.2f}",
                     f"{record['loop_seconds']:.2f}", f"{record['loop_max_rel_diff']:.1e}",
                     f"{record.get('plink2_seconds', float('nan')):.2f}",
                     f"{record.get('plink2_max_rel_diff', float('nan')):.1e}"])  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Hardy-Weinberg exact test: seconds for many variants",
        "",
        f"Simulated variants x {args.samples:,} samples (HWE, allele frequencies uniform on "
        "[0.01, 0.99], 1 % missing calls), one process, the same genotype counts for every "
        "method. 'groups': distinct (called genotypes, rare allele count) pairs, one het-count "
        "distribution each in the array version. plink2's time includes reading the .bed; its "
        "p-values are printed to 6 significant digits, hence its relative differences.",
        "",
        *markdown_table(
            [
                "variants",
                "distinct count triples",
                "groups",
                "array version s",
                "per-variant loop s (before)",
                "loop vs array, max rel. diff",
                "plink2 --hardy s",
                "plink2 vs array, max rel. diff",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Command: `python -m workflows.bench.hwe --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants}`",
    ]
    write_result(args.out, "hwe_cpu", {"rows": records, "provenance": provenance()}, lines)


def measure(n_variants: int, n_samples: int) -> dict:
    """Time the three methods on one simulated set; see the module docstring."""
    from ddvi_genomics.genotype.counts import genotype_counts
    from ddvi_genomics.genotype.qc.hwe import hwe_exact_pvalue, hwe_pvalues_from_counts

    dosage = simulate_dosage(n_variants, n_samples)
    counts = genotype_counts(dosage)
    t0 = time.perf_counter()
    ours = hwe_pvalues_from_counts(counts)
    array_s = time.perf_counter() - t0
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
        "array_seconds": array_s, "loop_seconds": loop_s,
        "loop_max_rel_diff": float(np.max(np.abs(loop - ours) / np.maximum(loop, 1e-300))),
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
