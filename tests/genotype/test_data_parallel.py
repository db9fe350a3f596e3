"""``infer`` under torchrun: two gloo processes give the one-process map; only rank 0 writes.

Oracle: the one-process run of the same command (same seed, global batch and epochs).
"""

import os
import subprocess
import sys

import numpy as np
import pandas as pd


def _infer(args, out, *, ranks: int):
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        + [f"--nproc-per-node={ranks}", "-m", "ddvi_genomics"]
        if ranks > 1
        else [sys.executable, "-m", "ddvi_genomics"]
    )
    env = {"OMP_NUM_THREADS": "1"}
    if os.path.exists("/sys/class/net/lo"):  # gloo on the loopback device, whatever the hostname
        env["GLOO_SOCKET_IFNAME"] = "lo"
    done = subprocess.run(
        launcher + ["infer", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(f"{out}.embedding.tsv", sep="\t")
    return table.rename(columns={"#IID": "IID"})


def test_infer_under_torchrun__two_processes_equal_one(sim_files, tmp_path):
    args = [str(sim_files["vcf"]), "--panel", str(sim_files["panel"]), "--n-pcs", "5"]
    args += ["--epochs", "3", "--seed", "2", "--device", "cpu", "--threads", "1"]
    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    two = _infer(args, tmp_path / "two" / "map", ranks=2)
    one = _infer(args, tmp_path / "one" / "map", ranks=1)
    assert list(two.columns) == list(one.columns)
    numeric = [c for c in one.columns if one[c].dtype.kind == "f"]
    assert {"DIM1", "DIM2", "DIM1_SD"} <= set(numeric)
    assert (two["IID"] == one["IID"]).all()
    worst = np.abs(two[numeric].to_numpy() - one[numeric].to_numpy()).max()
    assert worst < 1e-3, f"largest embedding difference {worst:.2e}"
    # rank 1 wrote nothing beside rank 0's set
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    log = (tmp_path / "two" / "map.log").read_text()
    assert "data_parallel: 2 processes" in log
