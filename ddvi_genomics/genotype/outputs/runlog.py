"""``PREFIX.log``: written from the first step of a run, kept when the run fails.

The log opens as soon as the output set is claimed, with what PLINK users look for at its head
(start time, host, working directory, command, threads, memory, seed, options, versions). Every
record of the ``ddvi_genomics`` logger (stage lines, warnings such as "panel gives a label to
364 of 379 samples") and every Python warning goes to it as it happens, with the seconds since
the start; the end adds the summary, the peak memory and the end time.

A failed or interrupted run publishes only its log, which ends with the error: the other outputs
are discarded (and, under ``--force``, an earlier run's outputs are removed, so the files beside
the log always come from the run it describes).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import platform
import time
import warnings

from ...clitools import first_line
from ...core.progress import peak_rss_mib
from ...provenance import versions_line

LOGGER_NAMES = ("ddvi_genomics", "py.warnings")
STATUS_PREFIX = "status: "
"""The log's last line is ``status: ok`` or ``status: failed``."""


def is_failure_log(path) -> bool:
    """Whether ``path`` is the log of a failed run (which a new run may replace without --force)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - 64))
            tail = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return False
    return bool(tail) and tail[-1] == f"{STATUS_PREFIX}failed"


def total_memory_mib() -> float | None:
    """Physical memory of the machine in MiB (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


class _ElapsedFormatter(logging.Formatter):
    def __init__(self, start: float):
        super().__init__()
        self.start = start

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"[{time.perf_counter() - self.start:7.1f} s] {level}{record.getMessage()}"


class _ForwardToRoot(logging.Handler):
    """Pass records at or above ``level`` on to the root logger's handlers."""

    def __init__(self, level: int):
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


class RunLog:
    """The live log of one command, a context manager inside an open :class:`OutputSet`.

    Parameters
    ----------
    out : OutputSet
        The set the log belongs to (``PREFIX.log``).
    command_name : str
        ``infer`` or ``project``.
    header : dict
        ``key: value`` lines for the head of the log (command, input, options...).
    """

    def __init__(self, out, command_name: str, header: dict):
        self.out = out
        self.start = time.perf_counter()
        self.path = out.path(".log")
        self.stream = open(self.path, "w", buffering=1)
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setLevel(logging.INFO)
        self.handler.setFormatter(_ElapsedFormatter(self.start))
        self.closed = False
        self.started_utc = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        )
        memory = total_memory_mib()
        lines = [
            f"ddvi-genomics {command_name} (log of {out.prefix})",
            f"started: {_now()}",
            f"host: {platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs"
            + (f", {memory / 1024:.1f} GiB RAM)" if memory else ")"),
            f"working directory: {os.getcwd()}",
        ]
        self.stream.write("\n".join(lines + run_info_lines(header)) + "\n")

    def __enter__(self) -> RunLog:
        # The log takes INFO records; what the caller's own handlers see stays as it was: the
        # loggers stop propagating and forward only records at their former level or above.
        self._previous = []
        for name in LOGGER_NAMES:
            logger = logging.getLogger(name)
            former = logger.getEffectiveLevel()
            forward = _ForwardToRoot(former)
            self._previous.append((logger, logger.level, logger.propagate, forward))
            logger.setLevel(min(former, logging.INFO))
            logger.propagate = False
            logger.addHandler(self.handler)
            logger.addHandler(forward)
        self._capture = logging.captureWarnings(True)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("default")
        return self

    def write(self, lines) -> None:
        """Append lines (the run's summary) to the log."""
        self.stream.write("".join(f"{line}\n" for line in lines))

    def close(self, status: str = "ok") -> None:
        """End the log: peak memory, end time and ``status``; stop capturing records."""
        if self.closed:
            return
        self.closed = True
        self._detach()
        seconds = time.perf_counter() - self.start
        self.stream.write(
            f"peak memory: {peak_rss_mib():,.0f} MiB (resident)\n"
            f"ended: {_now()} after {seconds:.1f} s\n{STATUS_PREFIX}{status}\n"
        )
        self.stream.close()

    def _detach(self) -> None:
        self._warnings.__exit__(None, None, None)
        logging.captureWarnings(False)
        for logger, level, propagate, forward in self._previous:
            logger.removeHandler(self.handler)
            logger.removeHandler(forward)
            logger.setLevel(level)
            logger.propagate = propagate

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        if self.closed:  # failed after the log was finished (e.g. while publishing)
            return
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            message = f"interrupted ({type(exc).__name__}{f' {exc}' if str(exc) else ''})"
        else:
            message = f"error: {first_line(exc)}"
        with contextlib.suppress(Exception):
            self.stream.write(message + "\n")
        self.close(status="failed")
        with contextlib.suppress(StopIteration, OSError):  # publishing itself may have failed
            self.out.publish_alone(".log")


def run_info_lines(info: dict) -> list[str]:
    """``key: value`` log lines (dicts as JSON), then the versions line."""
    import json

    lines = [
        f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}"
        for k, v in info.items()
    ]
    return lines + [versions_line()]
