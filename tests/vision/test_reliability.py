"""``python -m vision``: run folders stay whole, bad input is one line, crafted files never run."""

import gzip
import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ddvi_genomics import DDVI
from vision.__main__ import main
from vision.data import DataError, read_cifar_batch, read_idx

SMOKE = ["--dataset", "mnist", "--prior", "pinwheel", "--synthetic", "--smoke", "--subset", 64,
         "--test-subset", 32, "--device", "cpu"]  # fmt: skip


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, pattern):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and pattern in result.output and "Traceback" not in result.output


def test_rerun_with_another_method_or_seed__refused_and_folder_untouched(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--method", "vae", "--out", run, *SMOKE).exit_code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    one_line_error(
        invoke("train", "--method", "ddvi", "--out", run, *SMOKE), "method 'vae' -> 'ddvi'"
    )
    one_line_error(
        invoke("train", "--method", "vae", "--seed", 1, "--out", run, *SMOKE), "seed 0 -> 1"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    again = invoke("train", "--method", "vae", "--out", run, *SMOKE)  # same spec: resumes
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("flag", ["--subset", "--test-subset", "--labels", "--epochs"])
def test_non_positive_sizes__one_line(flag, tmp_path):
    args = [a for a in SMOKE if a not in ("--subset", 64)] if flag == "--subset" else SMOKE
    result = invoke("train", "--method", "vae", "--out", tmp_path / "r", *args, flag, -5)
    one_line_error(result, f"'{flag}': -5 is not in the range x>=1")
    assert not (tmp_path / "r").exists()


def test_label_budget_beyond_the_training_set__names_labels_and_writes_nothing(tmp_path):
    result = invoke("train", "--method", "vae", "--semi", "--labels", 100, "--out",
                    tmp_path / "r", *SMOKE)  # fmt: skip
    one_line_error(result, "--labels 100 is not allowed: the training set has 64 images")
    assert not (tmp_path / "r").exists()


def test_truncated_checkpoint_on_resume__one_line_and_run_folder_untouched(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--method", "vae", "--out", run, *SMOKE).exit_code == 0
    (run / "metrics.json").unlink()  # an interrupted run: a checkpoint, no results yet
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    result = invoke("train", "--method", "vae", "--out", run, *SMOKE)
    one_line_error(result, "checkpoint.pt cannot be resumed from")
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()} == before


def test_truncated_idx__data_error(tmp_path):
    raw = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(range(100))
    data = gzip.compress(raw)
    (tmp_path / "t.gz").write_bytes(data[:-20])
    with pytest.raises(DataError, match="t.gz cannot be read"):
        read_idx(tmp_path / "t.gz")
    (tmp_path / "ok.gz").write_bytes(data)
    assert read_idx(tmp_path / "ok.gz").tolist() == list(range(100))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_cifar_batch__crafted_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil", "wb") as fh:
        pickle.dump({b"data": _Payload(marker), b"labels": [0]}, fh)
    with pytest.raises(DataError, match="evil: refusing to load io.open"):
        read_cifar_batch(tmp_path / "evil")
    assert not marker.exists()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}
    with open(tmp_path / "good", "wb") as fh:
        pickle.dump(good, fh)
    batch = read_cifar_batch(tmp_path / "good")
    assert batch[b"labels"] == [1, 2] and batch[b"data"].shape == (2, 3072)


def test_model_and_checkpoint__crafted_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format": "ddvi-genomics/DDVI", "x": _Payload(marker)}, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="m.pt cannot be read as a DDVI checkpoint"):
        DDVI.load(tmp_path / "m.pt")
    run = tmp_path / "run"
    assert invoke("train", "--method", "vae", "--out", run, *SMOKE).exit_code == 0
    torch.save({"model": _Payload(marker)}, run / "model.pt")
    one_line_error(invoke("evaluate", run, "--device", "cpu"), "model.pt cannot be read")
    assert not marker.exists()
    spec = json.loads((run / "spec.json").read_text())
    assert spec["method"] == "vae"
