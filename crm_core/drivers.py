"""Value drivers: which first products, offers, channels, regions and months bring the best customers.

Every customer is described by their *first purchase*: their earliest order with
positive revenue (the net of every line recorded under that order). Its *first
product* (and category, sales channel, region) is the order's line with the
largest amount (price x quantity), ties to the first listed; its *discount code*
is the order's code, or ``(none)``. Customers are then grouped by one of these
traits (a *dimension*) and each group is compared on what its customers did
afterwards: repeat rate, revenue to date, predicted value and payback.

Orders are keyed like :func:`crm_core.customers.order_key` (order id, else the
purchase day). Revenue is the sum of the canonical amount, as ``summary`` and
:func:`crm_core.customers.summarize` define it (net of returns).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from crm_core.customers import data_as_of, exact_sum, filter_period, order_key
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.text_columns import Formatted, select_formatted

if TYPE_CHECKING:
    from crm_core.dataset import Dataset
    from crm_core.findings import Finding, FindingContext, Slicer

Dimension = Literal["first_product", "first_category", "discount_code", "channel", "region", "value_band", "cohort"]

#: Every dimension and how it is labelled for managers, in the order pages show them.
DIMENSIONS: dict[str, str] = {
    "first_product": "First product",
    "first_category": "First category",
    "discount_code": "First-order code",
    "channel": "Channel",
    "region": "Region",
    "value_band": "First-order value",
    "cohort": "Month acquired",
}

#: The transaction column a dimension needs (the others are always available).
#: Channel and region may come from a customers side table instead.
NEEDED_COLUMN: dict[str, str] = {
    "first_product": C.PRODUCT,
    "first_category": C.CATEGORY,
    "discount_code": C.DISCOUNT_CODE,
    "channel": C.CHANNEL,
    "region": C.REGION,
}
#: Customers side-table columns that stand in for a transaction column.
SIDE_TABLE_COLUMN = {"channel": "acquisition_channel", "region": "region"}

NO_CODE = "(none)"
UNKNOWN = "(unknown)"
#: Windows (days after the first purchase) of the repeat rates.
REPEAT_WINDOWS = (90, 180, 365)
#: Days after the first purchase counted in "value after a year".
YEAR_DAYS = 365
#: Groups within this ratio of the average are "about the same" in the takeaway.
SAME_VALUE = 1.05
#: Horizon of the predicted value per customer.
PREDICTION_MONTHS = 12


@dataclass(frozen=True)
class DriverSettings:
    """Choices behind the driver tables.

    Attributes
    ----------
    small_group
        Groups with fewer customers are flagged: their averages move a lot
        with one or two customers.
    confidence
        Level of the intervals on each group's mean (0.95 = 95 %).
    value_bands
        Number of equal-sized bands of first-order value (quantiles).
    """

    small_group: int = 30
    confidence: float = 0.95
    value_bands: int = 4


# --------------------------------------------------------------------------- orders and first purchases


def order_table(tx: pl.LazyFrame) -> pl.LazyFrame:
    """One row per order: the building block of first purchases and journeys.

    Returns
    -------
    pl.LazyFrame
        customer_id, order_date (the order's earliest row), revenue (sum of the
        order's amounts, exact), first_line (row number of its first line),
        top_line (row number of its line with the largest amount; ties to the
        first listed) and, when the data has them, discount_code (the order's
        first non-empty code) and discount_amount (the sum of its rows' discount
        amounts; 0 when none).
    """
    lines = tx.with_row_index("_line")
    aggregations = [
        pl.col(C.ORDER_DATE).min().alias("order_date"),
        exact_sum(pl.col(C.AMOUNT)).alias("revenue"),
        pl.col("_line").min().alias("first_line"),
        pl.col("_line").sort_by([C.AMOUNT, "_line"], descending=[True, False], nulls_last=True).first().alias("top_line"),
    ]
    if has_column(tx, C.DISCOUNT_CODE):
        code = pl.col(C.DISCOUNT_CODE).str.strip_chars()
        aggregations.append(
            pl.when(code != "").then(code).sort_by(pl.col("_line")).drop_nulls().first().alias(C.DISCOUNT_CODE))
    if has_column(tx, C.DISCOUNT_AMOUNT):
        aggregations.append(exact_sum(pl.col(C.DISCOUNT_AMOUNT).fill_null(0.0)).alias(C.DISCOUNT_AMOUNT))
    return lines.group_by(C.CUSTOMER_ID, order_key(tx).alias("_order")).agg(aggregations)


def purchase_orders(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Orders with positive revenue, each customer's in date order, numbered from 1 (``order_number``)."""
    return (
        order_table(tx)
        .filter(pl.col("revenue") > 0)
        .sort([C.CUSTOMER_ID, "order_date", "first_line"])
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.CUSTOMER_ID).alias("order_number"))
    )


