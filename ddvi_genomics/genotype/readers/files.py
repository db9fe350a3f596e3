"""Checks shared by the readers: an input path that names a readable, complete file.

A BGZF file (bgzipped VCF, BCF) ends with a fixed 28-byte empty block, the end-of-file marker of
the SAM/BAM specification (section 4.1.2, https://samtools.github.io/hts-specs/SAMv1.pdf). A
file without it was cut short, possibly at a block boundary, where the remaining blocks still
inflate cleanly: htslib only warns, and the records after the cut would vanish silently. It is
refused here before any record is read. A plain gzip file has no such marker; its truncation
shows while inflating (:func:`inflate_error`).
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from ..errors import InputError

#: The BGZF end-of-file marker: an empty block, 28 bytes.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
BGZF_MAGIC = b"\x1f\x8b\x08\x04"


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


def is_bgzf(head: bytes) -> bool:
    """Whether the first 18 bytes of a file open a BGZF block (gzip with the ``BC`` subfield)."""
    return head[:4] == BGZF_MAGIC and head[12:14] == b"BC"


def check_bgzf_end(path: Path) -> None:
    """Refuse a BGZF file that lacks its end-of-file marker (a file cut short).

    Raises
    ------
    InputError
        Naming the file, when it starts as BGZF and does not end with the marker.
    """
    with open(path, "rb") as handle:
        if not is_bgzf(handle.read(18)):
            return
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - len(BGZF_EOF)))
        tail = handle.read()
    if tail != BGZF_EOF:
        raise InputError(
            f"{path} is truncated: it ends without the BGZF end-of-file marker (a download or "
            "copy cut short); fetch or compress it again"
        )


def inflate_error(path: Path, err: Exception, where: str) -> InputError:
    """Return the one-line error for a compressed input that fails to inflate at ``where``."""
    if isinstance(err, EOFError):
        problem = "the compressed data ends early (the file is truncated)"
    elif isinstance(err, zlib.error):
        problem = f"the compressed data is damaged ({err})"
    else:
        problem = f"{type(err).__name__}: {err}"
    return InputError(f"{path}: cannot decompress {where}: {problem}")


#: What inflating a damaged gzip/BGZF stream raises (gzip.BadGzipFile is an OSError).
INFLATE_ERRORS = (EOFError, zlib.error, OSError)
