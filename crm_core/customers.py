"""Per-customer summary: the one place that groups transactions by customer.

Everything downstream (KPIs, portfolio, RFM, CLV) reads this table instead of
re-aggregating the transactions.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Callable

import polars as pl

from crm_core.schema import C, has_column

if TYPE_CHECKING:
    import numpy as np

DAY = "purchase_day"


def filter_period(
    tx: pl.LazyFrame, start: dt.date | None = None, end: dt.date | None = None
) -> pl.LazyFrame:
    """Keep transactions with ``start <= order_date <= end`` (either bound optional)."""
    if start is not None:
        tx = tx.filter(pl.col(C.ORDER_DATE) >= start)
    if end is not None:
        tx = tx.filter(pl.col(C.ORDER_DATE) <= end)
    return tx


def data_as_of(tx: pl.LazyFrame) -> dt.date:
    """The default as-of date: the last order date in the data."""
    return tx.select(pl.col(C.ORDER_DATE).max()).collect().item()


def is_purchase(tx: pl.LazyFrame | pl.DataFrame) -> pl.Expr:
    """The canonical purchase rule, for a line or an order.

    A purchase has a net amount >= 0 and was not refunded in full: negative
    amounts are returns, and an order refunded in full (``fully_refunded``,
    set by ingest from the export's refunds) stays in revenue with 0 but is
    no purchase, purchase day or first purchase. A free order (amount 0, not
    refunded: a promotion, a 100% discount) is a purchase, as in the CDNOW
    data the published models were fitted on.
    """
    purchase = pl.col(C.AMOUNT) >= 0
    if has_column(tx, C.FULLY_REFUNDED):
        purchase = purchase & ~pl.col(C.FULLY_REFUNDED).fill_null(False)
    return purchase


def order_key(tx: pl.LazyFrame) -> pl.Expr:
    """Expression identifying an order: order_id when present, else the purchase day.

    Orders are counted as distinct (customer, order_id); without order ids a
    customer's purchases on the same day count as one order.
    """
    if has_column(tx, C.ORDER_ID):
        return pl.coalesce(pl.col(C.ORDER_ID), pl.col(C.ORDER_DATE).cast(pl.String))
    return pl.col(C.ORDER_DATE).cast(pl.String)


def count_orders(tx: pl.LazyFrame) -> dict[str, int]:
    """``orders``, ``purchases`` and ``positive_orders`` among the transactions.

    An order is a (customer, order_id); rows without an order id are one order
    each. A purchase is an order that passes :func:`is_purchase` on its net
    amount: positive net revenue, or zero without a full refund. So an order
    refunded in full counts in ``orders`` but not in ``purchases``, and so
    does a return (negative net amount). ``positive_orders`` are the purchases
    with positive net revenue (a free order is a purchase, but not one of these).
    """
    refunds = has_column(tx, C.FULLY_REFUNDED)
    refunded = pl.col(C.FULLY_REFUNDED).fill_null(False) if refunds else pl.lit(False)
    if has_column(tx, C.ORDER_ID):
        row_key = pl.lit("\x00row ") + pl.int_range(pl.len()).cast(pl.String)  # cannot clash with a real id
        orders = (
            tx.with_columns(pl.coalesce(pl.col(C.ORDER_ID), row_key).alias(C.ORDER_ID))
            .group_by(C.CUSTOMER_ID, C.ORDER_ID)
            .agg(pl.col(C.AMOUNT).sum(), refunded.any().alias(C.FULLY_REFUNDED))
        )
    else:
        orders = tx.select(pl.col(C.AMOUNT), refunded.alias(C.FULLY_REFUNDED))
    counted = orders.select(
        pl.len().alias("orders"), is_purchase(orders).sum().alias("purchases"),
        (is_purchase(orders) & (pl.col(C.AMOUNT) > 0)).sum().alias("positive_orders"),
    )
    return counted.collect().row(0, named=True)


def customer_totals(tx: pl.LazyFrame, build: Callable[[pl.LazyFrame], pl.LazyFrame], keys: list[str],
                    slices: int = 1) -> pl.LazyFrame:
    """``build(tx)`` for a ``build`` whose columns besides ``keys`` are totals over customers (customers or
    their orders counted, revenue summed) per ``keys`` (none: one row), each customer's part made from that
    customer's rows alone.

    With ``slices`` > 1 (rows many and on disk) it is built slice by slice of customers, by their id's hash
    (as :func:`crm_core.commands.common.per_customer` builds per-customer tables), and the slices' totals
    are added up: one slice's distinct customers and orders are in memory at a time. Counts are the same;
    sums of amounts may differ in the last bit (added in another order).
    """
    if slices <= 1:
        return build(tx)
    customer = pl.col(C.CUSTOMER_ID)
    parts = [build(tx.filter(customer.hash() % slices == k)).collect() for k in range(slices)]
    totals = pl.concat(parts).lazy()
    totals = (totals.group_by(keys).agg(pl.exclude(keys).sum()) if keys else totals.select(pl.all().sum()))
    return totals.cast(parts[0].schema)  # the one-pass types (a sum of counts is wider)


def first_purchase_dates(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Each customer's first purchase date over the whole history (customer_id, first_date).

    Returns (negative lines) do not acquire a customer.
    """
    return (
        tx.filter(is_purchase(tx))
        .group_by(C.CUSTOMER_ID)
        .agg(pl.col(C.ORDER_DATE).min().alias("first_date"))
    )


# Sums of money are done in decimals with 6 places (the scale crm_core.currency computes in).
# Amounts are decimals written in a file, so each is taken as the decimal it stands for and the
# decimals add up exactly: 0.1 + 0.2 is 0.3 like a single 0.3, and the total does not depend on
# the order Polars adds rows in (threads change it from run to run). Float sums made two customers
# with equal revenue differ in the last bit and land in different tiers or M-scores, and made the
# same data give slightly different totals and model fits. (Integer micro-units divided by 1e6 are
# not enough: Polars divides by a scalar as a multiplication by its inexact reciprocal.)
MONEY_DECIMAL = pl.Decimal(38, 6)
_MONEY_LIMIT = 1e30  # |amount| that a 38-digit decimal with 6 places holds with room for sums


def exact_sum(expr: pl.Expr) -> pl.Expr:
    """Sum of money amounts (Float64), exact to the millionth and independent of the summation order.

    Each amount counts as the decimal it was read from (rounded to 6 places), so equal decimal totals give
    equal floats (the float nearest to the decimal total). Values beyond the decimal range (NaN,
    infinite, above 1e30 in magnitude) are added as plain floats, giving what a float sum gives.
    """
    representable = expr.abs() < _MONEY_LIMIT  # false for NaN and inf too
    decimals = pl.when(representable).then(expr).cast(MONEY_DECIMAL).sum().cast(pl.Float64)
    others = pl.when(~representable).then(expr).sum()  # 0.0 in any real data
    return decimals + others


def _orders(tx: pl.LazyFrame, purchase: pl.Expr) -> pl.Expr:
    """Distinct order keys of purchase lines (see :func:`order_key`).

    Without order ids the key is the purchase day, so the dates are counted
    directly: the same number as counting their text, without casting every
    line to a string (which made it the costliest aggregation).
    """
    if has_column(tx, C.ORDER_ID):
        return pl.when(purchase).then(order_key(tx)).drop_nulls().n_unique()
    return pl.when(purchase).then(pl.col(C.ORDER_DATE)).drop_nulls().n_unique()


def _first_channel(purchase: pl.Expr) -> pl.Expr:
    """Channel of the first purchase day's first line with a channel (null if none that day).

    Purchase lines are keyed by (day, channel missing) in one integer and the
    line with the smallest key taken (``arg_min`` returns the first one, so line
    order breaks ties): faster than sorting each customer's lines, and about
    three times faster than filtering on the first purchase day.
    """
    channel = pl.col(C.CHANNEL)
    day_then_missing = pl.col(C.ORDER_DATE).cast(pl.Int32).cast(pl.Int64) * 2 + channel.is_null().cast(pl.Int64)
    order = pl.when(purchase).then(day_then_missing)
    return pl.when(purchase).then(channel).get(order.arg_min())


def _distinct_count(column: str) -> pl.Expr:
    """Distinct non-null values per group; integer codes hash faster than strings."""
    return pl.col(column).cast(pl.Categorical).to_physical().drop_nulls().n_unique()


def summarize(tx: pl.LazyFrame, as_of: dt.date | None = None) -> pl.LazyFrame:
    """One row per customer.

    Parameters
    ----------
    tx
        Canonical transactions. Rows after ``as_of`` are ignored.
    as_of
        Reference date for recency and tenure; defaults to the last order date.

    Returns
    -------
    pl.LazyFrame
        Columns: customer_id, first_date, last_date, orders (distinct order_id,
        else distinct purchase days; lines with a negative amount are returns and
        orders refunded in full are no purchases: neither is counted, see
        :func:`is_purchase`), purchase_days, revenue (net of returns),
        gross_revenue (positive amounts), returns (absolute value of negative
        amounts), return_lines, first_purchase_date / last_purchase_date
        (over purchase lines, null without purchases), first_day_amount (net
        spend on the first purchase day, for spend models), aov (revenue / orders, null without orders), recency_days
        (as_of - last_date), tenure_days (as_of - first_date), and when the
        columns exist: quantity, margin (revenue - cost), categories,
        channels (distinct counts), first_channel (channel of the first
        purchase day's first line), days_late_mean.
    """
    if as_of is None:
        as_of = data_as_of(tx)
    tx = tx.filter(pl.col(C.ORDER_DATE) <= as_of)
    amount = pl.col(C.AMOUNT)
    purchase = is_purchase(tx)  # not returns (negative lines), not orders refunded in full
    first_date = pl.col(C.ORDER_DATE).min()
    # when/then (evaluated column-wise before grouping) is several times faster
    # than .filter() inside an aggregation, which runs per group.
    purchase_date = pl.when(purchase).then(pl.col(C.ORDER_DATE))
    first_purchase = purchase_date.min()
    # Kept inside the aggregation (not as a window column). (Collecting each customer's lines and
    # summing in numpy, as purchase_summary does, was faster at 1M rows but slower and 90 MB heavier
    # at 10M rows.)
    on_first_purchase_day = pl.col(C.ORDER_DATE) == first_purchase
    aggregations: list[pl.Expr] = [
        first_date.alias("first_date"),
        pl.col(C.ORDER_DATE).max().alias("last_date"),
        _orders(tx, purchase).alias("orders"),
        purchase_date.drop_nulls().n_unique().alias("purchase_days"),
        exact_sum(amount).alias("revenue"),  # exact: equal revenue, equal tier and M-score
        exact_sum(amount.clip(lower_bound=0)).alias("gross_revenue"),
        exact_sum(-amount.clip(upper_bound=0)).alias("returns"),
        (amount < 0).sum().alias("return_lines"),
        first_purchase.alias("first_purchase_date"),
        purchase_date.max().alias("last_purchase_date"),
        exact_sum(pl.when(on_first_purchase_day).then(amount)).alias("first_day_amount"),
    ]
    optional = {
        C.QUANTITY: pl.col(C.QUANTITY).sum().alias("quantity"),
        C.COST: exact_sum(amount - pl.col(C.COST).fill_null(0.0)).alias("margin"),
        C.CATEGORY: _distinct_count(C.CATEGORY).alias("categories"),
        C.CHANNEL: _distinct_count(C.CHANNEL).alias("channels"),
        C.DAYS_LATE: pl.col(C.DAYS_LATE).mean().alias("days_late_mean"),
    }
    aggregations += [expr for column, expr in optional.items() if has_column(tx, column)]
    if has_column(tx, C.CHANNEL):  # acquisition channel fallback when no customers side table
        aggregations.append(_first_channel(purchase).alias("first_channel"))
    return (
        tx.group_by(C.CUSTOMER_ID)
        .agg(aggregations)
        .with_columns(
            pl.when(pl.col("orders") > 0).then(pl.col("revenue") / pl.col("orders")).alias("aov"),
            (pl.lit(as_of) - pl.col("last_date")).dt.total_days().alias("recency_days"),
            (pl.lit(as_of) - pl.col("first_date")).dt.total_days().alias("tenure_days"),
        )
        .sort(C.CUSTOMER_ID)
    )


# The CLV path (purchase_summary) in numpy over each customer's run of lines.
# numpy is imported inside these functions: the CLI's summary needs none of it (a tenth of a second).
_NO_DAY = 2**31 - 1  # "no purchase day" in integer day arrays (the largest int32)
_ROUNDING = 1e-9  # relative error bound of float sums over a customer's lines (about n * 1.1e-16)
_SUMS = ("revenue", "first_day_amount", "repeat_amount")


def purchase_summary(tx: pl.LazyFrame, as_of: dt.date, split: dt.date | None = None,
                     prepared: PreparedRuns | None = None) -> pl.LazyFrame:
    """The purchase figures spend models need, one row per customer (lean :func:`summarize`).

    Columns: customer_id, first_purchase_date, last_purchase_date, purchase_days,
    revenue, first_day_amount, with :func:`summarize`'s definitions (rows after
    ``as_of`` ignored; customers with only returns have null dates, 0 purchase
    days and a first-day amount of 0), and repeat_amount (net spend after the
    first purchase day: revenue - first_day_amount).

    One group-by collects each customer's lines into a contiguous run and counts their
    distinct purchase days; the sums are then read off the runs with numpy reductions
    (``reduceat``). A join of the first day back onto the lines, a second group-by or a filter
    inside the aggregation each cost more. Customers come out in order of first
    appearance and each run keeps the input's row order, so the same data always
    gives the same numbers. Sums are float sums in row order (not exact like
    :func:`exact_sum`, which costs more), with results inside their rounding
    error set to exactly 0: a refunded repeat purchase is no repeat spend in any
    row order. Collects the transactions (returns a LazyFrame over the result).

    With a ``split`` date before ``as_of`` the same pass gives each customer's figures at
    that date too, for a holdout check: purchase_days_to_split, last_purchase_to_split (null
    when none) and purchase_days_after_split (distinct purchase days in ``(split, as_of]``).

    ``prepared``: the group-by made ahead for this call (:func:`prepare_purchase_runs`), taken when it was made on
    these very rows (the same ``tx`` object), date and kind of split; otherwise the rows are grouped here.
    """
    import numpy as np

    runs = prepared.take(tx, as_of, split is not None) if prepared is not None else None
    if runs is None:
        runs = _purchase_runs(tx, as_of, split is not None)
    if split is not None:
        runs = runs.with_columns(**_days_to_split(runs["_purchase_days"], split)).drop("_purchase_days")
    lines = runs.select(pl.col("_days").explode().to_physical(), pl.col("_amounts").explode())  # both at once
    sums = _sums_of_runs(
        lines["_days"].to_numpy(),
        lines["_amounts"].to_numpy(),
        runs["_amounts"].list.len().to_numpy().astype(np.int64),
        runs["first_purchase_date"].to_physical().fill_null(_NO_DAY).to_numpy(),
    )
    del lines
    days = pl.col("purchase_days")
    split_figures = [] if split is None else [
        pl.col("purchase_days_to_split"),
        (days - pl.col("purchase_days_to_split")).alias("purchase_days_after_split"),
        pl.col("last_purchase_to_split"),
    ]
    return runs.lazy().select(
        C.CUSTOMER_ID,
        "first_purchase_date",
        "last_purchase_date",
        days,
        *(pl.lit(pl.Series(name, values)) for name, values in sums.items()),
        *split_figures,
    )


def _purchase_runs(tx: pl.LazyFrame, as_of: dt.date, day_lists: bool) -> pl.DataFrame:
    """:func:`purchase_summary`'s group-by: each customer's lines up to ``as_of`` as one run (their dates and
    amounts as lists) with their first and last purchase dates and distinct purchase days, or with ``day_lists``
    (a split date is given) their distinct purchase days as a list instead."""
    purchase_date = pl.when(is_purchase(tx)).then(pl.col(C.ORDER_DATE))
    # Distinct days in the group-by: a third of the cost of counting them from the runs afterwards. With a split,
    # each customer's distinct purchase days as a list (one distinct pass, not two), from which numpy reads the
    # counts and dates before and after it (a quarter of the lines: cheaper than the group-by's own aggregations).
    days_figures = [
        purchase_date.min().alias("first_purchase_date"),
        purchase_date.max().alias("last_purchase_date"),
        purchase_date.drop_nulls().n_unique().alias("purchase_days"),
    ] if not day_lists else [purchase_date.drop_nulls().unique().alias("_purchase_days")]
    return (
        tx.filter((pl.col(C.ORDER_DATE) <= as_of) & pl.col(C.AMOUNT).is_not_null())
        .group_by(C.CUSTOMER_ID, maintain_order=True)
        .agg(*days_figures, pl.col(C.ORDER_DATE).alias("_days"), pl.col(C.AMOUNT).alias("_amounts"))
        .collect()
    )


class PreparedRuns:
    """The group-by of a coming :func:`purchase_summary` call, made ahead (:func:`prepare_purchase_runs`) and handed
    to that call (``prepared``; :func:`crm_core.clv.fit_clv` passes it on). Taken once: the call that takes it holds
    the only reference to the table afterwards (a few lists per customer: freed with its summary, not kept by the
    caller's handle while the models fit)."""

    def __init__(self, tx: pl.LazyFrame, as_of: dt.date, with_split: bool, runs: pl.DataFrame) -> None:
        self._key: tuple[pl.LazyFrame, dt.date, bool] | None = (tx, as_of, with_split)
        self._runs: pl.DataFrame | None = runs

    def take(self, tx: pl.LazyFrame, as_of: dt.date, with_split: bool) -> pl.DataFrame | None:
        """The table, when it was made on these very rows (the same ``tx`` object), date and kind of split; None
        otherwise. Either way it is given up (a call for other rows groups its own)."""
        key, runs = self._key, self._runs
        self._key, self._runs = None, None
        if key is not None and key[0] is tx and key[1] == as_of and key[2] == with_split:
            return runs
        return None


def prepare_purchase_runs(tx: pl.LazyFrame, as_of: dt.date, with_split: bool) -> PreparedRuns:
    """The group-by of a coming ``purchase_summary(tx, as_of, split, prepared=...)`` call made now (``with_split``:
    whether ``split`` will be given), for a program that has time for it before that call can be made.

    The ``clv`` command's models load on a thread while the file is read, and may still be loading when the read
    ends: the group-by (Polars' threads, without the interpreter lock) then runs beside the end of that import
    instead of after it. The call on the same ``tx`` object with the same ``as_of`` and kind of split takes the
    result (the same query on the same rows: the same table); any other call groups its own rows."""
    return PreparedRuns(tx, as_of, with_split, _purchase_runs(tx, as_of, with_split))


def _days_to_split(days: pl.Series, split: dt.date) -> dict[str, pl.Series]:
    """From each customer's distinct purchase days (a list column): first_purchase_date, last_purchase_date and
    last_purchase_to_split (null without one), purchase_days and purchase_days_to_split (UInt32), as the
    group-by's ``min``, ``max`` and ``n_unique`` give them."""
    import numpy as np

    counts = days.list.len()
    flat = days.to_frame().select(pl.col(days.name).explode(empty_as_null=False).to_physical()).to_series().to_numpy()
    lengths = counts.to_numpy().astype(np.int64)
    ends = np.cumsum(lengths)
    up_to_split = flat <= (split - dt.date(1970, 1, 1)).days
    before = np.zeros(len(flat) + 1, dtype=np.int64)  # before[i]: days up to the split among the first i
    np.cumsum(up_to_split, out=before[1:])
    to_split = before[ends] - before[ends - lengths]
    bought = lengths > 0
    starts = (ends - lengths)[bought]  # runs with a day: consecutive segments of ``flat``, none empty
    first, last, last_to_split = (np.zeros(len(lengths), dtype=flat.dtype) for _ in range(3))
    if len(starts):
        first[bought] = np.minimum.reduceat(flat, starts)
        last[bought] = np.maximum.reduceat(flat, starts)
        last_to_split[bought] = np.maximum.reduceat(np.where(up_to_split, flat, np.iinfo(flat.dtype).min), starts)

    def dates(name: str, values: np.ndarray, known: np.ndarray) -> pl.Series:
        return pl.Series(name, values).cast(pl.Date).set(pl.Series(~known), None)

    return {
        "first_purchase_date": dates("first_purchase_date", first, bought),
        "last_purchase_date": dates("last_purchase_date", last, bought),
        "purchase_days": counts,
        "purchase_days_to_split": pl.Series(to_split, dtype=pl.UInt32),
        "last_purchase_to_split": dates("last_purchase_to_split", last_to_split, to_split > 0),
    }


def _sums_of_runs(day: np.ndarray, amount: np.ndarray, lengths: np.ndarray, first: np.ndarray) -> dict[str, np.ndarray]:
    """Revenue, first-day amount and repeat amount per run of lines.

    ``day`` (days since 1970) and ``amount`` hold consecutive runs of ``lengths`` lines
    (one per customer, each > 0); ``first`` is each run's first purchase day
    (:data:`_NO_DAY` when none).
    """
    import numpy as np

    if len(lengths) == 0:
        return {name: np.zeros(0) for name in _SUMS}
    starts = _run_starts(lengths)
    revenue = np.add.reduceat(amount, starts)
    # One scratch array of lines for the first day's amounts and then the absolute amounts: memory first
    # touched costs page faults (a tenth of the summary's time on 1M lines), memory reused does not.
    scratch = np.zeros_like(amount)
    first_day_amount = _first_day_sums(day, amount, lengths, first, starts, scratch)
    # Amounts are decimal money held in binary floats: sums that cancel (a repeat purchase and its
    # refund) leave residues like 1e-14 whose sign depends on the order of addition. Anything within
    # the float error of summing the run is zero, so "no net repeat spend" is zero whatever the order.
    rounding_noise = _ROUNDING * np.add.reduceat(np.abs(amount, out=scratch), starts)
    return {
        "revenue": _snap_to_zero(revenue, rounding_noise),
        "first_day_amount": _snap_to_zero(first_day_amount, rounding_noise),
        "repeat_amount": _snap_to_zero(revenue - first_day_amount, rounding_noise),
    }


def _run_starts(lengths: np.ndarray) -> np.ndarray:
    import numpy as np

    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def _first_day_sums(day: np.ndarray, amount: np.ndarray, lengths: np.ndarray, first: np.ndarray,
                    starts: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Per run of ``lengths`` lines (each > 0, starting at ``starts``): the sum of the amounts on the day
    ``first``. ``scratch``: zeros of ``amount``'s shape, to work in."""
    import numpy as np

    if len(lengths) == 0:
        return np.zeros(0)
    np.copyto(scratch, amount, where=day == np.repeat(first, lengths))  # the amount on the first day, else 0
    return np.add.reduceat(scratch, starts)


def _snap_to_zero(values: np.ndarray, noise: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.where(np.abs(values) <= noise, 0.0, values)
