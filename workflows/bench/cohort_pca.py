"""Out-of-core PCA at cohort scale: the randomized solver against the exact one and plink2.

``plink2 --dummy N M 0.02 acgt`` writes N samples x M SNPs; ``ddvi-genomics convert`` makes a
store of it; then, each in its own process (peak resident memory is that process's own):
``infer STORE --out-of-core --method pca --n-pcs 10`` with ``--pca-solver randomized`` and (where
asked) ``exact``, and ``plink2 --pca approx 10`` on the same ``.bed``. The PCs are compared
(``|r|`` per PC, after matching samples). A dummy cohort has no population structure, so its
PCs are noise and their agreement across solvers is not expected (it is reported, not claimed);
time and memory are the point here.

Usage: python -m workflows.bench.cohort_pca --out workflows/results/bench --samples 20000 \\
    --variants 20000 [--exact]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workflows.bench.plink_memory import _measure_in_fresh_process


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--variants", type=int, default=20000)
    parser.add_argument("--exact", action="store_true", help="also run the exact solver")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    rows, record_rows = [], []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        data = Path(tmp) / "dummy"
        t0 = time.perf_counter()
        subprocess.run(
            ["plink2", "--dummy", str(args.samples), str(args.variants), "0.02", "acgt",
             "--make-bed", "--out", str(data), "--threads", "2"],
            check=True, capture_output=True,
        )  # fmt: skip
        made = time.perf_counter() - t0
        store = Path(tmp) / "dummy.vcz"
        ours = [sys.executable, "-m", "ddvi_genomics"]
        runs = {"convert (.bed -> store)": ours + ["convert", f"{data}.bed", "--out", str(store)]}
        solvers = ["randomized"] + (["exact"] if args.exact else [])
        for solver in solvers:
            runs[f"infer --out-of-core --method pca --pca-solver {solver}"] = ours + [
                "infer", str(store), "--out-of-core", "--method", "pca", "--n-pcs", "10",
                "--pca-solver", solver, "--threads", "2", "-q", "--out", f"{tmp}/{solver}",
            ]  # fmt: skip
        runs["plink2 --pca approx 10"] = ["plink2", "--bfile", str(data), "--pca", "approx", "10",
                                          "--out", f"{tmp}/plink", "--threads", "2"]  # fmt: skip
        for name, command in runs.items():
            seconds, peak = _measure_in_fresh_process(command)
            rows.append([name, f"{seconds:.1f}", f"{peak:,.0f}"])
            record_rows.append({"run": name, "seconds": seconds, "peak_rss_mib": peak})
            print(name, f"{seconds:.1f} s", f"{peak:,.0f} MiB", flush=True)
        plink = pd.read_csv(f"{tmp}/plink.eigenvec", sep="\t").set_index("IID")
        agreement = {}
        for solver in solvers:
            mine = pd.read_csv(f"{tmp}/{solver}.eigenvec", sep="\t").set_index("IID")
            mine = mine.loc[plink.index]
            agreement[solver] = [
                float(abs(np.corrcoef(mine[f"PC{k}"], plink[f"PC{k}"])[0, 1]))
                for k in range(1, 11)
            ]
    lines = [
        f"# Cohort-scale PCA: {args.samples:,} samples x {args.variants:,} SNPs "
        "(`plink2 --dummy`, 2 % missing)",
        "",
        f"Each run in its own process on 2 threads; peak resident memory of that process. Making "
        f"the `.bed` took {made:.0f} s. Ours: QC, the out-of-core PCA (50 PCs computed for the "
        "metrics' reference space, 10 written) and every output file.",
        "",
        *markdown_table(["run", "wall s", "peak RSS MiB"], rows),
        "",
        "|r| of PC1-10 against plink2 --pca approx (a dummy cohort has no structure: its PCs "
        "are noise, so low values say nothing about accuracy; the tests check accuracy on "
        "structured data):",
        "",
        *[
            f"- {solver}: " + ", ".join(f"{r:.3f}" for r in values)
            for solver, values in agreement.items()
        ],  # fmt: skip
        "",
        "Command: `python -m workflows.bench.cohort_pca --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants}{' --exact' if args.exact else ''}`",
    ]
    record = {"rows": record_rows, "samples": args.samples, "variants": args.variants,
              "agreement_with_plink2_approx": agreement, "provenance": provenance()}  # fmt: skip
    write_result(args.out, f"cohort_pca_{args.samples}x{args.variants}_cpu", record, lines)


if __name__ == "__main__":
    main()
