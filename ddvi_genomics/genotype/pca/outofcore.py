"""Out-of-core PCA of a VCF Zarr store on Dask: the in-memory result, in bounded memory.

The store's ``call_genotype`` is read chunk by chunk along variants; every pass below reduces
chunk by chunk. ``X`` is the Patterson-scaled genotype matrix of the kept variants with missing
calls imputed to the mean (as :class:`~.pca.GenotypePCA`). The QC
(:func:`~..qc.outofcore.store_qc`) has chosen the variants and samples first.

Two solvers for the sample side ``U`` (``n x k``):

* ``exact`` (up to :data:`~.decomposition.EXACT_MAX_SAMPLES` samples by default): one pass sums
  ``G = X^T X = sum_b X_b^T X_b`` (``n x n``), and ``eigh`` gives the top-k PCs (PLINK's exact
  ``--pca`` computes the same relationship matrix). Memory grows as ``n^2``: 80 GB at 100,000
  samples.
* ``randomized`` (above that): block subspace iteration (Halko, Martinsson & Tropp 2011, SIAM
  Review 53:217, algorithm 4.4) with ``l = k + 10`` columns: each pass forms ``Y = G Q =
  sum_b X_b^T (X_b Q)`` chunk by chunk, then ``Q = qr(Y)``; after the last pass the Rayleigh-Ritz
  step ``eigh(Q^T G Q)`` gives ``U`` and ``s``. Memory is ``O((n + m) l)`` plus one chunk, never
  an ``n x n`` matrix.

Then a loadings pass gives ``V = X U / s``. The choice is logged and can be forced.

Without ``scheduler`` Dask's local threaded scheduler runs the passes; with a
``dask.distributed`` address they run on that cluster.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...core.progress import RateProgress
from ..qc.outofcore import StoreQC, store_qc
from ..readers.store_tasks import (
    bound_malloc_arenas,
    chunk_counts,
    chunk_dosage,
    dask_scheduler,
    in_batches,
    open_store_chunks,
    sum_over_chunks,
)
from .decomposition import (
    EXACT_MAX_SAMPLES,
    GenotypePCA,
    check_polymorphic_in_fit_samples,
    flip_signs_in_place,
    patterson_block,
    patterson_scale,
    top_eigenpairs,
)
from .projection import ObservedSums

log = logging.getLogger("ddvi_genomics")
#: Variants scaled at once inside a chunk by the passes whose rows add up independently
#: (randomized products, loadings): ``SUB_BLOCK x n_samples`` floats, not a chunk's worth.
SUB_BLOCK = 128


def _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """Patterson-scaled kept variants of one chunk, shape (kept, n_samples); missing -> 0."""
    return patterson_block(chunk_dosage(store, lo, hi, samples)[keep_b], mean_b, inv_b)


def _chunk_gram(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """``X_b^T X_b`` of one chunk, shape (n_samples, n_samples)."""
    x = _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples)
    return x.T @ x


def _chunk_range_product(store, lo, hi, keep_b, mean_b, inv_b, samples, q) -> np.ndarray:
    """``X_b^T (X_b Q)`` and ``||X_b||_F^2`` of one chunk, packed ``(n_samples, l + 1)``.

    The trace column holds the chunk's squared norm in its first row (zeros below), so the sum
    over chunks carries ``||X||_F^2`` beside ``G Q`` in one array. The chunk is scaled and
    multiplied in float32 (half the memory, twice the speed of float64; the subspace iteration
    is approximate anyway), and its share is returned in float64 for the sum over chunks.
    """
    dosage = chunk_dosage(store, lo, hi, samples)[keep_b]
    q32 = q.astype(np.float32)
    out = np.zeros((dosage.shape[1], q.shape[1] + 1))
    for a in range(
        0, len(dosage), SUB_BLOCK
    ):  # a few rows scaled at a time: memory ~ n, not chunk x n
        x = patterson_block(dosage[a : a + SUB_BLOCK], mean_b[a : a + SUB_BLOCK],
                            inv_b[a : a + SUB_BLOCK], dtype=np.float32)  # fmt: skip
        out[:, :-1] += x.T @ (x @ q32)
        out[0, -1] += float(np.einsum("ij,ij->i", x, x).sum(dtype=np.float64))  # rows in float32
    return out


def _chunk_loadings(store, lo, hi, keep_b, mean_b, inv_b, samples, weights) -> np.ndarray:
    """Return the chunk's rows of ``X U / s``, shape (kept, k), scaled a few rows at a time.

    Each row's loadings depend on that row alone, so the sub-blocks give the same numbers as
    scaling the whole chunk, in a fraction of its memory.
    """
    dosage = chunk_dosage(store, lo, hi, samples)[keep_b]
    out = np.empty((len(dosage), weights.shape[1]))
    for a in range(0, len(dosage), SUB_BLOCK):
        rows = slice(a, a + SUB_BLOCK)
        out[rows] = patterson_block(dosage[rows], mean_b[rows], inv_b[rows]) @ weights
    return out


def _chunk_project(store, lo, hi, keep_b, mean_b, inv_b, samples, loadings_b) -> np.ndarray:
    """``X_b^T V_b``: one chunk's share of every sample's scores, shape (n_samples, k)."""
    return _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples).T @ loadings_b


def _chunk_observed_sums(store, lo, hi, keep_b, mean_b, inv_b, samples, loadings_b):
    """One chunk's share of :class:`~.projection.ObservedSums`, packed ``(n, k + k^2 + 1)``."""
    dosage = chunk_dosage(store, lo, hi, samples)[keep_b]
    sums = ObservedSums(dosage.shape[1], loadings_b.shape[1])
    sums.add(patterson_block(dosage, mean_b, inv_b), dosage >= 0, loadings_b)
    return sums.packed()


