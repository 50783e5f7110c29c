"""report: write a self-contained HTML report (and a PDF with Chromium) of an order export."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Nothing here imports Polars at import time: the command forks under the ingest limits first (run_supervised).
from crm_core import format as fmt
from crm_core.commands.common import (
    ANALYSIS_TIME_SCALE,
    add_source_arguments, emit, fail, finding_context, forecast_first, load_view, options_from_args, read_facts,
    run_supervised,
    streaming_when_on_disk, view_settings,
)
from crm_core.settings import AnalysisSettings, Period

if TYPE_CHECKING:
    from crm_core.dataset import Dataset
    from crm_core.filters import View
    from crm_core.ingest.report import IngestReport


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a date like 2024-12-31, got '{text}'") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE.html", help="where to write the HTML report")
    parser.add_argument("--pdf", metavar="FILE.pdf", help="also print the report to PDF (needs Chromium)")
    parser.add_argument("--title", default="Customer portfolio report", help="report title")
    parser.add_argument("--start", type=_date, help="first day of the period (default: the view's, else first order)")
    parser.add_argument("--end", type=_date, help="last day of the period (default: the view's, else last order)")
    parser.add_argument("--currency-symbol", default="",
                        help="prefix for money in the report, e.g. '$' or '€' (default: the view's or the file's currency)")
    sides = parser.add_argument_group("optional side tables")
    sides.add_argument("--customers-file", metavar="FILE", help="customer details (customer_id, signup_date, ...)")
    sides.add_argument("--interactions-file", metavar="FILE", help="service interactions (customer_id, interaction_date, ...)")
    sides.add_argument("--marketing-spend-file", metavar="FILE", help="marketing spend per month and channel")


def _dataset(args: argparse.Namespace) -> tuple[Dataset, View, AnalysisSettings, IngestReport]:
    from crm_core.dataset import Dataset
    from crm_core.ingest import read_side_table

    analysis = view_settings(args)
    if args.start or args.end:  # --start/--end win over the view's period
        analysis = replace(analysis, period=Period(preset="custom", start=args.start, end=args.end))
    view, analysis, ingest_report = load_view(args, analysis)
    options = options_from_args(args)
    sides: dict[str, Any] = {}
    for kind in ("customers", "interactions", "marketing_spend"):
        path = getattr(args, f"{kind}_file", None)
        if path:
            sides[kind] = read_side_table(path, kind, options)[0]
    # The whole filtered history: the findings cut the period themselves and compare with the one before.
    dataset = Dataset(transactions=view.history, name=Path(args.path).name, **sides)
    return dataset, view, analysis, ingest_report


def _currency_prefix(args: argparse.Namespace, analysis: AnalysisSettings, ingest_report: IngestReport) -> str:
    if args.currency_symbol:
        return args.currency_symbol
    code = analysis.currency or (getattr(ingest_report, "detected", {}) or {}).get("currency") or ""
    if not isinstance(code, str) or len(code) != 3:
        return ""  # unknown or several currencies: no prefix rather than a wrong one
    return fmt.SYMBOLS.get(code, f"{code} ")


def run(args: argparse.Namespace) -> int:
    """The report is built under the ingest limits, in a forked child that reads the file itself (see
    ``run_supervised``; large files in batches, their rows on disk). Chromium prints the PDF afterwards,
    from this process: it reserves far more address space than the child's cap allows."""
    if args.start and args.end and args.start > args.end:
        return fail("--start is after --end; swap them.")
    if not str(args.out).lower().endswith((".html", ".htm")):
        return fail("--out must name an .html file, e.g. --out report.html")
    with tempfile.TemporaryDirectory(prefix="crm-report-") as folder:
        handoff = Path(folder) / "payload.json"
        code = run_supervised(lambda: _report(args, handoff), args, ANALYSIS_TIME_SCALE)
        if code != 0:
            return code
        payload = json.loads(handoff.read_text("utf-8"))
    if args.pdf:
        from crm_core.report import PdfUnavailable, html_file_to_pdf

        try:
            payload["pdf"] = str(html_file_to_pdf(payload["html"], args.pdf))
        except PdfUnavailable as error:
            emit(payload, args.json)
            return fail(f"HTML report written to {payload['html']}, but no PDF: {error}")
    emit(payload, args.json)
    return 0


def _report(args: argparse.Namespace, handoff: Path) -> int:
    """Write the HTML report; its summary (what ``run`` prints) goes to ``handoff`` as JSON."""
    from crm_core.findings import FindingSettings, key_findings
    from crm_core.metrics import headline_figures
    from crm_core.report import build_report, write_report

    dataset, view, analysis, ingest_report = _dataset(args)
    if dataset.transactions.head(1).collect().height == 0:
        return fail("no valid orders in the file (or none left by the view's filters and period): "
                    "check the column mapping with `python -m crm_core summary PATH`.")
    assert view.start is not None and view.end is not None  # the view has orders (checked above)
    settings = FindingSettings.from_analysis(analysis, view.start, view.end, _currency_prefix(args, analysis, ingest_report))
    from crm_core.sliced_rows import sliced_dataset

    # Rows on disk: split once into the slices of customers the findings count in (each slice's queries then
    # read that slice alone, not every row).
    with streaming_when_on_disk(ingest_report), sliced_dataset(dataset, ingest_report) as dataset:
        context = finding_context(dataset, settings, ingest_report)
        forecast_first(context, ingest_report)
        # The headline figures read the findings' customer summary and lifetime-value fit: one figure, one value
        # (and one fit). Both cover the same orders when the period ends on the view's last day.
        same_orders = context.period == (view.start, view.end)
        figures = headline_figures(view.transactions, analysis, view.start, view.end, history=view.history,
                                   summary=context.summary.lazy() if same_orders else None,
                                   forecast=(lambda: context.forecast) if same_orders else None)
        findings = key_findings(dataset, settings, context=context)
        content = build_report(dataset, settings, ingest_report=ingest_report, findings=findings, title=args.title,
                               figures=figures, slices=context.slices)
    html_path = write_report(content, args.out)
    payload = {
        "html": str(html_path),
        "bytes": html_path.stat().st_size,
        "charts": content.charts,
        "findings": {finding.key: finding.headline for finding in content.findings},
        **read_facts(ingest_report),
    }
    handoff.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
    return 0

