"""QC steps decided by the variant table alone.

Allele classes, duplicate sites, ID and range lists, contigs, thinning. Each ``is_*`` / ``locate_*`` function returns a boolean mask over
variants; :func:`site_steps` lists them in the order the QC applies them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..contigs import contig_codes, contig_name_codes, foreign_contigs, normalize_contig
from ..errors import InputError
from ..textfile import read_user_text

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
    return pd.Index(np.asarray(variant_id, dtype=object)).isin(list(listed))


def read_variant_ids(path, option: str = "--extract") -> frozenset[str]:
    """Variant IDs for ``--extract`` / ``--exclude``: the first field of each non-empty line."""
    path = Path(path)
    text = read_user_text(path, f"{option} file")
    ids = frozenset(ln.split()[0] for ln in text.splitlines() if ln.strip())
    if not ids:
        raise InputError(f"{option} file {path} lists no IDs")
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


def _refuse_foreign_genome(contig: np.ndarray) -> None:
    """Refuse the human-autosome filter on contigs that are not human chromosome names.

    Drosophila's ``2L 2R 3L 3R 4 X`` would otherwise be filtered to contig ``4`` read as human
    chromosome 4, and the map built from it with only a line in the log.
    """
    foreign = foreign_contigs(contig)
    if not foreign:
        return
    kept = int(is_autosome(contig).sum())
    shown = ",".join(foreign[:4]) + (",..." if len(foreign) > 4 else "")
    raise InputError(
        f"contigs {', '.join(foreign[:6])}{' ...' if len(foreign) > 6 else ''} are not human "
        f"chromosome names, so the default filter to human autosomes 1-22 does not apply (it "
        f"would keep {kept} of {len(contig)} variants); choose contigs with --chr (e.g. --chr "
        f"{shown}) or keep every contig with --all-contigs"
    )


def site_steps(
    contig, position, variant_id, ref, alt, *, extract=None, exclude=None, contigs=None,
    autosomes_only=True, extract_ranges=None, exclude_ranges=None, thin_fraction=None,
    thin_seed=0,
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
        _refuse_foreign_genome(contig)
        steps.append(("not on a human autosome (1-22; other genomes: --chr or --all-contigs)",
                      is_autosome(contig), ""))  # fmt: skip
    if thin_fraction is not None and thin_fraction < 1:
        draw = np.random.default_rng([thin_seed, 0x7468696E]).random(len(contig))  # "thin"
        steps.append((f"--thin {thin_fraction:g}: not drawn", draw < thin_fraction, ""))
    return steps
