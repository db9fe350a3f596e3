import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vision.data import (
    DataError,
    horizontal_flip,
    load_cifar10,
    load_mnist,
    read_idx,
    verify_checksum,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist__parses_idx_files_written_in_the_official_format(tmp_path, compress):
    rng = np.random.default_rng(0)
    imgs = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in (("train", 12), ("t10k", 5))}
    labs = {s: rng.integers(0, 10, len(imgs[s])) for s in imgs}
    for s in imgs:
        suffix = ".gz" if compress else ""
        write_idx(tmp_path / f"{s}-images-idx3-ubyte{suffix}", imgs[s], compress)
        write_idx(tmp_path / f"{s}-labels-idx1-ubyte{suffix}", labs[s], compress)
    data = load_mnist(tmp_path)
    assert data["x_train"].shape == (12, 784) and data["x_test"].shape == (5, 784)
    assert (
        data["x_train"].dtype == np.float32
        and 0 <= data["x_train"].min()
        and data["x_train"].max() <= 1
    )
    np.testing.assert_allclose(data["x_train"][3], imgs["train"][3].ravel() / 255.0)
    np.testing.assert_array_equal(data["y_test"], labs["t10k"])


def test_idx__bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(DataError, match="holds 3 values"):
        read_idx(tmp_path / "short")


def write_cifar(root, n_per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with open(base / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        written[name] = (data, labels)
    return written


def test_cifar__parses_the_official_python_layout(tmp_path):
    written = write_cifar(tmp_path)
    data = load_cifar10(tmp_path)
    assert data["x_train"].shape == (20, 3072) and data["x_test"].shape == (4, 3072)
    np.testing.assert_allclose(data["x_train"][4], written["data_batch_2"][0][0] / 255.0)
    assert list(data["y_test"]) == written["test_batch"][1]
    with pytest.raises(DataError, match="not found"):
        load_cifar10(tmp_path / "nowhere")


def test_checksum_mismatch__clear_error(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"hello")
    verify_checksum(f, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    with pytest.raises(DataError, match="checksum mismatch for .*f.bin"):
        verify_checksum(f, "0" * 64)


def test_flip__mirrors_about_half_the_images_and_leaves_the_rest():
    batch = torch.arange(2 * 3072, dtype=torch.float32).reshape(2, 3072).repeat(20, 1)
    g = torch.Generator().manual_seed(0)
    out = horizontal_flip(batch, g)
    imgs, orig = out.reshape(-1, 3, 32, 32), batch.reshape(-1, 3, 32, 32)
    flipped = (imgs != orig).any(dim=(1, 2, 3))
    assert 0 < int(flipped.sum()) < 40
    # oracle: a flipped image is the original with its width axis reversed, pixel by pixel
    for i in torch.nonzero(flipped).ravel().tolist():
        for w in (0, 5, 31):
            assert torch.equal(imgs[i, :, :, w], orig[i, :, :, 31 - w])
    assert torch.equal(imgs[~flipped], orig[~flipped])
    with pytest.raises(ValueError, match="3073 columns"):
        horizontal_flip(torch.zeros(2, 3073), g)


@pytest.mark.skipif(
    not (SHARED / "mnist" / "train-images-idx3-ubyte.gz").exists(),
    reason="shared MNIST not present",
)
def test_real_mnist__checksums_and_shapes():
    from vision.data import MNIST_FILES

    for name, sha in MNIST_FILES.items():
        verify_checksum(SHARED / "mnist" / name, sha)
    data = load_mnist(SHARED / "mnist")
    assert data["x_train"].shape == (60000, 784) and data["y_test"][:5].tolist() == [7, 2, 1, 0, 4]


CIFAR_DIRS = [Path("/tmp/cifar"), SHARED / "cifar10"]


@pytest.mark.skipif(
    not any((d / "cifar-10-batches-py" / "test_batch").exists() for d in CIFAR_DIRS),
    reason="full CIFAR-10 not present (make it with ../shared/tools/get-cifar10 /tmp/cifar)",
)
@pytest.mark.skipif(
    not (SHARED / "cifar10-test20").is_dir(), reason="shared CIFAR-10 test PNGs not present"
)
def test_real_cifar__first_20_test_images_match_the_shared_pngs():
    Image = pytest.importorskip("PIL.Image", reason="Pillow is needed to read the PNGs")

    root = next(d for d in CIFAR_DIRS if (d / "cifar-10-batches-py" / "test_batch").exists())
    data = load_cifar10(root)
    pngs = sorted((SHARED / "cifar10-test20").glob("*.png"))
    assert len(pngs) == 20
    for png in pngs:
        i, label = int(png.stem.split("_")[1]), int(png.stem.split("_")[2])
        img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255.0
        np.testing.assert_allclose(data["x_test"][i].reshape(3, 32, 32).transpose(1, 2, 0), img)
        assert data["y_test"][i] == label
