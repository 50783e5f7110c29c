"""When each customer is expected to order next, their usual gap between orders, and who is overdue."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from crm_core.clv.fitting import as_float
from crm_core.clv.purchase_model import PurchaseModel
from crm_core.clv.settings import DAYS_PER_WEEK
from crm_core.customers import is_purchase
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C

LAPSED_BELOW = 0.5  # P(alive) under which a customer is "probably lapsed" and gets no next-order date


def median_wait_weeks(model: PurchaseModel, frequency: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Median time to the next purchase of an active customer, in weeks after T.

    In all three models an active customer's purchase rate is Gamma(r + x, alpha + T) given the
    history, so the wait W has P(W > w) = ((alpha+T) / (alpha+T+w))^(r+x); the median solves = 1/2.
    """
    r, alpha = model.params_["r"], model.params_["alpha"]
    return (alpha + T) * np.expm1(np.log(2.0) / (r + frequency))


def next_order_columns(model: PurchaseModel, customers: pl.DataFrame, calibration_end: dt.date) -> pl.DataFrame:
    """customers with next_order_date (null when probably lapsed), probably_lapsed, usual_gap_days
    (their own average days between purchase days; null with one purchase day),
    days_since_last_purchase and overdue (silent for longer than their usual gap).

    Needs frequency, T, p_alive and last_purchase_date columns.
    """
    x, age = as_float(customers["frequency"]), as_float(customers["T"])
    wait_days = np.round(median_wait_weeks(model, x, age) * DAYS_PER_WEEK)
    lapsed = customers["p_alive"].to_numpy() < LAPSED_BELOW
    known = ~lapsed & np.isfinite(wait_days)
    days_ahead = pl.Series("_wait", np.minimum(np.where(known, wait_days, 0.0), 36_500).astype(np.int64)).set(
        pl.Series(~known), None)
    since = (pl.lit(calibration_end) - pl.col("last_purchase_date")).dt.total_days()
    usual = pl.when(pl.col("frequency") > 0).then(pl.col("recency") * DAYS_PER_WEEK / pl.col("frequency"))
    return (
        customers.with_columns(days_ahead, pl.Series("probably_lapsed", lapsed))
        .with_columns(
            (pl.lit(calibration_end) + pl.duration(days=pl.col("_wait"))).dt.date().alias("next_order_date"),
            usual.round(1).alias("usual_gap_days"),
            since.alias("days_since_last_purchase"),
        )
        .with_columns((pl.col("days_since_last_purchase") > pl.col("usual_gap_days")).fill_null(False).alias("overdue"))
        .drop("_wait")
    )


def gaps_between_orders(tx: pl.LazyFrame, calibration_end: dt.date | None = None) -> pl.DataFrame:
    """Days between a customer's consecutive purchase days (returns excluded), one row per gap."""
    purchases = tx.filter(is_purchase(tx))  # not returns, not orders refunded in full
    if calibration_end is not None:
        purchases = purchases.filter(pl.col(C.ORDER_DATE) <= calibration_end)
    return (
        purchases.select(C.CUSTOMER_ID, C.ORDER_DATE).unique()
        .sort(C.CUSTOMER_ID, C.ORDER_DATE)
        .select(pl.col(C.ORDER_DATE).diff().over(C.CUSTOMER_ID).dt.total_days().alias("gap_days"))
        .drop_nulls()
        .collect()
    )


def gap_takeaway(gaps: pl.DataFrame, customers: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: the typical gap between orders and how many customers are past theirs."""
    if gaps.height == 0:
        return "Nobody has bought on two different days yet, so there is no gap between orders to show."
    median = float(gaps["gap_days"].median())
    overdue = int(customers["overdue"].sum())
    active_overdue = int((customers["overdue"] & ~customers["probably_lapsed"]).sum())
    return (f"Half of all repeat orders come within {style.number(median)} days of the previous one. "
            f"{style.count(overdue)} customers are past their own usual gap; {style.count(active_overdue)} of them are probably still active, so a reminder "
            "may bring them back.")
