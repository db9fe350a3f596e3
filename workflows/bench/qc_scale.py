"""QC of a biobank-sized store against plink2 on the same genotypes: ``--hwe`` and ``--ld-prune``.

The cohort is a ``.bed`` (e.g. the structured msprime cohort of :mod:`.structured_scale`, whose
SNPs are linked, so LD pruning has work to do) and the store ``convert`` makes of it. Each step
runs in its own process on 2 threads (time and peak resident memory are that process's own):

* ours: the out-of-core QC (:func:`ddvi_genomics.genotype.qc.outofcore.store_qc`, what
  ``infer --out-of-core`` runs before the PCA) with only that filter (``--maf 0 --geno 1``),
  writing the variant IDs it keeps; it reads the store's two-bit copy when it has one;
* plink2 on the ``.bed``: ``--hwe P --write-snplist`` and ``--indep-pairwise W S R2``.

The kept sets are compared ID for ID. Each tool reads its own format: plink2 the ``.bed``
(2 bits a call, uncompressed), ours the store (compressed chunks); both from the page cache
after a first warm-up read of each. ``convert`` (with its two-bit copy) is timed when the store
is made here.

Usage: python -m workflows.bench.qc_scale --bed /path/cohort.bed --store /path/cohort.vcz \\
    --out workflows/results/bench --name qc_scale_100000_cpu
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workflows.bench.plink_memory import _measure_in_fresh_process


def run_ours(store: str, what: str, value: list[str], out: str) -> None:
    """One QC filter on ``store`` out of core; write the kept variant IDs to ``out``."""
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.qc.recipe import QCOptions
    from ddvi_genomics.genotype.readers.store import open_root, variant_arrays

    if what == "hwe":
        options = QCOptions(min_maf=0.0, max_variant_missing=1.0, hwe=float(value[0]))
    else:
        window, step, r2 = value
        options = QCOptions(min_maf=0.0, max_variant_missing=1.0,
                            ld_prune=(int(window), int(step), float(r2)))  # fmt: skip
    qc = store_qc(store, options, verbose=False)
    ids = variant_arrays(open_root(store)).id[qc.keep]
    Path(out).write_text("".join(f"{v}\n" for v in ids))


def kept_ids(path: Path) -> set[str]:
    return set(path.read_text().split())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bed", required=True, help="the cohort's .bed (with .bim/.fam)")
    parser.add_argument("--store", required=True, help="its store (made with convert if absent)")
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--name", default="qc_scale_cpu", help="Result file stem.")
    parser.add_argument("--hwe", default="1e-6")
    parser.add_argument("--ld-prune", nargs=3, default=["50", "5", "0.2"])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each step")
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    parser.add_argument("--run-ours", nargs="+", help=argparse.SUPPRESS)  # internal: one step
    args = parser.parse_args(argv)
    if args.run_ours:
        store, what, out, *value = args.run_ours
        run_ours(store, what, value, out)  # nothing else imported: torch is not part of QC
        return
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    bed, store = Path(args.bed), Path(args.store)
    prefix = str(bed.with_suffix(""))
    steps = {}
    if not store.exists():
        steps["convert (.bed -> store, with its two-bit copy)"] = [_measure_in_fresh_process(
            [sys.executable, "-m", "ddvi_genomics", "convert", str(bed), "--out", str(store)])]  # fmt: skip
    n_samples = sum(1 for _ in open(bed.with_suffix(".fam")))
    n_variants = sum(1 for _ in open(bed.with_suffix(".bim")))
    hwe, (window, step, r2) = args.hwe, args.ld_prune
    rows, agreement = [], {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        tmp = Path(tmp)
        ours = [sys.executable, "-m", "workflows.bench.qc_scale", "--bed", str(bed), "--store",
                str(store), "--run-ours", str(store)]  # fmt: skip
        plink = ["plink2", "--bfile", prefix, "--threads", "2", "--silent"]
        filters = {
            f"--hwe {hwe}": (
                ours + ["hwe", str(tmp / "ours_hwe.txt"), hwe],
                plink + ["--hwe", hwe, "--write-snplist", "--out", str(tmp / "plink_hwe")],
                tmp / "ours_hwe.txt", tmp / "plink_hwe.snplist",
            ),
            f"--ld-prune {window} {step} {r2} (plink2 --indep-pairwise)": (
                ours + ["ld", str(tmp / "ours_ld.txt"), window, step, r2],
                plink + ["--indep-pairwise", window, step, r2, "--out", str(tmp / "plink_ld")],
                tmp / "ours_ld.txt", tmp / "plink_ld.prune.in",
            ),
        }  # fmt: skip
        for command in (ours + ["hwe", str(tmp / "warm"), "1"],
                        plink + ["--freq", "--out", str(tmp / "warm")]):  # fmt: skip
            subprocess.run(command, check=True, capture_output=True)  # page cache, numba cache
        for name, (our_command, plink_command, our_list, plink_list) in filters.items():
            timings = {"ours": [], "plink2": []}
            for _ in range(args.repeats):
                timings["ours"].append(_measure_in_fresh_process(our_command))
                timings["plink2"].append(_measure_in_fresh_process(plink_command))
            a, b = kept_ids(our_list), kept_ids(plink_list)
            agreement[name] = {"ours_kept": len(a), "plink2_kept": len(b),
                               "identical": a == b, "only_ours": len(a - b),
                               "only_plink2": len(b - a)}  # fmt: skip
            steps[f"ours {name}"] = timings["ours"]
            steps[f"plink2 {name}"] = timings["plink2"]
            best_ours = min(s for s, _ in timings["ours"])
            best_plink = min(s for s, _ in timings["plink2"])
            rows.append([
                name, ", ".join(f"{s:.1f}" for s, _ in timings["ours"]),
                f"{max(m for _, m in timings['ours']):,.0f}",
                ", ".join(f"{s:.1f}" for s, _ in timings["plink2"]),
                f"{max(m for _, m in timings['plink2']):,.0f}",
                f"{best_ours / best_plink:.2f}",
                f"{len(a):,} / {len(b):,}" + (" identical" if a == b else
                                              f" ({len(a - b)} / {len(b - a)} differ)"),
            ])  # fmt: skip
    plink_version = subprocess.run(["plink2", "--version"], capture_output=True,
                                   text=True).stdout.strip()  # fmt: skip
    lines = [
        f"# QC at scale against plink2: {n_samples:,} samples x {n_variants:,} variants",
        "",
        f"`{bed.name}` and its store `{store.name}`; {plink_version}. Each run in its own "
        "process on 2 threads (seconds of each run; peak resident MiB, the larger); the ratio "
        "compares the best runs. Ours is the out-of-core QC of the store with only that filter "
        "(`--maf 0 --geno 1`): variant table, genotype counts, and for LD the window passes on "
        "bit planes read chunk by chunk. plink2 reads the whole `.bed`. " + args.note,
        "",
        *markdown_table(["filter", "ours s", "ours MiB", "plink2 s", "plink2 MiB",
                         "ours / plink2", "kept: ours / plink2"], rows),
        "",
    ]  # fmt: skip
    for name, runs in steps.items():
        if name.startswith("convert"):
            lines.append(f"- {name}: {runs[0][0]:,.0f} s, {runs[0][1]:,.0f} MiB")
    lines += [
        "",
        f"Command: `python -m workflows.bench.qc_scale --bed {bed} --store {store} --out "
        f"{args.out} --name {args.name} --repeats {args.repeats}`",
    ]
    record = {"samples": n_samples, "variants": n_variants, "hwe": hwe,
              "ld_prune": args.ld_prune, "steps": steps, "agreement": agreement,
              "plink2": plink_version, "note": args.note, "provenance": provenance()}  # fmt: skip
    write_result(args.out, args.name, record, lines)


if __name__ == "__main__":
    main()
