"""``fit(compile="cuda-graph")``: whole steps recorded once and replayed give eager's training.

Oracle: the eager run from the same initial weights, data and seed. On the CPU the recorder is
:class:`~ddvi_genomics.core.graphs.EagerReplay` (a replay calls the closure recorded with the
step's context frozen, as a CUDA graph's replay runs no Python); on CUDA it is the real CUDA graph
backend. Every family is covered, with the things a replay cannot see: DDVI's frozen decoder,
DDVI-semi's sleep class, a KL-weight schedule read from the epoch, the AAE's learning-rate
schedule and discriminator noise.
"""

import warnings

import numpy as np
import pytest
import torch
import torch._inductor.config

from ddvi_genomics.core import graphs, training
from ddvi_genomics.core.models import AAE, DDVI, HIAFVAE, IAFVAE, VAE, AAESemi, DDVISemi, VAESemi
from ddvi_genomics.core.training import LossOutput, OptimiserPlan, Phase, fit
from tests.conftest import TINY_DDVI, eager_on_default_generator, gen

SEMI = {"ddvi-semi", "ddvi-semi-genotype", "vae-semi", "aae-semi"}

FAMILIES = {
    # decoder frozen for the first 30 % of stage 2: one graph before, one after
    "ddvi": lambda: DDVI(12, **{**TINY_DDVI, "epochs": 4}, prior="pinwheel"),
    "ddvi-genotype": lambda: DDVI(
        12,
        **{**TINY_DDVI, "prior_pretrain_epochs": 0, "stage1_epochs": 0},
        prior="learnable_mixture",
        likelihood="gaussian",
        sleep_grad_clip=0.1,
    ),
    "vae-linear-kl": lambda: VAE(12, hidden=(16,), epochs=3, batch_size=32, kl_schedule="linear"),
    "iaf-vae": lambda: IAFVAE(12, hidden=(16,), epochs=2, batch_size=32),
    "h-iaf-vae": lambda: HIAFVAE(12, hidden=(16,), epochs=2, batch_size=32),
    # learning rate cut after epoch 2, discriminator noise annealed by epoch
    "aae": lambda: AAE(12, hidden=(16,), epochs=3, batch_size=32, lr_milestone=2),
    "ddvi-semi": lambda: DDVISemi(12, **TINY_DDVI),
    # a learnable prior: the prior-fit step reads the wake step's sample from a fixed buffer
    "ddvi-semi-genotype": lambda: DDVISemi(
        12, **TINY_DDVI, prior="learnable_mixture", likelihood="gaussian"
    ),
    "vae-semi": lambda: VAESemi(12, hidden=(16,), epochs=2, batch_size=32),
    "aae-semi": lambda: AAESemi(12, hidden=(16,), epochs=3, batch_size=32, disc_hidden=(16,)),
}


def _replay_on_cpu(monkeypatch):
    made = []

    def backend(dev, generators):
        made.append(graphs.EagerReplay())
        return made[-1]

    monkeypatch.setattr(training, "graph_backend", backend)
    return made


@pytest.fixture
def recorder(monkeypatch, device):
    """The backend a run records with: EagerReplay on the CPU (counted), CUDA graphs on CUDA."""
    return _replay_on_cpu(monkeypatch) if device.type == "cpu" else []


@pytest.fixture
def cpu_recorder(monkeypatch):
    """EagerReplay backends made by the runs of a test, in order."""
    return _replay_on_cpu(monkeypatch)


def train(family, device, **options):
    x = torch.rand(128, 12, generator=gen(0))  # 4 batches of 32 per epoch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = FAMILIES[family]()
    extra = ()
    if family in SEMI:
        labels = np.where(np.arange(128) % 3 == 0, np.arange(128) % 10, -1)
        extra = (labels,)
    history = model.fit(x, *extra, device=device, seed=3, verbose=False, **options)
    return model.cpu(), history.rows


def assert_same_training(eager, recorded, tol):
    (m1, rows1), (m2, rows2) = eager, recorded
    assert len(rows1) == len(rows2)
    for a, b in zip(rows1, rows2, strict=True):
        assert list(a) == list(b)  # the same terms, in the same order
        for key in a:
            if key not in ("phase", "epoch", "seconds"):
                assert b[key] == pytest.approx(a[key], rel=tol, abs=tol), (a["phase"], key)
    worst = max(
        float((p - q).abs().max())
        for p, q in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True)
    )
    assert worst < tol, f"largest weight difference {worst:.2e}"


@pytest.mark.parametrize("family", FAMILIES)
def test_recorded_steps__train_as_eager(family, device, recorder):
    eager = train(family, device)
    recorded = train(family, device, compile="cuda-graph")
    # CPU: the same kernels (capturable Adam beside fused Adam); CUDA: graph-safe RNG, same maths
    assert_same_training(eager, recorded, 1e-5 if device.type == "cpu" else 1e-4)
    if device.type == "cpu":
        (backend,) = recorder
        assert backend.captures > 0 and backend.replays > backend.captures  # really replayed


