"""PLINK-format files written by a run.

``.bed/.bim/.fam`` genotypes and the PCA's ``.eigenvec``, ``.eigenval``, ``.afreq`` and allele
weights (``plink2 --pca allele-wts`` layout, usable with ``--score``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..matrix import GenotypeMatrix


def write_plink(gm: GenotypeMatrix, prefix: str | os.PathLike) -> None:
    """Write biallelic dosages as PLINK 1 ``.bed/.bim/.fam`` (ALT = A1, REF = A2).

    A site without an ALT allele gets PLINK's missing allele code ``.``, so that every ``.bim``
    row has six fields.
    """
    prefix = Path(prefix)
    codes = np.full(gm.dosage.shape, 1, dtype=np.uint8)  # missing
    for code, value in ((0, 2), (2, 1), (3, 0)):
        codes[gm.dosage == value] = code
    pad = (-gm.n_samples) % 4
    codes = np.pad(codes, ((0, 0), (0, pad)), constant_values=0).reshape(gm.n_variants, -1, 4)
    packed = (codes[..., 0] | codes[..., 1] << 2 | codes[..., 2] << 4 | codes[..., 3] << 6).astype(
        np.uint8
    )
    with open(prefix.with_name(prefix.name + ".bed"), "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        fh.write(packed.tobytes())
    bim = pd.DataFrame(
        {
            "chr": gm.variant_contig,
            "id": gm.variant_id,
            "cm": 0,
            "pos": gm.variant_position,
            "a1": _allele_or_missing_code(gm.variant_alt),
            "a2": _allele_or_missing_code(gm.variant_ref),
        }
    )
    bim.to_csv(prefix.with_name(prefix.name + ".bim"), sep="\t", header=False, index=False)
    fam = pd.DataFrame(
        {
            "fid": gm.sample_id if gm.sample_family is None else gm.sample_family,
            "iid": gm.sample_id,
            "f": 0,
            "m": 0,
            "sex": 0,
            "ph": -9,
        }
    )
    fam.to_csv(prefix.with_name(prefix.name + ".fam"), sep="\t", header=False, index=False)


def _allele_or_missing_code(alleles: np.ndarray) -> np.ndarray:
    alleles = np.asarray(alleles, dtype=object)
    return np.where(alleles == "", ".", alleles)


def write_eigenvec(path: str | os.PathLike, sample_id, vectors: np.ndarray, family=None) -> None:
    """PLINK 2 ``.eigenvec``: unit eigenvectors, tab-separated, ``#FID IID PC1 ..`` or ``#IID ..``.

    Parameters
    ----------
    path : path
    sample_id : sequence of str, shape (n_samples,)
    vectors : np.ndarray, shape (n_samples, k)
        Unit-norm eigenvectors of the relationship matrix (PC scores divided by the singular
        values), as ``plink2 --pca`` writes them.
    family : sequence of str, optional
        Family IDs; given (a PLINK input), the header is ``#FID IID`` as PLINK writes it.
    """
    k = vectors.shape[1]
    head = ["#FID", "IID"] if family is not None else ["#IID"]
    lines = ["\t".join(head + [f"PC{i + 1}" for i in range(k)])]
    ids = zip(family, sample_id) if family is not None else ((s,) for s in sample_id)
    lines += ["\t".join([*key, *(f"{v:.6g}" for v in row)]) for key, row in zip(ids, vectors)]
    Path(path).write_text("\n".join(lines) + "\n")


def write_allele_weights(path: str | os.PathLike, variants, components: np.ndarray) -> None:
    """PLINK 2 ``.eigenvec.allele`` (``--pca allele-wts``): two rows per variant, A1 = REF, ALT.

    PLINK's weight of the ALT allele is the loading times ``sqrt(M) / 2`` (M variants), the REF
    row its negative; with ``.afreq`` they project new samples through
    ``plink2 --read-freq PREFIX.afreq --score PREFIX.eigenvec.allele 2 5 header-read
    no-mean-imputation variance-standardize --score-col-nums 6-...``.

    Parameters
    ----------
    path : path
    variants : VariantTable-like
        ``contig``, ``position`` and ``ref`` / ``alt`` arrays, plus ``id``.
    components : np.ndarray, shape (k, n_variants)
        Unit-norm loadings.
    """
    k, m = components.shape
    weights = components.T * (np.sqrt(m) / 2)  # (n_variants, k), ALT allele
    lines = ["\t".join(["#CHROM", "ID", "REF", "ALT", "A1", *(f"PC{i + 1}" for i in range(k))])]
    for j in range(m):
        site = [str(variants.contig[j]), str(variants.id[j]), variants.ref[j], variants.alt[j]]
        for allele, sign in ((variants.ref[j], -1.0), (variants.alt[j], 1.0)):
            lines.append("\t".join([*site, allele, *(f"{sign * w:.6g}" for w in weights[j])]))
    Path(path).write_text("\n".join(lines) + "\n")


def write_afreq(path: str | os.PathLike, variants, alt_frequency, observed_count) -> None:
    """PLINK 2 ``.afreq``: ``#CHROM ID REF ALT ALT_FREQS OBS_CT`` (training frequencies)."""
    lines = ["#CHROM\tID\tREF\tALT\tALT_FREQS\tOBS_CT"]
    for j in range(len(alt_frequency)):
        lines.append(
            f"{variants.contig[j]}\t{variants.id[j]}\t{variants.ref[j]}\t{variants.alt[j]}\t"
            f"{alt_frequency[j]:.6g}\t{int(observed_count[j])}"
        )
    Path(path).write_text("\n".join(lines) + "\n")


def write_eigenval(path: str | os.PathLike, eigenvalues: np.ndarray) -> None:
    """PLINK ``.eigenval``: one eigenvalue per line."""
    Path(path).write_text("".join(f"{v:.6g}\n" for v in eigenvalues))
