"""How the offline explorer page grows with the number of galaxies, and whether it stays usable.

Real GZ2 cutouts from ../shared/data (cycled to reach each size, central half at the store's 184 px,
as the recommended profile keeps them), a random 128-d embedding and UMAP-like positions; for each
size: page size, seconds to write it, and in headless Chromium the time from navigation to the
first drawn map, one redraw (changing the colouring) and a "more like this".

    .venv/bin/python benchmarks/explorer.py [--sizes 1000 5000 20000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, write_results  # noqa: E402

from galaxyutils import explore  # noqa: E402


def gz2_cutouts(size: int = 184) -> np.ndarray:
    paths = sorted((SHARED_DATA / "gz2_sample" / "images").glob("*.jpg"))
    if not paths:
        sys.exit(f"no GZ2 images under {SHARED_DATA / 'gz2_sample' / 'images'}")
    cutouts = []
    for path in paths:
        with Image.open(path) as image:
            side = image.width // 4
            cutouts.append(np.asarray(image.convert("RGB").crop((side, side, 3 * side, 3 * side)).resize((size, size))))
    return np.stack(cutouts)


def measure(n: int, cutouts: np.ndarray, folder: Path, chromium: str | None) -> dict:
    rng = np.random.default_rng(0)
    catalogue = pd.DataFrame({"id_str": [str(587_700_000_000_000_000 + k) for k in range(n)],
                            "gz2_class": rng.choice(["Ei", "Er", "Sc", "SBc", "Ser", "A"], n),
                            "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 70, n)})
    clusters = pd.DataFrame({"cluster": rng.integers(-1, 12, n)})
    votes = pd.DataFrame({"smooth": rng.random(n), "edge_on": rng.random(n), "spiral": rng.random(n)})
    xy = rng.normal(size=(n, 2)) + rng.integers(0, 12, n)[:, None]
    images = cutouts[np.arange(n) % len(cutouts)]
    start = time.perf_counter()
    page = explore.write_html(folder / f"explorer_{n}.html", catalogue, clusters, xy, images, votes, rng.normal(size=(n, 128)))
    row = {"galaxies": n, "page_MB": page.stat().st_size / 1e6, "write_s": time.perf_counter() - start}
    if chromium:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            tab.goto(page.as_uri())
            tab.wait_for_function("() => screen.length === data.points.length")
            row["open_s"] = time.perf_counter() - start
            row["redraw_ms"] = tab.evaluate("() => { const t = performance.now(); select.value = 'smooth'; drawLegend(); draw(); return performance.now() - t; }")
            row["more_like_this_ms"] = tab.evaluate("() => { const t = performance.now(); pick(0); moreLikeThis(); return performance.now() - t; }")
            browser.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    cutouts = gz2_cutouts()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(n, cutouts, Path(folder), chromium) for n in args.sizes]
    notes = ("Thumbnails are 64 px JPEGs (quality 80) of the central half of each cutout; they are most of the page, so its size "
             "grows linearly with the galaxies shown, and pages above `max_points` (20,000) show a random subset. "
             "open_s: navigation to the first drawn map; redraw_ms: recolouring every point; more_like_this_ms: listing a galaxy's "
             "8 nearest galaxies (precomputed in Python) and marking them." + ("" if chromium else " Chromium not found: sizes only."))
    write_results("explorer", rows, notes)


if __name__ == "__main__":
    main()
