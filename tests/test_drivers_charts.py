"""Drivers figures: built from the engine's frames, and user text (group and product names) never becomes markup."""
from __future__ import annotations

import json

import polars as pl
import pytest

from crm_core import drivers, offers, products
from crm_core.charts import drivers as charts

HOSTILE = ['<a href="http://x">x</a>', "<b>bold</b>", "%{x} 100% off", "&lt;i&gt;"]


@pytest.fixture
def tx() -> pl.LazyFrame:
    rows = []
    for index, name in enumerate(HOSTILE * 10):
        customer = f"c{index}"
        rows.append((customer, f"o{index}", "2023-01-01", 10.0 + index, name, HOSTILE[index % 2]))
        if index % 3:
            rows.append((customer, f"p{index}", "2023-03-01", 5.0, HOSTILE[(index + 1) % 4], None))
        rows.append((customer, f"o{index}", "2023-01-05", -2.0, name, HOSTILE[index % 2]))
    frame = pl.DataFrame(rows, schema=["customer_id", "order_id", "order_date", "amount", "product", "discount_code"],
                         orient="row")
    return frame.with_columns(pl.col("order_date").str.to_date(), pl.col("product").alias("category"),
                              pl.col("product").alias("channel")).lazy()


def strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return []


def raw_user_text(figure) -> list[str]:
    """Strings of the figure holding any hostile label unescaped."""
    texts = strings(json.loads(figure.to_json()))
    return [text for text in texts if any(label in text for label in HOSTILE)]


def test_every_figure_escapes_user_text(tx):
    profiles = drivers.customer_profiles(tx)
    overall = drivers.overall_figures(profiles)
    catalogue = products.product_table(tx, "product")
    segments = pl.DataFrame({"customer_id": profiles["customer_id"], "group": [HOSTILE[i % 4] for i in range(profiles.height)]})
    figures = {
        "driver": charts.driver_figure(drivers.driver_table(profiles, "first_product"), "first_product", overall),
        "repeat": charts.repeat_figure(drivers.driver_table(profiles, "channel"), "channel"),
        "products": charts.products_figure(catalogue, "revenue", "products"),
        "journeys": charts.journey_figure(products.journeys(tx, "product"), "products"),
        "timing": charts.timing_figure(products.second_order_timing(profiles)),
        "refunds": charts.refund_figure(products.refunds_by_group(tx, segments), "group", "Refunds"),
        "offers": charts.offer_figure(offers.code_vs_none(profiles)),
    }
    for name, figure in figures.items():
        assert raw_user_text(figure) == [], name
    escaped = json.dumps(json.loads(figures["driver"].to_json()))
    assert "&lt;a href=" in escaped and "&#37;{x} 100&#37; off" in escaped  # the labels are there, escaped
    assert "&amp;lt;i&amp;gt;" in escaped  # entities in names stay literal too


def test_driver_figure_draws_groups_best_first_with_intervals(tx):
    profiles = drivers.customer_profiles(tx)
    table = drivers.driver_table(profiles, "first_product")
    figure = charts.driver_figure(table, "first_product", drivers.overall_figures(profiles))
    bar = figure.data[0]
    column, _ = drivers.ranking_measure(drivers.overall_figures(profiles))
    assert list(bar.x) == table[column].to_list()
    assert bar.error_x.array is not None and len(bar.error_x.array) == table.height
