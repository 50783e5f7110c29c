"""Drivers figures: value by group with intervals, repeat rates, product bars, journeys Sankey, timing, offers.

Builders take the frames of :mod:`crm_core.drivers`, :mod:`crm_core.products`
and :mod:`crm_core.offers` and only draw. Group and product names are user
text: they go through :func:`~crm_core.charts.text.safe_labels` so Plotly never reads them as markup.
"""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from crm_core.charts.text import safe_labels
from crm_core.charts.theme import NEUTRAL, PALETTE, count_axis, largest, money_axis, styled
from crm_core.format import PLAIN, NumberStyle
from crm_core.drivers import DIMENSIONS, MEASURE_LABELS, REPEAT_WINDOWS, ranking_measure
from crm_core.products import NO_SECOND, OTHER

#: Groups drawn in a bar chart (the best ones; tables have all).
MAX_BARS = 15
_INTERVALS = {"value_365_per_customer": "value_365", "predicted_value_per_customer": "predicted_value",
              "revenue_per_customer": "revenue"}


def driver_figure(table: pl.DataFrame, dimension: str, overall: dict, style: NumberStyle = PLAIN) -> go.Figure:
    """Value per customer of each group (best on top), its interval, small groups greyed, the average dashed."""
    column, phrase = ranking_measure(overall)
    rows = table.filter(pl.col(column).is_not_null()).head(MAX_BARS)
    names = safe_labels(rows["name"])
    colours = [NEUTRAL if small else PALETTE[0] for small in rows["small"]]
    interval = _INTERVALS[column]
    low = (rows[column] - rows[f"{interval}_low"]).fill_null(0).to_list()
    high = (rows[f"{interval}_high"] - rows[column]).fill_null(0).to_list()
    error = dict(type="data", symmetric=False, array=high, arrayminus=low, color="#1B2733", thickness=1.5)
    fig = go.Figure(go.Bar(
        y=names, x=rows[column].to_list(), orientation="h", marker_color=colours, error_x=error,
        customdata=rows.select("customers", "small").rows(),
        hovertemplate="%{y}: %{x:,.2f} per customer<br>%{customdata[0]:,} customers<extra></extra>"))
    average = overall.get(column)
    if average:
        fig.add_vline(x=average, line=dict(color=PALETTE[1], dash="dash", width=2))
        fig.add_annotation(x=average, y=1.0, yref="paper", yanchor="bottom", xanchor="left", showarrow=False,
                           text=f"average {style.money(average, 2)}", font=dict(color=PALETTE[1], size=13))
    fig.update_yaxes(autorange="reversed", type="category")
    money_axis(fig, "x", title_text=MEASURE_LABELS[column], rangemode="tozero")
    title = f"Value per customer by {DIMENSIONS.get(dimension, dimension).lower()} ({phrase}); grey = small group"
    return styled(fig, title, height=max(360, 120 + 30 * rows.height))