@pytest.mark.parametrize("prior", ["pinwheel", "learnable_mixture"])
def test_fused_recorded_steps__train_as_eager(prior, device, recorder):
    """torch.compile-fused losses inside recorded steps: eager's training within 1e-4.

    Dropout is off: compiled code draws its dropout masks from its own random stream. With a
    learnable prior the compiled wake loss also writes the prior-fit step's sample buffer.
    """
    torch._dynamo.reset()
    stage2 = dict(TINY_DDVI, prior_pretrain_epochs=0, stage1_epochs=0, epochs=2, dropout=0.0)
    x = torch.rand(128, 12, generator=gen(0))
    runs = []
    # the compiled loss draws from the default generator: the eager oracle does too, and the
    # compiled random ops call the eager ones (fallback_random)
    for mode, draws in (
        ("off", eager_on_default_generator()),
        ("cuda-graph-fused", torch._inductor.config.patch(fallback_random=True)),
    ):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = DDVI(12, **stage2, prior=prior, context_dropout=0.0)
        with draws:
            rows = model.fit(x, device=device, seed=3, verbose=False, compile=mode).rows
        runs.append((model.cpu(), rows))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it really compiled
    assert_same_training(*runs, 1e-4)


def test_recorded_steps__keys_follow_what_a_step_depends_on(cpu_recorder):
    """One graph per frozen state, per sleep class, per epoch for epoch-reading plans only."""
    train("ddvi", "cpu", compile="cuda-graph")
    # stage 2 (4 epochs, decoder frozen in epoch 0): the wake plan once per freezing state, the
    # sleep plan once; prior pre-training and stage 1 once each
    assert cpu_recorder[0].captures == 2 + 1 + 1 + 1
    train("ddvi-semi", "cpu", compile="cuda-graph")
    assert cpu_recorder[1].captures > 3  # the sleep plan has one graph per class drawn
    train("vae-linear-kl", "cpu", compile="cuda-graph")
    assert cpu_recorder[2].captures == 3  # the KL weight changes every epoch
    # a learning-rate step after epoch 1, in a loss that reads no epoch: one graph per rate
    net = torch.nn.Linear(3, 1)
    plan = OptimiserPlan(
        "fit",
        [net],
        lambda batch, ctx: LossOutput(net(batch).square().mean(), {}),
        lr=0.1,
        lr_factor=lambda epoch: 1.0 if epoch < 1 else 0.1,
    )
    phase = Phase("train", [plan], epochs=3, batch_size=4)
    fit(net, [phase], torch.rand(16, 3), device="cpu", verbose=False, compile="cuda-graph")
    assert cpu_recorder[3].captures == 2


def test_recorded_steps__without_epoch_keys_a_schedule_is_frozen(monkeypatch, cpu_recorder):
    """The key matters: with the epoch left out, the KL schedule stays at its recording value."""
    monkeypatch.setattr(graphs, "EPOCH_FIELDS", frozenset())
    eager = train("vae-linear-kl", "cpu")
    recorded = train("vae-linear-kl", "cpu", compile="cuda-graph")
    with pytest.raises(AssertionError):
        assert_same_training(eager, recorded, 1e-5)


def test_recorded_steps__a_host_draw_inside_a_loss_runs_eagerly(cpu_recorder):
    net = torch.nn.Linear(3, 1)
    draws = []

    def loss(batch, ctx):
        draws.append(int(ctx.host_rng.integers(10)))
        return LossOutput(net(batch).square().mean(), {})

    phase = Phase("train", [OptimiserPlan("fit", [net], loss, lr=0.1)], epochs=2, batch_size=4)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fit(net, [phase], torch.rand(16, 3), device="cpu", verbose=False, compile="cuda-graph")
    assert any("ctx.host_rng" in str(w.message) for w in seen)
    assert len(draws) == 8  # every step ran its Python: none was replayed
    assert cpu_recorder[0].captures == 0


def test_cuda_graph__is_refused_off_cuda():
    # device="cpu" is asked for explicitly, so this runs (and must refuse) on any machine
    with pytest.raises(ValueError, match="compile='cuda-graph' / 'cuda-graph-fused' needs a CUDA"):
        VAE(12, epochs=1).fit(torch.rand(16, 12), device="cpu", compile="cuda-graph")


def test_recorded_steps__a_finished_phase_frees_its_graphs(monkeypatch, cpu_recorder):
    made = []
    real_init = graphs.RecordedSteps.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(graphs.RecordedSteps, "__init__", spy)
    train("ddvi", "cpu", compile="cuda-graph")
    (steps,) = made
    assert cpu_recorder[0].captures == 5  # graphs were made, one phase after another
    assert steps.graphs == {} and steps.warm_records == {}


def test_recorded_steps__a_failed_recording_stops_the_run(monkeypatch):
    """No eager fallback after a failed capture (the device's generators may be unusable)."""

    class Failing(graphs.EagerReplay):
        def capture(self, fn, like):
            raise RuntimeError("operation not permitted when stream is capturing\ndetails")

    monkeypatch.setattr(training, "graph_backend", lambda dev, gens: Failing())
    with pytest.raises(RuntimeError, match=r"plan 'elbo' could not be recorded as a CUDA graph"):
        VAE(12, hidden=(16,), epochs=1, batch_size=32).fit(
            torch.rand(128, 12), device="cpu", verbose=False, compile="cuda-graph"
        )
