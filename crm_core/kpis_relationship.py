"""Relationship KPIs: retention and churn, CAC per channel, CLV:CAC, CSAT, concentration.

Pure functions on the canonical frames (and the per-customer summary); the
Overview surfaces them through :mod:`crm_core.kpis`.

Definitions:

- active customer: at least one purchase (a line with amount >= 0) in the period.
- retention rate: customers active in the previous period who are active again
  in this one, divided by those active in the previous period; churn = 1 - retention.
- new customer: first purchase ever (whole history) inside the period.
- CAC of a channel: marketing spend of the channel in the months overlapping the
  period / new customers whose acquisition channel (customers table) is that channel.
- CLV:CAC: mean CLV of a channel's new customers / its CAC. CLV is the
  predicted CLV when a per-customer CLV frame is given, else the customer's net
  revenue to date (historic, labelled so).
- CSAT: mean score of the interactions with a score; share satisfied = share of
  scores >= 4 (on a 1-5 scale).
- revenue concentration: share of net revenue from the top ceil(20% n) customers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from crm_core.customers import filter_period, first_purchase_dates, summarize
from crm_core.format import PLAIN, NumberStyle
from crm_core.portfolio import pct, top_share
from crm_core.schema import C, has_column

Period = tuple[dt.date, dt.date]
UNKNOWN_CHANNEL = "Unknown"
HISTORIC_CLV = "historic revenue to date (not a forecast)"
PREDICTED_CLV = "predicted CLV"


def equal_period_before(period: Period) -> Period:
    """The period of equal length just before ``period``."""
    start, end = period
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


# --------------------------------------------------------------------------- retention and churn


@dataclass(frozen=True)
class Retention:
    """Retention between two periods (rates are None when nobody was active before)."""

    previous_customers: int
    retained: int
    retention_rate: float | None
    churn_rate: float | None

    def takeaway(self, *, style: NumberStyle = PLAIN) -> str:
        if self.retention_rate is None:
            return "Nobody bought in the previous period, so retention cannot be measured yet."
        return (f"{pct(self.retention_rate, style)} of the {style.count(self.previous_customers)} customers who "
                f"bought in the previous period bought again in this one; {pct(self.churn_rate, style)} did not.")


def active_customers(tx: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """customer_id of the customers with at least one purchase in ``period``."""
    start, end = period
    return summarize(filter_period(tx, start, end), as_of=end).filter(pl.col("orders") > 0).select(C.CUSTOMER_ID)


def retention(tx: pl.LazyFrame, current: Period, previous: Period | None = None) -> Retention:
    """Retention and churn of ``current`` against ``previous`` (default: equal length just before)."""
    previous = previous or equal_period_before(current)
    before = active_customers(tx, previous)
    now = active_customers(tx, current)
    previous_customers, retained = _retention_counts(before, now)
    if previous_customers == 0:
        return Retention(0, 0, None, None)
    rate = retained / previous_customers
    return Retention(previous_customers, retained, rate, 1.0 - rate)


def _retention_counts(before: pl.LazyFrame, now: pl.LazyFrame) -> tuple[int, int]:
    marked = before.join(now.with_columns(pl.lit(True).alias("again")), on=C.CUSTOMER_ID, how="left")
    row = marked.select(pl.len(), pl.col("again").fill_null(False).sum()).collect().row(0)
    return int(row[0]), int(row[1])


# --------------------------------------------------------------------------- CAC and CLV:CAC


def new_customers_by_channel(tx: pl.LazyFrame, customers: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """customer_id and channel of customers whose first purchase ever is in ``period``.

    The channel is the customers table's acquisition_channel ('Unknown' when missing).
    """
    start, end = period
    firsts = first_purchase_dates(tx).filter(pl.col("first_date").is_between(start, end))
    if has_column(customers, "acquisition_channel"):
        channels = customers.select(C.CUSTOMER_ID, pl.col("acquisition_channel").alias("channel")).unique(C.CUSTOMER_ID)
        firsts = firsts.join(channels, on=C.CUSTOMER_ID, how="left")
    else:
        firsts = firsts.with_columns(pl.lit(None, pl.String).alias("channel"))
    return firsts.select(C.CUSTOMER_ID, pl.col("channel").fill_null(UNKNOWN_CHANNEL))


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def cac_by_channel(
    tx: pl.LazyFrame, customers: pl.LazyFrame, marketing_spend: pl.LazyFrame, period: Period
) -> pl.DataFrame:
    """One row per channel: spend, new_customers, cac (null when no new customer).

    Spend counts the months whose first day lies in [first day of the start
    month, end]. Channels with new customers but no spend (e.g. organic or
    'Unknown') show spend 0 and CAC 0.
    """
    start, end = period
    spend = (
        marketing_spend.filter(pl.col("month").is_between(_month_start(start), end))
        .group_by("channel").agg(pl.col("spend").sum())
    )
    new = new_customers_by_channel(tx, customers, period).group_by("channel").agg(
        pl.len().cast(pl.UInt32).alias("new_customers"))
    return (
        spend.join(new, on="channel", how="full", coalesce=True)
        .with_columns(pl.col("spend").fill_null(0.0), pl.col("new_customers").fill_null(0))
        .with_columns(pl.when(pl.col("new_customers") > 0)
                      .then(pl.col("spend") / pl.col("new_customers")).alias("cac"))
        .sort("channel")
        .collect()
    )


def overall_cac(table: pl.DataFrame) -> float | None:
    """Total spend / total new customers of a :func:`cac_by_channel` table."""
    new = int(table["new_customers"].sum()) if table.height else 0
    return float(table["spend"].sum()) / new if new else None


def clv_cac(
    tx: pl.LazyFrame,
    customers: pl.LazyFrame,
    marketing_spend: pl.LazyFrame,
    period: Period,
    clv: pl.DataFrame | pl.LazyFrame | None = None,
    clv_column: str = "clv",
) -> tuple[pl.DataFrame, str]:
    """CLV:CAC per channel and the CLV basis label.

    Returns the :func:`cac_by_channel` table plus clv_mean (mean CLV of the
    channel's new customers; a customer missing from ``clv`` counts as 0, a
    non-finite prediction is left out) and
    clv_cac (null when CAC is null or 0). Without ``clv`` the CLV is the net
    revenue to date (up to the period end) and the label says so.
    """
    table = cac_by_channel(tx, customers, marketing_spend, period)
    new = new_customers_by_channel(tx, customers, period)
    if clv is not None:
        predicted = pl.col(clv_column).cast(pl.Float64)
        # A failed prediction (NaN / inf) is left out of the mean rather than counted as 0.
        values = clv.lazy().select(C.CUSTOMER_ID, pl.when(predicted.is_finite()).then(predicted).alias("clv_value"),
                                   predicted.is_finite().not_().alias("clv_failed"))
        basis = PREDICTED_CLV
    else:
        history = summarize(filter_period(tx, None, period[1]), as_of=period[1])
        values, basis = history.select(C.CUSTOMER_ID, pl.col("revenue").alias("clv_value")), HISTORIC_CLV
    joined = new.join(values, on=C.CUSTOMER_ID, how="left")
    if clv is not None:  # missing from the frame: no prediction (e.g. only returns) counts as 0
        joined = joined.filter(~pl.col("clv_failed").fill_null(False))
    means = (
        joined.group_by("channel").agg(pl.col("clv_value").fill_null(0.0).mean().alias("clv_mean"))
        .collect()
    )
    result = table.join(means, on="channel", how="left").with_columns(
        pl.when(pl.col("cac") > 0).then(pl.col("clv_mean") / pl.col("cac")).alias("clv_cac"))
    return result, basis


# --------------------------------------------------------------------------- CSAT


@dataclass(frozen=True)
class Csat:
    """CSAT over the scored interactions (None values when nothing was scored)."""

    responses: int
    mean: float | None
    share_satisfied: float | None

    def takeaway(self, *, style: NumberStyle = PLAIN) -> str:
        if not self.responses:
            return "No satisfaction scores in this period."
        return (f"Average satisfaction {style.number(self.mean, 2)} out of 5 over {style.count(self.responses)} "
                f"scored contacts; {pct(self.share_satisfied, style)} were satisfied (4 or 5).")


def csat(interactions: pl.LazyFrame, period: Period | None = None, satisfied_from: float = 4.0) -> Csat:
    """Mean CSAT and share of scores >= ``satisfied_from`` among interactions with a score."""
    if not has_column(interactions, "csat"):
        return Csat(0, None, None)
    rows = interactions
    if period is not None:
        rows = rows.filter(pl.col("interaction_date").is_between(period[0], period[1]))
    scores = pl.col("csat").drop_nulls()
    row = rows.select(
        scores.len().alias("n"), scores.mean().alias("mean"), (scores >= satisfied_from).mean().alias("share")
    ).collect().row(0, named=True)
    if not row["n"]:
        return Csat(0, None, None)
    return Csat(int(row["n"]), float(row["mean"]), float(row["share"]))


# --------------------------------------------------------------------------- concentration


def revenue_concentration(summary: pl.DataFrame | pl.LazyFrame, share: float = 0.2) -> float | None:
    """Share of net revenue from the top ``ceil(share * n)`` customers (None when revenue <= 0)."""
    return top_share(summary, share, "revenue")
