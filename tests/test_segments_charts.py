"""Segment figures draw the computed numbers with consistent colours (no Streamlit)."""
from __future__ import annotations

import polars as pl
import pytest

from crm_core.charts.segments import cross_sell_figure, migration_sankey, segment_colour, segment_treemap
from crm_core.charts.theme import NEUTRAL
from crm_core.rfm import NEW_CUSTOMER

ORDER = ["Champions", "Loyal", "Lost"]


def test_a_segment_has_the_same_colour_in_the_treemap_and_the_sankey():
    profile = pl.DataFrame({
        "segment": ORDER, "customers": [5, 3, 2], "revenue": [500.0, 90.0, 10.0],
        "customer_share": [0.5, 0.3, 0.2], "revenue_share": [500 / 600, 90 / 600, 10 / 600],
    })
    treemap = segment_treemap(profile).data[0]
    treemap_colours = dict(zip(treemap.labels, treemap.marker.colors))
    flows = pl.DataFrame({
        "from_segment": [NEW_CUSTOMER, "Champions", "Loyal"], "to_segment": ["Loyal", "Champions", "Lost"],
        "customers": [2, 4, 1],
    })
    node = migration_sankey(flows, "1 Jan", "1 Apr", ORDER).data[0].node
    sankey_colours = dict(zip(node.label, node.color))  # a name on both sides has one colour
    assert sankey_colours["Champions"] == treemap_colours["Champions"] == segment_colour(0)
    assert sankey_colours["Loyal"] == treemap_colours["Loyal"] == segment_colour(1)
    assert sankey_colours["Lost"] == treemap_colours["Lost"] == segment_colour(2)
    assert sankey_colours[NEW_CUSTOMER] == NEUTRAL


def test_cross_sell_bars_grow_from_the_chance_line():
    pairs = pl.DataFrame({
        "category_a": ["Books", "Toys"], "category_b": ["<b>Games</b>", "Garden"],
        "lift": [1.5, 0.8], "support": [0.1, 0.05],
    })
    bar = cross_sell_figure(pairs).data[0]
    assert bar.base == 1
    assert list(bar.x) == pytest.approx([-0.2, 0.5])  # reversed: the best pair on top
    assert list(bar.text) == ["0.80×", "1.50×"]
    assert "Books + &lt;b&gt;Games&lt;/b&gt;" in bar.y  # user text never read as markup
