"""A self-contained HTML report (opens offline) and its PDF via headless Chromium.

Printed, it is a landscape document: a title page naming the dataset, period,
filters and settings with the key findings in a sentence each, then one
finding per page (headline, chart without Plotly's toolbar, its numbers beside
it), numbered pages, and data quality and definitions at the end.

The HTML embeds Plotly's JavaScript once, inline, and every chart as a div
plus a short inline script: no external script, stylesheet, font or image.
All text that comes from the data or the user (dataset name, customer ids,
column names, warnings) goes through :func:`html.escape`.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from plotly.offline import get_plotlyjs

from crm_core.chromium import chromium_path, headless
from crm_core.dataset import Dataset
from crm_core.findings import Finding, FindingSettings, key_findings
from crm_core.format import PLAIN, NumberStyle
from crm_core.metrics import Figure
from crm_core.schema import C

PDF_TIMEOUT_SECONDS = 180
MAX_TABLE_ROWS = 50
CHART_CLASS = "report-chart"

_COLUMN_LABELS = {
    C.ORDER_ID: "order id", C.QUANTITY: "quantity", C.CHANNEL: "sales channel", C.REGION: "region",
    C.CATEGORY: "product category", C.COST: "cost (for margin)", C.DAYS_LATE: "delivery delay",
}
_SIDE_LABELS = {"customers": "customer details", "interactions": "service interactions", "marketing_spend": "marketing spend"}

_STYLE = """
:root { --ink: #1B2733; --muted: #5B6B7A; --line: #E0E6EC; --accent: #0072B2; }
* { box-sizing: border-box; }
body { font-family: Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1100px; padding: 32px 40px; line-height: 1.5; }
h1 { font-size: 30px; margin: 0 0 4px; } h2 { font-size: 23px; margin: 36px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 18px; margin: 20px 0 6px; }
.meta, .detail, .note { color: var(--muted); font-size: 14px; }
.headline { font-size: 20px; font-weight: 600; margin: 6px 0 12px; }
ol.summary li { font-size: 17px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 10px 0 6px; font-size: 14px; width: auto; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px 5px 0; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.report-chart { width: 100%; min-height: 420px; }
.finding { break-inside: avoid; page-break-inside: avoid; }
.finding-body { display: flex; gap: 24px; align-items: flex-start; }
.finding-body .chart-cell { flex: 0 0 600px; } .finding-body .table-cell { flex: 1 1 auto; }
.finding-body .table-cell table, .quality-body table { font-size: 11.5px; }
.finding-body th, .finding-body td, .quality-body th, .quality-body td { padding: 3px 8px 3px 0; }
.quality-body { display: flex; gap: 32px; align-items: flex-start; }
dl.defs { column-count: 2; column-gap: 32px; font-size: 14px; } dl.defs dt { font-weight: 600; margin-top: 8px; break-after: avoid; }
dl.defs dd { margin: 2px 0 0 0; break-inside: avoid; }
.title-body { display: flex; gap: 32px; align-items: flex-start; } .title-body #summary { flex: 1 1 60%; }
#settings { flex: 0 0 36%; margin-top: 36px; } table.settings td, table.settings th { font-size: 13px; }
@media print { ol.summary li { font-size: 14.5px; margin-bottom: 4px; } }
@page { size: A4 landscape; margin: 12mm 14mm 14mm 14mm;
        @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 10px; color: #5B6B7A; } }
@media print {
  body { padding: 0; max-width: none; }
  h2 { break-after: avoid; margin-top: 0; }
  .report-chart { min-height: 0; }
  .finding, #data-quality { break-before: page; }
  .modebar-container, .modebar { display: none !important; }
  dl.defs { column-count: 4; column-gap: 18px; font-size: 10.5px; line-height: 1.3; }
  #methodology.own-page { break-before: page; } #methodology.own-page dl.defs { column-count: 3; font-size: 12.5px; line-height: 1.4; } dl.defs dt { margin-top: 5px; }
  #methodology h2 { margin-top: 10px; } #data-quality h3 { margin-top: 0; }
  .quality-body table { font-size: 11px; margin-top: 4px; } .quality-body th, .quality-body td { padding: 2px 8px 2px 0; }
}
"""

_METHODOLOGY = [
    ("Data", "Each row of the order export is one order line: a customer id, an order date and an amount. "
             "Negative amounts are returns; revenue is always net of returns."),
    ("Orders", "Distinct order ids when the export has them; otherwise all of a customer's purchases on one day count as one order."),
    ("Period", "Every figure covers the period shown at the top, as of its last day."),
]


class PdfUnavailable(RuntimeError):
    """No Chromium to print with, or printing failed; the message says what to do."""


@dataclass(frozen=True)
class ReportContent:
    """What a report was built from (also returned to the CLI for its summary)."""

    html: str
    findings: list[Finding]
    charts: int


# --- HTML building blocks -------------------------------------------------------


def esc(value: Any) -> str:
    """Text for HTML: escaped, None as a dash."""
    return "–" if value is None else html.escape(str(value), quote=True)


def table_html(frame: pl.DataFrame, max_rows: int = MAX_TABLE_ROWS, style: NumberStyle = PLAIN) -> str:
    """A plain HTML table; every header and cell escaped, numbers right-aligned in the style's locale."""
    numeric = {name for name, dtype in frame.schema.items() if dtype.is_numeric()}
    head = "".join(f"<th>{esc(name)}</th>" for name in frame.columns)
    rows = []
    for row in frame.head(max_rows).iter_rows(named=True):
        cells = "".join(
            f'<td class="num">{_number(value, style)}</td>' if name in numeric else f"<td>{esc(value)}</td>"
            for name, value in row.items()
        )
        rows.append(f"<tr>{cells}</tr>")
    more = (f'<p class="note">First {max_rows} of {style.count(frame.height)} rows.</p>'
            if frame.height > max_rows else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _number(value: Any, style: NumberStyle = PLAIN) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return esc(style.number(value, 2))
    return esc(style.count(value))


#: Size of a chart on a landscape page (CSS pixels): about two thirds of the width, most of the height.
CHART_SIZE = (600, 430)
#: Rows and columns of a finding's table printed beside its chart (the page holds no more).
PAGE_TABLE_ROWS = 10
PAGE_TABLE_COLUMNS = 5


def _chart_html(finding: Finding, index: int) -> str:
    from crm_core.charts.registry import finding_figure

    figure = finding_figure(finding)
    if figure is None:
        return ""
    width, height = CHART_SIZE
    figure.update_layout(width=width, height=height, autosize=False)
    return figure.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=f"chart-{index}-{finding.key}",
        config={"displaylogo": False, "displayModeBar": False, "responsive": False},
        default_width=f"{width}px", default_height=f"{height}px",
    ).replace('class="plotly-graph-div"', f'class="plotly-graph-div {CHART_CLASS}"', 1)


def _finding_html(finding: Finding, index: int, style: NumberStyle = PLAIN) -> str:
    parts = [f'<section class="finding" id="finding-{esc(finding.key)}">', f"<h2>{esc(finding.title)}</h2>",
             f'<p class="headline">{esc(finding.headline)}</p>']
    if finding.detail:
        parts.append(f'<p class="detail">{esc(finding.detail)}</p>')
    parts.append('<div class="finding-body">')
    if finding.chart:
        parts.append(f'<div class="chart-cell">{_chart_html(finding, index)}</div>')
    if finding.table is not None and finding.table.height:
        shown = finding.table.select(finding.table.columns[:PAGE_TABLE_COLUMNS])
        parts.append(f'<div class="table-cell">{table_html(shown, max_rows=PAGE_TABLE_ROWS, style=style)}</div>')
    parts.append("</div></section>")
    return "\n".join(parts)


# --- Data quality -------------------------------------------------------------


def dataset_checks(dataset: Dataset, slices: int = 1) -> pl.DataFrame:
    """What the dataset holds and lacks: one row per check (check, result).

    ``slices`` > 1 (many rows, on disk): the customers are counted slice by slice of customers, by their id's
    hash, so that one slice's distinct ids are in memory at a time (3M customers took 0.8 GB at once).
    """
    tx = dataset.transactions
    names = tx.collect_schema().names()
    stats = tx.select(
        pl.len().alias("rows"),
        *([pl.col(C.CUSTOMER_ID).n_unique().alias("customers")] if slices <= 1 else []),
        pl.col(C.ORDER_DATE).min().alias("first"),
        pl.col(C.ORDER_DATE).max().alias("last"),
        (pl.col(C.CUSTOMER_ID).is_not_null() & (pl.col(C.CUSTOMER_ID).str.strip_chars() != "")).mean().alias("with_id"),
        (pl.col(C.AMOUNT) < 0).sum().alias("returns"),
    ).collect().row(0, named=True)
    if slices > 1:
        customer = pl.col(C.CUSTOMER_ID)
        stats["customers"] = sum(tx.filter(customer.hash() % slices == k).select(customer.n_unique()).collect().item()
                                 for k in range(slices))
    present = [label for column, label in _COLUMN_LABELS.items() if column in names]
    missing = [label for column, label in _COLUMN_LABELS.items() if column not in names]
    sides = [label for kind, label in _SIDE_LABELS.items() if dataset.side_table(kind) is not None]
    rows = [
        ("Order lines", f"{stats['rows']:,}"),
        ("Customers", f"{stats['customers']:,}"),
        ("Dates", f"{stats['first']} to {stats['last']}"),
        ("Lines with a customer id", f"{(stats['with_id'] or 0):.1%}"),
        ("Return lines (negative amounts)", f"{stats['returns']:,}"),
        ("Optional columns present", ", ".join(present) or "none"),
        ("Optional columns missing", ", ".join(missing) or "none"),
        ("Side tables", ", ".join(sides) or "none (customer details, interactions and marketing spend can be added on the Data page)"),
    ]
    return pl.DataFrame(rows, schema={"Check": pl.String, "Result": pl.String}, orient="row")


def ingest_rows(report: Any) -> pl.DataFrame:
    """The ingest report of an upload as (Item, Value) rows."""
    data = report.to_dict()
    rows = [
        ("Rows read", f"{data.get('rows_read', 0):,}"),
        ("Rows kept", f"{data.get('rows_valid', 0):,}"),
        ("Rows rejected", f"{data.get('rows_rejected', 0):,}"),
        ("Duplicate rows", f"{data.get('duplicate_rows', 0):,}"),
        ("Rows with a negative amount", f"{data.get('negative_amount_rows', 0):,}"),
    ]
    # "Amounts converted to EUR with your rates table (...)" (crm_core.currency) first: it changes every amount.
    rows += [("Currency", str(w)) for w in data.get("warnings") or [] if str(w).startswith("Amounts converted to")]
    rows += [(f"Rejected: {reason}", f"{count:,}") for reason, count in (data.get("rejected_by_reason") or {}).items()]
    rows += [(f"Detected {key.replace('_', ' ')}", _yes_no(value)) for key, value in (data.get("detected") or {}).items()
             if isinstance(value, (str, int, float)) and value != ""]  # nothing detected: no row (never 'None')
    rows += [("Warning", str(warning)) for warning in data.get("warnings") or []]
    return pl.DataFrame(rows, schema={"Item": pl.String, "Value": pl.String}, orient="row")


def _yes_no(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _quality_html(dataset: Dataset, ingest_report: Any | None, slices: int = 1) -> str:
    parts = ['<section id="data-quality"><h2>Data quality</h2><div class="quality-body">',
             f"<div>{table_html(dataset_checks(dataset, slices))}</div><div>"]
    if ingest_report is not None:
        parts += ["<h3>How the upload was read</h3>", table_html(ingest_rows(ingest_report), max_rows=14)]
    else:
        parts.append('<p class="note">No ingest report: this dataset was not uploaded as a file (for example the demo).</p>')
    parts.append("</div></div></section>")
    return "\n".join(parts)


def _methodology_html(findings: list[Finding], own_page: bool = False) -> str:
    """General definitions, then how each finding was computed (its own method text).

    ``own_page`` starts them on a new printed page (when the data quality section above fills most of one).
    """
    terms = _METHODOLOGY + [(finding.title, finding.method) for finding in findings if finding.method]
    items = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in terms)
    page = ' class="own-page"' if own_page else ""
    return f'<section id="methodology"{page}><h2>Methodology</h2><dl class="defs">{items}</dl></section>'



def _settings_html(dataset: Dataset, settings: FindingSettings, start: Any, end: Any) -> str:
    """The title page's table: dataset, period, filters and every setting behind the figures."""
    rows = [("Dataset", dataset.name), ("Period", f"{start} to {end}"), ("Filters", settings.filters_text()),
            *settings.describe()]
    frame = pl.DataFrame(rows, schema={"Setting": pl.String, "Value": pl.String}, orient="row")
    table = table_html(frame).replace("<table>", '<table class="settings">', 1)
    return f'<section id="settings">{table}</section>'


# --- The report ---------------------------------------------------------------


def figures_script(figures: list[Figure]) -> str:
    """The headline figures as ``<script type="application/json" id="figures">`` (machine-readable).

    ``<`` is written as ``\\u003c`` so no value (tier names are user text) can close the script.
    """
    payload = [{key: _finite(figure.to_dict()[key]) for key in ("id", "label", "value", "unit", "definition", "period")}
               for figure in figures]
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" id="figures">{text}</script>'


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def build_report(
    dataset: Dataset,
    settings: FindingSettings | None = None,
    ingest_report: Any | None = None,
    findings: list[Finding] | None = None,
    title: str = "Customer portfolio report",
    generated_at: dt.datetime | None = None,
    figures: list[Figure] | None = None,
    slices: int = 1,
) -> ReportContent:
    """The whole report as one HTML document.

    Parameters
    ----------
    dataset
        The portfolio (whole history).
    settings
        Period and thresholds (default: whole history, light charts).
    ingest_report
        The :class:`crm_core.ingest.IngestReport` of an uploaded file, if any.
    findings
        Precomputed findings (default: :func:`crm_core.findings.key_findings`).
    title, generated_at
        Shown in the header (generated_at defaults to now).
    figures
        Headline figures (:func:`crm_core.metrics.headline_figures`) embedded as JSON; none when omitted.
    slices
        Slices of customers that the data-quality table counts customers in (see :func:`dataset_checks`).
    """
    settings = settings or FindingSettings()
    if findings is None:
        findings = key_findings(dataset, settings)
    generated_at = generated_at or dt.datetime.now().replace(microsecond=0)
    first, last = dataset.transactions.select(pl.col(C.ORDER_DATE).min(), pl.col(C.ORDER_DATE).max().alias("last")).collect().row(0)
    start, end = max(settings.start or first, first) if first else None, min(settings.end or last, last) if last else None
    summary = "".join(f"<li>{esc(f.headline)}</li>" for f in findings) or "<li>No orders in this period.</li>"
    body = [
        f"<header><h1>{esc(title)}</h1>",
        f'<p class="meta">Dataset: {esc(dataset.name)} · Period: {esc(start)} to {esc(end)} · Generated {esc(generated_at.isoformat(sep=" "))}</p>',
        f'<p class="meta" id="filters">Filters: {esc(settings.filters_text())}</p></header>',
        '<div class="title-body">',
        f'<section id="summary"><h2>Key findings</h2><ol class="summary">{summary}</ol></section>',
        _settings_html(dataset, settings, start, end),
        "</div>",
        *(_finding_html(finding, index, settings.style) for index, finding in enumerate(findings)),
        _quality_html(dataset, ingest_report, slices),
        _methodology_html(findings, own_page=ingest_report is not None),
    ]
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} – {esc(dataset.name)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body>{''.join(body)}{figures_script(figures or [])}</body></html>"
    )
    charts = sum(1 for f in findings if f.chart)
    return ReportContent(html=document, findings=findings, charts=charts)


def write_report(content: ReportContent, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content.html, encoding="utf-8")
    return path


# --- PDF ----------------------------------------------------------------------


PDF_UNAVAILABLE_MESSAGE = (
    "PDF needs Chromium, which is not installed on this machine. Install it (e.g. `apt-get install chromium`) "
    "or open the HTML report in any browser and print it to PDF."
)


def html_file_to_pdf(html_path: Path | str, pdf_path: Path | str, chromium: str | None = None) -> Path:
    """Print an HTML file to PDF with headless Chromium (networking off). Raises PdfUnavailable."""
    chromium = chromium or chromium_path()
    if chromium is None:
        raise PdfUnavailable(PDF_UNAVAILABLE_MESSAGE)
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crm-chromium-") as profile:
        command = [*headless(chromium, profile), "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                   "--virtual-time-budget=20000", f"--print-to-pdf={pdf_path}", html_path.as_uri()]
        try:
            completed = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PdfUnavailable(f"Chromium could not print the report ({error}); open the HTML report and print it to PDF.") from error
    if not pdf_path.exists() or pdf_path.stat().st_size == 0 or not pdf_path.read_bytes()[:5] == b"%PDF-":
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise PdfUnavailable(f"Chromium did not produce a PDF ({tail[0][:200]}); open the HTML report and print it to PDF.")
    return pdf_path


def report_pdf_bytes(content: ReportContent, chromium: str | None = None) -> bytes:
    """The PDF of a built report, as bytes (for a download button)."""
    with tempfile.TemporaryDirectory(prefix="crm-report-") as folder:
        html_path = write_report(content, Path(folder) / "report.html")
        return html_file_to_pdf(html_path, Path(folder) / "report.pdf", chromium).read_bytes()


def report_file_name(dataset_name: str, suffix: str, today: dt.date | None = None) -> str:
    """A safe download name: 'crm-report-<dataset>-<date>.<suffix>'."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in dataset_name.lower()).strip("-")[:40] or "dataset"
    return f"crm-report-{stem}-{(today or dt.date.today()).isoformat()}.{suffix}"
