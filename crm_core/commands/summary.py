"""summary: what was read from an order export and its headline totals."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from crm_core.commands.common import add_source_arguments, emit, load_view, run_reporting_errors

if TYPE_CHECKING:
    import argparse

    import polars as pl

#: Rows per slice when counting distinct customers (see :func:`distinct_customers`).
ROWS_PER_SLICE = 8_000_000
#: Rejected rows shown (line, raw text, reason); all are in the report.
SAMPLE_REJECTED = 5
#: Sum of |amount| up to which the amounts' millionths add up in a 64-bit integer (2^63 is about 9.22e18).
INTEGER_SUM_LIMIT = 9e12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)


def currency_code(detected: dict[str, Any]) -> str | None:
    """The one ISO currency of the kept rows, or None (none found, or several)."""
    value = detected.get("currency")
    return value if isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value) else None


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child (no worker process, no rows handed back)."""
    from crm_core.ingest.supervisor import supervised

    return supervised(lambda: run_reporting_errors(lambda: _summary(args), args), args.path)


def distinct_customers(tx: pl.LazyFrame, rows: int) -> int:
    """Distinct customer ids; over many rows counted in slices of the ids' hash, so that one
    slice's ids are in memory at a time (a count over 30M rows would hold all 30M ids)."""
    import polars as pl

    from crm_core.schema import C

    customer = pl.col(C.CUSTOMER_ID)
    slices = max(1, math.ceil(rows / ROWS_PER_SLICE))
    if slices == 1:
        return int(tx.select(customer.n_unique()).collect().item())
    return sum(
        int(tx.filter(customer.hash() % slices == k).select(customer.n_unique()).collect(engine="streaming").item())
        for k in range(slices)
    )


def revenue_terms(amount: pl.Expr) -> list[pl.Expr]:
    """The revenue's terms for :func:`revenue_from`: the amounts' millionths summed as integers, and what says whether
    that sum is exact (every amount and their sum of magnitudes under :data:`INTEGER_SUM_LIMIT`).

    Each amount counts as its millionths rounded half to even, which is what Polars' cast of a float to
    ``Decimal(38, 6)`` gives (``customers.exact_sum``, a test compares them): the same exact decimal total, without
    a 16-byte decimal per row (a tenth of the totals' CPU time on 1M orders)."""
    import polars as pl

    under = amount.abs() < INTEGER_SUM_LIMIT  # false for NaN and infinities, null for null
    return [
        pl.when(under).then((amount * 1_000_000).round(mode="half_to_even")).cast(pl.Int64).sum().alias("__micro"),
        (amount.is_not_null() & ~under.fill_null(False)).sum().alias("__over"),
        pl.when(under).then(amount.abs()).sum().alias("__magnitude"),
    ]


def revenue_from(totals: dict[str, Any]) -> float | None:
    """The exact revenue from :func:`revenue_terms`' columns (removed from ``totals``), or None when the integer sum
    may not hold it (then ``customers.exact_sum`` gives it). ``micro / 10**6`` of two integers is correctly rounded,
    as Polars' conversion of the decimal total to a float is."""
    micro, over, magnitude = totals.pop("__micro"), totals.pop("__over"), totals.pop("__magnitude")
    if over or (magnitude or 0.0) >= INTEGER_SUM_LIMIT:
        return None
    return int(micro or 0) / 1_000_000


def _summary(args: argparse.Namespace) -> int:
    import polars as pl

    from crm_core.customers import count_orders, exact_sum, is_purchase
    from crm_core.ingest.report import DuplicatesAlongside
    from crm_core.schema import C, has_column

    duplicates = DuplicatesAlongside()  # counted on a thread while the totals below run
    view, _, report = load_view(args, duplicates=duplicates, rows_as_read=True)  # exact sums, counts and extremes
    tx = view.transactions
    one_slice = report.rows_valid <= ROWS_PER_SLICE  # then the customers are counted in the same pass
    # The rows read themselves (the view keeps them all): their first and last dates are the reader's.
    dates_known = tx is view.history and report.order_dates is not None and report.order_dates == (view.first, view.last)
    # Without order ids each row is an order (customers.count_orders): counted in the same pass.
    orders_by_row = not has_column(tx, C.ORDER_ID)
    amount = pl.col(C.AMOUNT)
    totals = tx.select(
        *revenue_terms(amount),  # exact to the millionth, however many rows
        *([] if dates_known else [pl.col(C.ORDER_DATE).min().alias("first_date"),
                                  pl.col(C.ORDER_DATE).max().alias("last_date")]),
        *([pl.col(C.CUSTOMER_ID).n_unique().alias("customers")] if one_slice else []),
        *([pl.len().alias("orders"), (is_purchase(tx) & (amount > 0)).sum().alias("positive_orders")]
          if orders_by_row else []),
    ).collect(engine="streaming").row(0, named=True)
    totals["revenue"] = revenue_from(totals)
    if totals["revenue"] is None:  # beyond the integer sum (amounts near the 10^12 limit, or not finite)
        totals["revenue"] = tx.select(exact_sum(amount)).collect(engine="streaming").item()
    if dates_known:
        totals["first_date"], totals["last_date"] = view.first, view.last
    if not one_slice:
        totals["customers"] = distinct_customers(tx, report.rows_valid)
    counts = totals if orders_by_row else count_orders(tx)
    duplicates.record(report)
    payload = {
        "rows_read": report.rows_read,
        "rows_valid": report.rows_valid,
        "rows_rejected": report.rows_rejected,
        "rejected_by_reason": report.rejected_by_reason(),
        "duplicate_rows": report.duplicate_rows,
        "negative_amount_rows": report.negative_amount_rows,
        "customers": totals["customers"],
        "transactions": counts["positive_orders"],  # orders with positive net revenue (the CLI contract)
        "revenue": round(totals["revenue"] or 0.0, 2),
        "first_date": totals["first_date"].isoformat() if totals["first_date"] else None,
        "last_date": totals["last_date"].isoformat() if totals["last_date"] else None,
        "detected": report.detected,
        "warnings": report.warnings,
        "rejected_sample": report.rejected.head(SAMPLE_REJECTED).to_dicts(),
        "source_lines": report.source_lines,
        "orders": counts["orders"],
        "revenue_definition": report.detected.get("revenue_definition"),
        "revenue_columns": report.detected.get("revenue_columns"),
        "currency": currency_code(report.detected),
        "corrected_values": int(getattr(report, "corrected_values", 0) or 0),
    }
    if report.detected.get("converted_currencies"):  # {code: orders} converted with --rates
        payload["converted_currencies"] = report.detected["converted_currencies"]
    emit(payload, args.json)
    return 0
