"""The command line passes every option to the library unchanged (library calls mocked).

End-to-end runs live in tests/genotype/test_pipeline.py; these tests pin the wiring, so a flag
that silently stops reaching the library fails here.
"""

from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.mapping import QCOptions, example_paths
from ddvi_genomics.genotype.pipeline import InferOptions, PanelColumns


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def captured(target, returns):
    return mock.patch(target, return_value=returns)


INFER_RESULT = {"outputs": ["x"], "metrics": None, "map": None}


def test_infer__every_flag_reaches_run_infer():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        result = invoke(
            "infer", "in.vcf.gz", "--out", "pre", "--panel", "p.tsv",
            "--id-col", "IID", "--label-col", "POP", "--super-col", "SUPER",
            "--region", "2:100-200", "--samples", "keep.txt", "--n-pcs", 7,
            "--method", "vae", "--epochs", 3, "--min-maf", 0.05, "--max-missing", 0.2,
            "--thin", 1000, "--ld-prune", 50, 5, 0.2, "--seed", 9, "--device", "cpu",
            "--force", "-q",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    (input_path, prefix, opts), kwargs = run.call_args
    assert (input_path, prefix) == ("in.vcf.gz", "pre")
    assert opts == InferOptions(
        panel="p.tsv",
        columns=PanelColumns("IID", "POP", "SUPER"),
        region="2:100-200",
        samples_file="keep.txt",
        n_pcs=7,
        method="vae",
        seed=9,
        device="cpu",
        epochs=3,
        qc=QCOptions(min_maf=0.05, max_variant_missing=0.2, thin_bp=1000, ld_prune=(50, 5, 0.2)),
        force=True,
        verbose=False,
    )
    assert kwargs["command"].startswith("ddvi-genomics")


def test_infer__defaults_and_example_files():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        result = invoke("infer", "--example", "--out", "pre")
    assert result.exit_code == 0, result.output
    (input_path, _, opts), _ = run.call_args
    vcf, panel = example_paths()
    assert Path(input_path) == vcf and opts.panel == str(panel)
    assert opts == InferOptions(panel=str(panel), verbose=opts.verbose)
    assert opts.qc == QCOptions() and opts.verbose is None  # progress only on a terminal


def test_infer__threads_are_set_and_checked():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT):
        with mock.patch("torch.set_num_threads") as set_threads:
            assert invoke("infer", "x.vcf", "--out", "p", "--threads", 3).exit_code == 0
    set_threads.assert_called_once_with(3)
    bad = invoke("infer", "x.vcf", "--out", "p", "--threads", 0)
    assert bad.exit_code == 2 and "--threads must be >= 1" in bad.output


def test_project__every_flag_reaches_run_project():
    report = {"matched": 1, "swapped_ref_alt": 0, "absent": 0, "overlap": 1.0}
    with captured("ddvi_genomics.genotype.pipeline.run_project", report) as run:
        result = invoke(
            "project", "new.vcf", "--model", "m.model.pt", "--out", "o", "--samples", "s.txt",
            "--min-overlap", 0.8, "--device", "cpu", "--force",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    args, kwargs = run.call_args
    assert args == ("new.vcf", "m.model.pt", "o")
    assert {k: v for k, v in kwargs.items() if k != "command"} == {
        "samples_file": "s.txt",
        "min_overlap": 0.8,
        "min_confidence": 0.5,
        "device": "cpu",
        "force": True,
    }
    assert "1 matched, 0 with REF/ALT swapped, 0 absent" in result.output


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_evaluate_and_plot__panel_columns_reach_the_library(command, tmp_path):
    target = "evaluate_table" if command == "evaluate" else "plot_table"
    extra = ["--eigenvec", "e.eigenvec", "--seed", 4] if command == "evaluate" else []
    with captured(f"ddvi_genomics.genotype.pipeline.{target}", {}) as run:
        result = invoke(
            command, "emb.tsv", "--panel", "p.csv", "--id-col", "ID", "--label-col", "L",
            "--super-col", "S", "--out", tmp_path / "o", *extra,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    kwargs = run.call_args.kwargs
    assert kwargs["columns"] == PanelColumns("ID", "L", "S")
    if command == "evaluate":
        assert kwargs["eigenvec"] == "e.eigenvec" and kwargs["seed"] == 4


def test_infer__same_seed_gives_byte_identical_tables(tmp_path):
    vcf = "tests/data/tiny.vcf"
    base = ["infer", vcf, "--epochs", 2, "--n-pcs", 3, "--min-maf", 0, "--device", "cpu"]
    runs = [
        invoke(*base, "--seed", seed, "--out", tmp_path / name)
        for seed, name in ((1, "a"), (1, "b"), (2, "c"))
    ]
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    a, b, c = (Path(f"{tmp_path / n}.embedding.tsv").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_help__does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from ddvi_genomics.cli import main; "
        "r = CliRunner().invoke(main, ['infer', '--help']); "
        "print(r.exit_code, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"], out.stdout + out.stderr


def test_infer__contig_flags_reach_the_qc_options():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        assert (
            invoke("infer", "x.vcf", "--out", "p", "--chr", "1-2,X", "--all-contigs").exit_code
            == 0
        )
    qc = run.call_args.args[2].qc
    assert qc.contigs == ("1", "2", "X") and qc.autosomes_only is False
