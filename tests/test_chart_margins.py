"""The Overview's trend is drawn in one pass: fixed margins wide enough for its labels, no automargin.

Plotly's automargin measures every tick label in the browser and lays the chart out again; on the
Overview, which redraws the trend on every filter or period change, that was half the chart's drawing time.
"""
from __future__ import annotations

import datetime as dt
import math

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


def test_every_axis_is_settled_with_room_for_its_longest_label():
    """Margins from the figure's own labels, automargin off (tests/test_chart_margins_browser.py checks them
    against Plotly's own)."""
    import plotly.graph_objects as go

    from crm_core.charts.margins import label_width, settle_margins

    long_name = "A rather long segment name"
    fig = go.Figure(go.Bar(x=[1200.0, 90_000.0], y=[long_name, "B"], orientation="h"))
    fig.update_layout(template="crm", margin=dict(l=10, r=10, t=60, b=10))
    fig.update_xaxes(title_text="Revenue", tickformat=",.0f")
    settle_margins(fig)
    assert fig.layout.xaxis.automargin is False and fig.layout.yaxis.automargin is False
    assert fig.layout.margin.l >= label_width(long_name)[0] + 10
    assert fig.layout.margin.b >= 18 + 19  # one line of numbers and the axis title
    assert fig.layout.margin.r >= label_width("90,000")[0] / 2  # the last number is centred on the edge


def test_figures_the_estimate_cannot_read_are_left_to_plotly():
    import plotly.graph_objects as go

    from crm_core.charts.margins import settle_margins

    crowded = go.Figure(go.Bar(x=[f"Product number {index}" for index in range(15)], y=list(range(15))))
    empty = go.Figure(go.Bar(x=["a", "b"], y=[None, None]))
    pie = go.Figure(go.Pie(labels=["a", "b"], values=[1, 2]))
    for fig in (crowded, empty, pie):
        settle_margins(fig)
        assert fig.layout.xaxis.automargin is None and fig.layout.margin.l is None


@pytest.mark.parametrize("values", [[0.0, 1.0, 2.0, 1800.0], [5.0, 5.0], [0.0, 40.0], [3.2, 7.9, 120.5]])
def test_clv_bins_are_round_and_count_every_customer(values):
    import numpy as np

    from crm_core.charts.lifetime import _bins

    starts, width, counts = _bins(np.array(values), 40)
    assert counts.sum() == len(values) and len(starts) <= 41
    assert starts[0] <= min(values) and starts[-1] + width > max(values)
    mantissa = width / 10 ** np.floor(np.log10(width))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)


def test_a_title_broken_into_lines_gets_room_for_each_line():
    """A y title on two lines (``<br>``) needs a second line's height beside the tick labels, not one line's."""
    import plotly.graph_objects as go

    from crm_core.charts.margins import settle_margins

    def left(title: str) -> int:
        fig = go.Figure(go.Scatter(x=[1.0, 2.0], y=[10.0, 20.0]))
        fig.update_layout(template="crm", margin=dict(l=10, r=10, t=60, b=10))
        fig.update_yaxes(title_text=title)
        settle_margins(fig)
        assert fig.layout.yaxis.automargin is False
        return fig.layout.margin.l

    assert left("Second difference:<br>more days since last purchase") >= left("Second difference") + 19


