"""Dask over a VCF Zarr store: one task per chunk of variants, a few tasks alive at a time.

Each task opens the store and reads one chunk of variants itself, so a task holds one chunk at a
time whatever the scheduler does, and only small results leave it (bounded peak memory; a path,
not an array, travels to ``dask.distributed`` workers). The out-of-core QC
(:mod:`..qc.outofcore`) and PCA (:mod:`..pca.outofcore`) are built from these pieces.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ...threads import thread_budget
from ..counts import genotype_counts
from ..errors import InputError
from ..packed import packed_counts
from .packed_store import packed_array, packed_blocks, read_codes, read_dosage
from .store import open_root, zarr_module


def open_store_chunks(store: Path):
    """Open a VCF Zarr store; return its root group and the variant bounds of its chunks."""
    root = open_root(store)
    calls = root["call_genotype"]
    n_var, step = calls.shape[0], int(calls.chunks[0])
    bounds = [(lo, min(lo + step, n_var)) for lo in range(0, n_var, step)]
    return root, bounds


#: Fewest samples read at once where a task can work a block of samples at a time (a whole
#: number of the store's sample chunks): 8,192 samples x a 10,000-variant chunk is 160 MB.
SAMPLE_BLOCK = 8192


def sample_block_size(chunk: int, n_samples: int) -> int:
    """Return the samples per block: whole sample chunks, at least :data:`SAMPLE_BLOCK` (or all)."""
    chunk = max(int(chunk), 1)
    return max(1, min(n_samples, chunk * -(-SAMPLE_BLOCK // chunk)))


def sample_blocks(columns: np.ndarray, chunk: int):
    """Split increasing store ``columns`` into blocks of :func:`sample_block_size` samples.

    Yields
    ------
    np.ndarray of int
        One block's store columns (read as ``calls.oindex[lo:hi, block]``: only the chunks
        that hold them are decoded, only they are kept).
    """
    columns = np.asarray(columns)
    size = sample_block_size(chunk, len(columns))
    for start in range(0, len(columns), size):
        yield columns[start : start + size]


def chunk_dosage(store: str, lo: int, hi: int, samples=None) -> np.ndarray:
    """Dosages of variants ``lo:hi`` (of ``samples``, or all), shape (hi - lo, n), int8.

    From the two-bit copy (:mod:`.packed_store`) when the store has one.
    """
    return read_dosage(zarr_module().open_group(store, mode="r"), lo, hi, store, samples)


def chunk_dosage_blocks(store: str, lo: int, hi: int, samples=None):
    """Dosages of variants ``lo:hi`` one block of samples at a time (see :func:`sample_blocks`).

    ``samples``: store indices (default all). Memory holds one block's calls.

    Yields
    ------
    np.ndarray, int8, shape (hi - lo, n_block)
        Blocks in the order of the sorted ``samples``.
    """
    root = zarr_module().open_group(store, mode="r")
    calls = root["call_genotype"]
    columns = np.arange(calls.shape[1]) if samples is None else np.sort(samples)
    for block in sample_blocks(columns, calls.chunks[1]):
        yield read_dosage(root, lo, hi, store, block)


def chunk_sample_missing(store: str, lo: int, hi: int, keep_b, samples=None) -> np.ndarray:
    """Missing calls per sample over the chunk's variants in ``keep_b``, shape (n_samples,).

    Counted over ``samples`` (store indices, in their order) only, or over every sample, one
    block of samples at a time.
    """
    missing = np.concatenate(
        [(d[keep_b] < 0).sum(axis=0) for d in chunk_dosage_blocks(store, lo, hi, samples)]
    )
    if samples is None:
        return missing
    out = np.empty_like(missing)
    out[np.argsort(samples, kind="stable")] = missing  # back to the order of ``samples``
    return out


def chunk_counts(store: str, lo: int, hi: int, samples=None) -> np.ndarray:
    """Count called genotypes per variant of one chunk: (hom ref, het, hom alt), shape (v, 3).

    Summed over blocks of samples (``samples``: store indices, default all); every sample of a
    store with a two-bit copy is counted by popcount on it, without unpacking.
    """
    packed = packed_array(zarr_module().open_group(store, mode="r"))
    if packed is not None and samples is None:
        return sum(
            packed_counts(read_codes(packed, lo, hi, store, np.arange(*block)))
            for block in packed_blocks(packed)
        )
    return sum(genotype_counts(d) for d in chunk_dosage_blocks(store, lo, hi, samples))


def in_batches(function, tasks, *extra, bounds=None, progress=None, sizes=None):
    """Run ``function(*task, *extra)`` on Dask, a few tasks at a time, in task order.

    At most :func:`tasks_at_once` results (and the chunks they read) are alive at once, however
    many chunks the store has.

    Parameters
    ----------
    function : callable
    tasks : list of tuple
        Positional arguments of each call; a task's second and third are the chunk's variant
        range ``lo, hi`` (for ``progress``).
    *extra
        Arguments appended to every call.
    bounds : list, optional
        What to yield beside each result (default: the task itself).
    progress, sizes
        As :func:`_batch_ranges`.

    Yields
    ------
    bound, result
    """
    import dask

    bounds = tasks if bounds is None else bounds
    for i, j in _batch_ranges(tasks, progress, sizes):
        results = compute(*(dask.delayed(function)(*t, *extra) for t in tasks[i:j]))
        yield from zip(bounds[i:j], results, strict=True)


def sum_over_chunks(function, tasks, *, progress=None) -> np.ndarray:
    """Sum ``function(*task)`` over ``tasks`` on Dask, a batch of :func:`tasks_at_once` at a time.

    Each batch is added up where it was computed (a pairwise tree of Dask tasks), so one array
    per batch reaches this process: on a cluster of many workers the ``n x n`` Gram products
    are not all sent to the client.
    """
    import dask

    total = None
    for i, j in _batch_ranges(tasks, progress):
        parts = [dask.delayed(function)(*t) for t in tasks[i:j]]
        while len(parts) > 1:
            pairs = [dask.delayed(np.add)(a, b) for a, b in zip(parts[::2], parts[1::2])]
            parts = pairs + parts[len(pairs) * 2 :]
        (part,) = compute(parts[0])
        if total is None:
            total = part
        else:
            total += part
    return total


def _batch_ranges(tasks, progress=None, sizes=None):
    """Yield ``(start, stop)`` of each batch of :func:`tasks_at_once` tasks.

    Parameters
    ----------
    tasks : list of tuple
        A task's second and third items are its chunk's variant range ``lo, hi``.
    progress : RateProgress, optional
        Told the variants done once each batch is consumed, and once more at the end.
    sizes : list of int, optional
        Variants of each task (default ``hi - lo`` of each task).
    """
    sizes = [t[2] - t[1] for t in tasks] if sizes is None else sizes
    batch, done = tasks_at_once(), 0
    for i in range(0, len(tasks), batch):
        j = min(i + batch, len(tasks))
        yield i, j
        done += sum(sizes[i:j])
        if progress is not None:
            progress.update(done)
    if progress is not None:
        progress.update(done, final=True)


def compute(*delayed):
    """``dask.compute`` on the active ``dask.distributed`` client, else on local threads.

    Local threads number the process's thread budget (``--threads``), not the machine's cores.
    """
    import dask

    if _distributed_threads() is not None:
        return dask.compute(*delayed)
    return dask.compute(*delayed, scheduler="threads", num_workers=thread_budget())


def _distributed_threads() -> int | None:
    """Threads of the active ``dask.distributed`` client's cluster; None without a client."""
    try:
        from distributed import default_client

        return sum(default_client().nthreads().values())
    except (ImportError, ValueError):  # no distributed, or no client
        return None


