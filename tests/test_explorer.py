"""The standalone explorer page, opened from disk in headless Chromium, clicked like a user would."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galaxyutils import explore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _page(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 30
    catalogue = pd.DataFrame({"id_str": [f"5877{k:04d}" for k in range(n)], "gz2_class": ["Sc"] * 20 + ["Ei"] * 10,
                            "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 60, n)})
    catalogue.loc[3, "id_str"] = "<img src=x onerror=alert(1)>"  # a hostile catalogue string
    catalogue.loc[4, "gz2_class"] = "</script><script>window.pwned=1</script>"
    clusters = pd.DataFrame({"cluster": rng.integers(-1, 3, n)})
    votes = pd.DataFrame({"smooth": rng.random(n), "spiral": rng.random(n)})
    images = (rng.random((n, 32, 32, 3)) * 255).astype(np.uint8)
    xy = rng.normal(size=(n, 2))
    return explore.write_html(tmp_path / "explorer.html", catalogue, clusters, xy, images, votes, EMBEDDINGS[:n], title="test <run>")


EMBEDDINGS = np.random.default_rng(1).normal(size=(30, 16))


def test_page_is_self_contained_and_escapes_catalogue_strings(tmp_path):
    text = _page(tmp_path).read_text()
    assert 'src="http' not in text and "<link" not in text and "<script src" not in text  # nothing to fetch: works offline
    assert "<img src=x" not in text and "</script><script>window.pwned" not in text
    assert "<title>test &lt;run&gt;</title>" in text


def test_nearest_neighbours_match_similar_and_leave_out_the_galaxy_itself():
    catalogue = pd.DataFrame({"id_str": [str(k) for k in range(30)]})
    rows, distances = explore.nearest_neighbours(EMBEDDINGS, 5)
    assert rows.shape == (30, 5) and not (rows == np.arange(30)[:, None]).any()
    assert (np.diff(distances, axis=1) >= 0).all()
    for k in (0, 7, 29):
        assert list(explore.similar(EMBEDDINGS, catalogue, str(k), k=5).row) == list(rows[k])


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where it can)")
def test_clicking_searching_and_more_like_this_in_chromium(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    page_path = _page(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1000, "height": 600})
        errors, requests = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        assert page.locator("#galaxy").is_hidden()
        assert "cluster" in page.locator("#legend").inner_text()
        canvas = page.locator("#plot").bounding_box()
        # Click where the first point is drawn (same mapping as the page's own draw()).
        point = page.evaluate("() => screen[0]")
        page.mouse.click(canvas["x"] + point[0], canvas["y"] + point[1])
        assert page.locator("#galaxy").is_visible()
        assert page.locator("#galaxy").get_attribute("src").startswith("data:image/jpeg;base64,")
        assert page.locator("#details").inner_text().startswith("id")
        assert page.locator("#sky a").get_attribute("href").startswith("https://skyserver.sdss.org/")

        page.fill("#search", "58770012")
        page.press("#search", "Enter")
        assert page.locator("#details").inner_text().split("\n")[0].endswith("58770012")
        assert page.evaluate("() => view.zoom") > 1  # the map zooms to the found galaxy, centred on it
        found, centre = page.evaluate("() => [screen[current], [canvas.width / 2, canvas.height / 2]]")
        assert found == pytest.approx(centre, abs=0.5)
        page.click("#more")
        listed = page.locator("#similar figure").evaluate_all("figures => figures.map(f => f.dataset.id)")
        catalogue_ids = [f"5877{k:04d}" for k in range(30)]
        catalogue_ids[3] = "<img src=x onerror=alert(1)>"
        expected = explore.similar(EMBEDDINGS, pd.DataFrame({"id_str": catalogue_ids}), "58770012", k=8).id_str.tolist()
        assert listed == expected
        page.locator("#similar figure").first.click()
        assert page.locator("#details").inner_text().split("\n")[0].endswith(expected[0])

        page.fill("#search", "no such galaxy")
        page.press("#search", "Enter")
        assert page.locator("#status").inner_text() == "no single galaxy matches"

        page.dblclick("#plot", position={"x": 5, "y": 5})
        assert page.evaluate("() => view.zoom") == 1
        page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
        page.mouse.wheel(0, -300)
        assert page.evaluate("() => view.zoom") > 1

        page.evaluate("() => show(3)")  # the hostile id is shown as text, not markup
        assert "<img src=x onerror=alert(1)>" in page.locator("#details").inner_text()
        assert page.evaluate("() => window.pwned === undefined")
        page.select_option("#colour", "gz2_class")
        assert "Sc (19)" in page.locator("#legend").inner_text()
        page.select_option("#colour", "smooth")
        assert "vote fraction" in page.locator("#legend").inner_text()
        page.screenshot(path=str(tmp_path / "explorer.png"))
        browser.close()
    assert not errors, errors
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
