"""Per-customer summary, hand-computed."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.customers import first_purchase_dates, summarize

D = dt.date


def tx() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c"],
            "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 10), D(2024, 1, 5), D(2024, 1, 7)],
            "amount": [10.0, 5.0, -3.0, 20.0, -8.0],
            "cost": [6.0, 3.0, 0.0, 12.0, 0.0],
        }
    )


def test_summary_row_for_a_customer_with_a_return():
    a = summarize(tx(), as_of=D(2024, 1, 31)).collect().filter(pl.col("customer_id") == "a").row(0, named=True)
    assert a["first_date"] == D(2024, 1, 1) and a["last_date"] == D(2024, 1, 10)
    assert a["orders"] == 1 and a["purchase_days"] == 1  # the return day is no purchase
    assert a["revenue"] == 12.0 and a["gross_revenue"] == 15.0 and a["returns"] == 3.0
    assert a["return_lines"] == 1 and a["first_day_amount"] == 15.0
    assert a["aov"] == 12.0 and a["margin"] == 3.0
    assert a["recency_days"] == 21 and a["tenure_days"] == 30


def test_customer_with_only_returns_has_no_orders_and_null_aov():
    c = summarize(tx()).collect().filter(pl.col("customer_id") == "c").row(0, named=True)
    assert c["orders"] == 0 and c["aov"] is None and c["revenue"] == -8.0


def test_as_of_defaults_to_last_date_and_drops_later_rows():
    s = summarize(tx(), as_of=D(2024, 1, 6)).collect()
    assert s["customer_id"].to_list() == ["a", "b"]
    assert s.filter(pl.col("customer_id") == "a")["revenue"].item() == pytest.approx(15.0)
    assert summarize(tx()).collect().filter(pl.col("customer_id") == "b")["recency_days"].item() == 5


def test_first_purchase_dates_ignore_returns():
    first = first_purchase_dates(tx()).collect().sort("customer_id")
    assert first.to_dicts() == [{"customer_id": "a", "first_date": D(2024, 1, 1)}, {"customer_id": "b", "first_date": D(2024, 1, 5)}]


def test_distinct_categories_and_channels_ignore_missing_values():
    frame = pl.LazyFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "order_date": [D(2024, 1, 1)] * 4,
            "amount": [1.0, 2.0, 3.0, 4.0],
            "category": ["x", None, "y", "x"],
            "channel": [None, None, None, "web"],
        }
    )
    rows = summarize(frame).collect().select("customer_id", "categories", "channels").rows()
    assert rows == [("a", 2, 0), ("b", 1, 1)]
