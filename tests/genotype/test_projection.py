"""Projection of incomplete samples: least squares, Gaussian-prior (bayes) and mean imputation.

Oracles: a naive per-sample ``numpy.linalg.lstsq`` loop; the ordinary projection when nothing
is missing; Monte Carlo draws from the model the covariances are derived under; repeated random
down-sampling of one sample; coverage of held-out samples of a small structured simulation.
"""

import numpy as np
import pytest

from ddvi_genomics.genotype.pca.decomposition import GenotypePCA
from ddvi_genomics.genotype.pca.projection import (
    MIN_OBSERVED_BAYES,
    MIN_OBSERVED_PER_PC,
    ObservedSums,
    ReferenceSpace,
    chi2_2d_radius,
    min_observed,
    project_dosage,
    project_observed,
)


def structured_dosages(n_samples, n_variants, *, n_pops=4, fst=0.1, seed=0):
    """Balding-Nichols populations: dosages (n_variants, n_samples) and population labels."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, n_variants)
    a = p * (1 - fst) / fst
    pop_p = rng.beta(a, (1 - p) * (1 - fst) / fst, size=(n_pops, n_variants)).clip(0.01, 0.99)
    pops = rng.integers(0, n_pops, n_samples)
    dosage = rng.binomial(2, pop_p[pops].T).astype(np.int8)
    return dosage, pops


def orthonormal(m, k, rng):
    q, _ = np.linalg.qr(rng.standard_normal((m, k)))
    return q


def sums_of(x, observed, v):
    sums = ObservedSums(x.shape[1], v.shape[1])
    sums.add(np.where(observed, x, 0.0), observed, v)
    return sums


def test_lsq__equals_a_per_sample_lstsq_loop():
    rng = np.random.default_rng(1)
    m, n, k = 60, 7, 3
    v = orthonormal(m, k, rng)
    x = rng.standard_normal((m, n))
    observed = rng.random((m, n)) < 0.5
    space = ReferenceSpace(v, 1.0, np.ones(k))
    got = project_observed(sums_of(x, observed, v), space, "lsq").scores
    for j in range(n):
        o = observed[:, j]
        expected = np.linalg.lstsq(v[o], x[o, j], rcond=None)[0]
        np.testing.assert_allclose(got[j], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["lsq", "bayes", "mean-impute"])
def test_complete_samples__every_method_is_the_ordinary_projection(method):
    dosage, _ = structured_dosages(120, 80)
    pca = GenotypePCA(4)
    pca.fit_transform(dosage[:, :100])
    new = dosage[:, 100:]
    projected = project_dosage(pca, new, method)
    np.testing.assert_allclose(projected.scores, pca.transform(new), rtol=1e-9, atol=1e-9)
    if projected.covariance is not None:
        np.testing.assert_allclose(projected.covariance, 0.0, atol=1e-9)


def test_mean_impute__is_what_transform_did_with_missing_calls():
    dosage, _ = structured_dosages(120, 80, seed=3)
    pca = GenotypePCA(4)
    pca.fit_transform(dosage[:, :100])
    new = dosage[:, 100:].copy()
    new[np.random.default_rng(0).random(new.shape) < 0.4] = -1
    np.testing.assert_allclose(
        project_dosage(pca, new, "mean-impute").scores, pca.transform(new), atol=1e-9
    )


@pytest.mark.parametrize("method", ["bayes", "lsq"])
def test_covariance__matches_monte_carlo_draws_from_the_model(method):
    """Fixed observed set; (s, e) drawn from x = V s + e many times: empirical covariance of
    the complete-data scores around the estimate equals the analytic one (tolerance 8 %)."""
    rng = np.random.default_rng(7)
    m, k, draws, sigma2 = 150, 3, 20000, 0.8
    v = orthonormal(m, k, rng)
    lam = np.array([6.0, 3.0, 1.5])
    s = rng.standard_normal((draws, k)) * np.sqrt(lam)
    x = (v @ s.T) + rng.standard_normal((m, draws)) * np.sqrt(sigma2)
    observed = np.broadcast_to((rng.random(m) < 0.25)[:, None], x.shape)
    full = x.T @ v  # complete-data scores
    space = ReferenceSpace(v, sigma2, lam + sigma2)  # score variance = Lambda + sigma^2
    out = project_observed(sums_of(x, observed, v), space, method)
    empirical = np.cov((full - out.scores).T)
    analytic = out.covariance[0]
    assert np.allclose(out.covariance, analytic)  # one observed set: one covariance
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.08
    if method == "bayes":  # the predictive mean is unbiased for the complete-data position
        assert np.abs((full - out.scores).mean(0)).max() < 0.05 * np.sqrt(np.diag(analytic)).max()


def test_lsq_covariance__matches_repeated_down_sampling_of_one_sample():
    """TrustPCA's check: one complete sample, 3,000 random subsets of 30 % of its loci; the
    spread of the least-squares scores around its complete-data scores against
    sigma_r^2 (G^-1 - I) averaged over the subsets (sigma_r^2: the sample's own residual)."""
    rng = np.random.default_rng(11)
    m, k, fraction = 400, 3, 0.3
    v = orthonormal(m, k, rng)
    x = v @ np.array([3.0, -2.0, 1.0]) + rng.standard_normal(m) * 0.9
    full = v.T @ x
    residual = x - v @ full
    sigma2 = residual @ residual / m
    space = ReferenceSpace(v, sigma2, np.ones(k))
    subsets = np.stack([rng.permutation(m) < fraction * m for _ in range(3000)], axis=1)
    xs = np.broadcast_to(x[:, None], subsets.shape)
    out = project_observed(sums_of(xs, subsets, v), space, "lsq")
    empirical = np.cov((out.scores - full).T)
    analytic = out.covariance.mean(0)
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.15


def test_coverage_and_error_on_held_out_samples_of_a_structured_simulation():
    """Reference of 600 samples, 200 held out, 20 % of their SNPs observed at random: the
    bayes 90 % region covers 0.80-0.97 of complete-data PC1-2 positions, its 50 % region
    0.35-0.65, and its error is below mean imputation's and least squares'."""
    dosage, _ = structured_dosages(800, 500, seed=5)
    pca = GenotypePCA(6)
    pca.fit_transform(dosage[:, :600])
    held = dosage[:, 600:]
    full = pca.transform(held)[:, :2]
    sparse = held.copy()
    sparse[np.random.default_rng(2).random(held.shape) > 0.2] = -1
    errors = {}
    for method in ("bayes", "lsq", "mean-impute"):
        out = project_dosage(pca, sparse, method)
        errors[method] = np.linalg.norm(out.scores[:, :2] - full, axis=1).mean()
        if method != "bayes":
            continue
        diff = full - out.scores[:, :2]
        cov2 = out.covariance[:, :2, :2]
        d2 = np.einsum("ni,nij,nj->n", diff, np.linalg.inv(cov2), diff)
        cover90 = (d2 <= chi2_2d_radius(0.9) ** 2).mean()
        cover50 = (d2 <= chi2_2d_radius(0.5) ** 2).mean()
        assert 0.80 <= cover90 <= 0.97, cover90
        assert 0.35 <= cover50 <= 0.65, cover50
    assert errors["bayes"] < errors["mean-impute"] and errors["bayes"] < errors["lsq"], errors


def test_too_few_observed_loci__unplaceable_not_drawn_at_the_origin():
    dosage, _ = structured_dosages(100, 60, seed=9)
    pca = GenotypePCA(3)
    pca.fit_transform(dosage[:, :90])
    new = dosage[:, 90:].copy()
    k = 3
    new[MIN_OBSERVED_PER_PC * k - 1 :, 0] = -1  # one locus short of 2 per PC
    new[MIN_OBSERVED_PER_PC * k :, 1] = -1  # exactly 2 per PC
    new[MIN_OBSERVED_BAYES - 1 :, 2] = -1  # one short of the bayes minimum
    new[MIN_OBSERVED_BAYES:, 3] = -1  # exactly the bayes minimum
    expected = {
        "lsq": ["unplaceable", "ok", "unplaceable", "unplaceable", "ok"],
        "mean-impute": ["unplaceable", "ok", "unplaceable", "unplaceable", "ok"],
        "bayes": ["sparse", "ok", "unplaceable", "sparse", "ok"],
    }
    for method, status in expected.items():
        out = project_dosage(pca, new, method)
        assert list(out.status[:5]) == status, method
        placed = out.status[:5] != "unplaceable"
        assert (
            np.isnan(out.scores[:5][~placed]).all() and np.isfinite(out.scores[:5][placed]).all()
        )
        assert min_observed(method, k) == (MIN_OBSERVED_BAYES if method == "bayes" else 2 * k)


def test_draws__have_the_reported_mean_and_covariance():
    rng = np.random.default_rng(4)
    dosage, _ = structured_dosages(200, 100, seed=4)
    pca = GenotypePCA(3)
    pca.fit_transform(dosage[:, :150])
    new = dosage[:, 150:152].copy()
    new[rng.random(new.shape) < 0.7] = -1
    out = project_dosage(pca, new, "bayes")
    draws = out.draws(40000, np.random.default_rng(0))
    np.testing.assert_allclose(draws.mean(0), out.scores, atol=0.05 * out.sd().max())
    empirical, analytic = np.cov(draws[:, 0].T), out.covariance[0]
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.03


def test_draws__of_the_first_pcs_equal_the_full_draws_sliced():
    """Oracle: the full k-dimensional draws from the same seed, sliced (dims=2 only saves memory)."""
    rng = np.random.default_rng(5)
    dosage, _ = structured_dosages(200, 100, seed=5)
    pca = GenotypePCA(4)
    pca.fit_transform(dosage[:, :150])
    new = dosage[:, 150:160].copy()
    new[rng.random(new.shape) < 0.5] = -1
    out = project_dosage(pca, new, "bayes")
    full = out.draws(30, np.random.default_rng(1))
    first_two = out.draws(30, np.random.default_rng(1), dims=2)
    assert first_two.shape == (30, 10, 2) and full.shape == (30, 10, 4)
    np.testing.assert_allclose(first_two, full[..., :2], rtol=1e-12, atol=1e-12)
    assert np.ptp(first_two, axis=0).min() > 0  # the draws spread


def test_chi2_radius__matches_scipy():
    from scipy.stats import chi2

    for q in (0.5, 0.9):
        assert chi2_2d_radius(q) ** 2 == pytest.approx(chi2.ppf(q, 2))
