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

    The numbers of :func:`hwe_exact_pvalue` (to about 1e-12 relative), for many variants at
    once. The het count's distribution depends only on the called genotypes ``n`` and the rare
    allele count, so it is built once per distinct ``(n, n_rare)`` group, and only over the
    window of het counts whose probability is within ``exp(-TAIL_NATS)`` of the least likely
    observed count of the group (what lies outside changes no p-value beyond 1e-13). The
    distribution is unimodal, so the counts no likelier than an observed one are the two tails
    beyond it: each p-value is two tail sums, read off cumulative sums taken from each tail
    inwards (which keeps tiny p-values exact). Groups are laid out side by side in padded
    arrays, a chunk of similar window lengths at a time.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) == 0:
        return np.zeros(0)
    unique, inverse = _unique_rows(counts)
    hom1, het, hom2 = unique.T
    n = hom1 + het + hom2
    n_rare = 2 * np.minimum(hom1, hom2) + het
    p = np.ones(len(unique))
    called = np.flatnonzero(n > 0)  # nothing called: p = 1
    if len(called):
        p[called] = _grouped_pvalues(n[called], n_rare[called], het[called], midp)
    return np.minimum(1.0, p)[inverse]


#: Het counts less likely than ``exp(-TAIL_NATS)`` times a group's least likely observed count
#: are left out of its window; their sum is below 1e-13 of any p-value of the group.
TAIL_NATS = 36.0

#: Elements of one padded chunk of windows (float64 arrays of this size, a few at a time).
CHUNK_ELEMENTS = 1 << 20


