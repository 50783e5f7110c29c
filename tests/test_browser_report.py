"""The HTML report renders its charts in headless Chromium with networking disabled."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def _report_file(tmp_path: Path) -> tuple[Path, int]:
    from crm_core.dataset import Dataset
    from crm_core.report import build_report, write_report

    rng_ids = [f"c{i:03d}" for i in range(60)]
    rows = {"customer_id": [], "order_date": [], "amount": []}
    for i, customer in enumerate(rng_ids):
        for k in range(1 + i % 4):
            rows["customer_id"].append(customer)
            rows["order_date"].append(dt.date(2022, 1, 1) + dt.timedelta(days=37 * k + 5 * i))
            rows["amount"].append(float(10 + (i * 7) % 90 + k))
    tx = pl.LazyFrame(rows, schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    content = build_report(Dataset(transactions=tx, name="Browser <test>"))
    return write_report(content, tmp_path / "report.html"), content.charts


def test_report_charts_render_offline(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    path, charts = _report_file(tmp_path)
    assert charts >= 5
    blocked: list[str] = []

    def only_local_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", only_local_files)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=60_000
            )
            rendered = page.locator(".js-plotly-plot").count()
            svg_layers = page.locator(".js-plotly-plot .main-svg").count()
            title = page.title()
        finally:
            browser.close()
    assert rendered == charts
    assert svg_layers >= charts
    assert errors == []
    assert blocked == []  # the report asked for nothing outside the file
    assert "Browser <test>" in title