def tasks_at_once() -> int:
    """Chunk tasks per batch: the threads of the active client's cluster, else the thread budget.

    With a ``dask.distributed`` client the batch is the cluster's thread count, so every worker
    has a chunk; without one it is ``--threads`` (at least 2).
    """
    threads = _distributed_threads()
    return max(2, thread_budget() if threads is None else threads)


@contextlib.contextmanager
def dask_scheduler(address: str | None, timeout: float = 10.0):
    """Run the enclosed Dask work on ``address`` (a ``dask.distributed`` scheduler) or locally.

    Raises
    ------
    InputError
        When the scheduler does not answer within ``timeout`` seconds, or ``distributed`` is
        not installed.
    """
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--scheduler needs dask.distributed: pip install 'ddvi-genomics[scale]'"
        ) from None
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise InputError(
            f"Dask scheduler {address} did not answer within {timeout:g} s ({type(err).__name__})"
        ) from None
    try:
        yield client
    finally:
        client.close()


def bound_malloc_arenas() -> None:
    """Keep glibc from serving chunk-sized buffers from its heap (Linux only; else a no-op).

    glibc raises its mmap threshold after freeing a large mmapped block, after which chunk-sized
    buffers come from the heap and fragment it: peak RSS then grows with the number of chunks
    even though each is freed (measured: +50 MiB per 25,000 variants x 1,000 samples). Fixing the
    threshold at 128 KiB (``M_MMAP_THRESHOLD``) returns every chunk buffer to the OS when freed.
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux":
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass
