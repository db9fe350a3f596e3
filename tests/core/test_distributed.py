"""Data-parallel training: two gloo processes reproduce one process with the same global batch.

Oracle: the weights of a one-process run. Each of two ranks computes half of every global batch
(its slice of the data rows and of every noise draw) and the gradients are averaged, so the final
weights must equal the one-process weights up to the order of floating-point sums.
"""

import faulthandler
import os
import socket
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from ddvi_genomics.core.distributed import (
    Shard,
    ShardedDraws,
    leave_process_group,
    process_group_from_environment,
)
from ddvi_genomics.core.models import DDVI, VAE
from tests.conftest import TINY_DDVI, gen

GENOTYPE_LIKE = dict(
    TINY_DDVI,
    prior="learnable_mixture",
    likelihood="gaussian",
    prior_pretrain_epochs=0,
    stage1_epochs=0,
    epochs=3,
    dropout=0.2,  # dropout masks come from torch's global RNG: sharded too
    context_dropout=0.2,
    sleep_grad_clip=0.1,
)
MODELS = {
    "ddvi-genotype": lambda: DDVI(12, **GENOTYPE_LIKE),
    # prior pre-training (a data-free phase) and stage 1 before stage 2
    "ddvi-pinwheel": lambda: DDVI(12, **TINY_DDVI, prior="pinwheel"),
    "vae": lambda: VAE(12, hidden=(16,), epochs=3, batch_size=32),
}


def build(name: str) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the same initial weights in every process
        return MODELS[name]()


def training_data():
    return torch.rand(100, 12, generator=gen(3))  # 3 batches of 32, 4 rows left over


def _rank_main(rank: int, world: int, name: str, rendezvous: str, out: str) -> None:
    faulthandler.enable()  # a rank that aborts prints where (into the test's captured stderr)
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world
    )
    model = build(name)
    history = model.fit(training_data(), device="cpu", seed=5, verbose=False)
    if rank == 0:
        torch.save({"state": model.state_dict(), "rows": history.rows}, out)
    leave_process_group()  # what infer does under torchrun: barrier, then destroy
    assert not torch.distributed.is_initialized()
    _left_marker(out, rank).touch()


def _left_marker(out: str, rank: int) -> Path:
    """File a rank writes once it has trained and left the process group."""
    return Path(f"{out}.rank{rank}-left")