def test_the_customer_maps_axis_titles_fit_along_their_axes():
    """Two long feature names made the map's y title longer than the map is high: cut at both ends, over the title."""
    from crm_core.charts.margins import label_width
    from crm_core.charts.segments import PCA_TITLE_CHARS, pca_figure
    from crm_core.charts.theme import with_currency
    from crm_core.charts.text import plain_text
    from crm_core.clusters import ClusterResult

    x_title = "more orders and more spend → right"
    y_title = "more days since last purchase and more days since first purchase → up"
    result = ClusterResult(
        assignments=pl.DataFrame(), curve=pl.DataFrame({"k": [2, 3], "silhouette": [0.4, 0.5]}), best_k=2, k=2,
        method="k-means", profile=pl.DataFrame({"cluster": [1, 2], "cluster_name": ["High value", "Low value"]}),
        pca=pl.DataFrame({"pc1": [0.0, 1.0], "pc2": [1.0, 0.0], "cluster": [1, 2]}), pca_explained=0.8,
        feature_labels=["Orders", "Spend"], pca_axes=(x_title, y_title))
    fig = pca_figure(result)
    y_lines = fig.layout.yaxis.title.text.split("<br>")
    assert len(y_lines) >= 2 and all(len(line) <= PCA_TITLE_CHARS["y"] for line in y_lines)
    widest = max(label_width(line)[0] * 15 / 13 for line in y_lines)  # the title's 15 px font
    assert widest < fig.layout.height - 60 - 60  # shorter than the plot: the figure less its title and x axis
    assert plain_text(fig.layout.yaxis.title.text) == f"Second difference: {y_title}"  # every word kept, in order
    assert plain_text(fig.layout.xaxis.title.text) == f"Main difference: {x_title}"
    with_currency(fig)  # as the app finishes every figure: margins settled
    assert fig.layout.yaxis.automargin is False
    assert fig.layout.margin.l >= 19 + 20  # room for both lines of the y title


def test_half_width_chart_titles_fit_their_column():
    """Titles of charts shown side by side fit a half-width column at 1366 px (~430 px less the margins):
    Plotly cuts a longer title at the figure's edge ("... actual vs. mode")."""
    from crm_core.charts.lifetime import TRACKING_TITLE
    from crm_core.charts.margins import label_width

    for title in (TRACKING_TITLE, "Holdout purchases: actual vs. model"):
        assert label_width(title)[0] * 20 / 13 <= 400, title  # the template's 20 px title font


def test_lifecycle_charts_write_numbers_like_the_rest_of_the_app():
    """The funnel's counts with thousands separators ("5,000", not "5000"); the categories axis in round steps
    (Plotly's own read 0.0, 0.5, 0.9, 1.4, 1.8)."""
    from crm_core.charts.lifetime import category_step, lifecycle_funnel_figure, penetration_figure

    funnel = lifecycle_funnel_figure(pl.DataFrame({"stage": ["Acquired", "Retained"], "customers": [5000, 3620]}))
    assert funnel.data[0].textinfo is None and "%{value:,}" in funnel.data[0].texttemplate
    penetration = penetration_figure(pl.DataFrame({"quarter": [1, 2], "spend_per_customer": [215.0, 153.0],
                                                   "customers": [900, 800], "categories_per_customer": [2.1, 1.9]}))
    assert penetration.layout.yaxis2.dtick == 0.5 and penetration.layout.yaxis2.tick0 == 0
    for most in (0.3, 2.1, 4.0, 7.0, 60.0):
        step = category_step(most)
        assert most * 1.1 / step <= 6 and round(step / 10 ** math.floor(math.log10(step)), 9) in (1, 2, 5)


def test_the_scorecard_radar_keeps_its_step_names_and_title_inside_a_half_width_chart():
    """Step names around the circle and the model's title were cut at a half-width chart's edges at 1366 px."""
    from crm_core.charts.margins import label_width
    from crm_core.charts.present import RADAR_STEP_CHARS, radar_figure
    from crm_core.charts.text import plain_text

    steps = ["Recognising each customer", "Documented customer processes", "Offers built for the best customers",
             "Knowing the most valuable customers"]
    fig = radar_figure(pl.DataFrame({"model": ["Buttle"] * 4, "step": steps, "score": [100, 50, None, 25]}),
                       "Turning customer knowledge into value (Buttle value chain)")
    names = [str(step) for step in fig.data[0].theta]
    assert [plain_text(name) for name in names[:4]] == steps  # every word kept
    lines = [line for name in names for line in name.split("<br>")]
    assert all(len(line) <= RADAR_STEP_CHARS for line in lines)
    widest = max(label_width(line)[0] * 12 / 13 for line in lines)
    assert fig.layout.margin.l >= widest + 10 and fig.layout.margin.r >= widest + 10
    title_lines = fig.layout.title.text.split("<br>")
    assert len(title_lines) == 2 and all(label_width(line)[0] * 20 / 13 <= 400 for line in title_lines)
    assert fig.layout.margin.t >= 70 + 26  # the second line of the title above the circle


