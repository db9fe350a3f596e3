"""Read PLINK 1 (``.bed/.bim/.fam``) and PLINK 2 (``.pgen/.pvar/.psam``) genotypes.

Dosages are ALT (PLINK 1: A1) allele counts, ``-1`` missing; family IDs are kept where the sample
table has them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..matrix import GenotypeMatrix
from ..samples import select_samples

log = logging.getLogger("ddvi_genomics")


# 2-bit code -> count of the .bim A1 allele (col 5); 01 = missing
_BED_CODE_TO_A1 = np.array([2, -1, 1, 0], dtype=np.int8)


_BED_LUT = np.stack([_BED_CODE_TO_A1[(np.arange(256) >> (2 * i)) & 3] for i in range(4)], axis=1)


def read_plink(
    prefix: str | os.PathLike, *, samples: Sequence[str] | None = None
) -> GenotypeMatrix:
    """Read PLINK 1 ``PREFIX.bed/.bim/.fam`` (variant-major) into dosages of the A1 allele.

    The A1 allele (``.bim`` column 5) is taken as ALT and A2 (column 6) as REF, as PLINK writes
    them when converting from VCF.
    """
    prefix = Path(str(prefix).removesuffix(".bed"))
    bed, bim, fam = (prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))
    for f in (bed, bim, fam):
        if not f.is_file():
            raise InputError(f"PLINK file {f} does not exist (need .bed, .bim and .fam)")
    bim_df = read_plink_table(bim, ["chr", "id", "cm", "pos", "a1", "a2"])
    fam_df = read_plink_table(fam, ["fid", "iid", "father", "mother", "sex", "pheno"], min_cols=2)
    n_var, n_samp = len(bim_df), len(fam_df)
    with open(bed, "rb") as fh:
        magic = np.frombuffer(fh.read(3), dtype=np.uint8)
    if magic.size < 3 or magic[0] != 0x6C or magic[1] != 0x1B:
        raise InputError(f"{bed} is not a PLINK 1 .bed file (bad magic number)")
    if magic[2] != 1:
        raise InputError(f"{bed} is sample-major; only variant-major .bed files are supported")
    per_variant = (n_samp + 3) // 4
    body_size = bed.stat().st_size - 3
    if body_size != n_var * per_variant:
        raise InputError(f"{bed} holds {body_size} bytes; .bim/.fam imply {n_var * per_variant}")
    # memory-mapped: only one block of packed rows is unpacked at a time
    packed = np.memmap(bed, dtype=np.uint8, mode="r", offset=3, shape=(n_var, per_variant))
    _check_bed_padding(packed, n_samp, bed, fam)
    keep = select_samples(list(fam_df["iid"]), samples, fam, family=list(fam_df["fid"]))
    dosage = _unpack_bed(packed, n_samp, keep)
    del packed
    return GenotypeMatrix(
        dosage,
        bim_df["chr"].to_numpy(object),
        bim_df["pos"].astype(np.int64).to_numpy(),
        bim_df["id"].to_numpy(object),
        bim_df["a2"].to_numpy(object),
        bim_df["a1"].to_numpy(object),
        fam_df["iid"].to_numpy(object)[keep],
        sample_family=fam_df["fid"].to_numpy(object)[keep],
        sample_founder=founder_mask(fam_df.get("father"), fam_df.get("mother"))[keep],
    )


def founder_mask(father, mother) -> np.ndarray:
    """PLINK's founders: both parent IDs ``0`` (or the columns absent), shape (n_samples,).

    A parent ID that names no sample of the file still makes a non-founder, as in plink2.
    """
    n = len(father) if father is not None else (len(mother) if mother is not None else 0)
    founder = np.ones(n, dtype=bool)
    for parent in (father, mother):
        if parent is not None:  # an absent value (a 2-column .fam) is no parent
            ids = pd.Series(np.asarray(parent, dtype=object)).fillna("0").astype(str).to_numpy()
            founder &= ids == "0"
    return founder


def _unpack_bed(packed: np.ndarray, n_samples: int, keep, block: int = 8192) -> np.ndarray:
    """Dosages of the kept samples from packed ``.bed`` rows, block by block.

    Parameters
    ----------
    packed : np.ndarray, uint8, shape (n_variants, ceil(n_samples / 4))
        May be a memory map.
    keep : np.ndarray of int or bool, or slice
        Samples to keep.

    Returns
    -------
    np.ndarray, int8, shape (n_variants, n_kept)
    """
    n_var = packed.shape[0]
    n_kept = len(np.arange(n_samples)[keep])
    out = np.empty((n_var, n_kept), dtype=np.int8)
    for lo in range(0, n_var, block):
        hi = min(lo + block, n_var)
        rows = _BED_LUT[np.asarray(packed[lo:hi])].reshape(hi - lo, -1)[:, :n_samples]
        out[lo:hi] = rows[:, keep]
    return out


def read_pgen(
    prefix: str | os.PathLike, *, samples: Sequence[str] | None = None, block: int = 8192
) -> GenotypeMatrix:
    """Read PLINK 2 ``PREFIX.pgen/.pvar/.psam`` through pgenlib, one block of variants at a time.

    Dosages count non-reference alleles (``2 -`` the REF count), as for VCF, so a
    multi-allelic site gets the number of non-reference alleles; hard calls only (stored
    dosages are ignored). A ``.pvar`` without a ``#CHROM`` header line is read as a ``.bim``
    and a ``.psam`` without header as a ``.fam``, as PLINK 2 does.
    """
    try:
        import pgenlib
    except ImportError:  # pragma: no cover - a dependency; absent only in broken installs
        raise InputError("reading .pgen needs the pgenlib package (pip install pgenlib)") from None
    prefix = Path(str(prefix).removesuffix(".pgen"))
    pgen, pvar, psam = (prefix.with_name(prefix.name + ext) for ext in (".pgen", ".pvar", ".psam"))
    for f in (pgen, pvar, psam):
        if not f.is_file():
            raise InputError(f"PLINK 2 file {f} does not exist (need .pgen, .pvar and .psam)")
    variants = _read_pvar(pvar)
    sample_table = _plink_sample_table(psam)
    if "IID" not in sample_table.columns:
        raise InputError(f"{psam} has no IID column (columns: {list(sample_table.columns)})")
    iid = sample_table["IID"].to_numpy(object)
    fid = sample_table["FID"].to_numpy(object) if "FID" in sample_table.columns else None
    keep = select_samples(list(iid), samples, psam, family=None if fid is None else list(fid))
    order = np.argsort(keep, kind="stable")  # pgenlib reads an increasing subset
    n_alleles = variants["alt"].str.count(",").to_numpy() + 2
    offsets = np.concatenate([[0], np.cumsum(np.maximum(n_alleles, 2))]).astype(np.uintp)
    try:
        reader = pgenlib.PgenReader(
            bytes(pgen),
            raw_sample_ct=len(iid),
            variant_ct=len(variants),
            sample_subset=np.sort(keep).astype(np.uint32),
            allele_idx_offsets=offsets if (n_alleles > 2).any() else None,
        )
    except RuntimeError as err:
        raise InputError(f"{pgen} cannot be read with {pvar} and {psam}: {err}") from None
    dosage = np.empty((len(variants), len(keep)), dtype=np.int8)
    buffer = np.empty((min(block, max(len(variants), 1)), len(keep)), dtype=np.int8)
    lo = hi = 0
    try:
        for lo in range(0, len(variants), block):
            hi = min(lo + block, len(variants))
            rows = buffer[: hi - lo]
            reader.read_range(lo, hi, rows, allele_idx=0)  # REF counts; -9 = missing
            ref_count = rows[:, np.argsort(order)]
            dosage[lo:hi] = np.where(ref_count < 0, -1, 2 - ref_count)
    except RuntimeError as err:
        raise InputError(
            f"{pgen}: cannot read variants {lo + 1}-{hi} of {pvar} ({err}); the .pgen is "
            "truncated or damaged, or belongs to another .pvar/.psam"
        ) from None
    finally:
        reader.close()
    return GenotypeMatrix(
        dosage,
        variants["chrom"].to_numpy(object),
        variants["pos"].astype(np.int64).to_numpy(),
        variants["id"].to_numpy(object),
        variants["ref"].to_numpy(object),
        variants["alt"].replace(".", "").to_numpy(object),
        iid[keep],
        sample_family=None if fid is None else fid[keep],
        sample_founder=founder_mask(
            sample_table["PAT"] if "PAT" in sample_table.columns else None,
            sample_table["MAT"] if "MAT" in sample_table.columns else None,
        )[keep]
        if {"PAT", "MAT"} & set(sample_table.columns)
        else None,
    )


def _read_pvar(path: Path) -> pd.DataFrame:
    """Variant table of a ``.pvar`` (``#CHROM POS ID REF ALT ...``) or header-less ``.bim``."""
    header = None
    skip = 0
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.startswith("##"):
                skip += 1
                continue
            if line.startswith("#CHROM"):
                header = line.lstrip("#").split()
                skip += 1
            break
    if header is None:  # a .bim: CHROM ID CM POS ALT(A1) REF(A2)
        bim = read_plink_table(path, ["chr", "id", "cm", "pos", "a1", "a2"])
        return pd.DataFrame(
            {"chrom": bim["chr"], "pos": bim["pos"], "id": bim["id"], "ref": bim["a2"],
             "alt": bim["a1"]}
        )  # fmt: skip
    missing = [c for c in ("CHROM", "POS", "ID", "REF", "ALT") if c not in header]
    if missing:
        raise InputError(f"{path}: header has no {missing[0]} column (header: {' '.join(header)})")
    table = pd.read_csv(path, sep="\t", skiprows=skip, header=None, names=header, dtype=str)
    table = table.rename(columns=str.lower)[["chrom", "pos", "id", "ref", "alt"]]
    bad = ~table["pos"].fillna("").str.fullmatch(r"\d+")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}, variant {row + 1}: position {table['pos'][row]!r} is not a non-negative integer"
        )
    return table


