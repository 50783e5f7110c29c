"""Browser: a copied link, opened in a fresh browser context, shows the same tiers, rules, filters and figures.

The first context opens a link carrying a view (filters, RFM score levels, tiers), then renames a tier on
the Portfolio page; the address bar then holds the copied link. A second context (no cookies, no session)
opens it and must show the same state.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from crm_core.settings import AnalysisSettings, Rfm, Tiers
from browser_helpers import wait_for_selector, wait_for_view, wait_until_idle
from test_browser import CHROMIUM, CHROMIUM_ARGS, server_url  # noqa: F401  (fixture, used by name)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")

VIEW = AnalysisSettings(tiers=Tiers(names=("Key", "Growth", "Base"), shares=(0.05, 0.25, 0.70)),
                        rfm=Rfm(bins=4), filters=(("channel", ("Web",)),))


def _settle(page) -> None:
    """A chart drawn and the script run over (a click's rerun reaches the page's run marker a moment later)."""
    wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
    wait_until_idle(page, settle_ms=300)


def _metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def _state(page) -> dict:
    """What a manager sees: tier names, filter chips and a headline figure."""
    if not page.get_by_label("Tier 1 name").count():  # the panel's fields are drawn once it opens (a rerun)
        page.get_by_text("Tier settings: names and cut-offs").click()
        _settle(page)
    names = [page.get_by_label(f"Tier {index} name").input_value() for index in (1, 2, 3)]
    chips = sorted(page.locator('[class*="st-key-flt_chips"] button').all_inner_texts())
    return {"names": names, "chips": chips, "top20": _metric(page, "Top 20% customers' share of revenue"),
            "gini": _metric(page, "Gini coefficient of revenue")}


def test_copied_link_reopens_the_same_view_in_a_fresh_context(server_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            first = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            first.set_default_timeout(120_000)  # Playwright's 30 s for a click or fill is short on a loaded machine
            first.goto(f"{server_url}/portfolio?v={VIEW.to_url()}", wait_until="domcontentloaded")
            _settle(first)
            first.get_by_text("Tier settings: names and cut-offs").click()
            _settle(first)  # the panel's fields are drawn by the rerun its click starts
            name = first.get_by_label("Tier 1 name")
            name.fill("Key accounts")
            name.press("Enter")
            carried = wait_for_view(first, lambda view: view.tiers.names[0] == "Key accounts")
            _settle(first)
            before = _state(first)
            copied = first.url
            assert carried.tiers.names == ("Key accounts", "Growth", "Base")
            assert carried.rfm.bins == 4 and carried.filter_map == {"channel": ("Web",)}

            fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            fresh.set_default_timeout(120_000)
            fresh.goto(copied, wait_until="domcontentloaded")
            _settle(fresh)
            after = _state(fresh)
            assert after == before
            assert after["names"] == ["Key accounts", "Growth", "Base"]
            assert any("Channel: Web" in chip for chip in after["chips"])

            fresh.goto(copied.replace("/portfolio", "/segments"), wait_until="domcontentloaded")
            _settle(fresh)
            assert fresh.get_by_text("4 (quartiles)").count() >= 1  # the view's RFM score levels
            assert fresh.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
