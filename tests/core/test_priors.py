import copy
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.neighbors import KNeighborsClassifier

from ddvi_genomics.core.priors import (
    PRIOR_NAMES,
    GaussianMixturePrior,
    LearnableMixturePrior,
    SquarePrior,
    make_prior,
)
from tests.conftest import gen

TOY = ["pinwheel", "swiss_roll", "less_noisy_swiss_roll", "square", "less_noisy_square"]


def grid_integral(prior, lim=4.0, n=400):
    xs = torch.linspace(-lim, lim, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    cell = (xs[1] - xs[0]) ** 2
    with torch.no_grad():
        return float(copy.deepcopy(prior).double().log_prob(pts).exp().sum() * cell)


@pytest.mark.parametrize("name", PRIOR_NAMES)
def test_sample__shape_seeded_and_finite_log_prob(name, device):
    prior = make_prior(name).to(device)
    a = prior.sample(256, generator=gen(0))
    b = prior.sample(256, generator=gen(0))
    assert a.shape == (256, 2) and a.device.type == device.type
    assert torch.equal(a, b)
    lp = prior.log_prob(a)
    assert lp.shape == (256,) and torch.isfinite(lp).all()


def test_pinwheel__geometry_matches_reference_constants():
    z = make_prior("pinwheel").sample(20_000, generator=gen(1))
    r = z.norm(dim=1)
    # |z| = sqrt(f_r^2 + f_t^2) with f_r ~ N(1, 0.15^2), f_t ~ N(0, 0.005^2)
    assert float(r.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(r.std()) == pytest.approx(0.15, abs=0.01)


def test_pinwheel__class_c_is_spoke_c():
    prior = make_prior("pinwheel")
    for c in range(10):
        z = prior.sample(2000, generator=gen(c), classes=c)
        f_r = z.norm(dim=1)
        # z = R(-theta) f, so angle(z) = -theta + atan(f_t/f_r); theta = 2 pi c / 10 + 0.25 exp(f_r)
        theta = -torch.atan2(z[:, 1], z[:, 0])
        base = torch.remainder(theta - 0.25 * f_r.exp() + 0.05, 2 * math.pi) - 0.05
        assert float((base - 2 * math.pi * c / 10).abs().max()) < 0.03


def test_square__points_within_noise_of_perimeter():
    z = make_prior("less_noisy_square").sample(20_000, generator=gen(11)).double()
    off = z.abs().max(dim=1).values - 1.0  # signed distance to the perimeter
    away_from_corners = z.abs().min(dim=1).values < 0.8
    assert float(off[away_from_corners].std()) == pytest.approx(0.06, rel=0.05)
    assert float(off.abs().max()) < 6 * 0.06


def test_square__class_c_is_the_c_th_tenth_of_the_perimeter():
    prior = SquarePrior(noise_level=0.0)
    for c in range(10):
        z = prior.sample(2000, generator=gen(c), classes=c).double()
        x, y = z[:, 0], z[:, 1]
        # clockwise from the top-left corner: top, right, bottom, left
        side = torch.stack([y - 1, x - 1, -y - 1, -x - 1], 1).abs().argmin(1)
        along = torch.stack([x + 1, 1 - y, 1 - x, y + 1], 1).gather(1, side[:, None])[:, 0]
        pos = (side * 2 + along) / 8
        assert float(pos.min()) >= c / 10 - 1e-6 and float(pos.max()) <= (c + 1) / 10 + 1e-6


def test_swiss_roll__classes_are_disjoint_slices():
    prior = make_prior("swiss_roll")
    for c in range(10):
        z = prior.sample(1000, generator=gen(c), classes=c)
        u = (z.norm(dim=1) / 3) ** 2
        assert float(u.min()) >= c / 10 - 1e-5 and float(u.max()) <= (c + 1) / 10 + 1e-5


@pytest.mark.parametrize("name", TOY)
def test_class_split__pieces_are_separable(name):
    prior = make_prior(name)
    labels = torch.arange(10).repeat_interleave(300)
    z = prior.sample(3000, generator=gen(3), classes=labels).numpy()
    z_test = prior.sample(3000, generator=gen(4), classes=labels).numpy()
    acc = KNeighborsClassifier(5).fit(z, labels).score(z_test, labels)
    assert acc > 0.9


def test_gaussian__exact_log_prob_matches_scipy_and_integrates():
    prior = make_prior("tiny_gauss")
    z = torch.randn(10, 2, generator=gen(5)) * 0.2
    expected = multivariate_normal(np.zeros(2), 0.125**2 * np.eye(2)).logpdf(z.numpy())
    np.testing.assert_allclose(prior.log_prob(z).numpy(), expected, rtol=1e-5)
    assert grid_integral(make_prior("gaussian")) == pytest.approx(1.0, abs=1e-3)
    assert make_prior("gaussian", latent_dim=5).sample(3).shape == (3, 5)


def test_gaussian_mixture__reference_aae_mixture_matches_scipy_and_integrates():
    prior = make_prior("gauss_mix")
    z = torch.randn(7, 2, generator=gen(6))
    dens = np.zeros(7)
    for i in range(10):
        a = 2 * np.pi * i / 10
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        cov = rot @ np.diag([0.25, 0.01]) @ rot.T
        dens += (
            multivariate_normal(1.4 * np.array([np.cos(a), np.sin(a)]), cov).pdf(z.numpy()) / 10
        )
    np.testing.assert_allclose(prior.log_prob(z).numpy(), np.log(dens), rtol=1e-4)
    assert grid_integral(prior) == pytest.approx(1.0, abs=2e-3)
    samples = prior.sample(20_000, generator=gen(7), classes=0)
    assert torch.allclose(samples.mean(0), torch.tensor([1.4, 0.0]), atol=0.02)
    assert float(samples[:, 0].std()) == pytest.approx(0.5, rel=0.03)


def test_gaussian_mixture__weights_drive_sampling():
    prior = GaussianMixturePrior(
        [[-5.0, 0.0], [5.0, 0.0]], 0.01 * torch.eye(2).expand(2, 2, 2), [0.2, 0.8]
    )
    z = prior.sample(10_000, generator=gen(8))
    assert float((z[:, 0] > 0).double().mean()) == pytest.approx(0.8, abs=0.02)


def test_learnable_mixture__log_prob_integrates_and_regularizer_behaves():
    prior = LearnableMixturePrior(n_components=4, box=2.5, generator=gen(9))  # reference box
    assert grid_integral(prior, lim=1.5) == pytest.approx(1.0, abs=1e-3)
    # initial centres lie within 0.1 of each other: the hinge is near the margin 1.5
    assert float(prior.regularizer().detach()) == pytest.approx(1.5, abs=0.15)
    prior.regularizer().backward()
    assert prior.centres.grad.abs().sum() > 0
    with torch.no_grad():
        prior.centres.copy_(torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]]))
    assert float(prior.regularizer().detach()) == 0.0
    with torch.no_grad():
        prior.centres[0] = torch.tensor([-3.0, -2.0])  # 0.5 outside the box on one coordinate
    assert float(prior.regularizer().detach()) == pytest.approx(100 * 0.5 / 8)
    # samples are reparameterised: gradients reach the centres
    prior.zero_grad()
    prior.sample(16, generator=gen(10)).sum().backward()
    assert prior.centres.grad is not None


