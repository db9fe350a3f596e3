"""Seconds of the Hardy-Weinberg exact test (``--hwe``) on many variants, against plink2.

Simulated genotypes (``--samples`` samples, ``--variants`` variants in HWE with allele
frequencies uniform on [0.01, 0.99], 1 % missing calls). Timed on the same genotypes:

* ``genotype_counts`` on the int8 dosages (a compiled loop per variant);
* ``hwe_pvalues_from_counts``: the package's test (a compiled loop per variant, from the mode of
  the het-count distribution outwards until the terms are negligible);
* ``plink2 --hardy`` on a ``.bed`` of the same genotypes (its wall time includes reading the
  file), when plink2 is on PATH; its p-values are compared with ours;
* the one-time cost of compiling the loops: both called once in a fresh process with an empty
  numba cache (later processes load the cached machine code);
* the per-variant Python loop :func:`hwe_exact_pvalue` on 5,000 distinct count triples, as the
  accuracy oracle.

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
    parser.add_argument("--name", default="hwe_cpu")
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    args = parser.parse_args(argv)
    rows, records = [], []
    compile_s = compile_seconds()
    for n_variants in (int(v) for v in args.variants.split(",")):
        record = measure(n_variants, args.samples)
        records.append(record)
        ours = record["counts_seconds"] + record["pvalues_seconds"]
        ratio = ours / record.get("plink2_seconds", float("nan"))
        rows.append([f"{n_variants:,}", f"{record['counts_seconds']:.3f}",
                     f"{record['pvalues_seconds']:.3f}", f"{ours:.3f}",
                     f"{record.get('plink2_seconds', float('nan')):.3f}", f"{ratio:.1f}x",
                     f"{record['loop_max_rel_diff']:.1e}",
                     f"{record.get('plink2_max_rel_diff', float('nan')):.1e}"])  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Hardy-Weinberg exact test: seconds for many variants, against plink2 --hardy",
        "",
        f"Simulated variants x {args.samples:,} samples (HWE, allele frequencies uniform on "
        "[0.01, 0.99], 1 % missing calls), one process. plink2's time includes reading the "
        ".bed and counting (2 threads); ours is counting the int8 dosages already in memory "
        "plus the p-values (row blocks on the thread budget, 2 here). Compiling both loops, once per machine (numba caches the "
        f"machine code), took {compile_s:.1f} s in a fresh process with an empty cache; it is "
        "not in the table. 'loop': the per-variant Python test on 5,000 of the distinct count "
        "triples. plink2's p-values are printed to 6 significant digits, hence its relative "
        "differences. " + args.note,
        "",
        *markdown_table(["variants", "counts s", "p-values s", "ours s", "plink2 --hardy s",
                         "ours / plink2", "vs loop, max rel. diff",
                         "vs plink2, max rel. diff"], rows),
        "",
        "Command: `python -m workflows.bench.hwe --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants} --name {args.name}`",
    ]  # fmt: skip
    record = {"rows": records, "compile_seconds": compile_s, "provenance": provenance()}
    write_result(args.out, args.name, record, lines)


def compile_seconds() -> float:
    """Seconds to import and compile both loops in a fresh process with an empty numba cache."""
    import os
    import sys

    code = (
        "import time, numpy as np; t = time.perf_counter(); "
        "from ddvi_genomics.genotype.counts import genotype_counts; "
        "from ddvi_genomics.genotype.qc.hwe import hwe_pvalues_from_counts; "
        "hwe_pvalues_from_counts(genotype_counts(np.zeros((2, 4), np.int8))); "
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def measure(n_variants: int, n_samples: int) -> dict:
    """Time counts and p-values on one simulated set; see the module docstring."""
    from ddvi_genomics.genotype.counts import genotype_counts
    from ddvi_genomics.genotype.qc.hwe import hwe_exact_pvalue, hwe_pvalues_from_counts

    dosage = simulate_dosage(n_variants, n_samples)
    hwe_pvalues_from_counts(genotype_counts(dosage[:2]))  # load the compiled loops
    t0 = time.perf_counter()
    counts = genotype_counts(dosage)
    counts_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = hwe_pvalues_from_counts(counts)
    pvalues_s = time.perf_counter() - t0
    unique, first = np.unique(counts, axis=0, return_index=True)
    pick = np.random.default_rng(0).choice(len(unique), min(5000, len(unique)), replace=False)
    loop = np.array([hwe_exact_pvalue(int(h), int(a), int(b)) for a, h, b in unique[pick]])
    mine = ours[first[pick]]
    record = {
        "variants": n_variants, "samples": n_samples, "distinct_triples": len(unique),
        "counts_seconds": counts_s, "pvalues_seconds": pvalues_s,
        "loop_max_rel_diff": float(np.max(np.abs(loop - mine) / np.maximum(loop, 1e-300))),
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
