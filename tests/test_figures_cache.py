"""Cached chart figures (ui.figures): built once per input content, never served stale.

The AppTests visit a page first (so its figures are cached), then change a
setting the figures depend on and check the figure drawn changed with it.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import plotly.graph_objects as go
import polars as pl
from streamlit.testing.v1 import AppTest

from conftest import app_path
from ui.figures import drawn, figure, fingerprint
from ui.sidebar import DETECTED
from ui.state import Keys


def _bars(frame: pl.DataFrame, title: str) -> go.Figure:
    return go.Figure(go.Bar(x=frame["x"].to_list(), y=frame["y"].to_list()), layout={"title": {"text": title}})


def _no_finish(_fig: go.Figure) -> None:
    return None


@dataclass(frozen=True)
class _Settings:
    shares: tuple[float, ...]
    since: dt.date


def test_fingerprint_follows_every_value_of_a_frame():
    frame = pl.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0]})
    assert fingerprint(frame) == fingerprint(frame.clone())
    assert fingerprint(frame) != fingerprint(frame.with_columns(pl.Series("y", [1.0, 2.000001])))
    assert fingerprint(frame) != fingerprint(frame.rename({"y": "z"}))
    assert fingerprint(frame) != fingerprint(frame.cast({"y": pl.Float32}))
    assert fingerprint(frame) != fingerprint(frame.head(1))


def test_fingerprint_of_settings_and_what_cannot_be_keyed():
    settings = _Settings((0.01, 0.04), dt.date(2024, 1, 1))
    assert fingerprint(settings) == fingerprint(_Settings((0.01, 0.04), dt.date(2024, 1, 1)))
    assert fingerprint(settings) != fingerprint(_Settings((0.02, 0.04), dt.date(2024, 1, 1)))
    assert fingerprint({"a": 1}) != fingerprint({"a": 1.5})
    assert fingerprint(pl.LazyFrame({"x": [1]})) is None  # its content is unknown until collected
    assert fingerprint((1, object())) is None
    assert figure(lambda: go.Figure()).key() is None  # a closure's captured values are not part of a key


def test_drawn_figure_is_shared_until_an_input_or_the_number_format_changes():
    frame = pl.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0]})
    first = drawn(figure(_bars, frame, "Revenue"), ("", "en"), _no_finish)
    assert drawn(figure(_bars, frame.clone(), "Revenue"), ("", "en"), _no_finish) is first
    changed = drawn(figure(_bars, frame.with_columns(pl.col("y") * 2), "Revenue"), ("", "en"), _no_finish)
    assert list(changed.data[0].y) == [2.0, 4.0] and list(first.data[0].y) == [1.0, 2.0]
    assert drawn(figure(_bars, frame, "Margin"), ("", "en"), _no_finish).layout.title.text == "Margin"
    euro = drawn(figure(_bars, frame, "Revenue"), ("EUR", "de"),
                 lambda fig: fig.update_layout(separators=",."))
    assert euro is not first and euro.layout.separators == ",." and first.layout.separators is None


def _app(page: str) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _spec(at: AppTest, key: str) -> dict:
    """The drawn figure of the chart with ``key`` (see ui.widgets.chart)."""
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if element.proto.id.endswith(f"-{key}"):
            return spec
    raise AssertionError(f"no chart {key}")


def test_currency_and_number_format_reach_a_cached_chart():
    at = _app("app_pages/portfolio.py")
    at.session_state[Keys.PF_TAB] = "Change over time"  # the trend's lazy tab (ui.sections)
    at.run()
    at.run()  # a revisit: the figures come from the cache now
    before = _spec(at, "pf_trend")
    assert not before["layout"]["yaxis"].get("tickprefix")
    at.session_state[Keys.FORMAT_OPEN] = True  # a click on the sidebar's Currency panel (drawn once opened)
    at.run()
    at.sidebar.selectbox(key=Keys.CURRENCY).set_value("EUR").run()
    assert not at.exception
    assert _spec(at, "pf_trend")["layout"]["yaxis"]["tickprefix"] == "€"
    at.sidebar.selectbox(key=Keys.LOCALE).set_value("de").run()
    assert _spec(at, "pf_trend")["layout"]["separators"] == ",."
    at.sidebar.selectbox(key=Keys.CURRENCY).set_value(DETECTED).run()
    assert not _spec(at, "pf_trend")["layout"]["yaxis"].get("tickprefix")


def test_tier_cutoffs_reach_the_cached_pyramid():
    at = _app("app_pages/portfolio.py")
    before = _spec(at, "pf_pyramid")
    at.session_state[Keys.PF_TIER_PANEL] = True  # the tier settings' panel, open (ui.sections.lazy_expander)
    at.run()
    default = at.number_input(key="pf_share_0").value
    at.number_input(key="pf_share_0").set_value(default + 1).run()
    assert not at.exception
    after = _spec(at, "pf_pyramid")
    assert after["data"] != before["data"]
    at.number_input(key="pf_share_0").set_value(default).run()
    _assert_same_series(_spec(at, "pf_pyramid")["data"], before["data"])


def test_a_filter_reaches_the_cached_trend():
    at = _app("app_pages/overview.py")
    before = _spec(at, "overview_trend")
    at.session_state[Keys.FILTERS_OPEN] = True  # a click on the sidebar's Filters panel (drawn once opened)
    at.run()
    at.sidebar.multiselect(key=f"{Keys.FILTER}channel").set_value(["Web"]).run()
    assert not at.exception
    assert _spec(at, "overview_trend")["data"] != before["data"]
    at.sidebar.multiselect(key=f"{Keys.FILTER}channel").set_value([]).run()
    _assert_same_series(_spec(at, "overview_trend")["data"], before["data"])


def _assert_same_series(traces: list[dict], expected: list[dict]) -> None:
    """The same traces; sums may differ in the last bits (Polars adds in parallel, in any order)."""
    assert _rounded(traces) == _rounded(expected)


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {name: _rounded(item) for name, item in value.items()}
    return value


def _total(frame: pl.DataFrame, column: str) -> dict:
    return {"total": frame[column].sum(), "rows": frame.height}


def test_shared_engine_results_follow_their_inputs():
    from ui.memo import shared

    frame = pl.DataFrame({"y": [1.0, 2.0]})
    first = shared(_total, frame, "y")
    assert first == {"total": 3.0, "rows": 2}
    assert shared(_total, frame.clone(), "y") is first  # same content, any session: computed once
    assert shared(_total, frame.with_columns(pl.col("y") + 1), "y") == {"total": 5.0, "rows": 2}
    assert shared(_total, frame.head(1), column="y") == {"total": 1.0, "rows": 1}
    assert shared(lambda: {"fresh": True}) is not shared(lambda: {"fresh": True})  # a closure is never shared
