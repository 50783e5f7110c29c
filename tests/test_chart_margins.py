"""The Overview's trend is drawn in one pass: fixed margins wide enough for its labels, no automargin.

Plotly's automargin measures every tick label in the browser and lays the chart out again; on the
Overview, which redraws the trend on every filter or period change, that was half the chart's drawing time.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.charts.overview import kpi_trend_figure
from crm_core.charts.theme import with_currency
from crm_core.kpis import KPI_BY_KEY


def _trend(scale: float) -> pl.DataFrame:
    periods = [dt.date(2024, month, 1) for month in range(1, 13)]
    columns = {key: [scale * (1 if KPI_BY_KEY[key].kind in ("money", "count") else 0.01) * (i + 1) for i in range(12)]
               for key in KPI_BY_KEY}
    return pl.DataFrame({"period": periods, **columns})


@pytest.mark.parametrize("kpi", sorted(KPI_BY_KEY))
@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_trend_has_fixed_margins_without_automargin(kpi, grain):
    fig = kpi_trend_figure(_trend(1000.0), kpi, grain)
    assert fig.layout.xaxis.automargin is False and fig.layout.yaxis.automargin is False
    margin = fig.layout.margin
    assert margin.l is not None and margin.b is not None and margin.t is not None


def test_left_margin_grows_with_the_longest_tick_label():
    small = kpi_trend_figure(_trend(10.0), "revenue", "month").layout.margin.l
    large = kpi_trend_figure(_trend(10_000_000.0), "revenue", "month").layout.margin.l
    assert large > small
    # "-12,000,000" (11 characters at ~8.5 px, a 15 px title beside them) must fit
    assert large >= 11 * 8.5 + 20


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_currency_widens_the_left_margin_once(locale):
    fig = kpi_trend_figure(_trend(10_000_000.0), "revenue", "month")
    plain = fig.layout.margin.l
    with_currency(fig, "CHF", locale)
    widened = fig.layout.margin.l
    assert widened > plain
    with_currency(fig, "CHF", locale)  # finished again (a second number format): not widened twice
    assert fig.layout.margin.l == widened
    with_currency(fig, "", locale)
    assert fig.layout.margin.l == plain
