"""End to end on a small three-population simulation, and one CLI test per bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from tests.genotype.conftest import write_vcf


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def ddvi_run(sim_files):
    out = sim_files["dir"] / "run"
    result = invoke(
        "infer",
        sim_files["vcf"],
        "--out",
        out,
        "--panel",
        sim_files["panel"],
        "--n-pcs",
        10,
        "--epochs",
        40,
        "--device",
        "cpu",
        "--seed",
        1,
    )
    assert result.exit_code == 0, result.output
    return out


def test_infer__separates_three_populations_and_writes_every_output(ddvi_run, sim_files):
    for suffix in (
        ".embedding.tsv",
        ".eigenvec",
        ".eigenval",
        ".png",
        ".metrics.json",
        ".model.pt",
        ".log",
        ".pcscores",
        ".eigenvec.allele",
        ".afreq",
    ):
        assert (ddvi_run.parent / (ddvi_run.name + suffix)).stat().st_size > 0, suffix
    table = pd.read_csv(f"{ddvi_run}.embedding.tsv", sep="\t")
    assert list(table.columns) == [
        "#IID",
        "DIM1",
        "DIM2",
        "DIM1_SD",
        "DIM2_SD",
        "POP",
        "SUPER_POP",
    ]
    assert (
        list(table["#IID"]) == sim_files["ids"] and (table[["DIM1_SD", "DIM2_SD"]] > 0).all().all()
    )
    metrics = json.loads(open(f"{ddvi_run}.metrics.json").read())
    assert metrics["knn20_cv_accuracy_population"] > 0.9  # chance is 1/3
    eigenvec = pd.read_csv(f"{ddvi_run}.eigenvec", sep="\t")
    assert list(eigenvec.columns[:3]) == ["#IID", "PC1", "PC2"] and eigenvec.shape == (150, 11)
    log = open(f"{ddvi_run}.log").read()
    assert "QC output: 400 variants x 150 samples" in log and "versions: ddvi-genomics" in log


def test_project__training_samples_land_on_their_embedding(ddvi_run, sim_files, tmp_path):
    result = invoke(
        "project",
        sim_files["vcf"],
        "--model",
        f"{ddvi_run}.model.pt",
        "--out",
        tmp_path / "p",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "400 matched, 0 with REF/ALT swapped, 0 absent" in result.output
    a = pd.read_csv(f"{ddvi_run}.embedding.tsv", sep="\t")
    b = pd.read_csv(tmp_path / "p.embedding.tsv", sep="\t")
    np.testing.assert_allclose(b[["DIM1", "DIM2"]], a[["DIM1", "DIM2"]], atol=1e-3)
    # the projected PCs are the training PC scores (oracle: infer's own .pcscores)
    pcs_infer = pd.read_csv(f"{ddvi_run}.pcscores", sep="\t").set_index("#IID")
    pcs_project = pd.read_csv(tmp_path / "p.pcscores", sep="\t").set_index("#IID")
    pc_columns = list(pcs_infer.columns)
    assert list(pcs_project.columns) == pc_columns + [
        "PC1_SD", "PC2_SD", "PC1_PC2_COV", "N_OBSERVED", "STATUS"
    ]  # fmt: skip
    scale = np.abs(pcs_infer.to_numpy()).max()
    np.testing.assert_allclose(
        pcs_project[pc_columns].to_numpy(), pcs_infer.to_numpy(), atol=1e-5 * scale
    )
    # complete samples: no spread, every variant observed
    np.testing.assert_allclose(pcs_project[["PC1_SD", "PC2_SD"]], 0.0, atol=1e-6 * scale)
    assert (pcs_project["N_OBSERVED"] == 400).all() and (pcs_project["STATUS"] == "ok").all()
    # the PNG draws them over the reference map found beside the model
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert "reference map: drawn under the new samples" in (tmp_path / "p.log").read_text()


def test_project__swapped_alleles_and_missing_variants(ddvi_run, sim_files, tmp_path):
    dosage = sim_files["dosage"]
    rows = np.flatnonzero(np.arange(400) % 4 != 0)  # one variant in four absent: 300 kept
    positions = (rows + 1) * 1000
    swapped, same = tmp_path / "swapped.vcf", tmp_path / "same.vcf"
    write_vcf(swapped, 2 - dosage[rows], sim_files["ids"], positions=positions, ref="G", alt="A")
    write_vcf(same, dosage[rows], sim_files["ids"], positions=positions)

    def project(vcf, out, *extra):
        model = f"{ddvi_run}.model.pt"
        return invoke("project", vcf, "--model", model, "--out", out, "--device", "cpu", *extra)

    result = project(swapped, tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "0 matched, 300 with REF/ALT swapped, 100 absent" in result.output
    assert project(same, tmp_path / "u").exit_code == 0
    part = pd.read_csv(tmp_path / "s.embedding.tsv", sep="\t")
    # oracle: flipping REF/ALT and the dosage back must give exactly the unswapped projection
    unswapped = pd.read_csv(tmp_path / "u.embedding.tsv", sep="\t")
    pd.testing.assert_frame_equal(part, unswapped)
    # a quarter of the variants imputed: coordinates stay close to the full-data ones
    full = pd.read_csv(f"{ddvi_run}.embedding.tsv", sep="\t")
    spread = full[["DIM1", "DIM2"]].to_numpy().std()
    shift = np.abs(part[["DIM1", "DIM2"]].to_numpy() - full[["DIM1", "DIM2"]].to_numpy()).mean()
    assert shift < 0.25 * spread
    low = project(swapped, tmp_path / "t", "--min-overlap", 0.9)
    assert low.exit_code == 2 and "at least 90% is required" in low.output


def test_project__sparse_samples_get_wider_posteriors_and_too_sparse_ones_are_flagged(
    ddvi_run, sim_files, tmp_path
):
    """The first 30 samples keep 8 % of their calls (32 of 400), the next 5 keep 4 (below the
    bayes minimum of 5: unplaceable), the next 5 keep 12 (fewer than 2 per PC: sparse), the
    rest are complete. Oracles: the complete samples' own posterior sd and position (infer's
    table), and the flag rule."""
    dosage = sim_files["dosage"].copy()
    rng = np.random.default_rng(0)
    for j in range(30):
        dosage[rng.permutation(400) >= 32, j] = -1
    for j in range(30, 35):
        dosage[rng.permutation(400) >= 4, j] = -1
    for j in range(35, 40):
        dosage[rng.permutation(400) >= 12, j] = -1
    vcf = tmp_path / "sparse.vcf"
    write_vcf(vcf, dosage, sim_files["ids"])
    model = f"{ddvi_run}.model.pt"
    result = invoke("project", vcf, "--model", model, "--out", tmp_path / "p", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "5 sample(s) unplaceable: fewer than 5 observed variants" in result.output
    assert "5 sample(s) sparse: fewer than 20 observed variants" in result.output
    table = pd.read_csv(tmp_path / "p.embedding.tsv", sep="\t")
    full = pd.read_csv(f"{ddvi_run}.embedding.tsv", sep="\t")
    assert list(table["STATUS"][:30]) == ["ok"] * 30
    assert list(table["STATUS"][30:35]) == ["unplaceable"] * 5
    assert table.loc[30:34, ["DIM1", "DIM2"]].isna().all().all()  # never drawn at the origin
    assert list(table["STATUS"][35:40]) == ["sparse"] * 5
    assert (table["N_OBSERVED"][:30] == 32).all() and (table["N_OBSERVED"][40:] == 400).all()
    sd = np.hypot(table["DIM1_SD"], table["DIM2_SD"])
    sd_complete = np.hypot(full["DIM1_SD"], full["DIM2_SD"])
    assert sd[:30].median() > 1.5 * sd_complete[:30].median()  # wider with 8 % of the calls
    assert (table["AREA90"][:30] > 0).all() and (table["MODES"][:30] >= 1).all()
    # complete samples are placed as from a complete file (the integrated draws are unbiased)
    shift = np.hypot(
        *(
            table.loc[35:, ["DIM1", "DIM2"]].to_numpy()
            - full.loc[35:, ["DIM1", "DIM2"]].to_numpy()
        ).T
    )
    assert np.median(shift) < 0.5 * np.median(sd_complete)
    page = (tmp_path / "p.html").read_text()
    assert "5 unplaceable, not drawn (STATUS)" in page  # the map says so too
    assert '"clouds":{"150":' in page  # the first new sample, after 150 reference samples
    log = (tmp_path / "p.log").read_text()
    assert (
        "projection: bayes" in log and "unplaceable samples (too few observed variants): 5" in log
    )
    # the table reads back without the unplaceable rows
    from ddvi_genomics.genotype.outputs.files import read_embedding_table

    assert len(read_embedding_table(tmp_path / "p.embedding.tsv")) == 145


def test_evaluate_and_plot_commands(ddvi_run, sim_files, tmp_path):
    result = invoke(
        "evaluate",
        f"{ddvi_run}.embedding.tsv",
        "--panel",
        sim_files["panel"],
        "--out",
        tmp_path / "m.json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["knn20_cv_accuracy_population"] > 0.9
    result = invoke(
        "plot",
        f"{ddvi_run}.embedding.tsv",
        "--out",
        tmp_path / "x.png",
        "--panel",
        sim_files["panel"],
    )
    assert result.exit_code == 0 and (tmp_path / "x.png").stat().st_size > 10_000


# -- bad input: one line, exit code 2, nothing written ---------------------------------------------


def fast(sim_files, out, *extra):
    return invoke("infer", sim_files["vcf"], "--out", out, "--method", "pca", *extra)


def assert_one_line_error(result, pattern):
    assert result.exit_code == 2, result.output
    assert pattern in result.output and "Traceback" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_bad_input__missing_file(tmp_path):
    assert_one_line_error(
        invoke("infer", tmp_path / "nope.vcf", "--out", tmp_path / "o"), "does not exist"
    )


def test_bad_input__not_a_vcf(tmp_path):
    junk = tmp_path / "junk.vcf"
    junk.write_text("hello\n")
    assert_one_line_error(invoke("infer", junk, "--out", tmp_path / "o"), "junk.vcf")


def test_bad_input__no_gt_field(tmp_path):
    text = (
        open("tests/data/tiny.vcf")
        .read()
        .replace('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n', "")
    )
    (tmp_path / "nogt.vcf").write_text(text)
    assert_one_line_error(
        invoke("infer", tmp_path / "nogt.vcf", "--out", tmp_path / "o"), "no FORMAT/GT"
    )


def test_bad_input__no_samples(tmp_path):
    write_vcf(tmp_path / "empty.vcf", np.zeros((3, 0), dtype=np.int8), [])
    assert_one_line_error(
        invoke("infer", tmp_path / "empty.vcf", "--out", tmp_path / "o"), "has no samples"
    )


def test_bad_input__duplicate_sample_ids(tmp_path):
    write_vcf(tmp_path / "dup.vcf", np.zeros((3, 2), dtype=np.int8), ["A", "A"])
    assert_one_line_error(
        invoke("infer", tmp_path / "dup.vcf", "--out", tmp_path / "o"), "duplicate sample ID 'A'"
    )


def test_bad_input__nothing_left_after_qc(sim_files, tmp_path):
    write_vcf(tmp_path / "x.vcf", sim_files["dosage"][:20], sim_files["ids"], contig="X")
    result = invoke("infer", tmp_path / "x.vcf", "--out", tmp_path / "o", "--method", "pca")
    assert_one_line_error(result, "nothing left after QC")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.log", "x.vcf"]  # the log alone
    assert (tmp_path / "o.log").read_text().splitlines()[-1] == "status: failed"


def test_bad_input__panel_matches_no_sample(sim_files, tmp_path):
    panel = tmp_path / "other.panel"
    panel.write_text("sample\tpop\tsuper_pop\tgender\nX1\tA\tB\tNA\n")
    assert_one_line_error(
        fast(sim_files, tmp_path / "o", "--panel", panel), "none of its 1 IDs match the 150"
    )


def test_panel_partial_match__warns_with_counts(sim_files, tmp_path):
    panel = tmp_path / "half.panel"
    lines = open(sim_files["panel"]).read().splitlines()
    panel.write_text("\n".join(lines[:76]) + "\n")
    result = fast(sim_files, tmp_path / "o", "--panel", panel)
    assert result.exit_code == 0, result.output
    assert "gives a label to 75 of 150 samples" in result.output and "half.panel" in result.output


def test_n_pcs_too_large__clamped_with_warning(sim_files, tmp_path):
    result = fast(sim_files, tmp_path / "o", "--n-pcs", 1000)
    assert result.exit_code == 0, result.output
    assert "--n-pcs 1000 is larger than possible" in result.output
    assert pd.read_csv(tmp_path / "o.eigenvec", sep="\t").shape[1] == 151


def test_output_exists__refused_without_force(sim_files, tmp_path):
    (tmp_path / "o.png").write_text("keep")
    assert_one_line_error(fast(sim_files, tmp_path / "o"), "use --force")
    assert (tmp_path / "o.png").read_text() == "keep"
    assert fast(sim_files, tmp_path / "o", "--force").exit_code == 0


def test_bad_input__region(sim_files, tmp_path):
    assert_one_line_error(fast(sim_files, tmp_path / "o", "--region", "1:500-100"), "bad --region")


def test_infer_example__pca_runs_on_the_bundled_1000_genomes_data(tmp_path):
    result = invoke("infer", "--example", "--method", "pca", "--out", tmp_path / "ex")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "ex.metrics.json").read_text())
    assert metrics["n_samples"] == 2504 and metrics["n_populations"] == 26
    assert metrics["knn20_cv_accuracy_super_population"] > 0.8


@pytest.mark.parametrize("method", ["vae", "aae"])
def test_infer_baselines__separate_populations_and_project(method, sim_files, tmp_path):
    """The VAE and the AAE with DDVI's cluster-head prior (the paper's baselines for genomes)."""
    out = tmp_path / method
    result = invoke(
        "infer",
        sim_files["vcf"],
        "--out",
        out,
        "--panel",
        sim_files["panel"],
        "--n-pcs",
        10,
        "--method",
        method,
        "--epochs",
        40,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(open(f"{out}.metrics.json").read())["knn20_cv_accuracy_population"] > 0.9
    columns = pd.read_csv(f"{out}.embedding.tsv", sep="\t", nrows=1).columns
    assert ("DIM1_SD" in columns) == (method == "vae")  # the AAE's codes have no spread
    proj = invoke(
        "project",
        sim_files["vcf"],
        "--model",
        f"{out}.model.pt",
        "--out",
        tmp_path / "p",
        "--device",
        "cpu",
    )
    assert proj.exit_code == 0, proj.output
    a = pd.read_csv(f"{out}.embedding.tsv", sep="\t")
    b = pd.read_csv(tmp_path / "p.embedding.tsv", sep="\t")
    np.testing.assert_allclose(b[["DIM1", "DIM2"]], a[["DIM1", "DIM2"]], atol=1e-3)


def test_log__written_from_the_start_with_run_facts_warnings_and_peak_memory(sim_files, tmp_path):
    import os
    import platform

    panel = tmp_path / "part.panel"
    lines = sim_files["panel"].read_text().splitlines()
    panel.write_text("\n".join(lines[:-10]) + "\n")  # 10 samples unlabelled
    result = invoke("infer", sim_files["vcf"], "--out", tmp_path / "o", "--method", "pca",
                    "--panel", panel, "--threads", 1, "--seed", 3)  # fmt: skip
    assert result.exit_code == 0, result.output
    log = (tmp_path / "o.log").read_text().splitlines()
    head = {ln.split(": ", 1)[0]: ln.split(": ", 1)[1] for ln in log[1:8] if ": " in ln}
    assert head["host"].startswith(platform.node())
    assert head["working directory"] == os.getcwd()
    assert head["seed"] == "3" and '"torch": 1' in head["threads"]
    assert "started" in head
    # the warning reached the log (with seconds since the start), not only stderr
    warning = next(ln for ln in log if "warning: " in ln)
    assert "gives a label to 140 of 150 samples" in warning and warning.startswith("[")
    assert any(ln.endswith("qc: started (400 variants x 150 samples)") for ln in log)
    assert any("pca: done in" in ln and "peak memory" in ln for ln in log)
    assert log[-3].startswith("peak memory: ") and log[-2].startswith("ended: ")
    assert log[-1] == "status: ok"


def test_log__a_failed_runs_log_is_replaced_without_force_a_good_run_is_not(sim_files, tmp_path):
    bad = invoke("infer", tmp_path / "absent.vcf", "--out", tmp_path / "o", "--method", "pca")
    assert bad.exit_code == 2
    assert (tmp_path / "o.log").read_text().splitlines()[-1] == "status: failed"
    good = invoke("infer", sim_files["vcf"], "--out", tmp_path / "o", "--method", "pca")
    assert good.exit_code == 0, good.output  # only a failure record was there
    again = invoke("infer", sim_files["vcf"], "--out", tmp_path / "o", "--method", "pca")
    assert again.exit_code == 2 and "exists; use --force" in again.output


def test_log__failure_under_force_leaves_no_outputs_of_the_earlier_run(sim_files, tmp_path):
    assert (
        invoke("infer", sim_files["vcf"], "--out", tmp_path / "o", "--method", "pca").exit_code
        == 0
    )
    bad = invoke("infer", tmp_path / "absent.vcf", "--out", tmp_path / "o", "--force")
    assert bad.exit_code == 2
    assert sorted(p.name for p in tmp_path.glob("o.*")) == ["o.log"]


def test_verbose__stage_lines_on_stderr_quiet_by_default(sim_files, tmp_path):
    runner = CliRunner()
    args = ["infer", str(sim_files["vcf"]), "--method", "pca"]
    loud = runner.invoke(main, [*args, "--out", str(tmp_path / "v"), "-v"])
    quiet = runner.invoke(main, [*args, "--out", str(tmp_path / "q")])
    assert loud.exit_code == quiet.exit_code == 0
    assert "INFO: pca: done in" in loud.output and "INFO: read 400 variants" in loud.output
    assert "pca: done" not in quiet.output


def test_log__api_callers_console_keeps_its_level(sim_files, tmp_path):
    """A run's log takes INFO lines; a caller's own WARNING-level handler still sees no INFO."""
    import logging

    from ddvi_genomics.genotype.pipeline import InferOptions, run_infer

    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record)

    root = logging.getLogger()
    handler, old_level = Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        run_infer(str(sim_files["vcf"]), str(tmp_path / "o"), InferOptions(method="pca"))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert "pca: done in" in (tmp_path / "o.log").read_text()
    assert not [r for r in seen if r.levelno < logging.WARNING]
    assert logging.getLogger("ddvi_genomics").propagate  # restored
