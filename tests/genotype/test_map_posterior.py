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
