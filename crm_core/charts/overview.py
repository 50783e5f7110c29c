"""Overview figures: the KPI trend."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from crm_core import format as fmt
from crm_core.charts.theme import PALETTE, count_axis, fixed_margins, largest, money_axis, styled
from crm_core.kpis import KPI_BY_KEY

_TICK_FORMAT = {"share": ".0%", "ratio": ",.2f"}  # money and count axes: crm_core.charts.theme
_HOVER_FORMAT = {"money": ",.2f", "count": ",.0f", "share": ".1%", "ratio": ",.2f"}


def kpi_trend_figure(trend: pl.DataFrame, kpi: str, grain: str) -> go.Figure:
    """Bars (or a line for ratios) of one KPI per day/week/month."""
    definition = KPI_BY_KEY[kpi]
    x, y = trend["period"].to_list(), trend[kpi].to_list()
    if definition.kind in ("money", "count"):
        trace = go.Bar(x=x, y=y, marker_color=PALETTE[0], name=definition.label)
    else:
        trace = go.Scatter(x=x, y=y, mode="lines+markers", line=dict(color=PALETTE[0], width=3), name=definition.label)
    trace.update(hovertemplate=f"%{{x|%d %b %Y}}<br>{definition.label}: %{{y:{_HOVER_FORMAT[definition.kind]}}}<extra></extra>")
    if grain == "month":  # one labelled tick per month, bars centred on their month
        trace.update(xperiod="M1", xperiodalignment="middle")
    fig = go.Figure(trace)
    if grain == "month":
        fig.update_xaxes(tickformat="%b %Y", dtick="M1" if len(x) <= 18 else "M3")
    if definition.kind == "money":
        money_axis(fig, "y", title_text=definition.label, rangemode="tozero")
    elif definition.kind == "count":
        count_axis(fig, "y", largest(y), title_text=definition.label)
    else:
        fig.update_yaxes(tickformat=_TICK_FORMAT[definition.kind], title_text=definition.label, rangemode="tozero")
    fig.update_xaxes(title_text=None)
    fig = styled(fig, f"{definition.label} per {grain}")
    fixed_margins(fig, _tick_chars(y, definition.kind))
    return fig


def _tick_chars(values: list, kind: str) -> int:
    """Characters of the longest y tick label (the currency is added by ``theme.with_currency``): the top tick
    can pass the largest value by a step."""
    top = max((abs(float(v)) for v in values if isinstance(v, (int, float)) and v == v), default=0.0) * 1.15
    if kind == "share":
        return len(fmt.share(top, 0))
    if kind == "ratio":
        return len(fmt.number(top, 2))
    return len(fmt.number(top)) + 1  # +1: a minus sign (net revenue of a month of refunds)
