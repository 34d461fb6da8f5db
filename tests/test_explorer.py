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
    catalog = pd.DataFrame({"id_str": [f"5877{k:04d}" for k in range(n)], "gz2_class": ["Sc"] * n})
    catalog.loc[3, "id_str"] = "<img src=x onerror=alert(1)>"  # a hostile catalogue string
    catalog.loc[4, "gz2_class"] = "</script><script>window.pwned=1</script>"
    clusters = pd.DataFrame({"cluster": rng.integers(-1, 3, n)})
    votes = pd.DataFrame({"smooth": rng.random(n), "spiral": rng.random(n)})
    images = (rng.random((n, 32, 32, 3)) * 255).astype(np.uint8)
    xy = rng.normal(size=(n, 2))
    return explore.write_html(tmp_path / "explorer.html", catalog, clusters, xy, images, votes, title="test <run>")


def test_page_is_self_contained_and_escapes_catalogue_strings(tmp_path):
    text = _page(tmp_path).read_text()
    assert "http://" not in text and "https://" not in text  # works offline
    assert "<img src=x" not in text and "</script><script>window.pwned" not in text
    assert "<title>test &lt;run&gt;</title>" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where it can)")
def test_clicking_a_point_shows_the_galaxy_in_chromium(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    page_path = _page(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1000, "height": 600})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        assert page.locator("#galaxy").is_hidden()
        canvas = page.locator("#plot").bounding_box()
        # Click where the first point is drawn (same mapping as the page's own draw()).
        point = page.evaluate("() => screen[0]")
        page.mouse.click(canvas["x"] + point[0], canvas["y"] + point[1])
        assert page.locator("#galaxy").is_visible()
        assert page.locator("#galaxy").get_attribute("src").startswith("data:image/jpeg;base64,")
        assert page.locator("#details").inner_text().startswith("id")
        page.evaluate("() => show(3)")  # the hostile id is shown as text, not markup
        assert "<img src=x onerror=alert(1)>" in page.locator("#details").inner_text()
        assert page.evaluate("() => window.pwned === undefined")
        page.select_option("#colour", "smooth")
        page.screenshot(path=str(tmp_path / "explorer.png"))
        browser.close()
    assert not errors, errors
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
