"""Fair-comparison protocols: equal data epochs, exact-bound weights, the likelihood elbo() scores."""

import numpy as np
import pytest
import torch
from torch import distributions as D

from ddvi_genomics.core.models import IAFVAE, VAE
from ddvi_genomics.core.training import StepContext
from vision import nets, presets
from vision.benchmark import RunSpec, build_model


def test_with_data_epochs__ddvi_stages_share_the_budget_of_a_baseline():
    ddvi = presets.with_data_epochs(presets.config_for("mnist", "ddvi", "pinwheel", False), 11)
    assert (ddvi.stage1_epochs, ddvi.epochs) == (5, 6)
    assert ddvi.prior_pretrain_epochs == 6  # one prior epoch per two data epochs (100 for 200)
    vae = presets.with_data_epochs(presets.config_for("mnist", "vae", "pinwheel", False), 11)
    assert vae.epochs == 11
    aae = presets.with_data_epochs(presets.config_for("mnist", "aae", "pinwheel", False), 11)
    assert aae.epochs == 11
    with pytest.raises(ValueError, match="not both"):
        RunSpec("mnist", "vae", "pinwheel", epochs=3, data_epochs=6)


def _loss_and_elbo(model, x):
    model.eval()  # no dropout, so the loss and elbo() see the same network
    out = model._loss(x, StepContext(0, 1, torch.Generator().manual_seed(5), None))
    elbo = model.elbo(x, generator=torch.Generator().manual_seed(5))
    return float(out.loss.detach()), float(elbo.mean())


@pytest.mark.parametrize("family", [VAE, IAFVAE])
def test_weights_elbo__bernoulli_loss_is_the_negative_bound_per_pixel(family):
    torch.manual_seed(0)
    n_features = 30
    cfg = presets.with_weights(family.config_class(hidden=(16,)), "elbo", n_features)
    model = family(n_features, cfg)
    x = (torch.rand(12, n_features) > 0.5).float()
    loss, elbo = _loss_and_elbo(model, x)
    assert loss * n_features == pytest.approx(-elbo, rel=1e-5)
    reference = family(n_features, family.config_class(hidden=(16,)))
    reference.load_state_dict(model.state_dict())
    ref_loss, _ = _loss_and_elbo(reference, x)
    assert ref_loss * n_features != pytest.approx(-elbo, rel=1e-2)  # the reference weights differ


def test_weights_elbo__gaussian_loss_is_the_negative_bound_up_to_the_constant():
    torch.manual_seed(1)
    n_features, scale = 20, 0.7
    base = VAE.config_class(hidden=(16,), likelihood="gaussian", decoder_scale=scale)
    model = VAE(n_features, presets.with_weights(base, "elbo", n_features))
    x = torch.rand(9, n_features)
    loss, elbo = _loss_and_elbo(model, x)
    constant = 0.5 * n_features * np.log(2 * np.pi * scale**2)
    assert loss * n_features / (2 * scale**2) == pytest.approx(-elbo - constant, rel=1e-5)


def test_weights_elbo__ddvi_trains_the_auxiliary_bound_and_aae_is_unchanged():
    ddvi = presets.with_weights(
        presets.config_for("mnist", "ddvi", "pinwheel", False), "elbo", 784
    )
    assert ddvi.objective == "elbo"
    aae = presets.config_for("mnist", "aae", "pinwheel", False)
    assert presets.with_weights(aae, "elbo", 784) == aae
    with pytest.raises(ValueError, match="unsupervised setting only"):
        RunSpec("mnist", "vae", "pinwheel", semi=True, weights="elbo")


def test_cifar_decoder__gaussian_likelihood_is_scored_with_the_normal_density():
    torch.manual_seed(2)
    decoder = nets.TransposedConvDecoder(2, likelihood="gaussian", scale=0.5).eval()
    z = torch.randn(3, 2)
    px = decoder(z)
    assert isinstance(px, D.Normal)
    bernoulli = nets.TransposedConvDecoder(2).eval()
    bernoulli.load_state_dict(decoder.state_dict())
    torch.testing.assert_close(px.mean, bernoulli(z).mean)  # same network, same mean image
    x = torch.rand(3, nets.CIFAR_FEATURES)
    expected = -0.5 * ((x - px.mean) / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)
    torch.testing.assert_close(px.log_prob(x), expected)
    spec = RunSpec("cifar10", "vae", "pinwheel", synthetic=True, smoke=True)
    assert isinstance(build_model(spec).decoder(z), D.Normal)  # the CIFAR VAE trains with MSE


def test_diffusion_steps__sets_ddvi_T_and_refuses_other_families():
    spec = RunSpec("mnist", "ddvi", "pinwheel", synthetic=True, diffusion_steps=7)
    assert build_model(spec).config.n_steps == 7
    with pytest.raises(ValueError, match="applies to ddvi only"):
        RunSpec("mnist", "vae", "pinwheel", diffusion_steps=7)
