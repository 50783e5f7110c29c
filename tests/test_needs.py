"""Needs and channels: category/channel mix, cross-sell pairs, channel value and migration."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.customers import summarize
from crm_core.needs import (
    channel_migration,
    channel_migration_takeaway,
    channel_value,
    channel_value_takeaway,
    cross_sell_pairs,
    cross_sell_takeaway,
    customer_groups,
    group_customers,
    groups_present,
    missing_column_message,
    mix_by_group,
    mix_takeaway,
    orders_until,
)

D = dt.date


def tx(rows) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema=["customer_id", "order_date", "amount", "category", "channel"], orient="row").lazy()


ROWS = [
    ("c1", D(2024, 1, 1), 30.0, "A", "Web"),
    ("c1", D(2024, 1, 1), 10.0, "B", "Store"),
    ("c1", D(2024, 2, 1), 20.0, "B", "Store"),
    ("c2", D(2024, 1, 5), 50.0, "A", "Web"),
    ("c2", D(2024, 3, 5), 50.0, "B", "Web"),
    ("c3", D(2024, 1, 9), 40.0, "A", "Store"),
    ("c4", D(2024, 1, 9), 60.0, "C", None),
]


def test_mix_by_group_shares_and_index():
    groups = pl.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "segment": ["X", "X", "Y", "Y"]})
    mix = mix_by_group(tx(ROWS), groups, "category", "segment")
    got = {(s, c): (spend, share) for s, c, spend, share, *_ in mix.iter_rows()}
    # X spends A 80, B 80 of 160; Y spends A 40, C 60 of 100; overall A 120/260
    assert got[("X", "A")] == (80.0, 0.5) and got[("Y", "C")] == (60.0, 0.6)
    index = mix.filter((pl.col("segment") == "Y") & (pl.col("category") == "C"))["index"][0]
    assert index == pytest.approx(0.6 / (60 / 260))
    assert mix_takeaway(mix, "category", "segment") == "Y spend 60% of their money on C, 2.6 times the average share (23%)."


def test_channel_mix_labels_missing_values():
    groups = pl.DataFrame({"customer_id": ["c4"], "segment": ["Y"]})
    mix = mix_by_group(tx(ROWS), groups, "channel", "segment")
    assert mix.select("channel", "share").rows() == [("(not given)", 1.0)]


def test_cross_sell_pairs_golden():
    pairs = cross_sell_pairs(tx(ROWS), min_customers=1)
    assert pairs.height == 1
    row = pairs.row(0, named=True)
    # 4 customers; A bought by 3, B by 2, both by c1 and c2
    assert (row["category_a"], row["category_b"], row["customers"]) == ("A", "B", 2)
    assert row["support"] == 0.5
    assert row["confidence_a_to_b"] == pytest.approx(2 / 3) and row["confidence_b_to_a"] == 1.0
    assert row["lift"] == pytest.approx(2 * 4 / (3 * 2))
    assert cross_sell_takeaway(pairs) == (
        "Customers who buy A also buy B 1.3 times more often than chance (50% of customers buy both): a natural cross-sell."
    )
    assert cross_sell_pairs(tx(ROWS), min_customers=3).is_empty()
    only_c1 = cross_sell_pairs(tx(ROWS), customers=pl.DataFrame({"customer_id": ["c1"]}), min_customers=1)
    assert only_c1["lift"].to_list() == [1.0]


def test_cross_sell_ignores_returns():
    rows = ROWS + [("c3", D(2024, 2, 9), -40.0, "B", "Store")]
    assert cross_sell_pairs(tx(rows), min_customers=1)["customers"].to_list() == [2]


def test_channel_value_golden():
    value = channel_value(summarize(tx(ROWS)).collect())
    rows = {r["channel_use"]: r for r in value.iter_rows(named=True)}
    assert value["channel_use"].to_list() == ["Single channel", "2 channels"]
    # c2, c3 single; c1 uses Web and Store; c4 has no channel recorded and is left out
    assert rows["Single channel"]["customers"] == 2 and rows["2 channels"]["customers"] == 1
    assert rows["Single channel"]["mean_revenue"] == pytest.approx(70.0)
    assert rows["2 channels"]["revenue_share"] == pytest.approx(60 / 200)
    assert rows["2 channels"]["aov"] == pytest.approx(30.0)  # 60 over 2 purchase days
    assert channel_value_takeaway(value) == (
        "Multichannel customers are 33% of customers and spend 0.9 times as much as single-channel ones (60.00 vs 70.00 each)."
    )


def test_channel_migration_golden():
    flows = channel_migration(tx(ROWS))
    # c1: first day Web (30 > 10), latest Store; c2 Web -> Web; c3, c4 have one day only
    assert flows.select("first_channel", "latest_channel", "customers").rows() == [("Web", "Store", 1), ("Web", "Web", 1)]
    assert flows["share"].to_list() == [0.5, 0.5]
    assert channel_migration_takeaway(flows) == (
        "50% of 2 repeat customers now buy in a different channel than at first; the biggest move is Web → Store (1 customers)."
    )


def test_missing_columns_say_what_to_add():
    bare = tx(ROWS).drop("category", "channel")
    assert missing_column_message(tx(ROWS), "category") is None
    assert "Add a 'category' column" in missing_column_message(bare, "category")
    assert "Add a 'channel' column" in missing_column_message(bare, "channel")


def test_group_helpers_build_restrict_and_order_groups():
    scored = pl.DataFrame({"customer_id": ["c1", "c2", "c3"], "segment": ["Lost", "Champions", "Lost"], "r": [1, 5, 1]})
    groups = customer_groups(scored, "segment")
    assert groups.columns == ["customer_id", "group"]
    assert groups_present(groups, ["Champions", "At Risk", "Lost"]) == ["Champions", "Lost"]  # empty At Risk left out
    assert group_customers(groups, "Lost")["customer_id"].to_list() == ["c1", "c3"]
    kept = orders_until(tx(ROWS), D(2024, 1, 1)).collect()
    assert kept["order_date"].max() == D(2024, 1, 1) and kept.height == sum(1 for row in ROWS if row[1] <= D(2024, 1, 1))
