"""AppTest: the Overview page shows the KPIs of the demo and reacts to its controls."""
from __future__ import annotations

import datetime as dt

import polars as pl
from conftest import app_path
from streamlit.testing.v1 import AppTest

from crm_core.dataset import load_dataset
from crm_core.kpis import comparison_window, default_window, format_kpi, period_kpis
from ui.data import DEMO_FOLDER


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _demo_bounds() -> tuple[pl.LazyFrame, dt.date, dt.date]:
    tx = load_dataset(DEMO_FOLDER).transactions
    first, last = tx.select(pl.col("order_date").min(), pl.col("order_date").max().alias("m")).collect().row(0)
    return tx, first, last


def test_overview_cards_match_the_engine():
    at = AppTest.from_file(app_path(), default_timeout=120).run()
    assert not at.exception
    tx, first, last = _demo_bounds()
    start, end = comparison_window(first, last, default_window(first, last))
    expected = period_kpis(tx, start, end)
    shown = _metrics(at)
    assert shown["Revenue (net)"] == format_kpi(expected["revenue"], "money")
    assert shown["Active customers"] == format_kpi(expected["active_customers"], "count")
    assert shown["New customers"] == format_kpi(expected["new_customers"], "count")
    assert len(shown) == 12  # 7 period KPIs + 5 relationship KPIs
    from crm_core.kpis_relationship import retention

    assert shown["Retention rate"] == format_kpi(retention(tx, (start, end)).retention_rate, "share")
    assert 1 <= float(shown["CSAT (1-5)"]) <= 5  # the demo has interactions
    assert any("(CLV:CAC) per acquisition channel" in block.value for block in at.markdown)  # predicted value, not revenue to date


def test_whole_period_window_and_trend_controls():
    at = AppTest.from_file(app_path(), default_timeout=120).run()
    at.segmented_control(key="cards").set_value("whole_period").run()
    tx, first, last = _demo_bounds()
    total = tx.select(pl.col("amount").sum()).collect().item()
    assert _metrics(at)["Revenue (net)"] == format_kpi(total, "money")
    assert any("nothing to compare" in caption.value for caption in at.caption)
    at.segmented_control(key="grain").set_value("week").run()
    at.selectbox(key="kpi").set_value("aov").run()
    assert not at.exception
    assert any("Average order value peaked in the week of" in caption.value for caption in at.caption)


def test_sidebar_period_filters_the_cards():
    at = AppTest.from_file(app_path(), default_timeout=120).run()
    tx, first, last = _demo_bounds()
    month_start = last.replace(day=1)
    at.sidebar.date_input(key="period").set_value((month_start, last)).run()
    at.segmented_control(key="cards").set_value("whole_period").run()
    expected = period_kpis(tx, month_start, last)
    assert _metrics(at)["Orders"] == format_kpi(expected["orders"], "count")


def test_each_period_card_carries_its_monthly_trend_as_a_picture():
    """The cards' small charts are static SVG pictures (no Vega chart to compile on each rerun), one per
    period KPI, each in its card's colour: the delta's, as st.metric colours it."""
    import base64

    from crm_core.charts.sparkline import TONES, delta_tone

    at = AppTest.from_file(app_path(), default_timeout=120).run()
    assert not at.exception
    pictures = at.get("image")
    assert len(pictures) == 7
    assert not any(metric.proto.chart_data for metric in at.metric)  # no Vega chart left in a card
    deltas = [metric.proto.delta for metric in at.metric][:7]
    for picture, delta in zip(pictures, deltas):
        url = picture.proto.imgs[0].url
        assert url.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(url.split(",", 1)[1]).decode()
        assert delta_tone(delta) in svg and ("<rect" in svg or "<polyline" in svg)
    assert {delta_tone(delta) for delta in deltas} <= {TONES["up"], TONES["down"], TONES["none"]}


def test_a_filter_change_keeps_every_element_of_the_page_in_its_place():
    """The filter chips have a slot above the page, empty without a filter: turning the first filter on (or the
    last off) must not move the page's elements, else the browser remounts every chart, card and table."""
    from ui.state import Keys

    def layout(at: AppTest) -> list[str]:
        return [type(node).__name__ for node in at.main.children.values()]

    at = AppTest.from_file(app_path(), default_timeout=120).run()
    before = layout(at)
    assert before[0] == "UnknownElement" and at.main.children[0].type == "empty"
    at.session_state[Keys.FILTERS_OPEN] = True  # a click on the sidebar's Filters panel (drawn once opened)
    at.run()
    at.sidebar.multiselect(key=f"{Keys.FILTER}channel").set_value(["Web"]).run()
    assert not at.exception
    after = layout(at)
    assert at.main.children[0].type == "button_group"  # the chips, in the slot
    assert after[1:] == before[1:]


def test_sessions_share_the_cards_trend_and_relationship_figures(monkeypatch):
    """Sessions viewing the same dataset and period compute the Overview's figures once, not once each."""
    import streamlit as st

    from ui import overview

    calls: dict[str, int] = {}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return function(*args, **kwargs)
        return wrapper

    for name in ("kpi_comparison", "kpi_trend", "relationship_snapshot"):
        monkeypatch.setattr(overview, name, counted(name, getattr(overview, name)))
    st.cache_resource.clear()
    first = AppTest.from_file(app_path(), default_timeout=120).run()
    second = AppTest.from_file(app_path(), default_timeout=120).run()
    assert not first.exception and not second.exception
    assert _metrics(second) == _metrics(first)
    assert calls == {"kpi_comparison": 1, "kpi_trend": 1, "relationship_snapshot": 1}
    second.segmented_control(key="grain").set_value("week").run()  # another grain: its own trend, once
    assert calls["kpi_trend"] == 2
