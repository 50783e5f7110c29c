"""Offer analytics: how often orders carry a discount code, and what customers acquired with one are worth.

Reads the canonical ``discount_code`` column (one code per order: its first
non-empty code). An order is *discounted* when it carries a code. Customers
"acquired with a code" had one on their first purchase (see
:mod:`crm_core.drivers`).
"""
from __future__ import annotations

import polars as pl

from crm_core.drivers import NO_CODE, DriverSettings, driver_table, order_table
from crm_core.schema import C, has_column

WITH_CODE = "Acquired with a code"
WITHOUT_CODE = "Acquired without a code"


def discount_usage(tx: pl.LazyFrame) -> pl.DataFrame:
    """Orders with positive revenue by code: code (:data:`~crm_core.drivers.NO_CODE` for none), orders,
    order_share, revenue, average_order; most orders first (``(none)`` included).

    Raises
    ------
    ValueError
        When the data has no discount_code column.
    """
    if not has_column(tx, C.DISCOUNT_CODE):
        raise ValueError("The data has no discount code column.")
    orders = order_table(tx).filter(pl.col("revenue") > 0)
    return (
        orders.group_by(pl.col(C.DISCOUNT_CODE).fill_null(NO_CODE).alias("code"))
        .agg(pl.len().alias("orders"), pl.col("revenue").sum().alias("revenue"))
        .with_columns((pl.col("orders") / pl.col("orders").sum()).alias("order_share"),
                      (pl.col("revenue") / pl.col("orders")).alias("average_order"))
        .sort(["orders", "code"], descending=[True, False])
        .select("code", "orders", "order_share", "revenue", "average_order")
        .collect()
    )


def discounted_share(usage: pl.DataFrame) -> float | None:
    """Share of orders that carried a code (None without orders)."""
    total = int(usage["orders"].sum())
    return None if total == 0 else float(usage.filter(pl.col("code") != NO_CODE)["orders"].sum()) / total


def code_vs_none(profiles: pl.DataFrame, predictions: pl.DataFrame | None = None,
                 settings: DriverSettings = DriverSettings()) -> pl.DataFrame:
    """Customers acquired with a code against those acquired without: a :func:`~crm_core.drivers.driver_table`."""
    offer = pl.when(pl.col("discount_code") == NO_CODE).then(pl.lit(WITHOUT_CODE)).otherwise(pl.lit(WITH_CODE))
    return driver_table(profiles.with_columns(offer.alias("offer")), "offer", predictions, settings=settings)


def offer_takeaway(usage: pl.DataFrame, comparison: pl.DataFrame) -> str:
    """One sentence: the share of discounted orders and how code-acquired customers compare a year on."""
    share = discounted_share(usage)
    if share is None:
        return "No orders in the period."
    sentence = f"{share:.0%} of orders used a discount code"
    rows = {row["name"]: row for row in comparison.iter_rows(named=True)}
    with_code, without = rows.get(WITH_CODE), rows.get(WITHOUT_CODE)
    if with_code and without and with_code["repeat_rate_365"] is not None and without["repeat_rate_365"] is not None:
        sentence += (f"; {with_code['repeat_rate_365']:.0%} of customers acquired with a code ordered again within a "
                     f"year, against {without['repeat_rate_365']:.0%} of those acquired without one")
    elif with_code and without:
        sentence += (f"; customers acquired with a code have spent {with_code['revenue_per_customer']:,.2f} each so "
                     f"far, those without {without['revenue_per_customer']:,.2f}")
    return sentence + "."
