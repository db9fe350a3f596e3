"""The interactive HTML map: its data round-trip, hostile sample IDs, and a real headless browser."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from ddvi_genomics.genotype.outputs.html_map import write_html_map

HOSTILE = "</script><script>alert(1)</script><!--"


def embedded(path):
    text = path.read_text()
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    return text, json.loads(match.group(1))


def example(n=40, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"S{i}" for i in range(n - 1)] + [HOSTILE]
    coords = rng.normal(size=(n, 2))
    sd = rng.uniform(0.01, 0.2, size=(n, 2))
    pops = np.array(["GBR", "FIN", "YRI", "LWK"])[np.arange(n) % 4]
    sups = np.where(np.isin(pops, ["GBR", "FIN"]), "EUR", "AFR")
    return ids, coords, sd, pops, sups


def test_html_map__data_round_trip_and_grouped_legend(tmp_path):
    ids, coords, sd, pops, sups = example()
    path = write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups, title="t <b>")
    text, data = embedded(path)
    assert [s[0] for s in data["samples"]] == ids
    np.testing.assert_allclose([s[1:3] for s in data["samples"]], coords, atol=1e-5)
    np.testing.assert_allclose([s[3:5] for s in data["samples"]], sd, atol=1e-5)
    assert [s[5] for s in data["samples"]] == list(pops)
    legend = {entry["name"]: entry["group"] for entry in data["legend"]}
    assert legend == {"FIN": "EUR", "GBR": "EUR", "LWK": "AFR", "YRI": "AFR"}
    # every population its own colour; a shape per super-population
    assert len({e["colour"] for e in data["legend"]}) == 4
    shapes = {e["group"]: {x["shape"] for x in data["legend"] if x["group"] == e["group"]}
              for e in data["legend"]}  # fmt: skip
    assert shapes["EUR"] != shapes["AFR"] and all(len(v) == 1 for v in shapes.values())
    assert "<title>t &lt;b&gt;</title>" in text


def test_html_map__a_sample_id_cannot_end_the_script(tmp_path):
    ids, coords, *_ = example()
    text, data = embedded(write_html_map(tmp_path / "m.html", ids, coords))
    assert text.count("</script>") == 2  # the data block and the code block, nothing injected
    assert "<!--" not in text and data["samples"][-1][0] == HOSTILE
    assert data["has_sd"] is False and {s[5] for s in data["samples"]} == {"all samples"}


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (Debian chromium)"
)
def test_html_map__draws_every_sample_in_headless_chromium(tmp_path):
    ids, coords, sd, pops, sups = example(n=300)
    path = write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups)
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'data-ready="300"' in dom  # the script ran to the end and drew 300 markers
    assert "300 of 300 samples shown" in dom
    assert dom.count('class="pt"') == 300 and dom.count("<ellipse") == 300


def test_html_map__clouds_travel_for_the_samples_that_have_them(tmp_path):
    ids, coords, sd, pops, sups = example(n=6)
    clouds = [None] * 6
    clouds[2] = np.array([[0.1, 0.2], [0.3, np.nan], [0.5, 0.6]])  # a NaN draw is left out
    _, data = embedded(
        write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups, clouds=clouds)
    )
    assert data["clouds"] == {"2": [[0.1, 0.2], [0.5, 0.6]]}
    assert data["note"] == ""


def test_html_map__many_clouds__the_least_certain_travel_with_a_note(tmp_path, monkeypatch):
    from ddvi_genomics.genotype.outputs import html_map

    monkeypatch.setattr(html_map, "CLOUD_MAX_SAMPLES", 2)
    ids, coords, sd, pops, sups = example(n=6)
    rng = np.random.default_rng(1)
    spreads = [0.1, 2.0, 0.5, 3.0, 0.2]  # samples 0-4; 5 has none
    clouds = [s * rng.normal(size=(30, 2)) for s in spreads] + [None]
    _, data = embedded(
        write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups, clouds=clouds)
    )
    assert sorted(data["clouds"]) == ["1", "3"]  # the two widest
    assert data["note"] == "posterior clouds of the 2 least certain of 5 samples (click one)"


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (Debian chromium)"
)
def test_html_map__opens_a_posterior_cloud_in_headless_chromium(tmp_path):
    ids, coords, sd, pops, sups = example(n=50)
    clouds = [None] * 50
    clouds[7] = np.random.default_rng(0).normal(size=(40, 2))
    path = write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups, clouds=clouds)
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         path.as_uri() + "#cloud=S7"],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'data-ready="50"' in dom and 'data-clouds="40"' in dom
    assert dom.count("<circle") == 40


def test_population_styles__26_populations_get_26_colours_and_unlabelled_is_grey():
    from ddvi_genomics.genotype.outputs.plots import UNLABELLED_COLOUR, population_styles

    pops = [f"P{i}" for i in range(26)] + [float("nan")]
    sups = [f"S{i // 6}" for i in range(26)] + [float("nan")]
    styles = population_styles(pops, sups)
    assert len({styles[f"P{i}"][0] for i in range(26)}) == 26
    assert styles["unlabelled"] == (UNLABELLED_COLOUR, 0)
    assert {styles[f"P{i}"][1] for i in range(6)} == {0} and styles["P6"][1] == 1


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (Debian chromium)"
)
def test_html_map__axes_ticks_and_a_legend_entry_per_population_in_chromium(tmp_path):
    ids, coords, sd, pops, sups = example(n=200)
    pops = pops.astype(object)
    pops[:7] = None  # unlabelled samples
    path = write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups, title="PCA map",
                          axis_labels=("PC1", "PC2"))  # fmt: skip
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,800",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'id="xname"' in dom and ">PC1</text>" in dom and ">PC2</text>" in dom
    ticks = int(re.search(r'data-ticks="(\d+)"', dom).group(1))
    assert ticks >= 6  # at least three ticks on each axis
    assert dom.count('class="item"') == 5  # FIN GBR LWK YRI and "unlabelled"
    assert ">unlabelled<" in dom or "unlabelled</div>" in dom


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (Debian chromium)"
)
def test_html_map__a_cohort_is_painted_on_one_canvas_in_chromium(tmp_path, monkeypatch):
    """From CANVAS_MIN_SAMPLES on: no element per sample, every marker painted, axes as before."""
    from ddvi_genomics.genotype.outputs import html_map

    monkeypatch.setattr(html_map, "CANVAS_MIN_SAMPLES", 500)
    ids, coords, sd, pops, sups = example(n=600)
    path = write_html_map(tmp_path / "m.html", ids, coords, sd, pops, sups)
    _, data = embedded(path)
    assert data["canvas"] is True and data["marker"] == pytest.approx(0.006)
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,800",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert 'data-mode="canvas"' in dom and 'data-ready="600"' in dom
    assert 'data-painted="600"' in dom  # every marker inside the home view
    assert dom.count('class="pt"') == 0 and dom.count("<ellipse") == 0
    assert int(re.search(r'data-ticks="(\d+)"', dom).group(1)) >= 6
    assert "600 of 600 samples shown" in dom


def test_marker_radius__shrinks_with_the_cohort():
    from ddvi_genomics.genotype.outputs.html_map import marker_radius

    assert marker_radius(300) == marker_radius(2500) == pytest.approx(0.006)
    assert marker_radius(10_000) == pytest.approx(0.003)  # sqrt(2500 / 10000) = 0.5
    assert marker_radius(10**6) == pytest.approx(0.0018)  # the floor
