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

from ...core.seeds import library_seed
from ..pca.projection import ProjectedScores

#: Samples whose map posterior is drawn at once: bounds the PC draws held in memory
#: (n_draws x block x k float64: 100 draws x 4,096 x 20 PCs is 66 MB).
POSTERIOR_BLOCK = 4096
#: Grid cells per side of the map for the region estimate (over the extent of all draws).
REGION_GRID = 48


def integrated_posterior(
    network,
    projected: ProjectedScores,
    input_scale: float,
    *,
    n_draws: int,
    seed: int,
    block: int | None = None,
) -> np.ndarray:
    """Draws of ``q(z | sample)`` integrated over each sample's PC-score distribution.

    Samples go through in blocks of ``block``, so the PC draws held at once are
    ``n_draws x block x k``, whatever the number of samples; only the 2-D map draws of every
    sample are kept.

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
        PC draws from the ``"pc-draws"`` stream, network draws from ``"posterior"``; both are
        consumed block after block, so the draws depend on the block size (fixed by default:
        :data:`POSTERIOR_BLOCK`).
    block : int, optional
        Samples per block (default :data:`POSTERIOR_BLOCK`).

    Returns
    -------
    np.ndarray, shape (n_draws, n_samples, 2)
    """
    from ...core.runtime import stream  # torch: only maps with a network get here

    block = POSTERIOR_BLOCK if block is None else block
    rng = np.random.default_rng(library_seed(seed, "pc-draws"))
    g = stream(seed, "posterior", network.device)
    n = projected.scores.shape[0]
    out = None
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        pcs = projected.subset(rows).draws(n_draws, rng)  # (D, b, k): s_d ~ N(s_hat, C)
        d, b, k = pcs.shape
        x = (pcs.reshape(d * b, k) / input_scale).astype(np.float32)
        z = network.encode(x, n_samples=1, generator=g).numpy()[0]  # z_d ~ q(z | s_d)
        z = z.reshape(d, b, -1)
        if out is None:
            out = np.empty((d, n, z.shape[-1]))
        out[:, rows] = z
    if out is None:  # no samples
        return np.empty((n_draws, 0, 2))
    return out


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

    grid = _Grid(draws, extent)
    n = draws.shape[1]
    area, modes = np.zeros(n), np.zeros(n, dtype=np.int64)
    within_plane = np.zeros((3, 3, 3), dtype=bool)
    within_plane[1] = True  # 8-neighbourhood inside one sample's grid, never across samples
    for lo in range(0, n, REGION_BLOCK):  # a block of samples' grids at once
        density = grid.densities(draws[:, lo : lo + REGION_BLOCK])  # (b, grid, grid)
        b = density.shape[0]
        region = density >= _thresholds(density, level)[:, None, None]
        area[lo : lo + b] = region.sum(axis=(1, 2)) * grid.cell_area
        labels, count = ndimage.label(region, structure=within_plane)
        pieces = np.arange(1, count + 1)
        mass = np.asarray(ndimage.sum_labels(density, labels, index=pieces))
        owner = np.broadcast_to(np.arange(b)[:, None, None], density.shape)
        sample = np.asarray(ndimage.minimum(owner, labels, index=pieces)).astype(np.int64)
        modes[lo : lo + b] = np.maximum(1, np.bincount(sample[mass >= 0.05], minlength=b))
    return area, modes


#: Samples whose region grids are built at once (``REGION_BLOCK x REGION_GRID^2`` floats).
REGION_BLOCK = 1024


