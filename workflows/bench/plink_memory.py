"""Peak memory and wall time of the PCA front end against plink2, on a ``plink2 --dummy`` data set.

``plink2 --dummy N M 0.01 acgt`` writes N samples x M biallelic SNPs (1 % missing calls); then,
each in its own subprocess so that the peak resident memory (``ru_maxrss`` of the child) is its
own: ``ddvi-genomics infer --method pca`` (QC + exact PCA + every output), the same with
``--memory 64``, and ``plink2 --pca 10`` (exact, the PLINK peer) on the same ``.bed``.

Usage: python -m workflows.bench.plink_memory --out workflows/results/bench [--samples 2000 --variants 50000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return wall seconds and its peak resident memory in MiB."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise RuntimeError(
            "a smaller child ran after a larger one; run each measure in a fresh process"
        )
    return seconds, peak / 1024


def _measure_in_fresh_process(command: list[str]) -> tuple[float, float]:
    """ru_maxrss of RUSAGE_CHILDREN is a maximum over all children: isolate each command."""
    code = (
        "import sys, json; from workflows.bench.plink_memory import measure; "
        "print(json.dumps(measure(json.loads(sys.argv[1]))))"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(command)],
        check=True,
        capture_output=True,
        text=True,
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=50000)
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    rows, record_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "dummy"
        subprocess.run(
            ["plink2", "--dummy", str(args.samples), str(args.variants), "0.01", "acgt",
             "--make-bed", "--out", str(data), "--threads", "2"],
            check=True, capture_output=True,
        )  # fmt: skip
        ours = [sys.executable, "-m", "ddvi_genomics", "infer", f"{data}.bed", "--method", "pca",
                "--n-pcs", "10", "--threads", "2", "-q"]  # fmt: skip
        runs = {
            "ddvi-genomics infer --method pca": ours + ["--out", f"{tmp}/a"],
            "ddvi-genomics infer --method pca --memory 64": ours + ["--out", f"{tmp}/b", "--memory", "64"],
            "plink2 --pca 10 (exact)": ["plink2", "--bfile", str(data), "--pca", "10",
                                        "--out", f"{tmp}/p", "--threads", "2"],
        }  # fmt: skip
        for name, command in runs.items():
            seconds, peak = _measure_in_fresh_process(command)
            rows.append([name, f"{seconds:.1f}", f"{peak:,.0f}"])
            record_rows.append({"run": name, "seconds": seconds, "peak_rss_mib": peak})
    lines = [
        f"# Peak memory: {args.samples:,} samples x {args.variants:,} SNPs (`plink2 --dummy`)",
        "",
        "Each run in its own process, 2 threads; peak resident memory of that process. Ours "
        "includes QC, the exact PCA (50 PCs computed for the metrics' reference space) and every "
        "output file; about 0.35 GB of it is the Python, NumPy and torch runtime.",
        "",
        *markdown_table(["run", "wall s", "peak RSS MiB"], rows),
        "",
        "Command: `python -m workflows.bench.plink_memory --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants}`",
    ]
    record = {"rows": record_rows, "samples": args.samples, "variants": args.variants,
              "provenance": provenance()}  # fmt: skip
    write_result(args.out, "plink_memory_cpu", record, lines)


if __name__ == "__main__":
    main()
