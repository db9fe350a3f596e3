"""Seconds per epoch of each DDVI training phase on full MNIST, per ``--compile`` mode.

Runs ``python -m vision train --dataset mnist --method ddvi --prior pinwheel --epochs N`` (N
epochs of every phase: prior pre-training, stage 1, stage 2) for each mode, reads the epoch
seconds from the run's ``history.csv``, and projects the reference protocol (the preset's epochs
of each phase) from them. A phase's first epoch holds the one-off costs (the first eager step
and the recording of each graph, or compilation): with N = 1 the projection counts them in every
epoch, an upper bound; from N = 2 they are counted once.

Usage: python -m workflows.bench.mnist_epoch --out workflows/results/bench --device cuda
       --data-dir DIR [--compile cuda-graph,off] [--subset N] [--epochs 2]
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
        "--prior", "pinwheel", "--epochs", str(args.epochs), "--device", args.device,
        "--compile", mode,
        "--out", str(out), "--test-subset", "1000",
    ]  # fmt: skip
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.subset:
        cmd += ["--subset", str(args.subset)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    per_epoch: dict[str, list[float]] = {}
    with open(out / "history.csv") as fh:
        for row in csv.DictReader(fh):
            per_epoch.setdefault(row["phase"], []).append(float(row["seconds"]))
    return {
        "compile": mode,
        "wall_s": wall,
        "epoch_seconds": per_epoch,  # phase -> seconds of each epoch run
        "phase_seconds": {p: s[-1] for p, s in per_epoch.items()},  # the last epoch's
    }


def projected_minutes(epoch_seconds: dict[str, list[float]], epochs: dict[str, int]) -> float:
    """Minutes of the protocol: each phase's first epoch once, its last epoch for the rest.

    The first epoch holds the one-off costs (recording, compiling); with one epoch measured
    the projection counts them in every epoch, an upper bound.
    """
    total = 0.0
    for phase, n in epochs.items():
        seconds = epoch_seconds.get(phase)
        if seconds and n:
            total += seconds[0] + (n - 1) * seconds[-1]
    return total / 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", default="off")
    parser.add_argument("--data-dir")
    parser.add_argument("--subset", type=int, help="first N training images (a dry run)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=1,
        help="epochs of every phase; from 2 on, the first epoch's one-off costs (recording, "
        "compiling) are counted once in the projection instead of in every epoch",
    )
    args = parser.parse_args()
    epochs = protocol_epochs()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.compile.split(","):
            run = run_mode(mode, args, Path(scratch))
            run["protocol_minutes"] = projected_minutes(run["epoch_seconds"], epochs)
            runs.append(run)
            print(run, file=sys.stderr)
    from ddvi_genomics.provenance import provenance

    phases = list(epochs)
    lines = [
        f"# DDVI on {f'the first {args.subset}' if args.subset else 'full'} MNIST: seconds "
        f"per epoch of each phase ({args.device})",
        "",
        f"{args.epochs} epoch(s) of every phase through `python -m vision train ... --epochs "
        f"{args.epochs}`; the table shows each phase's last epoch. Protocol minutes: each "
        f"phase's first epoch plus its last epoch times the rest of the preset's epochs "
        f"({epochs}); with one epoch run that is an upper bound (recording or compiling is "
        "counted in every epoch).",
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
        f"--compile {args.compile} --epochs {args.epochs}`",
    ]
    record = {"benchmark": "mnist_epoch", "epochs": epochs, "runs": runs}
    record["provenance"] = provenance()
    write_result(args.out, f"mnist_epoch_{args.device}", record, lines)


if __name__ == "__main__":
    main()
