"""Short summaries of the main objects for a terminal (``repr``) and a notebook (HTML table).

A genotype matrix or a map holds arrays of thousands of rows; printing them whole buries the
answer to "what is this?". Each class's ``__repr__`` and ``_repr_html_`` show a title and a few
``name: value`` rows instead (counts, method, metrics).
"""

from __future__ import annotations

import html


def text_summary(title: str, rows: list[tuple[str, str]]) -> str:
    """Return ``Title(name=value, ...)`` on one line."""
    return f"{title}(" + ", ".join(f"{name}={value}" for name, value in rows) + ")"


def html_summary(title: str, rows: list[tuple[str, str]]) -> str:
    """Return a two-column HTML table with a caption: what a notebook shows for the object."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
        f"<td style='text-align:left'>{html.escape(str(value))}</td></tr>"
        for name, value in rows
    )
    return f"<table><caption style='text-align:left'><b>{html.escape(title)}</b></caption>{body}</table>"


def count(n: int) -> str:
    """Format a count with thousands separators (``12,345``)."""
    return f"{int(n):,}"
