"""The workflow summariser: intervals against scipy, unfinished runs reported, the grid's cells."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workflows import grid
from workflows.cell import _parser
from workflows.summarise import markdown_lines, read_cell, summarise_groups


def test_summarise_groups__interval_equals_scipy_t_and_unfinished_runs_are_listed():
    values = [0.1, 0.2, 0.4]
    runs = pd.DataFrame(
        {
            "method": ["ddvi"] * 5 + ["vae"],
            "seed": [0, 1, 2, 3, 4, 0],
            "state": ["ok", "ok", "ok", "failed", "missing", "ok"],
            "error": [None, None, None, "RuntimeError: boom", None, None],
            "acc": [*values, np.nan, np.nan, 0.3],
        }
    )
    table = summarise_groups(runs, ["method"], ["acc"]).set_index("method")
    sd = np.std(values, ddof=1)
    half = stats.t.ppf(0.975, df=2) * sd / np.sqrt(3)
    assert table.loc["ddvi", "acc_mean"] == pytest.approx(np.mean(values))
    assert table.loc["ddvi", "acc_ci95"] == pytest.approx(half)
    assert (table.loc["ddvi", "n_ok"], table.loc["ddvi", "n_expected"]) == (3, 5)
    assert table.loc["ddvi", "missing"] == "seed4"
    assert table.loc["ddvi", "failed"] == "seed3: RuntimeError: boom"
    assert np.isnan(table.loc["vae", "acc_ci95"])  # one value: no interval
    text = "\n".join(markdown_lines(table.reset_index(), ["method"], [("acc", "accuracy")]))
    assert "| ddvi | 3/5 | 0.233 ± " in text
    assert "missing seed4; failed seed3: RuntimeError: boom" in text
    assert "| vae | 1/1 | 0.300 |" in text


def test_read_cell__reports_missing_failed_and_ok_runs(tmp_path):
    cfg = grid.load({"runs": str(tmp_path)})
    cells = [grid.GenotypeCell("sim", "pca-2d", s) for s in range(3)]
    for cell, status in zip(cells[:2], ("failed", "ok")):
        folder = tmp_path / cell.key
        (folder / "run").mkdir(parents=True)
        (folder / "status.json").write_text(json.dumps({"status": status, "error": "E: x"}))
    record = {"metrics": {"knn20_cv_accuracy_population": 0.5}, "total_seconds": 2.0}
    (tmp_path / cells[1].key / "run" / "metrics.json").write_text(json.dumps(record))
    rows = [read_cell(cfg, c) for c in cells]
    assert [r["state"] for r in rows] == ["failed", "ok", "missing"]
    assert rows[0]["error"] == "E: x"
    assert rows[1]["knn20_cv_accuracy_population"] == 0.5


def test_grid__ablation_reuses_the_reference_run_and_keys_round_trip():
    cfg = grid.load({"vision": {"seeds": [0]}})
    unsup = {c.key for c in grid.cells(cfg, "vision_unsupervised")}
    ablation = grid.cells(cfg, "ablation")
    shared = [c for c in ablation if c.key in unsup]
    # T = 40 (the preset) is the main grid's DDVI/pinwheel run, not a second copy
    assert [c.variant for c in shared] == ["ref"]
    assert sorted(c.variant for c in ablation) == ["T10", "T20", "T5", "T50", "elbo", "ref"]
    assert len(unsup) == 5 * 3  # methods x priors x 1 seed
    for cell in ablation + grid.cells(cfg, "genotype"):
        assert grid.cell_from_key(cell.key) == cell


def test_grid__cell_arguments_parse_with_the_cell_runner():
    cfg = grid.load({"vision": {"data_epochs": 10, "subset": 100}})
    cell = grid.VisionCell("mnist", "unsup", "vae", "pinwheel", "elbo", 2)
    args = _parser().parse_args(["vision", *cell.argv(cfg), "--out", "x"])
    assert (args.weights, args.seed, args.data_epochs, args.subset) == ("elbo", 2, 10, 100)
    semi = grid.VisionCell("mnist", "semi100", "ddvi", "pinwheel", "T5", 0)
    args = _parser().parse_args(["vision", *semi.argv(cfg), "--out", "x"])
    assert (args.semi, args.labels, args.diffusion_steps) == (True, 100, 5)


def test_grid__unknown_config_key_is_named():
    with pytest.raises(ValueError, match="unknown config key 'vision.sedes'"):
        grid.load({"vision": {"sedes": [0]}})


def test_cell_runner__a_run_that_raises_is_recorded_as_failed_with_its_error(tmp_path):
    from workflows.cell import main

    missing = tmp_path / "nowhere.vcf.gz"
    argv = ["genotype", "--genotypes", str(missing), "--panel", str(tmp_path / "p.panel")]
    assert main([*argv, "--method", "pca-2d", "--out", str(tmp_path / "cell")]) == 0
    status = json.loads((tmp_path / "cell" / "status.json").read_text())
    assert status["status"] == "failed"
    assert "nowhere.vcf.gz" in status["error"]
    cfg = grid.load({"runs": str(tmp_path)})
    (tmp_path / "genotype/x/pca-2d").mkdir(parents=True)
    (tmp_path / "cell").rename(tmp_path / "genotype/x/pca-2d/seed0")
    row = read_cell(cfg, grid.GenotypeCell("x", "pca-2d", 0))
    assert row["state"] == "failed" and "nowhere.vcf.gz" in row["error"]


def test_grid__semi_objectives_become_variants_and_reach_the_run_spec():
    cfg = grid.load(
        {
            "vision": {
                "seeds": [0],
                "semi": {
                    "methods": ["ddvi", "vae", "aae"],
                    "labels": {"mnist": [100, 600]},
                    "objectives": {"vae": ["m2", "reference"]},
                },
            }
        }
    )
    cells = grid.cells(cfg, "vision_semi")
    variants = sorted((c.setting, c.method, c.variant) for c in cells)
    assert variants == [
        (s, m, v)
        for s in ("semi100", "semi600")
        for m, v in (("aae", "ref"), ("ddvi", "m2"), ("vae", "m2"), ("vae", "reference"))
    ]
    vae_ref = next(c for c in cells if c.method == "vae" and c.variant == "reference")
    args = _parser().parse_args(["vision", *vae_ref.argv(cfg), "--out", "x"])
    assert args.semi_objective == "reference" and args.labels == int(vae_ref.setting[4:])
    aae = next(c for c in cells if c.method == "aae")
    assert "--semi-objective" not in aae.argv(cfg)
    assert read_cell(cfg, vae_ref)["objective"] == "reference"
    assert read_cell(cfg, aae)["objective"] == "adversarial"
    with pytest.raises(ValueError, match="objectives.vae: 'elbo'"):
        grid.cells(
            grid.load({"vision": {"semi": {"objectives": {"vae": ["elbo"]}}}}), "vision_semi"
        )


def test_run_spec__semi_objective_reaches_the_model_and_is_refused_where_it_does_not_apply():
    from vision.benchmark import RunSpec, build_model

    spec = RunSpec("mnist", "vae", "pinwheel", semi=True, semi_objective="reference", smoke=True)
    assert build_model(spec).config.semi_objective == "reference"
    assert (
        build_model(RunSpec("mnist", "iaf_vae", "pinwheel", semi=True)).config.semi_objective
        == "m2"
    )
    with pytest.raises(ValueError, match="applies to the semi-supervised"):
        RunSpec("mnist", "aae", "pinwheel", semi=True, semi_objective="m2")
    with pytest.raises(ValueError, match="without --semi"):
        RunSpec("mnist", "vae", "pinwheel", semi_objective="m2")


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["unsup", "semi40"])
def test_smoke_profile__a_cifar10_cell_runs(setting, tmp_path):
    """A CIFAR-10 cell of the smoke profile (synthetic 3 x 32 x 32 images, conv networks)."""
    import yaml

    from workflows.cell import main

    profile = yaml.safe_load(
        (grid.Path(__file__).parents[2] / "workflows/config/smoke.yaml").read_text()
    )
    cfg = grid.load({**profile, "runs": str(tmp_path)})
    variant = "m2" if setting.startswith("semi") else "ref"
    cell = grid.VisionCell("cifar10", setting, "vae", "pinwheel", variant, 0)
    assert main(["vision", *cell.argv(cfg), "--out", str(tmp_path / "cell")]) == 0
    status = json.loads((tmp_path / "cell" / "status.json").read_text())
    assert status["status"] == "ok", status
    metrics = json.loads((tmp_path / "cell" / "run" / "metrics.json").read_text())
    assert metrics["n_train"] == 128 and np.isfinite(metrics["elbo_per_example"])
    assert ("class_head_accuracy" in metrics) == setting.startswith("semi")