def read_plink_table(path: Path, names: list[str], min_cols: int | None = None) -> pd.DataFrame:
    """Read a whitespace-separated ``.bim`` / ``.fam``; every row needs ``min_cols`` fields."""
    need = len(names) if min_cols is None else min_cols
    rows = []
    with open(path, errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < need:
                raise InputError(
                    f"{path}, line {line_no}: {len(fields)} columns; a {path.suffix} row has "
                    f"{len(names)} ({' '.join(names)})"
                )
            rows.append(fields[: len(names)] + [""] * (len(names) - len(fields)))
    table = pd.DataFrame(rows, columns=names, dtype=str)
    if "pos" in table:
        bad = ~table["pos"].str.fullmatch(r"\d+")
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise InputError(
                f"{path}, row {line}: position {table['pos'][line - 1]!r} is not a "
                "non-negative integer"
            )
    return table


def _check_bed_padding(packed: np.ndarray, n_samples: int, bed: Path, fam: Path) -> None:
    """Check that the ``.fam`` row count fits the ``.bed`` exactly, as far as the bits can tell.

    The byte count fixes ``ceil(n / 4)`` only, so a ``.fam`` a row or three off can match it.
    Two signatures remain, checked over every variant:

    * bits after the last sample are non-zero: the ``.bed`` holds calls of samples the ``.fam``
      does not list (PLINK writes zero padding);
    * the last sample reads as code 00 (homozygous A1) at every one of many variants, which is
      what zero padding reads as: a ghost sample from a ``.fam`` row too many. This holds also
      when the ghost fills its byte (``n`` a multiple of 4).

    A ``.bed`` written with non-zero padding by a foreign tool and a ``.fam`` with exactly one
    row too many filling the last byte remain indistinguishable from a real sample.
    """
    if packed.size == 0 or n_samples == 0:
        return
    used = n_samples % 4
    if used:
        padding = packed[:, -1] >> np.uint8(2 * used)
        if padding.any():
            variant = int(np.flatnonzero(padding)[0]) + 1
            raise InputError(
                f"{bed}: variant {variant} has calls after the last of the {n_samples} samples "
                f"in {fam}; the .fam seems to lack rows (PLINK pads with zero bits)"
            )
    last_slot = (n_samples - 1) % 4
    last_code = (packed[:, -1] >> np.uint8(2 * last_slot)) & np.uint8(3)
    if packed.shape[0] >= 32 and not last_code.any():
        raise InputError(
            f"{bed}: the last sample of {fam} reads as homozygous A1 at all {packed.shape[0]} "
            "variants, which is what zero padding looks like; the .fam seems to have an extra row"
        )


FAM_COLUMNS = ["FID", "IID", "PAT", "MAT", "SEX", "PHENO1"]


def _plink_sample_table(path: Path) -> pd.DataFrame:
    """Read a ``.fam`` (no header) or ``.psam`` (``#FID``/``#IID`` header, or none) as strings."""
    with open(path, errors="replace") as fh:
        first = fh.readline()
    if first.startswith(("#FID", "#IID")):
        table = pd.read_csv(path, sep=r"\s+", dtype=str, engine="python")
        return table.rename(columns={table.columns[0]: table.columns[0].lstrip("#")})
    return read_plink_table(path, FAM_COLUMNS, min_cols=2)
