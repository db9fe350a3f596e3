import numpy as np
import pytest
import torch

from ddvi_genomics.core.data import UNLABELLED, mask_labels
from ddvi_genomics.core.models.ddvi_semi import DDVISemi, DDVISemiConfig, _take_state
from ddvi_genomics.core.training import StepContext
from tests.conftest import gen

TINY = dict(
    hidden=(16,),
    context_hidden=(16,),
    denoiser_hidden=16,
    prior_pretrain_epochs=1,
    prior_pretrain_steps_per_epoch=3,
    stage1_epochs=1,
    epochs=2,
    batch_size=32,
    n_steps=6,
    prior_steps=5,
    sleep_steps=2,
)


def data(n=96, seed=0):
    x = torch.rand(n, 12, generator=gen(seed))
    labels = mask_labels(np.arange(n) % 10, 20, seed=seed)
    return x, labels


def test_config__reference_semi_defaults():
    cfg = DDVISemiConfig()
    assert (
        cfg.n_steps,
        cfg.sleep_steps,
        cfg.batch_size,
        cfg.epochs,
        cfg.kl_weight,
        cfg.cls_weight,
    ) == (100, 30, 1024, 50, 0.1, 0.0)
    assert cfg.semi_objective == "m2" and cfg.m2_cls_weight == 30.0
    with pytest.raises(ValueError, match="reference"):
        DDVISemiConfig(objective="elbo")
    with pytest.raises(ValueError, match="has 0 classes"):
        DDVISemi(12, prior="gaussian", **TINY)


def test_take_state__equals_a_loop():
    chain = torch.randn(7, 3, 4, 2, generator=gen(1))
    idx = torch.randint(7, (3, 4), generator=gen(2))
    out = _take_state(chain, idx)
    for c in range(3):
        for i in range(4):
            assert torch.equal(out[c, i], chain[idx[c, i], c, i])


def test_class_weights__reference_normalises_each_group():
    model = DDVISemi(12, **TINY, semi_objective="reference")
    logits = torch.randn(5, 10, generator=gen(3))
    labels = torch.tensor([2, UNLABELLED, 7, UNLABELLED, UNLABELLED])
    w = model._class_weights(logits, labels)
    assert w.shape == (10, 5)
    assert torch.allclose(w[:, 0], torch.eye(10)[2] / 2) and torch.allclose(
        w[:, 2], torch.eye(10)[7] / 2
    )
    assert torch.allclose(w[:, 1], torch.softmax(logits[1], 0) / 3)
    assert torch.allclose(w.sum(), torch.tensor(2.0))


def test_m2__one_batch_mean_and_the_uniform_class_kl():
    """M2: every example weighs 1/n; the class term is KL(q(c|x) || U) over unlabelled ones."""
    model = DDVISemi(12, **TINY)
    assert model.config.semi_objective == "m2"
    logits = torch.randn(5, 10, generator=gen(3))
    labels = torch.tensor([2, UNLABELLED, 7, UNLABELLED, UNLABELLED])
    w = model._class_weights(logits, labels)
    assert torch.allclose(w[:, 0], torch.eye(10)[2] / 5)
    assert torch.allclose(w[:, 1], torch.softmax(logits[1], 0) / 5)
    assert torch.allclose(w.sum(), torch.tensor(1.0))
    term, _ = model._class_term(logits, labels)
    q = torch.softmax(logits, 1)
    kl_uniform = (q * (q.log() - torch.log(torch.tensor(0.1)))).sum(1)  # oracle, per example
    assert torch.allclose(term, kl_uniform[[1, 3, 4]].sum() / 5, atol=1e-6)
    reference = DDVISemi(12, **TINY, semi_objective="reference")
    ref_term, ent = reference._class_term(logits, labels)
    assert torch.allclose(ref_term, 0.001 * ent)  # the authors' sign: entropy minimised


@pytest.mark.parametrize("phase_index", [0, 1, 2])
def test_one_step__lowers_each_plan_loss(phase_index, device):
    torch.manual_seed(0)
    model = (
        DDVISemi(12, **{**TINY, "dropout": 0.0, "context_dropout": 0.0, "cls_weight": 1.0})
        .to(device)
        .eval()
    )
    x, labels = data()
    batch, lab = x.to(device), torch.as_tensor(labels).to(device)
    for plan in model.training_phases()[phase_index].plans:
        opt = torch.optim.Adam(plan.parameters(), lr=1e-3)

        def loss():
            return plan.loss_fn(batch, StepContext(0, 1, gen(7, device), lab)).loss

        before = loss()
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            assert float(loss()) < float(before.detach()), plan.name


