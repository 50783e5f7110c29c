"""Key findings: one headline sentence computed from the data, a figure and a table.

Meeting mode shows them one per screen and the report prints them all. Each
finding is a function ``(context) -> Finding | None`` in :data:`REGISTRY`;
it returns ``None`` when the data it needs is missing (e.g. too few customers).

Every finding reads the per-customer summary of :mod:`crm_core.customers`
(computed once per context) or the analysis modules built on it.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import plotly.graph_objects as go
import polars as pl

from crm_core.charts.present import (
    MAX_CURVE_POINTS,
    concentration_figure,
    share_bars_figure,
    status_bars_figure,
    themed,
    value_bars_figure,
)
from crm_core.customers import filter_period, summarize
from crm_core.dataset import Dataset
from crm_core.schema import C


@dataclass(frozen=True)
class FindingSettings:
    """Choices behind the findings (defaults suit most shops).

    Attributes
    ----------
    start, end
        Period analysed (inclusive); ``None`` = the whole history.
    top_share
        "Top X% of customers" used by the concentration headline.
    tier_shares
        Customer shares of the tiers, best first (customer pyramid:
        Platinum 1%, Gold 4%, Silver 15%, Bronze the rest).
    overdue_factor
        A repeat customer is "at risk" when the days since their last order
        exceed this many times their usual gap between purchase days.
    currency
        Prefix for money, e.g. "$" or "€" (empty by default).
    dark
        Draw figures with the dark template.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    top_share: float = 0.2
    tier_shares: tuple[float, ...] = (0.01, 0.04, 0.15, 0.80)
    tier_names: tuple[str, ...] = ("Platinum", "Gold", "Silver", "Bronze")
    overdue_factor: float = 2.0
    currency: str = ""
    dark: bool = False


@dataclass(frozen=True)
class Finding:
    """One key finding: what a manager should remember from one screen."""

    key: str
    title: str
    headline: str
    figure: go.Figure | None = None
    table: pl.DataFrame | None = None
    detail: str = ""
    source: str = "customer summary"


@dataclass
class FindingContext:
    """What every finding reads; the customer summary is computed once, lazily."""

    dataset: Dataset
    settings: FindingSettings = field(default_factory=FindingSettings)
    precomputed_summary: pl.DataFrame | None = None

    @cached_property
    def period(self) -> tuple[dt.date, dt.date]:
        """The analysed period, clamped to the data."""
        bounds = self.dataset.transactions.select(
            pl.col(C.ORDER_DATE).min().alias("first"), pl.col(C.ORDER_DATE).max().alias("last")
        ).collect().row(0)
        start = max(self.settings.start or bounds[0], bounds[0])
        end = min(self.settings.end or bounds[1], bounds[1])
        return start, end

    @cached_property
    def transactions(self) -> pl.LazyFrame:
        """Transactions inside the period."""
        return filter_period(self.dataset.transactions, *self.period)

    @cached_property
    def summary(self) -> pl.DataFrame:
        """Per-customer summary of the period, as of its end."""
        if self.precomputed_summary is not None:
            return self.precomputed_summary
        return summarize(self.transactions, as_of=self.period[1]).collect()

    def money(self, value: float | None) -> str:
        return money(value, self.settings.currency)


