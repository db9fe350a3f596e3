"""Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005, AJHG 76), one variant or many."""

from __future__ import annotations

import numpy as np

from ..counts import genotype_counts


def hwe_exact_pvalue(n_het: int, n_hom1: int, n_hom2: int, *, midp: bool = False) -> float:
    """Exact test of Hardy-Weinberg equilibrium for one variant (Wigginton et al. 2005, AJHG 76).

    Conditional on the allele counts, the number of heterozygotes has the distribution of
    Levene (1949); the p-value sums the probabilities of every het count no more likely than the
    observed one (``midp``: minus half the observed one's, PLINK's ``midp`` modifier).
    Computed from the mode outwards by the ratio of neighbouring probabilities, as in the paper.
    """
    n = n_het + n_hom1 + n_hom2
    if n == 0:
        return 1.0
    hom_rare, hom_common = sorted((n_hom1, n_hom2))
    n_rare = 2 * hom_rare + n_het
    probs = np.zeros(n_rare + 1)
    mode = n_rare * (2 * n - n_rare) // (2 * n)
    if (n_rare - mode) % 2:
        mode += 1  # het count has the parity of the rare allele count
    probs[mode] = 1.0
    rare, common = (n_rare - mode) // 2, n - mode - (n_rare - mode) // 2
    for het in range(mode, 1, -2):  # towards fewer heterozygotes
        probs[het - 2] = probs[het] * het * (het - 1) / (4.0 * (rare + 1) * (common + 1))
        rare, common = rare + 1, common + 1
    rare, common = (n_rare - mode) // 2, n - mode - (n_rare - mode) // 2
    for het in range(mode, n_rare - 1, 2):  # towards more heterozygotes
        probs[het + 2] = probs[het] * 4.0 * rare * common / ((het + 2.0) * (het + 1.0))
        rare, common = rare - 1, common - 1
    probs /= probs.sum()
    observed = probs[n_het]
    p = probs[probs <= observed * (1 + 1e-8)].sum()
    if midp:
        p -= 0.5 * observed
    return float(min(1.0, p))


def hwe_pvalues(dosage: np.ndarray, *, midp: bool = False) -> np.ndarray:
    """Exact HWE p-value of every variant (called genotypes only), shape (n_variants,).

    Variants share their genotype counts often, so each distinct ``(het, hom, hom)`` triple is
    tested once.
    """
    return hwe_pvalues_from_counts(genotype_counts(dosage), midp=midp)


def hwe_pvalues_from_counts(counts: np.ndarray, *, midp: bool = False) -> np.ndarray:
    """Exact HWE p-values from genotype counts ``(n_variants, 3)`` (hom ref, het, hom alt).

    The same numbers as :func:`hwe_exact_pvalue` per variant, computed for many at once: the
    distribution of the het count depends only on the called genotypes ``n`` and the rare
    allele count, so it is built once per distinct ``(n, n_rare)`` (with array products), and
    every variant of that group reads its p-value off the sorted distribution's cumulative sum.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) == 0:
        return np.zeros(0)
    unique, inverse = np.unique(counts, axis=0, return_inverse=True)
    hom1, het, hom2 = unique.T
    n = hom1 + het + hom2
    n_rare = 2 * np.minimum(hom1, hom2) + het
    p = np.ones(len(unique))
    order = np.lexsort((n_rare, n))
    starts = np.flatnonzero(np.diff(n[order]) | np.diff(n_rare[order])) + 1
    for rows in np.split(order, starts):
        if n[rows[0]] == 0:
            continue  # nothing called: p = 1
        probs = _het_count_distribution(int(n[rows[0]]), int(n_rare[rows[0]]))
        observed = probs[het[rows]]
        ascending = np.sort(probs)
        below = np.searchsorted(ascending, observed * (1 + 1e-8), side="right")
        p[rows] = np.cumsum(ascending)[below - 1] - (0.5 * observed if midp else 0.0)
    return np.minimum(1.0, p)[np.asarray(inverse).ravel()]


def _het_count_distribution(n: int, n_rare: int) -> np.ndarray:
    """Levene's distribution of the het count given ``n`` genotypes and ``n_rare`` rare alleles.

    Returns
    -------
    np.ndarray, shape (n_rare + 1,)
        Probability of each het count (0 where its parity differs from ``n_rare``'s). Built
        from the mode outwards with the ratios of :func:`hwe_exact_pvalue`, as running
        products, so the two agree to rounding.
    """
    probs = np.zeros(n_rare + 1)
    mode = n_rare * (2 * n - n_rare) // (2 * n)
    if (n_rare - mode) % 2:
        mode += 1
    rare0, common0 = (n_rare - mode) // 2, n - mode - (n_rare - mode) // 2
    probs[mode] = 1.0
    down = np.arange(mode, 1, -2)  # het counts stepping towards fewer heterozygotes
    steps = np.arange(len(down))
    ratio = down * (down - 1.0) / (4.0 * (rare0 + steps + 1.0) * (common0 + steps + 1.0))
    probs[down - 2] = np.cumprod(ratio)
    up = np.arange(mode, n_rare - 1, 2)  # towards more heterozygotes
    steps = np.arange(len(up))
    ratio = 4.0 * (rare0 - steps) * (common0 - steps) / ((up + 2.0) * (up + 1.0))
    probs[up + 2] = np.cumprod(ratio)
    return probs / probs.sum()
