"""Region summaries of posterior clouds, against Gaussian and two-component oracles."""

import numpy as np
import pytest

from ddvi_genomics.genotype.mapping.map_posterior import region_contains, region_summary
from ddvi_genomics.genotype.pca.projection import chi2_2d_radius


def test_area_of_a_gaussian_cloud__matches_the_ellipse():
    rng = np.random.default_rng(0)
    sd = np.array([1.0, 0.5])
    draws = rng.standard_normal((20000, 1, 2)) * sd  # one sample
    extent = (-5, 5, -5, 5)
    area, modes = region_summary(draws, 0.9, extent)
    expected = np.pi * chi2_2d_radius(0.9) ** 2 * sd.prod()  # 7.23
    assert area[0] == pytest.approx(expected, rel=0.15)
    assert modes[0] == 1


def test_two_separated_clusters__two_modes_and_half_the_area_a_mean_and_sd_would_claim():
    rng = np.random.default_rng(1)
    centres = np.where(rng.random(4000) < 0.5, -3.0, 3.0)
    draws = np.stack(
        [centres + 0.4 * rng.standard_normal(4000), 0.4 * rng.standard_normal(4000)], 1
    )
    area, modes = region_summary(draws[:, None, :], 0.9, (-6, 6, -6, 6))
    assert modes[0] == 2
    cov = np.cov(draws.T)  # the Gaussian summary (mean and covariance) of the same cloud
    gaussian_area = np.pi * chi2_2d_radius(0.9) ** 2 * np.sqrt(np.linalg.det(cov))
    assert area[0] < 0.5 * gaussian_area


def test_region_contains__covers_its_level_of_points_from_the_same_distribution():
    rng = np.random.default_rng(2)
    n = 400
    draws = rng.standard_normal((2000, n, 2))
    points = rng.standard_normal((n, 2))
    for level in (0.5, 0.9):
        share = region_contains(draws, points, level, (-5, 5, -5, 5)).mean()
        assert abs(share - level) < 0.07, (level, share)
    far = np.full((n, 2), 4.5)
    assert not region_contains(draws, far, 0.9, (-5, 5, -5, 5)).any()


def test_region_summary__blocks_of_grids_equal_one_grid_at_a_time(monkeypatch):
    """Oracle: the per-sample loop (numpy's histogram2d, scipy's 2-D filter and labels) on
    one-, two- and three-mode clouds, some draws outside the extent, blocks of 3 samples."""
    from scipy import ndimage

    from ddvi_genomics.genotype.mapping import map_posterior
    from ddvi_genomics.genotype.mapping.map_posterior import _Grid, _threshold

    rng = np.random.default_rng(8)
    n = 10
    centres = rng.normal(0, 3, (n, 3, 2))
    pick = rng.integers(0, 1 + np.arange(n) % 3, (400, n))  # sample j uses 1-3 centres
    draws = centres[np.arange(n), pick] + rng.normal(0, 0.4, (400, n, 2))
    extent = (-6, 6, -6, 6)  # some draws fall outside
    monkeypatch.setattr(map_posterior, "REGION_BLOCK", 3)
    area, modes = region_summary(draws, 0.9, extent)
    grid = _Grid(draws, extent)
    for j in range(n):
        density = grid.density(draws[:, j])
        region = density >= _threshold(density, 0.9)
        labels, count = ndimage.label(region, structure=np.ones((3, 3)))
        mass = ndimage.sum(density, labels, index=np.arange(1, count + 1))
        assert area[j] == pytest.approx(region.sum() * grid.cell_area)
        assert modes[j] == max(1, int((np.asarray(mass) >= 0.05).sum()))
    assert set(modes) >= {1, 2}


class _LinearEncoder:
    """A deterministic stand-in for a trained network: ``z = x[:, :2] @ A`` (ignores its noise)."""

    device = "cpu"
    weights = np.array([[2.0, -1.0], [0.5, 3.0]])

    def encode(self, x, n_samples, generator):
        import torch

        return torch.from_numpy(np.asarray(x, dtype=np.float64)[:, :2] @ self.weights)[None]


def _uncertain_scores(n: int, k: int, seed: int):
    from ddvi_genomics.genotype.pca.projection import ProjectedScores

    rng = np.random.default_rng(seed)
    roots = rng.normal(0, 0.5, (n, k, k))
    covariance = roots @ roots.transpose(0, 2, 1)
    scores = rng.normal(0, 3, (n, k))
    return ProjectedScores(scores, covariance, np.full(n, 100), np.ones(n, bool), "bayes")


def test_integrated_posterior__blocks_carry_each_samples_own_score_distribution(monkeypatch):
    """Oracle: for a linear encoder z = s A / scale, the draws of sample j are N(s_j A / scale,
    A^T C_j A / scale^2); blocks of 3 of 7 samples must give each sample its own moments, and no
    block may hold more than 3 samples' PC draws."""
    from ddvi_genomics.genotype.mapping.map_posterior import integrated_posterior
    from ddvi_genomics.genotype.pca.projection import ProjectedScores

    held = []
    draws_of = ProjectedScores.draws
    monkeypatch.setattr(
        ProjectedScores, "draws",
        lambda self, *a, **kw: held.append(self.scores.shape[0]) or draws_of(self, *a, **kw),
    )  # fmt: skip
    n, k, scale, encoder = 7, 4, 2.0, _LinearEncoder()
    projected = _uncertain_scores(n, k, seed=3)
    z = integrated_posterior(encoder, projected, scale, n_draws=20000, seed=5, block=3)
    assert z.shape == (20000, n, 2) and held == [3, 3, 1]
    a = encoder.weights
    for j in range(n):
        mean = projected.scores[j, :2] @ a / scale
        cov = a.T @ projected.covariance[j, :2, :2] @ a / scale**2
        np.testing.assert_allclose(z[:, j].mean(0), mean, atol=0.05 * np.sqrt(cov.max()) + 0.02)
        np.testing.assert_allclose(np.cov(z[:, j].T), cov, rtol=0.06, atol=0.01)


def test_integrated_posterior__one_block_draws_as_the_whole_cohort_did():
    """Oracle: with every sample in one block, the draws are those of the unblocked recipe
    (all PC draws at once from the "pc-draws" stream, then the encoder), so small cohorts keep
    their seeded maps."""
    from ddvi_genomics.core.seeds import library_seed
    from ddvi_genomics.genotype.mapping.map_posterior import integrated_posterior

    n, k, scale, encoder = 9, 3, 1.5, _LinearEncoder()
    projected = _uncertain_scores(n, k, seed=4)
    pcs = projected.draws(50, np.random.default_rng(library_seed(11, "pc-draws")))
    expected = (pcs[..., :2] / scale).astype(np.float32).astype(np.float64) @ encoder.weights
    z = integrated_posterior(encoder, projected, scale, n_draws=50, seed=11)
    np.testing.assert_allclose(z, expected, rtol=1e-12)
