"""The self-contained HTML report, its PDF and the `report` CLI command."""
from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from crm_core.__main__ import main
from crm_core.dataset import Dataset
from crm_core.findings import FindingSettings
from crm_core.ingest import IngestReport
from crm_core.report import (
    PDF_UNAVAILABLE_MESSAGE,
    PdfUnavailable,
    build_report,
    chromium_path,
    dataset_checks,
    html_file_to_pdf,
    report_file_name,
    table_html,
)

EVIL = '<script>alert("x")</script>'


class _Tags(HTMLParser):
    """Collects every tag with its attributes and the text of inline scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    return parser


def _dataset(name: str = "Shop") -> Dataset:
    rows = {"customer_id": [], "order_date": [], "amount": []}
    for i in range(40):
        customer = EVIL if i == 0 else f"c{i:02d}"
        for k in range(1 + i % 3):
            rows["customer_id"].append(customer)
            rows["order_date"].append(dt.date(2023, 1, 1) + dt.timedelta(days=40 * k + 3 * i))
            rows["amount"].append(500.0 if i == 0 else float(5 + i + k))
    tx = pl.LazyFrame(rows, schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    return Dataset(transactions=tx, name=name)


@pytest.fixture(scope="module")
def report():
    ingest = IngestReport(rows_read=120, rows_valid=118, rows_rejected=2, duplicate_rows=1,
                          detected={"customer_id": "Kunde <id>", "delimiter": ";"}, warnings=[f"Column {EVIL} ignored"])
    ingest.rejected = pl.DataFrame({"line": [3, 9], "raw": ["a", "b"], "reason": ["missing customer id", "bad date"]})
    return build_report(_dataset(f"Shop {EVIL}"), FindingSettings(), ingest_report=ingest,
                        generated_at=dt.datetime(2024, 6, 1, 9, 30))


def test_no_external_references(report):
    parsed = _parse(report.html)
    for tag, attrs in parsed.tags:
        for attribute in ("src", "href", "srcset", "data", "action", "poster"):
            value = (attrs.get(attribute) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, attribute, value)
    assert not [attrs for tag, attrs in parsed.tags if tag == "script" and attrs.get("src")]
    assert not [attrs for tag, attrs in parsed.tags if tag == "link"]
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", report.html.split("<script", 1)[0])


def test_plotly_js_embedded_once_and_every_chart_drawn(report):
    parsed = _parse(report.html)
    bundles = [script for script in parsed.scripts if "plotly.js" in script[:2000].lower() or len(script) > 1_000_000]
    assert len(bundles) == 1
    assert report.html.count("* plotly.js v") == 1
    chart_ids = [attrs["id"] for tag, attrs in parsed.tags if tag == "div" and "plotly-graph-div" in attrs.get("class", "")]
    with_figure = [f for f in report.findings if f.chart]
    assert report.charts == len(with_figure) == len(chart_ids) >= 5
    for chart_id in chart_ids:
        assert any("Plotly.newPlot" in script and f'"{chart_id}"' in script for script in parsed.scripts)


def test_sections_present(report):
    for section in ("summary", "data-quality", "methodology", "finding-tiers", "finding-segments", "finding-concentration"):
        assert f'id="{section}"' in report.html
    for finding in report.findings:
        assert _escaped(finding.headline) in report.html
    assert "How the upload was read" in report.html
    assert "Rejected: missing customer id" in report.html


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_user_text_is_escaped(report):
    assert EVIL not in report.html.replace(r"\u003cscript\u003e", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report.html  # dataset name, warning, customer id
    assert "Kunde &lt;id&gt;" in report.html


def test_table_html_escapes_and_aligns_numbers():
    frame = pl.DataFrame({"Customer <b>": ["<i>x</i>"], "Revenue": [1234.5]})
    assert table_html(frame) == (
        "<table><thead><tr><th>Customer &lt;b&gt;</th><th>Revenue</th></tr></thead>"
        '<tbody><tr><td>&lt;i&gt;x&lt;/i&gt;</td><td class="num">1,234.50</td></tr></tbody></table>'
    )
    assert "First 2 of 3 rows." in table_html(pl.DataFrame({"a": [1, 2, 3]}), max_rows=2)


def test_dataset_checks_report_missing_columns():
    checks = dict(dataset_checks(_dataset()).iter_rows())
    assert checks["Customers"] == "40"
    assert checks["Lines with a customer id"] == "100.0%"
    assert "sales channel" in checks["Optional columns missing"]
    assert checks["Side tables"].startswith("none")


def test_report_without_ingest_report_says_so():
    content = build_report(_dataset())
    assert "No ingest report" in content.html


def test_report_of_an_empty_period():
    content = build_report(_dataset(), FindingSettings(start=dt.date(2030, 1, 1), end=dt.date(2030, 12, 31)))
    assert content.charts == 0 and "No orders in this period." in content.html


def test_file_name_is_safe():
    assert report_file_name("../My shop <1>", "html", dt.date(2024, 1, 2)) == "crm-report-my-shop--1-2024-01-02.html"


def test_pdf_unavailable_message(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert chromium_path() is None
    with pytest.raises(PdfUnavailable, match="Chromium"):
        html_file_to_pdf(tmp_path / "r.html", tmp_path / "r.pdf")
    assert "print it to PDF" in PDF_UNAVAILABLE_MESSAGE


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="PDF printing needs /usr/bin/chromium")
def test_pdf_printed_with_chromium(tmp_path, report):
    html_path = tmp_path / "r.html"
    html_path.write_text(report.html, encoding="utf-8")
    pdf = html_file_to_pdf(html_path, tmp_path / "r.pdf", "/usr/bin/chromium")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000


def test_cli_writes_html(tmp_path, cdnow_path, capsys):
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(cdnow_path), "--out", str(out), "--json", "--title", "CDNOW <sample>"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["html"] == str(out) and payload["charts"] >= 5
    assert payload["findings"]["concentration"].startswith("The top 20% of customers bring")
    text = out.read_text("utf-8")
    assert "CDNOW &lt;sample&gt;" in text and "<title>CDNOW &lt;sample&gt;" in text


def test_cli_errors_are_plain(tmp_path, cdnow_path, capsys, monkeypatch):
    assert main(["report", str(cdnow_path), "--out", str(tmp_path / "r.txt")]) == 2
    assert "--out must name an .html file" in capsys.readouterr().err
    assert main(["report", str(cdnow_path), "--out", str(tmp_path / "r.html"), "--start", "2020-01-01", "--end", "2019-01-01"]) == 2
    assert "--start is after --end" in capsys.readouterr().err
    monkeypatch.setenv("CRM_CHROMIUM", str(tmp_path / "missing"))
    assert main(["report", str(cdnow_path), "--out", str(tmp_path / "r.html"), "--pdf", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert "HTML report written" in err and "Chromium" in err
    assert (tmp_path / "r.html").exists() and not (tmp_path / "r.pdf").exists()


def test_methodology_explains_every_finding(report):
    methodology = report.html.split('id="methodology"', 1)[1]
    for finding in report.findings:
        assert finding.method and _escaped(finding.method) in methodology
