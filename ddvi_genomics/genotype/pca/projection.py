"""Project samples with missing calls onto a reference PCA, with the uncertainty of each position.

A reference PCA has orthonormal loadings ``V`` (``m`` variants x ``k`` components). A complete
sample with Patterson-scaled genotypes ``x`` (length ``m``) has the scores ``s_full = V^T x``.
A sample observed at a subset ``O`` of the variants has only ``x_O``; three estimators of its
complete-data position are offered (``method``):

``mean-impute``
    Missing calls take the reference mean (``x`` = 0 there): ``h = V_O^T x_O``. This is what
    ``plink2 --score`` and an ordinary projection do; it shrinks a sparse sample towards the
    origin, by about the observed fraction.
``lsq``
    Least squares on the observed loci only, as smartpca's ``lsqproject: YES``:
    ``s = argmin ||x_O - V_O s||^2 = G^{-1} h`` with ``G = V_O^T V_O`` (``k x k``).
``bayes`` (default)
    The same linear model with a Gaussian prior on the scores (a ridge projection), and the
    exact predictive distribution of the complete-data position under that model.

The model (Tipping & Bishop 1999, probabilistic PCA; the projection form used by TrustPCA,
Zabel et al., BMC Genomics 2025, to predict where a sample's full-data projection lies):
``x = V s + e`` with ``s ~ N(0, Lambda)`` and ``e ~ N(0, sigma^2 I)``. ``sigma^2`` is the
reference's residual variance per locus after ``k`` PCs, ``(||X||_F^2 - sum_i S_i^2) / (n m)``,
and ``Lambda = diag(max(S_i^2 / n - sigma^2, S_i^2 / (100 n)))``: the variance of the reference
scores less the noise they carry. Then

* the posterior of ``s`` given ``x_O`` is ``N(mu, Sigma)`` with
  ``Sigma = (G / sigma^2 + Lambda^{-1})^{-1}`` and ``mu = Sigma h / sigma^2``;
* the complete-data scores ``s_full = V_O^T x_O + V_M^T x_M`` (``M`` the missing loci) depend on
  the unseen ``x_M = V_M s + e_M`` only, and ``V_M^T V_M = I - G`` because ``V`` is
  orthonormal, so ``s_full | x_O ~ N(h + (I - G) mu, (I - G) Sigma (I - G) + sigma^2 (I - G))``.

That predictive distribution is what ``bayes`` reports: its mean is the point estimate and its
covariance the region where the complete-data position lies. Nothing missing gives ``G = I``:
the mean is ``V^T x`` and the covariance zero. For ``lsq`` the same model gives
``Cov(s_full - s_lsq) = sigma^2 (G^{-1} - I)``, reported as its covariance. Linkage
disequilibrium correlates the residuals ``e``, so the true spread can be wider than these;
``workflows/bench/projection_calibration.py`` measures the coverage of both by down-sampling
held-out complete samples.

Every estimator needs only two per-sample sums over the observed variants, ``h`` (``k``) and
``G`` (``k x k``); :class:`ObservedSums` accumulates them block by block of variants (in memory
or chunk by chunk from a store), so the memory is ``n_samples x k^2`` whatever the variants.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InputError
from .decomposition import GenotypePCA, ScaledGenotypes
from .linkage import BandSums

PROJECTION_METHODS = ("bayes", "lsq", "mean-impute")
"""Estimators of a sample's complete-data PC scores; the first is the default."""

DEFAULT_PROJECTION = PROJECTION_METHODS[0]

#: Covariance entries below this count as zero (a complete sample's, up to rounding).
ZERO_SPREAD = 1e-8

#: Observed variants per PC below which ``lsq`` and ``mean-impute`` cannot place a sample (least
#: squares needs one per PC and is unstable near that; mean imputation would draw it near the
#: origin), and below which a ``bayes`` position is flagged ``sparse`` (its prior dominates).
MIN_OBSERVED_PER_PC = 2
#: Fewest observed variants for a ``bayes`` position: below it the sample is unplaceable (its
#: posterior would be little more than the prior, drawn at the centre of the map).
MIN_OBSERVED_BAYES = 5


def min_observed(method: str, n_components: int) -> int:
    """Observed variants a sample needs to be placed by ``method`` on ``n_components`` PCs."""
    return MIN_OBSERVED_BAYES if method == "bayes" else MIN_OBSERVED_PER_PC * n_components


