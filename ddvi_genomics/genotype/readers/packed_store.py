"""A store's genotypes also at two bits a call (:mod:`..packed`), written by ``convert``.

VCF Zarr keeps each call as two int8 allele indices, compressed: reading a block of 1,000
variants x 10,000 samples decodes 20 MB (about 18 ms of one core, measured with Blosc zstd),
which is most of the time of a counting pass. ``convert`` therefore adds one array beside
``call_genotype`` (:mod:`.packing`):

``call_dosage_packed`` : uint8, shape (variants, ceil(samples / 4))
    ALT allele counts (a haploid call counted twice, -1 for any missing allele, as
    :func:`.store.dosage_from_calls` reads them) at two bits a call, chunked as
    ``call_genotype`` (its sample chunk in bytes, rounded up), Blosc zstd level 3 without
    shuffle: 2.5 MB a block before compression, about 1 MB after on simulated cohorts, decoded
    in about 3 ms.

The out-of-core QC, PCA and projection read it whenever a store has it, and ``call_genotype``
otherwise (stores made by bio2zarr or sgkit directly, or by older versions). Other tools
reading the store see one extra array with its own dimension name (``samples_packed``).
"""

from __future__ import annotations

import numpy as np

from ..packed import unpack_dosage
from .store import dosage_from_calls
from .store_integrity import read_rows

PACKED_ARRAY = "call_dosage_packed"
#: Bytes of the packed array read at once: 8,192 samples' calls (the block the int8 path
#: reads, :data:`.store_tasks.SAMPLE_BLOCK`) are 2,048 bytes.
PACKED_BLOCK_BYTES = 2048


def packed_array(root):
    """Return the store's packed genotypes (a Zarr array), or None when it has none."""
    return root[PACKED_ARRAY] if PACKED_ARRAY in root else None


def packed_blocks(packed) -> list[tuple[int, int]]:
    """Byte ranges of whole chunks, at least :data:`PACKED_BLOCK_BYTES` each (the last less)."""
    n_bytes, chunk = packed.shape[1], int(packed.chunks[1])
    step = chunk * max(1, -(-PACKED_BLOCK_BYTES // chunk))
    return [(lo, min(lo + step, n_bytes)) for lo in range(0, n_bytes, step)]


def packed_dosage(packed, lo: int, hi: int, store, n_samples: int, columns=None) -> np.ndarray:
    """Allele counts of variants ``lo:hi`` from the packed array, int8, -1 missing.

    ``n_samples``: the store's samples; ``columns``: store indices of the samples to return, in
    the order wanted (default all). Only the bytes that hold them are read (orthogonal indexing:
    only their chunks are decoded), so memory follows ``len(columns)``, not their span.

    Returns
    -------
    np.ndarray, int8, shape (hi - lo, n_columns)
    """
    if columns is None:
        return unpack_dosage(read_rows(packed, lo, hi, store), n_samples)
    columns = np.asarray(columns)
    needed = np.unique(columns // 4)  # bytes holding the samples, increasing
    calls = unpack_dosage(read_rows(packed, lo, hi, store, columns=needed), 4 * len(needed))
    picked = 4 * np.searchsorted(needed, columns // 4) + columns % 4
    if np.array_equal(picked, np.arange(len(picked))):
        return calls[:, : len(picked)]
    return calls[:, picked]


def read_dosage(root, lo: int, hi: int, store, columns=None) -> np.ndarray:
    """Allele counts of variants ``lo:hi`` of an open store, int8 (hi - lo, n_columns), -1 missing.

    From the two-bit copy when the store has one, else from ``call_genotype``. ``columns``:
    store indices of the samples, in the order wanted (default all).
    """
    calls, packed = root["call_genotype"], packed_array(root)
    if packed is not None:
        return packed_dosage(packed, lo, hi, store, int(calls.shape[1]), columns)
    if columns is None:
        return dosage_from_calls(read_rows(calls, lo, hi, store))[0]
    columns = np.asarray(columns)
    increasing = np.sort(columns)
    block = dosage_from_calls(read_rows(calls, lo, hi, store, columns=increasing))[0]
    if np.array_equal(increasing, columns):
        return block
    return block[:, np.searchsorted(increasing, columns)]
