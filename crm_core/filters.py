"""Apply a view (filters and period of :class:`crm_core.settings.AnalysisSettings`) to transactions.

Semantics, in this order:

1. **Order attributes** (``channel``, ``region`` (alias ``country``), ``category``)
   keep the order lines whose value is in the list. A customer who bought online
   and in store keeps only the online lines: figures describe the filtered sales.
2. **Acquisition cohort** (``cohort``) keeps the customers whose *first order
   ever* (whole file, before any filter) falls in one of the listed periods,
   written ``2024`` (year), ``2024-Q1`` (quarter) or ``2024-03`` (month).
3. **Period**: the preset or dates are resolved against the first and last
   order date left after steps 1-2, and lines outside it are dropped.
4. **Tier and segment** (``tier``, ``segment``) keep the customers whose value
   tier (the view's tier rule) or RFM segment (the view's RFM rules), computed
   on the lines left after steps 1-3, is in the list. Figures are then computed
   on those customers only (so the tier table of a ``tier`` filter ranks the
   chosen customers among themselves).

Every CLI command, page, report and export calls :func:`apply_view`, so a view
means the same rows everywhere.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

import polars as pl

from crm_core.customers import filter_period, summarize
from crm_core.schema import C, has_column
from crm_core.settings import FILTER_LABELS, ORDER_FILTERS, AnalysisSettings

_COHORT = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(0[1-9]|1[0-2])))?$")


@dataclass(frozen=True)
class View:
    """Transactions in the view and the period they cover.

    Attributes
    ----------
    transactions
        Lines left after filters and period (lazy).
    start, end
        The resolved period (inclusive); ``None`` when no line is left.
    first, last
        First and last order date of the filtered data before the period cut.
    history
        Every line of the view's customers after the order filters, before and after
        the period too: what comparisons with an earlier period and "new customer" need.
    """

    transactions: pl.LazyFrame
    start: dt.date | None
    end: dt.date | None
    first: dt.date | None
    last: dt.date | None
    history: pl.LazyFrame


def cohort_expr(values: tuple[str, ...], column: str = "first_date") -> pl.Expr:
    """True for dates inside any of the cohorts ``2024`` / ``2024-Q1`` / ``2024-03``."""
    conditions = []
    for value in values:
        match = _COHORT.match(value.strip())
        if match is None:
            raise ValueError(f"filter 'cohort': '{value[:30]}' is not a cohort like 2024, 2024-Q1 or 2024-03")
        year, quarter, month = match.groups()
        condition = pl.col(column).dt.year() == int(year)
        if quarter:
            condition &= pl.col(column).dt.quarter() == int(quarter)
        elif month:
            condition &= pl.col(column).dt.month() == int(month)
        conditions.append(condition)
    return pl.any_horizontal(conditions)


def cohort_label(column: str = "first_date") -> pl.Expr:
    """'2024-Q1' for each date of ``column`` (the quarter acquisition cohort)."""
    return pl.format("{}-Q{}", pl.col(column).dt.year(), pl.col(column).dt.quarter())


def filter_orders(tx: pl.LazyFrame, settings: AnalysisSettings) -> pl.LazyFrame:
    """Steps 1-2: order-attribute filters, then the acquisition cohort (raises ValueError)."""
    filtered = _order_filters(tx, settings)
    if "cohort" in settings.filter_map:
        filtered = _cohort_filter(filtered, tx, settings.filter_map["cohort"])
    return filtered


def _order_filters(tx: pl.LazyFrame, settings: AnalysisSettings) -> pl.LazyFrame:
    for column, values in settings.filters:
        if column not in ORDER_FILTERS:
            continue
        if not has_column(tx, column):
            raise ValueError(f"filter '{column}': the data has no {FILTER_LABELS[column].lower()} column")
        tx = tx.filter(pl.col(column).cast(pl.String).str.strip_chars().is_in(list(values)))
    return tx


def _cohort_filter(tx: pl.LazyFrame, all_tx: pl.LazyFrame, values: tuple[str, ...]) -> pl.LazyFrame:
    firsts = (all_tx.group_by(C.CUSTOMER_ID).agg(pl.col(C.ORDER_DATE).min().alias("first_date"))
              .filter(cohort_expr(values)).select(C.CUSTOMER_ID))
    return tx.join(firsts, on=C.CUSTOMER_ID, how="semi")


def filter_customers(tx: pl.LazyFrame, settings: AnalysisSettings, end: dt.date) -> pl.LazyFrame:
    """Step 4: keep the customers of the chosen tiers / segments, computed on ``tx`` (one period) as of ``end``."""
    filters = settings.filter_map
    if "tier" not in filters and "segment" not in filters:
        return tx
    summary = summarize(tx, as_of=end).collect()
    keep = summary.select(C.CUSTOMER_ID)
    if "tier" in filters:
        from crm_core.portfolio import assign_tiers

        unknown = sorted(set(filters["tier"]) - set(settings.tiers.names))
        if unknown:
            raise ValueError(f"filter 'tier': '{unknown[0][:30]}' is not a tier (tiers: {', '.join(settings.tiers.names)})")
        tiered = assign_tiers(summary, settings.tier_settings())
        keep = keep.join(tiered.filter(pl.col("tier").is_in(list(filters["tier"]))).select(C.CUSTOMER_ID),
                         on=C.CUSTOMER_ID, how="semi")
    if "segment" in filters:
        from crm_core.rfm import score_customers

        rfm = settings.rfm_settings()
        unknown = sorted(set(filters["segment"]) - set(rfm.segment_names))
        if unknown:
            raise ValueError(f"filter 'segment': '{unknown[0][:30]}' is not a segment of the RFM rules")
        scored = score_customers(summary, rfm).filter(pl.col("segment").is_in(list(filters["segment"])))
        keep = keep.join(scored.select(C.CUSTOMER_ID).collect(), on=C.CUSTOMER_ID, how="semi")
    return tx.join(keep.lazy(), on=C.CUSTOMER_ID, how="semi")


def row_settings(settings: AnalysisSettings) -> AnalysisSettings:
    """Only what decides which rows a view keeps: filters, plus tier and RFM rules when customers are filtered by them."""
    keep = AnalysisSettings(filters=settings.filters)
    columns = settings.filter_map
    if "tier" in columns:
        keep = replace(keep, tiers=settings.tiers)
    if "segment" in columns:
        keep = replace(keep, rfm=settings.rfm)
    return keep


def apply_view(tx: pl.LazyFrame, settings: AnalysisSettings) -> View:
    """Filter ``tx`` by the view's filters and period (see the module docstring for the order).

    Raises
    ------
    ValueError
        A filter names a column the data lacks, or a tier / segment / cohort that does not exist.
    """
    filtered = filter_orders(tx, settings).collect().lazy()  # read once: bounds, period and customer filters reuse it
    first, last = filtered.select(pl.col(C.ORDER_DATE).min().alias("first"),
                                  pl.col(C.ORDER_DATE).max().alias("last")).collect().row(0)
    if first is None:
        return View(filtered, None, None, None, None, filtered)
    start, end = settings.period.resolve(first, last)
    in_view = filter_customers(filter_period(filtered, start, end), settings, end).collect().lazy()
    return View(in_view, start, end, first, last, customers_history(filtered, in_view, settings))


def customers_history(filtered: pl.LazyFrame, in_view: pl.LazyFrame, settings: AnalysisSettings) -> pl.LazyFrame:
    """``filtered`` limited to the customers of ``in_view`` when tiers or segments pick customers."""
    if not {"tier", "segment"} & set(settings.filter_map):
        return filtered
    return filtered.join(in_view.select(C.CUSTOMER_ID).unique(), on=C.CUSTOMER_ID, how="semi")
