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