def test_fit_save_load__identical_outputs(tmp_path, device):
    model = DDVISemi(12, **TINY)
    x, labels = data()
    hist = model.fit(x, labels, device=device)
    assert [r["phase"] for r in hist.rows] == ["prior_diffusion", "stage1", "stage2", "stage2"]
    model.save(tmp_path / "s.pt")
    loaded = DDVISemi.load(tmp_path / "s.pt", map_location=device)
    assert torch.equal(
        model.encode(x, generator=gen(1, device)), loaded.encode(x, generator=gen(1, device))
    )
    assert torch.equal(model.predict_classes(x), loaded.predict_classes(x))
    bound = loaded.elbo(x[:5], generator=gen(2, device))
    assert bound.shape == (5,) and torch.isfinite(bound).all()


def test_fit__rejects_bad_labels():
    x, _ = data()
    with pytest.raises(ValueError, match="needs labels"):
        DDVISemi(12, **TINY).fit(x, device="cpu")
    with pytest.raises(ValueError, match=r"-1..9"):
        DDVISemi(12, **TINY).fit(x, np.full(96, 12), device="cpu")


def test_cross_entropy_option__trains_the_class_head():
    torch.manual_seed(0)
    centres = torch.randn(10, 12, generator=gen(5)).sigmoid()
    y = np.arange(400) % 10
    x = (centres[y] + 0.05 * torch.randn(400, 12, generator=gen(6))).clamp(0, 1)
    model = DDVISemi(
        12,
        **{
            **TINY,
            "cls_weight": 50.0,
            "semi_objective": "reference",
            "epochs": 15,
            "lr": 3e-3,
            "sleep_steps": 1,
            "prior_pretrain_epochs": 0,
            "stage1_epochs": 0,
        },
    )
    model.fit(x, mask_labels(y, 100, seed=0), device="cpu")
    acc = float((model.predict_classes(x).numpy() == y).mean())
    assert acc > 0.5  # chance is 0.1


@pytest.mark.slow
def test_m2__class_head_keeps_learning_in_stage2_on_digits_with_100_labels():
    """The authors' stage 2 forgets the classes; M2 keeps them (DDVI semi, digits, 100 labels).

    Measured (seeds 0-2, 10 + 10 epochs): M2 stage 1 0.88-0.91, stage 2 0.89-0.91; the reference
    objective falls from 0.91 to 0.35 (seed 0). One sd of accuracy on 450 test digits is ~0.014.
    """
    from ddvi_genomics.core.runtime import derive_seed, seeded_global_rng
    from ddvi_genomics.demo import load_digits_split

    x_tr, x_te, y_tr, y_te = load_digits_split(0)
    labels = mask_labels(y_tr, 100, seed=0)
    small = dict(
        prior="pinwheel", hidden=(256,), context_hidden=(128,), denoiser_hidden=64, n_steps=10,
        prior_steps=10, prior_pretrain_epochs=1, prior_pretrain_steps_per_epoch=200,
        stage1_epochs=10, epochs=10, batch_size=128, sleep_steps=3, lr=2e-3, stage1_lr=2e-3,
    )  # fmt: skip

    def accuracies(objective):
        with seeded_global_rng(derive_seed(0, "init")):
            model = DDVISemi(64, **small, semi_objective=objective)

        def score(m):
            return {"acc": float((m.predict_classes(x_te).numpy() == y_te).mean())}

        hist = model.fit(x_tr, labels, device="cpu", seed=0, eval_fn=score, verbose=False)
        return hist.for_phase("stage1")[-1]["eval/acc"], hist.for_phase("stage2")[-1]["eval/acc"]

    stage1, stage2 = accuracies("m2")
    # chance is 0.1; on about 450 test digits one accuracy's standard error is about 0.014, so a
    # drop of 0.05 (3.5 standard errors) is forgetting and a smaller one is seed noise
    assert stage2 >= 0.85 and stage2 >= stage1 - 0.05, (stage1, stage2)
    ref1, ref2 = accuracies("reference")
    assert ref2 < ref1 - 0.2, (ref1, ref2)  # the documented collapse of the authors' objective


@pytest.mark.parametrize("prior", ["pinwheel", "learnable_mixture"])
def test_log_prior__class_prior_scores_slice_c_under_class_c(prior):
    """Oracle: ``log p(z_c | c)`` looked up in the full (K x n x K) class-density table."""
    extra = {"n_classes": 10} if prior == "learnable_mixture" else {}
    model = DDVISemi(12, **TINY, prior=prior, semi_prior="class", **extra)
    z = torch.randn(10, 7, 2, generator=gen(3))
    full = model.prior.class_log_prob(z.reshape(70, 2)).reshape(10, 7, 10)
    expected = torch.stack([full[c, :, c] for c in range(10)])
    torch.testing.assert_close(model._log_prior(z), expected, rtol=1e-5, atol=1e-5)
