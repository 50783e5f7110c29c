"""drivers: what customers are worth by first product, category, discount code, channel, region or cohort."""
from __future__ import annotations

import argparse

from crm_core.commands.common import add_source_arguments, emit, fail, load_orders

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
    from crm_core import drivers

    tx, _ = load_orders(args)
    tx = tx.collect().lazy()  # read the file once; every step below reuses it
    args.by = args.by or next(by for by in CHOICES if drivers.missing_column(tx, by) is None)
    missing = drivers.missing_column(tx, args.by)
    if missing:
        flag = f"--{missing.replace('_', '-')}"
        remedy = f"map it with {flag} COL if it has another name" if hasattr(args, f"map_{missing}") else "add one"
        return fail(f"--by {args.by} needs a '{missing}' column, which this file lacks: {remedy}, or pick another --by")
    profiles = drivers.customer_profiles(tx)
    predict = args.predict and profiles.height > 0
    predictions, problems = drivers.predicted_values(tx) if predict else (None, [])
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
