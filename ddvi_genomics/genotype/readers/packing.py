"""Write a store's two-bit copy of its genotypes (:mod:`.packed_store`): ``convert`` and ``pack``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ...core.progress import RateProgress
from ..atomic import temporary_path
from ..errors import InputError
from ..packed import MISSING_BYTE, pack_dosage
from .packed_store import PACKED_ARRAY, packed_blocks
from .store import dosage_from_calls, open_root, zarr_module
from .store_integrity import MANIFEST, read_rows, write_manifest
from .store_tasks import bound_malloc_arenas, in_batches


def add_packed_copy(store: str | Path, *, force: bool = False) -> Path:
    """Give a store made by an older version, bio2zarr or sgkit its two-bit copy, in place.

    The store is verified first (its manifest, when it has one); the copy is written under a
    temporary name and renamed into place when complete, then the manifest is written again,
    so an interrupted run leaves the store as it was. ``force`` replaces an existing copy.

    Raises
    ------
    InputError
        When ``store`` is not a VCF Zarr store, or already has the copy (without ``force``).
    """
    store = Path(store)
    root = open_root(store)  # refuses a non-store; verifies the manifest
    had_manifest = (store / MANIFEST).exists()
    if PACKED_ARRAY in root and not force:
        raise InputError(f"{store} already has {PACKED_ARRAY}; use --force to write it again")
    name = temporary_path(store / PACKED_ARRAY).name
    try:
        write_packed_dosage(store, name=name)
        if (store / PACKED_ARRAY).exists():
            shutil.rmtree(store / PACKED_ARRAY)
        os.replace(store / name, store / PACKED_ARRAY)
    finally:
        shutil.rmtree(store / name, ignore_errors=True)
    if had_manifest:  # a store without one (bio2zarr's) is left without one
        write_manifest(store)
    return store


def write_packed_dosage(
    store: str | Path, *, name: str = PACKED_ARRAY, verbose: bool | None = None
) -> None:
    """Add :data:`PACKED_ARRAY` (or an array ``name`` laid out as it) to a store.

    One chunk of variants per Dask task; each task reads its variants one block of whole
    packed chunks at a time, so memory holds about :data:`PACKED_BLOCK_BYTES` x 4 samples'
    calls per task.
    """
    import numcodecs

    bound_malloc_arenas()
    zarr = zarr_module()
    root = zarr.open_group(str(store), mode="r+")
    calls = root["call_genotype"]
    n_variants, n_samples = calls.shape[:2]
    variant_chunk, sample_chunk = int(calls.chunks[0]), int(calls.chunks[1])
    root.create_array(
        name,
        shape=(n_variants, -(-n_samples // 4)),
        chunks=(variant_chunk, max(1, -(-sample_chunk // 4))),
        dtype="uint8",
        fill_value=MISSING_BYTE,
        compressors=numcodecs.Blosc("lz4hc", clevel=5, shuffle=numcodecs.Blosc.NOSHUFFLE),
        attributes={
            "_ARRAY_DIMENSIONS": ["variants", "samples_packed"],
            "description": "ALT allele count of each call at 2 bits (3 = missing), sample s in "
            "bits 2*(s % 4) of byte s // 4 (ddvi-genomics)",
        },
    )
    tasks = [(str(store), lo, min(lo + variant_chunk, n_variants), name)
             for lo in range(0, n_variants, variant_chunk)]  # fmt: skip
    progress = RateProgress("convert: two-bit genotypes", verbose)
    for _ in in_batches(_pack_chunk, tasks, progress=progress):
        pass  # each task writes its own chunks; nothing comes back


def _pack_chunk(store: str, lo: int, hi: int, name: str) -> None:
    """Pack variants ``lo:hi`` of ``call_genotype`` into the array ``name``."""
    root = zarr_module().open_group(store, mode="r+")
    calls, packed = root["call_genotype"], root[name]
    n_samples = calls.shape[1]
    for byte_lo, byte_hi in packed_blocks(packed):
        first, stop = 4 * byte_lo, min(4 * byte_hi, n_samples)
        block = read_rows(calls, lo, hi, store, columns=np.arange(first, stop))
        packed[lo:hi, byte_lo:byte_hi] = pack_dosage(dosage_from_calls(block)[0])
