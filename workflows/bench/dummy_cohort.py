"""A ``plink2 --dummy`` cohort split in two, for the scale benchmarks (no population structure)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pandas as pd


def dummy_cohort(folder: Path, n_first: int, n_rest: int, n_variants: int) -> float:
    """Write ``n_first + n_rest`` samples x ``n_variants`` SNPs (2 % missing calls) in ``folder``.

    Files: ``all.bed/.bim/.fam`` (everyone), ``first.txt`` (FID IID of the first ``n_first``
    samples, a keep file), ``first.bed`` and ``rest.bed`` (with ``.bim``/``.fam``: the two parts).

    Returns
    -------
    float
        Seconds it took.
    """
    t0 = time.perf_counter()
    plink = ["plink2", "--threads", "2"]
    subprocess.run(plink + ["--dummy", str(n_first + n_rest), str(n_variants), "0.02", "acgt",
                            "--make-bed", "--out", str(folder / "all")],
                   check=True, capture_output=True)  # fmt: skip
    fam = pd.read_csv(folder / "all.fam", sep=r"\s+", header=None, dtype=str)
    fam.iloc[:n_first, :2].to_csv(folder / "first.txt", sep="\t", header=False, index=False)
    for name, flag in (("first", "--keep"), ("rest", "--remove")):
        subprocess.run(plink + ["--bfile", str(folder / "all"), flag, str(folder / "first.txt"),
                                "--make-bed", "--out", str(folder / name)],
                       check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - t0
