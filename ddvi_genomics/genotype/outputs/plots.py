"""Publication-style scatter of an ancestry embedding, coloured by population.

One colour family per super-population (shades of one colormap, each population also with its
own marker), legend grouped by super-population and placed outside the axes, readable with 26+
populations. With posterior sds a second panel shows each sample's uncertainty; ``project``
draws new samples over the reference map.
"""

from __future__ import annotations

import numpy as np

from ..pca.projection import chi2_2d_radius

_FAMILIES = [
    "Oranges",
    "Blues",
    "Greens",
    "Reds",
    "Purples",
    "Greys",
    "YlOrBr",
    "PuRd",
    "BuGn",
    "RdPu",
]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


def population_colours(population, super_population=None) -> dict:
    """Map each population to an RGBA colour (families by super-population when given)."""
    import matplotlib

    pops = list(dict.fromkeys(population))
    colours = {}
    if super_population is None:
        cmap = matplotlib.colormaps["tab20"].colors + matplotlib.colormaps["tab20b"].colors
        return {p: cmap[i % len(cmap)] for i, p in enumerate(sorted(pops))}
    groups: dict = {}
    for p, s in zip(population, super_population):
        groups.setdefault(s, [])
        if p not in groups[s]:
            groups[s].append(p)
    for gi, (_sup, members) in enumerate(sorted(groups.items())):
        cmap = matplotlib.colormaps[_FAMILIES[gi % len(_FAMILIES)]]
        shades = np.linspace(0.4, 0.95, len(members)) if len(members) > 1 else [0.7]
        for p, shade in zip(sorted(members), shades):
            colours[p] = cmap(shade)
    return colours


def plot_embedding(
    coords,
    population=None,
    super_population=None,
    *,
    sd=None,
    title: str = "",
    path=None,
    reference=None,
    regions=None,
):
    """Scatter ``coords`` (n, 2) by population; save to ``path`` (PNG) when given; return the figure.

    Within a super-population, populations differ in shade *and* marker, so five shades of one
    colour family stay distinguishable.

    Parameters
    ----------
    coords : array, shape (n, 2)
    population, super_population : array of str, shape (n,), optional
    sd : array, shape (n, 2), optional
        Posterior standard deviations: a second panel colours every sample by its
        ``sqrt((sd1^2 + sd2^2) / 2)``, so the map's uncertainty is visible in the PNG.
    title : str
    path : path, optional
    reference : tuple (coords, population, super_population), optional
        A reference map drawn faintly underneath (``project``): ``coords`` are then new samples,
        drawn on top as black-edged markers (filled by ``population`` when it is given, e.g.
        the label-guided calls).
    regions : array, shape (n, 2, 2), optional
        Per-sample covariance of the position: its central 90 % region is drawn as an ellipse
        (rows with NaN are skipped).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    coords = np.asarray(coords)
    with_sd = sd is not None and np.isfinite(np.asarray(sd, dtype=float)).all()
    fig, axes = plt.subplots(
        1, 2 if with_sd else 1, figsize=(15.5 if with_sd else 9, 6.5), squeeze=False
    )
    ax = axes[0, 0]
    if reference is not None:
        ref_coords, ref_pop, ref_sup = reference
        handles = _scatter_populations(ax, np.asarray(ref_coords), ref_pop, ref_sup, alpha=0.3)
        handles += _scatter_new_samples(ax, coords, population, super_population)
    else:
        handles = _scatter_populations(ax, coords, population, super_population, alpha=0.85)
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=7.5,
            ncol=1 if len(handles) <= 32 else 2,
            handletextpad=0.3,
            borderaxespad=0.0,
        )
    if regions is not None:
        draw_regions(ax, coords, np.asarray(regions, dtype=float), level=0.9)
    ax.set_xlabel("DIM1")
    ax.set_ylabel("DIM2")
    ax.set_title(title)
    if with_sd:
        _plot_uncertainty(fig, axes[0, 1], coords, np.asarray(sd, dtype=float), ax)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150, format="png")
        plt.close(fig)
    return fig


def ellipse_axes(
    covariance: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full axis lengths and angles of the central ``level`` ellipses of 2-D Gaussians.

    Parameters
    ----------
    covariance : np.ndarray, shape (n, 2, 2)
    level : float

    Returns
    -------
    width, height : np.ndarray, shape (n,)
        Along the major and minor axes: ``2 r sqrt(eigenvalue)``, ``r^2`` the chi-square(2)
        quantile of ``level``.
    angle : np.ndarray, shape (n,)
        Of the major axis, in degrees anticlockwise from DIM1.
    """
    radius = chi2_2d_radius(level)
    eigval, eigvec = np.linalg.eigh(covariance)  # ascending
    major = eigvec[:, :, 1]
    width = 2 * radius * np.sqrt(np.clip(eigval[:, 1], 0, None))
    height = 2 * radius * np.sqrt(np.clip(eigval[:, 0], 0, None))
    return width, height, np.degrees(np.arctan2(major[:, 1], major[:, 0]))


