"""Compiled loops (numba): per-variant QC counts, two-bit genotypes, the HWE exact test, LD pruning.

All are loops over one variant's calls, its het counts, or the pairs of variants a window pass
reaches, which NumPy can only express with large temporaries or wasted work; numba compiles
them once per machine (cached beside this file, or in ``NUMBA_CACHE_DIR`` where that is not
writable).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

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


#: Fewest rows per thread worth a thread of their own in :func:`in_row_blocks`.
MIN_ROWS_PER_THREAD = 4096


def in_row_blocks(kernel, rows: np.ndarray, *args) -> np.ndarray:
    """Run a row-wise kernel on consecutive blocks of ``rows``, one thread per block.

    The kernels release the GIL (``nogil``), so the threads run side by side. Threads: the
    ``--threads`` budget from the main thread; one from any other thread (a Dask task, whose
    scheduler already runs one task per core).

    Returns
    -------
    np.ndarray
        The blocks' results stacked in order (the same as ``kernel(rows, *args)``).
    """
    from ..threads import thread_budget

    main = threading.current_thread() is threading.main_thread()
    threads = min(thread_budget() if main else 1, len(rows) // MIN_ROWS_PER_THREAD)
    if threads <= 1:
        return kernel(rows, *args)
    bounds = np.linspace(0, len(rows), threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(lambda lo, hi: kernel(rows[lo:hi], *args), bounds[:-1], bounds[1:])
        return np.concatenate(list(parts))


# -- Two-bit genotypes: 4 calls a byte, as plink2 holds them in memory ------------------------
#
# Code of a call: its ALT count 0, 1 or 2; 3 for missing. Sample s is bits 2 (s % 4) of byte
# s // 4; the last byte's unused slots hold 3 (missing), so they are never counted as called.

#: The two-bit code of a missing call (and of the padding).
MISSING_CODE = 3
_EVEN_BITS = np.uint64(0x5555555555555555)


@njit(cache=True, nogil=True)
def _code(x):  # pragma: no cover - compiled
    """Two-bit code of an int8 allele count: itself for 0-2, 3 for any negative (sign bit)."""
    u = np.uint8(x)
    return (u & np.uint8(3)) | ((u >> np.uint8(7)) * np.uint8(3))


@njit(cache=True, nogil=True)
def pack_dosage_kernel(dosage: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Two-bit codes of allele counts, shape (n_variants, ceil(n_samples / 4)), uint8.

    ``dosage`` is int8 (n_variants, n_samples), any negative value missing. Whole bytes are
    packed without branches; the last byte's unused slots are coded missing.
    """
    n_variants, n_samples = dosage.shape
    n_bytes = (n_samples + 3) // 4
    n_whole = n_samples // 4
    out = np.empty((n_variants, n_bytes), dtype=np.uint8)
    for i in range(n_variants):
        row = dosage[i]
        for byte in range(n_whole):
            s = 4 * byte
            out[i, byte] = (_code(row[s]) | (_code(row[s + 1]) << np.uint8(2))
                            | (_code(row[s + 2]) << np.uint8(4))
                            | (_code(row[s + 3]) << np.uint8(6)))  # fmt: skip
        if n_whole < n_bytes:
            value = np.uint8(0)
            for slot in range(4):
                s = 4 * n_whole + slot
                code = _code(row[s]) if s < n_samples else np.uint8(MISSING_CODE)
                value |= code << np.uint8(2 * slot)
            out[i, n_whole] = value
    return out


def _byte_calls() -> np.ndarray:
    """Return the four allele counts each byte value codes, shape (256, 4), int8, -1 missing."""
    codes = (np.arange(256)[:, None] >> (2 * np.arange(4))) & 3
    return np.where(codes == MISSING_CODE, -1, codes).astype(np.int8)


_BYTE_CALLS = _byte_calls()


