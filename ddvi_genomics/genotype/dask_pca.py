"""Out-of-core QC and PCA of a VCF Zarr store on Dask: the in-memory result, in bounded memory.

The store's ``call_genotype`` is read as a Dask array chunked along variants (all samples of a
chunk together); every pass below reduces chunk by chunk, so peak memory is a few chunks plus
the ``n x n`` Gram matrix, whatever the number of variants.

1. QC pass: per variant, called genotypes and ALT allele counts (and the allele table), giving
   the biallelic-SNP, missingness, monomorphic and MAF filters of the in-memory QC.
2. Gram pass: ``X X^T = sum_b X_b X_b^T`` over the kept variants, ``X`` Patterson-scaled with
   missing calls imputed to the mean (as :class:`~.pca.GenotypePCA`); ``eigh`` on it gives the
   exact top-k PCs (PLINK's exact ``--pca`` computes the same relationship matrix).
3. Loadings pass: ``V = X^T U / s``.

Without ``scheduler`` Dask's local threaded scheduler runs the passes; with a
``dask.distributed`` address they run on that cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import numpy as np

from ..core.progress import RateProgress
from .errors import InputError
from .ldprune import band_r2, prune_from_band
from .pca import (
    GenotypePCA,
    check_polymorphic_in_fit_samples,
    flip_signs_in_place,
    patterson_block,
    patterson_scale,
    top_eigenpairs,
)
from .qc import (
    QCReport,
    genotype_counts,
    hwe_pvalues_from_counts,
    locate_thinned,
    nothing_left_message,
    site_steps,
    sort_order,
)
from .store import _zarr, dosage_from_calls, open_root, variant_arrays


@dataclasses.dataclass
class StoreQC:
    """Variants kept by the out-of-core QC, with each filter's count.

    Attributes
    ----------
    keep : np.ndarray of bool, shape (n_variants,)
    allele_frequency : np.ndarray, shape (n_kept,)
        ALT frequency over called genotypes of the kept variants.
    steps : list of (str, int, str)
        ``(filter, variants removed, detail)`` in the order applied: the rows of the in-memory
        :class:`~.qc.QCReport` for the same filters.
    n_samples : int
        Samples kept (all of them unless ``--mind`` removed some).
    called : np.ndarray, shape (n_kept,)
        Called genotypes per kept variant (``.afreq``'s OBS_CT is twice this).
    samples : np.ndarray of int, optional
        Store indices of the samples kept: those chosen (``--keep`` / ``--remove``), less those
        ``--mind`` removed (None: every sample).
    n_samples_in : int, optional
        Samples the QC started from: the store's, or the chosen ones.
    """

    keep: np.ndarray
    allele_frequency: np.ndarray
    steps: list
    n_samples: int
    called: np.ndarray | None = None  # (n_kept,) called genotypes of the kept variants
    samples: np.ndarray | None = None  # kept sample indices (--mind), None = all
    n_samples_in: int | None = None
    prune_in: list[str] | None = None  # --ld-prune: variant IDs kept / pruned
    prune_out: list[str] | None = None

    def report(self) -> QCReport:
        """Return the QC report in the in-memory pipeline's form."""
        n_in = self.n_samples if self.n_samples_in is None else self.n_samples_in
        report = QCReport(
            len(self.keep), n_in, list(self.steps), int(self.keep.sum()), self.n_samples
        )
        report.prune_in, report.prune_out = self.prune_in, self.prune_out
        return report


def _open_store(store: Path):
    """Open a VCF Zarr store; return its root group and the variant bounds of its chunks."""
    root = open_root(store)
    calls = root["call_genotype"]
    n_var, step = calls.shape[0], int(calls.chunks[0])
    bounds = [(lo, min(lo + step, n_var)) for lo in range(0, n_var, step)]
    return root, bounds


# Each task below opens the store and reads one chunk of variants itself, so a task holds one
# chunk at a time whatever the scheduler does, and only small results leave it (bounded peak
# memory; a path, not an array, travels to dask.distributed workers).


def _chunk_dosage(store: str, lo: int, hi: int, samples=None) -> np.ndarray:
    """Dosages of variants ``lo:hi`` (of ``samples``, or all), shape (hi - lo, n), int8."""
    root = _zarr().open_group(store, mode="r")
    calls = np.asarray(root["call_genotype"][lo:hi])
    return dosage_from_calls(calls if samples is None else calls[:, samples])[0]


def _chunk_sample_missing(store: str, lo: int, hi: int, keep_b, samples=None) -> np.ndarray:
    """Missing calls per sample over the chunk's variants in ``keep_b``, shape (n_samples,).

    Counted over ``samples`` (store indices) only, or over every sample.
    """
    return (_chunk_dosage(store, lo, hi, samples)[keep_b] < 0).sum(axis=0)


def _chunk_counts(store: str, lo: int, hi: int, samples=None) -> np.ndarray:
    """Count called genotypes per variant of one chunk: (hom ref, het, hom alt), shape (v, 3)."""
    return genotype_counts(_chunk_dosage(store, lo, hi, samples))


def _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """Patterson-scaled kept variants of one chunk, shape (kept, n_samples); missing -> 0."""
    return patterson_block(_chunk_dosage(store, lo, hi, samples)[keep_b], mean_b, inv_b)


def _chunk_gram(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """``X_b^T X_b`` of one chunk, shape (n_samples, n_samples)."""
    x = _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples)
    return x.T @ x


def _chunk_band(store, parts, samples, width: int, r2: float) -> np.ndarray:
    """Which pairs of one chunk's kept variants exceed ``r2``, shape (kept, width - 1), bool.

    ``parts`` lists ``(lo, hi, keep_b)`` for the chunk and then the following chunks that give
    its last variants their ``width - 1`` kept successors (the look-ahead).
    """
    blocks = [_chunk_dosage(store, lo, hi, samples)[keep_b] for lo, hi, keep_b in parts]
    return band_r2(np.concatenate(blocks), width, rows=len(blocks[0])) > r2


def _in_batches(function, tasks, *extra, bounds=None, progress=None, sizes=None):
    """Run ``function(*task, *extra)`` on Dask, a few tasks at a time, in task order.

    At most :func:`_tasks_at_once` results (and the chunks they read) are alive at once, however
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
        results = dask.compute(*(dask.delayed(function)(*t, *extra) for t in tasks[i:j]))
        yield from zip(bounds[i:j], results, strict=True)


def _sum_over_chunks(function, tasks, *, progress=None) -> np.ndarray:
    """Sum ``function(*task)`` over ``tasks`` on Dask, a batch of :func:`_tasks_at_once` at a time.

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
        (part,) = dask.compute(parts[0])
        if total is None:
            total = part
        else:
            total += part
    return total


def _batch_ranges(tasks, progress=None, sizes=None):
    """Yield ``(start, stop)`` of each batch of :func:`_tasks_at_once` tasks.

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
    batch, done = _tasks_at_once(), 0
    for i in range(0, len(tasks), batch):
        j = min(i + batch, len(tasks))
        yield i, j
        done += sum(sizes[i:j])
        if progress is not None:
            progress.update(done)
    if progress is not None:
        progress.update(done, final=True)


def _tasks_at_once() -> int:
    """Chunk tasks per batch: the threads of the active client's cluster, else the cores.

    With a ``dask.distributed`` client the batch is the cluster's thread count, so every worker
    has a chunk; without one it is this machine's cores (at least 2).
    """
    try:
        from distributed import default_client

        threads = sum(default_client().nthreads().values())
    except (ImportError, ValueError):  # no distributed, or no client
        threads = os.cpu_count() or 2
    return max(2, threads)


def _chunk_loadings(store, lo, hi, keep_b, mean_b, inv_b, samples, weights) -> np.ndarray:
    """Return the chunk's rows of ``X^T U / s``, shape (kept, k)."""
    return _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples) @ weights


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


