import contextlib

import pytest
import torch

torch.set_num_threads(2)

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@pytest.fixture(autouse=True)
def _restore_thread_limits():
    """Commands run in-process set process-wide thread limits (--threads); undo them per test."""
    import os

    from threadpoolctl import threadpool_info, threadpool_limits

    torch_threads = torch.get_num_threads()
    env = {k: os.environ.get(k) for k in _THREAD_ENV}
    pools = {p["user_api"]: p["num_threads"] for p in threadpool_info()}
    yield
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if {p["user_api"]: p["num_threads"] for p in threadpool_info()} != pools:
        threadpool_limits(limits=pools)


def _devices():
    params = [pytest.param("cpu", id="cpu")]
    reason = "CUDA is not available on this machine"
    params.append(
        pytest.param(
            "cuda",
            id="cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=reason),
        )
    )
    return params


@pytest.fixture(params=_devices())
def device(request):
    """Every test that takes this fixture runs on the CPU and, when present, on CUDA."""
    return torch.device(request.param)


def gen(seed, device="cpu"):
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


#: A DDVI small enough for unit tests: every phase runs, in well under a second.
TINY_DDVI = dict(
    hidden=(16,),
    context_hidden=(16,),
    denoiser_hidden=16,
    prior_pretrain_epochs=1,
    prior_pretrain_steps_per_epoch=5,
    stage1_epochs=1,
    epochs=2,
    batch_size=32,
    n_steps=6,
    prior_steps=4,
)


@contextlib.contextmanager
def eager_on_default_generator():
    """Make eager steps draw from torch's default generator, as compiled ones do."""
    from ddvi_genomics.core import training

    real = training._step_generator
    training._step_generator = lambda run: None
    try:
        yield
    finally:
        training._step_generator = real
