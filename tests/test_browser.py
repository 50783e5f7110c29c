"""Browser smoke test: the real server, loaded in headless Chromium.

Starts `streamlit run app.py` on a free loopback port, opens it in Debian's
chromium (driven by playwright with executable_path; no browser download),
and checks that a Plotly chart renders and no exception is shown.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser_helpers import SERVER_LOGS, page_state, wait_for, wait_for_selector, wait_until_idle
from st_client import streamlit_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")

#: As in production (.streamlit/config.prod.toml): a file saved in the checkout while the server runs made
#: Streamlit drop every module of the app, and the jobs cached before could no longer be sent to the worker
#: process (PicklingError: the Drivers page showed an error box instead of its charts).
NO_FILE_WATCHER = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """The app served on a free loopback port (``st_client.streamlit_server``), its workspace in a fresh folder."""
    folder = tmp_path_factory.mktemp("server")
    with streamlit_server(folder, flags=NO_FILE_WATCHER) as (port, _):
        SERVER_LOGS[f"127.0.0.1:{port}"] = folder / "server.log"  # a timed-out wait prints its errors
        yield f"http://127.0.0.1:{port}"


def _open(url: str, path: str = ""):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    return playwright, browser, page


@pytest.mark.parametrize("path", ["", "portfolio", "drivers"])
def test_page_renders_a_chart_without_exception(server_url, path):
    playwright, browser, page = _open(server_url, path)
    try:
        wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)  # a fresh server's first page
        _run_done(page)
        assert page.locator('[data-testid="stException"]').count() == 0, page_state(page)
        assert page.locator(".js-plotly-plot").count() >= 1
        if os.environ.get("CRM_SCREENSHOTS"):
            page.screenshot(path=f"{os.environ['CRM_SCREENSHOTS']}/{path or 'overview'}.png", full_page=True)
    finally:
        browser.close()
        playwright.stop()


def _run_done(page) -> None:
    """Wait until the script run is over and every chart on the page has drawn."""
    wait_until_idle(page)
    wait_for(page, """() => {
      const app = document.querySelector('[data-testid="stApp"]');
      if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
      return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
    }""", what="the run to end with every chart drawn", timeout=180_000)


def test_a_lazy_tab_draws_its_charts_on_a_click_and_goes_in_the_link(server_url):
    """Segments draws only its first tab; a click on another tab runs and draws that one and names it in the URL,
    so a copied link reopens it (ui.sections)."""
    playwright, browser, page = _open(server_url, "segments")
    try:
        wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
        _run_done(page)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 2, page_state(page)  # the grid and the treemap
        page.get_by_role("tab", name="Movement between segments").click()
        wait_for(page, "() => document.querySelector('[data-testid=\"stMain\"]')?.innerText"
                 ".includes('How customers moved between segments')", what="the movement tab's text")
        _run_done(page)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 1  # the sankey only
        assert "seg_tab=Movement" in page.url
        assert page.locator('[data-testid="stException"]').count() == 0
        linked = browser.new_page(viewport={"width": 1400, "height": 1000})
        linked.goto(page.url, wait_until="domcontentloaded")
        wait_for(linked, "() => document.querySelector('[data-testid=\"stMain\"]')?.innerText"
                 ".includes('How customers moved between segments')", what="the linked tab's text", timeout=180_000)
        assert linked.get_by_role("tab", name="Movement between segments").get_attribute("aria-selected") == "true"
    finally:
        browser.close()
        playwright.stop()
