"""Contig names: ``chr1`` and ``1`` (and PLINK's numeric codes 23-26) are the same contig.

Also the ``CHR[:START[-END]]`` region syntax of bcftools and samtools.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .errors import InputError

_REGION = re.compile(r"^(?P<contig>[^:\s]+)(:(?P<start>[\d,]+)(-(?P<end>[\d,]+))?)?$")


def parse_region(region: str) -> tuple[str, int, int | None]:
    """Parse ``CONTIG``, ``CONTIG:START`` or ``CONTIG:START-END`` (1-based, inclusive).

    Raises
    ------
    InputError
        For any other form, or END < START.
    """
    match = _REGION.match(region.strip()) if region else None
    if match is None:
        raise InputError(
            f"bad --region {region!r}: expected CONTIG, CONTIG:START or CONTIG:START-END (e.g. 1:1000-2000)"
        )
    start = int(match["start"].replace(",", "")) if match["start"] else 1
    end = int(match["end"].replace(",", "")) if match["end"] else None
    if end is not None and end < start:
        raise InputError(f"bad --region {region!r}: END {end} is before START {start}")
    return match["contig"], start, end


_PLINK_HUMAN_CONTIG_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
"""PLINK's numeric codes for the human sex chromosomes, pseudo-autosomal region and
mitochondria (a ``.bim`` from PLINK 1.9 writes X as 23), and ``chrM``'s ``M``; plink2 reads each
code and its name as one contig."""


def normalize_contig(contig) -> str:
    """Return the name that identifies a contig when contigs are compared.

    The ``chr`` prefix is dropped (``chr1`` and ``1`` name the same contig), and PLINK's human
    codes name their contigs as plink2 reads them: 23 is X, 24 Y, 25 XY, 26 and M are MT. (A
    genome with more than 22 numbered chromosomes would need its 23 kept apart from X; plink2
    asks for a species flag then, and this tool does not offer one.)
    """
    name = str(contig)
    name = name[3:] if name.lower().startswith("chr") else name
    return _PLINK_HUMAN_CONTIG_CODES.get(name, name)


def contig_name_codes(contig) -> tuple[np.ndarray, np.ndarray]:
    """Code each row's contig by its :func:`normalize_contig` name.

    Names are normalised once per distinct contig, not once per variant.

    Parameters
    ----------
    contig : array-like of str, shape (n_variants,)

    Returns
    -------
    codes : np.ndarray, int64, shape (n_variants,)
        Numbered in order of first appearance; ``chr1`` and ``1`` share a code.
    names : np.ndarray of str, shape (n_contigs,)
        ``names[codes]`` is each row's normalised name.
    """
    raw_codes, raw_names = pd.factorize(np.asarray(contig, dtype=object), use_na_sentinel=False)
    normalized = np.array([normalize_contig(name) for name in raw_names], dtype=object)
    name_codes, names = pd.factorize(normalized, use_na_sentinel=False)  # first appearance kept
    return name_codes[raw_codes].astype(np.int64), np.asarray(names, dtype=object)


#: The names of the human reference's sequences besides 1-22, X, Y, XY and MT: unplaced and
#: unlocalised scaffolds, alternative haplotypes, patches, decoys (GRCh37 and GRCh38 releases).
_HUMAN_EXTRA = re.compile(
    r"^((GL|KI|JH|KN|KQ|KV|KZ|ML|MU|NC_|NT_|NW_)[0-9]|hs37d5|hs38d1|EBV|HLA-|Un_|chrUn_)"
    r"|_(random|alt|decoy|fix)$",
    re.IGNORECASE,
)
_HUMAN_CHROMOSOMES = {str(i) for i in range(1, 23)} | {"X", "Y", "XY", "MT"}


def foreign_contigs(contig) -> list[str]:
    """Return the contigs not named as in the human reference, in order of first appearance.

    A non-empty answer says the genome is not human (Drosophila's ``2L``, a dog's ``38``) or the
    naming is unusual, so filters that assume human chromosomes (autosomes 1-22) must not be
    applied silently.
    """
    names = pd.unique(np.asarray(contig, dtype=object))
    return [
        str(n)
        for n in names
        if normalize_contig(n) not in _HUMAN_CHROMOSOMES and not _HUMAN_EXTRA.search(str(n))
    ]


def _same_contig(a: str, b: str) -> bool:
    return normalize_contig(a) == normalize_contig(b)


def contig_codes(contig) -> np.ndarray:
    """Integer code of each row's contig, numbered in order of first appearance, shape (n,).

    ``chr1`` and ``1`` get the same code (:func:`~.io.contig_name_codes`).
    """
    return contig_name_codes(contig)[0]
