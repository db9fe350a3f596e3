"""Write a store's two-bit copy of its genotypes (:mod:`.packed_store`); ``convert`` calls it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.progress import RateProgress
from ..packed import MISSING_BYTE, pack_dosage
from .packed_store import PACKED_ARRAY, packed_blocks
from .store import dosage_from_calls, zarr_module
from .store_integrity import read_rows
from .store_tasks import bound_malloc_arenas, in_batches


def write_packed_dosage(store: str | Path, *, verbose: bool | None = None) -> None:
    """Add :data:`PACKED_ARRAY` to a store, one chunk of variants per Dask task.

    Each task reads its variants one block of whole packed chunks at a time, so memory holds
    about :data:`PACKED_BLOCK_BYTES` x 4 samples' calls per task.
    """
    import numcodecs

    bound_malloc_arenas()
    zarr = zarr_module()
    root = zarr.open_group(str(store), mode="r+")
    calls = root["call_genotype"]
    n_variants, n_samples = calls.shape[:2]
    variant_chunk, sample_chunk = int(calls.chunks[0]), int(calls.chunks[1])
    root.create_array(
        PACKED_ARRAY,
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
    tasks = [(str(store), lo, min(lo + variant_chunk, n_variants))
             for lo in range(0, n_variants, variant_chunk)]  # fmt: skip
    progress = RateProgress("convert: two-bit genotypes", verbose)
    for _ in in_batches(_pack_chunk, tasks, progress=progress):
        pass


def _pack_chunk(store: str, lo: int, hi: int) -> None:
    """Pack variants ``lo:hi`` of ``call_genotype`` into :data:`PACKED_ARRAY`."""
    root = zarr_module().open_group(store, mode="r+")
    calls, packed = root["call_genotype"], root[PACKED_ARRAY]
    n_samples = calls.shape[1]
    for byte_lo, byte_hi in packed_blocks(packed):
        first, stop = 4 * byte_lo, min(4 * byte_hi, n_samples)
        block = read_rows(calls, lo, hi, store, columns=np.arange(first, stop))
        packed[lo:hi, byte_lo:byte_hi] = pack_dosage(dosage_from_calls(block)[0])
