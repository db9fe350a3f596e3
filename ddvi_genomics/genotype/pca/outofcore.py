"""Out-of-core PCA of a VCF Zarr store on Dask: the in-memory result, in bounded memory.

The store's ``call_genotype`` is read as a Dask array chunked along variants (all samples of a
chunk together); every pass below reduces chunk by chunk, so peak memory is a few chunks plus
the ``n x n`` Gram matrix, whatever the number of variants.

The QC (:func:`~..qc.outofcore.store_qc`) has chosen the variants and samples first.

1. Gram pass: ``X X^T = sum_b X_b X_b^T`` over the kept variants, ``X`` Patterson-scaled with
   missing calls imputed to the mean (as :class:`~.pca.GenotypePCA`); ``eigh`` on it gives the
   exact top-k PCs (PLINK's exact ``--pca`` computes the same relationship matrix).
2. Loadings pass: ``V = X^T U / s``.

Without ``scheduler`` Dask's local threaded scheduler runs the passes; with a
``dask.distributed`` address they run on that cluster.
"""

from __future__ import annotations

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
    GenotypePCA,
    check_polymorphic_in_fit_samples,
    flip_signs_in_place,
    patterson_block,
    patterson_scale,
    top_eigenpairs,
)
from .projection import ObservedSums


def _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """Patterson-scaled kept variants of one chunk, shape (kept, n_samples); missing -> 0."""
    return patterson_block(chunk_dosage(store, lo, hi, samples)[keep_b], mean_b, inv_b)


def _chunk_gram(store, lo, hi, keep_b, mean_b, inv_b, samples=None) -> np.ndarray:
    """``X_b^T X_b`` of one chunk, shape (n_samples, n_samples)."""
    x = _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples)
    return x.T @ x


def _chunk_loadings(store, lo, hi, keep_b, mean_b, inv_b, samples, weights) -> np.ndarray:
    """Return the chunk's rows of ``X^T U / s``, shape (kept, k)."""
    return _chunk_scaled(store, lo, hi, keep_b, mean_b, inv_b, samples) @ weights


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
        # X X^T = sum over chunks of X_b X_b^T, summed batch by batch where computed
        gram = sum_over_chunks(_chunk_gram, tasks, progress=RateProgress("pca: X X^T", verbose))
        total = float(np.trace(gram))  # ||X||_F^2 without a second pass
        u, s = top_eigenpairs(gram, k)
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
    pca.solver_used_ = "exact (dask, out of core)"
    return pca, scores, qc