@dataclasses.dataclass(frozen=True)
class ReferenceSpace:
    """What projection needs from a fitted PCA.

    Attributes
    ----------
    loadings : np.ndarray, shape (n_variants, k)
        ``V``: orthonormal columns.
    residual_variance : float
        ``sigma^2``: mean squared residual per locus of the reference samples after ``k`` PCs.
    score_variance : np.ndarray, shape (k,)
        ``S_i^2 / n``: variance of the reference samples' scores on each PC.
    """

    loadings: np.ndarray
    residual_variance: float
    score_variance: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of PCs ``k``."""
        return self.loadings.shape[1]

    @property
    def prior_variance(self) -> np.ndarray:
        """``Lambda``: score variance less the noise it carries (floored at 1 % of it), (k,)."""
        lam = np.asarray(self.score_variance, dtype=np.float64)
        return np.maximum(lam - self.residual_variance, lam / 100)

    @classmethod
    def from_singular_values(
        cls, loadings, singular_values, total_variance: float, n_samples: int
    ) -> ReferenceSpace:
        """Build from a PCA of ``n_samples`` with ``||X||_F^2 = total_variance``.

        Parameters
        ----------
        loadings : np.ndarray, shape (n_variants, k)
        singular_values : np.ndarray, shape (>= k,)
            Leading singular values of ``X``; the first ``k`` are used.
        """
        loadings = np.asarray(loadings, dtype=np.float64)
        n_variants, k = loadings.shape
        s2 = np.asarray(singular_values, dtype=np.float64)[:k] ** 2
        residual = max(float(total_variance) - float(s2.sum()), 0.0) / (n_samples * n_variants)
        if residual <= 0:
            raise InputError(
                "the reference PCA leaves no residual variance after its PCs; "
                "projection with uncertainty needs more variants than PCs"
            )
        return cls(loadings, residual, s2 / n_samples)


class ObservedSums:
    """Per-sample sums over observed variants: ``h = V_O^T x_O`` and ``G = V_O^T V_O``.

    Add blocks of variants in any order with :meth:`add`; the sums do not depend on it.

    Parameters
    ----------
    n_samples, n_components : int
    """

    def __init__(self, n_samples: int, n_components: int):
        k = n_components
        self.h = np.zeros((n_samples, k))
        self._g = np.zeros((n_samples, k * k))
        self.n_observed = np.zeros(n_samples, dtype=np.int64)
        self.k = k
        #: Sums over pairs of nearby variants, when the reference knows its residuals' linkage
        #: (:mod:`.linkage`); None: residuals taken as independent.
        self.band: BandSums | None = None

    def add(self, scaled: np.ndarray, observed: np.ndarray, loadings: np.ndarray) -> None:
        """Add one block of variants.

        Parameters
        ----------
        scaled : np.ndarray, shape (block, n_samples)
            Patterson-scaled genotypes, 0 where missing.
        observed : np.ndarray of bool, shape (block, n_samples)
        loadings : np.ndarray, shape (block, k)
            The block's rows of ``V``.
        """
        self.h += scaled.T @ loadings
        outer = (loadings[:, :, None] * loadings[:, None, :]).reshape(len(loadings), -1)
        self._g += observed.T.astype(np.float64) @ outer  # sum over observed i of v_i v_i^T
        self.n_observed += observed.sum(axis=0)

    def packed(self) -> np.ndarray:
        """``[h | G | n_observed]`` as one array ``(n_samples, k + k^2 + 1)`` (sums add up)."""
        return np.concatenate([self.h, self._g, self.n_observed[:, None]], axis=1)

    @classmethod
    def unpacked(cls, packed: np.ndarray, n_components: int) -> ObservedSums:
        """Inverse of :meth:`packed`."""
        k = n_components
        sums = cls(len(packed), k)
        sums.h, sums._g = packed[:, :k].copy(), packed[:, k : k + k * k].copy()
        sums.n_observed = np.rint(packed[:, -1]).astype(np.int64)
        return sums

    @property
    def gram(self) -> np.ndarray:
        """``G`` per sample, shape (n_samples, k, k)."""
        return self._g.reshape(-1, self.k, self.k)


@dataclasses.dataclass
class ProjectedScores:
    """Estimated complete-data PC scores of samples with missing calls.

    Attributes
    ----------
    scores : np.ndarray, shape (n_samples, k)
        The point estimate; NaN for samples that cannot be placed.
    covariance : np.ndarray, shape (n_samples, k, k), or None
        Covariance of the complete-data position around ``scores`` (None for ``mean-impute``,
        which has no model of it); NaN where unplaceable.
    n_observed : np.ndarray of int, shape (n_samples,)
        Variants with a call.
    placeable : np.ndarray of bool, shape (n_samples,)
        At least :func:`min_observed` observed variants.
    method : str
    """

    scores: np.ndarray
    covariance: np.ndarray | None
    n_observed: np.ndarray
    placeable: np.ndarray
    method: str

    def subset(self, rows: np.ndarray) -> ProjectedScores:
        """Return the samples ``rows`` (a bool mask or indices)."""
        cov = None if self.covariance is None else self.covariance[rows]
        return ProjectedScores(
            self.scores[rows], cov, self.n_observed[rows], self.placeable[rows], self.method
        )

    @classmethod
    def concatenate(cls, parts: list[ProjectedScores]) -> ProjectedScores:
        """Stack the samples of several projections (one method) in order."""
        covariances = [part.covariance for part in parts]
        return cls(
            np.concatenate([part.scores for part in parts]),
            None if covariances[0] is None else np.concatenate(covariances),
            np.concatenate([part.n_observed for part in parts]),
            np.concatenate([part.placeable for part in parts]),
            parts[0].method,
        )

    def has_spread(self) -> bool:
        """Whether any placeable sample's position is uncertain (a covariance above rounding)."""
        if self.covariance is None or not self.placeable.any():
            return False
        return bool(np.abs(self.covariance[self.placeable]).max() > ZERO_SPREAD)

    @property
    def status(self) -> np.ndarray:
        """Per sample: ``ok``, ``sparse`` or ``unplaceable``.

        ``sparse``: placed with fewer than :data:`MIN_OBSERVED_PER_PC` observed variants per PC
        (its prior dominates); ``unplaceable``: too few to place at all (NaN scores).
        """
        k = self.scores.shape[1]
        sparse = self.n_observed < MIN_OBSERVED_PER_PC * k
        out = np.where(sparse, "sparse", "ok").astype(object)
        out[~self.placeable] = "unplaceable"
        return out

    def sd(self) -> np.ndarray | None:
        """Return the standard deviation of each score, shape (n_samples, k), or None."""
        if self.covariance is None:
            return None
        return np.sqrt(np.clip(np.diagonal(self.covariance, axis1=1, axis2=2), 0, None))

    def draws(self, n_draws: int, rng: np.random.Generator, dims: int | None = None) -> np.ndarray:
        """Draws of the complete-data position, shape (n_draws, n_samples, dims or k).

        Without a covariance (``mean-impute``) or where it is zero, every draw is the point.
        ``dims`` keeps the first PCs only (the same numbers as slicing the full draws: the
        noise is drawn one draw at a time in the same order), in memory ``n_draws x n x dims``.
        """
        n, k = self.scores.shape
        dims = k if dims is None else dims
        if self.covariance is None:
            return np.broadcast_to(self.scores[:, :dims], (n_draws, n, dims)).copy()
        eigval, eigvec = np.linalg.eigh(np.nan_to_num(self.covariance))  # PSD up to rounding
        root = (eigvec * np.sqrt(np.clip(eigval, 0, None))[:, None, :])[:, :dims]  # (n, dims, k)
        out = np.empty((n_draws, n, dims))
        for d in range(n_draws):
            out[d] = self.scores[:, :dims] + np.einsum(
                "nij,nj->ni", root, rng.standard_normal((n, k))
            )
        return out


