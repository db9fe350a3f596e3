import pytest
import torch

torch.set_num_threads(2)


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
