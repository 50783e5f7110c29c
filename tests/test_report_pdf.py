"""The printed report: landscape pages rendered to images (pdftoppm), page numbers, no toolbar, no half-empty page."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="printing needs Debian chromium (.ci/run installs it)"),
    pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (Debian poppler-utils, .ci/run installs it)"),
]
#: The bottom margin holds the page number: content must reach below the middle of the area above it.
FOOTER_SHARE = 0.08


@pytest.fixture(scope="module", params=["saved dataset", "uploaded file"])
def printed(request, tmp_path_factory):
    """The demo as a saved dataset (side tables, no ingest report) and as an uploaded file (with its ingest report)."""
    from crm_core.dataset import Dataset, load_dataset
    from crm_core.ingest import read_orders
    from crm_core.report import build_report, html_file_to_pdf, write_report

    folder = tmp_path_factory.mktemp("pdf")
    if request.param == "saved dataset":
        content = build_report(load_dataset(ROOT / "data" / "demo"))
    else:
        tx, ingest = read_orders(ROOT / "data" / "demo" / "transactions.parquet")
        content = build_report(Dataset(transactions=tx, name="transactions.parquet"), ingest_report=ingest)
    html_path = write_report(content, folder / "report.html")
    pdf_path = html_file_to_pdf(html_path, folder / "report.pdf", str(CHROMIUM))
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(pdf_path), str(folder / "page")], check=True, timeout=120)
    return content, html_path, pdf_path, sorted(folder.glob("page-*.png"))


def _ink(png: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(png).convert("L")) < 235


def test_landscape_one_finding_per_page_and_numbered(printed):
    content, _, pdf_path, pages = printed
    heights = [_ink(page).shape for page in pages]
    assert all(width > height for height, width in heights)  # landscape
    # a title page, one page per finding, then data quality and definitions
    assert len(pages) >= 1 + len(content.findings) + 1
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    sheets = text.split("\f")
    for number, sheet in enumerate(sheets[:len(pages)], start=1):
        assert f"Page {number} of {len(pages)}" in sheet
    assert "Dataset" in sheets[0] and "Period" in sheets[0] and "Filters" in sheets[0] and "Tiers" in sheets[0]
    for index, finding in enumerate(content.findings, start=2):
        assert finding.title in sheets[index - 1]  # each finding starts its own page
    assert "Methodology" in text.split("Data quality")[-1]  # definitions at the end


def test_no_page_more_than_half_empty(printed):
    *_, pages = printed
    for page in pages:
        ink = _ink(page)
        body = ink[: int(ink.shape[0] * (1 - FOOTER_SHARE))]
        rows = np.flatnonzero(body.any(axis=1))
        assert rows.size and rows.max() / body.shape[0] > 0.5, f"{page.name} is more than half empty"


def test_no_plotly_toolbar_in_print(printed):
    from playwright.sync_api import sync_playwright

    content, html_path, *_ = printed
    html = content.html
    assert html.count('"displayModeBar": false') == content.charts
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1123, "height": 794})
            page.emulate_media(media="print")
            page.goto(html_path.as_uri(), wait_until="load")
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {content.charts}",
                                   timeout=120_000)
            page.hover(".js-plotly-plot")  # the toolbar would show on hover
            assert page.locator(".modebar").count() == 0
        finally:
            browser.close()
