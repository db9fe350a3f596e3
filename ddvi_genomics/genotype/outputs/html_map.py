"""An interactive ancestry map in one self-contained HTML file (SVG and a few lines of JavaScript).

Hover a sample for its ID, population and coordinates with their posterior standard deviations;
click a population (or a super-population heading) in the legend to hide or show it; tick
"uncertainty" to draw each sample's 1-sd ellipse; scroll to zoom, drag to pan, double-click to
reset. A projected sample whose map posterior was drawn (``project`` of an incomplete sample) is
outlined; click it to show or hide its posterior cloud (``map.html#cloud=SAMPLE_ID`` opens one). Colours and marker shapes follow the PNG (one colour family per super-population, a shape
per population within it). The file needs no network and no library, so it opens on an offline
cluster node, and stays small (about 50 bytes per sample).

From :data:`CANVAS_MIN_SAMPLES` samples on (biobank cohorts) the markers and ellipses are painted
on one ``<canvas>`` instead of one SVG element each, so the page holds a handful of elements
whatever the cohort's size; hovering finds the nearest sample through a grid index built once.

The data travel as JSON inside ``<script type="application/json">``; ``<``, ``>`` and ``&`` are
written as JSON unicode escapes, so a sample ID cannot close the script element.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from .plots import MARKERS, UNLABELLED, is_unlabelled, population_styles

#: SVG path of each marker shape, centred on 0 with radius about 1 (the PNG's o, s, ^, D, v).
SHAPES = [
    "M1,0A1,1 0 1,1 -1,0A1,1 0 1,1 1,0Z",
    "M-0.85,-0.85H0.85V0.85H-0.85Z",
    "M0,-1.1L0.95,0.65H-0.95Z",
    "M0,-1.15L1.15,0L0,1.15L-1.15,0Z",
    "M0,1.1L0.95,-0.65H-0.95Z",
]


#: From this many samples on the markers are painted on a canvas (module docstring).
CANVAS_MIN_SAMPLES = 10_000

#: The PNG's markers that have an SVG shape here; others draw as circles.
_SHAPE_OF_MARKER = {"o": 0, "s": 1, "^": 2, "D": 3, "v": 4}


def map_data(
    sample_id, coords, sd=None, population=None, super_population=None, clouds=None,
    axis_labels=("DIM1", "DIM2"),
) -> dict:  # fmt: skip
    """Build the JSON the page draws: samples, and populations with colour, shape and group.

    Parameters
    ----------
    sample_id : array_like of str, shape (n,)
    coords : np.ndarray, shape (n, 2)
        Finite (leave unplaceable samples out).
    sd : np.ndarray, shape (n, 2), optional
    population, super_population : array_like of str, shape (n,), optional
        Missing labels (None, NaN, "") show as "unlabelled".
    clouds : list of (np.ndarray of shape (n_draws, 2) or None), length n, optional
        Posterior draws shown on demand (click the sample).
    axis_labels : (str, str)
        Names of the two axes (``PC1``, ``PC2`` for a PCA map).
    """
    coords = np.asarray(coords, dtype=float)
    n = len(coords)

    def labels(values):
        if values is None:
            return None
        return [UNLABELLED if is_unlabelled(v) else str(v) for v in values]

    pops = labels(population) or ["all samples"] * n
    sups = labels(super_population)
    styles = population_styles(pops, sups)
    groups: dict[str, list[str]] = {}
    for p, s in zip(pops, sups or pops):
        members = groups.setdefault("" if not sups or UNLABELLED in (p, s) else s, [])
        if p not in members:
            members.append(p)
    legend = []
    for group, members in sorted(groups.items(), key=lambda item: (item[0] == "", item[0])):
        for p in sorted(members, key=lambda p: (p == UNLABELLED, p)):
            colour, marker = styles[p]
            legend.append({"name": p, "group": group, "colour": colour,
                           "shape": _SHAPE_OF_MARKER.get(MARKERS[marker], 0)})  # fmt: skip
    sd = np.full((n, 2), np.nan) if sd is None else np.asarray(sd, dtype=float)
    samples = [
        [str(i), round(float(x), 5), round(float(y), 5), _finite(a), _finite(b), p]
        for i, (x, y), (a, b), p in zip(sample_id, coords, sd, pops)
    ]
    cloud_data, note = _cloud_data(clouds or [])
    return {
        "legend": legend,
        "samples": samples,
        "has_sd": bool(np.isfinite(sd).any()),
        "clouds": cloud_data,
        "axes": [str(axis_labels[0]), str(axis_labels[1])],
        "canvas": n >= CANVAS_MIN_SAMPLES,
        "marker": marker_radius(n),
        "note": note,
    }


#: Most posterior clouds one page carries (each ``n_draws x 2`` numbers): beyond it, the
#: clouds of the least certain samples only (100,000 clouds of 100 draws made a 175 MB page).
CLOUD_MAX_SAMPLES = 2000


def _cloud_data(clouds) -> tuple[dict, str]:
    """Return the clouds the page carries (keyed by sample index) and a note on any left out.

    Above :data:`CLOUD_MAX_SAMPLES` clouds, those with the largest spread (trace of the draws'
    covariance) are kept.
    """
    finite = {}
    for i, cloud in enumerate(clouds):
        if cloud is not None:
            points = np.asarray(cloud, dtype=float)
            finite[i] = points[np.isfinite(points).all(1)]
    note = ""
    if len(finite) > CLOUD_MAX_SAMPLES:
        spread = {i: float(points.var(axis=0).sum()) if len(points) else 0.0
                  for i, points in finite.items()}  # fmt: skip
        kept = sorted(finite, key=lambda i: -spread[i])[:CLOUD_MAX_SAMPLES]
        note = (
            f"posterior clouds of the {CLOUD_MAX_SAMPLES:,} least certain of {len(finite):,} "
            "samples (click one)"
        )
        finite = {i: finite[i] for i in sorted(kept)}
    return {str(i): np.round(points, 4).tolist() for i, points in finite.items()}, note


def marker_radius(n: int) -> float:
    """Marker radius as a fraction of the view's span for ``n`` samples.

    0.006 up to 2,500 samples, then shrinking as ``1 / sqrt(n)`` (the markers' total area stays
    constant) down to 0.0018.
    """
    return 0.006 * float(np.clip(np.sqrt(2500 / max(n, 1)), 0.3, 1.0))


def _finite(value: float):
    return round(float(value), 5) if np.isfinite(value) else None


def _safe_json(data: dict) -> str:
    """JSON that cannot end a ``<script>`` element or open a comment."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_html_map(path, sample_id, coords, sd=None, population=None, super_population=None,
                   *, title: str = "Ancestry map", clouds=None,
                   axis_labels=("DIM1", "DIM2")) -> Path:  # fmt: skip
    """Write the interactive map to ``path`` (see the module docstring); return the path."""
    data = map_data(sample_id, coords, sd, population, super_population, clouds, axis_labels)
    page = (
        _PAGE.replace("__TITLE__", html.escape(title))
        .replace("__SHAPES__", json.dumps(SHAPES))
        .replace("__DATA__", _safe_json(data))
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;display:flex;height:100vh}
#plot{flex:1;position:relative}
#svg{position:absolute;left:58px;top:8px;right:12px;bottom:44px;width:calc(100% - 70px);
height:calc(100% - 52px);cursor:grab;background:transparent;border:1px solid #bbb}
#plot{background:#fff}
#cv{position:absolute;left:59px;top:9px;pointer-events:none}
#axes{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
#axes text{font:11px system-ui,sans-serif;fill:#333}#axes .name{font-size:13px;font-weight:600}
.item svg{vertical-align:middle}
#side{width:230px;overflow:auto;border-left:1px solid #ddd;padding:8px}
.item{cursor:pointer;white-space:nowrap;user-select:none}.item.off{opacity:.3}
.group{font-weight:600;margin-top:6px;cursor:pointer}
#tip{position:absolute;pointer-events:none;background:#fffe;border:1px solid #999;padding:4px 6px;
border-radius:3px;display:none;font-size:12px;white-space:pre}
h1{font-size:14px;margin:0 0 6px}
</style></head><body>
<div id="plot"><canvas id="cv"></canvas><svg id="axes" xmlns="http://www.w3.org/2000/svg"></svg>
<svg id="svg" xmlns="http://www.w3.org/2000/svg"><g id="ell"></g><g id="pts"></g><g id="cloud"></g></svg>
<div id="tip"></div></div>
<div id="side"><h1>__TITLE__</h1>
<label><input type="checkbox" id="unc"> uncertainty (1 sd)</label>
<div id="count"></div><div id="note"></div><div id="legend"></div></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const SHAPES = __SHAPES__;
const svg = document.getElementById("svg"), pts = document.getElementById("pts");
const ell = document.getElementById("ell"), tip = document.getElementById("tip");
const cloud = document.getElementById("cloud"), shown = new Set();
const NS = "http://www.w3.org/2000/svg";
const style = {}; DATA.legend.forEach(l => style[l.name] = l);
const hidden = new Set();
let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
for (const s of DATA.samples) {  // a loop: Math.min(...xs) overflows the stack at ~10^5 points
  x0 = Math.min(x0, s[1]); x1 = Math.max(x1, s[1]); y0 = Math.min(y0, s[2]); y1 = Math.max(y1, s[2]);
}
if (!DATA.samples.length) { x0 = y0 = -1; x1 = y1 = 1; }
const pad = 0.05 * Math.max(x1 - x0, y1 - y0, 1e-9);
const home = [x0 - pad, -(y1 + pad), x1 - x0 + 2 * pad, y1 - y0 + 2 * pad];
let view = home.slice();
const size = () => DATA.marker * Math.max(view[2], view[3]);
function setView() { svg.setAttribute("viewBox", view.join(" ")); draw(); drawAxes(); }
function niceStep(span) {
  const raw = span / 6, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
  return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}
