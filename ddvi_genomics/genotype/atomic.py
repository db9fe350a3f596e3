"""Atomic writes: a file or folder is written under a temporary name, then renamed into place.

The temporary name is ``FINAL.tmp-PID``; :class:`~.outputs.files.OutputSet` removes such names
left by a process that no longer runs (a killed run), so the convention lives here, once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

TEMPORARY_MARK = ".tmp-"


def temporary_path(final: str | os.PathLike) -> Path:
    """Return the temporary name that ``final`` is written under by this process."""
    final = Path(final)
    return final.with_name(f"{final.name}{TEMPORARY_MARK}{os.getpid()}")


@contextlib.contextmanager
def written_atomically(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` when the block succeeds.

    A folder replaces an existing folder of the same name. On failure the temporary file or
    folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    tmp = temporary_path(final)
    try:
        yield tmp
        if tmp.is_dir() and final.is_dir():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