def store_qc(
    store,
    *,
    min_maf: float = 0.01,
    max_variant_missing: float = 0.1,
    autosomes_only: bool = True,
    contigs: tuple[str, ...] | None = None,
    extract=None,
    exclude=None,
    extract_ranges=None,
    exclude_ranges=None,
    hwe: float | None = None,
    hwe_midp: bool = False,
    max_sample_missing: float = 1.0,
    thin_bp: int | None = None,
    ld_prune: tuple[int, int, float] | None = None,
    scheduler: str | None = None,
    verbose: bool | None = None,
    samples: np.ndarray | None = None,
) -> StoreQC:
    """Apply the in-memory QC's variant filters to a store, counting one chunk at a time.

    Same filters, thresholds, order and report rows as :func:`~.qc.run_qc` for: biallelic SNPs,
    duplicate sites, ``--extract`` / ``--exclude`` (IDs and ranges), ``--chr`` (or human
    autosomes), sample missingness (``--mind``, one extra pass), variant missingness,
    monomorphic sites, MAF
    and the HWE exact test (from per-chunk genotype counts); ``--thin`` and ``--ld-prune`` on a
    store sorted by contig and position (an unsorted store is refused: the in-memory QC sorts
    the genotypes first, which a chunked store cannot do cheaply). LD pruning computes the
    ``r^2`` band one chunk per task (with a look-ahead into the next chunks), then runs PLINK's
    window passes on the pairs above the threshold, as :func:`~.ldprune.prune_pairwise`.

    The passes run on the ``dask.distributed`` scheduler at ``scheduler`` (local threads
    without one) and report variants per second on stderr (``verbose``; default: only on a
    terminal). ``samples`` (store indices, in the order to use; ``--keep`` / ``--remove``)
    restricts every count to those samples, as reading only them into memory would.
    """
    with dask_scheduler(scheduler):
        _bound_malloc_arenas()
        root, bounds = _open_store(Path(store))
        if samples is not None:
            samples = np.asarray(samples, dtype=np.int64)
        n_samples_in = int(root["call_genotype"].shape[1]) if samples is None else len(samples)
        v = variant_arrays(root)
        contig, position, ids, ref, alt = v.contig, v.position, v.id, v.ref, v.alt
        keep = np.ones(len(ref), dtype=bool)
        steps = []

        def apply(name, mask, detail=""):
            nonlocal keep
            steps.append((name, int((keep & ~mask).sum()), detail))
            keep = keep & mask

        for name, mask, detail in site_steps(
            contig, position, ids, ref, alt, extract=extract, exclude=exclude, contigs=contigs,
            autosomes_only=autosomes_only, extract_ranges=extract_ranges,
            exclude_ranges=exclude_ranges,
        ):  # fmt: skip
            apply(name, mask, detail)
        if max_sample_missing < 1.0:  # one pass over the variants kept so far, per sample
            tasks = [(str(store), lo, hi, keep[lo:hi], samples) for lo, hi in bounds]
            progress = RateProgress("qc: missing calls per sample", verbose)
            missing = _sum_over_chunks(_chunk_sample_missing, tasks, progress=progress)
            rate = missing / max(int(keep.sum()), 1)
            keep_s = rate <= max_sample_missing
            steps.append(
                (f"samples missing > {max_sample_missing:g}", int((~keep_s).sum()), "samples")
            )
            if not keep_s.any():
                raise InputError(f"--mind {max_sample_missing:g} removes every sample of {store}")
            if not keep_s.all():
                samples = np.flatnonzero(keep_s) if samples is None else samples[keep_s]
        n_samples = n_samples_in if samples is None else len(samples)
        counts = np.empty((len(keep), 3), dtype=np.int64)  # hom ref, het, hom alt
        tasks = [(str(store), lo, hi, samples) for lo, hi in bounds]
        progress = RateProgress("qc: genotype counts", verbose)
        for (_, lo, hi, _), part in _in_batches(_chunk_counts, tasks, progress=progress):
            counts[lo:hi] = part
        called = counts.sum(axis=1)
        alt_count = counts[:, 1] + 2 * counts[:, 2]
        apply(f"variant missingness > {max_variant_missing:g}",
              1.0 - called / n_samples <= max_variant_missing)  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            p = alt_count / (2.0 * called)
        maf = np.nan_to_num(np.minimum(p, 1 - p))
        apply("monomorphic", maf > 0)
        apply(f"MAF < {min_maf:g}", maf >= min_maf)
        if hwe is not None:
            test = "mid-p exact test" if hwe_midp else "exact test"
            pvalues = np.ones(len(keep))
            pvalues[keep] = hwe_pvalues_from_counts(counts[keep], midp=hwe_midp)
            apply(f"HWE p < {hwe:g} ({test})", pvalues >= hwe)
        if thin_bp or ld_prune is not None:
            kept = np.flatnonzero(keep)
            order = sort_order(contig[kept], position[kept])
            if np.any(order != np.arange(len(order))):
                flag = "--thin" if thin_bp else "--ld-prune"
                raise InputError(
                    f"{flag} out of core needs {store} sorted by contig and position; sort the VCF "
                    "(bcftools sort) and convert again, or run without --out-of-core"
                )
        if thin_bp:
            kept = np.flatnonzero(keep)
            thinned = np.zeros(len(keep), dtype=bool)
            thinned[kept] = locate_thinned(contig[kept], position[kept], thin_bp)
            apply(f"thinned to >= {thin_bp} bp apart", thinned)
        prune_in = prune_out = None
        if ld_prune is not None:
            window, step, r2 = ld_prune
            kept = np.flatnonzero(keep)
            exceeds = _store_band(str(store), bounds, keep, samples, window, r2, verbose)
            kept_ld = prune_from_band(
                exceeds, p[kept], called[kept], contig[kept], window=window, step=step
            )
            prune_in = [str(v) for v in ids[kept[kept_ld]]]
            prune_out = [str(v) for v in ids[kept[~kept_ld]]]
            mask = np.zeros(len(keep), dtype=bool)
            mask[kept[kept_ld]] = True
            apply(f"LD pruned (--indep-pairwise {window} {step} {r2:g}, per contig)", mask)
        if not keep.any():
            raise InputError(nothing_left_message(steps, len(keep), store))
        return StoreQC(
            keep,
            p[keep],
            steps,
            n_samples,
            called[keep],
            samples,
            n_samples_in,
            prune_in,
            prune_out,
        )


