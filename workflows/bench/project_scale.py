"""Projecting a cohort of new samples onto a saved map: time and peak memory against its size.

``plink2 --dummy`` writes ``--reference`` + ``--samples`` samples x ``--variants`` SNPs (2 %
missing calls); a PCA map (10 PCs) is fitted on the first ``--reference`` samples
(``infer --keep``), the others go to a ``.bed`` and a store (``convert``).
Then, each in its own process (peak resident memory is that process's own), ``project`` places
them: from the store in blocks of samples (the default), from the store with every sample in one
block (the previous behaviour, by setting ``SAMPLE_BLOCK`` above the cohort), and from the
``.bed`` read into memory. The three tables of PC scores must agree. A dummy cohort has no
population structure: the positions mean nothing, time and memory are the point.

Usage: python -m workflows.bench.project_scale --out workflows/results/bench --samples 100000 \\
    --variants 5000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from workflows.bench.dummy_cohort import dummy_cohort
from workflows.bench.plink_memory import _measure_in_fresh_process

#: ``project`` with every sample in one block: the module constant set above any cohort.
ONE_BLOCK = (
    "import sys; from ddvi_genomics.genotype.readers import store_tasks as m; "
    "m.SAMPLE_BLOCK = 10**9; from ddvi_genomics.cli import main; main(sys.argv[1:])"
)


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=100000, help="new samples to project")
    parser.add_argument("--reference", type=int, default=2000, help="samples the map is fit on")
    parser.add_argument("--variants", type=int, default=5000)
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    ours = [sys.executable, "-m", "ddvi_genomics"]
    rows, records = [], []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        tmp = Path(tmp)
        made = dummy_cohort(tmp, args.reference, args.samples, args.variants)
        steps = {
            "infer --keep REFERENCE --method pca (the map)": ours + [
                "infer", str(tmp / "all.bed"), "--keep", str(tmp / "first.txt"), "--method",
                "pca", "--n-pcs", "10", "--threads", "2", "-q", "--out", str(tmp / "map")],
            "convert (.bed -> store)": ours + [
                "convert", str(tmp / "rest.bed"), "--out", str(tmp / "new.vcz")],
            "project STORE (blocks of samples)": ours + [
                "project", str(tmp / "new.vcz"), "--model", str(tmp / "map.model.pt"),
                "--threads", "2", "-q", "--out", str(tmp / "blocks")],
            "project STORE (one block: before)": [sys.executable, "-c", ONE_BLOCK,
                "project", str(tmp / "new.vcz"), "--model", str(tmp / "map.model.pt"),
                "--threads", "2", "-q", "--out", str(tmp / "one")],
            "project .bed (read into memory)": ours + [
                "project", str(tmp / "rest.bed"), "--model", str(tmp / "map.model.pt"),
                "--threads", "2", "-q", "--out", str(tmp / "memory")],
        }  # fmt: skip
        for name, command in steps.items():
            seconds, peak = _measure_in_fresh_process(command)
            rows.append([name, f"{seconds:.1f}", f"{peak:,.0f}"])
            records.append({"run": name, "seconds": seconds, "peak_rss_mib": peak})
            print(name, f"{seconds:.1f} s", f"{peak:,.0f} MiB", flush=True)
        scores = {
            name: pd.read_csv(tmp / f"{name}.pcscores", sep="\t").select_dtypes("number")
            for name in ("blocks", "one", "memory")
        }
        agree = {
            other: float(np.nanmax(np.abs(scores["blocks"].to_numpy() - table.to_numpy())))
            for other, table in scores.items()
            if other != "blocks"
        }
        block = _block_size(tmp / "new.vcz", args.samples)
    lines = [
        f"# Projecting {args.samples:,} new samples x {args.variants:,} SNPs onto a saved map",
        "",
        f"`plink2 --dummy` (2 % missing calls), a 10-PC PCA map fitted on {args.reference:,} "
        f"other samples of it; each run in its own process, peak resident memory of that "
        f"process. Making the data took {made:.0f} s. The store's sample chunks give blocks of "
        f"{block:,} samples. " + args.note,
        "",
        *markdown_table(["run", "wall s", "peak RSS MiB"], rows),
        "",
        "Largest difference of the blocked projection's `.pcscores` (PC scores, their SDs and "
        "covariance, observed counts) from the others: "
        + ", ".join(f"{name} {value:.1e}" for name, value in agree.items()),
        "",
        "Command: `python -m workflows.bench.project_scale --out workflows/results/bench "
        f"--samples {args.samples} --reference {args.reference} --variants {args.variants}`",
    ]
    record = {"rows": records, "samples": args.samples, "reference": args.reference,
              "variants": args.variants, "block": block, "max_abs_difference": agree,
              "provenance": provenance()}  # fmt: skip
    write_result(args.out, f"project_scale_{args.samples}x{args.variants}_cpu", record, lines)


def _block_size(store: Path, n_samples: int) -> int:
    from ddvi_genomics.genotype.readers.store import open_root
    from ddvi_genomics.genotype.readers.store_tasks import sample_block_size

    return sample_block_size(open_root(store)["call_genotype"].chunks[1], n_samples)


if __name__ == "__main__":
    main()
