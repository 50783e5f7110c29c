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
from dataclasses import replace
from pathlib import Path

from crm_core.commands.common import add_source_arguments, emit, fail, load_view, per_customer, read_once, run_supervised
from crm_core.commands.summary import currency_code

#: crm_core.actions.ValueSettings().high_value_share, kept here so that building the parser (before the
#: supervisor forks) imports no Polars.
HIGH_VALUE_SHARE = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--segment", required=True, action="append", metavar="NAME",
                        help="RFM segment to export, e.g. 'At Risk' (case-insensitive; repeat for several)")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--format", choices=("csv", "xlsx"), help="file format (default: from --out, else csv)")
    parser.add_argument("--customers", metavar="FILE", help="customers side table (customer_id, email, name, ...)")
    parser.add_argument("--high-value-share", type=float, default=HIGH_VALUE_SHARE, metavar="SHARE",
                        help="top share of customers by value counted as 'High value' (default 0.2)")


def _clv_fit(tx, as_of, collect):
    """The forecast the profile reads (as :func:`crm_core.enrich.build_profile` fits it), with per-customer
    figures collected by ``collect``; None when it cannot be fitted (the profile then says why). Point
    forecasts only: a target list shows no prediction interval (3M customers' intervals take gigabytes)."""
    from crm_core.clv import CLVSettings, fit_clv

    try:
        result = fit_clv(tx, CLVSettings(calibration_end=as_of, interval=None), per_customer=collect) if as_of else None
    except ValueError:
        return None
    # The profile's columns alone: the fit's table of every customer is dropped before the summary is built.
    return replace(result, customers=result.customers.select("customer_id", "clv", "p_alive")) if result else None


def _file_format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    return "xlsx" if Path(args.out).suffix.lower() == ".xlsx" else "csv"


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``)."""
    return run_supervised(lambda: _export(args), args)


def _export(args: argparse.Namespace) -> int:
    from crm_core.actions import (
        RFM_SEGMENTS, TARGET_COLUMNS, ValueSettings, action_table, default_playbook, known_contacts,
        resolve_segment, target_list, target_list_file,
    )
    from crm_core.customers import data_as_of, summarize
    from crm_core.dataset import Dataset
    from crm_core.enrich import EngineSettings, build_profile
    from crm_core.export import safe_xlsx_bytes, write_safe_csv
    from crm_core.ingest import read_side_table

    if not 0 < args.high_value_share < 1:
        return fail("--high-value-share must be between 0 and 1, e.g. 0.2 for the top 20%")
    view, settings, report = load_view(args)
    contacts = read_side_table(args.customers, "customers")[0] if args.customers else None
    tx = read_once(view.transactions, report)
    dataset = Dataset(transactions=tx, customers=contacts)
    as_of = data_as_of(tx)

    def collect(build):  # per-customer figures, slice by slice of customers over many rows
        return per_customer(tx, build, report.rows_valid)

    fit = _clv_fit(tx, as_of, collect)  # first: its peak is the command's, with nothing else held
    # Only the columns the segments, tiers, value bands and the list read: 3M customers' whole summary
    # would be a few hundred MB more.
    summary = collect(lambda rows: summarize(rows, as_of).select(SUMMARY_COLUMNS))
    profile = build_profile(dataset, summary=summary, engines=EngineSettings(clv_result=fit))
    del fit
    if not profile.has("segment"):
        return fail(profile.missing.get("segment", "RFM segments are not available."))
    segments = []
    for name in args.segment:
        segment = resolve_segment(name, RFM_SEGMENTS) or resolve_segment(name, _segments_present(profile.table))
        if segment is None:
            return fail(f"unknown segment '{name}'; valid segments: {', '.join(RFM_SEGMENTS)}")
        segments.append(segment)
    kept = profile.table.select(name for name in profile.table.columns if name in TARGET_COLUMNS)
    orders_contacts = collect if _has_contacts(tx) else _contacts_of_ids(summary)
    actions = action_table(summary, kept, default_playbook(), known_contacts(tx, contacts, orders_contacts),
                           ValueSettings(high_value_share=args.high_value_share), segments=segments)
    targets = target_list_file(target_list(actions, segments), settings.currency or currency_code(report.detected) or "")
    file_format = _file_format(args)
    with open(args.out, "wb") as output:  # closed (flushed) here: the supervised child ends with os._exit
        if file_format == "xlsx":
            output.write(safe_xlsx_bytes(targets, sheet_name="Target list"))
        else:
            write_safe_csv(targets, output)
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


#: The summary columns a target list needs: RFM inputs, the tier value, the listed figures.
SUMMARY_COLUMNS = ("customer_id", "recency_days", "orders", "revenue", "last_date")


def _segments_present(profile):
    """:func:`crm_core.actions.available_segments` of the profile (the action table's segments)."""
    from crm_core.actions import available_segments

    return available_segments(profile.select("segment"))


def _has_contacts(tx) -> bool:
    """Whether the orders carry a name or e-mail column (see :func:`crm_core.actions.contacts_on_orders`)."""
    return bool({"customer_name", "email"} & set(tx.collect_schema().names()))


def _contacts_of_ids(summary):
    """Without name and e-mail columns the orders' contacts are the customer ids that are e-mail
    addresses: :func:`crm_core.actions.contacts_on_orders` on one row for each such customer gives the
    same as on every order (the others have no contact to give), without another pass over the rows."""
    import polars as pl

    from crm_core.actions import EMAIL_PATTERN
    from crm_core.schema import C

    ids = (summary.lazy().filter(pl.col(C.CUSTOMER_ID).str.contains(EMAIL_PATTERN))
           .select(C.CUSTOMER_ID, pl.lit(None, pl.Date).alias(C.ORDER_DATE)))
    return lambda build: build(ids).collect()