def reference_space(pca: GenotypePCA) -> ReferenceSpace:
    """Return the :class:`ReferenceSpace` of a fitted (or saved) PCA.

    Raises
    ------
    InputError
        For a PCA that does not know its residual variance (a model file written before
        projection with uncertainty existed): re-run ``infer``, or use ``--projection
        mean-impute``.
    """
    needed = ("singular_values_", "total_variance_", "n_fit_samples_")
    if not all(hasattr(pca, name) for name in needed):
        raise InputError(
            "this PCA does not record its residual variance (a model written by an older "
            "ddvi-genomics); re-run 'ddvi-genomics infer', or use --projection mean-impute"
        )
    return ReferenceSpace.from_singular_values(
        pca.components_.T, pca.singular_values_, pca.total_variance_, pca.n_fit_samples_
    )


def observed_sums(
    pca: GenotypePCA, dosage: np.ndarray, *, memory_mib: float | None = None
) -> ObservedSums:
    """Accumulate :class:`ObservedSums` of dosages ``(n_variants, n_samples)`` in training order.

    Scaled with the training allele frequencies one block of variants at a time.
    """
    if dosage.shape[0] != pca.components_.shape[1]:
        raise InputError(
            f"projection needs {pca.components_.shape[1]} variants in training order; "
            f"got {dosage.shape[0]}"
        )
    x = ScaledGenotypes(dosage, pca.allele_frequency_, pca.scale_, memory_mib=memory_mib)
    sums = ObservedSums(dosage.shape[1], pca.components_.shape[0])
    for lo, hi, block in x.blocks():
        sums.add(block, dosage[lo:hi] >= 0, pca.components_[:, lo:hi].T)
    band = getattr(pca, "residual_band_", None)
    if band is not None and (sums.n_observed < dosage.shape[0]).any():  # complete: no spread
        sums.band = BandSums.of(
            lambda lo, hi: dosage[lo:hi] >= 0, dosage.shape[1], pca.components_.T, band
        )
    return sums


