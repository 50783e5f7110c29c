"""Per-customer sufficient statistics (x, t_x, T in weeks, mean repeat spend) from order lines."""
from __future__ import annotations

import datetime as dt

import polars as pl

from crm_core.clv.settings import DAYS_PER_WEEK
from crm_core.customers import PreparedRuns, data_as_of, is_purchase, purchase_summary
from crm_core.schema import C


def rfm_summary(tx: pl.LazyFrame, calibration_end: dt.date | None = None, keep_non_buyers: bool = False,
                split: dt.date | None = None, prepared: PreparedRuns | None = None) -> pl.LazyFrame:
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
        spend per repeat day, null when x = 0), revenue, purchase_days; with a ``split`` date
        before ``calibration_end``, also the figures at that date a holdout check needs
        (:func:`crm_core.clv.validation.holdout_counts`) from the same pass: split_frequency,
        split_recency, split_T (null for customers whose first purchase is after it) and
        split_holdout_purchases.

    ``prepared``: the customer summary's group-by made ahead (see :func:`crm_core.customers.purchase_summary`).
    """
    if calibration_end is None:
        calibration_end = data_as_of(tx)
    first, last = pl.col("first_purchase_date"), pl.col("last_purchase_date")
    frequency = pl.col("purchase_days") - 1
    summary = purchase_summary(tx, as_of=calibration_end, split=split, prepared=prepared)
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
            *([] if split is None else _split_figures(split)),
        )
    )


def first_purchase_date(tx: pl.LazyFrame, as_of: dt.date) -> dt.date | None:
    """The first purchase day up to ``as_of`` (None without one): ``rfm_summary``'s earliest first_purchase_date."""
    day = pl.col(C.ORDER_DATE)
    return tx.filter(is_purchase(tx) & (day <= as_of)).select(day.min()).collect().item()


def _split_figures(split: dt.date) -> list[pl.Expr]:
    """frequency, recency and T at ``split`` and the purchase days after it, as
    :func:`crm_core.clv.validation.holdout_counts_query` defines them (null before the first purchase)."""
    first, last = pl.col("first_purchase_date"), pl.col("last_purchase_to_split")
    bought = first <= split
    return [
        pl.when(bought).then(pl.col("purchase_days_to_split").cast(pl.Int64) - 1).alias("split_frequency"),
        pl.when(bought).then((last - first).dt.total_days() / DAYS_PER_WEEK).alias("split_recency"),
        pl.when(bought).then((pl.lit(split) - first).dt.total_days() / DAYS_PER_WEEK).alias("split_T"),
        pl.when(bought).then(pl.col("purchase_days_after_split").cast(pl.Int64)).alias("split_holdout_purchases"),
    ]
