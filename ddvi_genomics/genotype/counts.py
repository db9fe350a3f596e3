"""Per-variant and per-sample counts over ``(n_variants, n_samples)`` dosages (``-1`` missing).

Every QC filter is a function of these counts, so the in-memory QC and the out-of-core QC (which
sums them chunk by chunk) share one recipe (:mod:`.qc.recipe`).
"""

from __future__ import annotations

import numpy as np

VARIANT_BLOCK = 16384
"""Most variants per block in the per-variant counts (bounds their temporaries, not results)."""

BLOCK_BYTES = 1 << 22
"""Target size of one block's temporaries: blocks of about 4 MB stay in cache."""


def _blocks(n_variants: int, n_samples: int = 1):
    rows = max(64, min(VARIANT_BLOCK, BLOCK_BYTES // max(n_samples, 1)))
    for lo in range(0, n_variants, rows):
        yield slice(lo, min(lo + rows, n_variants))


def _count(mask: np.ndarray, axis: int) -> np.ndarray:
    """Count True along ``axis`` of a boolean block (summed as bytes: faster than a bool sum)."""
    return mask.view(np.uint8).sum(axis=axis, dtype=np.int32).astype(np.int64)


def count_called(dosage: np.ndarray, axis: int) -> np.ndarray:
    """Count non-missing calls along ``axis`` (1: per variant, 0: per sample)."""
    blocks = list(_blocks(*dosage.shape))
    if axis == 1:
        return np.concatenate([_count(dosage[b] >= 0, 1) for b in blocks] or [np.zeros(0, int)])
    total = np.zeros(dosage.shape[1], dtype=np.int64)
    for b in blocks:
        total += _count(dosage[b] >= 0, 0)
    return total


def variant_missing_rate(dosage: np.ndarray) -> np.ndarray:
    """Fraction of missing calls per variant, shape (n_variants,)."""
    return 1.0 - count_called(dosage, 1) / dosage.shape[1]


def sample_missing_rate(dosage: np.ndarray) -> np.ndarray:
    """Fraction of missing calls per sample, shape (n_samples,)."""
    return 1.0 - count_called(dosage, 0) / max(dosage.shape[0], 1)


def alt_allele_frequency(dosage: np.ndarray) -> np.ndarray:
    """ALT allele frequency per variant over called genotypes (NaN when nothing is called)."""
    called = count_called(dosage, 1)
    total = np.concatenate(
        [
            np.where(dosage[b] >= 0, dosage[b], 0).sum(axis=1, dtype=np.int64)
            for b in _blocks(*dosage.shape)
        ]
        or [np.zeros(0, np.int64)]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / (2.0 * called)


def minor_allele_frequency(dosage: np.ndarray) -> np.ndarray:
    """``min(p, 1 - p)`` per variant."""
    p = alt_allele_frequency(dosage)
    return np.minimum(p, 1 - p)


def genotype_counts(dosage: np.ndarray) -> np.ndarray:
    """Count called genotypes per variant: columns (hom ref, het, hom alt), shape (n_variants, 3).

    One compiled pass over each variant's calls (:func:`.kernels.genotype_counts_kernel`), in
    blocks of variants on the ``--threads`` budget.
    """
    from .kernels import genotype_counts_kernel, in_row_blocks  # numba compiles on first use

    if dosage.shape[0] == 0:
        return np.zeros((0, 3), np.int64)
    return in_row_blocks(genotype_counts_kernel, dosage)
