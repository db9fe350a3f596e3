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


def remove_dead_temporaries(final: str | os.PathLike) -> None:
    """Delete ``FINAL*.tmp-PID`` files and folders whose process no longer runs (a killed run)."""
    final = Path(final)
    for tmp in final.parent.glob(f"{final.name}*{TEMPORARY_MARK}*"):
        pid = pid_in(tmp.name.rsplit(TEMPORARY_MARK, 1)[-1])
        if pid is not None and not is_alive(pid):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def pid_in(text: str) -> int | None:
    """Return the process ID written in ``text`` (a lock file, a temporary name's tail), or None."""
    text = text.strip()
    return int(text) if text.isdigit() else None


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True
