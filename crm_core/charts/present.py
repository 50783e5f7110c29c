"""Figures for meeting mode, the report and the scorecard.

Each builder takes small, already-aggregated frames (computed in
:mod:`crm_core.findings` / :mod:`crm_core.scorecard`) and returns a styled
figure. :func:`themed` switches any figure (ours or another module's) to the
dark template; :func:`enlarged` makes it projector-sized. Group, status, model
and step names, and titles, pass through :func:`~crm_core.charts.text.safe_label`.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl

from crm_core.charts.margins import label_width
from crm_core.charts.text import safe_label, safe_labels, safe_wrapped
from crm_core.charts.theme import (
    DARK_TEMPLATE_NAME,
    NEGATIVE,
    NEUTRAL,
    PALETTE,
    POSITIVE,
    TEMPLATE_NAME,
    count_axis,
    largest,
    money_axis,
    styled,
)

#: Most points drawn for a curve over customers (the shape needs no more).
MAX_CURVE_POINTS = 201


def themed(fig: go.Figure, dark: bool) -> go.Figure:
    """Switch ``fig`` to the dark (or back to the light) template; returns it.

    Legends given a light background box (inside the plot) get a dark one.
    """
    fig.update_layout(template=DARK_TEMPLATE_NAME if dark else TEMPLATE_NAME)
    if dark and fig.layout.legend.bgcolor is not None:
        fig.update_layout(legend_bgcolor="rgba(14,17,23,0.8)")
    return fig


def enlarged(fig: go.Figure, height: int = 470) -> go.Figure:
    """Bigger type for a projector (meeting mode); the height leaves room for headline and buttons."""
    fig.update_layout(height=height, font_size=19, title_font_size=24, legend_font_size=17)
    fig.update_xaxes(tickfont_size=17, title_font_size=19)
    fig.update_yaxes(tickfont_size=17, title_font_size=19)
    fig.update_annotations(font_size=18)
    return fig


def share_bars_figure(table: pl.DataFrame, group: str, title: str) -> go.Figure:
    """Side-by-side bars: each group's share of customers and share of revenue."""
    groups = safe_labels(table[group])
    fig = go.Figure([
        go.Bar(x=groups, y=table["customer_share"].to_list(), name="Share of customers", marker_color=PALETTE[5],
               hovertemplate="%{x}: %{y:.1%} of customers<extra></extra>"),
        go.Bar(x=groups, y=table["revenue_share"].to_list(), name="Share of revenue", marker_color=PALETTE[0],
               hovertemplate="%{x}: %{y:.1%} of revenue<extra></extra>"),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", title_text=None, rangemode="tozero")
    fig.update_xaxes(title_text=None, type="category")
    return styled(fig, title)


def value_bars_figure(table: pl.DataFrame, label: str, value: str, title: str, value_title: str) -> go.Figure:
    """One bar per row of ``table``: ``value`` by ``label`` (money, e.g. value per decile)."""
    fig = go.Figure(go.Bar(
        x=safe_labels(table[label]), y=table[value].to_list(), marker_color=PALETTE[2],
        hovertemplate="%{x}: %{y:,.2f}<extra></extra>",
    ))
    money_axis(fig, "y", title_text=safe_label(value_title), rangemode="tozero")
    fig.update_xaxes(title_text=None, type="category")
    return styled(fig, title)


def status_bars_figure(table: pl.DataFrame, title: str, y_title: str) -> go.Figure:
    """Customers per status, best status first, coloured green / orange / vermillion by urgency.

    ``table`` has columns status, customers and revenue (to date, shown on hover).
    """
    colours = [POSITIVE, PALETTE[1], NEGATIVE]
    statuses = safe_labels(table["status"])
    fig = go.Figure(go.Bar(
        x=statuses, y=table["customers"].to_list(),
        marker_color=[colours[i] if i < len(colours) else NEUTRAL for i in range(len(statuses))],
        customdata=table["revenue"].to_list(),
        hovertemplate="%{x}: %{y:,} customers<br>revenue to date %{customdata:,.0f}<extra></extra>",
    ))
    count_axis(fig, "y", largest(table["customers"]), title_text=safe_label(y_title))
    fig.update_xaxes(title_text=None, type="category")
    return styled(fig, title)


#: Characters per line of a step name around the radar, and of its title: a half-width column at 1366 px is ~420 px
#: wide, and longer lines ran past the figure's edge ("stomer processes", "Recognising each custome", "(Buttle valu").
RADAR_STEP_CHARS = 12
RADAR_TITLE_CHARS = 34
#: Height (px) of a line of a step name around the radar (12 px text).
RADAR_LINE_PX = 15


def _between_spokes(spokes: int) -> float:
    """The angle (degrees, 0 = 3 o'clock) halfway between the two spokes at or after 12 o'clock: Plotly draws the
    first step at 3 o'clock and the others counter-clockwise, 360 / ``spokes`` degrees apart."""
    step = 360 / spokes
    before_top = math.floor(90 / step) * step  # the last spoke at or before 12 o'clock
    return before_top + step / 2


def radar_figure(scores: pl.DataFrame, title: str) -> go.Figure:
    """Scatterpolar of step scores (0-100), one closed polygon per model.

    ``scores`` has columns ``model``, ``step`` and ``score`` (null = not assessed,
    drawn as 0 so the polygon stays closed).
    """
    fig = go.Figure()
    for index, model in enumerate(scores["model"].unique(maintain_order=True).to_list()):
        rows = scores.filter(pl.col("model") == model)
        steps = [safe_wrapped(step, RADAR_STEP_CHARS) for step in rows["step"].cast(pl.String).to_list()]
        values = rows["score"].fill_null(0).to_list()
        fig.add_trace(go.Scatterpolar(
            r=values + values[:1], theta=steps + steps[:1], name=safe_label(model), fill="toself", opacity=0.75,
            line=dict(color=PALETTE[index % len(PALETTE)], width=3),
            hovertemplate="%{theta}: %{r:.0f} / 100<extra>%{fullData.name}</extra>",
        ))
    spokes = max(scores["step"].n_unique(), 1)
    fig.update_layout(
        # The scale's labels (25...100) level, on a line halfway between two spokes near 12 o'clock: on a spoke
        # they sat on the polygon's corners and touched the step name at its end
        # (Plotly turns a radial axis' labels by its angle: the same angle again sets them level.)
        polar=dict(radialaxis=dict(range=[0, 100], tickvals=[25, 50, 75, 100], angle=_between_spokes(spokes),
                                   tickangle=_between_spokes(spokes), tickfont_size=10, showline=False),
                   angularaxis=dict(tickfont_size=12)),
        showlegend=len(fig.data) > 1,
    )
    heading = safe_wrapped(title, RADAR_TITLE_CHARS)
    names = [line for trace in fig.data for step in trace.theta for line in str(step).split("<br>")]
    beside = max((label_width(line)[0] * 12 / 13 for line in names), default=0.0)  # the 12 px step names
    side = max(100, math.ceil(beside) + 20)  # names at 3 and 9 o'clock reach this far from the circle
    # A name at 6 o'clock hangs below the circle, a line (15 px) each: in a wide chart (a half column at 1920 px)
    # the circle fills the height and 'and win-back' / 'against targets' were cut at the bottom.
    lines = max((str(step).count("<br>") + 1 for trace in fig.data for step in trace.theta), default=1)
    bottom = max(40, RADAR_LINE_PX * lines + 16)
    styled(fig, None, height=420 + bottom)
    fig.update_layout(title_text=heading, margin=dict(l=side, r=side, t=70 + 26 * heading.count("<br>"), b=bottom))
    return fig


def ranked_bars_figure(table: pl.DataFrame, label: str, value: str, title: str, value_title: str) -> go.Figure:
    """Horizontal bars, largest on top: ``value`` per ``label`` (e.g. customers per playbook objective)."""
    fig = go.Figure(go.Bar(
        y=safe_labels(table[label]), x=table[value].to_list(), orientation="h",
        marker_color=PALETTE[0], hovertemplate="%{y}: %{x:,}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title_text=None, type="category")
    count_axis(fig, "x", largest(table[value]), title_text=safe_label(value_title))
    return styled(fig, title)
