"""Looking at the results: similarity search and interactive explorers."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize


def similar(embeddings: np.ndarray, catalogue: pd.DataFrame, id_str: str, k: int = 8) -> pd.DataFrame:
    """The ``k`` galaxies nearest to ``id_str`` in the embedding (cosine distance), nearest first:
    "show me more like this one". Columns: ``row``, ``id_str``, ``distance``."""
    matches = np.flatnonzero(catalogue["id_str"].to_numpy() == str(id_str))
    if not len(matches):
        raise KeyError(f"no galaxy with id_str {id_str!r} in this run's catalogue")
    rows, distances = nearest_neighbours(embeddings, k, queries=matches[:1])
    return pd.DataFrame({"row": rows[0], "id_str": catalogue["id_str"].to_numpy()[rows[0]], "distance": distances[0]})


def nearest_neighbours(embeddings: np.ndarray, k: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each query row (default: every row) the ``k`` other rows nearest in cosine distance,
    nearest first, and their distances (1 - cosine similarity)."""
    X = normalize(embeddings)
    queries = np.arange(len(X)) if queries is None else np.asarray(queries)
    k = min(k, len(X) - 1)
    distances, rows = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X[queries])
    keep = rows != queries[:, None]
    keep[keep.sum(axis=1) > k, -1] = False  # a duplicate of the query may stand first; the query itself is dropped
    rows, distances = rows[keep].reshape(len(queries), k), distances[keep].reshape(len(queries), k)
    return rows, distances**2 / 2  # squared chord / 2 = 1 - cosine similarity


def _thumbnail(image: np.ndarray, size: int) -> str:
    picture = Image.fromarray(np.asarray(image))
    if max(picture.size) > size:
        picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _number(value) -> float | None:
    return None if pd.isna(value) else round(float(value), 5)


def write_html(path: Path, catalogue: pd.DataFrame, clusters: pd.DataFrame, xy: np.ndarray, images: np.ndarray,
               votes: pd.DataFrame, embeddings: np.ndarray | None = None, title: str = "Galaxy explorer",
               max_points: int = 20_000, neighbours: int = 8, thumbnail_size: int = 64, seed: int = 0) -> Path:
    """A standalone explorer page that works offline by double-click: the UMAP plane coloured by
    cluster, by GZ2 class or by a vote fraction, with a legend or colour scale; wheel to zoom, drag
    to pan, double-click to reset; hover or click a point to see the galaxy, its id, cluster and
    votes; search by id; "more like this" lists the ``neighbours`` galaxies nearest in
    ``embeddings`` (cosine, among the galaxies shown) and marks them on the map; where the
    catalogue has ``ra``/``dec``, a link to the galaxy on SDSS SkyServer. Thumbnails are embedded
    at ``thumbnail_size`` px (about 2 KB each: 20,000 galaxies make a page of ~40 MB that opens in under a second, benchmarks/explorer.py); above
    ``max_points`` galaxies a random subset is shown.

    Catalogue strings reach the page only as JSON data and are shown with ``textContent``, never
    as HTML, so a hostile id or class string cannot inject markup.
    """
    from . import plots

    rows = np.arange(len(catalogue))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_points, replace=False))
    alike = nearest_neighbours(embeddings[rows], neighbours)[0] if embeddings is not None and len(rows) > 1 else None
    cluster_ids = clusters["cluster"].to_numpy()
    has_sky = {"ra", "dec"} <= set(catalogue.columns)
    points = []
    for position, row in enumerate(rows):
        points.append({
            "x": round(float(xy[row, 0]), 4), "y": round(float(xy[row, 1]), 4), "id": str(catalogue["id_str"].iloc[row]),
            "cluster": int(cluster_ids[row]), "votes": {k: _number(v) for k, v in votes.iloc[row].items()},
            "img": _thumbnail(images[row], thumbnail_size),
            "class": str(catalogue["gz2_class"].iloc[row]) if "gz2_class" in catalogue else "",
            "ra": _number(catalogue["ra"].iloc[row]) if has_sky else None,
            "dec": _number(catalogue["dec"].iloc[row]) if has_sky else None,
            "alike": alike[position].tolist() if alike is not None else [],
        })
    classes = catalogue["gz2_class"].astype(str).iloc[rows].value_counts() if "gz2_class" in catalogue else pd.Series(dtype=int)
    colourings = ["cluster", *(["gz2_class"] if len(classes) else []), *votes.columns]
    payload = {"points": points, "columns": list(votes.columns), "colourings": colourings, "total": len(catalogue),
               "clusterColours": plots.cluster_colours(int(cluster_ids.max()) + 1), "noiseColour": plots.NOISE_COLOUR,
               "classes": list(classes.index[:9]), "classColours": plots.cluster_colours(9)}
    # Every "<" as a JSON escape: nothing in the data block can close it or start markup.
    text = json.dumps(payload).replace("<", "\\u003c")
    page = _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", text)
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)