def store_observed_sums(
    store, pca: GenotypePCA, qc: StoreQC, samples: np.ndarray, *, verbose: bool | None = None
) -> ObservedSums:
    """:class:`~.projection.ObservedSums` of ``samples`` (store indices) on ``pca``, out of core.

    ``pca`` is fitted on the store's QC-passing variants (``qc.keep``), in their order.
    """
    _, bounds = open_store_chunks(Path(store))
    kept_before = np.concatenate([[0], np.cumsum(qc.keep)])
    mean, inv_scale = 2 * pca.allele_frequency_, 1.0 / pca.scale_
    tasks = [
        (str(store), lo, hi, qc.keep[lo:hi], mean[a:b], inv_scale[a:b], samples,
         pca.components_[:, a:b].T)
        for lo, hi in bounds
        for a, b in [(kept_before[lo], kept_before[hi])]
        if b > a
    ]  # fmt: skip
    progress = RateProgress("pca: observed-locus sums", verbose)
    packed = sum_over_chunks(_chunk_observed_sums, tasks, progress=progress)
    return ObservedSums.unpacked(packed, pca.components_.shape[0])


def store_pca(
    store,
    n_components: int = 10,
    *,
    qc: StoreQC | None = None,
    scheduler: str | None = None,
    fit_samples: np.ndarray | None = None,
    verbose: bool | None = None,
    solver: str = "auto",
    seed: int = 0,
    n_iter: int = 6,
) -> tuple[GenotypePCA, np.ndarray, StoreQC]:
    """PCA of a store's QC-passing variants, out of core (module docstring).

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
    solver : {"auto", "exact", "randomized"}
        ``auto``: exact up to :data:`~.decomposition.EXACT_MAX_SAMPLES` fit samples, randomized
        above (memory linear in the samples).
    seed : int
        The randomized solver's starting block (a named stream of the run's seed).
    n_iter : int
        Passes of the randomized solver (each reads the store once).

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
        _, bounds = open_store_chunks(Path(store))
        bound_malloc_arenas()
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
            for (lo, hi, a, b), part in in_batches(
                chunk_counts, tasks, bounds=chunks, progress=progress
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
        chosen = _chosen_solver(solver, n_fit)
        if chosen == "exact":
            # X^T X = sum over chunks of X_b^T X_b, summed batch by batch where computed
            gram = sum_over_chunks(
                _chunk_gram, tasks, progress=RateProgress("pca: X^T X", verbose)
            )
            total = float(np.trace(gram))  # ||X||_F^2 without a second pass
            u, s = top_eigenpairs(gram, k)
            del gram
        else:
            u, s, total = _randomized_top(tasks, n_fit, k, seed=seed, n_iter=n_iter,
                                          verbose=verbose)  # fmt: skip
        weights = u / np.where(s > 0, s, 1.0)
        # loadings V^T = (X^T U / s)^T, written into one (k, n_var) array a few chunks at a time
        vt = np.empty((k, n_var))
        progress = RateProgress("pca: loadings", verbose)
        for (*_, a, b), part in in_batches(
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
            scores = sum_over_chunks(_chunk_project, shares, progress=progress)
    pca = GenotypePCA.from_state(p, vt, eigenvalues=s**2 / (2 * n_var))
    pca.singular_values_ = s
    pca.observed_allele_count_ = 2 * called
    pca.explained_variance_ratio_ = s**2 / float(total)
    pca.total_variance_ = float(total)
    pca.n_fit_samples_ = int(n_fit)
    pca.solver_used_ = f"{chosen} (dask, out of core)"
    return pca, scores, qc


def _chosen_solver(solver: str, n_samples: int) -> str:
    """Resolve ``auto`` by the sample count and log the choice."""
    if solver not in ("auto", "exact", "randomized"):
        raise ValueError(
            f"--pca-solver {solver!r} is not allowed; choose auto, exact or randomized"
        )
    chosen = solver
    if solver == "auto":
        chosen = "exact" if n_samples <= EXACT_MAX_SAMPLES else "randomized"
    log.info(
        "pca: %s solver for %d samples (%s; --pca-solver to choose)", chosen, n_samples,
        f"auto switches above {EXACT_MAX_SAMPLES:,}" if solver == "auto" else "as asked",
    )  # fmt: skip
    return chosen


def _randomized_top(tasks, n: int, k: int, *, seed: int, n_iter: int, verbose=None):
    """Top-k eigenpairs of ``G = X^T X`` by block subspace iteration, memory ``O(n l)``.

    Returns
    -------
    u : np.ndarray, shape (n, k)
    s : np.ndarray, shape (k,)
        Singular values of ``X`` (square roots of the eigenvalues of ``G``).
    total : float
        ``||X||_F^2``.
    """
    width = min(n, k + 10)
    q = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, width)))[0]
    for i in range(max(1, n_iter)):
        progress = RateProgress(f"pca: randomized pass {i + 1}/{max(1, n_iter)}", verbose)
        packed = sum_over_chunks(_chunk_range_product, [(*t, q) for t in tasks], progress=progress)
        y, total = packed[:, :-1], float(packed[0, -1])
        if i == max(1, n_iter) - 1:  # Rayleigh-Ritz on span(Q): Q^T G Q = Q^T Y
            small = q.T @ y
            values, vectors = np.linalg.eigh((small + small.T) / 2)
            order = np.argsort(values)[::-1][:k]
            u = q @ vectors[:, order]
            return u, np.sqrt(np.clip(values[order], 0, None)), total
        q = np.linalg.qr(y)[0]
    raise AssertionError("unreachable")
