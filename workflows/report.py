"""One way to write a benchmark result: a JSON record and a Markdown table with a provenance footer.

Every script under ``workflows/`` ends with :func:`write_result`, so tables, intervals and
provenance read the same everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from ddvi_genomics.core.metrics import t_interval


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and 95 % Student-t half-width (None for a single value)."""
    values = list(values)
    if len(values) == 1:
        return float(values[0]), None
    mean, half = t_interval(values)
    return float(mean), float(half)


def format_mean_ci(mean: float, half: float | None, digits: int = 3) -> str:
    """``0.370 ± 0.012`` (or ``0.370`` without an interval)."""
    text = f"{mean:.{digits}f}"
    return text if half is None else f"{text} ± {half:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def provenance_footer(record: dict) -> str:
    """``Provenance: commit ..., torch ..., platform, N CPUs, date.`` from a provenance record."""
    versions = record.get("versions", {})
    device = record.get("cuda_device") or f"{record.get('cpu_count')} CPUs"
    return (
        f"Provenance: commit {record.get('git_commit')}, torch {versions.get('torch')}, "
        f"{record.get('platform')}, {device}, {record.get('date_utc')}."
    )


def write_result(out_dir, stem: str, record: dict, lines: list[str]) -> None:
    """Write ``stem.json`` (the record) and ``stem.md`` (lines + provenance footer); print the table.

    ``record["provenance"]`` must hold a :func:`ddvi_genomics.provenance.provenance` record.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")
    text = "\n".join([*lines, "", provenance_footer(record["provenance"]), ""])
    (out / f"{stem}.md").write_text(text)
    print(text)


def _jsonable(value):
    """NumPy scalars become numbers; anything else its string form."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
