"""No host synchronisation inside an epoch: the loop reads the device once per epoch, not per step.

Oracle: every way a tensor's value can reach Python (``item``, ``tolist``, ``bool``, ``float``,
``int``, ``numpy``, ``cpu``) is counted while a model trains; on CUDA, so are the synchronising
calls that ``torch.cuda.set_sync_debug_mode("warn")`` reports, eager and with recorded steps. Two runs with the same epochs and
four times as many steps per epoch must count the same number of reads; one read per step anywhere
in a loss function or in the loop would add at least 3 per epoch.
"""

import warnings

import pytest
import torch

from ddvi_genomics.core.models import (
    AAE,
    DDVI,
    HIAFVAE,
    IAFVAE,
    VAE,
    AAESemi,
    DDVISemi,
    IAFVAESemi,
    VAESemi,
)
from tests.conftest import TINY_DDVI, gen

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu")


@pytest.fixture
def count_reads(monkeypatch):
    counter = {"n": 0}
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            counter["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counter


FAMILIES = {
    "ddvi-pinwheel": lambda: DDVI(12, **TINY_DDVI, prior="pinwheel"),
    "ddvi-genotype": lambda: DDVI(
        12,
        **{**TINY_DDVI, "prior_pretrain_epochs": 0, "stage1_epochs": 0},
        prior="learnable_mixture",
        likelihood="gaussian",
        sleep_grad_clip=0.1,
    ),
    "vae": lambda: VAE(12, hidden=(16,), epochs=2, batch_size=32),
    "iaf-vae": lambda: IAFVAE(12, hidden=(16,), epochs=2, batch_size=32),
    "h-iaf-vae": lambda: HIAFVAE(12, hidden=(16,), epochs=2, batch_size=32),
    "aae": lambda: AAE(12, hidden=(16,), epochs=2, batch_size=32),
    # K class diffusions, labelled and unlabelled rows in every batch
    "ddvi-semi": lambda: DDVISemi(12, **TINY_DDVI),
    "vae-semi": lambda: VAESemi(12, hidden=(16,), epochs=2, batch_size=32),
    "iaf-vae-semi": lambda: IAFVAESemi(12, hidden=(16,), epochs=2, batch_size=32),
    "aae-semi": lambda: AAESemi(12, hidden=(16,), epochs=2, batch_size=32, disc_hidden=(16,)),
}


def _reads_per_run(family, device, compile_mode, count_reads):
    counts = []
    for n in (64, 256):  # 2 and 8 steps per epoch of 32 rows
        x = torch.rand(n, 12, generator=gen(0))
        model = FAMILIES[family]()
        labels = (torch.arange(n) % 10).where(torch.arange(n) % 3 == 0, torch.tensor(-1))
        extra = (labels.numpy(),) if family.endswith("-semi") else ()
        count_reads["n"] = 0
        with warnings.catch_warnings(record=True) as synced:
            warnings.simplefilter("always")
            if device.type == "cuda":  # the driver's own count of synchronising calls too
                torch.cuda.set_sync_debug_mode("warn")
            try:
                model.fit(x, *extra, device=device, seed=0, verbose=False, compile=compile_mode)
            finally:
                if device.type == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in synced)
        counts.append((count_reads["n"], syncs))
    return counts


@pytest.mark.parametrize("family", FAMILIES)
def test_fit__device_reads_do_not_grow_with_steps(family, device, count_reads):
    modes = ["off"] if device.type == "cpu" else ["off", "cuda-graph"]
    for mode in modes:
        (reads2, syncs2), (reads8, syncs8) = _reads_per_run(family, device, mode, count_reads)
        assert reads2 == reads8, f"{family} ({mode}): {reads2} and {reads8} reads"
        # one synchronising call per step would add at least 6 per epoch; the driver's count
        # moved by one between the two runs on an H200 with no per-step call (allocator work)
        assert syncs8 - syncs2 <= 2, (
            f"{family} ({mode}): {syncs2} and {syncs8} synchronising calls"
        )