# The page is hand-written JavaScript on a canvas: an offline file with no libraries to fetch, and
# a canvas draws 20,000 points quickly where one SVG element per point would not.
_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: sans-serif; margin: 0; display: flex; height: 100vh; }
#left { flex: 1; display: flex; flex-direction: column; min-width: 0; } #controls { padding: 6px; }
#plot { flex: 1; width: 100%; cursor: crosshair; } #panel { width: 320px; padding: 10px; border-left: 1px solid #ccc; overflow: auto; }
#galaxy { width: 192px; height: 192px; background: #000; display: none; }
#legend { padding: 4px 6px; font-size: 12px; display: flex; flex-wrap: wrap; gap: 4px 12px; min-height: 18px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 3px; }
#scale { width: 160px; height: 10px; display: inline-block; vertical-align: middle; margin: 0 4px; }
td { padding: 1px 6px; font-size: 13px; } .hint { color: #666; font-size: 13px; }
#similar { display: flex; flex-wrap: wrap; gap: 4px; } #similar figure { margin: 0; font-size: 10px; cursor: pointer; }
#similar img { width: 64px; height: 64px; display: block; }
</style></head><body>
<div id="left"><div id="controls">Colour by <select id="colour"></select>
<input id="search" placeholder="galaxy id" size="22"> <button id="find">find</button> <span class="hint" id="status"></span>
<span class="hint" id="count"></span></div>
<div id="legend"></div><canvas id="plot"></canvas>
<div class="hint" style="padding: 2px 6px">wheel: zoom, drag: pan, double-click: whole map</div></div>
<div id="panel"><h3>__TITLE__</h3><p class="hint" id="hint">Hover over or click a point to see the galaxy.</p>
<img id="galaxy" alt="galaxy thumbnail"><table id="details"></table><p id="sky"></p>
<button id="more" style="display: none">more like this</button><div id="similar"></div></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const canvas = document.getElementById("plot"), ctx = canvas.getContext("2d");
const select = document.getElementById("colour"), legend = document.getElementById("legend");
for (const name of data.colourings) { const o = document.createElement("option"); o.value = name; o.textContent = name; select.appendChild(o); }
document.getElementById("count").textContent = data.points.length + " of " + data.total + " galaxies";
let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
for (const p of data.points) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
let view = { zoom: 1, dx: 0, dy: 0 }, screen = [], current = -1, marked = new Set();
function voteColour(v) { return v === null ? "#eee" : "hsl(" + (260 - 200 * v) + ",80%," + (30 + 30 * v) + "%)"; }
function colour(p) {
  if (select.value === "cluster") return p.cluster < 0 ? data.noiseColour : data.clusterColours[p.cluster];
  if (select.value === "gz2_class") { const k = data.classes.indexOf(p["class"]); return k < 0 ? data.noiseColour : data.classColours[k]; }
  return voteColour(p.votes[select.value]);
}
function swatch(text, fill) {
  const item = document.createElement("span"), dot = document.createElement("span");
  dot.className = "swatch"; dot.style.background = fill; item.append(dot, text); legend.appendChild(item);
}
function drawLegend() {
  legend.replaceChildren();
  const counts = new Map();
  if (select.value === "cluster") {
    for (const p of data.points) counts.set(p.cluster, (counts.get(p.cluster) || 0) + 1);
    for (const c of [...counts.keys()].sort((a, b) => a - b)) swatch((c < 0 ? "noise" : "cluster " + c) + " (" + counts.get(c) + ")", c < 0 ? data.noiseColour : data.clusterColours[c]);
  } else if (select.value === "gz2_class") {
    for (const p of data.points) counts.set(p["class"], (counts.get(p["class"]) || 0) + 1);
    data.classes.forEach((c, k) => swatch(c + " (" + counts.get(c) + ")", data.classColours[k]));
    swatch("other classes", data.noiseColour);
  } else {
    const bar = document.createElement("canvas"); bar.id = "scale"; bar.width = 160; bar.height = 10;
    const g = bar.getContext("2d");
    for (let i = 0; i < 160; i++) { g.fillStyle = voteColour(i / 159); g.fillRect(i, 0, 1, 10); }
    legend.append(select.value + " (vote fraction): 0", bar, "1");
    swatch("no votes", "#eee");
  }
}
function unzoomed(p) {
  const m = 20, w = canvas.width - 2 * m, h = canvas.height - 2 * m;
  return [m + (p.x - x0) / ((x1 - x0) || 1) * w, m + (1 - (p.y - y0) / ((y1 - y0) || 1)) * h];
}
function draw() {
  canvas.width = canvas.clientWidth; canvas.height = canvas.clientHeight;
  screen = data.points.map(p => { const [x, y] = unzoomed(p); return [x * view.zoom + view.dx, y * view.zoom + view.dy]; });
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const radius = Math.min(6, 3 * Math.sqrt(view.zoom));
  data.points.forEach((p, i) => { ctx.fillStyle = colour(p); ctx.beginPath(); ctx.arc(screen[i][0], screen[i][1], radius, 0, 2 * Math.PI); ctx.fill(); });
  ctx.lineWidth = 2;
  for (const i of marked) { ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.arc(screen[i][0], screen[i][1], radius + 3, 0, 2 * Math.PI); ctx.stroke(); }
  if (current >= 0) { ctx.strokeStyle = "#d00"; ctx.beginPath(); ctx.arc(screen[current][0], screen[current][1], radius + 5, 0, 2 * Math.PI); ctx.stroke(); }
}
function nearest(event) {
  const r = canvas.getBoundingClientRect(), x = event.clientX - r.left, y = event.clientY - r.top;
  let best = -1, bestD = 100;
  screen.forEach((s, i) => { const d = (s[0] - x) ** 2 + (s[1] - y) ** 2; if (d < bestD) { best = i; bestD = d; } });
  return best;
}
function show(i) {
  if (i < 0) return;
  const p = data.points[i], img = document.getElementById("galaxy"), table = document.getElementById("details");
  img.src = p.img; img.style.display = "block"; img.dataset.id = p.id;
  document.getElementById("hint").textContent = "";
  table.replaceChildren();
  const rows = [["id", p.id], ["cluster", p.cluster < 0 ? "noise" : String(p.cluster)], ["gz2_class", p["class"]]]
    .concat(data.columns.map(c => [c, p.votes[c] === null ? "n/a" : p.votes[c].toFixed(3)]));
  if (p.ra !== null) rows.push(["RA, Dec (deg)", p.ra.toFixed(5) + ", " + p.dec.toFixed(5)]);
  for (const [k, v] of rows) { const tr = table.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
  const sky = document.getElementById("sky"); sky.replaceChildren();
  if (p.ra !== null) {
    const link = document.createElement("a");
    link.href = "https://skyserver.sdss.org/dr17/VisualTools/navi?ra=" + p.ra + "&dec=" + p.dec + "&scale=0.2";
    link.target = "_blank"; link.rel = "noopener"; link.textContent = "this galaxy on SDSS SkyServer (online)";
    sky.appendChild(link);
  }
  document.getElementById("more").style.display = p.alike.length ? "inline-block" : "none";
}
function pick(i) { current = i; marked = new Set(); document.getElementById("similar").replaceChildren(); show(i); draw(); }
function moreLikeThis() {
  const list = document.getElementById("similar"); list.replaceChildren();
  marked = new Set(data.points[current].alike);
  for (const j of data.points[current].alike) {
    const figure = document.createElement("figure"), img = document.createElement("img"), caption = document.createElement("figcaption");
    img.src = data.points[j].img; img.alt = data.points[j].id; caption.textContent = data.points[j].id;
    figure.dataset.id = data.points[j].id; figure.append(img, caption); figure.addEventListener("click", () => pick(j));
    list.appendChild(figure);
  }
  draw();
}
function find() {
  const wanted = document.getElementById("search").value.trim(), status = document.getElementById("status");
  let i = data.points.findIndex(p => p.id === wanted);
  if (i < 0 && wanted) { const hits = data.points.flatMap((p, k) => p.id.includes(wanted) ? [k] : []); if (hits.length === 1) i = hits[0]; }
  status.textContent = i < 0 ? "no single galaxy matches" : "";
  if (i < 0) return;
  const [x, y] = unzoomed(data.points[i]);
  view = { zoom: 4, dx: canvas.width / 2 - 4 * x, dy: canvas.height / 2 - 4 * y };
  pick(i);
}
let drag = null;
canvas.addEventListener("mousedown", e => { drag = { x: e.clientX, y: e.clientY, dx: view.dx, dy: view.dy, moved: false }; });
window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
canvas.addEventListener("mousemove", e => {
  if (drag && (e.buttons & 1)) {
    const mx = e.clientX - drag.x, my = e.clientY - drag.y;
    if (Math.abs(mx) + Math.abs(my) > 3) { drag.moved = true; view.dx = drag.dx + mx; view.dy = drag.dy + my; draw(); }
  } else if (current < 0) show(nearest(e));
});
canvas.addEventListener("click", e => { if (!(drag && drag.moved)) pick(nearest(e)); });
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top, f = e.deltaY < 0 ? 1.25 : 0.8;
  view = { zoom: view.zoom * f, dx: x - (x - view.dx) * f, dy: y - (y - view.dy) * f }; draw();
}, { passive: false });
canvas.addEventListener("dblclick", () => { view = { zoom: 1, dx: 0, dy: 0 }; draw(); });
document.getElementById("more").addEventListener("click", moreLikeThis);
document.getElementById("find").addEventListener("click", find);
document.getElementById("search").addEventListener("keydown", e => { if (e.key === "Enter") find(); });
select.addEventListener("change", () => { drawLegend(); draw(); }); window.addEventListener("resize", draw);
drawLegend(); draw();
</script></body></html>
"""


def widget(catalogue: pd.DataFrame, clusters: pd.DataFrame, xy: np.ndarray, images: np.ndarray, votes: pd.DataFrame,
           embeddings: np.ndarray, explorer_html: Path | None = None):
    """A JupyterLab explorer (ipywidgets): the UMAP plane coloured by a chosen column; pick a
    galaxy by id to see it, its votes and the galaxies most like it; pick a cluster to see its
    members. In a saved notebook it reads as a pointer to ``explorer_html``, the offline page."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import plots

    colour = widgets.Dropdown(options=["cluster", *votes.columns], description="colour by")
    galaxy = widgets.Combobox(options=list(catalogue["id_str"].astype(str)), placeholder="type or paste an id_str", description="galaxy")
    cluster = widgets.Dropdown(options=sorted(clusters["cluster"].unique()), description="cluster")
    scatter_out, galaxy_out, cluster_out = widgets.Output(), widgets.Output(), widgets.Output()

    def draw_scatter(_=None):
        with scatter_out:
            scatter_out.clear_output(wait=True)
            if colour.value == "cluster":
                figure = plots.scatter_clusters(xy, clusters["cluster"].to_numpy())
            else:
                figure = plots.scatter_values(xy, votes[[colour.value]])
            plt.show(figure)

    def show_galaxy(_=None):
        if galaxy.value not in set(catalogue["id_str"].astype(str)):
            return
        with galaxy_out:
            galaxy_out.clear_output(wait=True)
            row = int(np.flatnonzero(catalogue["id_str"].astype(str) == galaxy.value)[0])
            neighbours = similar(embeddings, catalogue, galaxy.value, k=6)
            display(pd.DataFrame({"cluster": [clusters["cluster"].iloc[row]], **{k: [v] for k, v in votes.iloc[row].items()}}, index=[galaxy.value]))
            plt.show(plots.gallery(images, {"galaxy, then most alike": [row, *neighbours.row]}))

    def show_cluster(_=None):
        with cluster_out:
            cluster_out.clear_output(wait=True)
            members = np.flatnonzero(clusters["cluster"].to_numpy() == cluster.value)
            chosen = np.random.default_rng(0).choice(members, min(12, len(members)), replace=False)
            plt.show(plots.gallery(images, {f"cluster {cluster.value} ({len(members)})": list(chosen)}))

    colour.observe(draw_scatter, "value")
    galaxy.observe(show_galaxy, "value")
    cluster.observe(show_cluster, "value")
    draw_scatter()
    show_cluster()
    box = widgets.VBox([widgets.HBox([colour, cluster]), scatter_out, cluster_out, galaxy, galaxy_out])
    preview = plots.scatter_clusters(xy, clusters["cluster"].to_numpy())
    picture = plots.jpeg_preview(preview)
    plt.close(preview)
    return SavedNotebookFallback(box, explorer_html, picture)


