"""A store's genotypes also at two bits a call (:mod:`..packed`), written by ``convert``.

VCF Zarr keeps each call as two int8 allele indices, compressed: reading a block of 1,000
variants x 10,000 samples decodes 20 MB (about 18 ms of one core, measured with Blosc zstd),
which is most of the time of a counting pass. ``convert`` therefore adds one array beside
``call_genotype`` (:mod:`.packing`):

``call_dosage_packed`` : uint8, shape (variants, ceil(samples / 4))
    ALT allele counts (a haploid call counted twice, -1 for any missing allele, as
    :func:`.store.dosage_from_calls` reads them) at two bits a call, chunked as
    ``call_genotype`` (its sample chunk in bytes, rounded up), Blosc LZ4HC level 5 without
    shuffle. On a simulated cohort a 1,000 x 10,000 block is 2.5 MB raw, 1.27 MB stored, and
    decodes in 0.8 ms (zstd level 3: 1.02 MB but 3.3 ms, which made decoding most of a
    counting pass).

The out-of-core QC, PCA and projection read it whenever a store has it, and ``call_genotype``
otherwise (stores made by bio2zarr or sgkit directly, or by older versions). Other tools
reading the store see one extra array with its own dimension name (``samples_packed``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..packed import unpack_dosage
from .store import dosage_from_calls
from .store_integrity import damaged, read_rows

PACKED_ARRAY = "call_dosage_packed"
#: Bytes of the packed array read at once: 8,192 samples' calls (the block the int8 path
#: reads, :data:`.store_tasks.SAMPLE_BLOCK`) are 2,048 bytes.
PACKED_BLOCK_BYTES = 2048


def packed_array(root):
    """Return the store's packed genotypes (a Zarr array), or None when it has none."""
    return root[PACKED_ARRAY] if PACKED_ARRAY in root else None


def read_codes(packed, lo: int, hi: int, store, columns=None) -> np.ndarray:
    """Rows ``lo:hi`` of the packed array, all bytes or the increasing byte ``columns``.

    On a local store the chunk files are read and decoded here, in the calling thread: Zarr's
    synchronous API runs every read through one event loop, so two Dask threads reading
    chunks got 1.3x one thread's speed, against 1.8x here (1,000 variants x 100,000 samples
    a task, measured). Any other store goes through Zarr (:func:`.store_integrity.read_rows`).

    Returns
    -------
    np.ndarray, uint8, shape (hi - lo, n_columns)
    """
    files = _chunk_files(packed)
    if files is None:
        return read_rows(packed, lo, hi, store, columns)
    folder, codec, separator = files
    row_chunk, byte_chunk = (int(c) for c in packed.chunks)
    columns = np.arange(packed.shape[1]) if columns is None else np.asarray(columns)
    out = np.empty((hi - lo, len(columns)), dtype=np.uint8)
    edges = np.searchsorted(columns, np.arange(0, packed.shape[1] + byte_chunk, byte_chunk))
    for i in range(lo // row_chunk, (hi - 1) // row_chunk + 1 if hi > lo else 0):
        first_row = i * row_chunk
        a, b = max(lo, first_row), min(hi, first_row + row_chunk)
        for j in np.flatnonzero(np.diff(edges)):  # chunks of bytes holding some columns
            where = slice(edges[j], edges[j + 1])
            local = columns[where] - j * byte_chunk
            path = folder / f"{i}{separator}{j}"
            try:
                chunk = _decoded(path, codec, (row_chunk, byte_chunk), packed.fill_value)
            except (MemoryError, KeyboardInterrupt):
                raise
            except Exception as err:  # codecs raise RuntimeError, ValueError, TypeError, ...
                raise damaged(store, packed, a, b, err) from None
            if local[-1] - local[0] + 1 == len(local):  # a run of bytes: a slice
                out[a - lo : b - lo, where] = chunk[a - first_row : b - first_row,
                                                   local[0] : local[-1] + 1]  # fmt: skip
            else:
                out[a - lo : b - lo, where] = chunk[a - first_row : b - first_row][:, local]
    return out


def _chunk_files(packed):
    """``(folder, codec, separator)`` of a local Zarr v2 array of plain chunks, else None."""
    meta = packed.metadata
    root = getattr(packed.store, "root", None)
    plain = getattr(meta, "zarr_format", None) == 2 and not meta.filters and meta.order == "C"
    if root is None or not plain:
        return None
    return Path(root) / packed.path, meta.compressor, meta.dimension_separator or "."


def _decoded(path: Path, codec, shape: tuple[int, int], fill_value) -> np.ndarray:
    """One chunk, shape ``shape`` (v2 chunks are whole at the edges too); absent: the fill."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return np.full(shape, fill_value, dtype=np.uint8)
    data = raw if codec is None else codec.decode(raw)
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


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
        return unpack_dosage(read_codes(packed, lo, hi, store), n_samples)
    columns = np.asarray(columns)
    needed = np.unique(columns // 4)  # bytes holding the samples, increasing
    calls = unpack_dosage(read_codes(packed, lo, hi, store, needed), 4 * len(needed))
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
