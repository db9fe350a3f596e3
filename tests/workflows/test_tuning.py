"""The fair-tuning protocol's invariants: equal budgets, disjoint data, selection, intervals."""

import numpy as np
import pytest
from scipy import stats

from workflows import tune_genotype as tg
from workflows.tuning_report import report_table


def test_every_method_gets_the_same_budget_and_ddvi_and_vae_the_same_grid():
    budgets = {m: len(tg.grid_configs(g)) for m, g in tg.GRIDS.items()}
    assert budgets.pop("pca-2d") == 1  # no knob
    assert set(budgets.values()) == {8}
    assert tg.GRIDS["ddvi"] == tg.GRIDS["vae"]
    for method, default in tg.DEFAULTS.items():  # every default is a point of its grid
        if method in tg.GRIDS:
            assert default in tg.grid_configs(tg.GRIDS[method])


def test_split__halves_disjoint_complete_and_stratified():
    from ddvi_genomics.genotype import example_paths, read_panel

    tune, report = tg.split_example()
    panel = read_panel(example_paths()[1])
    assert not set(tune) & set(report)
    assert sorted([*tune, *report]) == sorted(panel.index)
    per_pop_tune = panel.loc[tune, "population"].value_counts()
    per_pop_report = panel.loc[report, "population"].value_counts()
    assert (per_pop_tune - per_pop_report).abs().max() <= 1


def test_report_seeds_differ_from_the_tuning_seed_and_search_runs_on_the_tuning_half():
    assert tg.TUNING_SEED not in tg.REPORT_SEEDS
    cells = tg.search_cells(tg.GRIDS)
    assert {c.dataset for c in cells} == {"tune"} and {c.seed for c in cells} == {tg.TUNING_SEED}
    assert len(cells) == 8 * 4 + 1


def record(method, knn, spearman, params):
    return {"method": method, "params": params, "label": tg.config_name(params),
            "metrics": {tg.SELECTION_METRIC: knn, tg.TIE_BREAK_METRIC: spearman}}  # fmt: skip


def test_select__best_knn_wins_then_spearman_breaks_ties():
    records = [
        record("tsne", 0.30, 0.9, {"perplexity": 10}),
        record("tsne", 0.35, 0.7, {"perplexity": 30}),
        record("tsne", 0.35, 0.8, {"perplexity": 50}),
        record("umap", 0.20, 0.5, {"n_neighbors": 15}),
    ]
    assert tg.select(records) == {"tsne": {"perplexity": 50}, "umap": {"n_neighbors": 15}}


def test_report_cells__default_beside_selected_only_when_they_differ():
    selected = {
        "ddvi": tg.DEFAULTS["ddvi"],
        "vae": {"kl_weight": 0.001, "n_pcs": 10, "epochs": 300},
    }
    cells = tg.report_cells(selected, ["report"], [0, 1])
    labels = {(c.method, c.label) for c in cells}
    assert ("ddvi", "default") not in labels and ("vae", "default") in labels
    assert ("pca-10d", "default") in labels
    assert len(cells) == 2 * (1 + 2 + len(tg.REFERENCE_ROWS))


def test_report_table__mean_and_interval_equal_scipy():
    knn = [0.31, 0.35, 0.33, 0.30, 0.36]
    records = [
        {"dataset": "report", "method": "vae", "label": "selected", "params": {}, "seed": s,
         "seconds": 10.0 + s, "metrics": {tg.SELECTION_METRIC: v}}
        for s, v in enumerate(knn)
    ]  # fmt: skip
    row = report_table(records).iloc[0]
    half = stats.t.ppf(0.975, 4) * np.std(knn, ddof=1) / np.sqrt(5)
    assert row[tg.SELECTION_METRIC] == pytest.approx(np.mean(knn))
    assert row[f"{tg.SELECTION_METRIC}_ci95"] == pytest.approx(half)
    assert row["seconds"] == pytest.approx(12.0) and row["seeds"] == 5


def test_extended_ddvi_search__eight_more_configurations_reported_without_a_default_row():
    grids = tg.extended_grids()
    assert len(tg.grid_configs(grids["ddvi-extended"])) == 8
    assert all(c["kl_weight"] == 0.001 for c in tg.grid_configs(grids["ddvi-extended"]))
    params = tg.grid_configs(grids["ddvi-extended"])[0]
    cells = tg.report_cells({"ddvi-extended": params}, ["report"], [0])
    assert [(c.method, c.label) for c in cells if c.method == "ddvi-extended"] == [
        ("ddvi-extended", "selected")
    ]
    assert tg.config_name({"objective": "elbo", "n_steps": 40}) == "n_steps40-objectiveelbo"


def test_command_line__every_documented_flag_parses():
    args = tg.parse_args(["--out", "o", "--jobs", "1", "--smoke", "--extended-ddvi"])
    assert (args.out, args.jobs, args.smoke, args.extended_ddvi) == ("o", 1, True, True)
    assert not tg.parse_args([]).extended_ddvi


def test_write_tuning_results__text_valued_knobs_are_written(tmp_path):
    from workflows.tuning_report import write_tuning_results

    params = {"objective": "elbo", "n_steps": 40}
    rec = {"dataset": "report", "method": "ddvi-extended", "label": "selected", "params": params,
           "seed": 0, "seconds": 1.0, "metrics": {tg.SELECTION_METRIC: 0.3, tg.TIE_BREAK_METRIC: 0.8}}  # fmt: skip
    record = {
        "protocol": {"split_seed": 1, "tuning_seed": 2, "report_seeds": [0]},
        "selected": {"ddvi-extended": params},
        "search": [{**rec, "label": tg.config_name(params)}],
        "report": [rec],
        "wall_seconds": 60.0,
        "provenance": {"versions": {}},
    }
    write_tuning_results(tmp_path, record)
    text = (tmp_path / "tuning.md").read_text()
    assert "selected (n_steps=40, objective=elbo)" in text and "extra budget" in text
