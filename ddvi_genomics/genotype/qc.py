"""Variant and sample QC: pure functions over ``(n_variants, n_samples)`` dosages, with reports.

Each ``is_*`` / ``locate_*`` function returns a boolean mask over variants; :func:`run_qc` applies
them in a fixed order and records how many variants each step removed and why.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from .errors import InputError
from .io import GenotypeMatrix, contig_name_codes, normalize_contig
from .ldprune import prune_pairwise

_BASES = set("ACGT")
_ONE_BASE_ALLELES = np.array(list("ACGTacgt"), dtype=np.dtypes.StringDType())
_AUTOSOME = re.compile(r"^(chr)?([1-9]|1[0-9]|2[0-2])$", re.IGNORECASE)


def variant_allele_classes(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Class of each variant: ``snp``, ``multiallelic``, ``indel``, ``symbolic`` or ``no_alt``.

    ALT lists are split on commas, ignoring empty and ``.`` entries. A site is ``symbolic`` when
    an ALT is ``<...>``, a breakend (``[`` or ``]``) or ``*``; a ``snp`` has one base (ACGT, any
    case) on each side. Sites without a comma are classified with NumPy's string functions; only
    the comma rows (multi-allelic, or padded like ``A,.``) go through Python one by one.

    Parameters
    ----------
    ref, alt : np.ndarray of str, shape (n_variants,)
        REF and comma-joined ALT alleles (object or NumPy string arrays).

    Returns
    -------
    np.ndarray of object (str), shape (n_variants,)
    """
    ref_s = _as_strings(ref)
    alt_s = _as_strings(alt)
    out = np.full(len(ref_s), "indel", dtype=object)
    out[_is_one_base(ref_s) & _is_one_base(alt_s)] = "snp"
    out[_is_symbolic(alt_s)] = "symbolic"
    out[(alt_s == "") | (alt_s == ".")] = "no_alt"
    for i in np.flatnonzero(np.strings.find(alt_s, ",") >= 0):
        out[i] = _allele_class_of_list(str(ref_s[i]), str(alt_s[i]))
    return out


def _as_strings(values) -> np.ndarray:
    """Values as NumPy's variable-width strings (one C pass; no per-row Python)."""
    return np.asarray(values, dtype=np.dtypes.StringDType())


def _is_one_base(alleles: np.ndarray) -> np.ndarray:
    return np.isin(alleles, _ONE_BASE_ALLELES)


def _is_symbolic(alleles: np.ndarray) -> np.ndarray:
    return (
        np.strings.startswith(alleles, "<")
        | (np.strings.find(alleles, "[") >= 0)
        | (np.strings.find(alleles, "]") >= 0)
        | (alleles == "*")
    )


def _allele_class_of_list(ref: str, alt: str) -> str:
    """Class of one site whose ALT field holds a comma."""
    alts = [x for x in alt.split(",") if x and x != "."]
    if not alts:
        return "no_alt"
    if any(x.startswith("<") or "[" in x or "]" in x or x == "*" for x in alts):
        return "symbolic"
    if len(alts) > 1:
        return "multiallelic"
    one_base = len(ref) == 1 and len(alts[0]) == 1
    return "snp" if one_base and {ref.upper(), alts[0].upper()} <= _BASES else "indel"


def _contig_mask(contig: np.ndarray, wanted) -> np.ndarray:
    """``wanted(name)`` for each row's normalised contig name, called once per distinct contig."""
    codes, names = contig_name_codes(contig)
    per_name = np.array([bool(wanted(str(name))) for name in names], dtype=bool)
    return per_name[codes]


def is_autosome(contig: np.ndarray) -> np.ndarray:
    """Return True for contigs 1-22, with or without a ``chr`` prefix."""
    return _contig_mask(contig, _AUTOSOME.match)


def is_listed(variant_id: np.ndarray, listed: frozenset[str]) -> np.ndarray:
    """Return True for variants whose ID is in ``listed`` (``--extract`` / ``--exclude``)."""
    import pandas as pd

    return pd.Index(np.asarray(variant_id, dtype=object)).isin(list(listed))