def _store_band(store: str, bounds, keep, samples, width: int, r2: float, verbose=None):
    """``band_r2(...) > r2`` over the kept variants of a store, one chunk per Dask task."""
    n_kept = [int(keep[lo:hi].sum()) for lo, hi in bounds]
    tasks, sizes = [], []
    for i, (lo, hi) in enumerate(bounds):
        if not n_kept[i]:
            continue
        parts, ahead, j = [(lo, hi, keep[lo:hi])], 0, i + 1
        while ahead < width - 1 and j < len(bounds):  # successors of the chunk's last variants
            if n_kept[j]:
                parts.append((*bounds[j], keep[slice(*bounds[j])]))
                ahead += n_kept[j]
            j += 1
        tasks.append((store, parts, samples, width, r2))
        sizes.append(hi - lo)
    progress = RateProgress("qc: LD r^2 band", verbose)
    bands = _in_batches(_chunk_band, tasks, progress=progress, sizes=sizes)
    return np.concatenate([band for _, band in bands])


def _bound_malloc_arenas() -> None:
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


def _chunk_project(store, lo, hi, keep_b, mean_b, inv_b, samples, loadings_b) -> np.ndarray:
    """``X_b^T V_b``: one chunk's share of every sample's scores, shape (n_samples, k)."""
    return _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples).T @ loadings_b


