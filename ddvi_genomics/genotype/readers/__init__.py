"""Genotype readers, one module per format, and :func:`read_genotypes`, which picks one.

Every reader returns a :class:`~..matrix.GenotypeMatrix`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..matrix import GenotypeMatrix
from .panel import read_panel
from .plink import read_pgen, read_plink
from .store import looks_like_store, read_store
from .vcf import read_vcf

__all__ = ["read_genotypes", "read_panel", "read_pgen", "read_plink", "read_store", "read_vcf"]


def read_genotypes(
    path: str | os.PathLike,
    *,
    region: str | None = None,
    samples: Sequence[str] | None = None,
    progress: bool | None = None,
) -> GenotypeMatrix:
    """Read genotypes from any supported file: the format is chosen from the path.

    Parameters
    ----------
    path : path
        A VCF Zarr store (folder), a PLINK ``.bed`` or ``.pgen`` (or its prefix), else a VCF,
        bgzipped VCF or BCF.
    region : str, optional
        ``CONTIG[:START[-END]]`` (VCF/BCF only; the index is used when there is one).
    samples : sequence or set of str, optional
        Keep these samples (a sequence: in this order; a set: in the file's order).
    progress : bool, optional
        Rows/s on stderr while reading a VCF (default: only on a terminal).

    Returns
    -------
    GenotypeMatrix
        Dosages ``(n_variants, n_samples)`` int8 with the variant and sample tables.

    Raises
    ------
    InputError
        For a missing, unreadable, truncated or damaged input, unknown samples, or ``region``
        with a non-VCF input.
    """
    p = Path(path)
    plink_reader = None
    for suffix, reader in ((".bed", read_plink), (".pgen", read_pgen)):
        if p.suffix == suffix or (not p.exists() and p.with_name(p.name + suffix).exists()):
            plink_reader = reader
    if (looks_like_store(p) or plink_reader is not None) and region:
        raise InputError("--region is supported for VCF/BCF input only")
    if looks_like_store(p):
        return read_store(p, samples=samples)
    if plink_reader is not None:
        return plink_reader(p, samples=samples)
    return read_vcf(p, region=region, samples=samples, progress=progress)