def line_attributes(tx: pl.LazyFrame) -> pl.LazyFrame:
    """Row number and the descriptive columns of every line (product, category, channel, region)."""
    present = [name for name in (C.PRODUCT, C.SKU, C.CATEGORY, C.CHANNEL, C.REGION) if has_column(tx, name)]
    return tx.with_row_index("_line").select("_line", *present)


def customer_profiles(
    tx: pl.LazyFrame, customers: pl.LazyFrame | None = None, as_of: dt.date | None = None,
    settings: DriverSettings = DriverSettings(), slicer: Slicer | None = None,
) -> pl.DataFrame:
    """One row per customer with a first purchase: their first-order traits and what they did since.

    Parameters
    ----------
    tx
        Canonical transactions (the whole history: a first purchase is judged on it).
        Rows after ``as_of`` are ignored.
    customers
        Optional customers side table: its ``acquisition_channel`` and ``region``
        take precedence over the first line's sales channel and region.
    as_of
        The day the figures are read; defaults to the last order date.

    Returns
    -------
    pl.DataFrame
        customer_id, first_date, second_date (next order with positive revenue on a
        later day, null if none yet), days_observed (as_of - first_date),
        first_order_value, the dimensions that the data allows (first_product,
        first_category, discount_code, channel, region, value_band, cohort as
        "YYYY-MM"), revenue (to date, net of returns) and value_365 (revenue in
        the first 365 days, null unless observed that long); with discount
        amounts, first_order_discount and discount_depth (see :func:`discount_depth`).

    ``slicer(tx, build)`` collects the per-customer part (default: at once; the CLI builds it slice by slice
    of customers for rows read in batches, see :data:`crm_core.findings.Slicer`). The value bands are
    cut on every customer's first order.
    """
    as_of = as_of or data_as_of(tx)
    if slicer is None:
        profiles = _first_orders(tx, as_of).collect()
    else:
        profiles = slicer(tx, lambda rows: _first_orders(rows, as_of))
    profiles = _with_side_table(profiles, customers)
    profiles = profiles.with_columns(value_bands(profiles["first_order_value"], settings.value_bands).alias("value_band"))
    discounts = [name for name in ("first_order_discount", "discount_depth") if name in profiles.columns]
    order = [C.CUSTOMER_ID, "first_date", "second_date", "days_observed", "first_order_value",
             *[name for name in DIMENSIONS if name in profiles.columns], *discounts, "revenue", "value_365"]
    profiles = profiles.select(order)
    # Built in slices, the rows come sorted by id already: sorting again would copy every column (3M customers).
    return profiles if profiles[C.CUSTOMER_ID].is_sorted() else profiles.sort(C.CUSTOMER_ID)


