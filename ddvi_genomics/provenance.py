"""Provenance records: what ran, on which machine, with which versions, at which commit.

One owner for the record that sits beside every output of ``ddvi-genomics infer`` (inside
``PREFIX.log`` and ``PREFIX.provenance.json``), every vision run folder and every benchmark
result, so they all say the same things in the same words.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ._version import __version__

#: Distributions whose versions are recorded when installed.
RECORDED_PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "pandas", "cyvcf2", "scikit-allel")


def package_versions() -> dict[str, str]:
    """Return ``{distribution: version}`` for python, ddvi-genomics and the installed dependencies."""
    versions = {"ddvi-genomics": __version__, "python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """Return the commit of the checkout holding ``path`` (``-dirty`` when it has changes).

    The ``DDVI_GENOMICS_COMMIT`` environment variable, when set, wins: a copy of the tree sent
    to another machine can carry a stale ``.git`` (a GPU machine's copy reported the session's
    first commit). Outside a checkout without it: None.
    """
    if os.environ.get("DDVI_GENOMICS_COMMIT"):
        return os.environ["DDVI_GENOMICS_COMMIT"]
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=where
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=where,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if changes else "")


def provenance(extra: dict | None = None, *, command: str | None = None) -> dict:
    """Return a provenance record (a JSON-ready dict).

    Parameters
    ----------
    extra : dict, optional
        Merged into the record (options, specs, thread counts).
    command : str, optional
        The command line; defaults to ``sys.argv``.

    Returns
    -------
    dict
        ``date_utc``, ``command``, ``git_commit``, ``versions``, ``hostname``,
        ``working_directory``, ``platform``, ``processor``, ``cpu_count``, ``torch_threads``,
        ``cuda_device`` and the ``extra`` keys. The last two come from torch when the run
        loaded it (a PCA-only run does not: they are None then).
    """
    torch = sys.modules.get("torch")
    record = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "hostname": platform.node(),
        "working_directory": os.getcwd(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "cuda_device": (
            torch.cuda.get_device_name(0)
            if torch is not None and torch.cuda.is_available()
            else None
        ),
    }
    record.update(extra or {})
    return record


def versions_line() -> str:
    """One line for logs: ``versions: ddvi-genomics 0.1.0, python 3.11.7, torch ...``."""
    return "versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items())
