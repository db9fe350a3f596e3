"""Named seed streams, without torch: one user seed split into independent, reproducible seeds.

:func:`derive_seed` gives each named use of randomness (``"init"``, ``"shuffle"``,
``"metrics:cv"``...) its own seed, the same on every machine; :mod:`.runtime` turns them into
torch generators. Kept apart from torch so that the PCA-only paths of the genotype tool start
without importing it.
"""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, name: str) -> int:
    """Return the seed of the stream ``name`` derived from ``seed`` (a 63-bit integer).

    Parameters
    ----------
    seed : int
        The user's seed (any non-negative integer).
    name : str
        The stream's name, e.g. ``"init"``, ``"shuffle"``, ``"noise"``, ``"posterior"``.

    Returns
    -------
    int
        ``SeedSequence([seed, crc32(name)])``'s first 64-bit word, shifted into ``[0, 2**63)``:
        the same for the same ``(seed, name)`` on every machine, unrelated across names.
    """
    if int(seed) < 0:
        raise ValueError(f"seed={seed!r} is not allowed; it must be a non-negative integer")
    sequence = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def library_seed(seed: int, name: str) -> int:
    """Return the stream ``name`` of ``seed`` as a 32-bit seed, for libraries that take ``random_state``.

    scikit-learn, UMAP and NumPy's legacy seeding accept integers below ``2**32`` only.
    """
    return derive_seed(seed, name) % 2**32
