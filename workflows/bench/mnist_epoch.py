"""Seconds per epoch of each DDVI training phase on full MNIST, per ``--compile`` mode.

Runs ``python -m vision train --dataset mnist --method ddvi --prior pinwheel --epochs 1`` (one
epoch of every phase: prior pre-training, stage 1, stage 2) for each mode, reads the phase
seconds from the run's ``history.csv``, and projects the reference protocol (the preset's epochs
of each phase) from them. The single epoch holds the one-off costs (the first eager step and
the recording of each graph, or compilation), so the projection is an upper bound.

Usage: python -m workflows.bench.mnist_epoch --out workflows/results/bench --device cuda
       --data-dir DIR [--compile cuda-graph,off] [--subset N]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workflows.report import markdown_table, write_result

ROOT = Path(__file__).resolve().parents[2]


def protocol_epochs() -> dict[str, int]:
    """Epochs of each phase in the reference MNIST DDVI protocol (the vision preset)."""
    from vision import presets

    cfg = presets.config_for("mnist", "ddvi", "pinwheel", False)
    return {
        "prior_diffusion": cfg.prior_pretrain_epochs,  # epochs of 1,000 data-free steps
        "stage1": cfg.stage1_epochs,
        "stage2": cfg.epochs,
    }


def run_mode(mode: str, args, scratch: Path) -> dict:
    out = scratch / mode
    cmd = [
        sys.executable, "-m", "vision", "train", "--dataset", "mnist", "--method", "ddvi",
        "--prior", "pinwheel", "--epochs", "1", "--device", args.device, "--compile", mode,
        "--out", str(out), "--test-subset", "1000",
    ]  # fmt: skip
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.subset:
        cmd += ["--subset", str(args.subset)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(out / "history.csv") as fh:
        seconds = {row["phase"]: float(row["seconds"]) for row in csv.DictReader(fh)}
    return {"compile": mode, "wall_s": wall, "phase_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", default="off")
    parser.add_argument("--data-dir")
    parser.add_argument("--subset", type=int, help="first N training images (a dry run)")
    args = parser.parse_args()
    epochs = protocol_epochs()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.compile.split(","):
            run = run_mode(mode, args, Path(scratch))
            run["protocol_minutes"] = (
                sum(run["phase_seconds"].get(p, 0.0) * n for p, n in epochs.items()) / 60
            )
            runs.append(run)
            print(run, file=sys.stderr)
    from ddvi_genomics.provenance import provenance

    phases = list(epochs)
    lines = [
        f"# DDVI on {f'the first {args.subset}' if args.subset else 'full'} MNIST: seconds "
        f"per epoch of each phase ({args.device})",
        "",
        "One epoch of every phase through `python -m vision train ... --epochs 1`; protocol "
        f"minutes = seconds per epoch x the preset's epochs ({epochs}), an upper bound (the "
        "one epoch includes recording or compiling).",
        "",
        *markdown_table(
            ["--compile", *[f"{p} s" for p in phases], "protocol min (projected)", "wall s"],
            (
                [
                    r["compile"],
                    *[f"{r['phase_seconds'].get(p, 0.0):.1f}" for p in phases],
                    f"{r['protocol_minutes']:.1f}",
                    f"{r['wall_s']:.0f}",
                ]
                for r in runs
            ),
        ),  # fmt: skip
        "",
        f"Command: `python -m workflows.bench.mnist_epoch --out OUT --device {args.device} "
        f"--compile {args.compile}`",
    ]
    record = {"benchmark": "mnist_epoch", "epochs": epochs, "runs": runs}
    record["provenance"] = provenance()
    write_result(args.out, f"mnist_epoch_{args.device}", record, lines)


if __name__ == "__main__":
    main()
