"""Wall time of ``ddvi-genomics infer --example`` for each ``--compile`` mode, side by side.

Each mode runs the real command in its own process (``python -m ddvi_genomics infer --example``:
read, QC, PCA, DDVI, metrics, plots, model), timed from start to exit, so start-up, CUDA
initialisation and the one-off recording of graphs are all included. The map's quality is read
from the run's ``.metrics.json``, so a faster mode that trains differently would show it.

Usage: python -m workflows.bench.infer_example --out workflows/results/bench --device cuda
       [--compile off,cuda-graph] [--seeds 1] [--first-seed 0] [--recipe ours]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workflows.report import markdown_table, write_result

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("knn20_cv_accuracy_population", "knn20_cv_accuracy_super_population")


def run_once(device: str, mode: str, seed: int, scratch: Path, recipe: str = "ours") -> dict:
    out = scratch / f"{mode}-{seed}" / "1kg"
    out.parent.mkdir()
    cmd = [
        sys.executable, "-m", "ddvi_genomics", "infer", "--example", "--out", str(out),
        "--device", device, "--compile", mode, "--seed", str(seed), "--recipe", recipe, "-q",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    stages, threads = {}, None
    for line in out.with_suffix(".log").read_text().splitlines():
        if line.startswith("threads: "):  # 'threads: {"torch": 2, "blas": 2}'
            threads = json.loads(line[len("threads: ") :]).get("torch")
        if line.startswith("timings: "):  # "timings: qc 0.0 s, pca 0.0 s, embedding 90.4 s, ..."
            for part in line[len("timings: ") :].split(", "):
                name, value, _ = part.split()
                stages[name] = float(value)
    return {
        "compile": mode,
        "seed": seed,
        "seconds": seconds,
        "stage_seconds": stages,
        "torch_threads": threads,
        **{k: metrics[k] for k in KEYS},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", default="off")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    parser.add_argument("--recipe", default="ours", help="DDVI recipe (infer --recipe)")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for mode in args.compile.split(","):
                runs.append(run_once(args.device, mode, seed, Path(scratch), args.recipe))
                print(runs[-1], file=sys.stderr)
                write(args, runs)  # after every run: a later one cut short keeps the earlier


def write(args, runs: list[dict]) -> None:
    """Write the result files for the runs so far."""
    from ddvi_genomics.provenance import provenance

    recipe_flag = "" if args.recipe == "ours" else f" --recipe {args.recipe}"
    lines = [
        f"# `ddvi-genomics infer --example{recipe_flag}` wall time ({args.device})",
        "",
        "The whole command in its own process (start-up, read, QC, PCA, DDVI with 150 stage-2 "
        "epochs, metrics, plots); threads: the torch threads it chose (`--threads auto`), stage "
        "seconds from its log; population and super-population kNN20 from its metrics.",
        "",
        *markdown_table(
            [
                "--compile",
                "seed",
                "threads",
                "wall s",
                "embedding s",
                "metrics s",
                "pop kNN20",
                "super kNN20",
            ],
            (
                [
                    r["compile"],
                    r["seed"],
                    r.get("torch_threads"),
                    f"{r['seconds']:.1f}",
                    f"{r['stage_seconds'].get('embedding', float('nan')):.1f}",
                    f"{r['stage_seconds'].get('metrics', float('nan')):.1f}",
                    f"{r[KEYS[0]]:.3f}",
                    f"{r[KEYS[1]]:.3f}",
                ]
                for r in runs
            ),
        ),  # fmt: skip
        "",
        f"Command: `python -m workflows.bench.infer_example --out OUT --device {args.device} "
        f"--compile {args.compile} --seeds {args.seeds}"
        + (f" --first-seed {args.first_seed}" if args.first_seed else "")
        + f"{recipe_flag}`",
    ]
    record = {"benchmark": "infer_example", "runs": runs, "provenance": provenance()}
    suffix = "" if args.recipe == "ours" else f"_{args.recipe}"
    write_result(args.out, f"infer_example{suffix}_{args.device}", record, lines)


if __name__ == "__main__":
    main()
