"""drivers: what customers are worth by first product, category, discount code, channel, region or cohort."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

# Nothing here imports Polars at import time: the command forks under the ingest limits first (run_supervised).
from crm_core.commands.common import (
    ANALYSIS_TIME_SCALE,
    add_source_arguments, emit, fail, load_view, on_disk, per_customer, read_facts, read_once, run_supervised,
    streaming_when_on_disk,
)

if TYPE_CHECKING:
    import polars as pl

    from crm_core.findings import Slicer

#: --by choices (the contract) plus the first-order value band.
CHOICES = ("first_product", "first_category", "discount_code", "channel", "region", "cohort", "value_band")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--by", choices=CHOICES,
                        help="group customers by this trait of their first order (default: the first of the "
                             "choices the file has, in the order listed)")
    parser.add_argument("--no-prediction", dest="predict", action="store_false",
                        help="skip the 12-month value model (faster; predicted values are null)")


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``; large
    files in batches, their rows on disk)."""
    return run_supervised(lambda: _drivers(args), args, ANALYSIS_TIME_SCALE)


def _drivers(args: argparse.Namespace) -> int:
    view, _, report = load_view(args, count_duplicates=False)  # it shows no duplicate count
    rows = report.rows_valid
    # Rows on disk: per-customer tables in slices of customers, queries streaming over them.
    slicer: Slicer | None = (lambda tx, build: per_customer(tx, build, rows)) if on_disk(report) else None
    with streaming_when_on_disk(report):
        return _figures(args, read_once(view.transactions, report), slicer, read_facts(report))


def _figures(args: argparse.Namespace, tx: pl.LazyFrame, slicer: Slicer | None, facts: dict[str, Any]) -> int:
    from crm_core import drivers

    args.by = args.by or next(by for by in CHOICES if drivers.missing_column(tx, by) is None)
    missing = drivers.missing_column(tx, args.by)
    if missing:
        flag = f"--{missing.replace('_', '-')}"
        remedy = f"map it with {flag} COL if it has another name" if hasattr(args, f"map_{missing}") else "add one"
        return fail(f"--by {args.by} needs a '{missing}' column, which this file lacks: {remedy}, or pick another --by")
    # The model first: its fit, the command's peak, then has the memory to itself (3M customers' profiles are
    # not held meanwhile). Without profiles (no customer with a first purchase) nothing is predicted.
    predictions, problems = drivers.predicted_values(tx, slicer=slicer) if args.predict else (None, [])
    profiles = drivers.customer_profiles(tx, slicer=slicer)
    if profiles.height == 0:
        predictions, problems = None, []
    table = drivers.driver_table(profiles, args.by, predictions)
    overall = drivers.overall_figures(profiles, predictions)
    payload = {
        "by": args.by,
        "customers": profiles.height,
        "groups": drivers.cli_groups(table),
        "average": drivers.cli_record(overall),
        "takeaway": drivers.takeaway(table, args.by, overall),
        "prediction_problems": problems,
        "discount_depth": _depth_records(profiles, predictions),
        **facts,
    }
    emit(payload, args.json)
    return 0



def _depth_records(profiles, predictions) -> list[dict] | None:
    """The first-order discount depth bands, as the page shows them (null without discount amounts)."""
    from crm_core import drivers, offers

    if not offers.has_discount_amounts(profiles):
        return None
    table = offers.depth_table(profiles, predictions)
    return [{"name": row["name"], **drivers.cli_record(row),
             "after_first_per_customer": round(row["after_first_per_customer"], 2), "small": row["small"]}
            for row in table.iter_rows(named=True)]
