"""Publication-style scatter of an ancestry embedding, coloured by population.

One colour family per super-population (shades of one colormap), legend grouped by
super-population and placed outside the axes, readable with 26+ populations.
"""

from __future__ import annotations

import numpy as np

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
        shades = np.linspace(0.45, 0.95, len(members)) if len(members) > 1 else [0.7]
        for p, shade in zip(sorted(members), shades):
            colours[p] = cmap(shade)
    return colours


def plot_embedding(coords, population=None, super_population=None, *, title: str = "", path=None):
    """Scatter ``coords`` (n, 2); save to ``path`` (PNG) when given; return the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    coords = np.asarray(coords)
    fig, ax = plt.subplots(figsize=(9, 6.5))
    if population is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=6, c="0.3", alpha=0.8, linewidths=0)
    else:
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
                    _MARKERS[pi % len(_MARKERS)] if group is None and len(members) > 20 else "o"
                )
                ax.scatter(
                    coords[mask, 0],
                    coords[mask, 1],
                    s=7,
                    color=colours[pop],
                    marker=marker,
                    alpha=0.85,
                    linewidths=0,
                )
                handles.append(
                    Line2D(
                        [],
                        [],
                        marker=marker,
                        linestyle="",
                        color=colours[pop],
                        markersize=6,
                        label=f"{pop} ({int(mask.sum())})",
                    )
                )
        ncol = 1 if len(handles) <= 32 else 2
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize=7.5,
            ncol=ncol,
            handletextpad=0.3,
            borderaxespad=0.0,
        )
    ax.set_xlabel("DIM1")
    ax.set_ylabel("DIM2")
    ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150, format="png")
        plt.close(fig)
    return fig
