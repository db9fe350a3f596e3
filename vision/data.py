"""MNIST (IDX files) and CIFAR-10 (official python layout) without torchvision.

Images are returned flattened and scaled to [0, 1] (float32), the range of the sigmoid decoders:
MNIST as 784 values, CIFAR-10 as 3,072 values in channel-major order (R plane, G plane, B plane,
the official layout). The reference normalises CIFAR to [-1, 1] but decodes with a sigmoid
(github.com/topwasu/DDVI); here inputs and decoder share [0, 1]. Augmentation (a random
horizontal flip) is a batch transform used on the training split only; the reference also flipped
the test images.

:func:`download` fetches the canonical files for users with internet and verifies checksums.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

MNIST_FILES = {  # sha256 of the canonical gzipped files (same bytes as the official release)
    "train-images-idx3-ubyte.gz": "d2cebd02927d553943b2679536bf602ec0cdcb6555ad87dda5d640e1d425faaf",
    "train-labels-idx1-ubyte.gz": "2a107763ddf1eef92815bfbb1b855b662a7228add9dfab29de697c644d666cda",
    "t10k-images-idx3-ubyte.gz": "4e612d6003de73386763f2c35c044ab376e830da80adb2347651a1f182f103a1",
    "t10k-labels-idx1-ubyte.gz": "909a5aeb9fcec3f171b427c45622a55f69dc15dd80bd0624413cbfbe12553c1c",
}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class DataError(ValueError):
    """A missing, corrupt or malformed data file (the message names it)."""


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path: str | Path, expected: str, algorithm: str = "sha256") -> None:
    """Raise :class:`DataError` unless ``path`` has the expected digest."""
    got = _digest(Path(path), algorithm)
    if got != expected:
        raise DataError(f"checksum mismatch for {path}: {algorithm} {got}, expected {expected}")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not): unsigned-byte data with its shape from the header."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    try:
        with (gzip.open if magic == b"\x1f\x8b" else open)(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, OSError, zlib.error) as err:  # a truncated or corrupt gzip stream
        raise DataError(f"{path} cannot be read (truncated or corrupt: {err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


#: The only globals a CIFAR-10 batch pickle needs (NumPy array reconstruction).
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that builds dicts, lists, bytes and NumPy arrays and refuses anything else."""

    def find_class(self, module, name):
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise DataError(f"refusing to load {module}.{name}: not part of a CIFAR-10 batch file")


def read_cifar_batch(path: Path) -> dict:
    """Read one CIFAR-10 python batch without running code from the file."""
    try:
        with open(path, "rb") as fh:
            batch = _CifarUnpickler(fh, encoding="bytes").load()
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as err:
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch (no data/labels entries)")
    return batch


def _find(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / name, data_dir / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{name} not found in {data_dir}; run `python -m vision download mnist --data-dir {data_dir}`"
    )


def load_mnist(data_dir: str | Path) -> dict[str, np.ndarray]:
    """``{"x_train" (60000, 784), "y_train", "x_test" (10000, 784), "y_test"}``, x in [0, 1]."""
    d = Path(data_dir)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find(d, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(_find(d, f"{prefix}-labels-idx1-ubyte.gz"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match"
            )
        out[f"x_{split}"] = images.reshape(len(images), -1).astype(np.float32) / 255.0
        out[f"y_{split}"] = labels.astype(np.int64)
    return out


def load_cifar10(data_dir: str | Path) -> dict[str, np.ndarray]:
    """CIFAR-10 from ``DATA_DIR/cifar-10-batches-py``: x (n, 3072) in [0, 1], channel-major."""
    d = Path(data_dir)
    base = d / "cifar-10-batches-py" if (d / "cifar-10-batches-py").is_dir() else d
    out = {}
    for split, names in (
        ("train", [f"data_batch_{i}" for i in range(1, 6)]),
        ("test", ["test_batch"]),
    ):
        xs, ys = [], []
        for name in names:
            path = base / name
            if not path.is_file():
                raise DataError(
                    f"{path} not found; run `python -m vision download cifar10 --data-dir {d}`"
                )
            batch = read_cifar_batch(path)
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072:
                raise DataError(f"{path}: data has shape {data.shape}, expected (n, 3072)")
            xs.append(data)
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
        out[f"x_{split}"] = np.concatenate(xs).astype(np.float32) / 255.0
        out[f"y_{split}"] = np.concatenate(ys)
    return out


def load_dataset(name: str, data_dir: str | Path) -> dict[str, np.ndarray]:
    """``mnist`` or ``cifar10``."""
    if name == "mnist":
        return load_mnist(data_dir)
    if name == "cifar10":
        return load_cifar10(data_dir)
    raise ValueError(f"dataset={name!r} is not allowed; choose one of ['mnist', 'cifar10']")


def download(name: str, data_dir: str | Path) -> None:
    """Fetch the canonical files into ``data_dir`` and verify their checksums (needs internet)."""
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    if name == "mnist":
        for fname, sha in MNIST_FILES.items():
            target = d / fname
            if not target.exists():
                urllib.request.urlretrieve(MNIST_MIRROR + fname, target)
            verify_checksum(target, sha)
        return
    if name == "cifar10":
        archive = d / CIFAR_ARCHIVE
        if not archive.exists():
            urllib.request.urlretrieve(CIFAR_URL, archive)
        verify_checksum(archive, CIFAR_MD5, "md5")
        with tarfile.open(archive) as tar:
            tar.extractall(d, filter="data")
        return
    raise ValueError(f"dataset={name!r} is not allowed; choose one of ['mnist', 'cifar10']")


def horizontal_flip(
    batch: torch.Tensor, generator: torch.Generator | None, *, image_shape=(3, 32, 32)
) -> torch.Tensor:
    """Flip each image of a batch ``(n, prod(image_shape))`` left-right with probability 1/2."""
    n_pix = int(np.prod(image_shape))
    if batch.shape[1] != n_pix:
        raise ValueError(
            f"batch has {batch.shape[1]} columns; images of {image_shape} need {n_pix}"
        )
    images = batch.reshape(-1, *image_shape)
    flip = (
        torch.rand(
            len(batch), generator=generator, device=generator.device if generator else batch.device
        )
        < 0.5
    )
    images = torch.where(flip.to(batch.device)[:, None, None, None], images.flip(-1), images)
    return images.reshape(len(batch), n_pix)


def synthetic_images(n: int, shape: tuple[int, ...], n_classes: int = 10, seed: int = 0):
    """Random class-dependent images in [0, 1] for smoke tests: ``(x (n, prod(shape)), y (n,))``."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    templates = rng.random((n_classes, size))
    y = rng.integers(0, n_classes, n)
    x = np.clip(templates[y] + 0.15 * rng.standard_normal((n, size)), 0, 1).astype(np.float32)
    return x, y.astype(np.int64)
