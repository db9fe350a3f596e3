import pytest
import torch

from ddvi_genomics.core.models.ddvi import DDVI, DDVIConfig
from ddvi_genomics.core.training import StepContext, build_optimisers
from tests.conftest import TINY_DDVI, gen

TINY = TINY_DDVI


def data(n=96, d=12, seed=0):
    return torch.rand(n, d, generator=gen(seed))


def tiny(**kw):
    return DDVI(12, **{**TINY, **kw})


def test_config__defaults_are_the_reference_and_round_trip():
    cfg = DDVIConfig()
    assert (cfg.n_steps, cfg.kl_weight, cfg.sleep_steps, cfg.batch_size, cfg.lr) == (
        40,
        0.003,
        3,
        128,
        1e-4,
    )
    assert (cfg.prior_steps, cfg.stage1_kl_weight, cfg.context_dropout) == (20, 0.01, 0.4)
    other = cfg.replace(prior="swiss_roll", hidden=(8, 8), objective="elbo")
    assert DDVIConfig.from_dict(other.to_dict()) == other
    with pytest.raises(ValueError, match="unknown DDVIConfig field"):
        DDVIConfig.from_dict({"epochz": 3})


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"prior": "pinweel"}, "unknown prior 'pinweel'; choose one of"),
        (
            {"objective": "vae"},
            r"objective='vae' is not allowed; choose one of \['reference', 'elbo'\]",
        ),
        ({"likelihood": "poisson"}, "choose one of"),
        ({"latent_dim": 3}, "latent_dim=2 only"),
        ({"decoder_frozen_fraction": 1.5}, r"\[0, 1\]"),
        ({"batch_size": 0}, "must be > 0"),
    ],
)
def test_bad_arguments__raise_value_error_with_allowed_values(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        tiny(**kwargs)


def test_fit__nan_input_is_rejected():
    x = data()
    x[5, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN .*row 5"):
        tiny().fit(x, device="cpu")
    with pytest.raises(ValueError, match="11 features but this model was built for 12"):
        tiny().encode(torch.rand(4, 11))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tiny().fit(data() * 3, device="cpu")


def test_fit__runs_every_phase_and_records_history(device):
    model = tiny()
    hist = model.fit(data(), device=device, verbose=False)
    phases = [r["phase"] for r in hist.rows]
    assert phases == ["prior_diffusion", "stage1", "stage2", "stage2"]
    assert {"wake/rec", "wake/kl", "wake/log_pz", "wake/diff", "sleep/diff"} <= set(hist.rows[-1])
    assert not model.training


def test_encode__eval_mode_is_deterministic_for_a_fixed_generator(device):
    model = tiny(dropout=0.5, context_dropout=0.5).to(device)
    x = data(20)
    a = model.encode(x, generator=gen(3, device))
    b = model.encode(x, generator=gen(3, device))
    assert torch.equal(a, b)
    # dropout really is active in training mode (so eval() is what makes the difference)
    model.train()
    h1, h2 = model.context_net(x.to(device)), model.context_net(x.to(device))
    assert not torch.equal(h1, h2)
    assert model.encode(x, n_samples=3, generator=gen(4, device)).shape == (3, 20, 2)
    assert model.encode(x, mean=True, generator=gen(4, device)).shape == (20, 2)


def test_save_load__identical_outputs(tmp_path, device):
    model = tiny()
    model.fit(data(), device=device, verbose=False)
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = DDVI.load(path, map_location=device)
    assert loaded.config == model.config
    x = data(10, seed=5)
    for fn in (
        lambda m, g: m.encode(x, generator=g),
        lambda m, g: m.elbo(x, generator=g),
        lambda m, g: m.sample(7, generator=g),
    ):
        assert torch.equal(fn(model, gen(1, device)), fn(loaded, gen(1, device)))
    with pytest.raises(ValueError, match="not a DDVI checkpoint"):
        torch.save({"x": 1}, tmp_path / "bad.pt")
        DDVI.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("objective", ["reference", "elbo"])
@pytest.mark.parametrize("phase_index", [0, 1, 2])
def test_one_step__lowers_each_plan_loss_on_a_fixed_batch(objective, phase_index, device):
    torch.manual_seed(0)
    model = tiny(objective=objective, dropout=0.0, context_dropout=0.0).to(device)
    model.eval()  # no dropout, so the same generator seed gives the same loss
    x = data().to(device)
    phase = model.training_phases()[phase_index]
    for plan in phase.plans:
        for p in plan.parameters():
            p.requires_grad_(True)
        opt = torch.optim.Adam(plan.parameters(), lr=1e-3)

        def loss():
            return plan.loss_fn(x, StepContext(0, 1, gen(7, device))).loss

        before = loss()
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = loss()
        assert float(after) < float(before.detach()), plan.name


def test_wake_and_sleep__separate_optimisers_and_sleep_leaves_encoder_decoder_alone():
    model = tiny()
    stage2 = model.training_phases()[-1]
    wake, sleep = stage2.plans
    optims = build_optimisers(stage2)
    sleep_ids = {id(p) for p in sleep.parameters()}
    expected_sleep = {id(p) for m in (model.context_net, model.denoiser) for p in m.parameters()}
    assert sleep_ids == expected_sleep
    x = data()
    for plan in (wake, sleep):
        model.zero_grad(set_to_none=True)
        plan.loss_fn(x, StepContext(0, 1, gen(0))).loss.backward()
        optims[plan.name].step()
    shared = [p for p in sleep.parameters()]
    for p in shared:  # each optimiser keeps its own moment tensors
        assert optims["wake"].state[p]["exp_avg"] is not optims["sleep"].state[p]["exp_avg"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.zero_grad(set_to_none=True)
    sleep.loss_fn(None, StepContext(0, 1, gen(1))).loss.backward()
    optims["sleep"].step()
    after = model.state_dict()
    for name in before:
        moved = not torch.equal(before[name], after[name])
        if name.startswith(("encoder.", "decoder.")):
            assert not moved, name
    assert any(not torch.equal(before[n], after[n]) for n in before if n.startswith("denoiser."))


def test_decoder__frozen_for_the_first_30_percent_of_stage2():
    model = tiny(prior_pretrain_epochs=0, stage1_epochs=0, epochs=10)
    snapshots = []

    def record(m):
        snapshots.append(torch.cat([p.detach().flatten().clone() for p in m.decoder.parameters()]))
        return {}

    start = torch.cat([p.detach().flatten().clone() for p in model.decoder.parameters()])
    model.fit(data(), device="cpu", eval_fn=record, eval_every=1)
    assert all(torch.equal(s, start) for s in snapshots[:3])
    assert not torch.equal(snapshots[3], start)


def test_elbo__is_a_lower_bound_on_grid_integrated_log_likelihood():
    """Gaussian prior and decoder in 2-D: log p(x) by quadrature over z is the oracle."""
    torch.manual_seed(0)
    model = DDVI(
        3,
        **{
            **TINY,
            "prior": "gaussian",
            "likelihood": "gaussian",
            "decoder_scale": 0.5,
            "objective": "elbo",
            "dropout": 0.0,
            "context_dropout": 0.0,
        },
    )
    model.fit(torch.randn(64, 3, generator=gen(1)) * 0.3, device="cpu")
    x = torch.randn(4, 3, generator=gen(2)) * 0.3
    xs = torch.linspace(-6, 6, 401)
    gz = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        px = model.decoder(gz)
        log_joint = px.log_prob(x[:, None, :]).sum(-1) + model.prior.log_prob(gz)  # (4, grid)
        log_px = torch.logsumexp(log_joint, dim=1) + 2 * torch.log(xs[1] - xs[0])
    # measured gaps (seeds 0-2): auxiliary bound 3.9-5.3 nats, push-forward density 0.05-0.7
    for objective, max_gap in (("elbo", 8.0), ("reference", 1.5)):
        model.config = model.config.replace(objective=objective)
        bound = model.elbo(x, n_samples=200, generator=gen(3))
        assert (bound < log_px).all(), (objective, bound, log_px)
        assert (bound > log_px - max_gap).all(), (objective, log_px - bound)


def test_pushforward_elbo__equals_change_of_variables_with_autograd_jacobian():
    """Oracle: log p(x|z) + log p(z) - [log q(y_T|x) - log|det dz/dy_T|], Jacobian by autograd."""
    model = tiny(prior="gaussian", likelihood="gaussian", n_steps=4).eval()
    x = data(5)
    got = model._pushforward_elbo(x, gen(3))  # product code

    qy = model.encoder(x)
    y = model._sample_y(qy, gen(3)).detach()  # the same y_T draws
    ctx = model.context_net(x).detach()

    def chain(v, c):
        return model.diffusion.reverse_chain(model.denoiser, v[None], c[None])[-1][0]

    log_det = torch.stack(
        [
            torch.linalg.slogdet(
                torch.autograd.functional.jacobian(lambda v: chain(v, ctx[i]), y[i])
            )[1]
            for i in range(5)
        ]
    )
    with torch.no_grad():
        z = model.diffusion.reverse_chain(model.denoiser, y, ctx)[-1]
        log_q_z = qy.log_prob(y).sum(-1) - log_det
        expected = model.decoder(z).log_prob(x).sum(-1) + model.prior.log_prob(z) - log_q_z
    # |log det| must dwarf the tolerance, or a wrong sign of log|det| would go unseen
    assert log_det.abs().min() > 100 * 1e-4, log_det
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)


def test_dropout__same_distribution_as_torch_and_off_in_eval(device):
    from ddvi_genomics.core.nn import Dropout

    layer = Dropout(0.3)
    x = torch.ones(200_000, device=device)
    out = layer(x).cpu()
    assert float((out == 0).double().mean()) == pytest.approx(0.3, abs=0.005)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)  # inverted scaling keeps the mean
    assert out.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    x.requires_grad_()
    again = layer(x)
    again.backward(torch.ones_like(x))  # x is all ones: the gradient is the output itself
    assert torch.equal(x.grad, again.detach())
    layer.eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


def _patched_chain(model, fold):
    """Replace the reverse diffusion by an explicit map ``z = fold(y_T)`` (a constructed oracle)."""

    def chain(denoiser, y, context=None):
        return [y, fold(y)]

    model.diffusion.reverse_chain = chain
    return model


def test_pushforward_elbo__a_folding_map_is_detected_and_not_returned():
    from ddvi_genomics.core.models.ddvi import FoldingWarning

    x = data(40)
    # z = (y0^2, y1): det = 2 y0 changes sign with y0, so the map folds the half-planes together
    folding = _patched_chain(tiny().eval(), lambda y: torch.stack([y[:, 0] ** 2, y[:, 1]], 1))
    with pytest.warns(FoldingWarning, match="not one-to-one"):
        bound = folding.elbo(x, n_samples=3, generator=gen(1))
    assert torch.isnan(bound).all()
    # z = (y0^3 + y0, y1): det = 3 y0^2 + 1 > 0, one-to-one: a finite bound, no warning
    monotone = _patched_chain(
        tiny().eval(), lambda y: torch.stack([y[:, 0] ** 3 + y[:, 0], y[:, 1]], 1)
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FoldingWarning)
        assert torch.isfinite(monotone.elbo(x, n_samples=3, generator=gen(1))).all()


@pytest.mark.parametrize("wake_trains_denoiser", [True, False])
def test_wake_trains_denoiser__false_leaves_chain_to_the_sleep_step(wake_trains_denoiser):
    """The paper's clustering recipe: with no sleep steps, its denoiser never moves."""
    cfg = DDVIConfig(**TINY, sleep_steps=0, wake_trains_denoiser=wake_trains_denoiser)
    torch.manual_seed(0)
    model = DDVI(16, cfg)
    before = {k: v.clone() for k, v in model.denoiser.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    x = torch.rand(64, 16, generator=gen(1))
    model.fit(x.numpy(), seed=0, verbose=False)
    moved = any(not torch.equal(before[k], v) for k, v in model.denoiser.state_dict().items())
    assert moved == wake_trains_denoiser
    assert any(
        not torch.equal(encoder_before[k], v) for k, v in model.encoder.state_dict().items()
    )


def test_paper_recipe_preset__wake_loss_is_reconstruction_plus_kl_on_y():
    from ddvi_genomics.genotype.mapping.embed import GENOTYPE_DDVI_PAPER_CONFIG, preset_config

    paper = preset_config("ddvi", recipe="paper")
    assert paper == GENOTYPE_DDVI_PAPER_CONFIG
    assert (paper.prior_weight, paper.diff_weight, paper.kl_weight) == (0.0, 0.0, 0.005)
    assert not paper.wake_trains_denoiser and paper.sleep_steps >= 1
    assert preset_config("ddvi", 7, recipe="paper").epochs == 7
    with pytest.raises(ValueError, match="recipe 'paper' exists for method 'ddvi' only"):
        preset_config("vae", recipe="paper")
