import io

import pytest
import torch

from ddvi_genomics.core.models.ddvi import DDVI
from ddvi_genomics.core.progress import EpochProgress as Progress
from ddvi_genomics.core.runtime import make_generator, resolve_device
from ddvi_genomics.core.training import LossOutput, OptimiserPlan, Phase, fit
from tests.conftest import TINY_DDVI, gen

TINY = {
    **TINY_DDVI,
    "prior_pretrain_steps_per_epoch": 3,
    "stage1_epochs": 2,
    "epochs": 3,
    "n_steps": 5,
}


def test_resume__interrupted_run_continues_to_the_same_weights(tmp_path):
    x = torch.rand(80, 10, generator=gen(0))
    torch.manual_seed(0)
    straight = DDVI(10, **TINY)
    torch.manual_seed(0)
    interrupted = DDVI(10, **TINY)
    torch.manual_seed(0)
    resumed = DDVI(10, **TINY)
    straight.fit(x, device="cpu", seed=3, eval_fn=lambda m: {}, eval_every=1)

    calls = {"n": 0}

    def crash_in_stage2(model):
        calls["n"] += 1
        if calls["n"] == 5:  # prior (1) + stage1 (2) + first stage-2 epoch (1), then crash
            raise KeyboardInterrupt
        return {}

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(
            x, device="cpu", seed=3, checkpoint=ckpt, eval_fn=crash_in_stage2, eval_every=1
        )
    hist = resumed.fit(
        x, device="cpu", seed=3, checkpoint=ckpt, resume=True, eval_fn=lambda m: {}, eval_every=1
    )
    assert [r["phase"] for r in hist.rows].count("stage2") == 3
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_progress__quiet_off_a_terminal_and_verbose_on_request():
    buf = io.StringIO()
    Progress(2, None, stream=buf).epoch("stage2", 0, 2, {"rec": 0.5}, 1.0)
    assert buf.getvalue() == ""
    Progress(2, True, stream=buf).epoch("stage2", 0, 2, {"rec": 0.5}, 1.0)
    assert "[stage2] epoch 1/2 | rec 0.5" in buf.getvalue() and "ETA" in buf.getvalue()


def test_fit__non_finite_loss_stops_with_the_plan_name():
    w = torch.nn.Parameter(torch.ones(1))
    module = torch.nn.Module()
    module.w = w
    plan = OptimiserPlan("broken", [module], lambda b, c: LossOutput(w * float("nan"), {}), lr=0.1)
    with pytest.raises(FloatingPointError, match="broken"):
        fit(module, [Phase("p", [plan], 1, 4)], torch.zeros(8, 1), device="cpu")


def test_fit__data_free_phase_and_duplicate_plan_names():
    module = torch.nn.Linear(1, 1)
    seen = []

    def loss(batch, ctx):
        seen.append(batch)
        return LossOutput(module.weight.square().sum(), {"w": 0.0})

    plan = OptimiserPlan("a", [module], loss, lr=0.1, uses_batch=False)
    fit(module, [Phase("p", [plan], 2, 4, steps_per_epoch=3)], torch.zeros(8, 1), device="cpu")
    assert seen == [None] * 6
    with pytest.raises(ValueError, match="unique"):
        fit(module, [Phase("p", [plan, plan], 1, 4)], torch.zeros(8, 1), device="cpu")


def test_resolve_device__auto_and_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="choose one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    a = torch.rand(3, generator=make_generator(5))
    assert torch.equal(a, torch.rand(3, generator=make_generator(5)))


def test_derive_seed__named_streams_from_seed_sequence():
    # oracle: NumPy's SeedSequence on [seed, crc32(name)], first 64-bit word, top bit dropped
    import zlib

    import numpy as np

    from ddvi_genomics.core.runtime import derive_seed

    word = np.random.SeedSequence([7, zlib.crc32(b"noise")]).generate_state(1, np.uint64)[0]
    assert derive_seed(7, "noise") == int(word) >> 1
    streams = {derive_seed(s, n) for s in (0, 1) for n in ("init", "noise", "shuffle")}
    assert len(streams) == 6 and all(0 <= v < 2**63 for v in streams)
    with pytest.raises(ValueError, match="non-negative"):
        derive_seed(-1, "init")