def _first_orders(tx: pl.LazyFrame, as_of: dt.date | None) -> pl.LazyFrame:
    """The per-customer part of :func:`customer_profiles`: each row from that customer's orders up to ``as_of`` alone."""
    tx = filter_period(tx, None, as_of)
    orders = purchase_orders(tx)
    first = orders.filter(pl.col("order_number") == 1)
    second = orders.filter(pl.col("order_number") >= 2).join(
        first.select(C.CUSTOMER_ID, pl.col("order_date").alias("_first")), on=C.CUSTOMER_ID
    ).filter(pl.col("order_date") > pl.col("_first")).group_by(C.CUSTOMER_ID).agg(
        pl.col("order_date").min().alias("second_date"))
    traits = first.join(line_attributes(tx), left_on="top_line", right_on="_line", how="left")
    first_date = pl.col("first_date")
    after = tx.join(first.select(C.CUSTOMER_ID, pl.col("order_date").alias("first_date")), on=C.CUSTOMER_ID)
    money = after.group_by(C.CUSTOMER_ID).agg(
        exact_sum(pl.col(C.AMOUNT)).alias("revenue"),
        exact_sum(pl.when(pl.col(C.ORDER_DATE) <= first_date + pl.duration(days=YEAR_DAYS))
                  .then(pl.col(C.AMOUNT)).otherwise(0.0)).alias("_first_year"),
    )
    return (
        traits.select(
            C.CUSTOMER_ID,
            pl.col("order_date").alias("first_date"),
            pl.col("revenue").alias("first_order_value"),
            *_trait_columns(tx),
            *_discount_columns(tx),
        )
        .join(second, on=C.CUSTOMER_ID, how="left")
        .join(money, on=C.CUSTOMER_ID, how="left")
        .with_columns(
            (pl.lit(as_of) - first_date).dt.total_days().alias("days_observed"),
            first_date.dt.strftime("%Y-%m").alias("cohort"),
        )
        .with_columns(
            pl.when(pl.col("days_observed") >= YEAR_DAYS).then(pl.col("_first_year")).alias("value_365"))
        .drop("_first_year")
    )


def _trait_columns(tx: pl.LazyFrame) -> list[pl.Expr]:
    """The first order's traits present in the data (missing values shown as ``(unknown)``)."""
    columns = []
    for dimension, source in (("first_product", C.PRODUCT), ("first_category", C.CATEGORY),
                              ("channel", C.CHANNEL), ("region", C.REGION)):
        if has_column(tx, source):
            columns.append(_known(pl.col(source)).alias(dimension))
    if has_column(tx, C.DISCOUNT_CODE):
        columns.append(pl.col(C.DISCOUNT_CODE).fill_null(NO_CODE).alias("discount_code"))
    return columns


def discount_depth(discount: pl.Expr, net_revenue: pl.Expr) -> pl.Expr:
    """Share of the order's price taken off: discount / (net revenue + discount).

    The discount is taken as a size (its absolute value: some exports write it
    negative). Revenue is the order's net revenue as ``summary`` defines it, so
    net revenue + discount is what the order would have cost without the
    discount. 0 without a discount; null when there is no positive price.
    """
    taken = discount.fill_null(0.0).abs()
    before = net_revenue + taken
    return pl.when(taken == 0).then(0.0).when(before > 0).then(taken / before)


def _discount_columns(tx: pl.LazyFrame) -> list[pl.Expr]:
    """The first order's discount amount and depth, when the data carries discount amounts."""
    if not has_column(tx, C.DISCOUNT_AMOUNT):
        return []
    return [pl.col(C.DISCOUNT_AMOUNT).abs().alias("first_order_discount"),
            discount_depth(pl.col(C.DISCOUNT_AMOUNT), pl.col("revenue")).alias("discount_depth")]


def _known(values: pl.Expr) -> pl.Expr:
    text = values.cast(pl.String).str.strip_chars()
    return pl.when(text.is_null() | (text == "")).then(pl.lit(UNKNOWN)).otherwise(text)


