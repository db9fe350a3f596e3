"""Seconds of LD pruning (``--ld-prune`` / ``plink2 --indep-pairwise``) on linked genotypes.

An msprime simulation (``--samples`` diploids, ``--length`` bp, recombination 1e-8, Ne 1e4,
mutation rate 2e-8; biallelic sites with MAF >= 0.01), with no missing calls and again with 1 %
missing. For each ``WINDOW STEP R2``: the package's ``prune_pairwise`` on the int8 dosages in
memory, and ``plink2 --indep-pairwise`` on a ``.bed`` of the same genotypes (its wall time
includes reading the file; 2 threads), with the agreement of the two kept sets.

The first call of the process (numba loading or compiling the loops) is timed apart.

Usage: python -m workflows.bench.ld_prune --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

WINDOWS = ((50, 5, 0.2), (200, 50, 0.2))


def simulate(n_samples: int, length: float, missing: float, seed: int = 1):
    """Linked genotypes as a GenotypeMatrix on contig 1 (sites with MAF >= 0.01)."""
    import msprime

    from ddvi_genomics.genotype.matrix import GenotypeMatrix

    ts = msprime.sim_ancestry(n_samples, sequence_length=length, recombination_rate=1e-8,
                              population_size=1e4, random_seed=seed)  # fmt: skip
    ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=seed + 1)
    hap = ts.genotype_matrix()
    dosage = (hap[:, 0::2] + hap[:, 1::2]).astype(np.int8)
    position = np.array([int(site.position) + 1 for site in ts.sites()])
    p = dosage.mean(axis=1) / 2
    keep = (p >= 0.01) & (p <= 0.99) & np.r_[True, np.diff(position) > 0]
    keep &= np.array([len(site.mutations) == 1 for site in ts.sites()])
    dosage, position = dosage[keep], position[keep]
    rng = np.random.default_rng(seed)
    dosage[rng.random(dosage.shape) < missing] = -1
    n = len(dosage)
    return GenotypeMatrix(
        dosage, np.full(n, "1", object), position,
        np.array([f"v{i}" for i in range(n)], object), np.full(n, "A", object),
        np.full(n, "G", object), np.array([f"S{i}" for i in range(n_samples)], object),
    )  # fmt: skip


def main(argv=None) -> None:
    from ddvi_genomics.genotype.outputs.plink_files import write_plink
    from ddvi_genomics.genotype.qc.ldprune import prune_pairwise
    from ddvi_genomics.provenance import provenance
    from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--name", default="ld_prune_cpu", help="Result file stem.")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--length", type=float, default=3e7)
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per cell.")
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    args = parser.parse_args(argv)
    rows, records = [], []
    t0 = time.perf_counter()  # compile (or load from numba's cache) the loops: not timed below
    prune_pairwise(np.zeros((3, 8), np.int8), np.array(["1"] * 3), window=2, step=1, r2=0.5)
    first_call_s = time.perf_counter() - t0
    for missing in (0.0, 0.01):
        gm = simulate(args.samples, args.length, missing)
        with tempfile.TemporaryDirectory() as tmp:
            write_plink(gm, Path(tmp) / "g")
            for window, step, r2 in WINDOWS:
                ours_s = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    kept = prune_pairwise(gm.dosage, gm.variant_contig, window=window, step=step,
                                          r2=r2)  # fmt: skip
                    ours_s.append(time.perf_counter() - t0)
                record = {"variants": gm.n_variants, "samples": gm.n_samples, "missing": missing,
                          "window": [window, step, r2], "seconds": ours_s,
                          "kept": int(kept.sum())}  # fmt: skip
                plink_cells = ["-", "-", "-"]
                if shutil.which("plink2"):
                    plink_s = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        subprocess.run(
                            ["plink2", "--bfile", f"{tmp}/g", "--indep-pairwise", str(window),
                             str(step), str(r2), "--threads", "2", "--out", f"{tmp}/ref"],
                            check=True, capture_output=True,
                        )  # fmt: skip
                        plink_s.append(time.perf_counter() - t0)
                    theirs = set(Path(f"{tmp}/ref.prune.in").read_text().split())
                    same = theirs == set(gm.variant_id[kept])
                    record.update(plink2_seconds=plink_s, plink2_kept=len(theirs), same_set=same)
                    ratio = f"{np.mean(ours_s) / np.mean(plink_s):.1f}x"
                    plink_cells = [format_mean_ci(*mean_ci(plink_s), 2), ratio,
                                   "identical" if same else "differ"]  # fmt: skip
                records.append(record)
                rows.append([f"{missing:.0%}", f"{gm.n_variants:,}", f"{window} {step} {r2:g}",
                             format_mean_ci(*mean_ci(ours_s), 2), *plink_cells,
                             f"{int(kept.sum()):,}"])  # fmt: skip
                print(rows[-1], flush=True)
    lines = [
        "# LD pruning seconds: ours against plink2 --indep-pairwise",
        "",
        f"msprime, {args.samples:,} diploids over {args.length:g} bp (biallelic, MAF >= 0.01), "
        "one process; plink2 reads a .bed of the same genotypes (2 threads, file reading "
        f"included). Seconds: mean ± 95 % t-interval over {args.repeats} runs. 'kept sets': "
        "whether plink2's .prune.in equals ours. Ours: r^2 from popcounts of bit-packed "
        "genotypes, only for the pairs the window passes reach (compiled with numba; the "
        f"first call of the process, which loads or compiles the loops, took {first_call_s:.2f}"
        " s and is not in the table). " + args.note,
        "",
        *markdown_table(
            [
                "missing calls",
                "variants",
                "WINDOW STEP R2",
                "ours s",
                "plink2 s",
                "ours / plink2",
                "kept sets",
                "kept",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Command: `python -m workflows.bench.ld_prune --out workflows/results/bench "
        f"--name {args.name} --samples {args.samples} --length {args.length:g} "
        f"--repeats {args.repeats}`",
    ]
    record = {"rows": records, "first_call_seconds": first_call_s, "provenance": provenance()}
    write_result(args.out, args.name, record, lines)


if __name__ == "__main__":
    main()