def test_learnable_mixture__default_box_holds_k_centres_a_margin_apart():
    """The hinge and the box can both be satisfied: a square grid of K centres costs nothing."""
    import math

    for k in (4, 20, 26):
        prior = LearnableMixturePrior(n_components=k)
        side = math.ceil(math.sqrt(k))
        assert prior.box == pytest.approx(1.5 * side / 2)
        ticks = (torch.arange(side) - (side - 1) / 2) * 1.5  # spacing = margin
        grid = torch.cartesian_prod(ticks, ticks)[:k]
        with torch.no_grad():
            prior.centres.copy_(grid)
        assert float(prior.regularizer().detach()) == 0.0, k


def test_kde_prior__reference_points_are_reproducible_and_saved():
    a, b = make_prior("pinwheel"), make_prior("pinwheel")
    assert torch.equal(a.kde_reference, b.kde_reference)
    assert a.kde_reference.shape == (10_000, 2)
    assert "kde_reference" in a.state_dict()


def test_make_prior__unknown_name_lists_allowed():
    with pytest.raises(ValueError, match="choose one of .*pinwheel"):
        make_prior("pinweel")


def test_make_prior__unsupported_latent_size():
    with pytest.raises(ValueError, match="latent_dim=2 only"):
        make_prior("swiss_roll", latent_dim=3)


def test_sample__bad_classes():
    with pytest.raises(ValueError, match="0..9"):
        make_prior("square").sample(3, classes=10)
    with pytest.raises(ValueError, match="no classes"):
        make_prior("gaussian").sample(3, classes=0)