def _unique_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct count triples ``(n_unique, 3)`` and each row's index into them, shape (n,)."""
    base = int(counts.max()) + 1
    if base**3 >= 2**62:  # over a million samples: the slower 2-D unique
        unique, inverse = np.unique(counts, axis=0, return_inverse=True)
        return unique, np.asarray(inverse).ravel()
    key = (counts[:, 0] * base + counts[:, 1]) * base + counts[:, 2]  # one integer per triple
    unique, inverse = np.unique(key, return_inverse=True)
    triples = np.stack([unique // (base * base), unique // base % base, unique % base], axis=1)
    return triples, np.asarray(inverse).ravel()


def _log_weight(het, n, n_rare):
    """Log of Levene's probability of ``het`` heterozygotes, up to a constant per (n, n_rare).

    With ``r = (n_rare - het) / 2`` rare and ``c = n - het - r`` common homozygotes, the
    probability is proportional to ``2^het / (het! r! c!)`` (Wigginton et al. 2005, eq. 1).
    """
    from scipy.special import gammaln  # scipy loads only when a test runs

    rare = (n_rare - het) // 2
    common = n - het - rare
    return het * np.log(2.0) - gammaln(het + 1.0) - gammaln(rare + 1.0) - gammaln(common + 1.0)


def _grouped_pvalues(n, n_rare, het, midp: bool) -> np.ndarray:
    """p-values of distinct triples with ``n > 0``, all arrays shape (n_triples,)."""
    base = int(n.max()) + 1
    keys, row_group = np.unique(n * base + n_rare, return_inverse=True)
    row_group = np.asarray(row_group).ravel()
    gn, gr = keys // base, keys % base
    mode = _mode(gn, gr)
    rel_obs = _log_weight(het, n, n_rare) - _log_weight(mode[row_group], n, n_rare)
    floor = np.zeros(len(keys))
    np.minimum.at(floor, row_group, rel_obs)
    floor -= TAIL_NATS
    lo = _window_edge(gn, gr, mode, gr % 2, floor, -1)
    hi = _window_edge(gn, gr, mode, gr, floor, +1)
    length = (hi - lo) // 2 + 1
    rows_of = np.argsort(row_group, kind="stable")
    first_row = np.searchsorted(row_group[rows_of], np.arange(len(keys) + 1))
    p = np.empty(len(n))
    by_length = np.argsort(-length, kind="stable")  # longest windows first
    done = 0
    while done < len(keys):
        size = max(1, CHUNK_ELEMENTS // int(length[by_length[done]]))
        chunk = by_length[done : done + size]
        done += size
        rows = np.concatenate([rows_of[first_row[g] : first_row[g + 1]] for g in chunk])
        local = np.repeat(np.arange(len(chunk)), first_row[chunk + 1] - first_row[chunk])
        p[rows] = _window_pvalues(
            gn[chunk], gr[chunk], mode[chunk], lo[chunk], length[chunk], het[rows], local, midp
        )
    return p


def _mode(n, n_rare):
    """Most likely het count per group (the closed-form guess, moved to the true maximum)."""
    mode = n_rare * (2 * n - n_rare) // (2 * n)
    mode += (n_rare - mode) % 2  # the het count has the parity of the rare allele count
    while True:
        here = _log_weight(mode, n, n_rare)
        up = np.where(
            mode + 2 <= n_rare, _log_weight(np.minimum(mode + 2, n_rare), n, n_rare), -np.inf
        )
        down = np.where(
            mode >= 2, _log_weight(np.maximum(mode - 2, n_rare % 2), n, n_rare), -np.inf
        )
        moved = np.where(up > here, mode + 2, np.where(down > here, mode - 2, mode))
        if (moved == mode).all():
            return mode
        mode = moved


def _window_edge(n, n_rare, mode, limit, floor, direction: int):
    """Find the het count farthest from ``mode`` towards ``limit`` still inside the window.

    Inside: a log probability, relative to the mode's, of at least ``floor``. A vectorised
    binary search, since the probability falls monotonically away from the mode.
    """
    inside = np.zeros_like(mode)  # steps of 2 known to be inside
    outside = np.abs(limit - mode) // 2  # steps at most
    top = _log_weight(mode, n, n_rare)
    while (active := inside < outside).any():
        mid = (inside + outside + 1) // 2
        ok = _log_weight(mode + direction * 2 * mid, n, n_rare) - top >= floor
        inside = np.where(active & ok, mid, inside)
        outside = np.where(active & ~ok, mid - 1, outside)
    return mode + direction * 2 * inside


def _window_pvalues(n, n_rare, mode, lo, length, het, group, midp: bool) -> np.ndarray:
    """p-values of rows of a chunk of groups (``group``: each row's index into the chunk).

    Group ``g``'s window holds het counts ``lo[g], lo[g] + 2, ...`` (``length[g]`` of them),
    laid out as row ``g`` of padded ``(n_groups, width)`` arrays.
    """
    width = int(length.max())
    h = lo[:, None] + 2 * np.arange(width)
    inside = np.arange(width) < length[:, None]
    rare = (n_rare[:, None] - h) // 2
    common = n[:, None] - h - rare
    with np.errstate(divide="ignore", invalid="ignore"):
        # Levene's ratio of P(h + 2) to P(h): 4 rare common / ((h + 2)(h + 1))
        step = np.log(4.0 * rare * common / ((h + 2.0) * (h + 1.0)))
    log_w = np.zeros(h.shape)
    np.cumsum(np.where(inside, step, 0.0)[:, :-1], axis=1, out=log_w[:, 1:])
    at_mode = (mode - lo) // 2
    log_w -= log_w[np.arange(len(lo)), at_mode][:, None]
    log_w[~inside] = -np.inf
    w = np.exp(log_w)  # relative to the mode's probability
    total = w.sum(1)
    from_left = np.cumsum(w, axis=1)  # each from its own far tail inwards
    from_right = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]
    observed = (het - lo[group]) // 2
    limit = log_w[group, observed] + np.log1p(1e-8)  # ties within rounding count as equal
    left = _first_column(log_w, group, np.zeros_like(observed), at_mode[group], limit, rising=True)
    right = _first_column(log_w, group, at_mode[group], length[group], limit, rising=False)
    tails = np.where(left > 0, from_left[group, np.maximum(left - 1, 0)], 0.0)
    tails += np.where(right < length[group], from_right[group, np.minimum(right, width - 1)], 0.0)
    if midp:
        tails -= 0.5 * w[group, observed]
    return tails / total[group]


def _first_column(values, rows, lo, hi, limit, *, rising: bool) -> np.ndarray:
    """Find per row the first column in ``[lo, hi)`` past ``limit`` (``hi`` where none is).

    Past: above ``limit`` on a rising run, at or below it on a falling one. A vectorised
    binary search.
    """
    lo, hi = lo.copy(), hi.copy()
    while (active := lo < hi).any():
        mid = np.where(active, (lo + hi) // 2, 0)
        v = values[rows, np.minimum(mid, values.shape[1] - 1)]
        past = v > limit if rising else v <= limit
        hi = np.where(active & past, mid, hi)
        lo = np.where(active & ~past, mid + 1, lo)
    return lo
