"""Benchmarks: each writes a table with provenance under ``workflows/results``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def variant_in_subprocess(module: str, variant: str) -> dict:
    """Run ``python -m module`` again with this process's arguments plus ``--variant variant``.

    Each variant gets a process of its own (its peak memory is its own); it prints its result as
    the last line of JSON, which is returned.
    """
    cmd = [sys.executable, "-m", module, *sys.argv[1:], "--variant", variant]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result, file=sys.stderr)
    return result
