"""The chart of every finding, by chart id: a Plotly figure and a native (office) chart.

A :class:`crm_core.findings.Finding` names its chart (``finding.chart``) and
carries the chart's data (``finding.data``); :func:`figure` draws it with
Plotly for the app and the report, :func:`native` gives the same numbers as a
:class:`crm_core.charts.native.NativeChart` for PowerPoint (None when
PowerPoint has no such chart: the Sankey of tier migration goes in as a
picture).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl

from crm_core.format import PLAIN, NumberStyle
from crm_core.charts.native import ChartKind, NativeChart, Series, column_chart

Data = dict[str, Any]


def _style(data: Data) -> NumberStyle:
    """The currency and locale a finding was written in (``data["style"]``), for the figures' own text."""
    return data.get("style", PLAIN)


@dataclass(frozen=True)
class ChartBuilder:
    """How one chart id is drawn: ``figure(data)`` and, when PowerPoint has the type, ``native(data)``."""

    figure: Callable[[Data], go.Figure]
    native: Callable[[Data], NativeChart] | None = None


def _kpi_trend(data: Data) -> go.Figure:
    from crm_core.charts.overview import kpi_trend_figure

    return kpi_trend_figure(data["trend"], data["kpi"], data["grain"])


def _kpi_trend_native(data: Data) -> NativeChart:
    from crm_core.kpis import KPI_BY_KEY

    definition, trend = KPI_BY_KEY[data["kpi"]], data["trend"]
    kind: ChartKind = "column" if definition.kind in ("money", "count") else "line"
    number_format = "0%" if definition.kind == "share" else "#,##0"
    return column_chart(f"{definition.label} per {data['grain']}", trend["period"].to_list(),
                        {definition.label: trend[data["kpi"]].to_list()}, kind, number_format, definition.label)


def _pareto(data: Data) -> go.Figure:
    from crm_core.charts.portfolio import pareto_figure

    return pareto_figure(data["curve"], data["figures"], style=_style(data))


def _pareto_native(data: Data) -> NativeChart:
    curve = data["curve"]
    return NativeChart("scatter_lines", "Pareto curve: who brings the revenue", (), (
        Series("Your customers", tuple(curve["revenue_share"].to_list()), tuple(curve["customer_share"].to_list())),
        Series("If every customer spent the same", (0.0, 1.0), (0.0, 1.0)),
    ), "0%", "Share of customers (best first)", "Share of revenue")


def _pyramid(data: Data) -> go.Figure:
    from crm_core.charts.portfolio import pyramid_figure

    return pyramid_figure(data["tiers"], style=_style(data))


def _pyramid_native(data: Data) -> NativeChart:
    tiers = data["tiers"]
    return column_chart("Revenue per tier", tiers["tier"].to_list(), {"Revenue": tiers["revenue"].to_list()}, "bar",
                        y_title="Revenue")


def _migration(data: Data) -> go.Figure:
    from crm_core.charts.portfolio import migration_figure

    return migration_figure(data["flows"], data["names"])


def _share_bars(data: Data) -> go.Figure:
    from crm_core.charts.present import share_bars_figure

    return share_bars_figure(data["table"], data["group"], data["title"])


def _share_bars_native(data: Data) -> NativeChart:
    table = data["table"]
    return column_chart(data["title"], table[data["group"]].to_list(), {
        "Share of customers": table["customer_share"].to_list(), "Share of revenue": table["revenue_share"].to_list(),
    }, "column", "0%")


def _value_bars(data: Data) -> go.Figure:
    from crm_core.charts.present import value_bars_figure

    return value_bars_figure(data["table"], data["label"], data["value"], data["title"], data["value_title"])


def _value_bars_native(data: Data) -> NativeChart:
    table = data["table"]
    return column_chart(data["title"], table[data["label"]].to_list(), {data["value_title"]: table[data["value"]].to_list()},
                        "column", y_title=data["value_title"])


def _status_bars(data: Data) -> go.Figure:
    from crm_core.charts.present import status_bars_figure

    return status_bars_figure(data["table"], data["title"], data["y_title"])


