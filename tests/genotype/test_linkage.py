"""Projection spread under linked residuals: the banded sandwich covariance against oracles.

Oracles: the closed forms of the independent case (the band reduced to its diagonal must give
them exactly), Monte Carlo draws from x = V s + e with AR(1)-correlated residuals, and the
residual covariance those draws were made with.
"""

import numpy as np
import pytest

from ddvi_genomics.genotype.pca.decomposition import GenotypePCA
from ddvi_genomics.genotype.pca.linkage import BandSums, residual_band
from ddvi_genomics.genotype.pca.projection import ObservedSums, ReferenceSpace, project_observed


def orthonormal(m, k, rng):
    q, _ = np.linalg.qr(rng.standard_normal((m, k)))
    return q


def sums_with_band(x, observed, v, band):
    sums = ObservedSums(x.shape[1], v.shape[1])
    sums.add(np.where(observed, x, 0.0), observed, v)
    if band is not None:
        sums.band = BandSums.of(lambda lo, hi: observed[lo:hi], x.shape[1], v, band)
    return sums


def ar1_band(m, sigma2, rho, width):
    band = np.zeros((width + 1, m))
    for d in range(width + 1):
        band[d, : m - d] = sigma2 * rho**d
    return band


@pytest.mark.parametrize("method", ["bayes", "lsq"])
def test_diagonal_band__gives_the_independent_closed_forms(method):
    rng = np.random.default_rng(0)
    m, k, n = 80, 3, 6
    v = orthonormal(m, k, rng)
    x = rng.standard_normal((m, n))
    observed = rng.random((m, n)) < 0.4
    space = ReferenceSpace(v, 0.7, np.array([5.0, 3.0, 2.0]))
    plain = project_observed(sums_with_band(x, observed, v, None), space, method)
    band = np.zeros((4, m))
    band[0] = 0.7  # independent residuals of variance sigma^2, written as a band
    banded = project_observed(sums_with_band(x, observed, v, band), space, method)
    np.testing.assert_allclose(banded.scores, plain.scores)
    np.testing.assert_allclose(banded.covariance, plain.covariance, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["bayes", "lsq"])
def test_linked_residuals_and_runs__sandwich_matches_monte_carlo(method):
    """Residuals AR(1) with rho 0.8 along the variants, loadings smooth along the genome; one
    sample observed in runs. The banded covariance matches 20,000 draws (8 %); the independent
    formula is too narrow."""
    rng = np.random.default_rng(3)
    m, k, draws, sigma2, rho, width = 300, 3, 20000, 0.6, 0.8, 12
    # loadings vary smoothly along the genome, as LD makes neighbours' loadings alike
    rough = rng.standard_normal((m + 14, k))
    v = np.linalg.qr(np.stack([np.convolve(c, np.ones(15), "valid") for c in rough.T], 1))[0]
    lam = np.array([6.0, 3.0, 1.5])
    s = rng.standard_normal((draws, k)) * np.sqrt(lam)
    e = np.empty((m, draws))
    e[0] = rng.standard_normal(draws) * np.sqrt(sigma2)
    for i in range(1, m):
        e[i] = rho * e[i - 1] + rng.standard_normal(draws) * np.sqrt(sigma2 * (1 - rho**2))
    x = v @ s.T + e
    runs = np.zeros(m, dtype=bool)
    for start in (10, 90, 200):
        runs[start : start + 20] = True  # 60 of 300 variants, in three runs
    observed = np.broadcast_to(runs[:, None], x.shape)
    full = x.T @ v
    space = ReferenceSpace(v, sigma2, lam + sigma2)
    band = ar1_band(m, sigma2, rho, width)
    linked = project_observed(sums_with_band(x, observed, v, band), space, method)
    naive = project_observed(sums_with_band(x, observed, v, None), space, method)
    empirical = np.cov((full - linked.scores).T)
    analytic = linked.covariance[0]
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.08
    assert np.trace(naive.covariance[0]) < 0.7 * np.trace(empirical)  # independence: too narrow


def test_residual_band__recovers_the_residual_covariance_of_the_fit_samples():
    rng = np.random.default_rng(5)
    m, n, k = 200, 3000, 2
    centres = rng.uniform(0.2, 0.8, (2, m))
    pops = rng.integers(0, 2, n)
    # linked genotypes: each haplotype copies its left neighbour's allele with probability 0.6
    haps = np.empty((m, 2 * n), dtype=np.int8)
    p = centres[np.repeat(pops, 2)].T  # (m, 2n)
    haps[0] = rng.random(2 * n) < p[0]
    for i in range(1, m):
        fresh = rng.random(2 * n) < p[i]
        haps[i] = np.where(rng.random(2 * n) < 0.6, haps[i - 1], fresh)
    dosage = (haps[:, 0::2] + haps[:, 1::2]).astype(np.int8)
    pca = GenotypePCA(k)
    scores = pca.fit_transform(dosage)
    contig = np.array(["1"] * 100 + ["2"] * 100)
    band = residual_band(pca, dosage, scores, contig, width=3)
    x = (dosage - 2 * pca.allele_frequency_[:, None]) / pca.scale_[:, None]
    r = x - pca.components_.T @ scores.T  # oracle: residuals by hand
    for d in range(4):
        expected = (r[: m - d] * r[d:]).mean(1)
        expected[np.arange(m - d) + d >= 100] *= (
            np.arange(m - d)[np.arange(m - d) + d >= 100] >= 100
        )
        np.testing.assert_allclose(band[d, : m - d], expected, rtol=1e-4, atol=1e-5)
    assert band[1, 50] > 0.2 * band[0, 50]  # the copying made neighbours' residuals correlated
    assert band[1, 99] == 0 and band[2, 98] == 0  # across the contig boundary


def test_residual_band__narrower_than_the_variants_when_there_are_few():
    dosage = np.array([[0, 1, 2, 1], [2, 1, 0, 1]], dtype=np.int8)  # 2 variants
    pca = GenotypePCA(1)
    scores = pca.fit_transform(dosage)
    band = residual_band(pca, dosage, scores, np.array(["1", "1"]))
    assert band.shape == (2, 2) and band[1, 1] == 0  # width clipped to m - 1
