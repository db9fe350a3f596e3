import numpy as np
import pytest
import torch

from ddvi_genomics.core.data import UNLABELLED, mask_labels
from ddvi_genomics.core.kde import kde_log_prob
from ddvi_genomics.core.priors import make_prior
from tests.conftest import gen


def test_mask_labels__exactly_n_balanced_and_reproducible():
    labels = np.repeat(np.arange(10), [500, 600, 550, 700, 520, 480, 610, 590, 505, 545])
    state = np.random.get_state()
    a = mask_labels(labels, 1000, seed=3)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG untouched
    kept = a != UNLABELLED
    assert kept.sum() == 1000
    assert np.array_equal(np.bincount(a[kept], minlength=10), np.full(10, 100))
    assert np.array_equal(a[kept], labels[kept])
    assert np.array_equal(a, mask_labels(labels, 1000, seed=3))
    assert not np.array_equal(a, mask_labels(labels, 1000, seed=4))
    b = mask_labels(labels, 1003, seed=0)
    counts = np.bincount(b[b != UNLABELLED], minlength=10)
    assert counts.sum() == 1003 and counts.max() - counts.min() == 1
    assert (mask_labels(labels, 50, seed=1, method="uniform") != UNLABELLED).sum() == 50


def test_mask_labels__reference_method_reproduces_its_leak():
    labels = np.arange(60_000) % 10
    ref = mask_labels(labels, 1000, seed=0, method="reference")
    rs = np.random.RandomState(0)
    expected = labels.copy()
    expected[rs.choice(50000, 49000)] = UNLABELLED
    assert np.array_equal(ref, expected)
    assert (ref[50000:] != UNLABELLED).all()  # the last 10,000 MNIST images keep their labels
    assert (ref != UNLABELLED).sum() > 11_000
    with pytest.raises(ValueError, match="balanced"):
        mask_labels(labels, 10, seed=0, method="random")


def test_class_log_prob__kde_partition_and_exact_mixtures():
    prior = make_prior("pinwheel")
    z = prior.sample(50, generator=gen(0), classes=3)
    lp = prior.class_log_prob(z)
    assert lp.shape == (50, 10)
    assert (lp.argmax(1) == 3).float().mean() > 0.95
    expected = kde_log_prob(z, prior.class_kde_reference[3], [0.05])
    assert torch.allclose(lp[:, 3], expected)
    mix = make_prior("gauss_mix")
    z = torch.randn(7, 2, generator=gen(1))
    assert torch.allclose(
        torch.logsumexp(mix.class_log_prob(z), 1) - np.log(10), mix.log_prob(z), atol=1e-5
    )
    with pytest.raises(ValueError, match="no classes"):
        make_prior("gaussian").class_log_prob(z)


@pytest.mark.parametrize("name", ["pinwheel", "gauss_mix", "learnable_mixture"])
def test_paired_class_log_prob__the_diagonal_of_every_class_density(name):
    """Oracle: slice c of ``class_log_prob`` on all K x n points, and its gradient in z."""
    prior = make_prior(name) if name != "learnable_mixture" else make_prior(name, n_components=6)
    K = prior.n_classes
    z = torch.stack([prior.sample(40, generator=gen(c), classes=c) for c in range(K)])
    z = (z + 0.05 * torch.randn(z.shape, generator=gen(99))).detach().requires_grad_(True)
    paired = prior.paired_class_log_prob(z)
    paired.sum().backward()
    grad = z.grad.clone()
    z.grad = None
    full = prior.class_log_prob(z.reshape(-1, 2)).reshape(K, 40, K)
    expected = torch.stack([full[c, :, c] for c in range(K)])
    expected.sum().backward()
    assert paired.shape == (K, 40)
    torch.testing.assert_close(paired, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, z.grad, rtol=1e-4, atol=1e-4)
