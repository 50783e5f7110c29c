"""portfolio: revenue concentration (top 20% share, Gini) and value tiers of an order export."""
from __future__ import annotations

import argparse

from typing import TYPE_CHECKING

from crm_core.commands.common import add_source_arguments, emit, fail, load_view, per_customer, read_facts, run_supervised, view_settings
from crm_core.settings import AnalysisSettings

if TYPE_CHECKING:
    from crm_core.portfolio import TierSettings


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
    group.add_argument("--by", choices=["revenue", "margin"],
                       help="rank customers by net revenue or by margin (needs a cost column); default revenue")
    group.add_argument("--names", type=_names, help="tier names, best first, comma-separated")
    group.add_argument("--shares", type=_numbers,
                       help="customer share of each tier but the last, e.g. 0.01,0.04,0.15")
    group.add_argument("--amounts", type=_numbers,
                       help="absolute cut-offs instead of shares, decreasing, e.g. 5000,1000,200")


def settings_from_args(args: argparse.Namespace, view: AnalysisSettings | None = None) -> TierSettings:
    """The tier rule: command-line options, else the ``--view`` tiers, else the defaults.

    Raises ValueError with a user message.
    """
    from crm_core.portfolio import TierSettings

    base = (view or AnalysisSettings()).tier_settings()
    by = args.by or base.value
    if not (args.names or args.shares or args.amounts):
        return TierSettings(names=base.names, method=base.method, value=by, shares=base.shares, amounts=base.amounts)
    names = args.names or base.names
    if args.amounts:
        return TierSettings(names=names, method="amount", value=by, amounts=args.amounts)
    shares = args.shares or (base.shares if len(names) == len(base.shares) + 1 else None)
    if shares is None:
        raise ValueError("With other than 4 tiers, give --shares (or --amounts) for every tier but the last.")
    return TierSettings(names=names, value=by, shares=shares)


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``)."""
    return run_supervised(lambda: _portfolio(args), args)


def _portfolio(args: argparse.Namespace) -> int:
    from crm_core.customers import data_as_of, summarize
    from crm_core.portfolio import portfolio_report
    from crm_core.schema import C

    try:
        settings = settings_from_args(args, view_settings(args))
    except ValueError as error:
        return fail(str(error))
    view, analysis, report = load_view(args, count_duplicates=False)  # it shows no duplicate count
    tx = view.transactions
    as_of = data_as_of(tx)
    # Only the columns the report reads: the other aggregations are skipped.
    present = summarize(tx, as_of).collect_schema().names()
    keep = [name for name in (C.CUSTOMER_ID, "revenue", "margin") if name in present
            and (name != "margin" or settings.value == "margin")]
    try:
        summary = per_customer(tx, lambda rows: summarize(rows, as_of).select(keep), report.rows_valid) if as_of else None
        payload = portfolio_report(tx, settings, summary=None if summary is None else summary.lazy())
    except ValueError as error:
        return fail(str(error))
    if payload["customers"] == 0:
        return fail("no valid orders in the file (or none left by the view's filters and period): "
                    "check the column mapping with `python -m crm_core summary PATH`.")
    payload["period"] = {"start": str(view.start), "end": str(view.end)}
    payload["filters"] = analysis.filter_map
    payload.update(read_facts(report))
    emit(payload, args.json)
    return 0
