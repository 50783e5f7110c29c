"""Offer analytics: how often orders carry a discount code, what customers acquired with one are worth,
and how deep first-order discounts relate to what customers do afterwards.

Reads the canonical ``discount_code`` column (one code per order: its first
non-empty code). An order is *discounted* when it carries a code. Customers
"acquired with a code" had one on their first purchase (see
:mod:`crm_core.drivers`).

Discount *depth* needs the canonical ``discount_amount`` (money taken off the
order, kept beside its revenue by ingest): depth = discount / (net revenue +
discount) of the customer's first purchase (:func:`crm_core.drivers.discount_depth`).
"""
from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING

import polars as pl

from crm_core.drivers import (
    NO_CODE,
    DriverSettings,
    acquired_profiles,
    driver_table,
    mean_interval,
    order_table,
)
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.sums import exact_sum
from crm_core.text_columns import Formatted, select_formatted

if TYPE_CHECKING:
    from crm_core.findings import Finding, FindingContext

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
        .agg(pl.len().alias("orders"), exact_sum(pl.col("revenue")).alias("revenue"))
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


def offer_takeaway(usage: pl.DataFrame, comparison: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: the share of discounted orders and how code-acquired customers compare a year on."""
    share = discounted_share(usage)
    if share is None:
        return "No orders in the period."
    sentence = f"{style.share(share, 0)} of orders used a discount code"
    rows = {row["name"]: row for row in comparison.iter_rows(named=True)}
    with_code, without = rows.get(WITH_CODE), rows.get(WITHOUT_CODE)
    if with_code and without and with_code["repeat_rate_365"] is not None and without["repeat_rate_365"] is not None:
        sentence += (f"; {style.share(with_code['repeat_rate_365'], 0)} of customers acquired with a code ordered "
                     f"again within a year, against {style.share(without['repeat_rate_365'], 0)} of those acquired "
                     "without one")
    elif with_code and without:
        sentence += (f"; customers acquired with a code have spent {style.money(with_code['revenue_per_customer'])} "
                     f"each so far, those without {style.money(without['revenue_per_customer'])}")
    return sentence + "."


# --------------------------------------------------------------------------- discount depth

NO_DISCOUNT = "No discount"
#: Bands of first-order discount depth: (label, lowest depth in the band). A band runs up to the next one's
#: lowest depth (excluded); depth 0 is :data:`NO_DISCOUNT`.
DEPTH_BANDS = (("Under 10%", 0.0), ("10-20%", 0.10), ("20-30%", 0.20), ("30% or more", 0.30))
BAND_ORDER = (NO_DISCOUNT, *(label for label, _ in DEPTH_BANDS))
#: Depths are rounded to this many decimals before banding, so 10 off 100 is 10% exactly, not 9.999...%.
_DEPTH_DIGITS = 9


def depth_band(depth: pl.Expr) -> pl.Expr:
    """The band label of a discount depth (a share: 0.15 = 15 % off); null depth stays null."""
    rounded = depth.round(_DEPTH_DIGITS)
    band = pl.when(rounded.is_null()).then(pl.lit(None, pl.String)).when(rounded <= 0).then(pl.lit(NO_DISCOUNT))
    for label, lowest in reversed(DEPTH_BANDS):
        band = band.when(rounded >= lowest).then(pl.lit(label))
    return band


def has_discount_amounts(profiles: pl.DataFrame) -> bool:
    """True when the profiles carry each first order's discount depth."""
    return "discount_depth" in profiles.columns


def depth_table(profiles: pl.DataFrame, predictions: pl.DataFrame | None = None,
                settings: DriverSettings = DriverSettings()) -> pl.DataFrame:
    """Customers by the discount depth of their first purchase, in band order (no discount first).

    Parameters
    ----------
    profiles
        :func:`crm_core.drivers.customer_profiles` of data with discount amounts.
    predictions
        customer_id, predicted_value (see :func:`crm_core.drivers.predicted_values`); optional.

    Returns
    -------
    pl.DataFrame
        name (the band), the columns of :func:`crm_core.drivers.driver_table`
        (customers, repeat_rate_365 among the customers observed 365 days,
        predicted_value_per_customer with its interval, small, ...), and
        mean_depth (average depth in the band), after_first_per_customer with
        after_first_low / after_first_high (revenue to date after the first
        order per customer, with the interval on that mean). Bands without
        customers are left out.

    Raises
    ------
    ValueError
        When the data has no discount amounts.
    """
    if not has_discount_amounts(profiles):
        raise ValueError("The data has no discount amount column.")
    z = NormalDist().inv_cdf(0.5 + settings.confidence / 2)
    banded = profiles.with_columns(
        depth_band(pl.col("discount_depth")).alias("discount_band"),
        (pl.col("revenue") - pl.col("first_order_value")).alias("after_first"),
    ).filter(pl.col("discount_band").is_not_null())
    groups = driver_table(banded, "discount_band", predictions, settings=settings)
    extra = banded.group_by(pl.col("discount_band").alias("name")).agg(
        pl.col("discount_depth").mean().alias("mean_depth"), *mean_interval("after_first", z))
    order = pl.DataFrame({"name": list(BAND_ORDER), "_order": list(range(len(BAND_ORDER)))})
    return (groups.join(extra, on="name").join(order, on="name").sort("_order").drop("_order")
            .drop("cac", "revenue_to_cac", "value_index"))


_PAID = {NO_DISCOUNT: "paid full price"}


def _had(band: str) -> str:
    """'had 10-20% off' (or 'paid full price')."""
    return _PAID.get(band, f"had {band.lower()} off")


def depth_takeaway(table: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: customers whose first order was discounted most against those who paid full price
    (or the least discounted band), on repeat within a year and revenue since; small bands left out."""
    sizeable = table.filter(~pl.col("small"))
    if sizeable.height < 2:
        return ("Too few customers in each discount depth to compare yet: bands need "
                f"{DriverSettings().small_group} or more customers. Widen the period or wait for more orders.")
    reference, deepest = sizeable.row(0, named=True), sizeable.row(-1, named=True)
    subject = f"Customers whose first order {_had(deepest['name'])}"
    against = f"those who {_had(reference['name'])}"
    deep_rate, reference_rate = deepest["repeat_rate_365"], reference["repeat_rate_365"]
    spent = (f"they have spent {style.money(deepest['after_first_per_customer'])} each since, against "
             f"{style.money(reference['after_first_per_customer'])}")
    if deep_rate is None or reference_rate is None:
        return f"{subject}: {spent} for {against} (too recent to compare repeat rates within a year)."
    gap = deep_rate - reference_rate
    verdict = ("come back less" if gap <= -0.05 else "come back more" if gap >= 0.05 else "come back about as often")
    return (f"{subject} {verdict}: {style.share(deep_rate, 0)} ordered again within a year, against "
            f"{style.share(reference_rate, 0)} of {against}; {spent}.")


def depth_finding(ctx: FindingContext) -> Finding | None:
    """Key finding 'What discounts bring': repeat rate by first-order discount depth (deck, report).

    Customers acquired in the context's period, judged on their history up to its end. None without
    discount amounts, with fewer than ``DriverSettings.small_group`` customers or a single band.
    """
    from crm_core.findings import Finding

    start, end = ctx.period
    dataset = ctx.dataset
    if not has_column(dataset.transactions, C.DISCOUNT_AMOUNT):
        return None
    profiles = acquired_profiles(dataset, start, end, ctx.slicer)
    if profiles.height < DriverSettings().small_group:
        return None
    table = depth_table(profiles)
    if table.height < 2:
        return None
    shown = select_formatted(table,
        pl.col("name").alias("First-order discount"), pl.col("customers").alias("Customers"),
        Formatted(pl.col("repeat_rate_365"), ctx.share, "Ordered again within a year"),
        Formatted(pl.col("after_first_per_customer"), ctx.money, "Revenue after the first order"),
        pl.when(pl.col("small")).then(pl.lit("small group")).otherwise(pl.lit("")).alias("Note"))
    method = ("Discount depth = the first order's discount amount over its price before the discount (net revenue "
              "+ discount). Repeat rates count customers whose first order is at least a year before the period end; "
              "revenue after the first order is to date.")
    data = {"table": table, "title": "Ordered again within a year, by first-order discount depth"}
    return Finding("discount_depth", "What discounts bring", depth_takeaway(table, style=ctx.style), "depth_bars", data, shown,
                   "Compare the cost of deep first-order discounts with the repeat business they bring.", method,
                   source="crm_core.offers", area="What brings the best customers")
