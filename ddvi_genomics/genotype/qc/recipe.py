"""The QC recipe, written once: options, the order of the steps, and the report.

Every filter after the site steps is a function of per-variant genotype counts
(:func:`~..counts.genotype_counts`, or the same counts summed chunk by chunk out of core), so
:func:`run_qc` (in memory) and :func:`~.outofcore.store_qc` (a VCF Zarr store on Dask) call the
same :func:`sample_missing_step` and :func:`count_steps` and report the same rows.

Order: biallelic SNPs (with the count of each dropped class), duplicate sites, ``--extract`` /
``--exclude`` (IDs, then ranges), ``--chr`` or human autosomes, sample missingness (``--mind``),
variant missingness (``--geno``), monomorphic, MAF (``--maf``), Hardy-Weinberg (``--hwe``),
then the order-dependent steps on variants sorted by contig and position: thinning (``--thin``)
and LD pruning (``--indep-pairwise``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..counts import count_called, genotype_counts
from ..errors import InputError, check_range
from ..matrix import GenotypeMatrix
from ..ranges import VariantRanges
from .hwe import hwe_pvalues_from_counts
from .ldprune import prune_pairwise
from .sites import locate_thinned, site_steps, sort_order


@dataclasses.dataclass(frozen=True)
class QCOptions:
    """Variant and sample filters, in the field's habit; the one declaration of every QC option.

    The steps run in the order of :func:`run_qc` (module docstring). Values are checked when
    the options are made; an error names the command-line option.

    Attributes
    ----------
    autosomes_only : bool
        Keep human autosomes 1-22 only (``chr`` prefixes ignored) unless ``contigs`` are named;
        contigs that are not human chromosome names are refused (``--all-contigs`` turns the
        filter off).
    contigs : tuple of str, optional
        PLINK ``--chr``: keep only these contigs.
    extract, exclude : frozenset of str, optional
        PLINK ``--extract`` / ``--exclude``: keep only / drop these variant IDs.
    extract_ranges, exclude_ranges : VariantRanges, optional
        PLINK ``--extract range`` / ``--exclude range``: keep only / drop variants inside.
    min_maf : float
        PLINK ``--maf``: minimum minor allele frequency, in [0, 0.5] (default 0.01).
    max_variant_missing : float
        PLINK ``--geno``: maximum fraction of missing calls per variant, in [0, 1] (0.1).
    max_sample_missing : float
        PLINK ``--mind``: maximum fraction of missing calls per sample, in [0, 1] (1 = off).
    thin_bp : int, optional
        plink2 ``--bp-space``: keep variants at least this many bp apart (first kept).
    thin_fraction : float, optional
        PLINK ``--thin P``: keep each variant with probability P, in (0, 1] (drawn from
        ``thin_seed``, the same draw in memory and out of core).
    thin_seed : int
        The seed of ``--thin`` (the run's ``--seed``).
    ld_prune : (int, int, float), optional
        PLINK ``--indep-pairwise WINDOW STEP R2`` (window and step in variants), per contig.
    ld_prune_kb : bool
        The ``--ld-prune`` window is in kilobases (PLINK's ``kb`` modifier; STEP must be 1).
    hwe : float, optional
        PLINK ``--hwe P``: drop variants whose Hardy-Weinberg exact-test p-value is below P.
    hwe_midp : bool
        PLINK ``--hwe P midp``: the mid-p variant of the test.
    nonfounders : bool
        PLINK ``--nonfounders``: allele frequencies, MAF, HWE, LD and the PCA's scaling over
        every sample; by default over the founders of a ``.fam``/``.psam`` with parents.
    """

    autosomes_only: bool = True
    contigs: tuple[str, ...] | None = None
    extract: frozenset[str] | None = None
    exclude: frozenset[str] | None = None
    extract_ranges: VariantRanges | None = None
    exclude_ranges: VariantRanges | None = None
    min_maf: float = 0.01
    max_variant_missing: float = 0.1
    max_sample_missing: float = 1.0
    thin_bp: int | None = None
    thin_fraction: float | None = None
    thin_seed: int = 0
    ld_prune: tuple[int, int, float] | None = None
    ld_prune_kb: bool = False
    hwe: float | None = None
    hwe_midp: bool = False
    nonfounders: bool = False

    def __post_init__(self):
        check_range("--min-maf", self.min_maf, 0.0, 0.5)
        check_range("--max-missing", self.max_variant_missing, 0.0, 1.0)
        check_range("--mind", self.max_sample_missing, 0.0, 1.0)
        if self.thin_bp is not None:
            check_range("--bp-space", self.thin_bp, 1, None, integer=True)
        if self.thin_fraction is not None and not 0 < self.thin_fraction <= 1:
            raise InputError(
                f"--thin keeps each variant with probability P in (0, 1], as in PLINK; got "
                f"{self.thin_fraction!r} (a minimum spacing in bp is --bp-space N)"
            )
        if self.hwe is not None:
            check_range("--hwe", self.hwe, 0.0, 1.0)
        if self.ld_prune is not None:
            if len(self.ld_prune) != 3:
                raise InputError(f"--ld-prune takes WINDOW STEP R2; got {self.ld_prune!r}")
            window, step, r2 = self.ld_prune
            check_range("--ld-prune WINDOW", window, 2, None, integer=True)
            check_range("--ld-prune STEP", step, 1, None if self.ld_prune_kb else window,
                        integer=True)  # fmt: skip
            check_range("--ld-prune R2", r2, 0.0, 1.0)
            if self.ld_prune_kb and step != 1:
                raise InputError(f"a window in kb needs STEP 1 (as in PLINK); got {step}")

    @property
    def site_options(self) -> dict:
        """Keyword arguments of :func:`~.sites.site_steps`."""
        names = ("extract", "exclude", "contigs", "autosomes_only", "extract_ranges",
                 "exclude_ranges", "thin_fraction", "thin_seed")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def apply(self, gm: GenotypeMatrix) -> tuple[GenotypeMatrix, QCReport]:
        """Run the filters on ``gm``; return the kept matrix and the report."""
        return run_qc(gm, self)

    def summary(self) -> dict:
        """Return the options for logs: ID sets and ranges shown by their size, not listed."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, frozenset):
                value = f"{len(value)} variant IDs"
            elif isinstance(value, VariantRanges):
                value = value.summary()
            out[field.name] = value
        return out


DEFAULT_QC = QCOptions()
"""The defaults: human autosomes, ``--maf 0.01``, ``--geno 0.1``."""


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


class StepLog:
    """A running ``keep`` mask over variants and the report rows of the steps applied to it."""

    def __init__(self, n_variants: int):
        self.keep = np.ones(n_variants, dtype=bool)
        self.rows: list[tuple[str, int, str]] = []

    def apply(self, name: str, mask: np.ndarray, detail: str = "") -> None:
        """Drop the kept variants where ``mask`` is False; record how many that removed."""
        self.rows.append((name, int((self.keep & ~mask).sum()), detail))
        self.keep &= mask


def sample_missing_step(
    missing_per_sample: np.ndarray, n_variants: int, max_sample_missing: float
) -> tuple[np.ndarray, tuple[str, int, str]]:
    """Decide the ``--mind`` step from missing calls per sample over the ``n_variants`` kept so far.

    Returns
    -------
    keep : np.ndarray of bool, shape (n_samples,)
    row : (str, int, str)
        The report row (its detail ``"samples"`` marks a count of samples).
    """
    rate = np.asarray(missing_per_sample) / max(n_variants, 1)
    keep = rate <= max_sample_missing
    name = f"samples missing > {max_sample_missing:g}"
    return keep, (name, int((~keep).sum()), "samples")


def count_steps(
    counts: np.ndarray,
    n_samples: int,
    options: QCOptions,
    steps: StepLog,
    freq_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the count-based filters to ``steps``; return the ALT frequency of every variant.

    Variant missingness, monomorphic sites, MAF and the HWE exact test, in that order, from
    genotype counts over the samples kept.

    Parameters
    ----------
    counts : np.ndarray of int, shape (n_variants, 3)
        Called genotypes per variant: hom ref, het, hom alt.
    n_samples : int
        Samples the counts are over (missing calls are ``n_samples - called``).
    options : QCOptions
    steps : StepLog
        Updated in place.
    freq_counts : np.ndarray of int, shape (n_variants, 3), optional
        The counts over the founders, for the allele frequency, MAF and HWE (plink2 computes
        those over founders; variant missingness stays over every sample). Default: ``counts``.

    Returns
    -------
    np.ndarray, shape (n_variants,)
        ALT allele frequency over called genotypes (NaN where nothing is called).
    """
    called = counts.sum(axis=1)
    freq_counts = counts if freq_counts is None else freq_counts
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (freq_counts[:, 1] + 2 * freq_counts[:, 2]) / (2.0 * freq_counts.sum(axis=1))
    missing_rate = 1.0 - called / max(n_samples, 1)
    steps.apply(f"variant missingness > {options.max_variant_missing:g}",
                missing_rate <= options.max_variant_missing)  # fmt: skip
    maf = np.nan_to_num(np.minimum(p, 1 - p))
    steps.apply("monomorphic", maf > 0)
    steps.apply(f"MAF < {options.min_maf:g}", maf >= options.min_maf)
    if options.hwe is not None:
        test = "mid-p exact test" if options.hwe_midp else "exact test"
        pvalues = np.ones(len(counts))
        rows = np.flatnonzero(steps.keep)  # only the variants still kept are tested
        pvalues[rows] = hwe_pvalues_from_counts(freq_counts[rows], midp=options.hwe_midp)
        steps.apply(f"HWE p < {options.hwe:g} ({test})", pvalues >= options.hwe)
    return p


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


def thinning_name(thin_bp: int) -> str:
    """Report row of the ``--thin`` step."""
    return f"thinned to >= {thin_bp} bp apart"


def ld_prune_name(window: int, step: int, r2: float, kb: bool = False) -> str:
    """Report row of the ``--ld-prune`` step."""
    return f"LD pruned (--indep-pairwise {window}{'kb' if kb else ''} {step} {r2:g}, per contig)"


def frequency_samples(gm: GenotypeMatrix, options: QCOptions) -> np.ndarray | None:
    """Columns that allele frequencies, HWE and LD are computed over: the founders (None: all).

    plink2's default; ``--nonfounders`` (``options.nonfounders``) uses every sample.
    """
    return None if options.nonfounders else gm.founders


def founders_row(n_founders: int, n_samples: int) -> tuple[str, int, str]:
    """Report row saying that frequencies come from founders only."""
    return (
        f"allele frequencies, MAF, HWE and LD over the {n_founders:,} founders of "
        f"{n_samples:,} samples (plink2's default; --nonfounders for all)",
        0,
        "",
    )


def run_qc(gm: GenotypeMatrix, options: QCOptions = DEFAULT_QC) -> tuple[GenotypeMatrix, QCReport]:
    """Apply the QC recipe (module docstring) to genotypes in memory and report every step.

    Raises
    ------
    InputError
        When no variant or no sample is left.
    """
    report = QCReport(gm.n_variants, gm.n_samples)
    steps = StepLog(gm.n_variants)
    for name, mask, detail in site_steps(
        gm.variant_contig, gm.variant_position, gm.variant_id, gm.variant_ref, gm.variant_alt,
        **options.site_options,
    ):  # fmt: skip
        steps.apply(name, mask, detail)
    gm = gm.subset(variants=steps.keep)
    report.steps += steps.rows
    if options.max_sample_missing < 1.0:
        missing = gm.n_variants - count_called(gm.dosage, 0)
        keep_s, row = sample_missing_step(missing, gm.n_variants, options.max_sample_missing)
        report.steps.append(row)
        gm = gm.subset(samples=keep_s)
    founders = frequency_samples(gm, options)
    if founders is not None:
        report.steps.append(founders_row(len(founders), gm.n_samples))
    steps = StepLog(gm.n_variants)
    counts = genotype_counts(gm.dosage)
    freq_counts = None if founders is None else genotype_counts(gm.dosage[:, founders])
    count_steps(counts, gm.n_samples, options, steps, freq_counts)
    report.steps += steps.rows
    gm = gm.subset(variants=steps.keep)
    if options.thin_bp or options.ld_prune is not None:  # order-dependent steps need sorted input
        order = sort_order(gm.variant_contig, gm.variant_position)
        if np.any(order != np.arange(len(order))):
            report.steps.append(("input not sorted: sorted by contig and position", 0, ""))
            gm = gm.subset(variants=order)
    if options.thin_bp:
        keep = locate_thinned(gm.variant_contig, gm.variant_position, options.thin_bp)
        report.steps.append((thinning_name(options.thin_bp), int((~keep).sum()), ""))
        gm = gm.subset(variants=keep)
    if options.ld_prune is not None:
        size, step, thr = options.ld_prune
        founders = frequency_samples(gm, options)
        dosage = gm.dosage if founders is None else gm.dosage[:, founders]
        keep = prune_pairwise(dosage, gm.variant_contig, window=size, step=step, r2=thr,
                              position=gm.variant_position, window_kb=options.ld_prune_kb)  # fmt: skip
        report.prune_in = [str(v) for v in gm.variant_id[keep]]
        report.prune_out = [str(v) for v in gm.variant_id[~keep]]
        report.steps.append(
            (ld_prune_name(size, step, thr, options.ld_prune_kb), int((~keep).sum()), "")
        )
        gm = gm.subset(variants=keep)
    report.n_variants_out, report.n_samples_out = gm.n_variants, gm.n_samples
    if gm.n_variants == 0 or gm.n_samples == 0:
        raise InputError(nothing_left_message(report.steps, report.n_variants_in))
    return gm, report
