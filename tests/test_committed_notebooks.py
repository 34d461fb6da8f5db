"""The committed notebooks as a reader meets them: small, no local paths or widget state, and, opened
in JupyterLab in headless Chromium, finished training reads as epochs and the explorer cell as a
picture with a pointer to the offline page."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_small_and_holds_nothing_local(path):
    assert path.stat().st_size < 300_000, f"{path.name} is {path.stat().st_size / 1e3:.0f} KB"
    text = path.read_text()
    for local in ("/work/", "/home/", "/root/", "/tmp/"):
        assert local not in text, f"{path.name} holds a local path ({local})"
    notebook = nbformat.reads(text, as_version=4)
    assert "widgets" not in notebook.metadata
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                assert output.text.strip() and "\r" not in output.text, f"{path.name}: an empty or unresolved progress stream"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server over a copy of the committed notebooks (opening must not touch them)."""
    root = tmp_path_factory.mktemp("lab")
    for path in NOTEBOOKS:
        shutil.copy(path, root / path.name)
    port = _free_port()
    home = root / ".jupyter-home"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("JupyterLab did not start within 120 s")
            time.sleep(1)
    yield url
    server.terminate()
    server.wait(timeout=30)


def _open_cell(page, url: str, notebook: str, cell_text: str):
    page.goto(f"{url}/lab/tree/{notebook}")
    # JupyterLab restores the notebook opened before in a hidden tab, whose outputs are in the
    # page too: only a visible output belongs to the notebook just opened.
    page.locator(".jp-OutputArea-output:visible").first.wait_for(timeout=90_000)
    cell = page.locator(".jp-CodeCell", has_text=cell_text).first
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    return cell


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where it can)")
def test_jupyterlab_shows_finished_training_and_the_explorer_fallback(jupyterlab, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        training = _open_cell(page, jupyterlab, "02_simclr_train.ipynb", "train.launch(")
        training.screenshot(path=tmp_path / "02_training_cell.png")
        shown = training.locator(".jp-OutputArea").inner_text()
        epochs = int(shown.split("epoch 1/")[1].split(":")[0])
        for epoch in range(1, epochs + 1):
            assert f"epoch {epoch}/{epochs}: loss" in shown
        assert "0%|" not in shown
        assert training.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0

        explorer = _open_cell(page, jupyterlab, "06_analysis.ipynb", "explore.widget(")
        explorer.screenshot(path=tmp_path / "06_explorer_cell.png")
        shown = explorer.locator(".jp-OutputArea").inner_text()
        assert "Galaxy explorer" in shown and "explorer.html" in shown
        assert "VBox(" not in shown and "Error displaying widget" not in shown
        picture = explorer.locator('.jp-OutputArea img[alt="cluster map"]')
        assert picture.count() == 1 and picture.evaluate("img => img.naturalWidth") > 100
        browser.close()