def space_for(pca: GenotypePCA, method: str) -> ReferenceSpace:
    """Return the reference space ``method`` needs (``mean-impute`` needs only the loadings)."""
    if method not in PROJECTION_METHODS:
        raise InputError(
            f"--projection {method!r} is not allowed; choose one of {PROJECTION_METHODS}"
        )
    if method == "mean-impute":  # no residual variance needed: works with any saved PCA
        return ReferenceSpace(pca.components_.T, 1.0, np.ones(pca.components_.shape[0]))
    return reference_space(pca)


def project_dosage(
    pca: GenotypePCA, dosage: np.ndarray, method: str = DEFAULT_PROJECTION, **kwargs
) -> ProjectedScores:
    """Project dosages ``(n_variants, n_samples)`` (training order, -1 missing) with ``method``."""
    space = space_for(pca, method)
    return project_observed(observed_sums(pca, dosage, **kwargs), space, method)


def project_observed(
    sums: ObservedSums,
    space: ReferenceSpace,
    method: str = "bayes",
    *,
    min_observed_loci: int | None = None,
) -> ProjectedScores:
    """Turn the observed-variant sums into scores and covariances (module docstring).

    Parameters
    ----------
    sums : ObservedSums
    space : ReferenceSpace
    method : {"bayes", "lsq", "mean-impute"}
    min_observed_loci : int, optional
        Place samples with at least this many observed variants (default
        :func:`min_observed`; a benchmark that shows what a method does below the product's
        minimum lowers it).

    Returns
    -------
    ProjectedScores
    """
    if method not in PROJECTION_METHODS:
        raise InputError(
            f"--projection {method!r} is not allowed; choose one of {PROJECTION_METHODS}"
        )
    k = space.n_components
    h, g = sums.h, sums.gram
    needed = min_observed(method, k) if min_observed_loci is None else min_observed_loci
    placeable = sums.n_observed >= max(needed, k if method == "lsq" else 1)
    eye = np.eye(k)
    if method == "mean-impute":
        scores, cov = h.copy(), None
    elif method == "lsq":
        g_safe = np.where(placeable[:, None, None], g, eye)
        g_inv = np.linalg.inv(g_safe)
        scores = np.einsum("nij,nj->ni", g_inv, h)
        if sums.band is None:
            cov = space.residual_variance * (g_inv - eye)
        else:  # error sum_O (I - G^-1) v_i e_i + sum_M v_i e_i under linked residuals
            cov = sums.band.error_covariance(np.swapaxes(eye - g_inv, 1, 2))
    else:
        sigma2 = space.residual_variance
        prior = np.diag(space.prior_variance)  # Lambda
        precision = g / sigma2 + np.linalg.inv(prior)
        post_cov = np.linalg.inv(precision)  # Sigma
        post_mean = np.einsum("nij,nj->ni", post_cov, h) / sigma2  # mu
        unseen = eye - g  # V_M^T V_M
        scores = h + np.einsum("nij,nj->ni", unseen, post_mean)
        if sums.band is None:
            cov = unseen @ post_cov @ unseen + sigma2 * unseen
        else:  # the same estimator; its error's covariance under linked residuals
            gain = eye + unseen @ post_cov / sigma2  # A: scores = A h
            shrink = eye - gain @ g  # I - A G: how the prior's spread of s leaks in
            cov = shrink @ prior @ np.swapaxes(shrink, 1, 2) + sums.band.error_covariance(
                np.swapaxes(eye - gain, 1, 2)
            )
    cov = None if cov is None else 0.5 * (cov + np.swapaxes(cov, 1, 2))
    scores[~placeable] = np.nan
    if cov is not None:
        cov[~placeable] = np.nan
    return ProjectedScores(scores, cov, sums.n_observed.copy(), placeable, method)


def chi2_2d_radius(level: float) -> float:
    """Mahalanobis radius of the central ``level`` region of a 2-D Gaussian: ``sqrt(-2 ln(1-q))``."""
    return float(np.sqrt(-2.0 * np.log1p(-level)))
