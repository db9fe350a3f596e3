"""The command line passes every option to the library unchanged (library calls mocked).

End-to-end runs live in tests/genotype/test_pipeline.py; these tests pin the wiring, so a flag
that silently stops reaching the library fails here.
"""

import os
import time
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.mapping.ancestry_map import example_paths
from ddvi_genomics.genotype.pipeline import InferOptions, PanelColumns
from ddvi_genomics.genotype.qc.recipe import QCOptions


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
            "--bp-space", 1000, "--ld-prune", 50, 5, 0.2, "--seed", 9, "--device", "cpu",
            "--memory", 64, "--recipe", "ours", "--compile", "default", "--force", "-q",
            "--fit-subset", 100,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    (inputs, prefix, opts), kwargs = run.call_args
    assert (inputs, prefix) == (["in.vcf.gz"], "pre")
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
        memory_mib=64.0,
        compile="default",
        fit_subset=100,
        force=True,
        verbose=False,
    )
    assert kwargs["command"].startswith("ddvi-genomics")
    assert kwargs["threads"]["torch"] >= 1


def test_infer__several_inputs_reach_run_infer_in_order():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        result = invoke("infer", "chr2.bcf", "chr1.vcf.gz", "p.pgen", "--out", "pre", "-q")
    assert result.exit_code == 0, result.output
    assert run.call_args.args[0] == ["chr2.bcf", "chr1.vcf.gz", "p.pgen"]


def test_infer__defaults_and_example_files():
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        result = invoke("infer", "--example", "--out", "pre")
    assert result.exit_code == 0, result.output
    (inputs, _, opts), _ = run.call_args
    vcf, panel = example_paths()
    assert [Path(p) for p in inputs] == [vcf] and opts.panel == str(panel)
    assert opts == InferOptions(panel=str(panel), verbose=opts.verbose)
    assert opts.qc == QCOptions() and opts.verbose is None  # progress only on a terminal


@pytest.mark.parametrize("command", ["infer", "project"])
def test_threads__every_engine_is_limited_and_the_value_checked(command):
    from threadpoolctl import threadpool_info

    target = f"ddvi_genomics.genotype.pipeline.run_{command}"
    returns = INFER_RESULT if command == "infer" else {
        "matched": 1, "swapped_ref_alt": 0, "absent": 0, "overlap": 1.0
    }  # fmt: skip
    extra = ["--model", "m.pt"] if command == "project" else []
    with captured(target, returns) as run:
        assert invoke(command, "x.vcf", "--out", "p", *extra, "--threads", 1).exit_code == 0
        import os

        import torch

        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert run.call_args.kwargs["threads"]["torch"] == 1
    for bad in ("0", "-2", "many"):
        result = invoke(command, "x.vcf", "--out", "p", *extra, "--threads", bad)
        assert (
            result.exit_code == 2
            and "--threads must be 'auto' or an integer in [1, " in result.output
        )


def test_auto_threads__idle_cores_capped():
    from ddvi_genomics.threads import AUTO_MAX_THREADS, auto_threads

    assert auto_threads(cores=16, load=0.0) == AUTO_MAX_THREADS
    assert auto_threads(cores=16, load=13.6) == 2  # 16 - 14 idle cores
    assert auto_threads(cores=8, load=10.0) == 1  # oversubscribed: one thread, never zero
    assert auto_threads(cores=2, load=0.4) == 2


def _fake_proc(root, running: int, states: list[str]):
    root.mkdir(exist_ok=True)
    (root / "loadavg").write_text(f"1.52 1.10 0.90 {running}/412 9999\n")
    for i, state in enumerate(states):
        task = root / "self" / "task" / str(100 + i)
        task.mkdir(parents=True)
        task.joinpath("stat").write_text(f"{100 + i} (python3 (a) b) {state} 1 2 3 4\n")
    return root


