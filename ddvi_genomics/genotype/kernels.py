"""Compiled loops (numba) for the per-variant QC counts and the Hardy-Weinberg exact test.

Both are loops over the samples or the het counts of one variant at a time that NumPy can only
express with large temporaries; numba compiles them once per machine (cached beside this file,
or in ``NUMBA_CACHE_DIR`` where that is not writable).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Ties within rounding count as equal to the observed probability (as PLINK and
#: :func:`..qc.hwe.hwe_exact_pvalue` do).
TIE_TOLERANCE = 1e-8
#: A het count whose probability is below this share of the observed one (and of the total)
#: ends a sweep: the distribution is log-concave, so what lies beyond sums to less.
NEGLIGIBLE = 1e-20


@njit(cache=True, nogil=True)
def genotype_counts_kernel(dosage: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Count called genotypes per variant: (hom ref, het, hom alt), shape (n_variants, 3).

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        ALT allele counts, -1 (any negative) for a missing call.
    """
    n_variants, n_samples = dosage.shape
    out = np.zeros((n_variants, 3), dtype=np.int64)
    for i in range(n_variants):
        hom_ref = np.int32(0)
        het = np.int32(0)
        hom_alt = np.int32(0)
        for j in range(n_samples):
            x = dosage[i, j]
            hom_ref += x == 0
            het += x == 1
            hom_alt += x == 2
        out[i, 0] = hom_ref
        out[i, 1] = het
        out[i, 2] = hom_alt
    return out


@njit(cache=True, nogil=True)
def _ratio_up(het: int, n_rare: int, n: int) -> float:  # pragma: no cover - compiled
    """Levene's ``P(het + 2) / P(het)``: ``4 r c / ((het + 2)(het + 1))`` (Wigginton 2005)."""
    rare = (n_rare - het) // 2
    common = n - het - rare
    return 4.0 * rare * common / ((het + 2.0) * (het + 1.0))


@njit(cache=True, nogil=True)
def hwe_pvalue_kernel(hom1: int, het: int, hom2: int, midp: bool) -> float:  # pragma: no cover
    """Exact HWE p-value of one variant (Wigginton, Cutler & Abecasis 2005, AJHG 76).

    The het counts' probabilities are built from the mode outwards by Levene's ratio, relative
    to the mode's (so nothing overflows), each side until its terms are negligible against the
    observed one; the p-value sums those no more likely than the observed count.
    """
    n = hom1 + het + hom2
    if n == 0:
        return 1.0
    n_rare = 2 * min(hom1, hom2) + het
    mode = n_rare * (2 * n - n_rare) // (2 * n)
    mode += (n_rare - mode) % 2  # the het count has the parity of the rare allele count
    while mode + 2 <= n_rare and _ratio_up(mode, n_rare, n) > 1.0:
        mode += 2
    while mode >= 2 and _ratio_up(mode - 2, n_rare, n) < 1.0:
        mode -= 2
    observed = 1.0  # P(het) / P(mode)
    h = mode
    while h < het:
        observed *= _ratio_up(h, n_rare, n)
        h += 2
    while h > het:
        observed /= _ratio_up(h - 2, n_rare, n)
        h -= 2
    limit = observed * (1.0 + TIE_TOLERANCE)
    total = 1.0
    tail = 1.0 if 1.0 <= limit else 0.0
    w = 1.0
    h = mode
    while h + 2 <= n_rare:  # towards more heterozygotes
        w *= _ratio_up(h, n_rare, n)
        h += 2
        total += w
        if w <= limit:
            tail += w
            if w < NEGLIGIBLE * observed or w == 0.0:
                break
    w = 1.0
    h = mode
    while h >= 2:  # towards fewer heterozygotes
        w /= _ratio_up(h - 2, n_rare, n)
        h -= 2
        total += w
        if w <= limit:
            tail += w
            if w < NEGLIGIBLE * observed or w == 0.0:
                break
    if midp:
        tail -= 0.5 * observed
    return min(1.0, tail / total)


@njit(cache=True, nogil=True)
def hwe_pvalues_kernel(counts: np.ndarray, midp: bool) -> np.ndarray:  # pragma: no cover
    """:func:`hwe_pvalue_kernel` of every row of ``counts`` (hom ref, het, hom alt), shape (n,)."""
    out = np.empty(counts.shape[0])
    for i in range(counts.shape[0]):
        out[i] = hwe_pvalue_kernel(counts[i, 0], counts[i, 1], counts[i, 2], midp)
    return out
