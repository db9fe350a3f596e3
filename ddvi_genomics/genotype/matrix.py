"""The genotype matrix and the variant table: the data every other module of ``genotype`` reads.

:class:`GenotypeMatrix` holds alternate-allele dosages of shape ``(n_variants, n_samples)``, int8,
``-1`` for a missing call, with the variant table (``variant_*``) and the sample IDs.
:class:`VariantTable` is the variant table alone (what a store's index or a saved model holds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .display import count, html_summary, text_summary
from .errors import InputError
from .samples import sample_keys


@dataclasses.dataclass
class GenotypeMatrix:
    """Dosages and their variant and sample tables.

    Attributes
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Non-reference allele count per call; -1 = missing.
    variant_contig, variant_id, variant_ref, variant_alt : np.ndarray of str, shape (n_variants,)
        ``variant_alt`` joins several alternate alleles with commas ("" when there is none).
    variant_position : np.ndarray, int64, shape (n_variants,)
        1-based positions.
    sample_id : np.ndarray of str, shape (n_samples,)
    n_haploid_calls : int
        Haploid calls read (counted as homozygous).
    sample_family : np.ndarray of str, shape (n_samples,), optional
        PLINK family IDs (FID) where the input has them (a ``.fam``); None for VCF/BCF.
    sample_founder : np.ndarray of bool, shape (n_samples,), optional
        PLINK's founders: samples whose father and mother IDs are both ``0`` in the ``.fam`` /
        ``.psam``. Allele frequencies, MAF, HWE and LD are computed over founders only, as
        plink2 does (``--nonfounders`` to use everyone). None: every sample is a founder.
    """

    dosage: np.ndarray
    variant_contig: np.ndarray
    variant_position: np.ndarray
    variant_id: np.ndarray
    variant_ref: np.ndarray
    variant_alt: np.ndarray
    sample_id: np.ndarray
    n_haploid_calls: int = 0
    sample_family: np.ndarray | None = None
    sample_founder: np.ndarray | None = None

    @property
    def founders(self) -> np.ndarray | None:
        """Column indices of the founders, or None when every sample is one."""
        if self.sample_founder is None or self.sample_founder.all():
            return None
        return np.flatnonzero(self.sample_founder)

    @property
    def n_variants(self) -> int:
        """Number of variants (rows)."""
        return self.dosage.shape[0]

    def _summary_rows(self) -> list[tuple[str, str]]:
        contigs = list(dict.fromkeys(self.variant_contig[:: max(1, self.n_variants // 1000)]))
        called = (self.dosage >= 0).mean() if self.dosage.size else 1.0
        rows = [
            ("variants", count(self.n_variants)),
            ("samples", count(self.n_samples)),
            ("contigs", ", ".join(map(str, contigs[:6])) + (", ..." if len(contigs) > 6 else "")),
            ("call rate", f"{called:.4f}"),
        ]
        if self.sample_founder is not None and not self.sample_founder.all():
            rows.append(("founders", count(self.sample_founder.sum())))
        return rows

    def __repr__(self) -> str:
        return text_summary("GenotypeMatrix", self._summary_rows())

    def _repr_html_(self) -> str:
        return html_summary("GenotypeMatrix", self._summary_rows())

    @property
    def n_samples(self) -> int:
        """Number of samples (columns)."""
        return self.dosage.shape[1]

    def subset(self, variants=None, samples=None) -> GenotypeMatrix:
        """Select variants and/or samples by boolean mask or index array."""
        v = slice(None) if variants is None else variants
        s = slice(None) if samples is None else samples
        if variants is None or samples is None:
            dosage = self.dosage[v] if samples is None else self.dosage[:, s]
        else:  # one copy, not an intermediate one per axis
            dosage = self.dosage[np.ix_(_as_index(variants), _as_index(samples))]
        return GenotypeMatrix(
            dosage,
            self.variant_contig[v],
            self.variant_position[v],
            self.variant_id[v],
            self.variant_ref[v],
            self.variant_alt[v],
            self.sample_id[s],
            self.n_haploid_calls,
            None if self.sample_family is None else self.sample_family[s],
            None if self.sample_founder is None else self.sample_founder[s],
        )


def _as_index(selection) -> np.ndarray:
    selection = np.asarray(selection)
    return np.flatnonzero(selection) if selection.dtype == bool else selection


def stack_variants(parts: Sequence[GenotypeMatrix], names: Sequence[str]) -> GenotypeMatrix:
    """Stack the variants of several files that hold the same samples (e.g. one per chromosome).

    Raises
    ------
    InputError
        When a file's samples differ from the first file's (names the file and the first
        differing sample).
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    first_keys = sample_keys(first.sample_id, first.sample_family)
    for gm, name in zip(parts[1:], names[1:]):
        keys = sample_keys(gm.sample_id, gm.sample_family)
        if keys != first_keys:
            where = next(
                (i for i, (a, b) in enumerate(zip(first_keys, keys)) if a != b),
                min(gm.n_samples, first.n_samples),
            )
            theirs = keys[where] if where < gm.n_samples else "(none)"
            ours = first_keys[where] if where < first.n_samples else "(none)"
            raise InputError(
                f"{name} does not hold the samples of {names[0]} in the same order: sample "
                f"{where + 1} is {theirs!r}, not {ours!r} ({gm.n_samples} vs {first.n_samples} "
                "samples); several inputs must share one sample list"
            )
    return GenotypeMatrix(
        np.concatenate([gm.dosage for gm in parts]),
        *(
            np.concatenate([getattr(gm, name) for gm in parts])
            for name in (
                "variant_contig", "variant_position", "variant_id", "variant_ref", "variant_alt"
            )
        ),
        first.sample_id,
        sum(gm.n_haploid_calls for gm in parts),
        first.sample_family,
        first.sample_founder,
    )  # fmt: skip


def flip_alleles(dosage: np.ndarray) -> np.ndarray:
    """Return dosages counted for the other allele: ``2 - d`` for calls, ``-1`` stays missing.

    Parameters
    ----------
    dosage : np.ndarray, int8, any shape

    Returns
    -------
    np.ndarray, int8, the same shape
    """
    return np.where(dosage >= 0, 2 - dosage, -1).astype(np.int8)


@dataclasses.dataclass
class VariantTable:
    """The variants a model was trained on, in training order (arrays of shape (n_variants,))."""

    contig: np.ndarray
    position: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    id: np.ndarray | None = None

    @classmethod
    def of(cls, gm: GenotypeMatrix) -> VariantTable:
        """Return the variant table of a genotype matrix (see :meth:`from_arrays`)."""
        return cls.from_arrays(
            gm.variant_contig, gm.variant_position, gm.variant_ref, gm.variant_alt, gm.variant_id
        )

    @classmethod
    def from_arrays(cls, contig, position, ref, alt, ids) -> VariantTable:
        """Return a variant table; missing IDs (``.`` or empty) become ``CHROM:POS:REF:ALT``.

        That is how ``plink2 --set-all-var-ids @:#:$r:$a`` names them, so PLINK files written
        from the table work.
        """
        names = [
            str(v) if str(v) not in (".", "", "None") else f"{c}:{p}:{r}:{a}"
            for v, c, p, r, a in zip(ids, contig, position, ref, alt)
        ]
        return cls(
            np.asarray(contig, dtype=str),
            np.asarray(position, dtype=np.int64),
            np.asarray(ref, dtype=str),
            np.asarray(alt, dtype=str),
            np.asarray(names, dtype=str),
        )

    def __len__(self) -> int:
        return len(self.position)
