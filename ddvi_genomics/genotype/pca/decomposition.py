"""PCA of genotype dosages: mean imputation, Patterson scaling, exact or randomized SVD.

Scaling follows Patterson, Price & Reich (2006), as ``allel.pca`` and smartpca: for variant i with
ALT frequency ``p_i`` (over called genotypes), ``x_ij = (g_ij - 2 p_i) / sqrt(p_i (1 - p_i))``;
missing calls are imputed with ``2 p_i`` (so they become 0). The fitted :class:`GenotypePCA` keeps
the frequencies and loadings, so new samples are projected with the training scaling.

Sign convention: each component's loading vector is flipped so that its entry of largest
magnitude is positive (deterministic across runs and solvers).
"""

from __future__ import annotations

import numpy as np

from ...core.config import check_choice
from ..counts import alt_allele_frequency, count_called
from ..errors import InputError

#: Up to this many samples the exact solver (an ``n x n`` Gram matrix) is the default; above it
#: the randomized one (memory linear in the samples), in memory and out of core alike.
EXACT_MAX_SAMPLES = 5000

SOLVERS = ("auto", "exact", "randomized")


DEFAULT_WORKSPACE_MIB = 256
"""Default workspace for scaled variant blocks in :class:`ScaledGenotypes` (``--memory``)."""


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
    memory_mib : float, optional
        Workspace for the scaled blocks of variants (default
        :data:`DEFAULT_WORKSPACE_MIB`); the dosages themselves stay int8 and are never scaled
        as a whole, so peak memory is the dosages plus this plus the ``n x n`` Gram matrix of
        the exact solver.

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

    def __init__(
        self,
        n_components: int = 10,
        *,
        solver: str = "auto",
        seed: int = 0,
        memory_mib: float | None = None,
    ):
        check_choice("solver", solver, SOLVERS)
        if n_components < 1:
            raise InputError(f"--n-pcs must be >= 1; got {n_components}")
        self.n_components = int(n_components)
        self.solver = solver
        self.seed = int(seed)
        self.memory_mib = memory_mib

    def _operator(self, dosage: np.ndarray) -> ScaledGenotypes:
        """``X`` for ``dosage``, scaled with the training frequencies, applied block by block."""
        return ScaledGenotypes(
            dosage, self.allele_frequency_, self.scale_, memory_mib=self.memory_mib
        )

    def fit_transform(self, dosage: np.ndarray, frequency_samples=None) -> np.ndarray:
        """Fit on dosages ``(n_variants, n_samples)``; return coordinates ``(n_samples, k)``.

        ``frequency_samples`` (column indices, e.g. the founders) gives the allele frequencies
        that centre and scale the genotypes, as plink2 takes them from founders; every sample
        is in the decomposition.
        """
        n_var, n_samp = dosage.shape
        freq_dosage = dosage if frequency_samples is None else dosage[:, frequency_samples]
        p = alt_allele_frequency(freq_dosage)
        if np.any(~np.isfinite(p)) or np.any((p <= 0) | (p >= 1)):
            raise InputError(
                "PCA needs polymorphic variants with at least one call each; run QC first"
            )
        self.allele_frequency_ = p
        self.scale_ = patterson_scale(p)
        self.observed_allele_count_ = 2 * count_called(freq_dosage, 1)
        k_max = min(n_var, n_samp)
        if self.n_components > k_max:
            self.n_components = k_max
        x = self._operator(dosage)
        solver = self.solver
        if solver == "auto":
            solver = "exact" if n_samp <= EXACT_MAX_SAMPLES else "randomized"
        if solver == "exact":
            u, s, vt, total = _exact_svd(x, self.n_components)
        else:
            u, s, vt = _randomized_svd(x, self.n_components, n_iter=7, seed=self.seed)
            total = x.squared_norm()
        u, vt = sign_convention(u, vt)
        self.components_ = vt.astype(np.float64)
        self.singular_values_ = s
        self.eigenvalues_ = s**2 / (2 * n_var)
        self.explained_variance_ratio_ = s**2 / total
        self.total_variance_ = float(total)  # ||X||_F^2, for the residual variance
        self.n_fit_samples_ = int(n_samp)
        self.solver_used_ = solver
        return u * s

    @classmethod
    def from_state(
        cls,
        allele_frequency: np.ndarray,
        components: np.ndarray,
        *,
        eigenvalues=None,
        singular_values=None,
        total_variance: float | None = None,
        n_fit_samples: int | None = None,
    ) -> GenotypePCA:
        """Rebuild a fitted PCA for projection from its saved state.

        Parameters
        ----------
        allele_frequency : np.ndarray, shape (n_variants,)
            Training ALT allele frequencies ``p``.
        components : np.ndarray, shape (n_components, n_variants)
            Loadings.
        eigenvalues : np.ndarray, shape (n_components,), optional
        singular_values : np.ndarray, shape (n_components,), optional
        total_variance : float, optional
            ``||X||_F^2`` of the fitted matrix.
        n_fit_samples : int, optional
            Samples the PCA was fitted on. With ``singular_values`` and ``total_variance`` these
            give the residual variance that projection with uncertainty needs.
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
        if singular_values is not None:
            pca.singular_values_ = np.asarray(singular_values, dtype=np.float64)
        if total_variance is not None:
            pca.total_variance_ = float(total_variance)
        if n_fit_samples is not None:
            pca.n_fit_samples_ = int(n_fit_samples)
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
        for name in ("solver_used_", "total_variance_", "n_fit_samples_"):
            if hasattr(self, name):
                setattr(pca, name, getattr(self, name))
        return pca

    def transform(self, dosage: np.ndarray) -> np.ndarray:
        """Project new samples ``(n_variants, n_new)`` (same variants, same order) to ``(n_new, k)``."""
        if dosage.shape[0] != self.components_.shape[1]:
            raise InputError(
                f"projection needs {self.components_.shape[1]} variants in training order; got {dosage.shape[0]}"
            )
        return self._operator(dosage).matmul(self.components_.T)


def check_polymorphic_in_fit_samples(allele_frequency: np.ndarray) -> None:
    """Refuse a ``--pca-fit`` subset in which a QC-passing variant is monomorphic or uncalled.

    Parameters
    ----------
    allele_frequency : np.ndarray, shape (n_variants,)
        ALT allele frequency in the fit samples (NaN where no call).
    """
    bad = ~((allele_frequency > 0) & (allele_frequency < 1))  # NaN compares False: bad
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} QC-passing variant(s) are monomorphic or uncalled in the PCA fit "
            "samples; choose more fit samples"
        )


def patterson_scale(allele_frequency: np.ndarray) -> np.ndarray:
    """Per-variant scale ``sqrt(p (1 - p))`` of Patterson et al. (2006), shape (n_variants,)."""
    p = np.asarray(allele_frequency, dtype=np.float64)
    return np.sqrt(p * (1 - p))


def patterson_block(
    dosage_block: np.ndarray, mean: np.ndarray, inv_scale: np.ndarray, dtype=np.float64
) -> np.ndarray:
    """Patterson-scale one block of dosages; missing calls are mean-imputed (they become 0).

    Parameters
    ----------
    dosage_block : np.ndarray, int8, shape (block variants, n_samples)
    mean, inv_scale : np.ndarray, shape (block variants,)
        ``2 p`` and ``1 / sqrt(p (1 - p))`` of those variants.
    dtype : numpy dtype
        float64, or float32 where half the memory and twice the product speed matter more than
        the last digits (the randomized out-of-core solver).

    Returns
    -------
    np.ndarray, ``dtype``, shape (block variants, n_samples)
    """
    x = dosage_block.astype(dtype)
    x -= mean[:, None].astype(dtype)
    x[dosage_block < 0] = 0.0
    x *= inv_scale[:, None].astype(dtype)
    return x


def top_eigenpairs(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k left singular vectors ``U`` (n, k) and singular values ``s`` (k,) from ``X X^T``."""
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1][:k]
    return evecs[:, order], np.sqrt(np.clip(evals[order], 0.0, None))


