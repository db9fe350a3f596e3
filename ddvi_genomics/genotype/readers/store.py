"""VCF Zarr stores: convert once (bio2zarr), then read them chunk by chunk like any genotype file.

A store follows the VCF Zarr layout (sgkit / bio2zarr, ``vcf_zarr_version`` 0.x):
``call_genotype`` (variants, samples, ploidy) int8 with -1 for a missing allele and -2 for the
absent second allele of a haploid call, ``variant_contig`` (indices into ``contig_id``),
``variant_position``, ``variant_allele`` (REF then ALTs, "" padded), ``variant_id`` and
``sample_id``. Reading it gives the same :class:`~.io.GenotypeMatrix` as reading the source
file: non-reference allele counts, -1 when any allele is missing, haploid calls counted as
homozygous.

Conversion needs the ``scale`` extra (``pip install 'ddvi-genomics[scale]'``: bio2zarr, zarr).
bio2zarr reads a VCF with more than one contig only through its index (``bcftools index``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import written_atomically
from ..errors import InputError
from ..matrix import GenotypeMatrix, VariantTable
from ..samples import select_samples

REQUIRED_ARRAYS = (
    "call_genotype",
    "variant_contig",
    "contig_id",
    "variant_position",
    "variant_allele",
    "sample_id",
)
STORE_SUFFIXES = (".vcz", ".zarr")


def zarr_module():
    """Return the ``zarr`` module; ``InputError`` with the install line when it is missing."""
    try:
        import zarr
    except ImportError:
        raise InputError(
            "VCF Zarr stores need the zarr package: pip install 'ddvi-genomics[scale]'"
        ) from None
    return zarr


def looks_like_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr store directory (``.zgroup`` or ``zarr.json`` inside)."""
    p = Path(path)
    return p.is_dir() and ((p / ".zgroup").is_file() or (p / "zarr.json").is_file())


def convert_to_store(
    inputs: Sequence[str | os.PathLike],
    store: str | os.PathLike,
    *,
    workers: int = 0,
    variants_chunk_size: int | None = None,
    samples_chunk_size: int | None = None,
) -> Path:
    """Convert VCF/BCF files (one or several, e.g. per chromosome) or one PLINK ``.bed`` to a store.

    Parameters
    ----------
    inputs : sequence of path
    store : path
        The store directory to create (it must not exist).
    workers : int
        bio2zarr worker processes (0 = this process).
    variants_chunk_size, samples_chunk_size : int, optional
        Chunk shape of ``call_genotype`` (bio2zarr's defaults otherwise).

    Raises
    ------
    InputError
        When the store exists, the inputs mix formats, or bio2zarr refuses the input (e.g. a
        multi-contig VCF without an index).
    """
    store = Path(store)
    if store.exists():
        raise InputError(f"store {store} exists; remove it or choose another --out")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise InputError(f"input {p} does not exist")
    try:
        from bio2zarr import plink as b2z_plink
        from bio2zarr import vcf as b2z_vcf
    except ImportError:
        raise InputError(
            "converting to VCF Zarr needs bio2zarr: pip install 'ddvi-genomics[scale]'"
        ) from None
    plink2 = [p for p in paths if p.suffix in (".pgen", ".pvar", ".psam")]
    if plink2:
        raise InputError(
            f"convert reads VCF/BCF files or a PLINK 1 .bed, not {plink2[0]}; make a .bed first "
            f"(plink2 --pfile {plink2[0].with_suffix('')} --make-bed --out NEW) or read the .pgen "
            "directly (infer and project read it block by block)"
        )
    is_bed = [p.suffix == ".bed" for p in paths]
    chunks = dict(variants_chunk_size=variants_chunk_size, samples_chunk_size=samples_chunk_size)
    try:
        if any(is_bed):
            if len(paths) != 1:
                raise InputError("convert one PLINK .bed at a time (or VCF/BCF files only)")
            b2z_plink.convert(str(paths[0].with_suffix("")), str(store), worker_processes=workers,
                              **chunks)  # fmt: skip
        else:
            b2z_vcf.convert(
                [str(p) for p in paths], str(store), worker_processes=workers, **chunks
            )
    except InputError:
        raise
    except Exception as err:  # bio2zarr and htslib raise many types for a bad input
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = " (index it with 'bcftools index')" if "indexed" in message else ""
        raise InputError(f"cannot convert {', '.join(map(str, paths))}: {message}{hint}") from None
    return store


def write_store(
    inputs: Sequence[str | os.PathLike], store: str | os.PathLike, *, force: bool = False, **kwargs
) -> Path:
    """:func:`convert_to_store` into a temporary directory, renamed into place when complete.

    A failed conversion leaves nothing; an existing store is replaced only with ``force`` (and
    only when it is a Zarr store, never another directory or file).
    """
    store = Path(store)
    if not store.parent.is_dir():
        raise InputError(f"output folder {store.parent} does not exist")
    if store.exists():
        if not force:
            raise InputError(f"output {store} exists; use --force to overwrite")
        if not looks_like_store(store):
            raise InputError(f"{store} exists and is not a Zarr store; not overwriting it")
    with written_atomically(store) as tmp:
        convert_to_store(inputs, tmp, **kwargs)
    return store