def money(value: float | None, currency: str = "") -> str:
    """1234567.8 -> '1,234,568' (two decimals under 100)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{currency}{value:,.0f}" if abs(value) >= 100 else f"{currency}{value:,.2f}"


def share(value: float | None) -> str:
    """0.712 -> '71%' (one decimal under 10%)."""
    if value is None:
        return "–"
    return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"


# --- KPIs ---------------------------------------------------------------------


def kpi_finding(ctx: FindingContext) -> Finding | None:
    """Headline KPIs of the period (crm_core.kpis) and the revenue trend."""
    from crm_core.charts.overview import kpi_trend_figure
    from crm_core.kpis import format_delta, format_kpi, kpi_comparison, kpi_trend

    from crm_core.kpis import WINDOW_LABELS, comparison_window, default_window

    start, end = ctx.period
    window = default_window(start, end)
    card_start, card_end = comparison_window(start, end, window)
    comparison = kpi_comparison(ctx.dataset.transactions, card_start, card_end)
    values = {row["kpi"]: row for row in comparison.iter_rows(named=True)}
    if not values["orders"]["value"]:
        return None
    when = WINDOW_LABELS[window] if window != "whole_period" else f"From {card_start:%d %b %Y} to {card_end:%d %b %Y}"
    headline = (
        f"{when}: {values['active_customers']['value']:,.0f} customers placed {values['orders']['value']:,.0f} orders "
        f"worth {ctx.money(values['revenue']['value'])}; the average order was {ctx.money(values['aov']['value'])}."
    )
    change = values["revenue"]["delta_pct"]
    detail = (
        f"Revenue is {'up' if change >= 0 else 'down'} {abs(change):.0%} on the period before; "
        f"{share(values['returning_share']['value'])} of the customers who bought had bought before."
        if change is not None else "There is no earlier period of the same length to compare with."
    )
    table = comparison.select(
        pl.col("label").alias("KPI"),
        pl.struct("value", "kind").map_elements(lambda r: format_kpi(r["value"], r["kind"], ctx.settings.currency), return_dtype=pl.String).alias("Value"),
        pl.struct("delta", "delta_pct", "kind").map_elements(
            lambda r: format_delta(r["delta"], r["delta_pct"], r["kind"]) or "–", return_dtype=pl.String
        ).alias("Change vs previous period"),
    )
    trend = kpi_trend(ctx.dataset.transactions, start, end, "month")
    figure = kpi_trend_figure(trend, "revenue", "month") if trend.height >= 2 else None
    return Finding("kpis", "Headline numbers", headline, figure, table, detail, source="crm_core.kpis")


# --- Concentration ------------------------------------------------------------


def concentration_curve(summary: pl.DataFrame) -> pl.DataFrame:
    """Cumulative share of revenue by share of customers, best customers first.

    One row per customer rank (``rank`` 1 = biggest revenue; ties broken by
    customer id): ``customer_share`` = rank / customers, ``revenue_share`` =
    cumulative revenue / total revenue (net; can pass 1 before the end when
    some customers have net returns).
    """
    total = summary["revenue"].sum()
    return (
        summary.lazy()
        .sort(["revenue", C.CUSTOMER_ID], descending=[True, False])
        .select(
            pl.int_range(1, pl.len() + 1).alias("rank"),
            ((pl.int_range(1, pl.len() + 1)) / pl.len()).alias("customer_share"),
            (pl.col("revenue").cum_sum() / total).alias("revenue_share"),
        )
        .collect()
    )


def top_customers_count(customers: int, top_share: float) -> int:
    """How many customers make the top ``top_share`` (rounded, at least 1)."""
    return max(1, min(customers, round(customers * top_share)))


def top_revenue_share(summary: pl.DataFrame, top_share: float) -> float | None:
    """Share of net revenue brought by the top ``top_share`` of customers."""
    total = summary["revenue"].sum()
    if summary.height == 0 or total <= 0:
        return None
    count = top_customers_count(summary.height, top_share)
    return summary["revenue"].sort(descending=True).head(count).sum() / total


def _downsampled(curve: pl.DataFrame) -> pl.DataFrame:
    """At most MAX_CURVE_POINTS rows, always keeping the origin and the last row."""
    step = max(1, math.ceil(curve.height / (MAX_CURVE_POINTS - 1)))
    kept = curve.filter(((pl.col("rank") % step) == 0) | (pl.col("rank") == curve.height))
    origin = pl.DataFrame({"rank": [0], "customer_share": [0.0], "revenue_share": [0.0]}, schema=curve.schema)
    return pl.concat([origin, kept])


def concentration_finding(ctx: FindingContext) -> Finding | None:
    """'The top 20% of customers bring 71% of revenue.'"""
    top = ctx.settings.top_share
    revenue_share = top_revenue_share(ctx.summary, top)
    if revenue_share is None or ctx.summary.height < 5:
        return None
    curve = concentration_curve(ctx.summary)
    headline = f"The top {top:.0%} of customers bring {share(revenue_share)} of revenue."
    rows = [(share_, top_revenue_share(ctx.summary, share_)) for share_ in (0.01, 0.05, 0.1, 0.2, 0.5)]
    table = pl.DataFrame(
        {
            "Top customers": [f"Top {s:.0%}" for s, _ in rows],
            "Customers": [top_customers_count(ctx.summary.height, s) for s, _ in rows],
            "Share of revenue": [share(v) for _, v in rows],
        }
    )
    figure = concentration_figure(_downsampled(curve), top, revenue_share)
    return Finding("concentration", "Revenue concentration", headline, figure, table,
                   "Losing one of these customers costs far more than losing an average one.")


# --- Tiers --------------------------------------------------------------------


def customer_tiers(summary: pl.DataFrame, settings: FindingSettings) -> pl.DataFrame:
    """Customer pyramid: customers ranked by revenue and cut by customer share.

    A customer of rank r (1 = best) out of n is in the first tier whose
    cumulative share reaches r / n. Returns one row per tier (best first):
    tier, customers, revenue, customer_share, revenue_share, average_revenue.
    """
    bounds = [sum(settings.tier_shares[: i + 1]) for i in range(len(settings.tier_shares))]
    n = summary.height
    total = summary["revenue"].sum()
    rank_share = pl.int_range(1, pl.len() + 1) / pl.len()
    tier_index = pl.sum_horizontal([(rank_share > bound + 1e-9).cast(pl.Int32) for bound in bounds[:-1]])
    ranked = (
        summary.lazy()
        .sort(["revenue", C.CUSTOMER_ID], descending=[True, False])
        .with_columns(tier_index.alias("tier_index"))
        .group_by("tier_index")
        .agg(pl.len().alias("customers"), pl.col("revenue").sum())
    )
    names = pl.DataFrame({"tier_index": list(range(len(settings.tier_names))), "tier": list(settings.tier_names)},
                         schema={"tier_index": pl.Int32, "tier": pl.String})
    return (
        names.lazy()
        .join(ranked, on="tier_index", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0))
        .select(
            "tier", "customers", "revenue",
            (pl.col("customers") / n).alias("customer_share"),
            (pl.col("revenue") / total).alias("revenue_share"),
            pl.when(pl.col("customers") > 0).then(pl.col("revenue") / pl.col("customers")).alias("average_revenue"),
        )
        .collect()
    )


def tiers_finding(ctx: FindingContext) -> Finding | None:
    """'The 5% Platinum and Gold customers bring 40% of revenue; Bronze (80%) brings 25%.'"""
    if ctx.summary.height < 20 or ctx.summary["revenue"].sum() <= 0:
        return None
    tiers = customer_tiers(ctx.summary, ctx.settings)
    top_two, last = tiers.head(2), tiers.row(-1, named=True)
    names = " and ".join(top_two["tier"].to_list())
    headline = (
        f"{names} customers ({share(top_two['customer_share'].sum())} of customers) bring "
        f"{share(top_two['revenue_share'].sum())} of revenue; {last['tier']} ({share(last['customer_share'])}) "
        f"brings {share(last['revenue_share'])}."
    )
    table = tiers.select(
        pl.col("tier").alias("Tier"),
        pl.col("customers").alias("Customers"),
        pl.col("customer_share").map_elements(share, return_dtype=pl.String).alias("Share of customers"),
        pl.col("revenue").map_elements(ctx.money, return_dtype=pl.String).alias("Revenue"),
        pl.col("revenue_share").map_elements(share, return_dtype=pl.String).alias("Share of revenue"),
        pl.col("average_revenue").map_elements(ctx.money, return_dtype=pl.String).alias("Average revenue"),
    )
    figure = share_bars_figure(tiers, "tier", "Customer tiers: customers vs revenue")
    return Finding("tiers", "Customer tiers", headline, figure, table,
                   "Tiers rank customers by revenue in the period: Platinum is the top 1%, Gold the next 4%, "
                   "Silver the next 15%, Bronze the rest.")


# --- Segments -----------------------------------------------------------------


def simple_segments(summary: pl.DataFrame, active_days: int) -> pl.DataFrame:
    """Four lifecycle segments: one-time or repeat x active or lapsed.

    Active = last order at most ``active_days`` before the end of the period;
    repeat = two or more orders. One row per segment (fixed order): segment,
    customers, revenue, customer_share, revenue_share.
    """
    order = ["Active repeat", "Active one-time", "Lapsed repeat", "Lapsed one-time"]
    active = pl.col("recency_days") <= active_days
    repeat = pl.col("orders") >= 2
    label = (
        pl.when(active & repeat).then(pl.lit(order[0]))
        .when(active).then(pl.lit(order[1]))
        .when(repeat).then(pl.lit(order[2]))
        .otherwise(pl.lit(order[3]))
    )
    counts = summary.lazy().group_by(label.alias("segment")).agg(pl.len().alias("customers"), pl.col("revenue").sum())
    frame = pl.LazyFrame({"segment": order}).join(counts, on="segment", how="left", maintain_order="left")
    n, total = summary.height, summary["revenue"].sum()
    return frame.select(
        "segment",
        pl.col("customers").fill_null(0).cast(pl.Int64),
        pl.col("revenue").fill_null(0.0),
        (pl.col("customers").fill_null(0) / n).alias("customer_share"),
        (pl.col("revenue").fill_null(0.0) / total).alias("revenue_share"),
    ).collect()


def segments_finding(ctx: FindingContext) -> Finding | None:
    """'Repeat customers are 38% of customers and bring 78% of revenue.'"""
    if ctx.summary.height < 20 or ctx.summary["revenue"].sum() <= 0:
        return None
    active_days = _active_days(ctx)
    segments = simple_segments(ctx.summary, active_days)
    repeat = segments.filter(pl.col("segment").str.ends_with("repeat"))
    headline = (
        f"Repeat customers are {share(repeat['customer_share'].sum())} of customers and bring "
        f"{share(repeat['revenue_share'].sum())} of revenue."
    )
    table = _share_table(segments, "segment", "Segment", ctx)
    figure = share_bars_figure(segments, "segment", "Segments: customers vs revenue")
    return Finding("segments", "Customer segments", headline, figure, table,
                   f"Active = bought in the last {active_days} days of the period; repeat = two orders or more.")


def _active_days(ctx: FindingContext) -> int:
    """A year, or half the period when the period is shorter than two years."""
    start, end = ctx.period
    return max(30, min(365, ((end - start).days + 1) // 2))


def _share_table(frame: pl.DataFrame, column: str, label: str, ctx: FindingContext) -> pl.DataFrame:
    return frame.select(
        pl.col(column).alias(label),
        pl.col("customers").alias("Customers"),
        pl.col("customer_share").map_elements(share, return_dtype=pl.String).alias("Share of customers"),
        pl.col("revenue").map_elements(ctx.money, return_dtype=pl.String).alias("Revenue"),
        pl.col("revenue_share").map_elements(share, return_dtype=pl.String).alias("Share of revenue"),
    )


# --- Customer value -----------------------------------------------------------


def value_deciles(summary: pl.DataFrame) -> pl.DataFrame:
    """Average revenue per customer in each tenth of customers (1 = best).

    Customers are ranked by revenue (ties by id); decile d holds ranks with
    ceil(10 * rank / n) = d. Columns: decile (label "Top 10%", "10-20%", ...),
    customers, average_revenue.
    """
    decile = (pl.int_range(1, pl.len() + 1) * 10 / pl.len()).ceil().cast(pl.Int32)
    frame = (
        summary.lazy()
        .sort(["revenue", C.CUSTOMER_ID], descending=[True, False])
        .with_columns(decile.alias("d"))
        .group_by("d")
        .agg(pl.len().alias("customers"), pl.col("revenue").mean().alias("average_revenue"))
        .sort("d")
        .collect()
    )
    labels = {1: "Top 10%", **{d: f"{(d - 1) * 10}-{d * 10}%" for d in range(2, 11)}}
    return frame.select(pl.col("d").replace_strict(labels, return_dtype=pl.String).alias("decile"), "customers", "average_revenue")


def value_finding(ctx: FindingContext) -> Finding | None:
    """'The average customer spent 95; the top 10% average 520, 30 times the bottom half.'"""
    if ctx.summary.height < 10:
        return None
    deciles = value_deciles(ctx.summary)
    average = ctx.summary["revenue"].mean()
    top = deciles.row(0, named=True)["average_revenue"]
    bottom_half = ctx.summary["revenue"].sort(descending=True).tail(ctx.summary.height // 2).mean()
    ratio = f", {top / bottom_half:,.0f} times the bottom half" if bottom_half and bottom_half > 0 else ""
    headline = f"The average customer spent {ctx.money(average)} in the period; the top 10% averaged {ctx.money(top)}{ratio}."
    table = deciles.select(
        pl.col("decile").alias("Customers ranked by value"),
        pl.col("customers").alias("Customers"),
        pl.col("average_revenue").map_elements(ctx.money, return_dtype=pl.String).alias("Average revenue"),
    )
    figure = value_bars_figure(deciles, "decile", "average_revenue", "Average value per tenth of customers", "Average revenue")
    return Finding("value", "Customer value", headline, figure, table,
                   "Historical value in the period; the Lifetime value page predicts future value.")


# --- At risk ------------------------------------------------------------------


def repeat_status(summary: pl.DataFrame, overdue_factor: float) -> pl.DataFrame:
    """Repeat customers by how overdue their next purchase is.

    usual gap = (last_date - first_date) / (purchase_days - 1); a customer is
    'On track' when recency <= usual gap, 'Overdue' up to ``overdue_factor`` x
    the gap, 'At risk' beyond. Returns the repeat customers with columns
    customer_id, revenue, orders, recency_days, usual_gap_days, status.
    """
    gap = (pl.col("last_date") - pl.col("first_date")).dt.total_days() / (pl.col("purchase_days") - 1)
    status = (
        pl.when(pl.col("recency_days") <= pl.col("usual_gap_days")).then(pl.lit("On track"))
        .when(pl.col("recency_days") <= overdue_factor * pl.col("usual_gap_days")).then(pl.lit("Overdue"))
        .otherwise(pl.lit("At risk"))
    )
    return (
        summary.lazy()
        .filter(pl.col("purchase_days") >= 2)
        .select(C.CUSTOMER_ID, "revenue", "orders", "recency_days", gap.alias("usual_gap_days"))
        .with_columns(status.alias("status"))
        .collect()
    )


STATUSES = ("On track", "Overdue", "At risk")


def at_risk_finding(ctx: FindingContext) -> Finding | None:
    """'312 repeat customers (18%) are more than twice their usual gap overdue; they brought 41,000.'"""
    repeaters = repeat_status(ctx.summary, ctx.settings.overdue_factor)
    if repeaters.height < 5:
        return None
    at_risk = repeaters.filter(pl.col("status") == "At risk")
    total = ctx.summary["revenue"].sum()
    headline = (
        f"{at_risk.height:,} repeat customers ({share(at_risk.height / repeaters.height)} of repeat customers) "
        f"have gone quiet for over {ctx.settings.overdue_factor:g}× their usual gap between purchases; "
        f"they brought {ctx.money(at_risk['revenue'].sum())}"
        + (f" ({share(at_risk['revenue'].sum() / total)} of revenue)." if total > 0 else ".")
    )
    by_status = (
        pl.LazyFrame({"status": list(STATUSES)})
        .join(repeaters.lazy().group_by("status").agg(pl.len().alias("customers"), pl.col("revenue").sum()), on="status", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0))
        .collect()
    )
    table = at_risk.sort(["revenue", C.CUSTOMER_ID], descending=[True, False]).head(15).select(
        pl.col(C.CUSTOMER_ID).alias("Customer"),
        pl.col("revenue").map_elements(ctx.money, return_dtype=pl.String).alias("Revenue"),
        pl.col("orders").alias("Orders"),
        pl.col("recency_days").alias("Days since last order"),
        pl.col("usual_gap_days").round(0).cast(pl.Int64).alias("Usual gap (days)"),
    )
    figure = status_bars_figure(by_status, "Repeat customers: is their next purchase overdue?")
    return Finding("at_risk", "Customers at risk", headline, figure, table,
                   "The table lists the most valuable of them: call them first.")


# --- Registry -----------------------------------------------------------------

FindingFunction = Callable[[FindingContext], "Finding | None"]

#: Key findings in presentation order.
REGISTRY: dict[str, FindingFunction] = {
    "kpis": kpi_finding,
    "concentration": concentration_finding,
    "tiers": tiers_finding,
    "segments": segments_finding,
    "value": value_finding,
    "at_risk": at_risk_finding,
}


def key_findings(
    dataset: Dataset,
    settings: FindingSettings | None = None,
    summary: pl.DataFrame | None = None,
    keys: tuple[str, ...] | None = None,
) -> list[Finding]:
    """Every available key finding, in presentation order.

    Parameters
    ----------
    dataset
        The portfolio (whole history: KPIs compare with the previous period).
    settings
        Period and thresholds; defaults to the whole history.
    summary
        The per-customer summary of the period when the caller already has it.
    keys
        Only these findings (default: all of :data:`REGISTRY`).
    """
    ctx = FindingContext(dataset, settings or FindingSettings(), summary)
    if ctx.transactions.select(pl.len()).collect().item() == 0:
        return []
    findings = []
    for key, function in REGISTRY.items():
        if keys is not None and key not in keys:
            continue
        finding = function(ctx)
        if finding is not None:
            if finding.figure is not None:
                themed(finding.figure, ctx.settings.dark)
            findings.append(finding)
    return findings


def with_theme(findings: list[Finding], dark: bool) -> list[Finding]:
    """Copies of ``findings`` whose figures use the dark or light template."""
    return [replace(f, figure=themed(go.Figure(f.figure), dark) if f.figure is not None else None) for f in findings]


__all__ = ["Finding", "FindingContext", "FindingSettings", "REGISTRY", "key_findings"]
