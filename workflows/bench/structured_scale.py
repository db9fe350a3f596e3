"""Scaling on a structured cohort: 10k / 30k / 100k samples x 100k SNPs, stage by stage.

One msprime cohort (:mod:`workflows.bench.structured_cohort`: eleven populations, 1 % missing
calls) of ``max(--sizes) + --new`` diploids; the cohorts are its first N shuffled samples, the
new samples its last ``--new``. Per size, each step in its own process (peak resident memory
is that process's own), on 2 threads:

- ``convert`` the cohort's ``.bed`` to a store;
- ``infer --out-of-core`` with the default DDVI map fitted on ``--fit-subset`` samples (QC,
  randomized PCA, map, metrics on the panel's populations, every output);
- ``project`` the new samples (converted once) onto that map;
- ``plink2 --pca approx 10`` on the same ``.bed`` with the same filters (``--maf 0.01 --geno
  0.1``), side by side: PC1-10 |r| against ours and the PCA step's wall time against ours.

At the smallest size the exact (Gram) solver runs too, and PC1-10 |r| against it is reported.
New samples' population is predicted by kNN (k = 20) from the cohort's map coordinates, and
from its PC1-2 and PC1-10 scores for reference. Steps done are kept in ``--work/steps.json``,
so a rerun resumes. Growth with N is fitted as ``seconds = a * N ** b`` per step.

Usage: python -m workflows.bench.structured_scale --out workflows/results/bench \\
    --sizes 10000,30000,100000 --variants 100000 --new 10000
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workflows.bench.plink_memory import _measure_in_fresh_process
from workflows.bench.structured_cohort import write_structured_cohort

PCA_DONE = re.compile(r"pca: done in ([0-9.]+) s")


def _read_table(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t")
    table.columns = [c.lstrip("#") for c in table.columns]
    return table.set_index("IID")


def pc_agreement(a: Path, b: Path, k: int = 10) -> list[float]:
    """|r| of PC1..k between two ``.eigenvec`` files, samples matched by IID."""
    left, right = _read_table(a), _read_table(b)
    left = left.loc[right.index]
    return [
        float(abs(np.corrcoef(left[f"PC{i}"], right[f"PC{i}"])[0, 1])) for i in range(1, k + 1)
    ]


def subspace_agreement(a: Path, b: Path, k: int = 10) -> float:
    """Smallest canonical correlation between the PC1..k spaces (1 = the same subspace)."""
    left, right = _read_table(a), _read_table(b)
    left = left.loc[right.index]
    cols = [f"PC{i}" for i in range(1, k + 1)]
    qa, _ = np.linalg.qr(left[cols].to_numpy() - left[cols].to_numpy().mean(0))
    qb, _ = np.linalg.qr(right[cols].to_numpy() - right[cols].to_numpy().mean(0))
    return float(np.linalg.svd(qa.T @ qb, compute_uv=False).min())


def new_sample_accuracy(work: Path, n: int, panel: pd.Series) -> dict:
    """kNN20 population accuracy of the new samples, fitted on the cohort of size ``n``."""
    from sklearn.neighbors import KNeighborsClassifier

    out = {}
    cohort = _read_table(work / f"map_{n}.embedding.tsv")
    placed = _read_table(work / f"placed_{n}.embedding.tsv")
    cohort_pcs = _read_table(work / f"map_{n}.pcscores")
    placed_pcs = _read_table(work / f"placed_{n}.pcscores")
    spaces = {
        "map (DIM1-2)": (cohort[["DIM1", "DIM2"]], placed[["DIM1", "DIM2"]]),
        "PC1-2": (cohort_pcs[["PC1", "PC2"]], placed_pcs[["PC1", "PC2"]]),
        "PC1-10": (cohort_pcs[[f"PC{i}" for i in range(1, 11)]],
                   placed_pcs[[f"PC{i}" for i in range(1, 11)]]),
    }  # fmt: skip
    for name, (train, test) in spaces.items():
        knn = KNeighborsClassifier(n_neighbors=20).fit(train.to_numpy(), panel[train.index])
        out[name] = float((knn.predict(test.to_numpy()) == panel[test.index].to_numpy()).mean())
    return out


def fit_growth(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least-squares ``log seconds = log a + b log N``; returns (a, b)."""
    b, log_a = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(log_a)), float(b)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--work", default="workflows/runs/structured_scale",
                        help="files and finished steps (kept: a rerun resumes)")  # fmt: skip
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--variants", type=int, default=100000)
    parser.add_argument("--new", type=int, default=10000, help="samples projected afterwards")
    parser.add_argument("--fit-subset", type=int, default=5000)
    parser.add_argument("--note", default="", help="conditions of the run (e.g. the load)")
    parser.add_argument("--no-plink2-from", type=int, default=None,
                        help="leave plink2 out at this size and above (the report says so)")  # fmt: skip
    parser.add_argument("--no-exact", action="store_true",
                        help="skip the exact solver at the smallest size (e.g. a rerun of one "
                             "large size, where its n x n matrix does not fit)")  # fmt: skip
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is not installed (Debian package plink2)")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    done_file = work / "steps.json"
    done = json.loads(done_file.read_text()) if done_file.exists() else {}

    def step(name: str, command: list[str]) -> dict:
        if name not in done:
            seconds, peak = _measure_in_fresh_process(command)
            done[name] = {"seconds": seconds, "peak_rss_mib": peak}
            done_file.write_text(json.dumps(done, indent=1))
        print(name, f"{done[name]['seconds']:.1f} s", f"{done[name]['peak_rss_mib']:,.0f} MiB",
              flush=True)  # fmt: skip
        return done[name]

    largest = sizes[-1]
    if "simulate" not in done:
        t0 = time.perf_counter()
        parts = {f"cohort_{n}": (0, n) for n in sizes} | {"new": (largest, largest + args.new)}
        info = write_structured_cohort(work, parts, n_variants=args.variants)
        done["simulate"] = {"seconds": time.perf_counter() - t0, **info}
        done_file.write_text(json.dumps(done, indent=1))
    print("simulate", json.dumps(done["simulate"]), flush=True)
    panel = pd.read_csv(work / "panel.tsv", sep="\t").set_index("sample")["pop"]

    ours = [sys.executable, "-m", "ddvi_genomics"]
    step("convert new", ours + ["convert", str(work / "new.bed"), "--out", str(work / "new.vcz")])
    results = {}
    for n in sizes:
        store, prefix = work / f"cohort_{n}.vcz", work / f"map_{n}"
        row = {"convert": step(f"{n} convert", ours + [
            "convert", str(work / f"cohort_{n}.bed"), "--out", str(store)])}  # fmt: skip
        row["infer"] = step(f"{n} infer", ours + [
            "infer", str(store), "--out-of-core", "--fit-subset", str(args.fit_subset),
            "--panel", str(work / "panel.tsv"), "--threads", "2", "-q", "--out", str(prefix)])  # fmt: skip
        row["project"] = step(f"{n} project", ours + [
            "project", str(work / "new.vcz"), "--model", f"{prefix}.model.pt", "--threads", "2",
            "-q", "--out", str(work / f"placed_{n}")])  # fmt: skip
        if args.no_plink2_from is not None and n >= args.no_plink2_from:
            row["plink2 --pca approx 10"] = None
        else:
            row["plink2 --pca approx 10"] = step(f"{n} plink2 pca approx", [
                "plink2", "--bfile", str(work / f"cohort_{n}"), "--maf", "0.01", "--geno",
                "0.1", "--pca", "approx", "10", "--threads", "2", "--out",
                str(work / f"plink_{n}")])  # fmt: skip
        log = (work / f"map_{n}.log").read_text()
        row["pca_step_seconds"] = float(PCA_DONE.search(log).group(1))
        row["stage_lines"] = [line for line in log.splitlines() if "done in" in line]
        row["metrics"] = json.loads((work / f"map_{n}.metrics.json").read_text())
        if row["plink2 --pca approx 10"] is not None:
            row["pc_r_vs_plink2"] = pc_agreement(work / f"map_{n}.eigenvec",
                                                 work / f"plink_{n}.eigenvec")  # fmt: skip
            row["subspace_vs_plink2"] = subspace_agreement(work / f"map_{n}.eigenvec",
                                                           work / f"plink_{n}.eigenvec")  # fmt: skip
        row["new_sample_knn20"] = new_sample_accuracy(work, n, panel)
        if n == sizes[0] and not args.no_exact:
            row["exact"] = step(f"{n} infer exact pca", ours + [
                "infer", str(store), "--out-of-core", "--method", "pca", "--pca-solver",
                "exact", "--threads", "2", "-q", "--out", str(work / f"exact_{n}")])  # fmt: skip
            row["pc_r_vs_exact"] = pc_agreement(work / f"map_{n}.eigenvec",
                                                work / f"exact_{n}.eigenvec")  # fmt: skip
            ours_vals = np.loadtxt(work / f"map_{n}.eigenval")[:10]
            exact_vals = np.loadtxt(work / f"exact_{n}.eigenval")[:10]
            row["eigenval_rel_diff_vs_exact"] = float(np.max(np.abs(ours_vals / exact_vals - 1)))
        results[n] = row
        write_report(args, sizes, done, results)


