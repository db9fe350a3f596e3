"""What a wheel holds: the genotype tool and the vision benchmarks (the description says so)."""

from pathlib import Path

import pytest
from setuptools import find_packages

tomllib = pytest.importorskip(
    "tomllib", reason="tomllib is in the standard library from Python 3.11"
)

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_packages__hold_ddvi_genomics_and_vision_not_tests_or_workflows():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = set(find_packages(str(ROOT), include=include))
    assert {"ddvi_genomics", "ddvi_genomics.core", "ddvi_genomics.genotype", "vision"} <= packages
    assert not any(p.startswith(("tests", "workflows")) for p in packages)
    assert "python -m vision" in config["project"]["description"]