def _with_side_table(profiles: pl.DataFrame, customers: pl.LazyFrame | None) -> pl.DataFrame:
    """Acquisition channel and region from the customers side table where it has them."""
    if customers is None:
        return profiles
    names = customers.collect_schema().names()
    columns = {dimension: source for dimension, source in SIDE_TABLE_COLUMN.items() if source in names}
    if not columns:
        return profiles
    side = (customers.select(C.CUSTOMER_ID, *[pl.col(source).alias(f"_side_{dimension}") for dimension, source in columns.items()])
            .unique(C.CUSTOMER_ID, keep="first").collect())
    joined = profiles.join(side, on=C.CUSTOMER_ID, how="left")
    updates = []
    for dimension in columns:
        side_value = _known(pl.col(f"_side_{dimension}"))
        fallback = pl.col(dimension) if dimension in profiles.columns else pl.lit(UNKNOWN)
        updates.append(pl.when(side_value != UNKNOWN).then(side_value).otherwise(fallback).alias(dimension))
    return joined.with_columns(updates).drop([f"_side_{d}" for d in columns])


def value_bands(values: pl.Series, bands: int = 4) -> pl.Series:
    """Label each first-order value with its quantile band ("up to 40.00", "40.00 to 85.50", "over 85.50")."""
    if values.len() == 0:
        return pl.Series(values.name, [], dtype=pl.String)
    cuts = sorted({round(float(values.quantile(i / bands, interpolation="linear")), 2) for i in range(1, bands)})
    cuts = [cut for cut in cuts if cut < float(values.max())]
    if not cuts:
        return pl.Series(values.name, [f"all {float(values.min()):,.2f}"] * values.len(), dtype=pl.String)
    labels = ([f"up to {cuts[0]:,.2f}"] + [f"{low:,.2f} to {high:,.2f}" for low, high in pairwise(cuts)]
              + [f"over {cuts[-1]:,.2f}"])
    band = sum((values > cut).cast(pl.UInt32) for cut in cuts)  # intervals closed on the right
    return pl.Series(labels, dtype=pl.String).gather(band).alias(values.name)


def missing_column(tx: pl.LazyFrame, dimension: str, customers: pl.LazyFrame | None = None) -> str | None:
    """The column ``dimension`` needs when neither the transactions nor the customers table has it."""
    needed = NEEDED_COLUMN.get(dimension)
    if needed is None or has_column(tx, needed):
        return None
    side = SIDE_TABLE_COLUMN.get(dimension)
    if side is not None and customers is not None and side in customers.collect_schema().names():
        return None
    return needed


def available_dimensions(profiles: pl.DataFrame) -> list[str]:
    """Dimensions present in ``profiles``, in :data:`DIMENSIONS` order."""
    return [name for name in DIMENSIONS if name in profiles.columns]


# --------------------------------------------------------------------------- predictions


def predicted_values(tx: pl.LazyFrame, as_of: dt.date | None = None, months: int = PREDICTION_MONTHS,
                     slicer: Slicer | None = None) -> tuple[pl.DataFrame | None, list[str]]:
    """Each customer's predicted value over the next ``months`` (BG/NBD + Gamma-Gamma, revenue terms).

    ``slicer`` builds the model's per-customer statistics (default: at once; see :func:`customer_profiles`).

    Returns
    -------
    (frame, problems)
        frame: customer_id, predicted_value and, when the model gives them,
        customer_value_low / customer_value_high (each customer's 80 %
        prediction interval), or None when nothing could be predicted; problems: why the model's numbers may be unreliable (empty
        when they are fine).
    """
    from crm_core.clv import CLVSettings, fit_clv, months_to_weeks

    as_of = as_of or data_as_of(tx)
    try:
        with np.errstate(all="ignore"):  # degenerate fits on tiny data warn; their problems are reported instead
            result = fit_clv(tx, CLVSettings(horizon_weeks=months_to_weeks(months), calibration_end=as_of),
                             per_customer=None if slicer is None else (lambda build: slicer(tx, build)))
    except ValueError as error:
        return None, [str(error)]
    if not result.spend_modelled:
        return None, result.problems or ["Spend could not be modelled, so no value can be predicted."]
    bounds = [pl.col(f"value_{side}").alias(f"customer_value_{side}") for side in ("low", "high")
              if f"value_{side}" in result.customers.columns]  # each customer's prediction interval, when the model gives one
    frame = result.customers.select(C.CUSTOMER_ID, pl.col("clv").alias("predicted_value"), *bounds).filter(
        pl.col("predicted_value").is_finite())
    return frame, result.problems


