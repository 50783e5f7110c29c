"""Period KPIs a manager asks for, with deltas against the previous period.

Definitions (one place, shown in the UI as help text):

- revenue: sum of amounts in the period, net of returns.
- orders: distinct orders with a non-negative amount (order_id, else one per
  customer and purchase day).
- active customers: customers with at least one order in the period.
- new customers: active customers whose first purchase ever falls in the period.
- returning-customer share: active customers who had bought before the period,
  divided by active customers.
- AOV (average order value): revenue / orders.
- purchase frequency: orders / active customers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

from crm_core.customers import customer_totals, exact_sum, filter_period, first_purchase_dates, is_purchase, order_key
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C

Grain = Literal["day", "week", "month"]
GRAIN_TRUNCATE: dict[str, str] = {"day": "1d", "week": "1w", "month": "1mo"}


@dataclass(frozen=True)
class KpiDefinition:
    key: str
    label: str
    kind: Literal["money", "count", "share", "ratio"]
    help: str


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition("revenue", "Revenue", "money", "Sum of order amounts in the period, net of returns."),
    KpiDefinition("orders", "Orders", "count", "Distinct orders (order id, else one per customer and day)."),
    KpiDefinition("active_customers", "Active customers", "count", "Customers with at least one order in the period."),
    KpiDefinition("new_customers", "New customers", "count", "Customers whose first purchase ever is in the period."),
    KpiDefinition("returning_share", "Returning-customer share", "share", "Share of active customers who had bought before the period."),
    KpiDefinition("aov", "Average order value", "money", "Revenue divided by orders."),
    KpiDefinition("frequency", "Purchase frequency", "ratio", "Orders per active customer in the period."),
)
KPI_BY_KEY = {kpi.key: kpi for kpi in KPIS}


def _with_first_dates(tx: pl.LazyFrame) -> pl.LazyFrame:
    return tx.join(first_purchase_dates(tx), on=C.CUSTOMER_ID, how="left")


def _kpi_aggregations(tx: pl.LazyFrame, period_start: pl.Expr) -> list[pl.Expr]:
    """KPI expressions over the rows of one period (``period_start`` per row)."""
    purchase = is_purchase(tx)
    customer = pl.col(C.CUSTOMER_ID)
    order = pl.concat_str([customer, order_key(tx)], separator="\x1f")
    active = customer.filter(purchase).n_unique()
    new = customer.filter(purchase & (pl.col("first_date") >= period_start)).n_unique()
    return [
        # Exact to the cent whatever order the threads add the rows in: a float sum landing on a half moved a
        # headline's rounded revenue by one between two runs of the same data.
        exact_sum(pl.col(C.AMOUNT)).alias("revenue"),
        order.filter(purchase).n_unique().alias("orders"),
        active.alias("active_customers"),
        new.alias("new_customers"),
    ]


def _derived(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Ratios from the counted KPIs (null when the denominator is zero)."""
    def ratio(numerator: pl.Expr, denominator: str) -> pl.Expr:
        return pl.when(pl.col(denominator) > 0).then(numerator / pl.col(denominator))

    return frame.with_columns(
        ratio(pl.col("active_customers") - pl.col("new_customers"), "active_customers").alias("returning_share"),
        ratio(pl.col("revenue"), "orders").alias("aov"),
        ratio(pl.col("orders").cast(pl.Float64), "active_customers").alias("frequency"),
    )


def period_kpis(tx: pl.LazyFrame, start: dt.date, end: dt.date, slices: int = 1) -> dict[str, float | int | None]:
    """KPIs of the period ``start..end`` (inclusive); ``tx`` is the whole history.

    The whole history is needed to tell new customers from returning ones. ``slices``: counted slice by
    slice of customers (see :func:`crm_core.customers.customer_totals`).
    """
    def counts(rows: pl.LazyFrame) -> pl.LazyFrame:
        return filter_period(_with_first_dates(rows), start, end).select(_kpi_aggregations(rows, pl.lit(start)))

    return _derived(customer_totals(tx, counts, [], slices)).collect().row(0, named=True)


Window = Literal["last_month", "last_quarter", "last_12_months", "whole_period"]
WINDOW_LABELS: dict[str, str] = {
    "last_month": "Last month",
    "last_quarter": "Last quarter",
    "last_12_months": "Last 12 months",
    "whole_period": "Whole period",
}
_WINDOW_DAYS = {"last_month": 30, "last_quarter": 91, "last_12_months": 365}


