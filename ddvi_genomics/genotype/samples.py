"""Choosing samples: PLINK-style keep / remove files and the column indices they select."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import InputError
from .textfile import read_user_text

log = logging.getLogger("ddvi_genomics")


def read_samples_file(path: str | os.PathLike, option: str = "--keep") -> frozenset[str]:
    """Sample IDs from a PLINK 2 ``--keep`` / ``--remove`` style file, as a set.

    A set, because PLINK keeps the input's sample order whatever the order of the lines:
    :func:`select_samples` picks a set's samples in the file's order.

    One column means IIDs; two or more mean ``FID IID ...`` (the IID is used). A header line
    starting with ``#FID`` or ``#IID`` says which; other ``#`` lines are comments. ``option``
    (``--keep``, ``--remove``, ``--pca-fit``) names the file in messages.
    """
    path = Path(path)
    text = read_user_text(path, f"{option} file")
    column = None
    ids = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] in ("#FID", "#IID"):
            column = fields.index("IID") if "IID" in fields else 0
            continue
        if fields[0].startswith("#"):
            continue
        index = column if column is not None else (1 if len(fields) >= 2 else 0)
        if index >= len(fields):
            raise InputError(f"{option} file {path}: line {line!r} has no IID column")
        ids.append(fields[index])
    if not ids:
        raise InputError(f"{option} file {path} lists no sample IDs")
    seen: set[str] = set()
    for sample in ids:
        if sample in seen:
            raise InputError(f"{option} file {path} lists sample {sample!r} more than once")
        seen.add(sample)
    return frozenset(ids)


def select_samples(
    all_ids: Sequence[str], wanted: Sequence[str] | frozenset[str] | None, path
) -> np.ndarray:
    """Column indices of ``wanted`` in ``all_ids`` (all columns when ``wanted`` is None).

    A sequence gives the columns in its own order, and each of its IDs must be present. A set
    (a ``--keep`` file, see :func:`read_samples_file`) is read as PLINK reads one: its samples
    come in the order of ``all_ids``, and IDs the file lacks are skipped with a warning.

    Raises
    ------
    InputError
        When ``all_ids`` is empty or holds duplicates, a sequence's ID is absent, or no ID of a
        set is present (``path`` named).
    """
    seen, dups = set(), []
    for s in all_ids:
        if s in seen:
            dups.append(s)
        seen.add(s)
    if dups:
        raise InputError(
            f"{path}: duplicate sample ID {dups[0]!r} ({len(dups)} duplicates); IDs must be unique"
        )
    if not all_ids:
        raise InputError(f"{path}: the file has no samples")
    if wanted is None:
        return np.arange(len(all_ids))
    index = {s: i for i, s in enumerate(all_ids)}
    missing = [s for s in wanted if s not in index]
    if isinstance(wanted, set | frozenset):
        missing = sorted(missing)  # a set has no order of its own: name the first in sort order
        chosen = [i for i, s in enumerate(all_ids) if s in wanted]
        if not chosen:
            raise InputError(
                f"{path}: none of the {len(wanted)} requested samples is in the file "
                f"(first absent {missing[0]!r})"
            )
        if missing:
            log.warning(
                "%s: %d requested sample(s) not in the file, skipped as PLINK does (first %r); "
                "%d kept", path, len(missing), missing[0], len(chosen),
            )  # fmt: skip
        return np.array(chosen, dtype=np.int64)
    if missing:
        raise InputError(
            f"{path}: {len(missing)} requested sample(s) not in the file, first {missing[0]!r}"
        )
    return np.array([index[s] for s in wanted], dtype=np.int64)