# --------------------------------------------------------------------------- group tables


def mean_interval(column: str, z: float) -> list[pl.Expr]:
    """Mean of ``column`` and a normal-approximation interval (null with fewer than two values)."""
    values = pl.col(column).drop_nulls()
    half = z * values.std() / values.count().sqrt()
    return [values.mean().alias(f"{column}_per_customer"),
            (values.mean() - half).alias(f"{column}_low"), (values.mean() + half).alias(f"{column}_high")]


def _group_aggregations(z: float) -> list[pl.Expr]:
    gap = (pl.col("second_date") - pl.col("first_date")).dt.total_days()
    aggregations = [pl.len().alias("customers")]
    for days in REPEAT_WINDOWS:
        observed = pl.col("days_observed") >= days
        repeated = observed & gap.is_not_null() & (gap <= days)
        aggregations += [observed.sum().alias(f"observed_{days}"),
                         pl.when(observed.sum() > 0).then(repeated.sum() / observed.sum()).alias(f"repeat_rate_{days}")]
    aggregations += [
        *mean_interval("revenue", z),
        *mean_interval("value_365", z),
        *mean_interval("predicted_value", z),
        pl.col("predicted_value").count().alias("predicted_customers"),
        gap.median().alias("median_days_to_second"),
        # The average customer's prediction interval (not an interval on the mean: that is predicted_value_low/high).
        pl.col("customer_value_low").mean().alias("predicted_range_low"),
        pl.col("customer_value_high").mean().alias("predicted_range_high"),
    ]
    return aggregations


def driver_table(
    profiles: pl.DataFrame,
    dimension: str,
    predictions: pl.DataFrame | None = None,
    marketing_spend: pl.LazyFrame | None = None,
    settings: DriverSettings = DriverSettings(),
) -> pl.DataFrame:
    """Customers of each group of ``dimension`` and what they are worth, best group first.

    Parameters
    ----------
    profiles
        :func:`customer_profiles` (filter it to the customers you want, e.g. acquired in a period).
    dimension
        A key of :data:`DIMENSIONS` present in ``profiles``.
    predictions
        customer_id, predicted_value (see :func:`predicted_values`); optional.
    marketing_spend
        month, channel, spend: gives CAC and payback when ``dimension`` is "channel".

    Returns
    -------
    pl.DataFrame
        name, customers, customer_share, observed_N and repeat_rate_N for N in
        90/180/365 (share of the customers observed N days or more who placed a
        further order within N days; null when none was observed that long),
        revenue_per_customer with revenue_low / revenue_high (interval on the
        mean), value_365_per_customer with value_365_low / value_365_high
        (revenue in the first year, customers observed a year),
        predicted_value_per_customer with predicted_value_low /
        predicted_value_high, predicted_customers, predicted_range_low /
        predicted_range_high (the group's average of each customer's 80 %
        prediction interval, when the model gives one), median_days_to_second (among
        the customers who placed a second order), value_index (the ranking
        value over the all-customer average), small (fewer than
        ``settings.small_group`` customers), cac and revenue_to_cac (channel only,
        null without spend). Ranked by :func:`ranking_measure`.
    """
    if dimension not in profiles.columns:
        raise ValueError(f"The data has no {DIMENSIONS.get(dimension, dimension).lower()}.")
    frame = _with_predictions(profiles, predictions, dimension)
    z = NormalDist().inv_cdf(0.5 + settings.confidence / 2)
    overall = frame.select(_group_aggregations(z)).row(0, named=True)
    ranking, _ = ranking_measure(overall)
    table = (
        frame.group_by(pl.col(dimension).alias("name"))
        .agg(_group_aggregations(z))
        .with_columns(
            (pl.col("customers") / frame.height).alias("customer_share"),
            (pl.col(ranking) / overall[ranking] if overall[ranking] else pl.lit(None, pl.Float64)).alias("value_index"),
            (pl.col("customers") < settings.small_group).alias("small"),
        )
        .sort([ranking, "customers", "name"], descending=[True, True, False], nulls_last=True)
    )
    table = _with_payback(table, frame, dimension, marketing_spend)
    return table.select(_TABLE_ORDER)


