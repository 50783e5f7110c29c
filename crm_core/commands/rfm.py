"""rfm: RFM scores and the eleven named segments of an order export."""
from __future__ import annotations

import argparse
import datetime as dt

from crm_core.commands.common import add_source_arguments, emit, fail, load_orders
from crm_core.customers import data_as_of
from crm_core.rfm import ALLOWED_BINS, RfmSettings, bin_notes, headline, rfm, segment_counts


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD, e.g. 2024-12-31") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    group = parser.add_argument_group("RFM options")
    group.add_argument("--as-of", type=_date, help="reference date YYYY-MM-DD (default: last order date)")
    group.add_argument("--bins", type=int, choices=ALLOWED_BINS, default=5, help="score levels (default 5)")
    group.add_argument("--ties", choices=("shared", "ordinal"), default="shared",
                       help="shared: equal values get equal scores (default); ordinal: split ties by customer id")
    group.add_argument("--segment-on", choices=("F", "FM"), default="F",
                       help="segment rules read the F score (default) or the mean of F and M")


def run(args: argparse.Namespace) -> int:
    tx, _report = load_orders(args)
    last = data_as_of(tx)
    if last is None:
        return fail("the file has no valid orders: check the column mapping with the 'summary' command")
    as_of = args.as_of or last
    settings = RfmSettings(bins=args.bins, ties=args.ties, segment_on=args.segment_on)
    scored = rfm(tx, as_of, settings)
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
    }
    emit(payload, args.json)
    return 0
