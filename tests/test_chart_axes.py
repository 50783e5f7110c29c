"""Every chart's axes use the formatting module: counts in whole ticks, money with its currency, shares in %.

Each builder of crm_core.charts is run on the small inputs of tests/test_chart_text.py (so a new builder is
checked as soon as it has its entry there). An axis is classified by its title: counts ("Customers",
"Repeat orders", ...) must not allow fractional ticks, money ("Revenue", "Spend per active customer", ...)
must be marked so the view's currency is added, shares must be shown in percent.
"""
from __future__ import annotations

import datetime as dt
import re

import plotly.graph_objects as go
import polars as pl
import pytest

from crm_core import format as fmt
from crm_core.charts.overview import kpi_trend_figure
from crm_core.charts.theme import count_axis, money_axes, money_axis, with_currency
from test_chart_text import BUILDERS, HOSTILE_INPUTS

MONEY = re.compile(r"revenue|spend|running total|clv|cost to serve$|cost-to-serve per|margin|value per", re.I)
COUNT = re.compile(r"^(new )?customers$|orders$|contacts$|repeat purchases|^repeat orders$", re.I)
NOT_AN_AMOUNT = re.compile(r"share|score|per (100 )?customer\b(?! to date)|lift|\(k\)|satisfaction", re.I)


def _axes(fig: go.Figure) -> dict[str, dict]:
    layout = fig.layout.to_plotly_json()
    return {key: value for key, value in layout.items() if re.fullmatch(r"[xy]axis\d*", key)}


def _title(axis: dict) -> str:
    return re.sub(r"<[^>]+>|&[a-z#0-9]+;", " ", (axis.get("title") or {}).get("text") or "").strip()


def _kind(axis: dict) -> str | None:
    title, tickformat = _title(axis), axis.get("tickformat") or ""
    if axis.get("type") in ("category", "date") or "%b" in tickformat or "%Y" in tickformat:
        return None
    if tickformat.endswith("%") or title.lower().startswith("share"):
        return "share"
    if MONEY.search(title) and not re.search(r"share|score", title, re.I):
        return "money"
    if COUNT.search(title) and not NOT_AN_AMOUNT.search(title):
        return "count"
    return None


def _figures():
    for name in sorted(BUILDERS):
        figure = BUILDERS[name](*HOSTILE_INPUTS[name]())
        if isinstance(figure, go.Figure):
            yield name, figure
    trend = pl.DataFrame({"period": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)], "orders": [1, 3],
                          "aov": [10.0, 12.5], "returning_share": [0.2, 0.3]})
    for kpi in ("orders", "aov", "returning_share"):
        yield f"overview.kpi_trend_figure[{kpi}]", kpi_trend_figure(trend, kpi, "month")


FIGURES = dict(_figures())


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_axes_follow_the_formatting_module(name):
    fig = FIGURES[name]
    for key, axis in _axes(fig).items():
        kind, title = _kind(axis), _title(axis)
        tickformat = axis.get("tickformat") or ""
        if kind == "share":
            assert "%" in tickformat, f"{name} {key} ({title}): a share axis shows percent"
        elif kind == "money":
            assert key.replace("axis", "") in money_axes(fig), f"{name} {key} ({title}): money axis not marked"
            assert "," in tickformat and "s" not in tickformat, f"{name} {key}: thousands separators, no SI 'k'"
        elif kind == "count":
            assert tickformat.endswith("d"), f"{name} {key} ({title}): a count axis has whole-number ticks"
            dtick = axis.get("dtick")
            assert dtick is not None and float(dtick).is_integer() and dtick >= 1, \
                f"{name} {key} ({title}): small counts need a whole tick step (no 0.5 customers)"


def test_the_classification_sees_every_kind():
    kinds = {_kind(axis) for fig in FIGURES.values() for axis in _axes(fig).values()}
    assert {"share", "money", "count"} <= kinds
    counted = [name for name, fig in FIGURES.items() if any(_kind(a) == "count" for a in _axes(fig).values())]
    assert {"lifetime.clv_distribution_figure", "lifetime.acquisition_figure", "drivers.timing_figure",
            "interact.satisfaction_trend_figure", "overview.kpi_trend_figure[orders]"} <= set(counted)


@pytest.mark.parametrize("locale, affix", [("en", {"tickprefix": "€"}), ("de", {"ticksuffix": " €"})])
def test_money_axes_get_the_views_currency(locale, affix):
    for name, fig in FIGURES.items():
        marked = money_axes(fig)
        if not marked:
            continue
        shown = go.Figure(fig)
        with_currency(shown, "EUR", locale)
        assert shown.layout.separators == fmt.plotly_separators(locale)
        for axis in marked:
            settings = shown.layout[f"{axis[0]}axis{axis[1:]}"]
            assert {key: settings[key] for key in affix} == affix, (name, axis)


def test_unknown_currency_code_and_no_currency():
    fig = go.Figure(go.Bar(x=[1, 2], y=[3.0, 4.0]))
    money_axis(fig, "y")
    with_currency(fig, "CHF", "en")
    assert fig.layout.yaxis.tickprefix == "CHF "
    plain = go.Figure(go.Bar(x=[1], y=[2.0]))
    money_axis(plain, "y")
    with_currency(plain, "", "en")
    assert plain.layout.yaxis.tickprefix is None


@pytest.mark.parametrize("largest, step", [(0, 1), (1, 1), (3, 1), (8, 1), (10, 1), (11, 2), (20, 2), (21, 5),
                                           (50, 5), (51, None), (None, None)])
def test_count_tick_steps(largest, step):
    fig = go.Figure(go.Bar(x=["a"], y=[largest or 0]))
    count_axis(fig, "y", largest)
    assert fig.layout.yaxis.tickformat == ",d"
    assert fig.layout.yaxis.dtick == step


def test_clv_histogram_says_the_top_percent_is_folded_into_its_last_bar():
    from crm_core.charts.lifetime import clv_distribution_figure

    many = clv_distribution_figure(pl.DataFrame({"clv": [float(v) for v in range(1, 201)]}), "12 months")
    assert "top 1 % of customers in the last bar" in many.layout.xaxis.title.text
    few = clv_distribution_figure(pl.DataFrame({"clv": [1.0, 2.0, 3.0]}), "12 months")
    assert "last bar" not in few.layout.xaxis.title.text  # nobody above the 99th percentile: nothing folded