def group_members(profiles: pl.DataFrame, dimension: str, name: str) -> pl.DataFrame:
    """The customers of one group of :func:`driver_table` (``name`` in its ``name`` column), best revenue first.

    Columns: customer_id, first_date, second_date, first_order_value, revenue, value_365.
    """
    if dimension not in profiles.columns:
        raise ValueError(f"The data has no {DIMENSIONS.get(dimension, dimension).lower()}.")
    return (profiles.filter(pl.col(dimension) == name)
            .sort(["revenue", C.CUSTOMER_ID], descending=[True, False], nulls_last=True)
            .select(C.CUSTOMER_ID, "first_date", "second_date", "first_order_value", "revenue", "value_365"))


_TABLE_ORDER = [
    "name", "customers", "customer_share", "small",
    *[f"{kind}_{days}" for days in REPEAT_WINDOWS for kind in ("repeat_rate", "observed")],
    "revenue_per_customer", "revenue_low", "revenue_high", "value_365_per_customer", "value_365_low", "value_365_high",
    "predicted_value_per_customer", "predicted_value_low", "predicted_value_high", "predicted_customers",
    "predicted_range_low", "predicted_range_high", "median_days_to_second", "value_index", "cac", "revenue_to_cac",
]


def overall_figures(profiles: pl.DataFrame, predictions: pl.DataFrame | None = None,
                    settings: DriverSettings = DriverSettings()) -> dict[str, float | int | None]:
    """The all-customer figures the groups are compared with (same keys as a :func:`driver_table` row)."""
    z = NormalDist().inv_cdf(0.5 + settings.confidence / 2)
    return _with_predictions(profiles, predictions).select(_group_aggregations(z)).row(0, named=True)


_PREDICTED = ("predicted_value", "customer_value_low", "customer_value_high")


#: The profile columns the group figures read (:func:`_group_aggregations`, :func:`_with_payback`).
_AGGREGATED = (C.CUSTOMER_ID, "first_date", "second_date", "days_observed", "revenue", "value_365")


def _with_predictions(profiles: pl.DataFrame, predictions: pl.DataFrame | None, dimension: str | None = None
                      ) -> pl.DataFrame:
    """The profile columns the group figures read (and ``dimension``'s) with each customer's prediction and
    interval (null where unknown). The other columns are left out of the join: at 3M customers each is
    tens of MB more."""
    profiles = profiles.select(name for name in dict.fromkeys((*_AGGREGATED, dimension)) if name in profiles.columns)
    if predictions is None:
        return profiles.with_columns(pl.lit(None, pl.Float64).alias(name) for name in _PREDICTED)
    missing = [pl.lit(None, pl.Float64).alias(name) for name in _PREDICTED if name not in predictions.columns]
    return profiles.join(predictions.with_columns(missing).select(C.CUSTOMER_ID, *_PREDICTED), on=C.CUSTOMER_ID,
                         how="left")


