"""``infer`` end to end at genotyping-chip scale: wall time and peak memory, from VCF and from Zarr.

The data set imitates the 1000 Genomes Affymetrix 6.0 set the paper used: ``--samples`` (3,450)
samples from three populations with diverged allele frequencies and ``--variants`` (500,000)
biallelic SNPs, 1 % of variants with 5 % missing calls (binomial genotypes, BGZF VCF). Each
command runs in its own process (peak resident memory of that process tree):

1. ``ddvi-genomics infer VCF --method ddvi`` (everything in memory);
2. ``ddvi-genomics convert VCF --out STORE.vcz --workers 2`` (bio2zarr);
3. ``ddvi-genomics infer STORE.vcz --out-of-core --method ddvi`` (QC and PCA on Dask).

Usage: python -m workflows.bench.chip_scale --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str]) -> dict:
    """Run ``command``; return wall seconds and the peak RSS of the process tree (MiB)."""
    code = (
        "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_rss_mib': "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"
    )
    import json

    out = subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True,
                         text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.bench.genotype_io import simulate_vcf
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=3450)
    parser.add_argument("--variants", type=int, default=500_000)
    parser.add_argument(
        "--steps",
        default="1,2,3",
        help="Which steps to run (1 infer VCF, 2 convert, 3 infer Zarr).",
    )
    args = parser.parse_args(argv)
    wanted = {int(s) for s in args.steps.split(",")}
    cli = [sys.executable, "-m", "ddvi_genomics"]
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        vcf, store = Path(tmp) / "chip.vcf.gz", Path(tmp) / "chip.vcz"
        t0 = time.perf_counter()
        simulate_vcf(vcf, args.variants, n_samples=args.samples)
        print(f"simulated in {time.perf_counter() - t0:.0f} s", flush=True)
        steps = {
            "infer VCF (in memory)": [*cli, "infer", str(vcf), "--out", f"{tmp}/a", "-q"],
            "convert VCF -> Zarr (2 workers)": [*cli, "convert", str(vcf), "--out", str(store),
                                                "--workers", "2"],
            "infer Zarr --out-of-core": [*cli, "infer", str(store), "--out", f"{tmp}/b",
                                         "--out-of-core", "-q"],
        }  # fmt: skip
        for number, (name, command) in enumerate(steps.items(), start=1):
            if number not in wanted or (number == 3 and 2 not in wanted):
                continue  # step 3 reads the store step 2 writes
            r = timed(command)
            records.append({"step": name, **r})
            rows.append([name, f"{r['seconds'] / 60:.1f}", f"{r['peak_rss_mib'] / 1024:.2f}"])
            print(rows[-1], flush=True)
    lines = [
        f"# `infer` at chip scale: {args.samples:,} samples x {args.variants:,} SNPs (2 CPU cores)",
        "",
        "Simulated three-population genotypes (BGZF VCF); each step in its own process, "
        "default DDVI settings (150 epochs), default threads.",
        "",
        *markdown_table(["step", "minutes", "peak RSS GiB"], rows),
        "",
        "Command: `python -m workflows.bench.chip_scale --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants} --steps {args.steps}`",
    ]
    record = {"rows": records, "samples": args.samples, "variants": args.variants,
              "provenance": provenance()}  # fmt: skip
    name = "chip_scale_cpu" if wanted == {1, 2, 3} else f"chip_scale_steps{args.steps}_cpu"
    write_result(args.out, name.replace(",", ""), record, lines)


if __name__ == "__main__":
    main()
