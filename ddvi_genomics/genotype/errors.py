"""The error type that the command line turns into one line and exit code 2, and range checks."""

from __future__ import annotations

import numpy as np


class InputError(ValueError):
    """Bad user input (file, sample, value); the message names it and what is allowed."""


def check_range(name: str, value, low, high, *, integer: bool = False) -> None:
    """Raise ``InputError`` naming the option unless ``low <= value <= high`` (None: unbounded)."""
    ok = (
        isinstance(value, int | np.integer)
        if integer
        else isinstance(value, int | float | np.number)
    )
    ok = ok and not isinstance(value, bool) and value == value  # NaN fails
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        kind = "an integer" if integer else "a number"
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise InputError(f"{name} must be {kind} {bounds}; got {value!r}")