def _status_bars_native(data: Data) -> NativeChart:
    table = data["table"]
    return column_chart(data["title"], table["status"].to_list(), {data["y_title"]: table["customers"].to_list()},
                        "column", y_title=data["y_title"])


def _retention(data: Data) -> go.Figure:
    from crm_core.charts.lifetime import retention_curves_figure

    return retention_curves_figure(data["curves"], data["group_label"])


def _retention_native(data: Data) -> NativeChart:
    wide = (data["curves"].filter(pl.col("months_since") > 0)
            .pivot(on="group", index="months_since", values="retention").sort("months_since"))
    return column_chart(f"Retention by {data['group_label']}", [f"Month {m}" for m in wide["months_since"]],
                        {str(group): wide[group].to_list() for group in wide.columns[1:]}, "line", "0%",
                        "Customers buying")


def _ranked_bars(data: Data) -> go.Figure:
    from crm_core.charts.present import ranked_bars_figure

    return ranked_bars_figure(data["table"], data["label"], data["value"], data["title"], data["value_title"])


def _ranked_bars_native(data: Data) -> NativeChart:
    table = data["table"]
    return column_chart(data["title"], table[data["label"]].to_list(), {data["value_title"]: table[data["value"]].to_list()},
                        "bar", y_title=data["value_title"])


def _driver_bars(data: Data) -> go.Figure:
    from crm_core.charts.drivers import driver_figure

    return driver_figure(data["table"], data["dimension"], data["overall"], style=_style(data))


def _driver_bars_native(data: Data) -> NativeChart:
    from crm_core.charts.drivers import MAX_BARS
    from crm_core.drivers import DIMENSIONS, MEASURE_LABELS, ranking_measure

    column, _ = ranking_measure(data["overall"])
    table = data["table"].filter(pl.col(column).is_not_null()).head(MAX_BARS)
    title = f"{MEASURE_LABELS[column]} by {DIMENSIONS[data['dimension']].lower()}"
    return column_chart(title, table["name"].to_list(), {MEASURE_LABELS[column]: table[column].to_list()}, "bar",
                        y_title=MEASURE_LABELS[column])


def _depth_bars(data: Data) -> go.Figure:
    from crm_core.charts.drivers import depth_figure

    return depth_figure(data["table"])


def _depth_bars_native(data: Data) -> NativeChart:
    table = data["table"]
    return column_chart(data["title"], table["name"].to_list(),
                        {"Ordered again within a year": table["repeat_rate_365"].to_list()}, "bar", "0%",
                        "Ordered again within a year")


#: chart id -> builders. Every chart a finding names is here.
CHARTS: dict[str, ChartBuilder] = {
    "kpi_trend": ChartBuilder(_kpi_trend, _kpi_trend_native),
    "pareto": ChartBuilder(_pareto, _pareto_native),
    "tier_pyramid": ChartBuilder(_pyramid, _pyramid_native),
    "tier_migration": ChartBuilder(_migration),  # Sankey: no PowerPoint chart type
    "share_bars": ChartBuilder(_share_bars, _share_bars_native),
    "value_bars": ChartBuilder(_value_bars, _value_bars_native),
    "status_bars": ChartBuilder(_status_bars, _status_bars_native),
    "retention_curves": ChartBuilder(_retention, _retention_native),
    "ranked_bars": ChartBuilder(_ranked_bars, _ranked_bars_native),
    "driver_bars": ChartBuilder(_driver_bars, _driver_bars_native),
    "depth_bars": ChartBuilder(_depth_bars, _depth_bars_native),
}


def figure(chart: str, data: Data, dark: bool = False) -> go.Figure:
    """A new Plotly figure of chart ``chart`` drawn from ``data`` (light or dark template)."""
    from crm_core.charts.present import themed

    return themed(CHARTS[chart].figure(data), dark)


def native(chart: str, data: Data) -> NativeChart | None:
    """The chart as data for a native office chart; None when there is no native type."""
    builder = CHARTS[chart].native
    return builder(data) if builder is not None else None


def finding_figure(finding: Any, dark: bool = False) -> go.Figure | None:
    """The Plotly figure of a finding (None when it has no chart)."""
    return figure(finding.chart, finding.data, dark) if finding.chart else None
