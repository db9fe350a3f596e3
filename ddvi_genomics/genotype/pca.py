"""PCA of genotype dosages: mean imputation, Patterson scaling, exact or randomized SVD.

Scaling follows Patterson, Price & Reich (2006), as ``allel.pca`` and smartpca: for variant i with
ALT frequency ``p_i`` (over called genotypes), ``x_ij = (g_ij - 2 p_i) / sqrt(p_i (1 - p_i))``;
missing calls are imputed with ``2 p_i`` (so they become 0). The fitted :class:`GenotypePCA` keeps
the frequencies and loadings, so new samples are projected with the training scaling.

Sign convention: each component's loading vector is flipped so that its entry of largest
magnitude is positive (deterministic across runs and solvers).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.config import check_choice
from .errors import InputError

SOLVERS = ("auto", "exact", "randomized")


class GenotypePCA:
    """Fitted PCA of dosages ``(n_variants, n_samples)``.

    Parameters
    ----------
    n_components : int
    solver : {"auto", "exact", "randomized"}
        ``auto`` uses the exact thin SVD up to 5,000 samples (PLINK's guidance for ``--pca approx``)
        and randomized SVD above.
    seed : int
        Seed of the randomized solver.

    Attributes
    ----------
    allele_frequency_ : np.ndarray, shape (n_variants,)
    scale_ : np.ndarray, shape (n_variants,)
        ``sqrt(p (1 - p))``.
    components_ : np.ndarray, shape (n_components, n_variants)
        Loadings (right singular vectors).
    singular_values_ : np.ndarray, shape (n_components,)
    eigenvalues_ : np.ndarray, shape (n_components,)
        ``s^2 / (2 M)``: eigenvalues of PLINK 2's variance-standardised relationship matrix, whose
        genotypes are scaled by ``sqrt(2 p (1 - p))`` (Patterson's ``sqrt(p (1 - p))`` makes the
        scores larger by ``sqrt(2)``); what ``plink2 --pca`` writes to ``.eigenval``.
    explained_variance_ratio_ : np.ndarray, shape (n_components,)
    """

    def __init__(self, n_components: int = 10, *, solver: str = "auto", seed: int = 0):
        check_choice("solver", solver, SOLVERS)
        if n_components < 1:
            raise InputError(f"--n-pcs must be >= 1; got {n_components}")
        self.n_components = int(n_components)
        self.solver = solver
        self.seed = int(seed)

    def _scaled(self, dosage: np.ndarray) -> np.ndarray:
        """Return the samples x variants matrix, Patterson-scaled with the training frequencies (float32)."""
        g = dosage.astype(np.float32)
        mean = (2 * self.allele_frequency_).astype(np.float32)
        g = np.where(dosage < 0, mean[:, None], g)
        return ((g - mean[:, None]) / self.scale_[:, None].astype(np.float32)).T

    def fit_transform(self, dosage: np.ndarray) -> np.ndarray:
        """Fit on dosages ``(n_variants, n_samples)``; return coordinates ``(n_samples, k)``."""
        from .qc import alt_allele_frequency

        n_var, n_samp = dosage.shape
        p = alt_allele_frequency(dosage)
        if np.any(~np.isfinite(p)) or np.any((p <= 0) | (p >= 1)):
            raise InputError(
                "PCA needs polymorphic variants with at least one call each; run QC first"
            )
        self.allele_frequency_ = p
        self.scale_ = patterson_scale(p)
        self.observed_allele_count_ = 2 * (dosage >= 0).sum(axis=1)
        k_max = min(n_var, n_samp)
        if self.n_components > k_max:
            self.n_components = k_max
        x = self._scaled(dosage)
        solver = self.solver
        if solver == "auto":
            solver = "exact" if n_samp <= 5000 else "randomized"
        if solver == "exact":
            u, s, vt = _exact_svd(x, self.n_components)
        else:
            from sklearn.utils.extmath import randomized_svd

            u, s, vt = randomized_svd(x, self.n_components, n_iter=7, random_state=self.seed)
        flip = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        u, vt = u * flip, vt * flip[:, None]
        self.components_ = vt.astype(np.float64)
        self.singular_values_ = s
        self.eigenvalues_ = s**2 / (2 * n_var)
        total = float((x.astype(np.float64) ** 2).sum())
        self.explained_variance_ratio_ = s**2 / total
        self.solver_used_ = solver
        return u * s

    @classmethod
    def from_state(
        cls, allele_frequency: np.ndarray, components: np.ndarray, *, eigenvalues=None
    ) -> GenotypePCA:
        """Rebuild a fitted PCA for projection from its saved state.

        Parameters
        ----------
        allele_frequency : np.ndarray, shape (n_variants,)
            Training ALT allele frequencies ``p``.
        components : np.ndarray, shape (n_components, n_variants)
            Loadings.
        eigenvalues : np.ndarray, shape (n_components,), optional
        """
        p = np.asarray(allele_frequency, dtype=np.float64)
        components = np.asarray(components, dtype=np.float64)
        if components.ndim != 2 or components.shape[1] != p.shape[0]:
            raise InputError(
                f"PCA state mismatch: {p.shape[0]} allele frequencies but loadings of shape "
                f"{components.shape}"
            )
        pca = cls(components.shape[0])
        pca.allele_frequency_ = p
        pca.scale_ = patterson_scale(p)
        pca.components_ = components
        if eigenvalues is not None:
            pca.eigenvalues_ = np.asarray(eigenvalues, dtype=np.float64)
        return pca

    def truncated(self, n_components: int) -> GenotypePCA:
        """Return a copy that keeps the leading ``n_components`` components."""
        eigenvalues = getattr(self, "eigenvalues_", None)
        pca = GenotypePCA.from_state(
            self.allele_frequency_,
            self.components_[:n_components],
            eigenvalues=None if eigenvalues is None else eigenvalues[:n_components],
        )
        if hasattr(self, "observed_allele_count_"):
            pca.observed_allele_count_ = self.observed_allele_count_
        for name in ("explained_variance_ratio_", "singular_values_"):
            if hasattr(self, name):
                setattr(pca, name, getattr(self, name)[:n_components])
        if hasattr(self, "solver_used_"):
            pca.solver_used_ = self.solver_used_
        return pca

    def transform(self, dosage: np.ndarray) -> np.ndarray:
        """Project new samples ``(n_variants, n_new)`` (same variants, same order) to ``(n_new, k)``."""
        if dosage.shape[0] != self.components_.shape[1]:
            raise InputError(
                f"projection needs {self.components_.shape[1]} variants in training order; got {dosage.shape[0]}"
            )
        return self._scaled(dosage).astype(np.float64) @ self.components_.T


def patterson_scale(allele_frequency: np.ndarray) -> np.ndarray:
    """Per-variant scale ``sqrt(p (1 - p))`` of Patterson et al. (2006), shape (n_variants,)."""
    p = np.asarray(allele_frequency, dtype=np.float64)
    return np.sqrt(p * (1 - p))


def _exact_svd(x: np.ndarray, k: int):
    """Top-k thin SVD of ``x`` (n_samples, n_variants), exact up to float64 rounding.

    With fewer samples than variants this eigendecomposes the n x n Gram matrix ``X X^T`` (the
    relationship matrix PLINK's exact ``--pca`` uses): one matrix product and a small ``eigh``,
    about 5x faster than a full SVD of a 2,504 x 100,000 matrix. ``V = X^T U / s``.
    """
    x64 = x.astype(np.float64)
    n, m = x64.shape
    if n >= m:
        u, s, vt = np.linalg.svd(x64, full_matrices=False)
        return u[:, :k], s[:k], vt[:k]
    evals, evecs = np.linalg.eigh(x64 @ x64.T)
    order = np.argsort(evals)[::-1][:k]
    s = np.sqrt(np.clip(evals[order], 0.0, None))
    u = evecs[:, order]
    vt = (x64.T @ u / np.where(s > 0, s, 1.0)).T
    return u, s, vt


def clamp_n_components(requested: int, n_variants: int, n_samples: int) -> tuple[int, str | None]:
    """Clamp ``--n-pcs`` to ``min(n_variants, n_samples)``; return it and a warning (or None)."""
    k_max = min(n_variants, n_samples)
    if requested > k_max:
        return k_max, (
            f"--n-pcs {requested} is larger than possible with {n_variants} variants x "
            f"{n_samples} samples; using {k_max}"
        )
    return requested, None


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