def test_runnable_elsewhere__running_tasks_less_this_process_running_threads(tmp_path):
    """Oracle: the counts written into a fake procfs (command names with spaces and brackets)."""
    from ddvi_genomics.threads import auto_threads, runnable_elsewhere

    proc = _fake_proc(tmp_path, running=5, states=["R", "S", "R", "D"])
    assert runnable_elsewhere(samples=3, interval=0.0, proc=proc) == 3.0  # 5 less our 2
    assert runnable_elsewhere(proc=tmp_path / "absent") is None
    idle = _fake_proc(tmp_path / "idle", running=1, states=["R"])
    assert runnable_elsewhere(samples=2, interval=0.0, proc=idle) == 0.0
    # the one-minute average (1.52 here) is not what auto reads: an idle 2-core machine gets 2
    with mock.patch("ddvi_genomics.threads.runnable_elsewhere", return_value=0.0):
        assert auto_threads(cores=2) == 2


@pytest.mark.skipif(
    not os.path.exists("/proc/loadavg"),
    reason="the runnable-task count reads Linux procfs (elsewhere --threads auto uses the load "
    "average; the fake-procfs test above runs everywhere)",
)
def test_runnable_elsewhere__sees_busy_processes_at_once():
    """Two busy-looping children are runnable all the time: at least 2, without waiting a minute."""
    import subprocess
    import sys

    from ddvi_genomics.threads import runnable_elsewhere

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)
        assert runnable_elsewhere() >= 2
    finally:
        for child in busy:
            child.kill()
            child.wait()