class SavedNotebookFallback:
    """Displays a widget live, and in a notebook saved without widget state (as papermill saves
    it) a static picture (``preview_jpeg``, e.g. the cluster map), a sentence and a link to the
    offline explorer instead of ``VBox(children=...)``."""

    def __init__(self, widget, explorer_html: Path | None = None, preview_jpeg: bytes | None = None):
        # Relative to the notebook's folder: the link works there, and no local path is saved.
        self.widget, self.explorer_html = widget, Path(os.path.relpath(explorer_html)) if explorer_html else None
        self.preview_jpeg = preview_jpeg

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        where = f' or open <a href="{html.escape(Path(self.explorer_html).as_posix())}">{html.escape(Path(self.explorer_html).name)}</a> offline' if self.explorer_html else ""
        picture = f'<img alt="cluster map" src="data:image/jpeg;base64,{base64.b64encode(self.preview_jpeg).decode()}">' if self.preview_jpeg else ""
        bundle["text/html"] = f"<p><b>Galaxy explorer</b>: run this cell in JupyterLab for the interactive version{where}.</p>{picture}"
        bundle["text/plain"] = f"Galaxy explorer: run this cell in JupyterLab for the interactive version{' or open ' + Path(self.explorer_html).name + ' offline' if self.explorer_html else ''}."
        return bundle