function drawAxes() {  // ticks, tick labels and axis names around the plotting area
  const axes = document.getElementById("axes"), outer = axes.getBoundingClientRect();
  const box = svg.getBoundingClientRect();
  const scale = Math.min(box.width / view[2], box.height / view[3]);
  const ox = box.left - outer.left + (box.width - view[2] * scale) / 2;
  const oy = box.top - outer.top + (box.height - view[3] * scale) / 2;
  const px = x => ox + (x - view[0]) * scale, py = y => oy + (-y - view[1]) * scale;
  const left = box.left - outer.left, bottom = box.bottom - outer.top;
  const xmin = view[0], xmax = view[0] + view[2], ymin = -(view[1] + view[3]), ymax = -view[1];
  let out = "";
  const label = v => Math.abs(v) < 1e-12 ? "0" : (+v.toPrecision(6)).toString();
  for (let s = niceStep(xmax - xmin), v = Math.ceil(xmin / s) * s; v <= xmax; v += s) {
    const x = px(v); if (x < left - 1 || x > box.right - outer.left + 1) continue;
    out += `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>` +
      `<text x="${x}" y="${bottom + 17}" text-anchor="middle">${label(v)}</text>`;
  }
  for (let s = niceStep(ymax - ymin), v = Math.ceil(ymin / s) * s; v <= ymax; v += s) {
    const y = py(v); if (y < box.top - outer.top - 1 || y > bottom + 1) continue;
    out += `<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333"/>` +
      `<text x="${left - 7}" y="${y + 4}" text-anchor="end">${label(v)}</text>`;
  }
  const cx = (left + box.right - outer.left) / 2, cy = (box.top - outer.top + bottom) / 2;
  out += `<text class="name" id="xname" x="${cx}" y="${bottom + 36}" text-anchor="middle"></text>` +
    `<text class="name" id="yname" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})"></text>`;
  axes.innerHTML = out;
  document.getElementById("note").textContent = DATA.note || "";
  document.getElementById("xname").textContent = DATA.axes[0];
  document.getElementById("yname").textContent = DATA.axes[1];
  document.body.dataset.ticks = String(axes.querySelectorAll("line").length);
}
window.addEventListener("resize", () => { drawAxes(); if (CANVAS) draw(); });
const cv = document.getElementById("cv"), CANVAS = DATA.canvas;
const PATHS = SHAPES.map(d => new Path2D(d));
function viewToPixels() {  // the SVG's viewBox mapping (xMidYMid meet) in CSS pixels of #svg
  const box = svg.getBoundingClientRect();
  const scale = Math.min(box.width / view[2], box.height / view[3]);
  return {box, scale, ox: (box.width - view[2] * scale) / 2, oy: (box.height - view[3] * scale) / 2};
}
function paint(r) {  // canvas mode: every visible marker (and ellipse) painted, grouped by colour
  const {box, scale, ox, oy} = viewToPixels(), dpr = window.devicePixelRatio || 1;
  cv.style.width = (box.width - 2) + "px"; cv.style.height = (box.height - 2) + "px";
  cv.width = Math.round((box.width - 2) * dpr); cv.height = Math.round((box.height - 2) * dpr);
  const ctx = cv.getContext("2d"), k = scale * dpr, showSd = document.getElementById("unc").checked;
  ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.clearRect(0, 0, cv.width, cv.height);
  const px = x => (ox + (x - view[0]) * scale) * dpr, py = y => (oy + (-y - view[1]) * scale) * dpr;
  let drawn = 0;
  for (const l of DATA.legend) {
    if (hidden.has(l.name)) continue;
    const members = byPop.get(l.name) || [];
    if (showSd) {
      ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.fillStyle = l.colour; ctx.globalAlpha = 0.12;
      ctx.beginPath();
      for (const i of members) {
        const s = DATA.samples[i]; if (s[3] === null || s[4] === null) continue;
        ctx.moveTo(px(s[1]) + s[3] * k, py(s[2]));
        ctx.ellipse(px(s[1]), py(s[2]), s[3] * k, s[4] * k, 0, 0, 2 * Math.PI);
      }
      ctx.fill(); ctx.globalAlpha = 1;
    }
    ctx.fillStyle = l.colour; ctx.strokeStyle = "#333"; ctx.lineWidth = 0.15;
    const path = PATHS[l.shape], m = r * k;
    for (const i of members) {
      const s = DATA.samples[i], x = px(s[1]), y = py(s[2]);
      if (x < -m || y < -m || x > cv.width + m || y > cv.height + m) continue;
      ctx.setTransform(m, 0, 0, m, x, y); ctx.fill(path); ctx.stroke(path); drawn++;
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  document.body.dataset.painted = String(drawn);
}
function draw() {
  const r = size();
  if (CANVAS) paint(r);
  for (const el of pts.children) {
    const s = DATA.samples[+el.dataset.i];
    el.setAttribute("transform", `translate(${s[1]},${-s[2]}) scale(${r})`);
    el.style.display = hidden.has(s[5]) ? "none" : "";
  }
  const showSd = document.getElementById("unc").checked;
  for (const el of ell.children) {
    el.style.display = showSd && !hidden.has(DATA.samples[+el.dataset.i][5]) ? "" : "none";
  }
  for (const c of cloud.children) c.setAttribute("r", 0.45 * r);
  document.getElementById("count").textContent =
    DATA.samples.filter(s => !hidden.has(s[5])).length + " of " + DATA.samples.length + " samples shown";
}
const byPop = new Map();  // population -> sample indices (canvas mode paints by population)
DATA.samples.forEach((s, i) => { if (!byPop.has(s[5])) byPop.set(s[5], []); byPop.get(s[5]).push(i); });
const GRID = 256, grid = new Map();  // canvas mode: a uniform grid over the home view
const cellOf = (x, y) => Math.floor((x - home[0]) / home[2] * GRID) * 100003 +
  Math.floor((-y - home[1]) / home[3] * GRID);
if (CANVAS) DATA.samples.forEach((s, i) => {
  const c = cellOf(s[1], s[2]); if (!grid.has(c)) grid.set(c, []); grid.get(c).push(i);
});
function nearest(ev) {  // canvas mode: the visible sample under the pointer, or -1
  const {box, scale, ox, oy} = viewToPixels();
  const x = view[0] + (ev.clientX - box.left - ox) / scale, y = -(view[1] + (ev.clientY - box.top - oy) / scale);
  const reach = 1.2 * size(), gx = Math.floor((x - home[0]) / home[2] * GRID);
  const gy = Math.floor((-y - home[1]) / home[3] * GRID), span = Math.ceil(reach / home[2] * GRID) + 1;
  let best = -1, bestD = reach * reach;
  for (let a = gx - span; a <= gx + span; a++) for (let b = gy - span; b <= gy + span; b++) {
    for (const i of grid.get(a * 100003 + b) || []) {
      const s = DATA.samples[i]; if (hidden.has(s[5])) continue;
      const d = (s[1] - x) ** 2 + (s[2] - y) ** 2; if (d < bestD) { bestD = d; best = i; }
    }
  }
  return best;
}
if (!CANVAS) DATA.samples.forEach((s, i) => {
  const st = style[s[5]];
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", SHAPES[st.shape]); p.setAttribute("fill", st.colour);
  p.setAttribute("stroke", "#333"); p.setAttribute("stroke-width", "0.15");
  p.dataset.i = i; p.classList.add("pt"); pts.appendChild(p);
  if (DATA.clouds[i]) { p.setAttribute("stroke", "#000"); p.setAttribute("stroke-width", "0.5"); }
  if (s[3] !== null && s[4] !== null) {
    const e = document.createElementNS(NS, "ellipse");
    e.setAttribute("cx", s[1]); e.setAttribute("cy", -s[2]);
    e.setAttribute("rx", s[3]); e.setAttribute("ry", s[4]);
    e.setAttribute("fill", st.colour); e.setAttribute("fill-opacity", "0.12");
    e.dataset.i = i; ell.appendChild(e);
  }
});
const fmt = (v, sd) => v.toFixed(3) + (sd === null ? "" : " \\u00b1 " + sd.toFixed(3));
const target = ev => CANVAS ? (n => n < 0 ? undefined : String(n))(nearest(ev)) : ev.target.dataset.i;
(CANVAS ? svg : pts).addEventListener("mousemove", ev => {
  const i = target(ev); if (i === undefined) { tip.style.display = "none"; return; }
  const s = DATA.samples[+i], st = style[s[5]];
  tip.textContent = s[0] + "\\n" + s[5] + (st.group ? " (" + st.group + ")" : "") +
    "\\nDIM1 " + fmt(s[1], s[3]) + "\\nDIM2 " + fmt(s[2], s[4]) +
    (DATA.clouds[i] ? "\\nclick: posterior cloud" : "");
  const box = svg.getBoundingClientRect();
  tip.style.left = (ev.clientX - box.left + 12) + "px"; tip.style.top = (ev.clientY - box.top + 12) + "px";
  tip.style.display = "block";
});
(CANVAS ? svg : pts).addEventListener("mouseleave", () => tip.style.display = "none");
function drawClouds() {
  cloud.replaceChildren();
  for (const i of shown) {
    const colour = style[DATA.samples[i][5]].colour;
    for (const [x, y] of DATA.clouds[i]) {
      const c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", -y); c.setAttribute("r", 0.45 * size());
      c.setAttribute("fill", colour); c.setAttribute("fill-opacity", "0.5"); c.dataset.i = i;
      cloud.appendChild(c);
    }
  }
  document.body.dataset.clouds = String(cloud.children.length);
}
(CANVAS ? svg : pts).addEventListener("click", ev => {
  const i = target(ev); if (i === undefined || !DATA.clouds[i]) return;
  shown.has(i) ? shown.delete(i) : shown.add(i); drawClouds();
});
const legend = document.getElementById("legend");
let lastGroup = null;
DATA.legend.forEach(l => {
  if (l.group && l.group !== lastGroup) {
    const g = document.createElement("div"); g.className = "group"; g.textContent = l.group;
    g.onclick = () => {
      const members = DATA.legend.filter(m => m.group === l.group).map(m => m.name);
      const allHidden = members.every(m => hidden.has(m));
      members.forEach(m => allHidden ? hidden.delete(m) : hidden.add(m));
      refreshLegend(); draw();
    };
    legend.appendChild(g); lastGroup = l.group;
  }
  const row = document.createElement("div"); row.className = "item"; row.dataset.name = l.name;
  row.innerHTML = `<svg width="12" height="12" viewBox="-1.3 -1.3 2.6 2.6"><path d="${SHAPES[l.shape]}" fill="${l.colour}"/></svg> `;
  row.appendChild(document.createTextNode(l.name));
  row.onclick = () => { hidden.has(l.name) ? hidden.delete(l.name) : hidden.add(l.name); refreshLegend(); draw(); };
  legend.appendChild(row);
});
function refreshLegend() {
  for (const row of legend.querySelectorAll(".item")) row.classList.toggle("off", hidden.has(row.dataset.name));
}
document.getElementById("unc").onchange = draw;
svg.addEventListener("wheel", ev => {
  ev.preventDefault();
  const box = svg.getBoundingClientRect(), k = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
  const fx = (ev.clientX - box.left) / box.width, fy = (ev.clientY - box.top) / box.height;
  const cx = view[0] + fx * view[2], cy = view[1] + fy * view[3];
  view = [cx - fx * view[2] * k, cy - fy * view[3] * k, view[2] * k, view[3] * k]; setView();
}, {passive: false});
let drag = null;
svg.addEventListener("mousedown", ev => drag = [ev.clientX, ev.clientY, view[0], view[1]]);
window.addEventListener("mouseup", () => drag = null);
window.addEventListener("mousemove", ev => {
  if (!drag) return;
  const box = svg.getBoundingClientRect(), sc = Math.max(view[2] / box.width, view[3] / box.height);
  view[0] = drag[2] - (ev.clientX - drag[0]) * sc; view[1] = drag[3] - (ev.clientY - drag[1]) * sc; setView();
});
svg.addEventListener("dblclick", () => { view = home.slice(); setView(); });
setView();
const wanted = (location.hash.match(/cloud=([^&]+)/) || [])[1];
if (wanted) {  // map.html#cloud=SAMPLE opens that sample's posterior cloud
  const i = DATA.samples.findIndex(s => s[0] === decodeURIComponent(wanted));
  if (i >= 0 && DATA.clouds[i]) { shown.add(String(i)); drawClouds(); }
}
document.body.dataset.mode = CANVAS ? "canvas" : "svg";
document.body.dataset.ready = String(CANVAS ? DATA.samples.length : pts.children.length);
document.body.dataset.loadMs = String(Math.round(performance.now()));
</script></body></html>
"""
