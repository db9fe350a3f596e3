"""A store is read whole and intact or not at all: chunk checksums, presence and decoding.

A Zarr array reads a chunk file that is absent as its fill value, silently. In a VCF Zarr store
that means a lost ``call_genotype`` chunk reads as homozygous reference everywhere (then QC drops
the variants as monomorphic), and a lost ``variant_position`` chunk as position 0. Three checks
stop that, before any genotype is used (the first two in :func:`~.store.open_root`):

* ``convert`` writes a manifest, ``ddvi_genomics_checksums.json``: the CRC32 of every file of the
  store. Opening a store with a manifest verifies every file against it before Zarr reads any
  (a missing or damaged chunk, even one that still decodes, is found; the pass reads the store
  once, at disk speed, and is not repeated while no file changes).
* A store without a manifest (written by bio2zarr or sgkit directly) cannot tell a lost chunk
  from one that was never written: Zarr omits a chunk whose values all equal the fill value (a
  block of variants homozygous reference everywhere), and bio2zarr relies on that. Absent
  chunks of the arrays read here are therefore counted and reported as a warning, with the way
  to a checked store (``ddvi-genomics convert``).
* A chunk that fails to decode while reading is one line naming the store, the array and the
  variants (:func:`read_rows`), never a traceback.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ...threads import thread_budget
from ..errors import InputError

MANIFEST = "ddvi_genomics_checksums.json"
#: Arrays whose absent chunks are worth a warning: a block of variants homozygous reference in
#: every sample is rare, a position 0 never real (``variant_contig`` is legitimately all 0
#: when a store holds one contig, so its chunks are often absent).
WATCHED_ARRAYS = ("call_genotype", "variant_position")
log = logging.getLogger("ddvi_genomics")
_VERIFIED: dict[tuple, bool] = {}


def file_checksums(store: Path) -> dict[str, int]:
    """CRC32 of every file under ``store`` (the manifest excepted), keyed by relative path."""
    sums = {}
    for folder, _, files in os.walk(store):
        for name in files:
            path = Path(folder) / name
            relative = path.relative_to(store).as_posix()
            if relative != MANIFEST:
                sums[relative] = _crc32(path)
    return dict(sorted(sums.items()))


def write_manifest(store: Path) -> None:
    """Write the checksum manifest of a finished store (called by ``convert``)."""
    manifest = {"algorithm": "crc32", "files": file_checksums(store)}
    (store / MANIFEST).write_text(json.dumps(manifest, indent=0) + "\n")


def verify_files(store: Path) -> bool:
    """Check every file of a store against its manifest, before Zarr reads any of them.

    Returns
    -------
    bool
        Whether the store has a manifest (False: only :func:`report_absent_chunks` applies).

    Raises
    ------
    InputError
        Naming the store and the first missing or damaged file.
    """
    manifest = store / MANIFEST
    if not manifest.exists():
        return False
    key = _listing(store)  # a store verified once is not hashed again, unless a file changed
    if not _VERIFIED.get(key):
        _verify_manifest(store, manifest)
        _VERIFIED[key] = True
    return True


def _verify_manifest(store: Path, manifest: Path) -> None:
    try:
        expected = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InputError(
            f"{store}: its checksum manifest {MANIFEST} is damaged; convert the input again"
        ) from None
    for relative in expected:
        if not (store / relative).is_file():
            raise InputError(
                f"{store} is incomplete: {relative} is missing (the store was copied or "
                "written only in part); convert the input again"
            )
    names = list(expected)
    with ThreadPoolExecutor(max(1, thread_budget())) as pool:  # zlib.crc32 releases the GIL
        found = pool.map(lambda name: _crc32(store / name), names)
        for relative, crc in zip(names, found, strict=True):
            if crc != expected[relative]:
                raise InputError(
                    f"{store} is damaged: {relative} fails its checksum; convert the input again"
                )


def report_absent_chunks(store: Path, root) -> None:
    """Warn (once per state of the store) about absent chunks of the arrays read."""
    key = ("absent", *_listing(store))
    if _VERIFIED.get(key):
        return
    _VERIFIED[key] = True
    for name in WATCHED_ARRAYS:
        if name not in root or root[name].size == 0:
            continue
        array = root[name]
        absent = array.nchunks - array.nchunks_initialized
        if absent:
            log.warning(
                "%s: %d of the %d chunks of %r are absent and read as %r (Zarr omits chunks "
                "equal to the fill value; a partly copied store looks the same); the store has "
                "no checksum manifest to tell: 'ddvi-genomics convert' writes one",
                store, absent, array.nchunks, name, array.fill_value or 0,
            )  # fmt: skip


def read_rows(array, lo: int, hi: int, store, columns: np.ndarray | None = None) -> np.ndarray:
    """``array[lo:hi]`` as a NumPy array; with ``columns`` (int), only those columns.

    ``columns`` are read by orthogonal indexing: only the chunks that hold them are decoded.

    Raises
    ------
    InputError
        A chunk that fails to decode, naming the store, the array and the variant rows.
    """
    try:
        if columns is None:
            return np.asarray(array[lo:hi])
        first, last = int(columns[0]), int(columns[-1]) + 1
        if last - first == len(columns):  # a run of columns: a plain slice is faster
            return np.asarray(array[lo:hi, first:last])
        return np.asarray(array.oindex[lo:hi, np.asarray(columns)])
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as err:  # codecs raise RuntimeError, ValueError, TypeError, ...
        raise damaged(store, array, lo, hi, err) from None


def damaged(store, array, lo: int, hi: int, err: Exception) -> InputError:
    """Return the one-line error for variants ``lo:hi`` of ``array`` that fail to decode."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return InputError(
        f"{store} is damaged: array {getattr(array, 'path', '?')!r}, variants {lo + 1}-{hi} fail "
        f"to decode ({message}); convert the input again"
    )


def _listing(store: Path) -> tuple:
    """Return the store's path and every file's (name, size, mtime): any change changes it."""
    entries = []
    for folder, _, files in os.walk(store):
        for name in files:
            stat = os.stat(os.path.join(folder, name))
            entries.append((folder, name, stat.st_size, stat.st_mtime_ns))
    return (str(store.resolve()), tuple(sorted(entries)))


def _crc32(path: Path) -> int:
    """CRC32 of a file, read through a memory map (no copy of the page cache into Python)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return zlib.crc32(b"")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return zlib.crc32(mapped)
