"""Progress lines on stderr: per-epoch loss with an ETA, and rows per second while reading.

Both reporters share one rule: ``verbose=None`` means "only when the stream is a terminal", so
pipelines, log files and CI stay quiet unless asked.
"""

from __future__ import annotations

import sys
import time


def progress_enabled(verbose: bool | None, stream) -> bool:
    """Return whether to print: ``verbose`` when given, else whether ``stream`` is a terminal."""
    if verbose is not None:
        return bool(verbose)
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if isatty is not None else False


def format_clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class EpochProgress:
    """``[phase] epoch e/E | loss terms | seconds | ETA`` after every training epoch."""

    def __init__(self, total_epochs: int, verbose: bool | None = None, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = progress_enabled(verbose, self.stream)
        self.total = total_epochs
        self.done = 0
        self.start = time.perf_counter()

    def epoch(
        self, phase: str, epoch: int, n_epochs: int, terms: dict[str, float], seconds: float
    ) -> None:
        """Report one finished epoch."""
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        shown = " ".join(f"{k} {v:.4g}" for k, v in terms.items())
        print(
            f"[{phase}] epoch {epoch + 1}/{n_epochs} | {shown} | {seconds:.1f} s | "
            f"ETA {format_clock(eta)}",
            file=self.stream,
            flush=True,
        )


class RateProgress:
    """``[label] N rows, R rows/s``, redrawn at most once a second, then a final line."""

    def __init__(
        self, label: str, verbose: bool | None = None, *, unit: str = "variants", stream=None
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = progress_enabled(verbose, self.stream)
        self.label, self.unit = label, unit
        self.start, self.last = time.perf_counter(), 0.0

    def update(self, n: int, final: bool = False) -> None:
        """Report ``n`` rows done so far (``final`` ends the line)."""
        now = time.perf_counter()
        if not self.enabled or (not final and now - self.last < 1.0):
            return
        self.last = now
        rate = n / max(now - self.start, 1e-9)
        print(
            f"[{self.label}] {n:,} {self.unit}, {rate:,.0f} rows/s",
            end="\n" if final else "\r",
            file=self.stream,
            flush=True,
        )


class StageTimer:
    """Time the stages of a run, log each one's start and end, and keep the seconds per stage.

    The lines go to a logger at INFO level: ``-v`` shows them on stderr and ``PREFIX.log``
    records them, with the peak resident memory so far.

    Examples
    --------
    >>> import logging
    >>> stages = StageTimer(logging.getLogger("doctest"))
    >>> with stages("pca"):
    ...     pass
    >>> sorted(stages.seconds)
    ['pca']
    """

    def __init__(self, logger):
        self.logger = logger
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, detail: str = ""):
        """Return a context manager that times the stage ``name`` (``detail`` joins its start line)."""
        import contextlib

        @contextlib.contextmanager
        def stage():
            self.logger.info(f"{name}: started" + (f" ({detail})" if detail else ""))
            t0 = time.perf_counter()
            yield
            self.seconds[name] = time.perf_counter() - t0
            self.logger.info(
                f"{name}: done in {self.seconds[name]:.1f} s; peak memory "
                f"{peak_rss_mib():,.0f} MiB"
            )

        return stage()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage``)."""
    import platform
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if platform.system() == "Darwin" else peak / 1024  # bytes vs KiB