def default_window(start: dt.date, end: dt.date) -> Window:
    """The longest window whose previous period of equal length still has data."""
    span = (end - start).days + 1
    for window in ("last_12_months", "last_quarter", "last_month"):
        if span >= 2 * _WINDOW_DAYS[window]:
            return window
    return "whole_period"


def comparison_window(start: dt.date, end: dt.date, window: Window) -> tuple[dt.date, dt.date]:
    """The last ``window`` of ``start..end`` (the whole period for 'whole_period')."""
    if window == "whole_period":
        return start, end
    return max(start, end - dt.timedelta(days=_WINDOW_DAYS[window] - 1)), end


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of equal length just before ``start..end``."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


def kpi_comparison(tx: pl.LazyFrame, start: dt.date, end: dt.date,
                   comparison: str = "previous_period", slices: int = 1) -> pl.DataFrame:
    """One row per KPI: value, previous (the comparison period), delta, delta_pct.

    ``comparison``: 'previous_period' (equal length just before) or
    'same_period_last_year' (see :func:`crm_core.settings.comparison_period`).

    ``delta_pct`` is null when the previous value is 0 or missing, and for shares
    (their delta is already in percentage points). When the previous period has
    no orders at all (e.g. it lies before the data), previous and deltas are null.
    """
    from crm_core.settings import comparison_period

    return comparison_frame(period_kpis(tx, start, end, slices),
                            period_kpis(tx, *comparison_period(start, end, comparison), slices))


