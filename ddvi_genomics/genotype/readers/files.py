"""Checks shared by the readers: an input path that names a readable file."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError


def readable_file(path, what: str) -> Path:
    """Return ``path`` as a Path; ``InputError`` naming ``what`` unless it is a readable file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} is not readable")
    return path