def store_pca(
    store,
    n_components: int = 10,
    *,
    qc: StoreQC | None = None,
    scheduler: str | None = None,
    fit_samples: np.ndarray | None = None,
    verbose: bool | None = None,
) -> tuple[GenotypePCA, np.ndarray, StoreQC]:
    """Exact PCA of a store's QC-passing variants, out of core.

    Parameters
    ----------
    store : path
    n_components : int
    qc : StoreQC, optional
        Default: :func:`store_qc` with its default thresholds.
    scheduler : str, optional
        A ``dask.distributed`` scheduler address; local threads otherwise.
    fit_samples : np.ndarray of int, optional
        Fit the PCA (allele frequencies included) on these samples only, indices into the
        QC-passing samples, and project every sample onto it, as ``GenotypePCA.fit_transform``
        on the subset then ``transform`` would (PLINK: ``--pca`` on a subset, then ``--score``).
    verbose : bool, optional
        Variants per second of each pass on stderr (default: only on a terminal).

    Returns
    -------
    pca : GenotypePCA
        Loadings over the kept variants (for projection), eigenvalues on PLINK's scale.
    scores : np.ndarray, shape (n_samples, n_components)
        PC scores ``U s`` (projections for samples outside ``fit_samples``), with
        :class:`GenotypePCA`'s sign convention.
    qc : StoreQC
    """
    with dask_scheduler(scheduler):
        qc = qc or store_qc(store, verbose=verbose)
        _, bounds = _open_store(Path(store))
        _bound_malloc_arenas()
        kept_before = np.concatenate([[0], np.cumsum(qc.keep)])
        chunks = [(lo, hi, kept_before[lo], kept_before[hi]) for lo, hi in bounds]
        chunks = [c for c in chunks if c[3] > c[2]]  # chunks with a QC-passing variant
        all_samples = (
            np.arange(qc.n_samples) if qc.samples is None else np.asarray(qc.samples)
        )  # store indices of the QC-passing samples
        fit = all_samples if fit_samples is None else all_samples[np.asarray(fit_samples)]
        fit_arg = None if fit_samples is None and qc.samples is None else fit
        p, called = qc.allele_frequency, qc.called
        if fit_samples is not None:  # frequencies of the fit subset
            counts = np.empty((int(qc.keep.sum()), 3), dtype=np.int64)
            tasks = [(str(store), lo, hi, fit) for lo, hi, _, _ in chunks]
            progress = RateProgress("pca: counts in the fit samples", verbose)
            for (lo, hi, a, b), part in _in_batches(
                _chunk_counts, tasks, bounds=chunks, progress=progress
            ):
                counts[a:b] = part[qc.keep[lo:hi]]
            called = counts.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = (counts[:, 1] + 2 * counts[:, 2]) / (2.0 * called)
            check_polymorphic_in_fit_samples(p)
        mean, inv_scale = 2 * p, 1.0 / patterson_scale(p)
        n_var, n_fit = int(qc.keep.sum()), len(fit)
        k = min(n_components, n_var, n_fit)

        def task(lo, hi, a, b, samples):
            return (str(store), lo, hi, qc.keep[lo:hi], mean[a:b], inv_scale[a:b], samples)

        tasks = [task(*c, fit_arg) for c in chunks]
        # X X^T = sum over chunks of X_b X_b^T, summed batch by batch where computed
        gram = _sum_over_chunks(_chunk_gram, tasks, progress=RateProgress("pca: X X^T", verbose))
        total = float(np.trace(gram))  # ||X||_F^2 without a second pass
        u, s = top_eigenpairs(gram, k)
        weights = u / np.where(s > 0, s, 1.0)
        # loadings V^T = (X^T U / s)^T, written into one (k, n_var) array a few chunks at a time
        vt = np.empty((k, n_var))
        progress = RateProgress("pca: loadings", verbose)
        for (*_, a, b), part in _in_batches(
            _chunk_loadings, tasks, weights, bounds=chunks, progress=progress
        ):
            vt[:, a:b] = part.T
        flip_signs_in_place(u, vt)
        if fit_samples is None:
            scores = u * s
        else:  # project every QC-passing sample: scores = X^T V, one chunk's share at a time
            all_arg = None if qc.samples is None else all_samples
            shares = [(*task(lo, hi, a, b, all_arg), vt[:, a:b].T) for lo, hi, a, b in chunks]
            progress = RateProgress("pca: projection", verbose)
            scores = _sum_over_chunks(_chunk_project, shares, progress=progress)
    pca = GenotypePCA.from_state(p, vt, eigenvalues=s**2 / (2 * n_var))
    pca.singular_values_ = s
    pca.observed_allele_count_ = 2 * called
    pca.explained_variance_ratio_ = s**2 / float(total)
    pca.solver_used_ = "exact (dask, out of core)"
    return pca, scores, qc
