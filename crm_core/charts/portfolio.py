"""Portfolio figures: Pareto and Lorenz curves, pyramid, tier trend, migration Sankey, significance matrix.

Builders take the frames computed in :mod:`crm_core.portfolio` and only draw.
Tier names and customer ids are user text: they pass through
:func:`~crm_core.charts.text.safe_label` so Plotly never reads them as markup.
"""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from crm_core.charts.text import safe_label, safe_labels
from crm_core.charts.theme import NEUTRAL, PALETTE, count_axis, largest, money_axis, styled
from crm_core.portfolio import LOST, NEW, QUADRANT_ORDER, Concentration, Significance, period_label
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C

QUADRANT_COLOURS = dict(zip(QUADRANT_ORDER, (PALETTE[2], PALETTE[1], NEUTRAL, PALETTE[3])))
_EQUAL = dict(color=NEUTRAL, dash="dot", width=2)
#: Legends inside the plot: half-width charts have no room above for a wrapped legend.
_INSIDE_BOTTOM_RIGHT = dict(orientation="v", x=0.98, xanchor="right", y=0.04, yanchor="bottom", bgcolor="rgba(255,255,255,0.8)")
_INSIDE_TOP_LEFT = dict(orientation="v", x=0.02, xanchor="left", y=0.98, yanchor="top", bgcolor="rgba(255,255,255,0.8)")


def tier_colour(index: int) -> str:
    """Colour of tier ``index`` (0 = best): palette order, so every chart agrees."""
    return PALETTE[index % len(PALETTE)]


def pareto_figure(curve: pl.DataFrame, figures: Concentration, style: NumberStyle = PLAIN) -> go.Figure:
    """Cumulative share of revenue against share of customers (best first), 80/20 points marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=curve["customer_share"].to_list(), y=curve["revenue_share"].to_list(), mode="lines",
        line=dict(color=PALETTE[0], width=4), name="Your customers",
        hovertemplate="Top %{x:.1%} of customers<br>bring %{y:.1%} of revenue<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_EQUAL,
                             name="If every customer spent the same", hoverinfo="skip"))
    marks_x, marks_y = [], []
    if figures.top20_share is not None:
        marks_x.append(0.2), marks_y.append(figures.top20_share)
        fig.add_annotation(x=0.2, y=figures.top20_share, text=f"top {style.share(0.2, 0)} → {style.share(figures.top20_share, 0)}",
                           ax=30, ay=45, xanchor="left", showarrow=True, arrowcolor=NEUTRAL)
    if figures.customer_share_for_80 is not None:
        marks_x.append(figures.customer_share_for_80), marks_y.append(0.8)
        fig.add_annotation(x=figures.customer_share_for_80, y=0.8,
                           text=f"{style.share(figures.customer_share_for_80, 0)} → {style.share(0.8, 0)}",
                           ax=40, ay=12, xanchor="left", showarrow=True, arrowcolor=NEUTRAL)
    fig.add_trace(go.Scatter(x=marks_x, y=marks_y, mode="markers", marker=dict(size=13, color=PALETTE[1]),
                             name="80/20 points", hoverinfo="skip"))
    fig.update_layout(legend=_INSIDE_BOTTOM_RIGHT)
    fig.update_xaxes(title_text="Share of customers (best first)", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text="Share of revenue", tickformat=".0%", rangemode="tozero")
    return styled(fig, "Pareto curve: who brings the revenue")


def lorenz_figure(curve: pl.DataFrame, figures: Concentration, style: NumberStyle = PLAIN) -> go.Figure:
    """Lorenz curve (smallest customers first) with the equality line; the gap is the Gini."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=_EQUAL,
                             name="Perfect equality", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=curve["customer_share"].to_list(), y=curve["revenue_share"].to_list(), mode="lines",
        line=dict(color=PALETTE[3], width=4), fill="tonexty", fillcolor="rgba(213,94,0,0.12)",
        name=f"Your customers (Gini {style.number(figures.gini, 2)})" if figures.gini is not None else "Your customers",
        hovertemplate="Smallest %{x:.1%} of customers<br>bring %{y:.1%} of revenue<extra></extra>",
    ))
    fig.update_layout(legend=_INSIDE_TOP_LEFT)
    fig.update_xaxes(title_text="Share of customers (smallest first)", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text="Share of revenue", tickformat=".0%", range=[0, 1.02])
    return styled(fig, "Lorenz curve: how unequal spend is")


