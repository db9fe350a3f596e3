"""One thread budget: what --threads sets is what BGZF inflation, htslib and Dask's local
scheduler use (oracle: the number given, and a spy on dask.compute)."""

import numpy as np
import torch

from ddvi_genomics import threads


def test_limit_threads__sets_the_budget_every_pool_reads(monkeypatch):
    for name in threads._ENV_VARIABLES:  # restored after the test
        monkeypatch.setenv(name, "2")
    monkeypatch.setattr(threads, "_budget", None)
    before = torch.get_num_threads()
    try:
        used = threads.limit_threads(1)
        assert threads.thread_budget() == 1
        assert used["bgzf"] == used["htslib"] == used["dask"] == used["torch"] == 1
    finally:
        torch.set_num_threads(before)
        threads.limit_threads(before)


def test_bgzf_threads__budget_capped_at_four(monkeypatch):
    monkeypatch.setattr(threads, "_budget", 3)
    assert threads.bgzf_threads() == 3
    monkeypatch.setattr(threads, "_budget", 16)
    assert threads.bgzf_threads() == 4


def test_dask_local_scheduler__runs_on_the_budget(monkeypatch):
    import dask

    from ddvi_genomics.genotype.readers import store_tasks

    seen = {}
    real = dask.compute

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(threads, "_budget", 3)
    monkeypatch.setattr(dask, "compute", spy)
    tasks = [("unused", 0, 1, i) for i in range(5)]
    total = store_tasks.sum_over_chunks(lambda _, lo, hi, i: np.array([float(i)]), tasks)
    assert total.tolist() == [10.0]
    assert seen == {"scheduler": "threads", "num_workers": 3}
    assert store_tasks.tasks_at_once() == 3


def test_limit_threads__after_numba_launched_its_pool_later_compilations_still_run():
    """Regression: setting NUMBA_NUM_THREADS after numba's pool started made every later
    compilation (numba re-reads its settings then) raise "Cannot set NUMBA_NUM_THREADS to a
    different value once the threads have been launched". In a fresh interpreter: start the
    pool with 2 threads, budget 1, compile a new function."""
    import subprocess
    import sys

    code = (
        "import os; os.environ['NUMBA_NUM_THREADS'] = '2'\n"
        "import numba, numpy as np\n"
        "@numba.njit(parallel=True)\n"
        "def total(x):\n"
        "    s = 0.0\n"
        "    for i in numba.prange(len(x)):\n"
        "        s += x[i]\n"
        "    return s\n"
        "total(np.ones(10))\n"
        "from ddvi_genomics.threads import limit_threads\n"
        "used = limit_threads(1)\n"
        "print(numba.njit(lambda v: v + 1)(1), used['numba'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "1"]
