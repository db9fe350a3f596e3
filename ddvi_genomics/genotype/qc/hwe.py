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

    The numbers of :func:`hwe_exact_pvalue` (to about 1e-13 relative), one compiled loop per
    variant (:func:`..kernels.hwe_pvalue_kernel`): the het counts' probabilities relative to
    the mode's, each side of the mode only until its terms are negligible against the observed
    count's (the distribution is log-concave), so a variant costs a few hundred steps at
    biobank sample sizes, not ``n_rare / 2``.
    """
    from ..kernels import hwe_pvalues_kernel, in_row_blocks  # numba compiles on first use

    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if len(counts) == 0:
        return np.zeros(0)
    return in_row_blocks(hwe_pvalues_kernel, counts, midp)
