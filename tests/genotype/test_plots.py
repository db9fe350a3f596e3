"""The static map: populations told apart within a super-population, uncertainty, projection."""

import numpy as np
from matplotlib.colors import to_rgba

from ddvi_genomics.genotype.outputs.plots import plot_embedding, population_colours


def five_in_one_super_population(seed=0):
    rng = np.random.default_rng(seed)
    pops = np.repeat(["CHB", "JPT", "CHS", "CDX", "KHV"], 20)
    return rng.normal(size=(100, 2)), pops, np.full(100, "EAS")


def legend_entries(fig):
    legend = fig.axes[0].get_legend()
    return {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}


def test_populations_of_one_super_population_differ_in_colour_and_share_its_marker():
    coords, pops, sup = five_in_one_super_population()
    fig = plot_embedding(coords, pops, sup)
    entries = {k: h for k, h in legend_entries(fig).items() if "(" in k}
    assert len(entries) == 5
    assert len({to_rgba(h.get_color()) for h in entries.values()}) == 5
    assert len({h.get_marker() for h in entries.values()}) == 1
    colours = population_colours(pops, sup)
    assert len({to_rgba(c) for c in colours.values()}) == 5


def test_unlabelled_samples_are_named_so_and_markers_grow_for_small_maps():
    from ddvi_genomics.genotype.outputs.plots import marker_size

    coords, pops, sup = five_in_one_super_population()
    pops = pops.astype(object)
    pops[:3] = None
    labels = list(legend_entries(plot_embedding(coords, pops, sup)))
    assert "unlabelled (3)" in labels and not any(label.startswith("NA") for label in labels)
    assert marker_size(100) > marker_size(2504) > marker_size(100_000)


def test_sd_adds_an_uncertainty_panel_coloured_by_each_samples_sd():
    coords, pops, sup = five_in_one_super_population()
    sd = np.abs(np.random.default_rng(1).normal(size=(100, 2)))
    fig = plot_embedding(coords, pops, sup, sd=sd)
    panel = fig.axes[1]
    assert "uncertainty" in panel.get_title()
    shown = panel.collections[0].get_array()
    expected = np.sort(np.sqrt((sd**2).mean(axis=1)))  # drawn in increasing order
    np.testing.assert_allclose(shown, expected)
    assert len(plot_embedding(coords, pops, sup).axes) == 1  # no sd, no second panel


def test_projection_draws_new_samples_over_the_reference():
    coords, pops, sup = five_in_one_super_population()
    new = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    fig = plot_embedding(new, None, None, reference=(coords, pops, sup))
    entries = legend_entries(fig)
    assert "new samples (3)" in entries and "CHB (20)" in entries
    top = max(fig.axes[0].collections, key=lambda c: c.get_zorder())
    np.testing.assert_allclose(top.get_offsets(), new)
