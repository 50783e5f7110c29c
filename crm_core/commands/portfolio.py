"""portfolio: revenue concentration (top 20% share, Gini) and value tiers of an order export."""
from __future__ import annotations

import argparse

from crm_core.commands.common import add_source_arguments, emit, fail, load_orders
from crm_core.portfolio import TierSettings, portfolio_report


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from error


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(","))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    group = parser.add_argument_group("tiers (default: Platinum top 1%, Gold next 4%, Iron next 15%, Lead the rest)")
    group.add_argument("--by", choices=["revenue", "margin"], default="revenue",
                       help="rank customers by net revenue or by margin (needs a cost column)")
    group.add_argument("--names", type=_names, help="tier names, best first, comma-separated")
    group.add_argument("--shares", type=_numbers,
                       help="customer share of each tier but the last, e.g. 0.01,0.04,0.15")
    group.add_argument("--amounts", type=_numbers,
                       help="absolute cut-offs instead of shares, decreasing, e.g. 5000,1000,200")


def settings_from_args(args: argparse.Namespace) -> TierSettings:
    """The tier rule from the command line (raises ValueError with a user message)."""
    names = args.names or TierSettings().names
    if args.amounts:
        return TierSettings(names=names, method="amount", value=args.by, amounts=args.amounts)
    shares = args.shares or (TierSettings().shares if len(names) == 4 else None)
    if shares is None:
        raise ValueError("With other than 4 tiers, give --shares (or --amounts) for every tier but the last.")
    return TierSettings(names=names, value=args.by, shares=shares)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        return fail(str(error))
    tx, _ = load_orders(args)
    try:
        payload = portfolio_report(tx, settings)
    except ValueError as error:
        return fail(str(error))
    if payload["customers"] == 0:
        return fail("the file has no valid orders: check the column mapping with `python -m crm_core summary PATH`.")
    emit(payload, args.json)
    return 0
