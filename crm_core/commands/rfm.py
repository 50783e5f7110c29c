"""rfm: RFM scores and the eleven named segments of an order export."""
from __future__ import annotations

import argparse
import datetime as dt

from dataclasses import replace

from crm_core.commands.common import add_source_arguments, emit, fail, load_view, per_customer, read_facts, run_supervised

#: crm_core.rfm.ALLOWED_BINS, kept here so that building the parser (before the supervisor forks) imports no Polars.
ALLOWED_BINS = (3, 4, 5)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD, e.g. 2024-12-31") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    group = parser.add_argument_group("RFM options")
    group.add_argument("--as-of", type=_date, help="reference date YYYY-MM-DD (default: last order date)")
    group.add_argument("--bins", type=int, choices=ALLOWED_BINS,
                       help="score levels (default: the view's, else 5)")
    group.add_argument("--ties", choices=("shared", "ordinal"),
                       help="shared: equal values get equal scores (default); ordinal: split ties by customer id")
    group.add_argument("--segment-on", choices=("F", "FM"),
                       help="segment rules read the F score (default) or the mean of F and M")


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``)."""
    return run_supervised(lambda: _rfm(args), args)


def _rfm(args: argparse.Namespace) -> int:
    from crm_core.customers import data_as_of, summarize
    from crm_core.rfm import RFM_INPUTS, bin_notes, headline, score_customers, segment_counts

    view, analysis, report = load_view(args, count_duplicates=False)  # it shows no duplicate count
    tx = view.transactions
    last = data_as_of(tx)
    if last is None:
        return fail("the file has no valid orders: check the column mapping with the 'summary' command")
    as_of = args.as_of or view.end or last
    settings = analysis.rfm_settings()  # the view's bins and rules; options below win
    overrides = {"bins": args.bins, "ties": args.ties, "segment_on": args.segment_on}
    if args.bins is not None and args.bins != settings.bins:
        overrides["rules"] = None  # the view's rules are written for its number of bins
    settings = replace(settings, **{key: value for key, value in overrides.items() if value is not None or key == "rules"})
    # crm_core.rfm.rfm, with the summary built slice by slice of customers when the rows are many
    summary = per_customer(tx, lambda rows: summarize(rows, as_of).select(RFM_INPUTS), report.rows_valid)
    scored = score_customers(summary, settings).collect()
    if scored.is_empty():
        return fail(f"no orders on or before {as_of.isoformat()}: pick a later --as-of (data starts later)")
    payload = {
        "as_of": as_of.isoformat(),
        **headline(scored),
        "bins": settings.bins,
        "ties": settings.ties,
        "segment_on": settings.segment_on,
        "segments": segment_counts(scored, settings),
        "notes": [note.message for note in bin_notes(scored, settings)],
        **read_facts(report),
    }
    emit(payload, args.json)
    return 0
