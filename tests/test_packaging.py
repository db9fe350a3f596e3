"""What a wheel holds, and that building it leaves the source tree as it was."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip(
    "tomllib", reason="tomllib is in the standard library from Python 3.11"
)

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_packages__hold_ddvi_genomics_and_vision_not_tests_or_workflows():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert packages == ["ddvi_genomics", "vision"]
    assert "python -m vision" in config["project"]["description"]


@pytest.mark.slow
def test_pip_wheel__holds_the_data_and_leaves_no_build_litter(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list untracked files")
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pytest.skip("hatchling is not installed (pip fetches it for a build; offline here)")
    before = _untracked_and_ignored()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert _untracked_and_ignored() == before
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ddvi_genomics/genotype/data/1kg_aisnp.vcf.gz" in names
    assert "ddvi_genomics/genotype/data/long_range_ld_grch37.txt" in names
    assert "vision/__main__.py" in names
    assert not any(n.startswith(("tests/", "workflows/")) or "__pycache__" in n for n in names)


def _untracked_and_ignored() -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored", "--untracked-files=all"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {line for line in out.splitlines() if "build/" in line or ".egg-info" in line}