def sign_convention(u: np.ndarray, vt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each component so that its loading of largest magnitude is positive.

    Parameters
    ----------
    u : np.ndarray, shape (n_samples, k)
    vt : np.ndarray, shape (k, n_variants)

    Returns
    -------
    u, vt : np.ndarray
        Flipped copies; :func:`flip_signs_in_place` does the same without copying ``vt``.
    """
    flip = component_signs(vt)
    return u * flip, vt * flip[:, None]


def flip_signs_in_place(u: np.ndarray, vt: np.ndarray) -> None:
    """:func:`sign_convention` on ``u`` and ``vt`` themselves (no second copy of the loadings)."""
    flip = component_signs(vt)
    u *= flip
    vt *= flip[:, None]


def component_signs(vt: np.ndarray) -> np.ndarray:
    """Sign of each component's loading of largest magnitude, shape (k,)."""
    return np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])


class ScaledGenotypes:
    """The Patterson-scaled matrix ``X`` (n_samples, n_variants) as a block-wise linear operator.

    ``X[j, i] = (g_ij - 2 p_i) / sqrt(p_i (1 - p_i))`` with missing calls imputed to 0. Only one
    block of variants is scaled at a time (float64), so the products below need the int8
    dosages plus ``block_variants x n_samples x 8`` bytes, never a dense float copy of ``X``.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        -1 = missing.
    allele_frequency, scale : np.ndarray, shape (n_variants,)
        ``p`` and ``sqrt(p (1 - p))`` (the training ones when projecting).
    memory_mib : float, optional
        Workspace for one scaled block (default :data:`DEFAULT_WORKSPACE_MIB`).
    """

    def __init__(self, dosage, allele_frequency, scale, *, memory_mib=None):
        self.dosage = dosage
        self.mean = 2 * np.asarray(allele_frequency, dtype=np.float64)
        self.inv_scale = 1.0 / np.asarray(scale, dtype=np.float64)
        n_var, n_samp = dosage.shape
        workspace = (DEFAULT_WORKSPACE_MIB if memory_mib is None else memory_mib) * 2**20
        # a block and its temporaries: ~3 float64 copies of block x n_samples
        self.block_variants = int(max(1, min(n_var, workspace // (24 * max(n_samp, 1)))))
        self.shape = (n_samp, n_var)

    def blocks(self):
        """Yield ``(lo, hi, X[:, lo:hi].T)``: scaled blocks of variants, shape (hi - lo, n_samples)."""
        n_var = self.shape[1]
        for lo in range(0, n_var, self.block_variants):
            hi = min(lo + self.block_variants, n_var)
            yield (
                lo,
                hi,
                patterson_block(self.dosage[lo:hi], self.mean[lo:hi], self.inv_scale[lo:hi]),
            )

    def gram(self) -> np.ndarray:
        """``X X^T``, shape (n_samples, n_samples) (PLINK's relationship matrix times 2M)."""
        n = self.shape[0]
        out = np.zeros((n, n))
        for _, _, g in self.blocks():
            out += g.T @ g
        return out

    def matmul(self, w: np.ndarray) -> np.ndarray:
        """``X w`` for ``w`` of shape (n_variants, k); returns (n_samples, k)."""
        out = np.zeros((self.shape[0], w.shape[1]))
        for lo, hi, g in self.blocks():
            out += g.T @ w[lo:hi]
        return out

    def rmatmul(self, u: np.ndarray) -> np.ndarray:
        """``X^T u`` for ``u`` of shape (n_samples, k); returns (n_variants, k)."""
        out = np.empty((self.shape[1], u.shape[1]))
        for lo, hi, g in self.blocks():
            out[lo:hi] = g @ u
        return out

    def squared_norm(self) -> float:
        """``||X||_F^2``: the total variance that ``explained_variance_ratio_`` divides by."""
        return float(sum((g * g).sum() for _, _, g in self.blocks()))


def _exact_svd(x: ScaledGenotypes, k: int):
    """Top-k thin SVD of ``X`` (n_samples, n_variants), exact up to float64 rounding, and ``||X||_F^2``.

    Eigendecomposes the n x n Gram matrix ``X X^T`` (the relationship matrix PLINK's exact
    ``--pca`` uses), accumulated over blocks of variants; ``V = X^T U / s``. With fewer variants
    than samples ``X`` is small and a dense SVD is used instead.
    """
    n, m = x.shape
    if n <= m:
        gram = x.gram()
        u, s = top_eigenpairs(gram, k)
        vt = (x.rmatmul(u) / np.where(s > 0, s, 1.0)).T
        return u, s, vt, float(np.trace(gram))  # ||X||_F^2 = trace(X X^T): no extra pass
    x_t = np.concatenate([g for _, _, g in x.blocks()])  # (m, n): few variants, small
    v, s, u_t = np.linalg.svd(x_t, full_matrices=False)
    return u_t[:k].T, s[:k], v[:, :k].T, float((x_t**2).sum())


def _randomized_svd(x: ScaledGenotypes, k: int, *, n_iter: int = 7, oversample: int = 10, seed=0):
    """Top-k SVD of ``X`` by randomized subspace iteration (Halko, Martinsson & Tropp 2011, alg. 4.4).

    Every product with ``X`` runs block by block, so memory is ``O((n + m) (k + oversample))``
    beyond the dosages.
    """
    n, m = x.shape
    width = min(k + oversample, n, m)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(x.matmul(rng.standard_normal((m, width))))
    for _ in range(n_iter):
        z, _ = np.linalg.qr(x.rmatmul(q))
        q, _ = np.linalg.qr(x.matmul(z))
    b_t = x.rmatmul(q)  # (m, width) = (Q^T X)^T
    v, s, u_hat_t = np.linalg.svd(b_t, full_matrices=False)
    u = q @ u_hat_t.T
    return u[:, :k], s[:k], v[:, :k].T


def clamp_n_components(requested: int, n_variants: int, n_samples: int) -> tuple[int, str | None]:
    """Clamp ``--n-pcs`` to ``min(n_variants, n_samples)``; return it and a warning (or None)."""
    k_max = min(n_variants, n_samples)
    if requested > k_max:
        return k_max, (
            f"--n-pcs {requested} is larger than possible with {n_variants} variants x "
            f"{n_samples} samples; using {k_max}"
        )
    return requested, None
