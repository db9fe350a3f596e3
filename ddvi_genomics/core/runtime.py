"""Devices, seeds and generators, resolved once at entry points."""

from __future__ import annotations

import random

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into the best available device (cuda, then mps, then cpu).

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the name is unknown or names a back-end this machine does not have.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device)
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"device={name!r} is not allowed; choose one of {list(DEVICE_CHOICES)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={name!r} requested but CUDA is not available; use 'cpu' or 'auto'"
        )
    if base == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(
            f"device={name!r} requested but MPS is not available; use 'cpu' or 'auto'"
        )
    return torch.device(name)


def make_generator(seed: int | None, device: str | torch.device = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` on ``device`` seeded with ``seed`` (random when None)."""
    gen = torch.Generator(device=resolve_device(device))
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global RNGs.

    Library code never calls this; command lines, workflows and tests do.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
