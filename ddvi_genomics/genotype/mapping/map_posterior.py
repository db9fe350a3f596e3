"""A sample's posterior on the map when its PC scores are uncertain, and summaries of its shape.

For a sample projected from incomplete data, the PC scores are a distribution
``N(s_hat, C)`` (:mod:`..pca.projection`), not a point. The map posterior integrates the
network's amortised posterior over it::

    q(z | sample) = E_{s ~ N(s_hat, C)} [ q(z | s) ]

and is drawn by ancestral sampling: one PC draw ``s_d``, then one posterior draw
``z_d ~ q(z | s_d)`` (DDVI: the encoder's ``y_T`` and the reverse diffusion chain; VAE: the
Gaussian encoder). A sample whose scores are uncertain therefore gets a wider cloud, and one
whose scores straddle two populations a cloud with two modes, which a mean and an sd cannot say.

:func:`region_summary` describes each cloud by the area of its ``level`` highest-density
region and the number of separate pieces that region has (its modes).
"""

from __future__ import annotations

import numpy as np

from ...core.runtime import library_seed, stream
from ..pca.projection import ProjectedScores

#: Grid cells per side of the map for the region estimate (over the extent of all draws).
REGION_GRID = 48


def integrated_posterior(
    network, projected: ProjectedScores, input_scale: float, *, n_draws: int, seed: int
) -> np.ndarray:
    """Draws of ``q(z | sample)`` integrated over each sample's PC-score distribution.

    Parameters
    ----------
    network : DDVI, VAE or DDVISemi
        A trained embedding network (``encode``).
    projected : ProjectedScores
        Placeable samples only (finite scores).
    input_scale : float
        PC scores are divided by it before entering the network.
    n_draws : int
    seed : int
        PC draws from the ``"pc-draws"`` stream, network draws from ``"posterior"``.

    Returns
    -------
    np.ndarray, shape (n_draws, n_samples, 2)
    """
    rng = np.random.default_rng(library_seed(seed, "pc-draws"))
    pcs = projected.draws(n_draws, rng)  # (D, n, k)
    d, n, k = pcs.shape
    x = (pcs.reshape(d * n, k) / input_scale).astype(np.float32)
    g = stream(seed, "posterior", network.device)
    z = network.encode(x, n_samples=1, generator=g).numpy()[0]  # one draw per PC draw
    return z.reshape(d, n, -1).astype(np.float64)


def region_summary(
    draws: np.ndarray, level: float = 0.9, extent: tuple | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Area and number of modes of each sample's ``level`` highest-density region.

    The draws of one sample are binned on a :data:`REGION_GRID` x :data:`REGION_GRID` grid over
    ``extent`` (default: the box holding every draw), smoothed with a Gaussian of one cell;
    the region is the densest cells holding ``level`` of the mass, its modes are its
    connected pieces (8-neighbourhood) that hold at least 5 % of the mass each.

    Parameters
    ----------
    draws : np.ndarray, shape (n_draws, n_samples, 2)
    level : float
    extent : (xmin, xmax, ymin, ymax), optional

    Returns
    -------
    area : np.ndarray, shape (n_samples,)
        In squared map units (a multiple of the cell area).
    modes : np.ndarray of int, shape (n_samples,)
    """
    from scipy import ndimage

    if extent is None:
        lo, hi = draws.reshape(-1, 2).min(0), draws.reshape(-1, 2).max(0)
        pad = 0.05 * (hi - lo) + 1e-9
        extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    xedges = np.linspace(extent[0], extent[1], REGION_GRID + 1)
    yedges = np.linspace(extent[2], extent[3], REGION_GRID + 1)
    cell = (xedges[1] - xedges[0]) * (yedges[1] - yedges[0])
    n = draws.shape[1]
    area, modes = np.zeros(n), np.zeros(n, dtype=np.int64)
    for j in range(n):
        hist = np.histogram2d(draws[:, j, 0], draws[:, j, 1], bins=(xedges, yedges))[0]
        density = ndimage.gaussian_filter(hist, 1.0, mode="constant")
        density /= density.sum()
        order = np.sort(density.ravel())[::-1]
        threshold = order[np.searchsorted(np.cumsum(order), level)]
        region = density >= threshold
        area[j] = region.sum() * cell
        labels, count = ndimage.label(region, structure=np.ones((3, 3)))
        mass = ndimage.sum(density, labels, index=np.arange(1, count + 1))
        modes[j] = max(1, int((np.asarray(mass) >= 0.05).sum()))
    return area, modes
