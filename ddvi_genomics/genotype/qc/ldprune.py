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

from ..packed import pack_dosage, packed_counts, packed_planes

#: Relative tolerance when comparing allele frequencies (PLINK's kSmallEpsilon, 2^-44).
FREQ_TOLERANCE = 2.0**-44


def prune_pairwise(
    dosage: np.ndarray,
    contig: np.ndarray,
    *,
    window: int,
    step: int,
    r2: float,
    position: np.ndarray | None = None,
    window_kb: bool = False,
) -> np.ndarray:
    """Which variants ``plink --indep-pairwise window[kb] step r2`` keeps.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Allele counts, -1 for a missing call; variants sorted by contig and position.
    contig : np.ndarray of str, shape (n_variants,)
    window, step : int
        Window size and shift in variants (``1 <= step <= window``).
    r2 : float
        Pairs with ``r^2`` above this lose one variant.
    position : np.ndarray of int, shape (n_variants,), optional
        Needed with ``window_kb``.
    window_kb : bool
        ``window`` is in kilobases (PLINK's ``kb`` modifier; ``step`` must be 1).

    Returns
    -------
    np.ndarray of bool, shape (n_variants,)
        True for the variants kept (``PREFIX.prune.in``).
    """
    from ..kernels import prune_windows_kernel

    counts, planes, complete, sums = packed_genotypes(dosage)
    n_called = counts.sum(1)
    alt_frequency = (counts[:, 1] + 2 * counts[:, 2]) / np.maximum(2 * n_called, 1)
    ends = kb_window_ends(contig, position, window) if window_kb else None
    width = band_width(window, ends)
    major, pruned = major_and_pruned(alt_frequency, n_called)
    n_variants, n_samples = dosage.shape
    state = np.zeros((n_variants, max(width - 1, 1)), dtype=np.int8)  # every pair unknown
    starts, stops = window_bounds(contig, width, step, ends)
    prune_windows_kernel(starts, stops, state, major, pruned, planes, complete, sums,
                         n_samples, float(r2), FREQ_TOLERANCE)  # fmt: skip
    return ~pruned


def packed_genotypes(dosage: np.ndarray):
    """Everything :func:`..kernels.pair_r2` reads about each variant (:func:`planes_from_codes`)."""
    return planes_from_codes(pack_dosage(dosage), dosage.shape[1])


def planes_from_codes(codes: np.ndarray, n_samples: int):
    """Everything :func:`..kernels.pair_r2` reads about each variant, from two-bit codes.

    Parameters
    ----------
    codes : np.ndarray, uint8, shape (n_variants, ceil(n_samples / 4))
        Genotypes two bits a call (:mod:`..packed`).
    n_samples : int

    Returns
    -------
    counts : np.ndarray, int64, shape (n_variants, 3)
        Called genotypes (hom ref, het, hom alt).
    planes : np.ndarray, uint64, shape (n_variants, 3, n_words)
        :func:`bit_planes`.
    complete : np.ndarray of bool, shape (n_variants,)
        No missing call.
    sums : np.ndarray, int64, shape (n_variants, 2)
        Sum of allele counts and of their squares over the samples.
    """
    counts = packed_counts(codes)
    complete = counts.sum(1) == n_samples
    sums = np.stack([counts[:, 1] + 2 * counts[:, 2], counts[:, 1] + 4 * counts[:, 2]], axis=1)
    return counts, packed_planes(codes, n_samples), complete, sums


def bit_planes(dosage: np.ndarray) -> np.ndarray:
    """Pack allele counts as three bit planes per variant, 64 samples per word.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Allele counts, -1 for a missing call.

    Returns
    -------
    np.ndarray, uint64, shape (n_variants, 3, ceil(n_samples / 64))
        Plane 0: count >= 1; plane 1: count == 2; plane 2: called. Sample ``s`` is bit
        ``s % 64`` of word ``s // 64``; padding bits are 0 (never called).
    """
    return packed_planes(pack_dosage(dosage), dosage.shape[1])


def major_and_pruned(
    alt_frequency: np.ndarray, n_called: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the major allele frequency (lower MAF = higher) and the variants pruned first.

    Monomorphic and never-called variants are pruned before any window.
    """
    major = np.maximum(alt_frequency, 1.0 - alt_frequency)
    return major, (major >= 1.0) | (np.asarray(n_called) == 0)


def window_bounds(contig, width: int, step: int, window_ends) -> tuple[np.ndarray, np.ndarray]:
    """First and end (exclusive) variant of every window, in PLINK's order, shape (n_windows,).

    Windows never cross a contig; each holds ``width`` variants (or, with ``window_ends``, the
    kilobase window from its first variant) and the next starts ``step`` variants later; the
    last window of a contig ends at its last variant.
    """
    contig = np.asarray(contig)
    bounds = np.flatnonzero(np.r_[True, contig[1:] != contig[:-1], True])
    starts, stops = [], []
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        start = int(first)
        while True:
            stop = start + width if window_ends is None else int(window_ends[start])
            stop = min(stop, int(last))
            starts.append(start)
            stops.append(stop)
            if stop == last:
                break
            start += step
    return np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)


def kb_window_ends(contig: np.ndarray, position: np.ndarray, window_kb: int) -> np.ndarray:
    """End (exclusive) of the kilobase window that starts at each variant, shape (n,).

    A window starting at variant ``i`` holds the later variants of its contig at most
    ``window_kb * 1000`` bp after it (PLINK's ``--indep-pairwise Nkb``).
    """
    contig = np.asarray(contig)
    position = np.asarray(position, dtype=np.int64)
    ends = np.empty(len(position), dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, contig[1:] != contig[:-1], True])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        pos = position[first:last]
        ends[first:last] = first + np.searchsorted(pos, pos + window_kb * 1000, side="right")
    return ends


def band_width(window: int, window_ends: np.ndarray | None) -> int:
    """Variants per window: ``window``, or the widest kilobase window (at least 2)."""
    if window_ends is None:
        return window
    widest = int((window_ends - np.arange(len(window_ends))).max()) if len(window_ends) else 2
    return max(widest, 2)
