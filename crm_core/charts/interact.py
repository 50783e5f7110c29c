"""Figures of the Interact & customize pages: customer timeline, service quality, campaign what-if."""
from __future__ import annotations

import datetime as dt
import math

import plotly.graph_objects as go
import polars as pl

from crm_core.actions import CampaignResult
from crm_core.charts.text import safe_labels
from crm_core.charts.theme import NEGATIVE, NEUTRAL, PALETTE, POSITIVE, count_axis, largest, money_axis, styled
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C


def purchase_timeline_figure(timeline: pl.DataFrame) -> go.Figure:
    """Revenue per purchase day (returns below zero) with the running total.

    The date axis spans at least two months and bars are at least a day wide,
    so a customer with one or two purchase days does not get an axis in
    milliseconds and a bar filling the chart.
    """
    dates = timeline[C.ORDER_DATE].to_list()
    amounts = timeline["amount"].to_list()
    colors = [PALETTE[0] if amount >= 0 else NEGATIVE for amount in amounts]
    first, last = (min(dates), max(dates)) if dates else (None, None)
    span_days = (last - first).days if dates else 0
    bar_days = max(1.0, span_days / 150)  # about 150 bar widths across the span
    fig = go.Figure(
        [
            go.Bar(x=dates, y=amounts, marker_color=colors, name="Revenue that day (net of returns)",
                   width=[bar_days * _DAY_MS] * len(dates),
                   hovertemplate="%{x|%d %b %Y}<br>Revenue: %{y:,.2f}<extra></extra>"),
            go.Scatter(x=dates, y=timeline["amount"].cum_sum().to_list(), mode="lines+markers", yaxis="y2",
                       line=dict(color=PALETTE[1], width=2, shape="hv"), name="Running total",
                       hovertemplate="%{x|%d %b %Y}<br>Running total: %{y:,.2f}<extra></extra>"),
        ]
    )
    money_axis(fig, "y2", overlaying="y", side="right", showgrid=False, rangemode="tozero", tickmode="auto",
               title_text="Running total")
    money_axis(fig, "y", title_text="Revenue")
    _align_zeros(fig, amounts, timeline["amount"].cum_sum().to_list())
    if dates:
        padding = dt.timedelta(days=max(30 - span_days // 2, 0) + max(bar_days, span_days / 40))
        fig.update_xaxes(range=[first - padding, last + padding], type="date")
    return styled(fig, "Purchases over time", height=360)


_DAY_MS = 86_400_000


def _align_zeros(fig: go.Figure, amounts: list, running: list) -> None:
    """With returns below zero, the running total's zero at the same height as the bars' zero.

    Left to Plotly, the right axis started at the plot's bottom while the bars' zero sat higher: the running total
    seemed to start below zero. Its ticks stay at zero and above.
    """
    low, high = min(amounts, default=0.0), max(amounts, default=0.0)
    top = max(running, default=0.0)
    if low >= 0 or high <= 0 or min(running, default=0.0) < 0 or top <= 0:
        return
    bottom, ceiling = low * 1.1, high * 1.1
    right_top = top * 1.08
    right_bottom = right_top * bottom / ceiling  # the same share of the height below zero on both axes
    step = _round_step(right_top / 5)
    fig.update_layout(yaxis=dict(range=[bottom, ceiling], autorange=False),
                      yaxis2=dict(range=[right_bottom, right_top], autorange=False, rangemode="normal",
                                  tickmode="array", tickvals=[step * i for i in range(int(right_top // step) + 1)]))


def _round_step(rough: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``rough``."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(power * factor for factor in (1, 2, 5, 10) if power * factor >= rough)


def csat_figure(table: pl.DataFrame, column: str, label: str, style: NumberStyle = PLAIN) -> go.Figure:
    """Horizontal bars of mean CSAT per group (worst at the top), contacts in the hover."""
    table = table.filter(pl.col("csat_mean").is_not_null())
    fig = go.Figure(
        go.Bar(
            x=table["csat_mean"].to_list(),
            y=safe_labels(table[column]),
            orientation="h",
            marker_color=PALETTE[0],
            text=[style.number(value, 2) for value in table["csat_mean"].to_list()],
            textposition="inside", insidetextanchor="end",
            customdata=table.select("contacts", "complaint_share").rows(),
            hovertemplate="%{y}<br>CSAT %{x:.2f}<br>%{customdata[0]:,} contacts<br>"
            "%{customdata[1]:.1%} complaints<extra></extra>",
        )
    )
    fig.update_xaxes(range=[1, 5], title_text="Mean satisfaction (1-5)")
    fig.update_yaxes(autorange="reversed", title_text=None)
    return styled(fig, f"Satisfaction by {label}", height=max(300, 60 + 34 * table.height))


def contacts_distribution_figure(table: pl.DataFrame) -> go.Figure:
    """Share of buyers by number of support contacts."""
    fig = go.Figure(
        go.Bar(
            x=table["contacts"].to_list(), y=table["share"].to_list(), marker_color=PALETTE[0],
            customdata=table["customers"].to_list(),
            hovertemplate="%{x} contacts<br>%{y:.1%} of buyers (%{customdata:,})<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="Support contacts in the period", type="category")
    fig.update_yaxes(title_text="Share of buyers", tickformat=".0%", rangemode="tozero")
    return styled(fig, "Contacts per customer", height=360)


_SYMBOLS = ("circle", "diamond", "square", "triangle-up")


def cost_to_serve_figure(table: pl.DataFrame, column: str, label: str) -> go.Figure:
    """One bubble per group (sized by customers): revenue per customer against cost-to-serve per customer."""
    largest = max(table["customers"].max() or 1, 1)
    traces = [
        go.Scatter(
            x=[row["revenue_per_customer"]],
            y=[row["cost_per_customer"]],
            mode="markers",
            name=name,
            marker=dict(
                size=[row["customers"]], sizemode="area", sizeref=2.0 * largest / 48**2, sizemin=7,
                color=PALETTE[index % len(PALETTE)], symbol=_SYMBOLS[index // len(PALETTE) % len(_SYMBOLS)],
                opacity=0.8, line=dict(width=1, color="white"),
            ),
            customdata=[[row["customers"], row["cost_share"]]],
            hovertemplate=f"{name}<br>Revenue per customer %{{x:,.2f}}<br>Cost-to-serve per customer %{{y:,.2f}}"
            "<br>%{customdata[0]:,} customers<br>Cost = %{customdata[1]:.1%} of revenue<extra></extra>",
        )
        for index, (name, row) in enumerate(zip(safe_labels(table[column]), table.iter_rows(named=True)))
    ]
    fig = go.Figure(traces)
    x_log = _spread(table["revenue_per_customer"])
    y_log = _spread(table["cost_per_customer"])
    log = dict(type="log", dtick="D2")  # D2: label 1, 2, 5, 10, ... only
    money_axis(fig, "x", title_text="Revenue per customer" + (" (log scale)" if x_log else ""),
               **(log if x_log else dict(rangemode="tozero")))
    money_axis(fig, "y", ",.1~f" if y_log else ",.2~f",
               title_text="Cost-to-serve per customer" + (" (log scale)" if y_log else ""),
               **(log if y_log else dict(rangemode="tozero")))
    fig.update_layout(legend=dict(orientation="v", y=1, x=1.02, yanchor="top", xanchor="left"))
    return styled(fig, "Cost-to-serve against value")


def _spread(values: pl.Series) -> bool:
    """True when positive values span more than ten times (small groups then crowd a linear axis's corner)."""
    positive = values.drop_nulls().filter(values.drop_nulls() > 0)
    return positive.len() == values.len() and positive.len() > 1 and positive.max() > 10 * positive.min()


def complaints_figure(table: pl.DataFrame, column: str, label: str) -> go.Figure:
    """Complaints per 100 customers by group, most first."""
    fig = go.Figure(
        go.Bar(
            x=table["complaints_per_100"].to_list(), y=safe_labels(table[column]), orientation="h",
            marker_color=NEGATIVE, customdata=table.select("complaints", "customers").rows(),
            hovertemplate="%{y}<br>%{x:.1f} complaints per 100 customers"
            "<br>%{customdata[0]:,} complaints, %{customdata[1]:,} customers<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="Complaints per 100 customers", rangemode="tozero")
    fig.update_yaxes(autorange="reversed", title_text=None)
    return styled(fig, f"Who complains most, by {label}", height=max(300, 60 + 34 * table.height))


def satisfaction_trend_figure(trend: pl.DataFrame) -> go.Figure:
    """Monthly mean CSAT (line) over monthly contacts (bars)."""
    months = trend["month"].to_list()
    fig = go.Figure(
        [
            go.Bar(x=months, y=trend["contacts"].to_list(), marker_color=NEUTRAL, opacity=0.35, name="Contacts",
                   hovertemplate="%{x|%b %Y}<br>%{y:,} contacts<extra></extra>"),
            go.Scatter(x=months, y=trend["csat_mean"].to_list(), mode="lines+markers", yaxis="y2",
                       line=dict(color=PALETTE[0], width=3), name="Mean satisfaction (CSAT)",
                       hovertemplate="%{x|%b %Y}<br>CSAT %{y:.2f}<extra></extra>"),
        ]
    )
    fig.update_layout(yaxis2=dict(overlaying="y", side="right", range=[1, 5], tickmode="linear", dtick=1,
                                  showgrid=False, title_text="Satisfaction (1-5)"))
    count_axis(fig, "y", largest(trend["contacts"]), title_text="Contacts")
    return styled(fig, "Satisfaction per month", height=380)


def what_if_figure(result: CampaignResult) -> go.Figure:
    """Waterfall: incremental margin, minus contact cost, equals net profit."""
    fig = go.Figure(
        go.Waterfall(
            x=["Extra margin", "Contact cost", "Net profit"],
            y=[result.incremental_margin, -result.cost, 0],
            measure=["relative", "relative", "total"],
            increasing=dict(marker_color=POSITIVE),
            decreasing=dict(marker_color=NEGATIVE),
            totals=dict(marker_color=PALETTE[0]),
            hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
        )
    )
    money_axis(fig, "y", title_text=None)
    return styled(fig, "Campaign: extra margin against cost", height=360)
