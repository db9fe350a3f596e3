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