def test_project__every_flag_reaches_run_project():
    report = {"matched": 1, "swapped_ref_alt": 0, "absent": 0, "overlap": 1.0}
    with captured("ddvi_genomics.genotype.pipeline.run_project", report) as run:
        result = invoke(
            "project", "new.vcf", "--model", "m.model.pt", "--out", "o", "--keep", "s.txt",
            "--remove", "rm.txt", "--min-overlap", 0.8, "--device", "cpu", "--reference", "r.tsv",
            "--force", "--projection", "lsq",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    args, kwargs = run.call_args
    assert args == (["new.vcf"], "m.model.pt", "o")
    assert {k: v for k, v in kwargs.items() if k not in ("command", "threads")} == {
        "samples_file": "s.txt",
        "remove_file": "rm.txt",
        "min_overlap": 0.8,
        "min_confidence": 0.5,
        "device": "cpu",
        "reference": "r.tsv",
        "force": True,
        "projection": "lsq",
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


def test_infer__paper_recipe_reaches_the_network_config_and_is_ddvi_only():
    from ddvi_genomics.genotype.mapping.embed import GENOTYPE_DDVI_PAPER_CONFIG

    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        assert invoke("infer", "x.vcf", "--out", "p", "--recipe", "paper", "-q").exit_code == 0
    opts = run.call_args.args[2]
    assert opts.recipe == "paper" and opts.network_config() == GENOTYPE_DDVI_PAPER_CONFIG
    bad = invoke("infer", "x.vcf", "--out", "p", "--recipe", "paper", "--method", "vae")
    assert bad.exit_code == 2 and "--recipe paper applies to --method ddvi only" in bad.output


def test_infer__compile_reaches_the_network_fit(tmp_path, monkeypatch):
    """``--compile`` goes from the command line to the family's ``fit`` (the choices are fit's)."""
    from ddvi_genomics.core.models.base import LatentVariableModel
    from ddvi_genomics.core.training import COMPILE_MODES

    choices = next(p for p in main.commands["infer"].params if p.name == "compile").type.choices
    assert tuple(choices) == COMPILE_MODES
    seen, real_fit = [], LatentVariableModel.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs["compile"])
        return real_fit(self, *args, **{**kwargs, "compile": "off"})  # no minutes of compiling

    monkeypatch.setattr(LatentVariableModel, "fit", spy)
    result = invoke(
        "infer", "--example", "--out", tmp_path / "c", "--method", "vae", "--epochs", 1,
        "--compile", "reduce-overhead", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen == ["reduce-overhead"]


def _infer_options(*args):
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT) as run:
        result = invoke("infer", *args, "--out", "pre", "-q")
    assert result.exit_code == 0, result.output
    (inputs, _, opts), _ = run.call_args
    return inputs, opts


@pytest.mark.parametrize(
    "plink_form, long_form",
    [
        (["--bfile", "data"], ["data.bed"]),
        (["--pfile", "data"], ["data.pgen"]),
        (["--vcf", "x.vcf.gz"], ["x.vcf.gz"]),
        (["--bcf", "x.bcf", "--maf", "0.05"], ["x.bcf", "--min-maf", "0.05"]),
        (["in.vcf", "--pca"], ["in.vcf", "--n-pcs", "10"]),
        (["in.vcf", "--pca", "5", "approx"], ["in.vcf", "--n-pcs", "5"]),
        (["in.vcf", "--hwe", "1e-6", "midp"], ["in.vcf", "--hwe", "1e-6", "--hwe-midp"]),
        (["in.vcf", "--extract", "range", "r.txt"], ["in.vcf", "--extract-range", "r.txt"]),
        (["in.vcf", "--exclude", "bed1", "r.txt"], ["in.vcf", "--exclude-range", "r.txt"]),
        (["in.vcf", "--indep-pairwise", "50", "5", "0.2"], ["in.vcf", "--ld-prune", "50", "5", "0.2"]),
        (["in.vcf", "--indep-pairwise", "50", "0.2"], ["in.vcf", "--ld-prune", "50", "1", "0.2"]),
        (["in.vcf", "--indep-pairwise", "500kb", "0.2"],
         ["in.vcf", "--ld-prune", "500", "1", "0.2", "--ld-prune-kb"]),
        (["in.vcf", "--indep-pairwise", "500", "kb", "1", "0.2"],
         ["in.vcf", "--ld-prune", "500", "1", "0.2", "--ld-prune-kb"]),
        (["in.vcf", "--maf", "--geno", "--mind"],
         ["in.vcf", "--min-maf", "0.01", "--max-missing", "0.1", "--mind", "0.1"]),
        (["in.vcf", "--thin", "0.25", "--seed", "3"], ["in.vcf", "--thin", "0.25", "--seed", "3"]),
    ],
)  # fmt: skip
def test_plink_forms__same_options_as_the_long_forms(plink_form, long_form, tmp_path):
    ranges = tmp_path / "r.txt"
    ranges.write_text("1 1 1000\n")
    fix = [str(ranges) if a == "r.txt" else a for a in plink_form]
    assert _infer_options(*fix) == _infer_options(
        *[str(ranges) if a == "r.txt" else a for a in long_form]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["in.vcf", "--maf", "0.7"], "'--maf': 0.7 is not in the range"),
        (["in.vcf", "--min-maf", "0.7"], "'--min-maf': 0.7 is not in the range"),
        (["in.vcf", "--hwe", "0.01", "keep-fewhet"], "keep-fewhet is not offered"),
        (["in.vcf", "--extract", "bed0", "r.txt"], "--extract bed0 (0-based ranges) is not"),
        (["in.vcf", "--thin", "1000"], "--thin keeps each variant with probability P in (0, 1]"),
        (["in.vcf", "--indep-pairwise", "500kb", "5", "0.2"], "a window in kb needs STEP 1"),
    ],
)
def test_plink_forms__errors_name_what_was_typed(args, message):
    with captured("ddvi_genomics.genotype.pipeline.run_infer", INFER_RESULT):
        result = invoke("infer", *args, "--out", "pre")
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_pca_map__infer_and_project_never_import_torch(tmp_path):
    """A PCA map (QC, PCA, files, the model) and its projection start without torch."""
    import subprocess
    import sys

    vcf = Path(__file__).parent / "data" / "tiny.vcf"
    script = (
        "import sys\n"
        "from ddvi_genomics.cli import main\n"
        "for args in (['infer', sys.argv[1], '--out', sys.argv[2] + '/m', '--method', 'pca',\n"
        "              '--min-maf', '0', '--n-pcs', '2', '-q'],\n"
        "             ['project', sys.argv[1], '--model', sys.argv[2] + '/m.model.pt',\n"
        "              '--out', sys.argv[2] + '/p', '-q']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code in (0, None), done.code\n"
        "print('torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(vcf), str(tmp_path)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
    assert (tmp_path / "m.model.pt").is_file() and (tmp_path / "p.embedding.tsv").is_file()