def draw_regions(ax, centres: np.ndarray, covariance: np.ndarray, *, level: float = 0.9) -> None:
    """Outline each sample's central ``level`` region (Gaussian ellipse) on ``ax``."""
    from matplotlib.collections import EllipseCollection

    ok = np.isfinite(centres).all(1) & np.isfinite(covariance).all((1, 2))
    if not ok.any():
        return
    width, height, angle = ellipse_axes(covariance[ok], level)
    ax.add_collection(
        EllipseCollection(
            width, height, angle, units="xy", offsets=centres[ok], offset_transform=ax.transData,
            facecolors="none", edgecolors="black", linewidths=0.6, alpha=0.7, zorder=4,
        )
    )  # fmt: skip


def _scatter_populations(ax, coords, population, super_population, *, alpha):
    """Draw samples by population; return the legend handles (grouped by super-population)."""
    from matplotlib.lines import Line2D

    if population is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=6, c="0.3", alpha=alpha, linewidths=0)
        return []
    population = np.asarray(population)
    sup = None if super_population is None else np.asarray(super_population)
    colours = population_colours(population, sup)
    handles = []
    groups = sorted(set(sup)) if sup is not None else [None]
    for group in groups:
        members = sorted(set(population if group is None else population[sup == group]))
        if group is not None:
            handles.append(Line2D([], [], linestyle="", label=f"$\\bf{{{group}}}$"))
        for pi, pop in enumerate(members):
            mask = population == pop
            marker = (
                _MARKERS[pi % len(_MARKERS)] if group is not None or len(members) > 20 else "o"
            )
            ax.scatter(
                coords[mask, 0], coords[mask, 1], s=8, color=colours[pop], marker=marker,
                alpha=alpha, linewidths=0,
            )  # fmt: skip
            handles.append(
                Line2D([], [], marker=marker, linestyle="", color=colours[pop], markersize=6,
                       label=f"{pop} ({int(mask.sum())})")
            )  # fmt: skip
    return handles


def _scatter_new_samples(ax, coords, population, super_population):
    """Projected samples on top of a reference map; return their legend handles."""
    from matplotlib.lines import Line2D

    kwargs = dict(s=28, marker="D", edgecolors="black", linewidths=0.8, zorder=5)
    if population is None:
        ax.scatter(coords[:, 0], coords[:, 1], c="black", **kwargs)
        return [Line2D([], [], marker="D", linestyle="", color="black", markersize=6,
                       label=f"new samples ({len(coords)})")]  # fmt: skip
    population = np.asarray(population)
    colours = population_colours(population, super_population)
    handles = [Line2D([], [], linestyle="", label="$\\bf{new\\ samples}$")]
    for pop in sorted(set(population)):
        mask = population == pop
        ax.scatter(coords[mask, 0], coords[mask, 1], color=colours[pop], **kwargs)
        handles.append(Line2D([], [], marker="D", linestyle="", color=colours[pop],
                              markeredgecolor="black", markersize=6,
                              label=f"{pop} ({int(mask.sum())})"))  # fmt: skip
    return handles


def _plot_uncertainty(fig, ax, coords, sd, map_ax) -> None:
    """Second panel: every sample coloured by its posterior sd, on the same axes limits."""
    spread = np.sqrt((sd**2).mean(axis=1))
    order = np.argsort(spread)  # most uncertain on top
    points = ax.scatter(
        coords[order, 0], coords[order, 1], c=spread[order], s=8, cmap="viridis", linewidths=0
    )
    ax.set_xlim(map_ax.get_xlim())
    ax.set_ylim(map_ax.get_ylim())
    ax.set_xlabel("DIM1")
    ax.set_ylabel("DIM2")
    ax.set_title("posterior uncertainty (sd per sample)")
    fig.colorbar(points, ax=ax, label="sqrt((sd1² + sd2²) / 2)")
