"""Browser: tiers edited on Portfolio survive navigation and reach the report and the PowerPoint slides.

A manager renames the top tier on the Portfolio page, visits another page through the sidebar and comes
back (the name is still there), then downloads the HTML report from the sidebar and the PowerPoint deck
from the Deck page: both carry the new name, and the report's tier figure equals what ``portfolio``
computes for the view the address bar holds.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from browser_helpers import wait_for, wait_for_selector, wait_for_view, wait_until_idle
from conftest import ROOT
from crm_core.settings import AnalysisSettings
from test_browser import CHROMIUM, CHROMIUM_ARGS, server_url  # noqa: F401  (fixture, used by name)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
NEW_NAME = "Key accounts"


def _settle(page) -> None:
    """The script run over (a click's rerun reaches the page's run marker a moment later)."""
    wait_until_idle(page, settle_ms=300)


def _go(page, link: str, path: str, ready: str) -> None:
    """Follow a sidebar link (same session) and wait for its address, its ``ready`` element and the run's end
    (under load the old page stays on screen a while, its elements too)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
    wait_for(page, "path => location.pathname === path", arg=path, what=f"the address {path}")
    wait_for_selector(page, ready, timeout=180_000)
    _settle(page)


def _tier_name(page) -> str:
    if not page.get_by_label("Tier 1 name").count():  # the panel's fields are drawn once it opens (a rerun)
        page.get_by_text("Tier settings: names and cut-offs").click()
        _settle(page)
    return page.get_by_label("Tier 1 name").input_value()


def _download(page, label: str) -> bytes:
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name=label).click()
    return Path(download.value.path()).read_bytes()


def test_edited_tiers_survive_navigation_and_reach_the_report_and_the_slides(server_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from crm_core.filters import apply_view
    from crm_core.portfolio import portfolio_report

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
            page.set_default_timeout(120_000)  # Playwright's 30 s for a click or fill is short on a loaded machine
            page.goto(f"{server_url}/portfolio", wait_until="domcontentloaded")
            wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
            _settle(page)
            page.get_by_text("Tier settings: names and cut-offs").click()
            _settle(page)  # the panel's fields are drawn by the rerun its click starts
            name = page.get_by_label("Tier 1 name")
            name.fill(NEW_NAME)
            name.press("Enter")
            wait_for_view(page, lambda view: view.tiers.names[0] == NEW_NAME)
            _settle(page)

            _go(page, "Segments", "/segments", '[data-testid="stMetric"]')
            _go(page, "Portfolio", "/portfolio", ".js-plotly-plot .main-svg")
            assert _tier_name(page) == NEW_NAME, "the edit survives navigation"
            settings = AnalysisSettings.from_url(parse_qs(urlsplit(page.url).query)["v"][0])
            assert settings.tiers.names[0] == NEW_NAME

            report = _download(page, "Download report").decode("utf-8")
            figures = {entry["id"]: entry for entry in json.loads(
                re.search(r'<script type="application/json" id="figures">(.*?)</script>', report, re.S).group(1))}
            view = apply_view(pl.read_parquet(ROOT / "data" / "demo" / "transactions.parquet").lazy(), settings)
            expected = portfolio_report(view.transactions, settings.tier_settings())
            assert figures[f"tier.{NEW_NAME}.customers"]["value"] == expected["tiers"][NEW_NAME]["customers"]

            _go(page, "Deck", "/deck", '[data-testid="stDownloadButton"]')
            deck = zipfile.ZipFile(io.BytesIO(_download(page, "Download PowerPoint")))
            slides = " ".join(deck.read(name).decode("utf-8") for name in deck.namelist()
                              if name.startswith(("ppt/slides/", "ppt/charts/")) and name.endswith(".xml"))
            assert NEW_NAME in slides, "the PowerPoint slides name the edited tier"
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
