"""Linked residuals: their banded covariance, and what it does to the spread of a projection.

The projection model of :mod:`.projection` takes the residuals ``e = x - V s`` of a sample as
independent across variants. Neighbouring variants in LD have correlated residuals, so a
sample observed at a run of neighbouring variants (read-like missingness) carries less
information than as many scattered variants, and an independent-residual covariance is too
narrow. This module estimates the residual covariance of the reference samples for pairs of
variants at most :data:`BAND_WIDTH` apart on one contig (``c[d, i] = Cov(e_i, e_{i+d})``,
``d = 0`` the per-variant residual variance), and evaluates the covariance of a projection's
error under it.

Every estimator of :mod:`.projection` has an error ``s_full - s_hat = T s + sum_i w_i e_i`` with
``w_i = B^T v_i`` for an observed variant ``i`` and ``w_i = v_i`` for a missing one (``B`` and
``T`` depend on the estimator and the sample's ``G``). Its covariance is
``T Lambda T^T + W^T C W`` and, splitting the pairs by observed (O) and missing (M),

``W^T C W = B^T P_OO B + B^T P_OM + P_MO B + P_MM``, with ``P_XY = sum_{i in X, j in Y} c_ij v_i v_j^T``.

:class:`BandSums` accumulates ``P_OO`` and ``Q_O = P_OO + P_OM`` per sample over the band;
``P_MM`` follows from ``V^T C V``, the sum over every pair.
"""

from __future__ import annotations

import numpy as np

from .decomposition import GenotypePCA, patterson_block

#: Neighbours (in the PCA's variant order, same contig) whose residual covariance is kept. On
#: a chip-density simulation (AmericanAdmixture_4B18, one SNP per 5 kb) with read-like runs of
#: missing calls, 90 % regions covered 0.55-0.65 of complete-data positions with independent
#: residuals, 0.81-0.87 with 10 neighbours, 0.86-0.91 with 25 and 0.88-0.93 with 50
#: (workflows/results/bench/projection_band_width_cpu.md).
BAND_WIDTH = 32
#: The band is narrowed so that it stays below this size (it travels in the model file).
MAX_BAND_BYTES = 64 << 20