def read_variant_ids(path) -> frozenset[str]:
    """Variant IDs for ``--extract`` / ``--exclude``: the first field of each non-empty line."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError(f"variant ID file {path} does not exist")
    ids = frozenset(ln.split()[0] for ln in path.read_text().splitlines() if ln.strip())
    if not ids:
        raise InputError(f"variant ID file {path} lists no IDs")
    return ids


def parse_contig_list(spec: str) -> tuple[str, ...]:
    """Parse a PLINK-style ``--chr`` list: ``1-22,X`` or ``2L,2R,3L`` (ranges for numbers).

    Returns the contig names without ``chr`` prefixes.
    """
    names: list[str] = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            if int(hi) < int(lo):
                raise InputError(f"--chr range {part!r} runs backwards")
            names += [str(i) for i in range(int(lo), int(hi) + 1)]
        else:
            names.append(normalize_contig(part))
    if not names:
        raise InputError(f"--chr {spec!r} names no contig; e.g. --chr 1-22,X or --chr 2L,2R")
    return tuple(names)


def is_in_contigs(contig: np.ndarray, names) -> np.ndarray:
    """Return True for variants on one of ``names`` (``chr`` prefixes ignored on both sides)."""
    wanted = {normalize_contig(n) for n in names}
    return _contig_mask(contig, lambda name: name in wanted)


VARIANT_BLOCK = 16384
"""Variants per block in the per-variant counts (bounds their temporaries, not their results)."""


def _blocks(n_variants: int):
    for lo in range(0, n_variants, VARIANT_BLOCK):
        yield slice(lo, min(lo + VARIANT_BLOCK, n_variants))


def count_called(dosage: np.ndarray, axis: int) -> np.ndarray:
    """Count non-missing calls along ``axis`` (1: per variant, 0: per sample)."""
    if axis == 1:
        return np.concatenate(
            [(dosage[b] >= 0).sum(axis=1) for b in _blocks(dosage.shape[0])] or [np.zeros(0, int)]
        )
    total = np.zeros(dosage.shape[1], dtype=np.int64)
    for b in _blocks(dosage.shape[0]):
        total += (dosage[b] >= 0).sum(axis=0)
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
            for b in _blocks(dosage.shape[0])
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
    """Count called genotypes per variant: columns (hom ref, het, hom alt), shape (n_variants, 3)."""
    return np.concatenate(
        [
            np.stack([(dosage[b] == k).sum(1) for k in (0, 1, 2)], axis=1).astype(np.int64)
            for b in _blocks(dosage.shape[0])
        ]
        or [np.zeros((0, 3), np.int64)]
    )


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


def locate_thinned(contig: np.ndarray, position: np.ndarray, min_distance: int) -> np.ndarray:
    """Keep the first variant, then each next one at least ``min_distance`` bp after the last kept."""
    keep = np.zeros(len(position), dtype=bool)
    last: dict = {}
    for i, (c, p) in enumerate(zip(contig, position)):
        if c not in last or p - last[c] >= min_distance:
            keep[i] = True
            last[c] = p
    return keep


def locate_duplicate_sites(contig, position, ref, alt) -> np.ndarray:
    """Mask of the second and later rows of a site ``(contig, position, REF, ALT)``.

    Contigs compare without a ``chr`` prefix. Rows are grouped by ``(contig, position)`` with a
    stable sort; only rows that share a position with another row have their alleles compared,
    so the memory is a few integers per variant, not a key object per variant.

    Returns
    -------
    np.ndarray of bool, shape (n_variants,)
        True for a repeat of an earlier row.
    """
    n = len(position)
    repeat = np.zeros(n, dtype=bool)
    if n < 2:
        return repeat
    codes = contig_codes(contig)
    pos = np.asarray(position, dtype=np.int64)
    order = np.lexsort((pos, codes))  # stable: rows of one position stay in file order
    same = (codes[order[1:]] == codes[order[:-1]]) & (pos[order[1:]] == pos[order[:-1]])
    shared = np.zeros(n, dtype=bool)
    shared[order[1:][same]] = True
    shared[order[:-1][same]] = True
    seen: set = set()
    for i in np.flatnonzero(shared):  # file order
        key = (codes[i], pos[i], ref[i], alt[i])
        repeat[i] = key in seen
        seen.add(key)
    return repeat


def sort_order(contig, position) -> np.ndarray:
    """Stable order that groups contigs (in order of first appearance) and sorts positions."""
    return np.lexsort((np.asarray(position), contig_codes(contig)))


def contig_codes(contig) -> np.ndarray:
    """Integer code of each row's contig, numbered in order of first appearance, shape (n,).

    ``chr1`` and ``1`` get the same code (:func:`~.io.contig_name_codes`).
    """
    return contig_name_codes(contig)[0]


def site_steps(
    contig, position, variant_id, ref, alt, *, extract=None, exclude=None, contigs=None,
    autosomes_only=True, extract_ranges=None, exclude_ranges=None,
) -> list[tuple[str, np.ndarray, str]]:  # fmt: skip
    """List the QC steps decided by the variant table alone, in the order they apply.

    Biallelic SNPs (with the count of each dropped class), duplicate sites among those SNPs,
    ``--extract`` / ``--exclude`` ID sets, ``--extract-range`` / ``--exclude-range``
    (:class:`~.ranges.VariantRanges`), then ``--chr`` ``contigs`` or human autosomes.
    The in-memory QC and the out-of-core QC both take their first steps from here.

    Parameters
    ----------
    contig, position, variant_id, ref, alt : np.ndarray, shape (n_variants,)
        The variant table.

    Returns
    -------
    list of (name, keep, detail)
        ``keep`` is a bool mask over all ``n_variants`` rows; a step removes the rows that the
        earlier steps kept and it does not.
    """
    classes = variant_allele_classes(ref, alt)
    snp = classes == "snp"
    dropped = {
        c: int((classes == c).sum()) for c in ("multiallelic", "indel", "symbolic", "no_alt")
    }
    steps = [("not a biallelic SNP", snp, ", ".join(f"{k} {v}" for k, v in dropped.items() if v))]
    first_of_site = np.ones(len(snp), dtype=bool)
    rows = np.flatnonzero(snp)
    first_of_site[rows] = ~locate_duplicate_sites(
        contig[rows], position[rows], ref[rows], alt[rows]
    )
    steps.append(
        ("duplicate site (same contig, position and alleles; first kept)", first_of_site, "")
    )
    if extract is not None:
        steps.append(("not in --extract", is_listed(variant_id, extract), ""))
    if exclude is not None:
        steps.append(("in --exclude", ~is_listed(variant_id, exclude), ""))
    if extract_ranges is not None:
        inside = extract_ranges.contains(contig, position)
        steps.append(("not in --extract-range", inside, extract_ranges.summary()))
    if exclude_ranges is not None:
        inside = exclude_ranges.contains(contig, position)
        steps.append(("in --exclude-range", ~inside, exclude_ranges.summary()))
    if contigs is not None:
        steps.append((f"not on --chr {','.join(contigs)}", is_in_contigs(contig, contigs), ""))
    elif autosomes_only:
        steps.append(("not on a human autosome (1-22; other genomes: --chr or --all-contigs)",
                      is_autosome(contig), ""))  # fmt: skip
    return steps


def nothing_left_message(steps, n_variants_in: int, source=None) -> str:
    """One line for a QC that removed everything: the steps that removed something, in order.

    ``steps`` are ``(name, n_removed, detail)`` rows as :class:`QCReport` holds them.
    """
    removed = "; ".join(
        f"{name}: removed {n:,}" + (" samples" if detail == "samples" else "")
        for name, n, detail in steps
        if n
    )
    where = f" of {source}" if source else ""
    return f"nothing left after QC{where} ({n_variants_in:,} variants in): {removed}"


@dataclasses.dataclass
class QCReport:
    """What each QC step removed: rows of ``(step, n_removed, detail)`` and the final counts."""

    n_variants_in: int
    n_samples_in: int
    steps: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)
    n_variants_out: int = 0
    n_samples_out: int = 0
    #: Variant IDs the LD-pruning step kept and pruned (``PREFIX.prune.in`` / ``.prune.out``).
    prune_in: list[str] | None = None
    prune_out: list[str] | None = None

    def lines(self) -> list[str]:
        """Human-readable lines for the log."""
        out = [f"QC input: {self.n_variants_in:,} variants x {self.n_samples_in:,} samples"]
        out += [
            f"  {name}: removed {n:,}" + (f" ({detail})" if detail else "")
            for name, n, detail in self.steps
        ]
        out.append(f"QC output: {self.n_variants_out:,} variants x {self.n_samples_out:,} samples")
        return out

    def to_dict(self) -> dict:
        """JSON-friendly form (the pruned ID lists by their size)."""
        out = dataclasses.asdict(self)
        for name in ("prune_in", "prune_out"):
            if out[name] is not None:
                out[name] = f"{len(out[name])} variant IDs"
        return out


def run_qc(
    gm: GenotypeMatrix,
    *,
    autosomes_only: bool = True,
    contigs: tuple[str, ...] | None = None,
    extract=None,
    exclude=None,
    extract_ranges=None,
    exclude_ranges=None,
    min_maf: float = 0.01,
    max_variant_missing: float = 0.1,
    max_sample_missing: float = 1.0,
    thin_bp: int | None = None,
    ld_prune: tuple[int, int, float] | None = None,
    hwe: float | None = None,
    hwe_midp: bool = False,
) -> tuple[GenotypeMatrix, QCReport]:
    """Apply the default QC in the field's habit and report every step.

    Order: biallelic SNPs only (counts per dropped class), autosomes, sample missingness, variant
    missingness, monomorphic, MAF, Hardy-Weinberg (``hwe``: drop variants whose exact-test
    p-value is below it, PLINK ``--hwe``), thinning, LD pruning.

    Raises
    ------
    InputError
        When no variant or no sample is left.
    """
    report = QCReport(gm.n_variants, gm.n_samples)

    def apply(name, mask, detail=""):
        nonlocal gm
        report.steps.append((name, int((~mask).sum()), detail))
        gm = gm.subset(variants=mask)

    site_keep = np.ones(gm.n_variants, dtype=bool)
    for name, mask, detail in site_steps(
        gm.variant_contig, gm.variant_position, gm.variant_id, gm.variant_ref, gm.variant_alt,
        extract=extract, exclude=exclude, contigs=contigs, autosomes_only=autosomes_only,
        extract_ranges=extract_ranges, exclude_ranges=exclude_ranges,
    ):  # fmt: skip
        report.steps.append((name, int((site_keep & ~mask).sum()), detail))
        site_keep &= mask
    gm = gm.subset(variants=site_keep)
    if max_sample_missing < 1.0:
        keep_s = sample_missing_rate(gm.dosage) <= max_sample_missing
        report.steps.append(
            (f"samples missing > {max_sample_missing:g}", int((~keep_s).sum()), "samples")
        )
        gm = gm.subset(samples=keep_s)
    apply(
        f"variant missingness > {max_variant_missing:g}",
        variant_missing_rate(gm.dosage) <= max_variant_missing,
    )
    maf = minor_allele_frequency(gm.dosage)
    apply("monomorphic", np.nan_to_num(maf) > 0)
    maf = minor_allele_frequency(gm.dosage)
    apply(f"MAF < {min_maf:g}", maf >= min_maf)
    if hwe is not None:
        test = "mid-p exact test" if hwe_midp else "exact test"
        apply(f"HWE p < {hwe:g} ({test})", hwe_pvalues(gm.dosage, midp=hwe_midp) >= hwe)
    if thin_bp or ld_prune is not None:  # order-dependent steps need sorted input
        order = sort_order(gm.variant_contig, gm.variant_position)
        if np.any(order != np.arange(len(order))):
            report.steps.append(("input not sorted: sorted by contig and position", 0, ""))
            gm = gm.subset(variants=order)
    if thin_bp:
        apply(
            f"thinned to >= {thin_bp} bp apart",
            locate_thinned(gm.variant_contig, gm.variant_position, thin_bp),
        )
    if ld_prune is not None:
        size, step, thr = ld_prune
        keep = prune_pairwise(gm.dosage, gm.variant_contig, window=size, step=step, r2=thr)
        report.prune_in = [str(v) for v in gm.variant_id[keep]]
        report.prune_out = [str(v) for v in gm.variant_id[~keep]]
        apply(f"LD pruned (--indep-pairwise {size} {step} {thr:g}, per contig)", keep)
    report.n_variants_out, report.n_samples_out = gm.n_variants, gm.n_samples
    if gm.n_variants == 0 or gm.n_samples == 0:
        raise InputError(nothing_left_message(report.steps, report.n_variants_in))
    return gm, report
