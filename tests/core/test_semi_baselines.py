import math

import numpy as np
import pytest
import torch

from ddvi_genomics.core.data import as_label_tensor, mask_labels
from ddvi_genomics.core.metrics import class_head_accuracy
from ddvi_genomics.core.models.semi import AAESemi, IAFVAESemi, VAESemi, semi_discriminator_noise
from ddvi_genomics.core.training import StepContext
from tests.conftest import gen

FAMILIES = [VAESemi, IAFVAESemi, AAESemi]


def small(cls, n_features=12, **kw):
    extra = {"flow_hidden": (8,), "context_dim": 3} if cls is IAFVAESemi else {}
    if cls is AAESemi:
        extra = {"disc_hidden": (16,)}
    return cls(n_features, **{"hidden": (16,), "epochs": 2, "batch_size": 32, **extra, **kw})


def data(n=96):
    return torch.rand(n, 12, generator=gen(0)), mask_labels(np.arange(n) % 10, 30, seed=0)


def test_semi_noise_schedule__reference():
    assert [semi_discriminator_noise(e, 200) for e in (0, 49, 50, 150, 199)] == pytest.approx(
        [0.3, 0.3, 0.2, 0.0, 0.0]
    )


@pytest.mark.parametrize("cls", FAMILIES)
def test_one_step__lowers_every_plan_loss(cls, device):
    torch.manual_seed(0)
    model = small(cls, dropout=0.0).to(device).eval()
    x, labels = data()
    batch, lab = x.to(device), as_label_tensor(labels, len(x), 10).to(device)
    for plan in model.training_phases()[0].plans:
        opt = torch.optim.Adam(plan.parameters(), lr=1e-3)

        def loss():
            return plan.loss_fn(batch, StepContext(1, 4, gen(3, device), lab)).loss

        before = loss()
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            assert float(loss()) < float(before.detach()), (cls.__name__, plan.name)


@pytest.mark.parametrize("cls", FAMILIES)
def test_fit_save_load__identical_outputs(cls, tmp_path):
    model = small(cls)
    x, labels = data()
    model.fit(x, labels, device="cpu")
    model.save(tmp_path / "m.pt")
    loaded = cls.load(tmp_path / "m.pt")
    assert torch.equal(model.encode(x, generator=gen(1)), loaded.encode(x, generator=gen(1)))
    if hasattr(model, "predict_classes"):
        assert torch.equal(model.predict_classes(x), loaded.predict_classes(x))
    with pytest.raises(ValueError, match="-1 for unlabelled"):
        small(cls).fit(x, device="cpu")


def test_vae_semi_bound__below_quadrature_log_likelihood():
    """Prior = the AAE Gaussian mixture (exact class densities), Gaussian decoder, 2-D quadrature."""
    torch.manual_seed(0)
    model = small(
        VAESemi,
        n_features=3,
        prior="gauss_mix",
        likelihood="gaussian",
        decoder_scale=0.5,
        dropout=0.0,
    )
    x, _ = data()
    labels = mask_labels(np.arange(96) % 10, 30, seed=1)
    model.fit(torch.randn(96, 3, generator=gen(4)), labels, device="cpu")
    x = torch.randn(4, 3, generator=gen(5))
    xs = torch.linspace(-6, 6, 401)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        log_joint = model.decoder(grid).log_prob(x[:, None, :]).sum(-1) + model.prior.log_prob(
            grid
        )
        log_px = torch.logsumexp(log_joint, 1) + 2 * math.log(float(xs[1] - xs[0]))
    bound = model.elbo(x, n_samples=300, generator=gen(6))
    assert (bound < log_px).all() and (bound > log_px - 40).all()


def test_class_head__learns_from_few_labels():
    torch.manual_seed(0)
    centres = torch.randn(10, 12, generator=gen(7)).sigmoid()
    y = np.arange(500) % 10
    x = (centres[y] + 0.05 * torch.randn(500, 12, generator=gen(8))).clamp(0, 1)
    model = VAESemi(12, hidden=(64,), epochs=30, batch_size=64, lr=2e-3, cls_weight=100.0)
    model.fit(x, mask_labels(y, 100, seed=0), device="cpu")
    assert class_head_accuracy(model, x, y) > 0.3  # chance 0.1; this seed gives 0.41