def region_contains(
    draws: np.ndarray, points: np.ndarray, level: float, extent: tuple | None = None
) -> np.ndarray:
    """Tell whether each sample's ``level`` highest-density region holds its point.

    The regions are those of :func:`region_summary`. A point outside the grid is outside the
    region; give an ``extent`` that holds the points.

    Parameters
    ----------
    draws : np.ndarray, shape (n_draws, n_samples, 2)
    points : np.ndarray, shape (n_samples, 2)
    level : float
    extent : (xmin, xmax, ymin, ymax), optional

    Returns
    -------
    np.ndarray of bool, shape (n_samples,)
    """
    grid = _Grid(draws, extent)
    inside = np.zeros(draws.shape[1], dtype=bool)
    for j in range(draws.shape[1]):
        cell = grid.cell_of(points[j])
        if cell is not None:
            density = grid.density(draws[:, j])
            inside[j] = density[cell] >= _threshold(density, level)
    return inside


class _Grid:
    """The binning grid of the region estimates."""

    def __init__(self, draws: np.ndarray, extent: tuple | None):
        if extent is None:
            flat = draws.reshape(-1, 2)
            flat = flat[np.isfinite(flat).all(1)]
            lo, hi = flat.min(0), flat.max(0)
            pad = 0.05 * (hi - lo) + 1e-9
            extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
        self.x = np.linspace(extent[0], extent[1], REGION_GRID + 1)
        self.y = np.linspace(extent[2], extent[3], REGION_GRID + 1)
        self.cell_area = (self.x[1] - self.x[0]) * (self.y[1] - self.y[0])

    def density(self, points: np.ndarray) -> np.ndarray:
        """Smoothed share of ``points`` (m, 2) per cell, shape (grid, grid), summing to 1."""
        from scipy import ndimage

        hist = np.histogram2d(points[:, 0], points[:, 1], bins=(self.x, self.y))[0]
        density = ndimage.gaussian_filter(hist, 1.0, mode="constant")
        return density / max(density.sum(), 1e-300)

    def densities(self, points: np.ndarray) -> np.ndarray:
        """:meth:`density` of each sample's points ``(m, b, 2)``, shape (b, grid, grid)."""
        from scipy import ndimage

        m, b, _ = points.shape
        # np.histogram2d's bins: [edge_i, edge_i+1), the last one closed; outside: dropped
        ix = np.searchsorted(self.x, points[..., 0], side="right") - 1
        iy = np.searchsorted(self.y, points[..., 1], side="right") - 1
        ix[points[..., 0] == self.x[-1]] = REGION_GRID - 1
        iy[points[..., 1] == self.y[-1]] = REGION_GRID - 1
        inside = (ix >= 0) & (ix < REGION_GRID) & (iy >= 0) & (iy < REGION_GRID)
        cell = (np.arange(b) * REGION_GRID + ix) * REGION_GRID + iy  # (m, b)
        hist = np.bincount(cell[inside], minlength=b * REGION_GRID**2).astype(np.float64)
        hist = hist.reshape(b, REGION_GRID, REGION_GRID)
        density = ndimage.gaussian_filter(hist, (0.0, 1.0, 1.0), mode="constant")
        return density / np.maximum(density.sum(axis=(1, 2)), 1e-300)[:, None, None]

    def cell_of(self, point) -> tuple[int, int] | None:
        i = np.searchsorted(self.x, point[0], side="right") - 1
        j = np.searchsorted(self.y, point[1], side="right") - 1
        inside = 0 <= i < REGION_GRID and 0 <= j < REGION_GRID
        return (int(i), int(j)) if inside else None


def _thresholds(density: np.ndarray, level: float) -> np.ndarray:
    """:func:`_threshold` of each grid of ``density`` (b, grid, grid), shape (b,)."""
    order = -np.sort(-density.reshape(len(density), -1), axis=1)  # descending
    reached = np.cumsum(order, axis=1) >= level
    last = np.where(reached.any(axis=1), reached.argmax(axis=1), order.shape[1] - 1)
    return order[np.arange(len(order)), last]


def _threshold(density: np.ndarray, level: float) -> float:
    """Density of the last cell of the highest-density region holding ``level`` of the mass."""
    order = np.sort(density.ravel())[::-1]
    return float(order[min(np.searchsorted(np.cumsum(order), level), len(order) - 1)])
