"""The interactive HTML map at cohort scale: file size and load time in headless chromium.

Random coordinates and 26 populations (the page's work does not depend on where the points
are), with posterior sds. Each page is opened in ``chromium --headless --dump-dom`` at 1200 x 800;
the page records ``performance.now()`` when its script has drawn everything (``data-load-ms``).
Below :data:`~ddvi_genomics.genotype.outputs.html_map.CANVAS_MIN_SAMPLES` the markers are SVG
elements; from it on they are painted on one canvas. The SVG page is also timed at the larger
sizes (by lowering nothing but the switch) to show what the canvas saves.

Usage: python -m workflows.bench.html_map_scale --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

SIZES = (2_504, 10_000, 100_000, 300_000)


def write_page(path: Path, n: int, canvas: bool) -> None:
    """A map of ``n`` random samples, forced to canvas or SVG mode."""
    from ddvi_genomics.genotype.outputs import html_map

    rng = np.random.default_rng(0)
    pops = np.array([f"P{i:02d}" for i in range(26)])[rng.integers(0, 26, n)]
    sups = np.array([f"S{int(p[1:]) // 6}" for p in pops])
    threshold = 0 if canvas else 10**12
    with mock.patch.object(html_map, "CANVAS_MIN_SAMPLES", threshold):
        html_map.write_html_map(path, [f"S{i}" for i in range(n)], rng.normal(size=(n, 2)),
                                rng.uniform(0.01, 0.1, (n, 2)), pops, sups)  # fmt: skip


def load(path: Path) -> dict:
    """Open the page headless; the script's own load time and the browser's wall time."""
    t0 = time.perf_counter()
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,800",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    wall = time.perf_counter() - t0
    found = re.search(r'data-load-ms="(\d+)"', dom)
    ready = re.search(r'data-ready="(\d+)"', dom)
    return {
        "load_ms": int(found.group(1)) if found else None,
        "ready": int(ready.group(1)) if ready else None,
        "browser_wall_s": wall,
    }


def main(argv=None) -> None:
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    args = parser.parse_args(argv)
    rows, results = [], []
    load_average = os.getloadavg()[0]  # other work on the machine slows the browser too
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            for canvas in (False, True):
                if not canvas and n > 100_000:
                    continue  # minutes per SVG page
                page = Path(tmp) / f"m{n}_{canvas}.html"
                write_page(page, n, canvas)
                timing = load(page)
                result = {"n": n, "mode": "canvas" if canvas else "svg",
                          "mib": page.stat().st_size / 2**20, **timing}  # fmt: skip
                results.append(result)
                print(result, flush=True)
                rows.append([f"{n:,}", result["mode"], f"{result['mib']:.1f}",
                             "n/a" if timing["load_ms"] is None else f"{timing['load_ms']:,}",
                             f"{timing['browser_wall_s']:.1f}"])  # fmt: skip
    lines = [
        "# The HTML map at cohort scale (headless chromium, 1200 x 800)",
        "",
        "Load = the page's `performance.now()` when its script has drawn every marker (parsing "
        "the data included); browser wall = the whole `chromium --headless --dump-dom` run "
        "(start-up and serialising the DOM included). The tool switches to the canvas from "
        "10,000 samples on. See `workflows/bench/html_map_scale.py`. Load average at the "
        f"start: {load_average:.1f} on {os.cpu_count()} CPUs.",
        "",
        *markdown_table(["samples", "markers", "MiB", "load ms", "browser wall s"], rows),
    ]
    record = {"protocol": __doc__, "results": results, "load_average": load_average,
              "provenance": provenance({"benchmark": "html_map_scale"})}  # fmt: skip
    write_result(args.out, "html_map_scale", record, lines)


if __name__ == "__main__":
    main()
