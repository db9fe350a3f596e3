"""The LD pruning tests' oracle: every pair of the band in float32 products, then PLINK's passes.

The package computes ``r^2`` lazily from popcounts of bit planes (``kernels.pair_r2``) and only
for the pairs the window passes reach; these compute every pair of the band by matrix products
instead (the package's implementation before the popcount kernels), so the two can be compared.
"""

from __future__ import annotations

import numpy as np

from ddvi_genomics.genotype.qc.ldprune import (
    FREQ_TOLERANCE,
    major_and_pruned,
    window_bounds,
)


def band_r2(
    dosage: np.ndarray, width: int, *, chunk: int = 64, rows: int | None = None
) -> np.ndarray:
    """``r^2`` of every variant with the next ``width - 1`` variants, over co-called samples.

    Computed block by block: a block of ``chunk`` variants against itself and the ``width - 1``
    variants after it. The sums are products of small integers (allele counts, call masks), so
    they are taken in float32, exactly (every partial sum stays below 2^24 for fewer than
    4 million samples), and only combined in float64; the genotypes are converted one block at
    a time. Where a block and its look-ahead have no missing call, one product (``x y^T``)
    replaces the six that pairwise-complete sums need.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Allele counts, -1 for a missing call.
    width : int
        Window size: pairs less than ``width`` variants apart.
    chunk : int
        Variants per block (memory about ``chunk * (chunk + width) * 8`` bytes per product).
        A block computes ``chunk + width - 1`` pairs per variant to use ``width - 1``; 64 was
        the fastest of 32-256 for windows of 50 and 200 variants on 2 cores.
    rows : int, optional
        Compute the first ``rows`` variants' pairs only (the rest of ``dosage`` is their
        look-ahead); default all.

    Returns
    -------
    np.ndarray, float64, shape (rows, width - 1)
        ``out[i, k] = r^2(i, i + k + 1)``; 0 past the end and where a variant does not vary
        over the samples called at both.
    """
    n_variants, n_samples = dosage.shape
    if n_samples >= 2**22:
        raise ValueError(
            f"band_r2 sums in float32 exactly below 4,194,304 samples; got {n_samples}"
        )
    n_rows = n_variants if rows is None else min(rows, n_variants)
    out = np.zeros((n_rows, max(width - 1, 0)))
    lags = np.arange(1, width)
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        right = min(hi + width - 1, n_variants)
        r2 = _block_r2(dosage[lo:right], hi - lo)
        rows_b = np.arange(hi - lo)[:, None]
        cols = rows_b + lags  # out[lo + i, k] = r2[i, i + k + 1]
        inside = cols < right - lo
        out[lo:hi][inside] = r2[np.broadcast_to(rows_b, cols.shape)[inside], cols[inside]]
    return out


def _block_r2(block: np.ndarray, n_left: int) -> np.ndarray:
    """``r^2`` of the first ``n_left`` variants of ``block`` with every variant of it.

    Parameters
    ----------
    block : np.ndarray, int8, shape (n_block, n_samples)
    n_left : int

    Returns
    -------
    np.ndarray, float64, shape (n_left, n_block)
    """
    called = block >= 0
    y = np.where(called, block, 0).astype(np.float32)  # (n_block, n_samples)
    x = y[:n_left]
    if called.all():  # every sum but x y^T follows from the per-variant totals
        n = float(block.shape[1])
        sum_x, sum_y = x.sum(axis=1).astype(np.float64), y.sum(axis=1).astype(np.float64)
        sq_x = (x * x).sum(axis=1).astype(np.float64)
        sq_y = (y * y).sum(axis=1).astype(np.float64)
        cov = (x @ y.T).astype(np.float64) * n - np.outer(sum_x, sum_y)
        var_x = (sq_x * n - sum_x * sum_x)[:, None]
        var_y = (sq_y * n - sum_y * sum_y)[None, :]
    else:
        w = called.astype(np.float32)
        m = w[:n_left]
        n_y = len(y)
        # x [y; w]^T, (x*x) w^T and m [y; w; y*y]^T: the six pairwise-complete sums
        x_products = (x @ np.concatenate([y, w]).T).astype(np.float64)
        m_products = (m @ np.concatenate([y, w, y * y]).T).astype(np.float64)
        xy, sum_x = x_products[:, :n_y], x_products[:, n_y:]
        sum_y, n, sq_y = (
            m_products[:, :n_y],
            m_products[:, n_y : 2 * n_y],
            m_products[:, 2 * n_y :],
        )
        sq_x = ((x * x) @ w.T).astype(np.float64)
        cov = xy * n - sum_x * sum_y
        var_x = sq_x * n - sum_x * sum_x
        var_y = sq_y * n - sum_y * sum_y
    denominator = var_x * var_y
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, cov * cov / denominator, 0.0)


def prune_from_band(
    exceeds: np.ndarray,
    alt_frequency: np.ndarray,
    n_called: np.ndarray,
    contig: np.ndarray,
    *,
    window: int,
    step: int,
    window_ends: np.ndarray | None = None,
) -> np.ndarray:
    """Run PLINK's window passes given which pairs exceed the ``r^2`` threshold.

    Parameters
    ----------
    exceeds : np.ndarray of bool, shape (n_variants, window - 1)
        ``exceeds[i, k]``: ``r^2(i, i + k + 1) > R2`` (from :func:`band_r2`).
    alt_frequency : np.ndarray, shape (n_variants,)
        ALT allele frequency over called genotypes.
    n_called : np.ndarray of int, shape (n_variants,)
        Called genotypes.
    contig : np.ndarray of str, shape (n_variants,)
    window, step : int
    window_ends : np.ndarray of int, shape (n_variants,), optional
        Kilobase windows (:func:`ldprune.kb_window_ends`): the window starting at ``i`` ends before
        ``window_ends[i]``; ``window`` is then the band width.

    Returns
    -------
    np.ndarray of bool, shape (n_variants,)
        True for the variants kept.
    """
    from ddvi_genomics.genotype.kernels import PAIR_ABOVE, PAIR_BELOW, prune_windows_kernel

    major, pruned = major_and_pruned(alt_frequency, n_called)
    state = np.where(exceeds, PAIR_ABOVE, PAIR_BELOW).astype(np.int8)  # every pair known
    if state.shape[1] == 0:
        state = np.full((len(state), 1), PAIR_BELOW, dtype=np.int8)
    starts, stops = window_bounds(contig, window, step, window_ends)
    no_planes = np.zeros((len(state), 3, 0), dtype=np.uint64)  # never read: no pair is unknown
    prune_windows_kernel(starts, stops, state, major, pruned, no_planes,
                         np.ones(len(state), bool), np.zeros((len(state), 2), np.int64), 0,
                         0.0, FREQ_TOLERANCE)  # fmt: skip
    return ~pruned
