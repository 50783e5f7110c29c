"""clv: fit BG/NBD + Gamma-Gamma (time in weeks) and report parameters, CLV and holdout checks."""
from __future__ import annotations

import argparse
import datetime as dt

from dataclasses import replace

from crm_core.clv import WEEKS_PER_MONTH, fit_clv, validate_holdout
from crm_core.commands.common import add_source_arguments, emit, fail, load_view
from crm_core.customers import data_as_of


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 1997-09-30") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--calibration-end", type=_date, metavar="DATE",
                        help="fit on orders up to this day (YYYY-MM-DD) and check the forecast on the later "
                             "orders; default: fit on all data")
    parser.add_argument("--horizon-weeks", type=float, metavar="N",
                        help="CLV horizon in weeks (default: the view's horizon_months, else 12 months = 52.18 weeks)")
    parser.add_argument("--margin", type=float, metavar="M",
                        help="share of spend that is profit, 0-1 (default: the view's, else 1 = CLV in revenue terms)")
    parser.add_argument("--discount-rate", type=float, metavar="D",
                        help="annual discount rate, e.g. 0.1 for 10%% (default: the view's, else 0.1)")


def run(args: argparse.Namespace) -> int:
    if args.horizon_weeks is not None and args.horizon_weeks <= 0:
        return fail("--horizon-weeks must be positive, e.g. 52")
    if args.margin is not None and not 0 < args.margin <= 1:
        return fail("--margin must be between 0 and 1, e.g. 0.3 for a 30% margin")
    if args.discount_rate is not None and args.discount_rate < 0:
        return fail("--discount-rate must be 0 or more, e.g. 0.1")
    view, analysis, _ = load_view(args)
    tx = view.transactions.collect().lazy()  # read the file once; every step below reuses it
    settings = analysis.clv_settings(args.calibration_end or view.end)
    overrides = {"horizon_weeks": args.horizon_weeks, "margin": args.margin, "annual_discount_rate": args.discount_rate}
    settings = replace(settings, **{key: value for key, value in overrides.items() if value is not None})
    try:
        result = fit_clv(tx, settings)
    except ValueError as error:
        return fail(str(error))
    from crm_core.metrics import predicted_total

    payload = result.to_dict()
    payload["predicted_value_total"] = predicted_total(result)
    payload["margin"] = settings.margin
    months = round(settings.horizon_weeks / WEEKS_PER_MONTH, 2)
    payload["horizon_months"] = int(months) if months.is_integer() else months
    payload["discount_rate"] = settings.annual_discount_rate
    last = data_as_of(tx)
    if args.calibration_end is not None and args.calibration_end < last:
        payload["holdout"] = validate_holdout(tx, args.calibration_end, last).to_dict()
    emit(payload, args.json)
    return 0
