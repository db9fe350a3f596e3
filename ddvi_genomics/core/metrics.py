"""Evaluation metrics of the paper's protocol: kNN accuracy, latent NLL, MMD, t-intervals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .kde import kde_log_prob

#: Bandwidths of the reference's training-time latent NLL (``run.py:fit_and_score``). The 0.8 is
#: probably a typo for 0.08 in the authors' code; it is kept so numbers compare with theirs.
LATENT_NLL_BANDWIDTHS = (0.05, 0.8, 0.1, 0.3, 0.5)
#: Bandwidths of the reference's post-hoc script (``get_all_results.py``).
LATENT_NLL_BANDWIDTHS_POSTHOC = (0.005, 0.008, 0.01, 0.03, 0.05)
#: MMD kernel variances of the reference (``utils.mmd_loss``): k(a, b) = sum_s exp(-|a-b|^2 / 2s).
MMD_SCALES = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


def _as_float_tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).double()


def knn_accuracy(train_latents, train_labels, test_latents, test_labels, *, k: int = 20) -> float:
    """Accuracy of a k-nearest-neighbour classifier fitted on train latents, scored on test.

    Parameters
    ----------
    train_latents : array_like, shape (n_train, d)
    train_labels : array_like, shape (n_train,)
    test_latents : array_like, shape (n_test, d)
    test_labels : array_like, shape (n_test,)
    k : int
        Neighbours (reference: 20).

    Returns
    -------
    float
        Fraction of test points classified correctly.
    """
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k)
    clf.fit(np.asarray(train_latents), np.asarray(train_labels))
    return float(clf.score(np.asarray(test_latents), np.asarray(test_labels)))


def class_head_accuracy(model, x, labels, *, batch_size: int = 1024) -> float:
    """Accuracy of a semi-supervised model's class head ``argmax q(c|x)`` on ``(x, labels)``.

    The reference scores only a kNN on latents (fitted on all training labels); this measures the
    semi-supervised classifier itself.
    """
    pred = model.predict_classes(x, batch_size=batch_size).numpy()
    return float((pred == np.asarray(labels)).mean())


def latent_nll(
    latents, prior_samples, *, bandwidths: Sequence[float] = LATENT_NLL_BANDWIDTHS
) -> float:
    """Cross-entropy of the aggregate posterior on prior samples, ``-E_{z~p}[log qhat(z)]``.

    ``qhat`` is a uniform mixture of Gaussian KDEs of the encoded latents, one per bandwidth
    (the reference fits sklearn ``KernelDensity`` per bandwidth and log-mean-exps them, which is
    the same density). Lower is better: the latents cover the prior.

    Parameters
    ----------
    latents : array_like, shape (n, d)
        Encoded test latents (reference: 10,000).
    prior_samples : array_like, shape (m, d)
        Fresh prior samples (reference: 10,000).
    bandwidths : sequence of float
        Defaults to the reference's ``run.py`` set, see :data:`LATENT_NLL_BANDWIDTHS`.

    Returns
    -------
    float
    """
    q = _as_float_tensor(latents)
    p = _as_float_tensor(prior_samples)
    return float(-kde_log_prob(p, q, bandwidths).mean())


def mmd_rbf(
    x,
    y,
    *,
    scales: Sequence[float] = MMD_SCALES,
    unbiased: bool = False,
    chunk_size: int = 2048,
) -> float:
    """Squared maximum mean discrepancy with a sum of RBF kernels, computed in memory-bounded blocks.

    ``k(a, b) = sum_s exp(-|a - b|^2 / (2 s))`` with ``s`` a variance (the reference's kernel).
    The biased (V-statistic) estimate is the reference's ``s^T K s``; the reference reports its
    square root (:func:`mmd_reference`). ``unbiased=True`` gives the U-statistic, which can be
    negative. Memory is O(chunk_size^2) instead of the reference's dense (n + m)^2 matrix.

    Parameters
    ----------
    x : array_like, shape (n, features)
    y : array_like, shape (m, features)
    scales : sequence of float
    unbiased : bool
    chunk_size : int

    Returns
    -------
    float
        MMD^2 estimate.
    """
    a = _as_float_tensor(x).reshape(len(x), -1)
    b = _as_float_tensor(y).reshape(len(y), -1)
    s = torch.as_tensor(scales, dtype=torch.float64)

    def block_sum(p, q, same: bool) -> float:
        total = 0.0
        for i in range(0, len(p), chunk_size):
            pi = p[i : i + chunk_size]
            for j in range(0, len(q), chunk_size):
                qj = q[j : j + chunk_size]
                sq = torch.cdist(pi, qj).square()
                kern = torch.exp(-sq[None] / (2 * s[:, None, None])).sum(0)
                if same and unbiased and i == j:
                    kern.fill_diagonal_(0.0)
                total += float(kern.sum())
        return total

    n, m = len(a), len(b)
    kxx, kyy, kxy = block_sum(a, a, True), block_sum(b, b, True), block_sum(a, b, False)
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD needs at least 2 points in each sample")
        return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)
    return kxx / n**2 + kyy / m**2 - 2 * kxy / (n * m)


def mmd_reference(x, y, *, scales: Sequence[float] = MMD_SCALES, chunk_size: int = 2048) -> float:
    """Return what the reference reports: ``sqrt`` of the biased MMD^2 (clipped at 0)."""
    return float(np.sqrt(max(mmd_rbf(x, y, scales=scales, chunk_size=chunk_size), 0.0)))


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of a Student-t confidence interval over seeds.

    ``half = t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`` with ``s`` the sample std (ddof 1);
    the reference's ``get_ci.py`` formula.

    Parameters
    ----------
    values : array_like, shape (n,)
        One result per seed (n >= 2).
    confidence : float

    Returns
    -------
    (float, float)
        ``(mean, half_width)``.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"t_interval needs at least 2 values in a 1-D array; got shape {v.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} is not allowed; it must lie in (0, 1)")
    sem = v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(stats.t.ppf((1 + confidence) / 2, v.size - 1) * sem)