def pyramid_figure(table: pl.DataFrame, style: NumberStyle = PLAIN) -> go.Figure:
    """Customers and revenue per tier, best tier on top (the customer pyramid)."""
    tiers = safe_labels(table["tier"])
    colours = [tier_colour(i) for i in range(len(tiers))]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("Customers", "Revenue"))
    fig.add_trace(go.Bar(
        y=tiers, x=table["customers"].to_list(), orientation="h", marker_color=colours, showlegend=False,
        text=[f"{style.count(c)} ({style.share(s)})" if s is not None else style.count(c)
              for c, s in zip(table["customers"], table["customer_share"])],
        textposition="auto", hovertemplate="%{y}: %{x:,} customers<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(
        y=tiers, x=table["revenue"].to_list(), orientation="h", marker_color=colours, showlegend=False,
        text=[style.share(s, 0) if s is not None else "" for s in table["revenue_share"]],
        textposition="auto", hovertemplate="%{y}: %{x:,.0f} revenue<extra></extra>"), row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    count_axis(fig, "x", largest(table["customers"]))
    money_axis(fig, "x2", rangemode="tozero")
    return styled(fig, "Customer pyramid: customers and revenue per tier")


def tier_trend_figure(trend: pl.DataFrame, grain: str) -> go.Figure:
    """Stacked revenue per period and tier."""
    fig = go.Figure()
    tiers = trend.select("tier_index", "tier").unique().sort("tier_index")
    for index, tier in tiers.iter_rows():
        rows = trend.filter(pl.col("tier_index") == index)
        fig.add_trace(go.Bar(
            x=[period_label(day, grain) for day in rows["period"]], y=rows["revenue"].to_list(), name=safe_label(tier),
            marker_color=tier_colour(index), customdata=rows["revenue_share"].to_list(),
            hovertemplate="%{fullData.name}<br>%{x}: %{y:,.0f} (%{customdata:.0%} of revenue)<extra></extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(title_text=None, type="category")
    money_axis(fig, "y", title_text="Revenue")
    return styled(fig, f"Revenue by tier per {grain}")


def migration_figure(flows: pl.DataFrame, names: tuple[str, ...]) -> go.Figure:
    """Sankey of customers from earlier tiers (and New) to later tiers (and Lost).

    Nodes are placed by hand, best tier on top and New / Lost at the bottom,
    with a fixed gap so the labels of small tiers do not overlap.
    """
    left, right = [*names, NEW], [*names, LOST]
    labels = [f"{safe_label(name)} (earlier)" for name in names] + [f"{NEW}: bought only later"] + \
             [f"{safe_label(name)} (later)" for name in names] + [f"{LOST}: bought only earlier"]
    colours = [tier_colour(i) for i in range(len(names))] + [NEUTRAL] + \
              [tier_colour(i) for i in range(len(names))] + [NEUTRAL]
    source = [left.index(name) for name in flows["from_tier"]]
    target = [len(left) + right.index(name) for name in flows["to_tier"]]
    values = flows["customers"].to_list()
    link_colours = [_transparent(colours[s]) for s in source]
    y = _stacked_centres([sum(v for s, v in zip(source, values) if s == i) for i in range(len(left))]) + \
        _stacked_centres([sum(v for t, v in zip(target, values) if t == len(left) + i) for i in range(len(right))])
    fig = go.Figure(go.Sankey(
        arrangement="fixed",
        node=dict(label=labels, color=colours, pad=18, thickness=18,
                  x=[0.001] * len(left) + [0.999] * len(right), y=y,
                  hovertemplate="%{label}: %{value:,} customers<extra></extra>"),
        link=dict(source=source, target=target, value=values, color=link_colours,
                  hovertemplate="%{source.label} → %{target.label}: %{value:,} customers<extra></extra>"),
    ))
    return styled(fig, "Tier migration between the two periods", height=520)


def _stacked_centres(sizes: list[float], gap: float = 0.06) -> list[float]:
    """Vertical centres (0 = top) of nodes stacked in order, each as tall as its share, ``gap`` apart."""
    total = sum(sizes) or 1.0
    usable = 1.0 - gap * (len(sizes) - 1)
    centres, top = [], 0.0
    for size in sizes:
        height = usable * size / total
        centres.append(min(max(top + height / 2, 0.001), 0.999))
        top += height + gap
    return centres


def _transparent(hex_colour: str, alpha: float = 0.35) -> str:
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def significance_figure(points: pl.DataFrame, matrix: Significance, style: NumberStyle = PLAIN) -> go.Figure:
    """Value against cost to serve, one colour per quadrant, with the quadrant lines.

    When value is skewed (the largest is over 50 times the line) the value axis
    is logarithmic from 1; customers with a value below 1 (including zero and
    negative) are left out and the chart says how many.
    """
    fig = go.Figure()
    value_title = "Margin" if matrix.value == "margin" else "Revenue"
    top = largest(points[matrix.value])
    log_axis = matrix.value_split > 0 and top is not None and top > 50 * matrix.value_split
    if log_axis:
        hidden = points.filter(pl.col(matrix.value) < 1).height
        points = points.filter(pl.col(matrix.value) >= 1)
    for quadrant in QUADRANT_ORDER:
        rows = points.filter(pl.col("quadrant") == quadrant)
        fig.add_trace(go.Scattergl(
            x=rows["cost_to_serve"].to_list(), y=rows[matrix.value].to_list(), mode="markers", name=quadrant,
            marker=dict(color=QUADRANT_COLOURS[quadrant], size=7, opacity=0.7),
            text=safe_labels(rows[C.CUSTOMER_ID]),
            hovertemplate=f"%{{text}}<br>{value_title}: %{{y:,.0f}}<br>Cost to serve: %{{x:,.2f}}<extra>{quadrant}</extra>"))
    fig.add_hline(y=matrix.value_split, line=dict(color=NEUTRAL, dash="dash", width=2))
    fig.add_vline(x=matrix.cost_split, line=dict(color=NEUTRAL, dash="dash", width=2))
    if matrix.basis.kind == "cost":
        money_axis(fig, "x", ",.2~f", title_text=matrix.basis.axis_title)  # cents only where ticks need them
    else:
        fig.update_xaxes(title_text=matrix.basis.axis_title)
    money_axis(fig, "y", title_text=f"{value_title} in the period" + (" (log scale)" if log_axis else ""),
               type="log" if log_axis else "linear")
    if log_axis and hidden:
        fig.add_annotation(text=f"{style.count(hidden)} customer{'s' if hidden != 1 else ''} with {matrix.value} below 1 (zero or negative included) are not drawn on the log scale",
                           xref="paper", yref="paper", x=0, y=-0.22, showarrow=False, xanchor="left",
                           font=dict(size=13, color=NEUTRAL))
    fig.update_layout(legend=dict(y=1.0, yanchor="bottom"), margin=dict(t=110))
    return styled(fig, "Strategic significance: value against cost to serve", height=540)
