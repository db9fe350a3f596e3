"""Out-of-core QC of a VCF Zarr store on Dask: the in-memory QC's recipe on counts summed chunk by chunk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...core.progress import RateProgress
from ..errors import InputError
from ..packed import pack_dosage
from ..readers.packed_store import packed_array, read_codes, read_dosage
from ..readers.store import sample_pedigree, variant_arrays, zarr_module
from ..readers.store_tasks import (
    bound_malloc_arenas,
    chunk_counts,
    chunk_sample_missing,
    dask_scheduler,
    in_batches,
    open_store_chunks,
    sum_over_chunks,
)
from .ldprune import (
    FREQ_TOLERANCE,
    band_width,
    kb_window_ends,
    major_and_pruned,
    planes_from_codes,
    window_bounds,
)
from .recipe import (
    DEFAULT_QC,
    QCOptions,
    QCReport,
    StepLog,
    count_steps,
    founders_row,
    ld_prune_name,
    nothing_left_message,
    sample_missing_step,
    thinning_name,
)
from .sites import locate_thinned, site_steps, sort_order


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


def store_qc(
    store,
    options: QCOptions = DEFAULT_QC,
    *,
    scheduler: str | None = None,
    verbose: bool | None = None,
    samples: np.ndarray | None = None,
) -> StoreQC:
    """Apply the QC recipe of :mod:`.recipe` to a store, counting one chunk at a time.

    The site steps come from the variant table; ``--mind`` takes one pass (missing calls per
    sample over the variants kept so far); the count-based steps (:func:`~.recipe.count_steps`)
    take one pass of genotype counts. ``--thin`` and ``--ld-prune`` need a store sorted by
    contig and position (an unsorted store is refused: the in-memory QC sorts the genotypes
    first, which a chunked store cannot do cheaply). LD pruning computes the ``r^2`` band one
    chunk per task (with a look-ahead into the next chunks), then runs PLINK's window passes on
    the pairs above the threshold, as :func:`~.ldprune.prune_pairwise`.

    The passes run on the ``dask.distributed`` scheduler at ``scheduler`` (local threads
    without one) and report variants per second on stderr (``verbose``; default: only on a
    terminal). ``samples`` (store indices, in the order to use; ``--keep`` / ``--remove``)
    restricts every count to those samples, as reading only them into memory would.
    """
    with dask_scheduler(scheduler):
        root, bounds = open_store_chunks(Path(store))
        if packed_array(root) is None:
            # int8 chunk buffers fragment glibc's heap (:func:`bound_malloc_arenas`). The
            # two-bit copy's do not (peak 273 / 582 MiB for --hwe / --ld-prune of 100,000 x
            # 100,000, bounded or not), and bounding them costs a page fault per 4 KiB read:
            # 3.9 s of system time against 1.0 s there, measured.
            bound_malloc_arenas()
        if samples is not None:
            samples = np.asarray(samples, dtype=np.int64)
        n_samples_in = int(root["call_genotype"].shape[1]) if samples is None else len(samples)
        v = variant_arrays(root)
        contig, position, ids = v.contig, v.position, v.id
        steps = StepLog(len(v.ref))
        for name, mask, detail in site_steps(
            contig, position, ids, v.ref, v.alt, **options.site_options
        ):
            steps.apply(name, mask, detail)
        if options.max_sample_missing < 1.0:  # one pass over the variants kept so far
            keep = steps.keep
            tasks = [(str(store), lo, hi, keep[lo:hi], samples) for lo, hi in bounds]
            progress = RateProgress("qc: missing calls per sample", verbose)
            missing = sum_over_chunks(chunk_sample_missing, tasks, progress=progress)
            keep_s, row = sample_missing_step(missing, int(keep.sum()), options.max_sample_missing)
            steps.rows.append(row)
            if not keep_s.any():
                raise InputError(
                    f"--mind {options.max_sample_missing:g} removes every sample of {store}"
                )
            if not keep_s.all():
                samples = np.flatnonzero(keep_s) if samples is None else samples[keep_s]
        n_samples = n_samples_in if samples is None else len(samples)
        founders = _founders(root, samples, options)
        if founders is not None:
            steps.rows.append(founders_row(len(founders), n_samples))
        counts = _store_counts(store, bounds, len(steps.keep), samples, verbose)
        freq_counts = (
            None if founders is None else _store_counts(store, bounds, len(steps.keep), founders,
                                                        verbose, "over founders")
        )  # fmt: skip
        p = count_steps(counts, n_samples, options, steps, freq_counts)
        called = (counts if freq_counts is None else freq_counts).sum(axis=1)
        if options.thin_bp or options.ld_prune is not None:
            kept = np.flatnonzero(steps.keep)
            order = sort_order(contig[kept], position[kept])
            if np.any(order != np.arange(len(order))):
                flag = "--thin" if options.thin_bp else "--ld-prune"
                raise InputError(
                    f"{flag} out of core needs {store} sorted by contig and position; sort the VCF "
                    "(bcftools sort) and convert again, or run without --out-of-core"
                )
        if options.thin_bp:
            kept = np.flatnonzero(steps.keep)
            thinned = np.zeros(len(steps.keep), dtype=bool)
            thinned[kept] = locate_thinned(contig[kept], position[kept], options.thin_bp)
            steps.apply(thinning_name(options.thin_bp), thinned)
        prune_in = prune_out = None
        if options.ld_prune is not None:
            window, step, r2 = options.ld_prune
            kept = np.flatnonzero(steps.keep)
            ends = (
                kb_window_ends(contig[kept], position[kept], window)
                if options.ld_prune_kb
                else None
            )
            ld_samples = samples if founders is None else founders
            kept_ld = _store_prune(
                str(store), bounds, steps.keep, ld_samples, p[kept], called[kept], contig[kept],
                n_samples=n_samples if founders is None else len(founders), window=window,
                step=step, r2=r2, window_ends=ends, verbose=verbose,
            )  # fmt: skip
            prune_in = [str(v) for v in ids[kept[kept_ld]]]
            prune_out = [str(v) for v in ids[kept[~kept_ld]]]
            mask = np.zeros(len(steps.keep), dtype=bool)
            mask[kept[kept_ld]] = True
            steps.apply(ld_prune_name(window, step, r2, options.ld_prune_kb), mask)
        keep = steps.keep
        if not keep.any():
            raise InputError(nothing_left_message(steps.rows, len(keep), store))
        return StoreQC(
            keep, p[keep], steps.rows, n_samples, called[keep], samples, n_samples_in,
            prune_in, prune_out,
        )  # fmt: skip


def _founders(root, samples: np.ndarray | None, options: QCOptions) -> np.ndarray | None:
    """Store indices of the founders among ``samples`` (None: all are, or --nonfounders)."""
    founder = sample_pedigree(root)[1]
    if founder is None or options.nonfounders:
        return None
    chosen = np.arange(len(founder)) if samples is None else np.asarray(samples)
    kept = chosen[founder[chosen]]
    return None if len(kept) == len(chosen) else kept


def _store_counts(store, bounds, n_variants: int, samples, verbose, what: str = "") -> np.ndarray:
    """Genotype counts (hom ref, het, hom alt) per variant over ``samples``, shape (n, 3)."""
    counts = np.empty((n_variants, 3), dtype=np.int64)
    tasks = [(str(store), lo, hi, samples) for lo, hi in bounds]
    progress = RateProgress(f"qc: genotype counts {what}".strip(), verbose)
    for (_, lo, hi, _), part in in_batches(chunk_counts, tasks, progress=progress):
        counts[lo:hi] = part
    return counts


def _chunk_planes(store: str, lo: int, hi: int, keep_b, samples, n_samples: int):
    """LD inputs (:func:`.ldprune.planes_from_codes`) of one chunk's variants in ``keep_b``.

    Straight from the store's two-bit copy when it has one and every sample counts; otherwise
    from the chunk's dosages of ``samples``, packed here. ``n_samples``: the samples counted.
    """
    root = zarr_module().open_group(store, mode="r")
    packed = packed_array(root)
    if packed is not None and samples is None:
        return planes_from_codes(read_codes(packed, lo, hi, store)[keep_b], n_samples)
    dosage = read_dosage(root, lo, hi, store, samples)[keep_b]
    return planes_from_codes(pack_dosage(dosage), n_samples)


def _store_prune(
    store: str, bounds, keep, samples, alt_frequency, n_called, contig, *, n_samples: int,
    window: int, step: int, r2: float, window_ends=None, verbose=None,
) -> np.ndarray:  # fmt: skip
    """PLINK's window passes over a store's kept variants, one chunk of bit planes at a time.

    The windows run in PLINK's order, as in :func:`.ldprune.prune_pairwise`, as soon as the
    chunks that hold them are read; memory holds the bit planes of the chunks being read and
    of the variants from the first window not yet run (about ``window`` variants) onwards.

    Parameters
    ----------
    keep : np.ndarray of bool, shape (n_variants,)
        The variants pruned among (the store's rows).
    alt_frequency, n_called, contig : np.ndarray, shape (n_kept,)
        Of the kept variants: ALT frequency, called genotypes, contig.
    n_samples : int
        Samples the ``r^2`` are taken over (``len(samples)``, or the store's).
    window, step, r2, window_ends
        As :func:`.ldprune.prune_pairwise` (``window_ends``: kilobase windows,
        :func:`.ldprune.kb_window_ends`).

    Returns
    -------
    np.ndarray of bool, shape (n_kept,)
        True for the variants kept.
    """
    from ..kernels import prune_windows_kernel

    width = band_width(window, window_ends)
    major, pruned = major_and_pruned(alt_frequency, n_called)
    starts, stops = window_bounds(contig, width, step, window_ends)
    state = np.zeros((len(major), max(width - 1, 1)), dtype=np.int8)  # every pair unknown
    tasks, sizes = [], []
    for lo, hi in bounds:
        if keep[lo:hi].any():
            tasks.append((store, lo, hi, keep[lo:hi], samples, n_samples))
            sizes.append(hi - lo)
    progress = RateProgress("qc: LD pruning", verbose)
    held, base, loaded, done = None, 0, 0, 0  # rows held: kept variants base .. loaded - 1
    for task, (_, planes, complete, sums) in in_batches(
        _chunk_planes, tasks, progress=progress, sizes=sizes
    ):
        chunk = (planes, complete, sums)
        held = chunk if held is None else tuple(map(np.concatenate, zip(held, chunk)))
        loaded += int(task[3].sum())
        ready = int(np.searchsorted(stops, loaded, side="right"))  # windows inside what is held
        if ready > done:
            planes_h, complete_h, sums_h = held
            prune_windows_kernel(
                starts[done:ready] - base, stops[done:ready] - base, state[base:], major[base:],
                pruned[base:], planes_h, complete_h, sums_h, n_samples, float(r2), FREQ_TOLERANCE,
            )  # fmt: skip
            done = ready
        first = int(starts[done]) if done < len(starts) else loaded
        if first > base:  # no window left needs the rows before ``first``
            held = tuple(a[first - base :] for a in held)
            base = first
    return ~pruned