def test_the_scorecard_radar_leaves_room_below_for_a_step_name_of_four_lines():
    """In a half column at 1920 px the circle fills the chart's height: 'Managing acquisition, retention and
    win-back' at 6 o'clock lost its last line below the 40 px margin."""
    from crm_core.charts.present import RADAR_LINE_PX, radar_figure

    steps = ["Knowing the most valuable customers", "Knowing customers' needs", "Partners working for customers",
             "Offers built for the best customers", "Managing acquisition, retention and win-back",
             "Leadership, data and IT support"]
    fig = radar_figure(pl.DataFrame({"model": ["Buttle"] * 6, "step": steps, "score": [50.0] * 6}), "Buttle")
    lines = max(str(name).count("<br>") + 1 for name in fig.data[0].theta)
    assert lines == 4
    assert fig.layout.margin.b >= lines * RADAR_LINE_PX + 10
    assert fig.layout.height - fig.layout.margin.t - fig.layout.margin.b >= 300  # the circle keeps its size


@pytest.mark.parametrize("steps", [3, 4, 5, 6, 8])
def test_the_scorecard_radar_writes_its_scale_level_between_two_spokes(steps):
    """The scale's labels (25...100) ran up the 12 o'clock spoke, turned on their side: on the polygon's corners and
    touching the step name at the spoke's end (4 and 8 steps)."""
    from crm_core.charts.present import radar_figure

    fig = radar_figure(pl.DataFrame({"model": ["QCi"] * steps, "step": [f"Step {i}" for i in range(steps)],
                                     "score": [50.0] * steps}), "QCi")
    axis = fig.layout.polar.radialaxis
    spokes = [360 * i / steps for i in range(steps)]  # Plotly: the first at 3 o'clock, counter-clockwise
    gap = min(min(abs(axis.angle - spoke), 360 - abs(axis.angle - spoke)) for spoke in spokes)
    assert gap == pytest.approx(180 / steps)  # halfway between two spokes
    assert 45 <= axis.angle <= 135  # in the upper part, near 12 o'clock
    assert axis.tickangle == axis.angle  # Plotly turns the labels by the axis' angle: this sets them level


def test_customer_timeline_draws_both_zeros_at_the_same_height():
    """With a return below zero, the running total's axis started lower than the bars' zero: it seemed negative."""
    from crm_core.charts.interact import purchase_timeline_figure
    from crm_core.schema import C

    timeline = pl.DataFrame({C.ORDER_DATE: [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)],
                             "amount": [500.0, -300.0, 1200.0]})
    fig = purchase_timeline_figure(timeline)
    (low, high), (low2, high2) = fig.layout.yaxis.range, fig.layout.yaxis2.range
    assert low < 0 < high and low2 < 0 < high2
    assert -low / (high - low) == pytest.approx(-low2 / (high2 - low2))  # zero at the same share of the height
    assert high >= 1200 and high2 >= 1400  # the tallest bar and the running total inside
    ticks = list(fig.layout.yaxis2.tickvals)
    assert ticks[0] == 0 and all(tick >= 0 for tick in ticks) and ticks[-1] <= high2
    plain = purchase_timeline_figure(timeline.with_columns(pl.col("amount").abs()))  # no return: Plotly's own ranges
    assert plain.layout.yaxis.range is None and plain.layout.yaxis2.tickvals is None