def write_report(args, sizes: list[int], done: dict, results: dict) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    sim = done["simulate"]
    rows = []
    for n, row in results.items():
        store_to_map = row["convert"]["seconds"] + row["infer"]["seconds"]
        plink = row["plink2 --pca approx 10"]
        plink_cells = ["not run", "-"] if plink is None else [
            f"{plink['seconds']:,.0f} / {plink['peak_rss_mib']:,.0f}",
            f"{row['pca_step_seconds'] / plink['seconds']:.2f}"]  # fmt: skip
        rows.append([
            f"{n:,}", f"{row['convert']['seconds']:,.0f} / {row['convert']['peak_rss_mib']:,.0f}",
            f"{row['infer']['seconds']:,.0f} / {row['infer']['peak_rss_mib']:,.0f}",
            f"{row['pca_step_seconds']:,.1f}", *plink_cells,
            f"{row['project']['seconds']:,.0f} / {row['project']['peak_rss_mib']:,.0f}",
            f"{store_to_map / 60:.1f}",
        ])  # fmt: skip
    quality = []
    for n, row in results.items():
        m, new = row["metrics"], row["new_sample_knn20"]
        quality.append([
            f"{n:,}", f"{m.get('knn20_cv_accuracy_population', float('nan')):.3f}",
            f"{m.get('trustworthiness_k10', float('nan')):.3f}",
            f"{new['map (DIM1-2)']:.3f}", f"{new['PC1-2']:.3f}", f"{new['PC1-10']:.3f}",
            *([f"{min(row['pc_r_vs_plink2']):.4f}", f"{row['subspace_vs_plink2']:.4f}"]
              if "pc_r_vs_plink2" in row else ["-", "-"]),
        ])  # fmt: skip
    lines = [
        f"# Scaling on a structured cohort: {', '.join(f'{n:,}' for n in sizes)} samples x "
        f"{sim['variants_written']:,} SNPs",
        "",
        f"msprime, eleven populations split as a ladder (F_ST 0.01 to 0.05 from the first), "
        f"sizes falling as 1/rank ({sim['per_population']}), 1 % missing calls; "
        f"{sim['variants_written']:,} of {sim['common_sites']:,} common sites (MAF >= 0.01) of "
        f"{sim['sites_simulated']:,} simulated; simulating and writing the `.bed` files took "
        f"{sim['seconds']:.0f} s. Each step in its own process on 2 threads; time in seconds / "
        "peak resident memory in MiB of that process. " + args.note,
        "",
        *markdown_table(["samples", "convert", "infer --out-of-core (DDVI)", "of which PCA s",
                         "plink2 --pca approx 10", "PCA ours / plink2",
                         f"project {args.new:,} new", "store to map min"], rows),
        "",
        "Map quality and PC agreement (kNN20 accuracy of the population; new samples are "
        "classified from the cohort's coordinates in each space):",
        "",
        *markdown_table(["samples", "map kNN20 (5-fold)", "trustworthiness k10",
                         "new: map", "new: PC1-2", "new: PC1-10", "min PC1-10 |r| vs plink2",
                         "PC1-10 subspace (min canonical r) vs plink2"], quality),
        "",
    ]  # fmt: skip
    for n, row in results.items():
        if "pc_r_vs_plink2" in row:
            lines.append(f"- {n:,}: PC1-10 |r| vs plink2 --pca approx: "
                         + ", ".join(f"{r:.4f}" for r in row["pc_r_vs_plink2"]))  # fmt: skip
        if "pc_r_vs_exact" in row:
            lines.append(
                f"- {n:,}: PC1-10 |r| of the randomized solver vs the exact one "
                f"({row['exact']['seconds']:.0f} s, {row['exact']['peak_rss_mib']:,.0f} MiB): "
                + ", ".join(f"{r:.5f}" for r in row["pc_r_vs_exact"])
                + f"; eigenvalues within {row['eigenval_rel_diff_vs_exact']:.1e} (relative)"
            )
    if len(results) >= 2:
        ns = list(results)
        lines += ["", "Growth fitted as seconds = a N^b (and peak MiB = a N^b) over the sizes run:",
                  ""]  # fmt: skip
        with_plink = [n for n in ns if results[n]["plink2 --pca approx 10"] is not None]
        fits = {
            "infer seconds": (ns, [results[n]["infer"]["seconds"] for n in ns]),
            "PCA step seconds": (ns, [results[n]["pca_step_seconds"] for n in ns]),
            "plink2 --pca approx seconds": (with_plink, [
                results[n]["plink2 --pca approx 10"]["seconds"] for n in with_plink]),
            "infer peak MiB": (ns, [results[n]["infer"]["peak_rss_mib"] for n in ns]),
            "convert seconds": (ns, [results[n]["convert"]["seconds"] for n in ns]),
            "project seconds": (ns, [results[n]["project"]["seconds"] for n in ns]),
        }  # fmt: skip
        for name, (at, values) in fits.items():
            if len(at) < 2:
                continue
            a, b = fit_growth(at, values)
            lines.append(f"- {name}: b = {b:.2f}; at 500,000: {a * 5e5**b:,.0f}, at 1,000,000: "
                         f"{a * 1e6**b:,.0f} (extrapolated)")  # fmt: skip
    lines += [
        "",
        "Command: `python -m workflows.bench.structured_scale --out workflows/results/bench "
        f"--sizes {args.sizes} --variants {args.variants} --new {args.new} "
        f"--fit-subset {args.fit_subset}"
        + ("" if args.no_plink2_from is None else f" --no-plink2-from {args.no_plink2_from}")
        + (" --no-exact" if args.no_exact else "")
        + "`",
    ]
    record = {"sizes": sizes, "variants": args.variants, "new": args.new,
              "fit_subset": args.fit_subset, "steps": done,
              "results": {str(k): v for k, v in results.items()},
              "provenance": provenance()}  # fmt: skip
    write_result(args.out, "structured_scale_cpu", record, lines)


if __name__ == "__main__":
    main()