def _with_payback(table: pl.DataFrame, profiles: pl.DataFrame, dimension: str,
                  marketing_spend: pl.LazyFrame | None) -> pl.DataFrame:
    """CAC (spend in the acquisition months / customers acquired) and revenue to date over CAC, per channel."""
    empty = table.with_columns(pl.lit(None, pl.Float64).alias("cac"), pl.lit(None, pl.Float64).alias("revenue_to_cac"))
    if dimension != "channel" or marketing_spend is None or profiles.height == 0:
        return empty
    first_month = profiles["first_date"].min().replace(day=1)
    last_day = profiles["first_date"].max()
    spend = (marketing_spend.filter(pl.col("month").is_between(first_month, last_day))
             .group_by(pl.col("channel").alias("name")).agg(pl.col("spend").sum()).collect())
    if spend.height == 0:
        return empty
    return (
        table.join(spend, on="name", how="left", maintain_order="left")
        .with_columns((pl.col("spend") / pl.col("customers")).alias("cac"))
        .with_columns(pl.when(pl.col("cac") > 0).then(pl.col("revenue_per_customer") / pl.col("cac")).alias("revenue_to_cac"))
        .drop("spend")
    )


# --------------------------------------------------------------------------- words


_SUBJECT = {
    "first_product": "Customers whose first order was {name}",
    "first_category": "Customers whose first order was in {name}",
    "discount_code": "Customers acquired with the code {name}",
    "channel": "Customers acquired through {name}",
    "region": "Customers in {name}",
    "value_band": "Customers whose first order was worth {name}",
    "cohort": "Customers acquired in {name}",
}


def group_subject(dimension: str, name: str) -> str:
    """'Customers whose first order was Rain Shell Jacket' (a plain subject for a sentence)."""
    if dimension == "discount_code" and name == NO_CODE:
        return "Customers acquired without a discount code"
    return _SUBJECT[dimension].format(name=name)


#: How each ranking measure is named for managers.
MEASURE_LABELS = {
    "value_365_per_customer": "Revenue per customer in their first year",
    "predicted_value_per_customer": "Predicted value per customer, next 12 months",
    "revenue_per_customer": "Revenue per customer to date",
}


def ranking_measure(overall: dict) -> tuple[str, str]:
    """(column, phrase) groups are ranked and compared by, from the all-customer figures: revenue in the
    first year when some customers were observed a year (actual, not modelled), else predicted value, else
    revenue to date."""
    if overall.get("value_365_per_customer") is not None:
        return "value_365_per_customer", "after a year"
    if overall.get("predicted_customers"):
        return "predicted_value_per_customer", f"over the next {PREDICTION_MONTHS} months"
    return "revenue_per_customer", "so far"


