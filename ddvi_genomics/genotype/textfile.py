"""Reading the small text files users hand over: ID lists, ranges, panels, tables.

One reader for all of them, so each refuses the same things the same way, naming the file and
the option it came from: a binary file (a ``.bed`` given to ``--extract``), text that is not
UTF-8, or UTF-16 (a spreadsheet's export). A UTF-8 byte-order mark, which spreadsheet programs
write and which would glue itself to the first ID, is dropped. Windows line ends are accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_MARK = b"\xef\xbb\xbf"


def read_user_text(path: str | os.PathLike, what: str) -> str:
    """Return the text of a user's file, refusing binary and non-UTF-8 content in one line.

    Parameters
    ----------
    path : path
        A regular file or a pipe (``<(cut -f1 keep.txt)``).
    what : str
        How the message names the file, with its option: ``"--keep file"``.

    Raises
    ------
    InputError
        When the file does not exist, is a folder, holds NUL bytes, is UTF-16, or is not UTF-8.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file")
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    if data.startswith(_UTF16_MARKS):
        raise InputError(f"{what} {path} is UTF-16 text; save it as UTF-8 (plain text)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(
            f"{what} {path} is not a text file (binary data at byte {nul}); give a plain-text file"
        )
    try:
        text = data.removeprefix(_UTF8_MARK).decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {err.start}: {data[err.start]:#04x}); "
            "save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n")