def repeat_figure(table: pl.DataFrame, dimension: str) -> go.Figure:
    """Repeat rate within 90 / 180 / 365 days per group (the same groups as :func:`driver_figure`)."""
    rows = table.head(MAX_BARS)
    names = safe_labels(rows["name"])
    fig = go.Figure()
    for index, days in enumerate(REPEAT_WINDOWS):
        fig.add_trace(go.Bar(
            x=names, y=rows[f"repeat_rate_{days}"].to_list(), name=f"within {days} days",
            marker_color=PALETTE[index], customdata=rows[f"observed_{days}"].to_list(),
            hovertemplate=f"%{{x}}: %{{y:.1%}} ordered again within {days} days"
                          "<br>(of %{customdata:,} customers observed that long)<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", title_text=None)
    fig.update_yaxes(title_text="Share who ordered again", tickformat=".0%", rangemode="tozero")
    return styled(fig, f"Repeat rate by {DIMENSIONS.get(dimension, dimension).lower()}")


def products_figure(table: pl.DataFrame, by: str, noun: str) -> go.Figure:
    """Top products by revenue or by customers (horizontal bars, best on top)."""
    label = "Revenue" if by == "revenue" else "Customers"
    fig = go.Figure(go.Bar(
        y=safe_labels(table["name"]), x=table[by].to_list(), orientation="h", marker_color=PALETTE[0],
        customdata=table.select("customers", "revenue", "repeat_rate").rows(),
        hovertemplate="%{y}<br>%{customdata[1]:,.2f} revenue, %{customdata[0]:,} customers"
                      "<br>%{customdata[2]:.0%} ordered again later<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    if by == "revenue":
        money_axis(fig, "x", title_text=label)
    else:
        count_axis(fig, "x", largest(table[by]), title_text=label)
    return styled(fig, f"Top {noun} by {label.lower()}", height=max(360, 120 + 30 * table.height))


def journey_figure(flows: pl.DataFrame, noun: str) -> go.Figure:
    """Sankey of customers from their first order's product (left) to their second order's (right).

    A product has one colour on both sides; "Other" and "No second order yet" are grey and at the bottom.
    """
    def by_size(column: str) -> list[str]:
        totals = flows.group_by(column).agg(pl.col("customers").sum())
        totals = totals.with_columns(pl.col(column).is_in([OTHER, NO_SECOND]).alias("_last"))
        return totals.sort(["_last", "customers", column], descending=[False, True, False])[column].to_list()

    sources, targets = by_size("from_item"), by_size("to_item")
    named = [name for name in dict.fromkeys(sources + targets) if name not in (OTHER, NO_SECOND)]
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(named)} | {OTHER: NEUTRAL, NO_SECOND: NEUTRAL}
    labels = [f"{name} (1st)" for name in safe_labels(sources)] + [
        name if raw == NO_SECOND else f"{name} (2nd)" for raw, name in zip(targets, safe_labels(targets))]
    colours = [colour[name] for name in sources + targets]
    source = [sources.index(name) for name in flows["from_item"]]
    target = [len(sources) + targets.index(name) for name in flows["to_item"]]
    fig = go.Figure(go.Sankey(
        node=dict(label=labels, color=colours, pad=14, thickness=16,
                  hovertemplate="%{label}: %{value:,} customers<extra></extra>"),
        link=dict(source=source, target=target, value=flows["customers"].to_list(),
                  color=[_transparent(colours[s]) for s in source],
                  hovertemplate="%{source.label} → %{target.label}: %{value:,} customers<extra></extra>"),
    ))
    return styled(fig, f"From the first to the second order: {noun}", height=560)


def _transparent(hex_colour: str, alpha: float = 0.35) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def timing_figure(buckets: pl.DataFrame, style: NumberStyle = PLAIN) -> go.Figure:
    """Customers by time from first to second order (last bar: not yet)."""
    colours = [PALETTE[0]] * (buckets.height - 1) + [NEUTRAL]
    fig = go.Figure(go.Bar(
        x=buckets["bucket"].to_list(), y=buckets["customers"].to_list(), marker_color=colours,
        text=[style.share(share, 0) for share in buckets["share"]], textposition="auto",
        hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
    fig.update_xaxes(type="category", title_text="Time from first to second order")
    count_axis(fig, "y", largest(buckets["customers"]), title_text="Customers")
    return styled(fig, "Time to the second order")


def refund_figure(table: pl.DataFrame, label_column: str, title: str) -> go.Figure:
    """Refund rate (returned / sold) per product or segment, highest first."""
    rows = table.filter(pl.col("refund_rate").is_not_null()).sort("refund_rate", descending=True).head(MAX_BARS)
    fig = go.Figure(go.Bar(
        y=safe_labels(rows[label_column]), x=rows["refund_rate"].to_list(), orientation="h", marker_color=PALETTE[3],
        customdata=rows.select("returned", "sold").rows(),
        hovertemplate="%{y}: %{x:.1%} refunded<br>%{customdata[0]:,.2f} of %{customdata[1]:,.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title_text="Share of the sold amount returned", tickformat=".0%", rangemode="tozero")
    return styled(fig, title, height=max(320, 120 + 28 * rows.height))


def offer_figure(comparison: pl.DataFrame) -> go.Figure:
    """Customers acquired with and without a code: repeat within a year and revenue per customer."""
    from plotly.subplots import make_subplots

    names = safe_labels(comparison["name"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Ordered again within a year", "Revenue per customer to date"))
    fig.add_trace(go.Bar(x=names, y=comparison["repeat_rate_365"].to_list(), marker_color=PALETTE[2], showlegend=False,
                         hovertemplate="%{x}: %{y:.1%}<extra></extra>"), row=1, col=1)
    error = dict(type="data", symmetric=False,
                 array=(comparison["revenue_high"] - comparison["revenue_per_customer"]).fill_null(0).to_list(),
                 arrayminus=(comparison["revenue_per_customer"] - comparison["revenue_low"]).fill_null(0).to_list())
    fig.add_trace(go.Bar(x=names, y=comparison["revenue_per_customer"].to_list(), marker_color=PALETTE[0],
                         error_y=error, showlegend=False, hovertemplate="%{x}: %{y:,.2f}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=1)
    money_axis(fig, "y2", rangemode="tozero")
    fig.update_xaxes(type="category")
    return styled(fig, "Customers acquired with a discount code against without")


def depth_figure(table: pl.DataFrame) -> go.Figure:
    """Customers by first-order discount depth (in band order): repeat within a year, and revenue per
    customer after the first order with its interval; small bands grey."""
    from plotly.subplots import make_subplots

    names = safe_labels(table["name"])
    colours = [NEUTRAL if small else PALETTE[2] for small in table["small"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Ordered again within a year",
                                                        "Revenue per customer after the first order"))
    fig.add_trace(go.Bar(x=names, y=table["repeat_rate_365"].to_list(), marker_color=colours, showlegend=False,
                         customdata=table["observed_365"].to_list(),
                         hovertemplate="%{x}: %{y:.1%}<br>(of %{customdata:,} customers observed a year)"
                                       "<extra></extra>"), row=1, col=1)
    mean = table["after_first_per_customer"]
    error = dict(type="data", symmetric=False, array=(table["after_first_high"] - mean).fill_null(0).to_list(),
                 arrayminus=(mean - table["after_first_low"]).fill_null(0).to_list(), color="#1B2733", thickness=1.5)
    fig.add_trace(go.Bar(x=names, y=mean.to_list(), marker_color=[NEUTRAL if small else PALETTE[0]
                                                                   for small in table["small"]],
                         error_y=error, showlegend=False, customdata=table["customers"].to_list(),
                         hovertemplate="%{x}: %{y:,.2f} per customer<br>%{customdata:,} customers<extra></extra>"),
                  row=1, col=2)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(tickformat=",.0f", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(type="category", title_text="Discount on the first order")
    return styled(fig, "What customers did after a first-order discount, by its depth; grey = small group")