def read_store(
    path: str | os.PathLike,
    *,
    samples: Sequence[str] | None = None,
    block: int | None = None,
) -> GenotypeMatrix:
    """Read a VCF Zarr store into dosages, one chunk of variants at a time.

    Parameters
    ----------
    path : path
        The store directory.
    samples : sequence of str, optional
        Keep these samples, in this order.
    block : int, optional
        Variants per read (default: the store's chunk length).

    Raises
    ------
    InputError
        When ``path`` is not a VCF Zarr store or lacks a required array.
    """
    path = Path(path)
    root = open_root(path)
    genotypes = root["call_genotype"]
    n_var, n_samp = genotypes.shape[:2]
    sample_ids = as_strings(root["sample_id"][:])
    keep = select_samples(list(sample_ids), samples, path)
    step = block or int(genotypes.chunks[0]) or 1
    dosage = np.empty((n_var, len(keep)), dtype=np.int8)
    haploid = 0
    for lo in range(0, n_var, step):
        hi = min(lo + step, n_var)
        calls = np.asarray(genotypes[lo:hi])[:, keep]  # (v, s, ploidy)
        dosage[lo:hi], n_haploid = dosage_from_calls(calls)
        haploid += n_haploid
    v = variant_arrays(root)
    return GenotypeMatrix(
        dosage, v.contig, v.position, v.id, v.ref, v.alt, sample_ids[keep], haploid
    )


@dataclasses.dataclass
class StoreVariants:
    """A store's variant table: arrays of shape (n_variants,).

    ``alt`` joins several ALT alleles with commas; a missing ID is ``.``.
    """

    contig: np.ndarray
    position: np.ndarray
    id: np.ndarray
    ref: np.ndarray
    alt: np.ndarray


def open_root(path: str | os.PathLike):
    """Open a VCF Zarr store read-only; refuse anything else in one line (:class:`InputError`)."""
    zarr = zarr_module()
    try:
        root = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several types for a non-store
        raise InputError(f"{path} is not a Zarr store: {err}") from None
    missing = [name for name in REQUIRED_ARRAYS if name not in root]
    if missing:
        raise InputError(
            f"{path} is not a VCF Zarr store: it has no {missing[0]!r} array "
            f"(needs {', '.join(REQUIRED_ARRAYS)}; make one with 'ddvi-genomics convert')"
        )
    return root


def variant_arrays(root) -> StoreVariants:
    """Read the variant table of an open store (no genotypes), with array-wide string operations."""
    alleles = _text(root["variant_allele"][:])  # (n_variants, max_alleles), "" pads
    n_var = len(alleles)
    ids = _text(root["variant_id"][:]) if "variant_id" in root else np.full(n_var, ".", _TEXT)
    return StoreVariants(
        as_strings(root["contig_id"][:])[np.asarray(root["variant_contig"][:])],
        np.asarray(root["variant_position"][:]).astype(np.int64),
        np.where(ids == "", ".", ids).astype(object),
        alleles[:, 0].astype(object),
        _joined_alts(alleles).astype(object),
    )


_TEXT = np.dtypes.StringDType()


def _text(values) -> np.ndarray:
    """Zarr string arrays (fixed-width, bytes, object or NumPy's StringDType) as StringDType."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return np.strings.decode(values, "utf-8").astype(_TEXT)
    if values.dtype == object:
        return np.vectorize(str, otypes=[object])(values).astype(_TEXT)
    return values.astype(_TEXT)


def as_strings(values) -> np.ndarray:
    """Zarr string arrays as arrays of Python ``str`` objects."""
    return _text(values).astype(object)


def _joined_alts(alleles: np.ndarray) -> np.ndarray:
    """Comma-joined ALT alleles of each row, skipping empty pads, shape (n_variants,).

    Parameters
    ----------
    alleles : np.ndarray of StringDType, shape (n_variants, max_alleles)
        REF in column 0, then the ALT alleles.
    """
    alt = alleles[:, 1] if alleles.shape[1] > 1 else np.full(len(alleles), "", _TEXT)
    for column in alleles.T[2:]:  # a third or later allele: rare, one array operation each
        joined = np.strings.add(np.strings.add(alt, ","), column)
        alt = np.where(column == "", alt, np.where(alt == "", column, joined))
    return alt


def store_sample_ids(path: str | os.PathLike) -> np.ndarray:
    """Sample IDs of a store, shape (n_samples,) (no genotypes read)."""
    return as_strings(open_root(path)["sample_id"][:])


def read_store_variants(path: str | os.PathLike, keep: np.ndarray | None = None):
    """Sample IDs and the variant table (optionally the ``keep`` rows) of a store, no genotypes.

    Returns
    -------
    sample_id : np.ndarray of str, shape (n_samples,)
    variants : VariantTable
    """
    root = zarr_module().open_group(str(path), mode="r")
    v = variant_arrays(root)
    keep = slice(None) if keep is None else np.asarray(keep)
    variants = VariantTable.from_arrays(
        v.contig[keep], v.position[keep], v.ref[keep], v.alt[keep], v.id[keep]
    )
    return as_strings(root["sample_id"][:]), variants


def dosage_from_calls(calls: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-reference allele counts of VCF Zarr calls.

    Parameters
    ----------
    calls : np.ndarray, int, shape (n_variants, n_samples, ploidy)
        Allele indices; -1 missing, -2 absent (the second slot of a haploid call).

    Returns
    -------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        -1 where any present allele is missing; a haploid call counts twice (PLINK's homozygous
        convention, as the VCF reader does).
    n_haploid : int
        Haploid calls seen.
    """
    present = calls != -2  # int8 sums below: a chunk's temporaries stay 1 byte per call
    missing = (calls == -1).any(axis=2)
    dosage = ((calls > 0) & present).sum(axis=2, dtype=np.int8)
    haploid = present.sum(axis=2, dtype=np.int8) == 1
    dosage[haploid] *= 2
    dosage[missing] = -1
    return dosage, int((haploid & ~missing).sum())
