"""Every (method x setting) runs a smoke epoch on synthetic images and writes a complete run dir."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vision import presets
from vision.__main__ import main
from vision.benchmark import RunSpec, evaluate_run, load_data, train_labels, train_run

COMBOS = [(m, False) for m in presets.METHODS] + [(m, True) for m in presets.SEMI_METHODS]
FILES = (
    "spec.json",
    "config.json",
    "checkpoint.pt",
    "model.pt",
    "metrics.json",
    "latents.png",
    "samples.png",
    "provenance.json",
)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("method, semi", COMBOS)
def test_smoke_run__complete_directory_and_evaluate_reproduces(dataset, method, semi, tmp_path):
    spec = RunSpec(
        dataset,
        method,
        "pinwheel",
        semi,
        labels=20 if semi else None,
        synthetic=True,
        subset=64,
        test_subset=32,
        smoke=True,
    )
    metrics = train_run(spec, tmp_path, device="cpu")
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("knn_accuracy_k20", "latent_nll", "mmd2_unbiased", "train_seconds", "device"):
        assert key in saved
    assert (saved["elbo_per_example"] is None) == (method == "aae")
    assert ("class_head_accuracy" in saved) == (semi and method != "aae")
    again = evaluate_run(tmp_path, device="cpu")
    for key, value in again.items():
        if value is None:
            assert saved[key] is None
        else:
            assert value == pytest.approx(saved[key], rel=1e-5, abs=1e-6), key
    if semi:
        assert metrics["n_labelled"] == 20


def test_label_masking_in_the_runner__exactly_the_budget():
    spec = RunSpec("mnist", "vae", "pinwheel", True, labels=37, synthetic=True, subset=300)
    labels = train_labels(spec, load_data(spec)["y_train"])
    assert (labels >= 0).sum() == 37
    default = RunSpec("mnist", "vae", "pinwheel", True, synthetic=True, subset=3000)
    assert (
        train_labels(default, load_data(default)["y_train"]) >= 0
    ).sum() == 1000  # reference MNIST budget


def test_aliases__seed_readme_names_translate():
    assert presets.resolve("mnist", "diff_vae_warmup", "pin_wheel") == (
        "mnist",
        "ddvi",
        "pinwheel",
        False,
    )
    assert presets.resolve("cifar_semi", "diff_vae_warmup_semi", "swiss_roll") == (
        "cifar10",
        "ddvi",
        "swiss_roll",
        True,
    )
    assert presets.resolve("cifar", "aae", "less_noisy_square") == (
        "cifar10",
        "aae",
        "less_noisy_square",
        False,
    )
    assert presets.resolve("mnist_semi", "vae_semi", "pinwheel")[3] is True
    with pytest.raises(ValueError, match="h_iaf_vae.*is not allowed with --semi"):
        presets.resolve("mnist", "h_iaf_vae", "pinwheel", semi=True)


def test_presets__cite_the_reference_differences():
    cfg = presets.config_for("cifar10", "ddvi", "pinwheel", True)
    assert (
        cfg.stage1_kl_weight == 0.5 and cfg.context_dropout == 0.2 and cfg.likelihood == "gaussian"
    )
    assert presets.config_for("cifar10", "aae", "pinwheel", False).epochs == 100
    assert presets.config_for("mnist", "aae", "pinwheel", False).epochs == 200
    assert (
        presets.with_epochs(
            presets.config_for("mnist", "ddvi", "pinwheel", False), 3
        ).stage1_epochs
        == 3
    )


def test_cli__bad_method_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--dataset",
            "mnist",
            "--method",
            "gan",
            "--prior",
            "pinwheel",
            "--out",
            str(tmp_path),
            "--synthetic",
        ],
    )
    assert result.exit_code == 2 and "method='gan' is not allowed" in result.output


def test_normalisation__inputs_and_decoder_share_the_unit_interval(tmp_path):
    spec = RunSpec("cifar10", "vae", "pinwheel", synthetic=True, subset=32, smoke=True)
    data = load_data(spec)
    assert 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0
    from vision.benchmark import build_model

    samples = build_model(spec).sample(16).numpy()
    assert 0.0 <= samples.min() and samples.max() <= 1.0 and np.isfinite(samples).all()


def test_augmentation__only_training_batches_are_flipped(tmp_path, monkeypatch):
    import vision.data as vdata

    seen = []
    real = vdata.horizontal_flip

    def spy(batch, generator, **kw):
        seen.append(batch.shape[0])
        return real(batch, generator, **kw)

    monkeypatch.setattr(vdata, "horizontal_flip", spy)
    spec = RunSpec(
        "cifar10", "vae", "pinwheel", synthetic=True, subset=80, test_subset=24, smoke=True
    )
    before = load_data(spec)["x_test"].copy()
    train_run(spec, tmp_path, device="cpu")
    # one smoke epoch over the 80 training images: one static batch of 64 (the ragged 16 rows
    # are dropped), nothing else
    assert seen == [64]
    assert np.array_equal(load_data(spec)["x_test"], before)


def test_rerun__resumes_from_the_checkpoint_instead_of_retraining(tmp_path):
    import torch

    spec = RunSpec(
        "mnist", "vae", "pinwheel", synthetic=True, subset=64, test_subset=32, smoke=True
    )
    first = train_run(spec, tmp_path, device="cpu")
    weights = torch.load(tmp_path / "model.pt", weights_only=False)["state_dict"]
    second = train_run(spec, tmp_path, device="cpu")
    again = torch.load(tmp_path / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(weights[k], again[k]) for k in weights)  # no further training
    assert (
        second["seconds_per_epoch"] == first["seconds_per_epoch"]
    )  # history restored, nothing new
    assert second["knn_accuracy_k20"] == first["knn_accuracy_k20"]
    # the resumed run reports the training its epochs took, not the seconds of its own call
    trained = sum(float(row.split(",")[2]) for row in
                  (tmp_path / "history.csv").read_text().splitlines()[1:])  # fmt: skip
    assert trained > 0 and second["train_seconds"] >= trained


def test_runner__leaves_global_rngs_alone_and_is_deterministic(tmp_path):
    import torch

    spec = RunSpec(
        "mnist", "ddvi", "pinwheel", synthetic=True, subset=64, test_subset=32, smoke=True, seed=2
    )
    torch.rand(5)
    np.random.rand(5)
    torch_state, numpy_state = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
    first = train_run(spec, tmp_path / "a", device="cpu")
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    second = train_run(spec, tmp_path / "b", device="cpu")
    for key in ("knn_accuracy_k20", "latent_nll", "elbo_per_example"):
        assert first[key] == second[key], key
