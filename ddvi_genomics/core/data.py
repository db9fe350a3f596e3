"""Training data: label budgets for semi-supervised training, and rows streamed from the host."""

from __future__ import annotations

import numpy as np
import torch

#: Marker of an unlabelled example in masked label arrays.
UNLABELLED = -1
MASKING_METHODS = ("balanced", "uniform", "reference")


def mask_labels(labels, n_labelled: int, *, seed: int, method: str = "balanced") -> np.ndarray:
    """Keep ``n_labelled`` labels and replace the others with :data:`UNLABELLED`.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Class labels 0..K-1 of the whole training set.
    n_labelled : int
        Number of labels to keep.
    seed : int
        Seed of a private generator; the global NumPy state is never touched.
    method : {"balanced", "uniform", "reference"}
        ``balanced`` (default): exactly ``n_labelled`` drawn from the whole set, as equal per class
        as possible (the remainder goes to randomly chosen classes). ``uniform``: exactly
        ``n_labelled`` drawn uniformly without replacement. ``reference``: the authors'
        ``CustomDataset`` masking reproduced bit for bit, ``RandomState(seed).choice(50000,
        50000 - n_labelled)``; it draws *with* replacement from the first 50,000 indices only, so
        on MNIST more than ``n_labelled`` examples (about 10,000 + n_labelled + collisions) stay
        labelled (the authors' code, github.com/topwasu/DDVI).

    Returns
    -------
    np.ndarray of int64, shape (n,)
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if method not in MASKING_METHODS:
        raise ValueError(
            f"method={method!r} is not allowed; choose one of {list(MASKING_METHODS)}"
        )
    if not 0 <= n_labelled <= n:
        raise ValueError(f"n_labelled={n_labelled} is not allowed; it must lie in [0, {n}]")
    out = np.full(n, UNLABELLED, dtype=np.int64)
    if method == "reference":
        rs = np.random.RandomState(seed)
        out[:] = labels
        out[rs.choice(50000, 50000 - n_labelled)] = UNLABELLED
        return out
    rng = np.random.default_rng(seed)
    if method == "uniform":
        keep = rng.choice(n, n_labelled, replace=False)
        out[keep] = labels[keep]
        return out
    classes = np.unique(labels)
    per_class = np.full(len(classes), n_labelled // len(classes))
    per_class[rng.choice(len(classes), n_labelled % len(classes), replace=False)] += 1
    for c, k in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == c)
        if k > len(members):
            raise ValueError(f"class {c} has {len(members)} examples; a balanced budget needs {k}")
        keep = rng.choice(members, k, replace=False)
        out[keep] = labels[keep]
    return out


def as_label_tensor(labels, n_examples: int, n_classes: int):
    """Validate semi-supervised labels and return them as an int64 tensor of shape (n,).

    Parameters
    ----------
    labels : array_like of int, shape (n_examples,)
        Classes 0..n_classes-1, or :data:`UNLABELLED` (-1).
    n_examples : int
        Rows of the training matrix the labels belong to.
    n_classes : int

    Returns
    -------
    torch.Tensor of int64, shape (n_examples,)
    """
    import torch

    if labels is None:
        raise ValueError("semi-supervised training needs labels (use -1 for unlabelled examples)")
    arr = np.asarray(labels)
    if arr.shape != (n_examples,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"labels must be {n_examples} integers in -1..{n_classes - 1} (-1 = unlabelled); "
            f"got shape {arr.shape}, dtype {arr.dtype}"
        )
    if ((arr < UNLABELLED) | (arr >= n_classes)).any():
        bad = int(arr[(arr < UNLABELLED) | (arr >= n_classes)][0])
        raise ValueError(
            f"label {bad} is not allowed; labels must be in -1..{n_classes - 1} (-1 = unlabelled)"
        )
    return torch.as_tensor(arr, dtype=torch.long)


class HostRows:
    """Training rows that stay on the host (a ``np.memmap``); each batch is gathered and sent alone.

    :func:`~ddvi_genomics.core.training.fit` copies an in-memory matrix to the device once;
    a memory-mapped matrix (``np.load(path, mmap_mode="r")``) is wrapped in this instead, so the
    rows are read from the file batch by batch, in the order of the shuffled batch, and never
    held whole in memory. The noise and the updates are those of the in-memory run.

    Parameters
    ----------
    array : np.ndarray, shape (n, features)
        Usually a ``np.memmap``; validated (2-D, finite) one block of rows at a time.
    name : str
        Name in error messages.
    block_rows : int
        Rows per validation block.
    """

    def __init__(self, array: np.ndarray, name: str = "x", *, block_rows: int = 65536):
        if array.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array (n_examples, n_features); got shape {array.shape}"
            )
        if array.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        for start in range(0, array.shape[0], block_rows):
            finite = np.isfinite(array[start : start + block_rows]).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                raise ValueError(
                    f"{name} contains NaN or infinite values (first at row {row}); allowed: "
                    "finite numbers"
                )
        self.array = array
        self.shape = torch.Size(array.shape)
        self.device = torch.device("cpu")
        self._block_rows = block_rows

    def to(self, device) -> HostRows:
        """Send batches to ``device`` from now on (the rows stay where they are)."""
        self.device = torch.device(device)
        return self

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (shape (batch,), any device) as a float32 tensor on :attr:`device`."""
        rows = np.ascontiguousarray(self.array[index.cpu().numpy()], dtype=np.float32)
        batch = torch.from_numpy(rows)
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

    def within(self, low: float, high: float) -> bool:
        """Whether every value lies in ``[low, high]`` (read block by block)."""
        return all(
            bool(((block >= low) & (block <= high)).all())
            for block in (
                self.array[i : i + self._block_rows]
                for i in range(0, self.shape[0], self._block_rows)
            )
        )