def test_seeded_global_rng__restores_the_callers_state():
    from ddvi_genomics.core.runtime import seeded_global_rng

    torch.rand(3)
    state = torch.get_rng_state().clone()
    with seeded_global_rng(5):
        inside = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), state)
    with seeded_global_rng(5):
        assert torch.equal(torch.rand(4), inside)


def test_fit__labels_travel_with_their_rows_and_x_has_no_label_column():
    """Each batch's ctx.labels must belong to the same rows as the batch (label = row id % 5)."""
    n = 50
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    labels = torch.arange(n) % 5
    seen = []
    layer = torch.nn.Linear(3, 1)

    def loss_fn(batch, ctx):
        seen.append((batch.clone(), ctx.labels.clone()))
        return LossOutput(layer(batch).pow(2).mean(), {})

    phase = Phase("p", [OptimiserPlan("only", [layer], loss_fn, lr=1e-3)], epochs=2, batch_size=16)
    fit(layer, [phase], x, labels, device="cpu", seed=0, verbose=False)
    rows = torch.cat([b[:, 0] for b, _ in seen]).long()
    assert torch.equal(torch.cat([lab for _, lab in seen]), rows % 5)
    assert all(b.shape[1] == 3 for b, _ in seen)
    assert all(b.shape == (16, 3) for b, _ in seen)  # static shapes: the ragged 2 rows dropped
    first = rows[:48].tolist()
    assert len(set(first)) == 48  # no row twice within an epoch
    assert first != list(range(48))  # shuffled


def test_batches__the_dropped_remainder_is_uniform_over_rows():
    """Dropping the ragged batch leaves every row out with probability (n mod B) / n."""
    from ddvi_genomics.core.distributed import Shard
    from ddvi_genomics.core.training import _batches

    n, batch, epochs = 10, 4, 4000
    data = torch.arange(n, dtype=torch.float32)[:, None]
    phase = Phase("p", [], epochs=1, batch_size=batch)
    generator = torch.Generator().manual_seed(0)
    seen = torch.zeros(n)
    for _ in range(epochs):
        rows = torch.cat([b[:, 0] for b, _ in _batches(data, None, phase, generator, Shard())])
        assert rows.numel() == 8
        seen[rows.long()] += 1
    share_left_out = 1 - seen / epochs
    # binomial sd of each share: sqrt(0.2 * 0.8 / 4000) = 0.0063; 5 sd
    assert torch.allclose(share_left_out, torch.full((n,), 2 / n), atol=0.032)
    small = Phase("p", [], epochs=1, batch_size=64)
    (only,) = list(_batches(data, None, small, generator, Shard()))
    assert only[0].shape == (n, 1)  # fewer rows than a batch: one full-data batch


@pytest.mark.parametrize("family", ["ddvi", "ddvi-semi"])
def test_fit__memory_mapped_rows_stream_and_train_as_in_memory(family, tmp_path, monkeypatch):
    """Oracle: the same fit on the in-memory matrix (same seed, noise and updates)."""
    import numpy as np

    from ddvi_genomics.core.data import HostRows
    from ddvi_genomics.core.models import DDVI, DDVISemi
    from tests.conftest import TINY_DDVI

    x = np.random.default_rng(0).random((70, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    labels = np.where(np.arange(70) % 3 == 0, np.arange(70) % 10, -1)

    def build():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            if family == "ddvi":
                return DDVI(12, **TINY_DDVI)
            return DDVISemi(12, **TINY_DDVI)

    gathered = []
    real_getitem = HostRows.__getitem__
    monkeypatch.setattr(
        HostRows, "__getitem__", lambda self, i: gathered.append(len(i)) or real_getitem(self, i)
    )
    streamed, in_memory = build(), build()
    extra = () if family == "ddvi" else (labels,)
    streamed.fit(mapped, *extra, device="cpu", seed=2, verbose=False)
    in_memory.fit(x, *extra, device="cpu", seed=2, verbose=False)
    assert gathered and set(gathered) == {32}  # batch by batch, never the whole matrix
    for key, value in in_memory.state_dict().items():
        assert torch.equal(streamed.state_dict()[key], value), key
    bad = np.load(tmp_path / "x.npy", mmap_mode="r+")
    bad[65, 3] = np.nan
    with pytest.raises(ValueError, match="NaN .*row 65"):
        build().fit(np.load(tmp_path / "x.npy", mmap_mode="r"), *extra, device="cpu")