@pytest.mark.parametrize("name", MODELS)
def test_two_gloo_processes__same_weights_as_one_process(name, tmp_path, monkeypatch):
    if os.path.exists(
        "/sys/class/net/lo"
    ):  # the loopback device, whatever the hostname resolves to
        monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    out = tmp_path / "rank0.pt"
    try:
        mp.spawn(
            _rank_main, args=(2, name, str(tmp_path / "rendezvous"), str(out)), nprocs=2, join=True
        )
    except mp.ProcessExitedException as died:
        # A rank that dies before both have left the group fails the test (faulthandler's
        # stack is in the captured stderr). One that dies afterwards, in the interpreter's
        # exit, has finished its work; that is said, and the weights are checked. (A rank
        # aborted twice, once in CI and once in a local full run, with gloo's "terminate
        # called without an active exception"; where is unknown, and 245 runs of this
        # harness here did not repeat it.)
        if not all(_left_marker(str(out), rank).exists() for rank in (0, 1)):
            raise
        warnings.warn(
            f"a rank died at exit, after leaving the process group: {died}", stacklevel=1
        )
    parallel = torch.load(out, weights_only=True)
    model = build(name)
    history = model.fit(training_data(), device="cpu", seed=5, verbose=False)
    single = model.state_dict()
    assert parallel["state"].keys() == single.keys()
    worst = max(
        float((parallel["state"][k].float() - single[k].float()).abs().max()) for k in single
    )
    assert worst < 1e-4, f"largest weight difference {worst:.2e}"
    # the epoch's loss terms are means over the global batch too
    for a, b in zip(parallel["rows"], history.rows, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if key not in ("phase", "epoch", "seconds"):
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key


def _failing_rank_main(rank: int, port: int, fail_at: str, out: str) -> None:
    """Join as torchrun's rank ``rank`` of 2; rank 1 raises at ``fail_at``; write the error."""
    faulthandler.enable()
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    try:
        with process_group_from_environment(torch.device("cpu")):
            torch.distributed.all_reduce(torch.ones(1))  # both ranks have joined
            if rank == 1 and fail_at == "mid-training":
                raise ValueError(f"rank 1 failed {fail_at}")
            torch.distributed.all_reduce(torch.ones(1))  # rank 0 waits here for rank 1
            if rank == 1 and fail_at == "after-the-last-collective":
                raise ValueError(f"rank 1 failed {fail_at}")
    except BaseException as err:  # rank 0 is at the final barrier in the second case
        Path(f"{out}.rank{rank}").write_text(f"{type(err).__name__}: {err}")
        raise


@pytest.mark.parametrize("fail_at", ["mid-training", "after-the-last-collective"])
def test_one_rank_failing__the_other_ends_with_an_error_instead_of_waiting(
    fail_at, tmp_path, monkeypatch
):
    """Oracle: both processes end, both with a non-zero exit code, within a minute (gloo's own
    timeout is 30 minutes). The failed rank leaves without the final barrier; the other rank's
    collective or barrier then fails on the closed connection."""
    if os.path.exists("/sys/class/net/lo"):
        monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    out = str(tmp_path / "error")
    ranks = [
        context.Process(target=_failing_rank_main, args=(r, port, fail_at, out)) for r in (0, 1)
    ]
    for process in ranks:
        process.start()
    deadline = time.monotonic() + 60
    for process in ranks:
        process.join(max(deadline - time.monotonic(), 0.1))
    still_running = [r for r, process in enumerate(ranks) if process.is_alive()]
    for process in ranks:
        process.kill()
    assert not still_running, f"rank(s) {still_running} still waiting a minute after rank 1 failed"
    # both failed (1: the exception; a gloo abort at interpreter exit would read -6, which is
    # a failure too), and both reached their error handler first
    assert all(process.exitcode != 0 for process in ranks), [p.exitcode for p in ranks]
    assert Path(f"{out}.rank1").read_text() == f"ValueError: rank 1 failed {fail_at}"
    assert Path(f"{out}.rank0").read_text().startswith("RuntimeError")


def test_sharded_draws__each_rank_gets_its_rows_of_the_global_draw():
    """Oracle: one draw of the global shape from the same generator state, cut in two."""
    rows = {4}
    whole = torch.randn(8, 3, generator=gen(1))
    whole_int = torch.randint(10, (8,), generator=gen(2))
    for rank in (0, 1):
        with ShardedDraws(Shard(rank, 2), rows):
            part = torch.randn(4, 3, generator=gen(1))
            part_int = torch.randint(10, (4,), generator=gen(2))
            unsharded = torch.randn(3, generator=gen(1))  # not a per-row draw: made whole
        assert torch.equal(part, whole[4 * rank : 4 * rank + 4])
        assert torch.equal(part_int, whole_int[4 * rank : 4 * rank + 4])
        assert torch.equal(unsharded, torch.randn(3, generator=gen(1)))
    with ShardedDraws(Shard(0, 2), rows), pytest.raises(RuntimeError, match="cannot be sharded"):
        torch.empty(4).normal_()


def test_shard__a_batch_the_processes_cannot_share_is_refused():
    with pytest.raises(ValueError, match="batch of 33 rows cannot be shared by 2 processes"):
        Shard(0, 2).local_rows(33)


def test_local_rows__recorded_for_sharding_only_in_a_data_parallel_step():
    """One process records nothing: a compiled loss guards on the set, and a set that grew
    during the wake step made the sleep loss compile again (TORCH_LOGS=recompiles)."""
    from ddvi_genomics.core.training import StepContext

    alone = StepContext(0, 1, None)
    assert alone.local_rows(64) == 64 and alone.sharded_rows == set()
    ranked = StepContext(0, 1, None, shard=Shard(1, 2))
    assert ranked.local_rows(64) == 32 and ranked.sharded_rows == {32}
