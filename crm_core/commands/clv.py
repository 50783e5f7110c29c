"""clv: fit BG/NBD + Gamma-Gamma (time in weeks) and report parameters, CLV and holdout checks."""
from __future__ import annotations

import argparse
import datetime as dt

from crm_core.clv import CLVSettings, fit_clv, validate_holdout
from crm_core.commands.common import add_source_arguments, emit, fail, load_orders
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
    parser.add_argument("--horizon-weeks", type=float, default=52.0, metavar="N",
                        help="CLV horizon in weeks (default 52; 1 month = 4.35 weeks)")
    parser.add_argument("--margin", type=float, default=1.0, metavar="M",
                        help="share of spend that is profit, 0-1 (default 1 = CLV in revenue terms)")
    parser.add_argument("--discount-rate", type=float, default=0.10, metavar="D",
                        help="annual discount rate, e.g. 0.1 for 10%% (default 0.1)")


def run(args: argparse.Namespace) -> int:
    if args.horizon_weeks <= 0:
        return fail("--horizon-weeks must be positive, e.g. 52")
    if not 0 < args.margin <= 1:
        return fail("--margin must be between 0 and 1, e.g. 0.3 for a 30% margin")
    if args.discount_rate < 0:
        return fail("--discount-rate must be 0 or more, e.g. 0.1")
    tx, _ = load_orders(args)
    tx = tx.collect().lazy()  # read the file once; every step below reuses it
    settings = CLVSettings(horizon_weeks=args.horizon_weeks, margin=args.margin,
                           annual_discount_rate=args.discount_rate, calibration_end=args.calibration_end)
    try:
        result = fit_clv(tx, settings)
    except ValueError as error:
        return fail(str(error))
    payload = result.to_dict()
    last = data_as_of(tx)
    if args.calibration_end is not None and args.calibration_end < last:
        payload["holdout"] = validate_holdout(tx, args.calibration_end, last).to_dict()
    emit(payload, args.json)
    return 0
