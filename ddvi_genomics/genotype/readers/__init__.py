"""Genotype readers, one module per format, and :func:`read_genotypes`, which picks one.

Every reader returns a :class:`~..matrix.GenotypeMatrix`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..matrix import GenotypeMatrix
from .panel import read_panel
from .plink import read_pgen, read_plink
from .store import looks_like_store, read_store
from .vcf import read_vcf

__all__ = ["read_genotypes", "read_panel", "read_pgen", "read_plink", "read_store", "read_vcf"]


def read_genotypes(path: str | os.PathLike, **kwargs) -> GenotypeMatrix:
    """Dispatch: a VCF Zarr store, ``.bed`` / ``.pgen`` (or their prefix), else VCF/BCF."""
    p = Path(path)
    if looks_like_store(p):
        if kwargs.get("region"):
            raise InputError("--region is supported for VCF/BCF input only")
        return read_store(p, samples=kwargs.get("samples"))
    for suffix, reader in ((".bed", read_plink), (".pgen", read_pgen)):
        if p.suffix == suffix or (not p.exists() and p.with_name(p.name + suffix).exists()):
            if kwargs.get("region"):
                raise InputError("--region is supported for VCF/BCF input only")
            return reader(p, samples=kwargs.get("samples"))
    return read_vcf(p, **kwargs)
