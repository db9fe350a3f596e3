"""Publication-style scatter of an ancestry embedding, coloured by population.

Every population its own colour from a 30-colour high-contrast palette, each super-population
its own marker shape, legend grouped by super-population and placed outside the axes, readable
with 26+ populations; marker size scaled to the number of samples. With posterior sds a second panel shows each sample's uncertainty; ``project``
draws new samples over the reference map.
"""

from __future__ import annotations

import numpy as np

from ..pca.projection import chi2_2d_radius

#: 30 colours that stay apart from each other: Kenneth Kelly's 20 colours of maximum contrast
#: (Kelly 1965, Color Engineering 3(6); white and black left out), then ten of matplotlib's
#: tab10. Populations take them in legend order, so neighbours in a super-population differ.
PALETTE = (
    "#F3C300", "#875692", "#F38400", "#A1CAF1", "#BE0032", "#C2B280", "#848482", "#008856",
    "#E68FAC", "#0067A5", "#F99379", "#604E97", "#F6A600", "#B3446C", "#DCD300", "#882D17",
    "#8DB600", "#654522", "#E25822", "#2B3D26", "#1F77B4", "#2CA02C", "#D62728", "#9467BD",
    "#8C564B", "#E377C2", "#17BECF", "#BCBD22", "#7F7F7F", "#FF7F0E",
)  # fmt: skip
UNLABELLED = "unlabelled"
UNLABELLED_COLOUR = "#BBBBBB"
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


def is_unlabelled(value) -> bool:
    """Whether a label is missing (None, NaN, "", "NA")."""
    return value is None or value != value or str(value) in ("", "NA", "nan", UNLABELLED)


def population_styles(population, super_population=None) -> dict:
    """Give each population a colour and a marker index: ``{pop: (hex, marker)}``.

    Every population gets its own colour from :data:`PALETTE`, in legend order (grouped by
    super-population); the marker tells the super-population (one shape per group), so both
    "which population" and "which continent" read off the map. Beyond 30 populations the
    colours repeat with the next marker. Unlabelled samples are grey circles.
    """
    population = [UNLABELLED if is_unlabelled(p) else str(p) for p in population]
    groups: dict = {}
    sups = [None] * len(population) if super_population is None else list(super_population)
    for p, s in zip(population, sups):
        if p == UNLABELLED:
            continue
        group = None if s is None or is_unlabelled(s) else str(s)
        groups.setdefault(group, [])
        if p not in groups[group]:
            groups[group].append(p)
    styles, k = {}, 0
    named = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    for gi, (group, members) in enumerate(named):
        for p in sorted(members):
            if p in styles:
                continue
            marker = (gi if group is not None else 0) + k // len(PALETTE)
            styles[p] = (PALETTE[k % len(PALETTE)], marker % len(MARKERS))
            k += 1
    if UNLABELLED in population:
        styles[UNLABELLED] = (UNLABELLED_COLOUR, 0)
    return styles


def population_colours(population, super_population=None) -> dict:
    """Map each population to its hex colour (:func:`population_styles`)."""
    return {
        p: colour for p, (colour, _) in population_styles(population, super_population).items()
    }


def marker_size(n: int) -> float:
    """Scatter marker area (points^2) for ``n`` samples: large for a few, small for many."""
    return float(np.clip(40.0 * np.sqrt(1000.0 / max(n, 1)), 4.0, 60.0))


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
    axis_labels=("DIM1", "DIM2"),
):
    """Scatter ``coords`` (n, 2) by population; save to ``path`` (PNG) when given; return the figure.

    Populations differ in colour, super-populations in marker (:func:`population_styles`).

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
    axis_labels : (str, str)
        ``("PC1", "PC2")`` for a PCA map.
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
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
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

    size = marker_size(len(coords))
    rasterized = len(coords) > 20_000  # a PNG of 100,000 points stays small and fast
    if population is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=size, c="0.3", alpha=alpha, linewidths=0,
                   rasterized=rasterized)  # fmt: skip
        return []
    population = np.array([UNLABELLED if is_unlabelled(p) else str(p) for p in population])
    sup = None
    if super_population is not None:  # unlabelled samples are listed last, under no heading
        sup = np.array(["" if is_unlabelled(g) or p == UNLABELLED else str(g)
                        for p, g in zip(population, super_population)])  # fmt: skip
    styles = population_styles(population, sup)
    handles = []
    if sup is None:
        groups = [None]
    else:  # named super-populations, then samples without one
        groups = sorted(set(sup) - {""}) + ([""] if "" in set(sup) else [])
    for group in groups:
        members = sorted(set(population if group is None else population[sup == group]))
        if group:
            handles.append(Line2D([], [], linestyle="", label=f"$\\bf{{{group}}}$"))
        for pop in sorted(members, key=lambda p: p == UNLABELLED):
            mask = population == pop if group is None else (population == pop) & (sup == group)
            colour, marker = styles[pop]
            marker = MARKERS[marker]
            ax.scatter(
                coords[mask, 0], coords[mask, 1], s=size, color=colour, marker=marker,
                alpha=alpha, linewidths=0, rasterized=rasterized,
            )  # fmt: skip
            handles.append(
                Line2D([], [], marker=marker, linestyle="", color=colour, markersize=6,
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
