"""Per-customer sufficient statistics (x, t_x, T in weeks, mean repeat spend) from order lines."""
from __future__ import annotations

import datetime as dt

import polars as pl

from crm_core.clv.settings import DAYS_PER_WEEK
from crm_core.customers import data_as_of, purchase_summary
from crm_core.schema import C


def rfm_summary(tx: pl.LazyFrame, calibration_end: dt.date | None = None, keep_non_buyers: bool = False) -> pl.LazyFrame:
    """Per-customer sufficient statistics for BG/NBD and Gamma-Gamma, in weeks.

    Built on :func:`crm_core.customers.purchase_summary` (rows after
    ``calibration_end`` are ignored). Customers with no purchase line (only
    returns) are left out unless ``keep_non_buyers`` (their statistics are null).

    Returns
    -------
    pl.LazyFrame
        customer_id, first_purchase_date, last_purchase_date, frequency (x =
        distinct purchase days - 1), recency (t_x = (last - first purchase) / 7),
        T ((calibration_end - first purchase) / 7), monetary_value (mean net
        spend per repeat day, null when x = 0), revenue, purchase_days.
    """
    if calibration_end is None:
        calibration_end = data_as_of(tx)
    first, last = pl.col("first_purchase_date"), pl.col("last_purchase_date")
    frequency = pl.col("purchase_days") - 1
    summary = purchase_summary(tx, as_of=calibration_end)
    if not keep_non_buyers:
        summary = summary.filter(first.is_not_null())
    return (
        summary
        .select(
            C.CUSTOMER_ID,
            "first_purchase_date",
            "last_purchase_date",
            frequency.alias("frequency"),
            ((last - first).dt.total_days() / DAYS_PER_WEEK).alias("recency"),
            ((pl.lit(calibration_end) - first).dt.total_days() / DAYS_PER_WEEK).alias("T"),
            pl.when(frequency > 0)
            .then(pl.col("repeat_amount") / frequency)
            .alias("monetary_value"),
            "revenue",
            "purchase_days",
        )
    )
