"""Choosing samples: PLINK-style keep / remove files and the column indices they select.

PLINK names a sample by its family and individual IDs together, (FID, IID); an IID may repeat in
different families. Here a sample's *key* is its IID where every IID of the data is unique (VCF
names, most cohorts), and ``"FID IID"`` (one space; PLINK IDs hold no whitespace) for every
sample where some IID repeats: :func:`sample_keys`. A list of wanted samples may name them by key
or, where that is unambiguous, by IID.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import InputError
from .textfile import read_user_text

log = logging.getLogger("ddvi_genomics")


class SampleSet(frozenset):
    """IIDs read from a keep / remove file, with their ``"FID IID"`` keys when it has FIDs.

    A frozenset of IIDs (what most callers need), plus ``pairs``: the frozenset of ``"FID IID"``
    keys when the file has a FID column, else None. :func:`select_samples` matches on ``pairs``
    where the data's IIDs repeat across families, as PLINK matches on (FID, IID).
    """

    pairs: frozenset[str] | None

    def __new__(cls, iids, pairs=None):
        """Make the set of ``iids`` (iterable of str); ``pairs``: "FID IID" keys, or None."""
        obj = super().__new__(cls, iids)
        obj.pairs = None if pairs is None else frozenset(pairs)
        return obj


def sample_keys(iid, family=None) -> list[str]:
    """Each sample's key, length n_samples: its IID, or ``"FID IID"`` where some IID repeats.

    Parameters
    ----------
    iid : sequence of str, shape (n_samples,)
    family : sequence of str, shape (n_samples,), or None
        FIDs; None (VCF names without an ID rule) keeps IIDs, which must then be unique.
    """
    iid = [str(s) for s in iid]
    if not keys_are_pairs(iid, family):
        return iid
    return pair_keys(family, iid)


def pair_keys(family, iid) -> list[str]:
    """``"FID IID"`` of each sample (the key format; PLINK IDs hold no whitespace)."""
    return [f"{f} {s}" for f, s in zip(family, iid)]


def keys_are_pairs(iid, family=None) -> bool:
    """Say whether samples are keyed ``"FID IID"``: FIDs given and some IID repeats."""
    return family is not None and len(set(map(str, iid))) != len(iid)


def read_samples_file(path: str | os.PathLike, option: str = "--keep") -> SampleSet:
    """Sample IDs from a PLINK 2 ``--keep`` / ``--remove`` style file, as a :class:`SampleSet`.

    A set, because PLINK keeps the input's sample order whatever the order of the lines:
    :func:`select_samples` picks a set's samples in the input's order.

    One column means IIDs; two or more mean ``FID IID ...``. A header line starting with
    ``#FID`` or ``#IID`` says which; other ``#`` lines are comments. ``option`` (``--keep``,
    ``--remove``, ``--pca-fit``) names the file in messages.
    """
    path = Path(path)
    text = read_user_text(path, f"{option} file")
    iid_column, fid_column = None, None
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] in ("#FID", "#IID"):
            iid_column = fields.index("IID") if "IID" in fields else 0
            fid_column = 0 if fields[0] == "#FID" else None
            continue
        if fields[0].startswith("#"):
            continue
        if iid_column is None:  # no header: PLINK's FID IID when there are two columns
            index, family = (1, 0) if len(fields) >= 2 else (0, None)
        else:
            index, family = iid_column, fid_column
        if index >= len(fields):
            raise InputError(f"{option} file {path}: line {line!r} has no IID column")
        rows.append((None if family is None else fields[family], fields[index]))
    if not rows:
        raise InputError(f"{option} file {path} lists no sample IDs")
    with_families = all(family is not None for family, _ in rows)
    seen: set = set()
    for family, sample in rows:
        key = (family, sample) if with_families else sample
        if key in seen:
            shown = f"{family} {sample}" if with_families else sample
            raise InputError(f"{option} file {path} lists sample {shown!r} more than once")
        seen.add(key)
    pairs = pair_keys(*zip(*rows)) if with_families else None
    return SampleSet((sample for _, sample in rows), pairs)


def select_samples(
    all_ids: Sequence[str],
    wanted: Sequence[str] | frozenset[str] | None,
    path,
    family: Sequence[str] | None = None,
) -> np.ndarray:
    """Column indices of ``wanted`` in ``all_ids`` (all columns when ``wanted`` is None).

    A sequence gives the columns in its own order, and each of its IDs must be present. A set
    (a ``--keep`` file, see :func:`read_samples_file`) is read as PLINK reads one: its samples
    come in the order of ``all_ids``, and IDs the file lacks are skipped with a warning.

    Parameters
    ----------
    all_ids : sequence of str, shape (n_samples,)
        The data's IIDs.
    wanted : sequence or set of str, or None
        Sample keys or IIDs (see the module docstring).
    family : sequence of str, shape (n_samples,), optional
        The data's FIDs; with them an IID may repeat in different families, and a
        :class:`SampleSet` with FIDs matches on (FID, IID), as PLINK does.

    Raises
    ------
    InputError
        When ``all_ids`` is empty or names a sample twice, a sequence's ID is absent, an IID
        names samples of several families, or no ID of a set is present (``path`` named).
    """
    keys, paired = _matching_keys(all_ids, family, wanted)
    seen, dups = set(), []
    for s in keys:
        if s in seen:
            dups.append(s)
        seen.add(s)
    if dups:
        raise InputError(
            f"{path}: duplicate sample ID {dups[0]!r} ({len(dups)} duplicates); IDs must be unique"
            + ("" if family is None else " within a family")
        )
    if not keys:
        raise InputError(f"{path}: the file has no samples")
    if wanted is None:
        return np.arange(len(keys))
    if paired:
        wanted = wanted_keys(wanted, keys, path)
    index = {s: i for i, s in enumerate(keys)}
    missing = [s for s in wanted if s not in index]
    if isinstance(wanted, set | frozenset):
        missing = sorted(missing)  # a set has no order of its own: name the first in sort order
        chosen = [i for i, s in enumerate(keys) if s in wanted]
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


def sample_mask(all_ids, wanted, path, family=None) -> np.ndarray:
    """Mark the samples ``wanted`` names (IDs it names that the data lacks are ignored).

    Returns
    -------
    np.ndarray of bool, shape (n_samples,)
    """
    keys, paired = _matching_keys(all_ids, family, wanted)
    if paired:
        wanted = wanted_keys(wanted, keys, path)
    wanted = frozenset(wanted)
    return np.array([key in wanted for key in keys], dtype=bool)


def _matching_keys(all_ids, family, wanted) -> tuple[list[str], bool]:
    """Return the keys to match ``wanted`` on, and whether they are ``"FID IID"`` pairs.

    Pairs where IIDs repeat, and wherever both the data and a keep / remove file have FIDs:
    PLINK then matches on (FID, IID).
    """
    file_pairs = isinstance(wanted, SampleSet) and wanted.pairs is not None
    if family is not None and (file_pairs or keys_are_pairs(all_ids, family)):
        return pair_keys(family, all_ids), True
    return [str(s) for s in all_ids], False


#: How :func:`wanted_keys` tells a user to name one of the samples an IID names.
NAME_BY_PAIR = "name one by FID and IID (a '#FID IID' header or two columns)"


def wanted_keys(wanted, keys: list[str], path, hint: str = NAME_BY_PAIR):
    """``wanted`` as ``"FID IID"`` sample ``keys``: a set stays a set, a sequence keeps its order.

    A :class:`SampleSet` with FIDs gives its pairs; any other ID is a key already or an IID of
    exactly one sample.

    Raises
    ------
    InputError
        An IID that names samples of several families (the message lists them, then ``hint``).
    """
    if isinstance(wanted, SampleSet) and wanted.pairs is not None:
        return wanted.pairs
    present = set(keys)
    by_iid: dict[str, list[str]] = {}
    for key in keys:
        by_iid.setdefault(key.split(" ", 1)[1], []).append(key)
    out = []
    for sample in wanted:
        sample = str(sample)
        matches = [sample] if sample in present else by_iid.get(sample, [sample])
        if len(matches) > 1:
            families = ", ".join(repr(k.split(" ", 1)[0]) for k in matches[:3])
            raise InputError(
                f"{path}: IID {sample!r} names samples in families {families}; {hint}"
            )
        out.append(matches[0])
    return frozenset(out) if isinstance(wanted, set | frozenset) else out