def takeaway(table: pl.DataFrame, dimension: str, overall: dict, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: the group whose customers are worth most against the average (groups flagged small left out)."""
    if table.height == 0:
        return "No customer has a purchase yet, so there is nothing to compare."
    column, phrase = ranking_measure(overall)
    average = overall.get(column)
    candidates = table.filter(~pl.col("small") & pl.col(column).is_not_null()).sort(column, descending=True)
    if table.height < 2 or candidates.height == 0 or not average:
        return ("Every group is too small to compare reliably yet: the averages would change with a few customers. "
                "Widen the period or wait for more orders.")
    best, worst = candidates.row(0, named=True), candidates.row(-1, named=True)
    if max(best[column], average) <= SAME_VALUE * min(worst[column], average):
        return (f"Customers are worth about the same {phrase} whatever their {DIMENSIONS.get(dimension, dimension).lower()}: "
                f"no group of {DriverSettings().small_group} or more customers is more than {style.share(SAME_VALUE - 1, 0)} from the average.")
    sentence = (f"{group_subject(dimension, best['name'])} are worth {style.number(best[column] / average, 1)}x "
                f"the average {phrase}")
    if candidates.height > 1:
        sentence += (f"; {_lower_first(group_subject(dimension, worst['name']))} "
                     f"{style.number(worst[column] / average, 1)}x")
    return sentence + "."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def small_groups_note(table: pl.DataFrame, settings: DriverSettings = DriverSettings(), *,
                      style: NumberStyle = PLAIN) -> str:
    """Plain note on the groups flagged small ('' when none)."""
    small = int(table["small"].sum()) if table.height else 0
    if not small:
        return ""
    return (f"{style.count(small)} of {style.count(table.height)} groups have fewer than {settings.small_group} customers (flagged): "
            "their averages can swing with a single customer, so read them with care.")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def cli_record(row: dict) -> dict:
    """A group's (or the average's) CLI figures: shares to 4 decimals, money to 2, null when unknown."""
    return {"customers": row["customers"], "repeat_rate_365": _rounded(row["repeat_rate_365"], 4),
            "revenue_per_customer": _rounded(row["revenue_per_customer"], 2),
            "predicted_value_per_customer": _rounded(row["predicted_value_per_customer"], 2)}


def cli_groups(table: pl.DataFrame) -> list[dict]:
    """The CLI's group records: name, customers, repeat_rate_365, revenue_per_customer,
    predicted_value_per_customer and small."""
    return [{"name": row["name"], **cli_record(row), "small": row["small"]} for row in table.iter_rows(named=True)]


# --------------------------------------------------------------------------- finding (deck, report)


#: Dimensions tried for the finding, most telling first.
FINDING_DIMENSIONS = ("first_product", "discount_code", "channel", "first_category", "value_band")


def acquired_profiles(dataset: Dataset, start: dt.date, end: dt.date, slicer: Slicer | None = None) -> pl.DataFrame:
    """:func:`customer_profiles` (whole history up to ``end``) of the customers acquired in ``start..end``."""
    profiles = customer_profiles(filter_period(dataset.transactions, None, end), dataset.customers, end, slicer=slicer)
    earliest = profiles["first_date"].min() if profiles.height else None
    if isinstance(earliest, dt.date) and earliest >= start:  # every customer acquired in the period: no copy
        return profiles
    return profiles.filter(pl.col("first_date") >= start)


def drivers_finding(ctx: FindingContext) -> Finding | None:
    """Key finding 'What brings the best customers': the first dimension the data has, as ranked bars.

    Customers acquired in the context's period, judged on their whole history up to its end. None
    with fewer than ``DriverSettings.small_group`` customers or no dimension with two groups.
    """
    from crm_core.findings import Finding

    start, end = ctx.period
    dataset = ctx.dataset
    profiles = ctx.precomputed_profiles
    if profiles is None:
        profiles = acquired_profiles(dataset, start, end, ctx.slicer)
    dimension = next((d for d in FINDING_DIMENSIONS if d in profiles.columns and profiles[d].n_unique() > 1), None)
    if dimension is None or profiles.height < DriverSettings().small_group:
        return None
    table = driver_table(profiles, dimension, marketing_spend=dataset.marketing_spend)
    overall = overall_figures(profiles)
    column, _ = ranking_measure(overall)
    shown = select_formatted(table.head(10),
        pl.col("name").alias(DIMENSIONS[dimension]), pl.col("customers").alias("Customers"),
        Formatted(pl.col("repeat_rate_365"), ctx.share, "Ordered again within a year"),
        Formatted(pl.col("revenue_per_customer"), ctx.money, "Revenue per customer"),
        Formatted(pl.col(column), ctx.money, MEASURE_LABELS[column]),
        pl.when(pl.col("small")).then(pl.lit("small group")).otherwise(pl.lit("")).alias("Note"))
    method = ("Each customer is grouped by their first order (earliest order with positive revenue): its largest "
              "line gives the product and category, its code the discount. Repeat rates count customers observed "
              "long enough; the bars show each group's average with a 95% interval.")
    return Finding("drivers", f"What brings the best customers: {DIMENSIONS[dimension].lower()}",
                   takeaway(table, dimension, overall, style=ctx.style), "driver_bars",
                   {"table": table, "dimension": dimension, "overall": overall, "style": ctx.style}, shown,
                   small_groups_note(table, style=ctx.style) or "Acquire more customers like those of the top groups.", method,
                   source="crm_core.drivers", area="What brings the best customers")
