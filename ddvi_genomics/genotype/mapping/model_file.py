"""The model file: plain data in a NumPy ``.npz`` archive, which never runs code when read.

A saved :class:`~.ancestry_model.AncestryModel` is a tree of dicts and lists holding strings,
numbers and arrays (the PCA's loadings and frequencies, the variant table, the network's
weights). The arrays are stored as ``.npy`` members of a zip archive (``numpy.savez``), the rest
as one JSON member that points to them; reading uses ``numpy.load(allow_pickle=False)`` and
``json``, so a crafted file can be refused but never executes anything. Neither writing nor
reading needs torch, so a PCA map saves and projects without it.

Files written by earlier versions with ``torch.save`` (a zip holding ``data.pkl``) are still
read, through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

_TREE = "__tree__"
_ARRAY = "__array__"


def write_model_file(payload: dict, path: str | os.PathLike) -> None:
    """Write ``payload`` (dicts, lists, str, int, float, bool, None, NumPy arrays) to ``path``."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(payload, arrays)
    arrays[_TREE] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_model_file(path: str | os.PathLike) -> dict:
    """Read a model file's plain data: NumPy arrays (CPU tensors from torch-era files).

    Raises
    ------
    ValueError
        When the file is not a model archive (not a zip, a member that is not plain data).
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError("not a zip archive")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(name.endswith("data.pkl") for name in names):  # torch.save: earlier versions
        from ...core.training import load_plain

        return load_plain(path)  # the payload's readers take tensors and arrays alike
    with np.load(path, allow_pickle=False) as members:
        if _TREE not in members.files:
            raise ValueError(f"no {_TREE} member")
        tree = json.loads(members[_TREE].tobytes().decode())
        return _decode(tree, members)


def _encode(value, arrays: dict):
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a model file")


def _decode(value, members):
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return members[value[_ARRAY]]
        return {k: _decode(v, members) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, members) for v in value]
    return value
