"""The smoke profile of every workflow, run for real through Snakemake (about a minute on 2 cores).

Checks the tables and figures it writes, that a second run does nothing (Snakemake's up-to-date
check), and that an interrupted cell is the only work a re-run does.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ("vision_unsupervised", "vision_semi", "ablation", "genotype")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("snakemake", path=str(Path(sys.executable).parent)) is None,
        reason="snakemake is in the [test] and [workflows] extras and not installed here",
    ),
]
pytest.importorskip(
    "msprime", reason="the genotype workflow simulates with msprime ([test] extra)"
)


def snakemake(tmp_path: Path, *extra: str) -> str:
    """Run the smoke profile from the repository root with runs and results under ``tmp_path``."""
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        "workflows/Snakefile",
        "--profile",
        "workflows/profiles/smoke",
        "--config",
        f"runs={tmp_path}/runs",
        f"results={tmp_path}/results",
        *extra,
    ]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def jobs_run(log: str, rule: str) -> int:
    """How many jobs of ``rule`` a Snakemake log says it ran."""
    return log.count(f"rule {rule}:")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    return tmp, snakemake(tmp)


def test_smoke_profile__every_workflow_writes_complete_tables_and_figures(smoke_run):
    tmp, _ = smoke_run
    results = tmp / "results"
    for workflow in WORKFLOWS:
        table = pd.read_csv(results / f"{workflow}.csv")
        assert len(table) > 0
        assert (table["n_ok"] == table["n_expected"]).all(), table[["n_ok", "failed"]]
        assert table.filter(like="_mean").notna().any(axis=1).all()
        text = (results / f"{workflow}.md").read_text()
        assert "Provenance: commit" in text and "n/a | n/a | n/a" not in text
        figures = [line for line in text.splitlines() if line.startswith("![")]
        assert figures, f"{workflow}.md shows no figure"
        for line in figures:
            assert (results / line.split("(")[1].rstrip(")")).stat().st_size > 1000
    unsup = pd.read_csv(results / "vision_unsupervised.csv")
    assert set(zip(unsup["method"], unsup["weights"])) == {
        ("ddvi", "reference"),
        ("ddvi", "elbo"),
        ("vae", "reference"),
        ("vae", "elbo"),
    }
    assert sorted(pd.read_csv(results / "ablation.csv")["T"]) == [2, 5, 40, 40]


def test_smoke_profile__rerun_does_nothing_and_an_interrupted_cell_resumes(smoke_run):
    tmp, _ = smoke_run
    assert "Nothing to be done" in snakemake(tmp, "-n")
    # the state an interruption leaves: one cell without its status (written last), and the
    # workflow's summary not yet written
    interrupted = tmp / "runs/genotype/ooa/pca-2d/seed1/status.json"
    interrupted.unlink()
    for suffix in (".md", ".csv"):
        (tmp / "results" / f"genotype{suffix}").unlink()
    log = snakemake(tmp)
    assert jobs_run(log, "genotype_cell") == 1 and jobs_run(log, "summarise") == 1
    assert jobs_run(log, "vision_cell") == 0 and jobs_run(log, "simulate") == 0
    assert interrupted.is_file() and (tmp / "results/genotype.md").is_file()
