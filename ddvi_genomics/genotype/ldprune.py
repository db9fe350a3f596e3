"""LD pruning as ``plink --indep-pairwise WINDOW STEP R2`` does it (variant-count windows).

The rules of PLINK 1.9, which PLINK 2 kept as its default up to the 2.00a3 releases (later ones
scan pairs nearest-first and keep this order behind the ``plink1-order`` modifier):

* windows never cross a contig; a window holds ``WINDOW`` consecutive variants and moves on by
  ``STEP``; a variant pruned in one window stays pruned; monomorphic variants are pruned first;
* inside a window, passes are repeated until one prunes nothing. A pass takes each kept
  variant ``a`` in order and looks for the first later kept variant ``b`` with
  ``r^2(a, b) > R2``; of the two it prunes the one with the lower minor allele frequency (``b``
  on a tie), then moves on to the next ``a``;
* ``r^2`` is the squared Pearson correlation of allele counts over the samples called at both
  variants; allele frequencies use every called genotype.

Reference: Purcell et al. (2007) AJHG 81:559 and Chang et al. (2015) GigaScience 4:7 (PLINK 1.9
and 2); the tests compare the kept sets with ``plink2 --indep-pairwise`` on simulated data.
"""

from __future__ import annotations

import numpy as np

#: Relative tolerance when comparing allele frequencies (PLINK's kSmallEpsilon, 2^-44).
FREQ_TOLERANCE = 2.0**-44


def band_r2(
    dosage: np.ndarray, width: int, *, chunk: int = 256, rows: int | None = None
) -> np.ndarray:
    """``r^2`` of every variant with the next ``width - 1`` variants, over co-called samples.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Allele counts, -1 for a missing call.
    width : int
        Window size: pairs less than ``width`` variants apart.
    chunk : int
        Variants per block of the computation (memory ``chunk * (chunk + width)``).
    rows : int, optional
        Compute the first ``rows`` variants' pairs only (the rest of ``dosage`` is their
        look-ahead); default all.

    Returns
    -------
    np.ndarray, float64, shape (rows, width - 1)
        ``out[i, k] = r^2(i, i + k + 1)``; 0 past the end and where a variant does not vary
        over the samples called at both.
    """
    n_variants = len(dosage)
    n_rows = n_variants if rows is None else min(rows, n_variants)
    called = (dosage >= 0).astype(np.float64)
    codes = np.where(dosage >= 0, dosage.astype(np.float64), 0.0)
    out = np.zeros((n_rows, max(width - 1, 0)))
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        right = min(hi + width - 1, n_variants)
        x, m = codes[lo:hi], called[lo:hi]
        y, w = codes[lo:right], called[lo:right]
        n = m @ w.T
        sum_x, sum_y = x @ w.T, m @ y.T
        cov = (x @ y.T) * n - sum_x * sum_y
        var_x = ((x * x) @ w.T) * n - sum_x * sum_x
        var_y = (m @ (y * y).T) * n - sum_y * sum_y
        denominator = var_x * var_y
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(denominator > 0, cov * cov / denominator, 0.0)
        offsets = np.arange(hi - lo)
        for k in range(width - 1):
            cols = offsets + k + 1
            ok = cols < right - lo
            out[lo + offsets[ok], k] = r2[offsets[ok], cols[ok]]
    return out


def prune_pairwise(
    dosage: np.ndarray, contig: np.ndarray, *, window: int, step: int, r2: float
) -> np.ndarray:
    """Which variants ``plink --indep-pairwise window step r2`` keeps.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Allele counts, -1 for a missing call; variants sorted by contig and position.
    contig : np.ndarray of str, shape (n_variants,)
    window, step : int
        Window size and shift in variants (``1 <= step <= window``).
    r2 : float
        Pairs with ``r^2`` above this lose one variant.

    Returns
    -------
    np.ndarray of bool, shape (n_variants,)
        True for the variants kept (``PREFIX.prune.in``).
    """
    n_called = (dosage >= 0).sum(1)
    alt_frequency = np.clip(dosage, 0, 2).sum(1) / np.maximum(2 * n_called, 1)
    return prune_from_band(
        band_r2(dosage, window) > r2, alt_frequency, n_called, contig, window=window, step=step
    )


def prune_from_band(
    exceeds: np.ndarray,
    alt_frequency: np.ndarray,
    n_called: np.ndarray,
    contig: np.ndarray,
    *,
    window: int,
    step: int,
) -> np.ndarray:
    """Run PLINK's window passes given which pairs exceed the ``r^2`` threshold.

    Parameters
    ----------
    exceeds : np.ndarray of bool, shape (n_variants, window - 1)
        ``exceeds[i, k]``: ``r^2(i, i + k + 1) > R2`` (from :func:`band_r2`, in memory or chunk
        by chunk out of core).
    alt_frequency : np.ndarray, shape (n_variants,)
        ALT allele frequency over called genotypes.
    n_called : np.ndarray of int, shape (n_variants,)
        Called genotypes.
    contig : np.ndarray of str, shape (n_variants,)
    window, step : int

    Returns
    -------
    np.ndarray of bool, shape (n_variants,)
        True for the variants kept.
    """
    major = np.maximum(alt_frequency, 1.0 - alt_frequency)  # lower MAF = higher major frequency
    pruned = (major >= 1.0) | (np.asarray(n_called) == 0)
    # partners[i]: the later variants j (within a window) with r^2(i, j) > r2, in order
    partners = [i + 1 + np.flatnonzero(row) for i, row in enumerate(exceeds)]
    contig = np.asarray(contig)
    bounds = np.flatnonzero(np.r_[True, contig[1:] != contig[:-1], True])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        start = int(first)
        while True:
            end = min(start + window, int(last))
            _prune_window(partners, major, pruned, start, end)
            if end == last:
                break
            start += step
    return ~pruned


def _prune_window(partners, major, pruned, start: int, end: int) -> None:
    """Repeat passes over variants ``start .. end - 1`` until one prunes nothing (in place)."""
    while True:
        changed = False
        for a in range(start, end):
            if pruned[a]:
                continue
            for b in partners[a]:
                if b >= end:
                    break
                if pruned[b]:
                    continue
                if major[a] > major[b] * (1 + FREQ_TOLERANCE):
                    pruned[a] = True  # a has the lower minor allele frequency
                else:
                    pruned[b] = True
                changed = True
                break
        if not changed:
            return
