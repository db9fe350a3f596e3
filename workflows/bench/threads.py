"""Thread counts on a busy machine: ``infer --example`` with --threads 1, 2, all cores and auto,
with the machine idle and with busy processes competing for its cores.

Each setting runs ``ddvi-genomics infer --example --epochs E`` in its own subprocess (wall time
measured around it); the load is ``--load`` busy-looping Python processes started before and
stopped after the timed runs, which emulates a shared server whose load average exceeds its
core count. "all cores" is what torch picks on its own (its default before ``--threads auto``).
Settings run in a rotated order per repeat so that no setting always runs first.

Usage: python -m workflows.bench.threads --out workflows/results/bench [--load 4] [--epochs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _busy() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def time_infer(threads: str, epochs: int, folder: Path) -> tuple[float, str]:
    """Run infer once; return wall seconds and the SHA-256 of the embedding table."""
    out = folder / f"t{threads}-{time.monotonic_ns()}"
    command = [
        sys.executable, "-m", "ddvi_genomics", "infer", "--example", "--out", str(out),
        "--epochs", str(epochs), "--threads", threads, "--device", "cpu", "-q",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256(Path(f"{out}.embedding.tsv").read_bytes()).hexdigest()[:12]
    return seconds, digest


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from ddvi_genomics.threads import auto_threads, usable_cores
    from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--load", type=int, default=4, help="Busy processes in the loaded runs.")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    cores = usable_cores()
    settings = ["1", "2", str(cores), "auto"] if cores > 2 else ["1", str(cores), "auto"]
    rows, record_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for load in (0, args.load):
            workers = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(load)]
            for w in workers:
                w.start()
            time.sleep(2 if load else 0)  # let them start spinning
            try:
                chosen = auto_threads()
                times = {s: [] for s in settings}
                digests = {s: set() for s in settings}
                for r in range(args.repeats):
                    for s in settings[r % len(settings) :] + settings[: r % len(settings)]:
                        seconds, digest = time_infer(s, args.epochs, Path(tmp))
                        times[s].append(seconds)
                        digests[s].add(digest)
            finally:
                for w in workers:
                    w.terminate()
                for w in workers:
                    w.join()
            for s in settings:
                mean, half = mean_ci(times[s])
                label = f"auto (= {chosen})" if s == "auto" else s
                rows.append([load, label, format_mean_ci(mean, half, 1), len(times[s]),
                             ", ".join(sorted(digests[s]))])  # fmt: skip
                record_rows.append({"load_processes": load, "threads": s, "auto_chose": chosen,
                                    "seconds": times[s], "embedding_sha256": sorted(digests[s])})  # fmt: skip
    lines = [
        f"# Threads under load: `infer --example --epochs {args.epochs}` ({cores} usable cores)",
        "",
        f"Wall seconds (mean ± 95 % t-interval over {args.repeats} repeats) with no competing "
        f"process and with {args.load} busy-looping processes. 'all cores' is torch's own "
        f"default ({cores}).",
        "",
        *markdown_table(
            ["competing busy processes", "--threads", "wall s", "runs", "embedding SHA-256"], rows
        ),
        "",
        "Command: `python -m workflows.bench.threads --out workflows/results/bench "
        f"--load {args.load} --epochs {args.epochs} --repeats {args.repeats}`",
    ]
    record = {
        "rows": record_rows,
        "cores": cores,
        "epochs": args.epochs,
        "provenance": provenance({"load_processes": args.load}),
    }
    write_result(args.out, "threads_cpu", record, lines)


if __name__ == "__main__":
    main()
