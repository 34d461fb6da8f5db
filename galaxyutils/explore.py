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


def similar(embeddings: np.ndarray, catalog: pd.DataFrame, id_str: str, k: int = 8) -> pd.DataFrame:
    """The ``k`` galaxies nearest to ``id_str`` in the embedding (cosine distance), nearest first:
    "show me more like this one". Columns: ``row``, ``id_str``, ``distance``."""
    matches = np.flatnonzero(catalog["id_str"].to_numpy() == str(id_str))
    if not len(matches):
        raise KeyError(f"no galaxy with id_str {id_str!r} in this run's catalogue")
    X = normalize(embeddings)
    distances, rows = NearestNeighbors(n_neighbors=min(k + 1, len(X))).fit(X).kneighbors(X[matches[:1]])
    keep = rows[0] != matches[0]
    rows, distances = rows[0][keep][:k], distances[0][keep][:k] ** 2 / 2  # squared chord / 2 = 1 - cosine similarity
    return pd.DataFrame({"row": rows, "id_str": catalog["id_str"].to_numpy()[rows], "distance": distances})


def _thumbnail(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_html(path: Path, catalog: pd.DataFrame, clusters: pd.DataFrame, xy: np.ndarray, images: np.ndarray,
               votes: pd.DataFrame, title: str = "Galaxy explorer", max_points: int = 20_000, seed: int = 0) -> Path:
    """A standalone explorer page that works offline by double-click: the UMAP plane, coloured by
    cluster or by a vote fraction; hover or click a point to see the galaxy, its id, cluster and
    votes. Thumbnails are embedded; above ``max_points`` galaxies a random subset is shown.

    Catalogue strings reach the page only as JSON data and are shown with ``textContent``, never
    as HTML, so a hostile id or class string cannot inject markup.
    """
    rows = np.arange(len(catalog))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_points, replace=False))
    points = []
    for row in rows:
        points.append({
            "x": round(float(xy[row, 0]), 4), "y": round(float(xy[row, 1]), 4), "id": str(catalog["id_str"].iloc[row]),
            "cluster": int(clusters["cluster"].iloc[row]), "votes": {k: (None if pd.isna(v) else round(float(v), 3)) for k, v in votes.iloc[row].items()},
            "img": _thumbnail(images[row]),
            "class": str(catalog["gz2_class"].iloc[row]) if "gz2_class" in catalog else "",
        })
    # Every "<" as a JSON escape: nothing in the data block can close it or start markup.
    payload = json.dumps({"points": points, "columns": list(votes.columns), "total": len(catalog)}).replace("<", "\\u003c")
    page = _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: sans-serif; margin: 0; display: flex; height: 100vh; }
#left { flex: 1; display: flex; flex-direction: column; } #controls { padding: 6px; }
#plot { flex: 1; width: 100%; } #panel { width: 300px; padding: 10px; border-left: 1px solid #ccc; overflow: auto; }
#galaxy { width: 256px; height: 256px; image-rendering: pixelated; background: #000; display: none; }
td { padding: 1px 6px; font-size: 13px; } .hint { color: #666; font-size: 13px; }
</style></head><body>
<div id="left"><div id="controls">Colour by <select id="colour"></select> <span class="hint" id="count"></span></div>
<canvas id="plot"></canvas></div>
<div id="panel"><h3>__TITLE__</h3><p class="hint" id="hint">Hover over or click a point to see the galaxy.</p>
<img id="galaxy" alt="galaxy thumbnail"><table id="details"></table></div>
<script id="data" type="application/json">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const canvas = document.getElementById("plot"), ctx = canvas.getContext("2d");
const select = document.getElementById("colour");
for (const name of ["cluster", ...data.columns]) { const o = document.createElement("option"); o.value = name; o.textContent = name; select.appendChild(o); }
document.getElementById("count").textContent = data.points.length + " of " + data.total + " galaxies";
const xs = data.points.map(p => p.x), ys = data.points.map(p => p.y);
const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
let screen = [];
function colour(p) {
  if (select.value === "cluster") return p.cluster < 0 ? "#ccc" : "hsl(" + (p.cluster * 137.5 % 360) + ",70%,45%)";
  const v = p.votes[select.value]; return v === null ? "#eee" : "hsl(" + (260 - 200 * v) + ",80%," + (30 + 30 * v) + "%)";
}
function draw() {
  canvas.width = canvas.clientWidth; canvas.height = canvas.clientHeight;
  const m = 20, w = canvas.width - 2 * m, h = canvas.height - 2 * m;
  screen = data.points.map(p => [m + (p.x - x0) / ((x1 - x0) || 1) * w, m + (1 - (p.y - y0) / ((y1 - y0) || 1)) * h]);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  data.points.forEach((p, i) => { ctx.fillStyle = colour(p); ctx.beginPath(); ctx.arc(screen[i][0], screen[i][1], 3, 0, 2 * Math.PI); ctx.fill(); });
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
  for (const [k, v] of rows) { const tr = table.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
}
canvas.addEventListener("mousemove", e => show(nearest(e)));
canvas.addEventListener("click", e => show(nearest(e)));
select.addEventListener("change", draw); window.addEventListener("resize", draw); draw();
</script></body></html>
"""


def widget(catalog: pd.DataFrame, clusters: pd.DataFrame, xy: np.ndarray, images: np.ndarray, votes: pd.DataFrame,
           embeddings: np.ndarray, explorer_html: Path | None = None):
    """A JupyterLab explorer (ipywidgets): the UMAP plane coloured by a chosen column; pick a
    galaxy by id to see it, its votes and the galaxies most like it; pick a cluster to see its
    members. In a saved notebook it reads as a pointer to ``explorer_html``, the offline page."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import plots

    colour = widgets.Dropdown(options=["cluster", *votes.columns], description="colour by")
    galaxy = widgets.Combobox(options=list(catalog["id_str"].astype(str)), placeholder="type or paste an id_str", description="galaxy")
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
        if galaxy.value not in set(catalog["id_str"].astype(str)):
            return
        with galaxy_out:
            galaxy_out.clear_output(wait=True)
            row = int(np.flatnonzero(catalog["id_str"].astype(str) == galaxy.value)[0])
            neighbours = similar(embeddings, catalog, galaxy.value, k=6)
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
    picture = io.BytesIO()
    preview.savefig(picture, format="jpeg", dpi=60, bbox_inches="tight", pil_kwargs={"quality": 70})
    plt.close(preview)
    return SavedNotebookFallback(box, explorer_html, picture.getvalue())


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
