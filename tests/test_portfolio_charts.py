"""Portfolio figures draw the computed numbers (no Streamlit)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core import portfolio as pf
from crm_core.charts.portfolio import (
    lorenz_figure,
    migration_figure,
    pareto_figure,
    pyramid_figure,
    significance_figure,
    tier_trend_figure,
)
from crm_core.customers import summarize
from test_portfolio import EARLIER, LATER, PERIOD, TWO, interactions, tiny_tx


@pytest.fixture
def summary() -> pl.DataFrame:
    return summarize(tiny_tx()).collect()


def test_pareto_marks_the_80_20_points(summary):
    figures = pf.concentration(summary)
    fig = pareto_figure(pf.pareto_curve(summary), figures)
    marks = fig.data[2]
    assert list(marks.x) == pytest.approx([0.2, 2 / 6])
    assert list(marks.y) == pytest.approx([450 / 540, 0.8])
    assert [a.text for a in fig.layout.annotations] == ["top 20% → 83%", "33% → 80%"]
    assert fig.layout.title.text == "Pareto curve: who brings the revenue"


def test_lorenz_names_gini(summary):
    fig = lorenz_figure(pf.lorenz_curve(summary), pf.concentration(summary))
    assert "Gini 0.57" in fig.data[1].name
    assert list(fig.data[1].y)[-1] == pytest.approx(1.0)


def test_pyramid_bars(summary):
    table = pf.tier_summary(pf.assign_tiers(summary))
    fig = pyramid_figure(table)
    assert list(fig.data[0].x) == [1, 0, 1, 4]
    assert list(fig.data[1].x) == pytest.approx([300, 0, 150, 90])


def test_user_text_cannot_inject_markup(summary):
    settings = pf.TierSettings(names=("<a href='x'>VIP</a>", "Rest"), shares=(0.5,))
    table = pf.tier_summary(pf.assign_tiers(summary, settings), settings)
    labels = list(pyramid_figure(table).data[0].y)
    assert all("<" not in label and ">" not in label for label in labels)


def test_trend_stacks_tiers(summary):
    tiered = pf.assign_tiers(summary)
    fig = tier_trend_figure(pf.tier_trend(tiny_tx(), tiered, grain="quarter"), "quarter")
    assert [trace.name for trace in fig.data] == ["Platinum", "Gold", "Iron", "Lead"]
    assert list(fig.data[0].x) == ["2024-Q1", "2024-Q2"]
    assert list(fig.data[0].y) == pytest.approx([300, 0])
    assert fig.layout.barmode == "stack"


def test_sankey_links():
    flows = pf.tier_migration(tiny_tx(), EARLIER, LATER, TWO)
    fig = migration_figure(flows, TWO.names)
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    assert labels == ["Top (earlier)", "Rest (earlier)", "New: bought only later",
                      "Top (later)", "Rest (later)", "Lost: bought only earlier"]
    links = {(labels[s], labels[t]): v for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value)}
    assert links[("New: bought only later", "Rest (later)")] == 2
    assert links[("Top (earlier)", "Lost: bought only earlier")] == 1
    left, right = list(sankey.node.y)[:3], list(sankey.node.y)[3:]
    assert left == sorted(left) and right == sorted(right)  # best tier on top, New / Lost at the bottom
    assert sum(sankey.link.value) == 6


def test_significance_lines_and_quadrants(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    matrix = pf.significance(table, basis)
    fig = significance_figure(matrix.customers, matrix)
    assert [trace.name for trace in fig.data] == list(pf.QUADRANT_ORDER)
    shapes = fig.layout.shapes
    assert {shape.y0 for shape in shapes if shape.y0 == shape.y1} == {50.0}
    assert {shape.x0 for shape in shapes if shape.x0 == shape.x1} == {2.5}
    costly = fig.data[1]
    assert list(costly.text) == ["A"] and list(costly.y) == [150.0]
    assert fig.layout.xaxis.title.text == "Cost to serve"


def test_significance_axis_names_the_proxy_score(summary):
    table, basis = pf.add_cost_to_serve(summary)
    fig = significance_figure(table.pipe(lambda t: pf.significance(t, basis).customers), pf.significance(table, basis))
    assert fig.layout.xaxis.title.text.startswith("Cost-to-serve score")


def test_empty_period_tier_trend_is_drawable():
    empty = pl.DataFrame(schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    tiered = pf.assign_tiers(empty.lazy().pipe(summarize, dt.date(2024, 1, 1)))
    trend = pf.tier_trend(empty.lazy(), tiered)
    assert trend.height == 0
    assert len(tier_trend_figure(trend, "quarter").data) == 0
    assert pf.trend_takeaway(trend) == "No sales in this period."


def test_skewed_value_uses_log_axis_and_says_what_is_hidden():
    frame = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"], "revenue": [1.0, 2.0, 3.0, 1000.0, -5.0, 0.5],
        "cost_to_serve": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    })
    matrix = pf.significance(frame, pf.CostBasis("cost"))
    fig = significance_figure(matrix.customers, matrix)
    assert fig.layout.yaxis.type == "log"
    assert sum(len(trace.y) for trace in fig.data) == 4
    assert fig.layout.annotations[-1].text.startswith("2 customers with revenue below 1")


def test_sankey_nodes_are_stacked_by_size_with_a_gap():
    from crm_core.charts.portfolio import _stacked_centres

    # usable height 1 - 0.1 = 0.9: heights 0.6 and 0.3, the second starts after a 0.1 gap
    assert _stacked_centres([2, 1], gap=0.1) == pytest.approx([0.3, 0.85])
    assert _stacked_centres([0, 0]) == pytest.approx([0.001, 0.06])  # no customers: still ordered
