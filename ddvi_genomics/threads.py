"""One thread budget for every engine a run uses: torch, BLAS/OpenMP (NumPy, scikit-learn) and numba.

The default, ``auto``, counts the cores this process may run on and subtracts the load already
on them, then caps the result at :data:`AUTO_MAX_THREADS`: the genotype networks are small, so
threads beyond a few buy little on an idle machine, while oversubscribing a busy shared server
makes every OpenMP barrier wait for a descheduled thread (``workflows/bench/threads.py`` measures
both).

The load is the number of tasks of other processes runnable *now* (Linux: ``/proc/loadavg``'s
running count less this process's running threads, averaged over a few samples 5 ms apart). The
one-minute load average, used before, still counts work that ended a minute ago: right after
one run finished, the next one on an idle 2-core machine read 0.5 to 1.2 and took one thread.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

AUTO_MAX_THREADS = 4
"""Upper bound of the ``auto`` thread count."""

_budget: int | None = None  # set once by limit_threads(); read by every thread pool

_ENV_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
# Not NUMBA_NUM_THREADS: numba re-reads it whenever it compiles, and refuses to compile at all
# once its thread pool runs with another count; numba.set_num_threads applies the budget.


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for ``--threads auto``: idle cores, at least 1, at most :data:`AUTO_MAX_THREADS`.

    Parameters
    ----------
    cores : int, optional
        Usable cores (default :func:`usable_cores`).
    load : float, optional
        Runnable tasks already on the machine (default: :func:`runnable_elsewhere`, else the
        one-minute load average).
    """
    cores = usable_cores() if cores is None else cores
    if load is None:
        load = runnable_elsewhere()
    if load is None:  # not Linux: the one-minute load average
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform
            load = 0.0
    idle = cores - int(round(load))
    return max(1, min(idle, cores, AUTO_MAX_THREADS))


def runnable_elsewhere(
    samples: int = 5, interval: float = 0.005, proc: Path = Path("/proc")
) -> float | None:
    """Mean number of runnable tasks of other processes, sampled now; None off Linux.

    Each sample is the kernel's count of runnable tasks (``/proc/loadavg``, fourth field before
    the slash) less the threads of this process that are running (``/proc/self/task``).

    Parameters
    ----------
    samples : int
        Readings averaged.
    interval : float
        Seconds between readings.
    proc : Path
        Where procfs is mounted.
    """
    counts = []
    for i in range(samples):
        try:
            running = int((proc / "loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        counts.append(max(0, running - _own_running_threads(proc)))
        if i + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts)


def _own_running_threads(proc: Path) -> int:
    """Threads of this process in state R (running or runnable), this one included."""
    running = 0
    for stat in (proc / "self" / "task").glob("*/stat"):
        try:
            # the state follows the parenthesised command name, which may hold spaces
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return max(running, 1)


def parse_threads(value: str | int | None) -> int:
    """Turn ``--threads`` (``auto``, None or 1..usable cores) into a thread count.

    Raises
    ------
    ValueError
        For anything else.
    """
    if value is None or str(value).strip().lower() == "auto":
        return auto_threads()
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    cores = usable_cores()
    if not 1 <= n <= cores:
        raise ValueError(
            f"--threads must be 'auto' or an integer in [1, {cores}] (the cores this process "
            f"may use; more threads than cores only slow the run down); got {value!r}"
        )
    return n


def thread_budget() -> int:
    """Return the threads any one pool of this process may use.

    ``--threads`` once :func:`limit_threads` has run, else the usable cores.

    Read by the pools that are not global settings: BGZF inflation of text VCFs, htslib's
    decompression threads (cyvcf2) and Dask's local scheduler.
    """
    return _budget if _budget is not None else usable_cores()


def limit_threads(n: int) -> dict[str, int]:
    """Use at most ``n`` threads in every engine for the rest of the process.

    Sets the usual environment variables (read by libraries not loaded yet, torch included, and
    by child processes), :func:`torch.set_num_threads` when torch is loaded, threadpoolctl's limits on the loaded BLAS and
    OpenMP pools, numba's thread count when numba is loaded, and the budget that
    :func:`thread_budget` hands to BGZF inflation, htslib and Dask.

    Returns
    -------
    dict
        What each engine now uses, for the log: ``torch``, ``blas`` (the smallest loaded BLAS
        pool, or ``n``), ``numba`` (when loaded), and ``bgzf``, ``htslib``, ``dask``.
    """
    import sys

    global _budget
    _budget = int(n)
    for name in _ENV_VARIABLES:
        os.environ[name] = str(n)
    from threadpoolctl import threadpool_info, threadpool_limits

    torch_threads = n  # torch not loaded yet (a PCA-only run): it reads OMP_NUM_THREADS at import
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(n)
        torch_threads = torch.get_num_threads()
    threadpool_limits(limits=n)  # applies now, for the whole process
    pools = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    used = {"torch": torch_threads, "blas": min(pools) if pools else n}
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        used["numba"] = numba.get_num_threads()
    used.update(bgzf=bgzf_threads(), htslib=n, dask=n)
    return used


def bgzf_threads() -> int:
    """Threads that inflate BGZF blocks: the budget, at most 4 (more buy nothing measurable)."""
    return min(4, thread_budget())
