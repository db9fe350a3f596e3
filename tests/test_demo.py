"""The README's main job: the digits quickstart through the command line, with a learning check."""

import json

import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main


@pytest.mark.slow
def test_demo__learns_digits_and_writes_outputs(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    # chance is 0.10; on this seed the run gives about 0.69 (see the closing note of issue 3)
    assert metrics["knn_accuracy"] > 0.5
    assert metrics["knn_accuracy"] > metrics["knn_accuracy_at_init"] + 0.3
    # the latents cover the pinwheel prior better than at initialisation
    assert metrics["latent_nll"] < metrics["latent_nll_at_init"] - 0.3
    assert (out / "latents.png").stat().st_size > 10_000
    from ddvi_genomics import DDVI

    assert DDVI.load(out / "model.pt").config.prior == "pinwheel"
    assert "kNN accuracy (k=20)" in result.output


def test_demo__refuses_to_overwrite_without_force(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "use --force" in result.output
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_demo__bad_device_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "x"), "--device", "tpu"])
    assert result.exit_code == 2
    assert "device='tpu' is not allowed" in result.output
    assert "Traceback" not in result.output


def test_demo__leaves_global_rngs_alone(tmp_path):
    import numpy as np
    import torch

    from ddvi_genomics.demo import DIGITS_CONFIG, run_digits_demo

    tiny = DIGITS_CONFIG.replace(
        hidden=(16,),
        context_hidden=(16,),
        prior_pretrain_epochs=1,
        prior_pretrain_steps_per_epoch=5,
        stage1_epochs=1,
        epochs=1,
    )
    torch.rand(5)
    np.random.rand(5)
    torch_state, numpy_state = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
    first = run_digits_demo(tmp_path / "a", seed=1, device="cpu", config=tiny, verbose=False)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    second = run_digits_demo(tmp_path / "b", seed=1, device="cpu", config=tiny, verbose=False)
    assert first["knn_accuracy"] == second["knn_accuracy"]
    assert first["latent_nll"] == second["latent_nll"]