@njit(cache=True, nogil=True)
def unpack_dosage_kernel(packed, first: int, n_samples: int):  # pragma: no cover - compiled
    """Allele counts of samples ``first .. first + n_samples - 1``, int8, -1 missing.

    ``packed`` is uint8 (n_variants, n_bytes) with sample 0 in byte 0 (see above); whole
    bytes go through a 256-entry table, four calls at a time.
    """
    n_variants = packed.shape[0]
    out = np.empty((n_variants, n_samples), dtype=np.int8)
    for i in range(n_variants):
        j = 0
        while j < n_samples and (first + j) & 3:  # calls before the first whole byte
            s = first + j
            out[i, j] = _BYTE_CALLS[packed[i, s >> 2], s & 3]
            j += 1
        while j + 4 <= n_samples:
            calls = _BYTE_CALLS[packed[i, (first + j) >> 2]]
            out[i, j] = calls[0]
            out[i, j + 1] = calls[1]
            out[i, j + 2] = calls[2]
            out[i, j + 3] = calls[3]
            j += 4
        while j < n_samples:
            s = first + j
            out[i, j] = _BYTE_CALLS[packed[i, s >> 2], s & 3]
            j += 1
    return out


@njit(cache=True, nogil=True)
def _even_bits(x):  # pragma: no cover - compiled
    """Gather bits 0, 2, 4, ..., 62 of a uint64 into its low 32 bits (bit 2k -> bit k)."""
    x &= _EVEN_BITS
    x = (x | (x >> np.uint64(1))) & np.uint64(0x3333333333333333)
    x = (x | (x >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    return (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)


@njit(cache=True, nogil=True)
def packed_counts_kernel(words: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Count called genotypes per variant (hom ref, het, hom alt) from two-bit codes, (n, 3).

    ``words`` is the packed rows viewed as uint64 (32 calls a word; padding coded missing).
    For a code's low bit ``lo`` and high bit ``hi``: 0 is neither, 1 is ``lo`` only, 2 is
    ``hi`` only, missing is both; each count is one popcount a word.
    """
    n_variants, n_words = words.shape
    out = np.zeros((n_variants, 3), dtype=np.int64)
    for i in range(n_variants):
        hom_ref = het = hom_alt = 0
        for w in range(n_words):
            lo = words[i, w] & _EVEN_BITS
            hi = (words[i, w] >> np.uint64(1)) & _EVEN_BITS
            hom_ref += _popcount(~(lo | hi) & _EVEN_BITS)
            het += _popcount(lo & ~hi)
            hom_alt += _popcount(hi & ~lo)
        out[i, 0] = hom_ref
        out[i, 1] = het
        out[i, 2] = hom_alt
    return out


@njit(cache=True, nogil=True)
def packed_planes_kernel(words, n_plane_words: int):  # pragma: no cover - compiled
    """Bit planes (:func:`..qc.ldprune.bit_planes`) from two-bit codes, no unpacking.

    ``words``: packed rows as uint64, shape (n_variants, 2 n_plane_words) (32 calls a word,
    padding coded missing). Returns uint64 (n_variants, 3, n_plane_words): ALT count >= 1,
    ALT count == 2, called; 64 samples a word.
    """
    n_variants = words.shape[0]
    out = np.empty((n_variants, 3, n_plane_words), dtype=np.uint64)
    for i in range(n_variants):
        for w in range(n_plane_words):
            first, second = words[i, 2 * w], words[i, 2 * w + 1]
            one = np.uint64(1)
            lo = _even_bits(first) | (_even_bits(second) << np.uint64(32))
            hi = _even_bits(first >> one) | (_even_bits(second >> one) << np.uint64(32))
            out[i, 0, w] = lo ^ hi  # code 1 or 2
            out[i, 1, w] = hi & ~lo  # code 2
            out[i, 2, w] = ~(lo & hi)  # not missing
    return out


# -- LD pruning: r^2 of bit-packed genotypes, computed only for the pairs a window pass needs --

#: Pair states in the LD band: not computed yet, r^2 above the threshold, at or below it.
PAIR_UNKNOWN, PAIR_ABOVE, PAIR_BELOW = 0, 1, 2


@intrinsic
def _popcount(typingctx, x):  # pragma: no cover - compiled
    """Set bits of a uint64 (LLVM's ctpop: the POPCNT instruction where the CPU has it)."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])

    return signature, codegen


@njit(cache=True, nogil=True)
def pair_r2(planes: np.ndarray, complete: np.ndarray, sums: np.ndarray, i: int, j: int,
            n_samples: int) -> float:  # pragma: no cover - compiled  # fmt: skip
    """Squared Pearson correlation of allele counts of variants ``i`` and ``j``, co-called samples.

    Parameters
    ----------
    planes : np.ndarray, uint64, shape (n_variants, 3, n_words)
        Bit planes per variant (:func:`..qc.ldprune.bit_planes`): ALT count >= 1, ALT count
        == 2, called. A count is plane 0 + plane 1; its square is plane 0 + 3 x plane 1.
    complete : np.ndarray of bool, shape (n_variants,)
        No missing call; two complete variants need only their products' popcounts.
    sums : np.ndarray, int64, shape (n_variants, 2)
        Sum of counts and of squared counts over every sample (used when both are complete).

    The sums are integers; they are combined in float64 in the order the tests' float32
    matrix-product oracle combines them, so both give the same number to the last bit.
    """
    a, b = planes[i], planes[j]
    xy = 0
    if complete[i] and complete[j]:
        for w in range(planes.shape[2]):
            xy += (_popcount(a[0, w] & b[0, w]) + _popcount(a[0, w] & b[1, w])
                   + _popcount(a[1, w] & b[0, w]) + _popcount(a[1, w] & b[1, w]))  # fmt: skip
        n = n_samples
        sx, sxx, sy, syy = sums[i, 0], sums[i, 1], sums[j, 0], sums[j, 1]
    else:
        n = sx = sxx = sy = syy = 0
        for w in range(planes.shape[2]):
            both = a[2, w] & b[2, w]
            n += _popcount(both)
            ones_x, twos_x = _popcount(a[0, w] & both), _popcount(a[1, w] & both)
            ones_y, twos_y = _popcount(b[0, w] & both), _popcount(b[1, w] & both)
            sx += ones_x + twos_x
            sxx += ones_x + 3 * twos_x
            sy += ones_y + twos_y
            syy += ones_y + 3 * twos_y
            xy += (_popcount(a[0, w] & b[0, w]) + _popcount(a[0, w] & b[1, w])
                   + _popcount(a[1, w] & b[0, w]) + _popcount(a[1, w] & b[1, w]))  # fmt: skip
    fn = float(n)
    cov = float(xy) * fn - float(sx) * float(sy)
    var_x = float(sxx) * fn - float(sx) * float(sx)
    var_y = float(syy) * fn - float(sy) * float(sy)
    denominator = var_x * var_y
    return cov * cov / denominator if denominator > 0 else 0.0


@njit(cache=True, nogil=True)
def prune_windows_kernel(
    starts, ends, state, major, pruned, planes, complete, sums, n_samples, r2, freq_tolerance
):  # pragma: no cover - compiled
    """PLINK's ``--indep-pairwise`` window passes, in place on ``pruned``.

    Each window ``[starts[w], ends[w])`` repeats passes until one prunes nothing: a pass takes
    each kept variant ``a`` in order and the first later kept ``b`` of the window with
    ``r^2(a, b) > r2``, and prunes the one with the lower minor allele frequency (``b`` on a
    tie). ``state[a, b - a - 1]`` caches each pair (``PAIR_*``); pairs still unknown are
    computed from ``planes`` when first needed, so pairs whose variants are pruned before they
    meet are never computed (plink's saving too).
    """
    for w in range(len(starts)):
        first, end = starts[w], ends[w]
        changed = True
        while changed:
            changed = False
            for a in range(first, end):
                if pruned[a]:
                    continue
                for b in range(a + 1, end):
                    if pruned[b]:
                        continue
                    known = state[a, b - a - 1]
                    if known == PAIR_UNKNOWN:
                        above = pair_r2(planes, complete, sums, a, b, n_samples) > r2
                        known = PAIR_ABOVE if above else PAIR_BELOW
                        state[a, b - a - 1] = known
                    if known == PAIR_ABOVE:
                        if major[a] > major[b] * (1.0 + freq_tolerance):
                            pruned[a] = True  # a has the lower minor allele frequency
                        else:
                            pruned[b] = True
                        changed = True
                        break
