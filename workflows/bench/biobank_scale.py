"""A biobank-sized cohort end to end: store to map, then new samples projected, stage by stage.

``plink2 --dummy`` writes ``--samples`` + ``--new`` samples x ``--variants`` SNPs (2 % missing);
the last ``--new`` go to their own ``.bed``. Then, each in its own process (peak resident memory
is that process's own): ``convert`` of the cohort to a store, ``infer --out-of-core`` with the
default DDVI map fitted on a stratified ``--fit-subset`` (QC, randomized PCA, the map, every
output), ``convert`` of the new samples and ``project`` of them from their store. A dummy
cohort has no population structure: the map means nothing here; time and memory are the point.

Usage: python -m workflows.bench.biobank_scale --out workflows/results/bench --samples 100000 \\
    --variants 100000 --new 10000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from workflows.bench.dummy_cohort import dummy_cohort
from workflows.bench.plink_memory import _measure_in_fresh_process


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--variants", type=int, default=100000)
    parser.add_argument("--new", type=int, default=10000, help="samples projected afterwards")
    parser.add_argument("--fit-subset", type=int, default=5000)
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    ours = [sys.executable, "-m", "ddvi_genomics"]
    rows, records = [], []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        tmp = Path(tmp)
        made = dummy_cohort(tmp, args.samples, args.new, args.variants)
        (tmp / "all.bed").unlink()  # the two parts are enough
        steps = {
            "convert cohort (.bed -> store)": ours + [
                "convert", str(tmp / "first.bed"), "--out", str(tmp / "cohort.vcz")],
            f"infer --out-of-core (DDVI, --fit-subset {args.fit_subset:,})": ours + [
                "infer", str(tmp / "cohort.vcz"), "--out-of-core", "--fit-subset",
                str(args.fit_subset), "--threads", "2", "-q", "--out", str(tmp / "map")],
            "convert new samples": ours + [
                "convert", str(tmp / "rest.bed"), "--out", str(tmp / "new.vcz")],
            "project new samples (store)": ours + [
                "project", str(tmp / "new.vcz"), "--model", str(tmp / "map.model.pt"),
                "--threads", "2", "-q", "--out", str(tmp / "placed")],
        }  # fmt: skip
        total = 0.0
        for name, command in steps.items():
            seconds, peak = _measure_in_fresh_process(command)
            total += seconds
            rows.append([name, f"{seconds:,.1f}", f"{peak:,.0f}"])
            records.append({"run": name, "seconds": seconds, "peak_rss_mib": peak})
            print(name, f"{seconds:.1f} s", f"{peak:,.0f} MiB", flush=True)
        log = (tmp / "map.log").read_text().splitlines()
        stages = [line for line in log if " s" in line and ("qc" in line or "pca" in line
                                                           or "embed" in line)]  # fmt: skip
    peak_all = max(r["peak_rss_mib"] for r in records)
    lines = [
        f"# {args.samples:,} samples x {args.variants:,} SNPs end to end, then {args.new:,} "
        "new samples projected",
        "",
        f"`plink2 --dummy` (2 % missing calls; making the `.bed` files took {made:.0f} s), each "
        "step in its own process on 2 threads, peak resident memory of that process. " + args.note,
        "",
        *markdown_table(["step", "wall s", "peak RSS MiB"], rows),
        "",
        f"Store to map (the first two steps): {sum(r['seconds'] for r in records[:2]) / 60:.1f} "
        f"min; all steps {total / 60:.1f} min; the largest peak {peak_all:,.0f} MiB.",
        "",
        "The map's log, stage lines:",
        "",
        *[f"    {line}" for line in stages],
        "",
        "Command: `python -m workflows.bench.biobank_scale --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants} --new {args.new} "
        f"--fit-subset {args.fit_subset}`",
    ]
    record = {"rows": records, "samples": args.samples, "variants": args.variants,
              "new": args.new, "fit_subset": args.fit_subset, "map_log_stages": stages,
              "provenance": provenance()}  # fmt: skip
    write_result(args.out, f"biobank_scale_{args.samples}x{args.variants}_cpu", record, lines)


if __name__ == "__main__":
    main()
