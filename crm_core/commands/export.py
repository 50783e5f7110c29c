"""export: write the target list of an RFM segment (CSV or XLSX, formula-injection-safe).

Same list as the Actions page with the default playbook: each customer of the
segment with their segment, tier, predicted value, value band, recommended
action, and their name and e-mail wherever known (the --customers table, else
the orders file's own name and e-mail columns, or an e-mail used as customer id).
Headers are readable ("Customer ID", "Predicted value (EUR)"), money is rounded
to the cent, the probability is in percent, dates are ISO.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from crm_core.actions import (
    RFM_SEGMENTS, ValueSettings, action_table, available_segments, default_playbook, known_contacts, resolve_segment,
    target_list, target_list_file,
)
from crm_core.commands.common import add_source_arguments, emit, fail, load_view
from crm_core.commands.summary import currency_code
from crm_core.customers import summarize
from crm_core.dataset import Dataset
from crm_core.enrich import build_profile
from crm_core.export import safe_csv_bytes, safe_xlsx_bytes
from crm_core.ingest import read_side_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--segment", required=True, action="append", metavar="NAME",
                        help="RFM segment to export, e.g. 'At Risk' (case-insensitive; repeat for several)")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--format", choices=("csv", "xlsx"), help="file format (default: from --out, else csv)")
    parser.add_argument("--customers", metavar="FILE", help="customers side table (customer_id, email, name, ...)")
    parser.add_argument("--high-value-share", type=float, default=ValueSettings().high_value_share, metavar="SHARE",
                        help="top share of customers by value counted as 'High value' (default 0.2)")


def _file_format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    return "xlsx" if Path(args.out).suffix.lower() == ".xlsx" else "csv"


def run(args: argparse.Namespace) -> int:
    if not 0 < args.high_value_share < 1:
        return fail("--high-value-share must be between 0 and 1, e.g. 0.2 for the top 20%")
    view, settings, report = load_view(args)
    contacts = read_side_table(args.customers, "customers")[0] if args.customers else None
    dataset = Dataset(transactions=view.transactions.collect().lazy(), customers=contacts)
    summary = summarize(dataset.transactions).collect()
    profile = build_profile(dataset, summary=summary)
    if not profile.has("segment"):
        return fail(profile.missing.get("segment", "RFM segments are not available."))
    actions = action_table(summary, profile.table, default_playbook(), known_contacts(dataset.transactions, contacts),
                           ValueSettings(high_value_share=args.high_value_share))
    segments = []
    for name in args.segment:
        segment = resolve_segment(name, RFM_SEGMENTS) or resolve_segment(name, available_segments(actions))
        if segment is None:
            return fail(f"unknown segment '{name}'; valid segments: {', '.join(RFM_SEGMENTS)}")
        segments.append(segment)
    targets = target_list_file(target_list(actions, segments), settings.currency or currency_code(report.detected) or "")
    file_format = _file_format(args)
    data = safe_xlsx_bytes(targets, sheet_name="Target list") if file_format == "xlsx" else safe_csv_bytes(targets)
    Path(args.out).write_bytes(data)
    emit(
        {
            "segments": segments,
            "customers": targets.height,
            "format": file_format,
            "out": str(args.out),
            "columns": targets.columns,
            "warnings": [*profile.warnings, *profile.missing.values()],
        },
        args.json,
    )
    return 0