def band_width_for(n_variants: int, width: int = BAND_WIDTH) -> int:
    """Return the band width for ``n_variants``: ``width``, narrowed to :data:`MAX_BAND_BYTES`."""
    return int(max(0, min(width, MAX_BAND_BYTES // (4 * max(n_variants, 1)) - 1)))


#: Variants per block when scanning the band (bounds the k^2-wide temporaries).
BAND_BLOCK = 4096


def residual_band(
    pca: GenotypePCA,
    dosage: np.ndarray,
    scores: np.ndarray,
    contig: np.ndarray,
    width: int | None = None,
) -> np.ndarray:
    """Banded residual covariance of the samples a PCA was fitted on.

    Parameters
    ----------
    pca : GenotypePCA
        Fitted; its ``components_`` are the ``k`` PCs of the projection.
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        The fit samples' dosages in training order.
    scores : np.ndarray, shape (n_samples, k)
        Their PC scores on the same ``k`` PCs.
    contig : np.ndarray, shape (n_variants,)
        Pairs on different contigs get 0.
    width : int, optional
        Default :func:`band_width_for` the number of variants.

    Returns
    -------
    np.ndarray, float32, shape (width + 1, n_variants)
        ``band[d, i]``: mean over samples of ``e_i e_{i+d}`` (0 past the end or across contigs).
    """
    m, n = dosage.shape
    width = min(band_width_for(m) if width is None else width, max(m - 1, 0))
    v = pca.components_.T  # (m, k)
    mean, inv_scale = 2 * pca.allele_frequency_, 1.0 / pca.scale_
    band = np.zeros((width + 1, m))
    same = [np.asarray(contig[d:]) == np.asarray(contig[: m - d]) for d in range(width + 1)]
    for lo in range(0, m, BAND_BLOCK):
        hi, ext = min(lo + BAND_BLOCK, m), min(lo + BAND_BLOCK + width, m)
        x = patterson_block(dosage[lo:ext], mean[lo:ext], inv_scale[lo:ext])
        r = x - v[lo:ext] @ scores.T  # residuals (ext - lo, n)
        for d in range(width + 1):
            rows = min(hi, ext - d) - lo
            if rows > 0:
                band[d, lo : lo + rows] = np.einsum("ij,ij->i", r[:rows], r[d : d + rows]) / n
    for d in range(1, width + 1):
        band[d, : m - d] *= same[d]
        band[d, m - d :] = 0.0
    return band.astype(np.float32)


class BandSums:
    """Per-sample sums over pairs of nearby variants: ``P_OO`` and ``Q_O`` (module docstring).

    Parameters
    ----------
    n_samples, n_components : int
    """

    def __init__(self, n_samples: int, n_components: int):
        k = n_components
        self.k = k
        self.p_oo = np.zeros((n_samples, k * k))
        self.q_o = np.zeros((n_samples, k * k))
        self.total = np.zeros((k, k))  # V^T C V

    @classmethod
    def of(cls, observed_rows, n_samples: int, loadings: np.ndarray, band: np.ndarray) -> BandSums:
        """Accumulate the sums.

        Parameters
        ----------
        observed_rows : callable
            ``observed_rows(lo, hi)`` -> bool array (hi - lo, n_samples): which samples have a
            call at variants ``lo:hi`` (training order).
        n_samples : int
        loadings : np.ndarray, shape (n_variants, k)
        band : np.ndarray, shape (width + 1, n_variants)
            :func:`residual_band`.
        """
        m, k = loadings.shape
        width = band.shape[0] - 1
        sums = cls(n_samples, k)
        c = band.astype(np.float64)
        # z_i = sum_j c_ij v_j over both neighbours of i: sample-free, so Q_O = sum_O v_i z_i^T
        # takes one product per block and V^T C V = V^T Z
        z = c[0, :, None] * loadings
        for d in range(1, width + 1):
            z[: m - d] += c[d, : m - d, None] * loadings[d:]
            z[d:] += c[d, : m - d, None] * loadings[: m - d]
        sums.total = loadings.T @ z
        for lo in range(0, m, BAND_BLOCK):
            hi, ext = min(lo + BAND_BLOCK, m), min(lo + BAND_BLOCK + width, m)
            o = observed_rows(lo, ext).astype(np.float64)  # (ext - lo, n)
            v = loadings[lo:ext]
            outer = (v[: hi - lo, :, None] * z[lo:hi, None, :]).reshape(hi - lo, k * k)
            sums.q_o += o[: hi - lo].T @ outer
            for d in range(width + 1):
                rows = min(hi, ext - d) - lo
                if rows <= 0:
                    continue
                t = c[d, lo : lo + rows, None, None] * v[:rows, :, None] * v[d : d + rows, None, :]
                both = (o[:rows] * o[d : d + rows]).T @ t.reshape(rows, k * k)  # P_OO pairs
                sums.p_oo += both
                if d > 0:  # the mirrored pair (i + d, i) adds the transposed term
                    sums.p_oo += _transpose_each(both, k)
        return sums

    def subset(self, rows) -> BandSums:
        """Return the samples ``rows``."""
        out = BandSums(len(self.p_oo[rows]), self.k)
        out.p_oo, out.q_o, out.total = self.p_oo[rows], self.q_o[rows], self.total
        return out

    def error_covariance(self, b: np.ndarray) -> np.ndarray:
        """Return ``W^T C W`` per sample, shape (n, k, k), for observed-variant weights ``B``.

        That is ``B^T P_OO B + B^T P_OM + P_MO B + P_MM`` (module docstring); ``b`` has shape
        (n, k, k).
        """
        k = self.k
        p_oo = self.p_oo.reshape(-1, k, k)
        p_om = self.q_o.reshape(-1, k, k) - p_oo
        p_mo = np.swapaxes(p_om, 1, 2)
        p_mm = self.total - p_oo - p_om - p_mo
        bt = np.swapaxes(b, 1, 2)
        return bt @ p_oo @ b + bt @ p_om + p_mo @ b + p_mm


def _transpose_each(flat: np.ndarray, k: int) -> np.ndarray:
    """Transpose every row's ``k x k`` matrix of a ``(n, k^2)`` array."""
    return np.swapaxes(flat.reshape(-1, k, k), 1, 2).reshape(len(flat), k * k)
