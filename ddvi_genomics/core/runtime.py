"""Devices, seeds and generators, resolved once at entry points.

Randomness is an argument. An entry point takes one integer ``seed``; :func:`derive_seed` turns it
into independent, *named* streams (``derive_seed(seed, "init")``, ``"shuffle"``, ``"noise"``,
...), each a hash of the seed and the name through :class:`numpy.random.SeedSequence`, so adding a
stream never shifts another one and no two streams share a state by accident. Library code never
reseeds a global RNG: :func:`seeded_global_rng` runs a block (network initialisation, dropout)
inside ``torch.random.fork_rng`` and restores the caller's state afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .seeds import derive_seed

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


def stream(seed: int, name: str, device: str | torch.device = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` on ``device`` for the named stream of ``seed``."""
    return make_generator(derive_seed(seed, name), device)


@contextlib.contextmanager
def seeded_global_rng(seed: int | None, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG state afterwards.

    Used where torch draws from its global generator and takes no ``generator=`` argument:
    ``nn.Module`` initialisation and dropout. ``seed=None`` forks without seeding.

    Parameters
    ----------
    seed : int, optional
    device : str or torch.device
        A CUDA device's RNG is forked (and seeded) too.
    """
    dev = resolve_device(device)
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        if seed is not None:
            torch.manual_seed(seed)
        yield