def comparison_frame(current: dict, previous: dict) -> pl.DataFrame:
    """The :func:`kpi_comparison` table from two :func:`period_kpis` dicts (also used by crm_core.engines)."""
    if not previous["orders"]:
        previous = {key: None for key in previous}
    rows = []
    for kpi in KPIS:
        value, before = current[kpi.key], previous[kpi.key]
        delta = None if value is None or before is None else value - before
        pct = None if delta is None or not before or kpi.kind == "share" else delta / abs(before)
        rows.append({"kpi": kpi.key, "label": kpi.label, "kind": kpi.kind, "value": value, "previous": before, "delta": delta, "delta_pct": pct})
    schema = {"kpi": pl.String, "label": pl.String, "kind": pl.String, "value": pl.Float64, "previous": pl.Float64, "delta": pl.Float64, "delta_pct": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def kpi_trend(tx: pl.LazyFrame, start: dt.date, end: dt.date, grain: Grain = "month", slices: int = 1) -> pl.DataFrame:
    """Every KPI per day/week/month bucket of ``start..end`` (buckets start Monday / 1st); ``slices``: counted
    slice by slice of customers (see :func:`crm_core.customers.customer_totals`)."""
    bucket = pl.col(C.ORDER_DATE).dt.truncate(GRAIN_TRUNCATE[grain]).alias("period")

    def counts(rows: pl.LazyFrame) -> pl.LazyFrame:
        in_period = filter_period(_with_first_dates(rows), start, end).with_columns(bucket)
        return in_period.group_by("period").agg(_kpi_aggregations(rows, pl.col("period").first()))

    return _derived(customer_totals(tx, counts, ["period"], slices)).sort("period").collect()


def format_kpi(value: float | int | None, kind: str, *, style: NumberStyle = PLAIN) -> str:
    """Human format for a KPI value: 1,234,567 / 45.2% / 2.31 (de: 1.234.567 / 45,2% / 2,31; money with the
    style's currency)."""
    if value is None:
        return "–"
    if kind == "money":
        return style.money(value)
    if kind == "count":
        return style.count(value)
    if kind == "share":
        return style.share(value, 1)
    return style.number(value, 2)


def format_delta(delta: float | None, delta_pct: float | None, kind: str, *,
                 style: NumberStyle = PLAIN) -> str | None:
    """Delta text for a KPI card: '+12.3%' (or '+4.1 pts' for shares)."""
    if delta is None:
        return None
    if kind == "share":
        return f"{_signed(delta * 100, 1, style)} pts"
    if delta_pct is None:
        return _signed(delta, 2 if kind in ("ratio", "money") else 0, style)
    return f"{_signed(delta_pct * 100, 1, style)}%"


def _signed(value: float, decimals: int, style: NumberStyle) -> str:
    """'+1,234.5' / '-0.3' with the style's separators (a zero gets '+', as Python's '+' format)."""
    text = style.number(abs(value), decimals)
    return f"-{text}" if round(value, decimals) < 0 else f"+{text}"


_BUCKET_LENGTH = {"week": "1w", "month": "1mo", "quarter": "3mo", "year": "1y"}


def complete_buckets(trend: pl.DataFrame, grain: str, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """Rows of ``trend`` whose whole bucket (day, week, month, quarter or year starting at ``period``) lies in
    ``start..end``.

    A first or last month cut by the period (or by the end of the data) would compare a few days with a
    whole month, so takeaways leave them out.
    """
    if grain == "day" or (start is None and end is None):
        return trend
    bucket_end = pl.col("period").dt.offset_by(_BUCKET_LENGTH[grain]) - pl.duration(days=1)
    keep = pl.lit(True)
    if start is not None:
        keep &= pl.col("period") >= start
    if end is not None:
        keep &= bucket_end <= end
    return trend.filter(keep)


def trend_takeaway(trend: pl.DataFrame, kpi: str, grain: str, start: dt.date | None = None,
                   end: dt.date | None = None, *, style: NumberStyle = PLAIN) -> str:
    """One sentence on the trend: the best bucket and the last vs. the first, complete buckets only.

    With ``start``/``end`` (the period), a partial first or last week or month is left out.
    """
    definition = KPI_BY_KEY[kpi]
    series = complete_buckets(trend, grain, start, end).select("period", kpi).drop_nulls()
    if series.height < 2:
        return f"Not enough complete {grain}s in the period to see a trend; widen the period in the sidebar."
    best = series.sort(kpi, descending=True).row(0, named=True)
    first, last = series[kpi][0], series[kpi][-1]
    direction = "up" if last > first else "down" if last < first else "flat"
    when = {"day": f"on {fmt.date(best['period'])}", "week": f"in the week of {fmt.date(best['period'])}",
            "month": f"in {fmt.month(best['period'], full=True)}"}[grain]
    return (
        f"{definition.label} peaked {when} at "
        f"{format_kpi(best[kpi], definition.kind, style=style)}; the last {grain} is {direction} "
        f"from the first ({format_kpi(first, definition.kind, style=style)} → "
        f"{format_kpi(last, definition.kind, style=style)})."
    )


@dataclass(frozen=True)
class RelationshipSnapshot:
    """Relationship KPIs of one period, for the Overview (None = not measurable here)."""

    retention_rate: float | None
    churn_rate: float | None
    retention_takeaway: str
    top20_share: float | None
    cac: float | None
    clv_cac: pl.DataFrame | None  # per acquisition channel; None without spend data
    clv_basis: str | None
    csat_mean: float | None
    csat_satisfied: float | None
    csat_takeaway: str | None


def relationship_snapshot(
    dataset, start: dt.date, end: dt.date, clv: pl.DataFrame | None = None, *, style: NumberStyle = PLAIN
) -> RelationshipSnapshot:
    """Retention/churn, top-20% share, CAC and CLV:CAC, CSAT of ``start..end``.

    ``dataset`` is a :class:`crm_core.dataset.Dataset`; CAC needs its customers
    (acquisition channel) and marketing-spend tables, CSAT its interactions.
    ``clv`` (customer_id, clv) makes CLV:CAC use predicted CLV instead of
    revenue to date. ``style`` writes the takeaways' figures (currency, locale).
    """
    from crm_core import kpis_relationship as rel
    from crm_core.customers import summarize

    tx = dataset.transactions
    retention = rel.retention(tx, (start, end))
    summary = summarize(filter_period(tx, start, end), as_of=end)
    cac = table = basis = None
    if dataset.customers is not None and dataset.marketing_spend is not None:
        table, basis = rel.clv_cac(tx, dataset.customers, dataset.marketing_spend, (start, end), clv=clv)
        cac = rel.overall_cac(table)
    csat = rel.csat(dataset.interactions, (start, end)) if dataset.interactions is not None else None
    return RelationshipSnapshot(
        retention_rate=retention.retention_rate,
        churn_rate=retention.churn_rate,
        retention_takeaway=retention.takeaway(style=style),
        top20_share=rel.revenue_concentration(summary),
        cac=cac,
        clv_cac=table,
        clv_basis=basis,
        csat_mean=csat.mean if csat else None,
        csat_satisfied=csat.share_satisfied if csat else None,
        csat_takeaway=csat.takeaway(style=style) if csat else None,
    )
