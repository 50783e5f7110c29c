"""Overview KPIs, hand-computed on a tiny frame."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.format import NumberStyle
from crm_core.kpis import format_delta, format_kpi, kpi_comparison, kpi_trend, period_kpis, previous_period

D = dt.date


def tiny() -> pl.LazyFrame:
    # Jan: a buys twice (2 orders, 100 + 50), b once (30).          -> new a, b
    # Feb: a once (40), c once (60), b returns 10 (negative line).   -> new c; a returning
    # Mar: c twice on the same day, same order id (20 + 20).
    return pl.LazyFrame(
        {
            "customer_id": ["a", "a", "b", "a", "c", "b", "c", "c"],
            "order_date": [D(2024, 1, 3), D(2024, 1, 20), D(2024, 1, 9), D(2024, 2, 2), D(2024, 2, 14), D(2024, 2, 20), D(2024, 3, 5), D(2024, 3, 5)],
            "amount": [100.0, 50.0, 30.0, 40.0, 60.0, -10.0, 20.0, 20.0],
            "order_id": ["o1", "o2", "o3", "o4", "o5", "r1", "o6", "o6"],
        }
    )


def test_january_kpis():
    k = period_kpis(tiny(), D(2024, 1, 1), D(2024, 1, 31))
    assert k["revenue"] == 180.0
    assert k["orders"] == 3
    assert k["active_customers"] == 2
    assert k["new_customers"] == 2
    assert k["returning_share"] == 0.0
    assert k["aov"] == pytest.approx(60.0)
    assert k["frequency"] == pytest.approx(1.5)


def test_february_counts_returns_in_revenue_not_orders():
    k = period_kpis(tiny(), D(2024, 2, 1), D(2024, 2, 29))
    assert k["revenue"] == 90.0  # 40 + 60 - 10
    assert k["orders"] == 2  # the return is not an order
    assert k["active_customers"] == 2  # a and c; b only returned
    assert k["new_customers"] == 1  # c
    assert k["returning_share"] == pytest.approx(0.5)
    assert k["aov"] == pytest.approx(45.0)


def test_same_order_id_lines_are_one_order():
    k = period_kpis(tiny(), D(2024, 3, 1), D(2024, 3, 31))
    assert (k["orders"], k["revenue"], k["frequency"]) == (1, 40.0, 1.0)


def test_without_order_ids_one_order_per_customer_day():
    tx = tiny().drop("order_id")
    # a: 3 Jan, 20 Jan, 2 Feb; b: 9 Jan (its return is not an order); c: 14 Feb, 5 Mar
    assert period_kpis(tx, D(2024, 1, 1), D(2024, 3, 31))["orders"] == 6


def test_previous_period_has_equal_length():
    assert previous_period(D(2024, 2, 1), D(2024, 2, 29)) == (D(2024, 1, 3), D(2024, 1, 31))


def test_comparison_deltas():
    table = kpi_comparison(tiny(), D(2024, 2, 1), D(2024, 2, 29))
    revenue = table.filter(pl.col("kpi") == "revenue").row(0, named=True)
    # previous period 3-31 Jan: 100 + 50 + 30 = 180
    assert (revenue["value"], revenue["previous"], revenue["delta"]) == (90.0, 180.0, -90.0)
    assert revenue["delta_pct"] == pytest.approx(-0.5)
    share = table.filter(pl.col("kpi") == "returning_share").row(0, named=True)
    assert share["delta"] == pytest.approx(0.5) and share["delta_pct"] is None


def test_comparison_without_previous_data_has_no_delta():
    table = kpi_comparison(tiny(), D(2024, 1, 1), D(2024, 1, 31))
    assert table["previous"].null_count() == table.height
    assert table["delta"].null_count() == table.height


def test_monthly_trend():
    trend = kpi_trend(tiny(), D(2024, 1, 1), D(2024, 3, 31), "month")
    assert trend["period"].to_list() == [D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1)]
    assert trend["revenue"].to_list() == [180.0, 90.0, 40.0]
    assert trend["new_customers"].to_list() == [2, 1, 0]
    assert trend["orders"].to_list() == [3, 2, 1]


def test_formatting():
    assert format_kpi(1234567.4, "money", style=NumberStyle("$")) == "$1,234,567"
    assert format_kpi(0.4567, "share") == "45.7%"
    assert format_kpi(None, "count") == "–"
    assert format_delta(-90.0, -0.5, "money") == "-50.0%"
    assert format_delta(0.05, None, "share") == "+5.0 pts"


def test_comparison_windows():
    from crm_core.kpis import comparison_window, default_window

    start, end = D(2023, 1, 1), D(2025, 12, 31)
    assert default_window(start, end) == "last_12_months"
    assert comparison_window(start, end, "last_12_months") == (D(2025, 1, 1), end)
    assert default_window(D(2025, 1, 1), D(2025, 8, 31)) == "last_quarter"
    assert default_window(D(2025, 8, 1), D(2025, 8, 31)) == "whole_period"
    assert comparison_window(D(2025, 8, 1), D(2025, 8, 31), "last_quarter") == (D(2025, 8, 1), D(2025, 8, 31))


def test_trend_takeaway_names_the_peak():
    from crm_core.kpis import trend_takeaway

    trend = kpi_trend(tiny(), D(2024, 1, 1), D(2024, 3, 31), "month")
    sentence = trend_takeaway(trend, "revenue", "month")
    assert "peaked in January 2024 at 180" in sentence and "down" in sentence


def test_trend_takeaway_leaves_out_partial_first_and_last_months():
    from crm_core.kpis import complete_buckets, trend_takeaway

    trend = pl.DataFrame({"period": [D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1), D(2024, 4, 1)],
                          "revenue": [5.0, 100.0, 120.0, 3.0]})
    # the period starts on 20 Jan and ends on 3 Apr: January and April are partial
    kept = complete_buckets(trend, "month", D(2024, 1, 20), D(2024, 4, 3))
    assert kept["period"].to_list() == [D(2024, 2, 1), D(2024, 3, 1)]
    sentence = trend_takeaway(trend, "revenue", "month", D(2024, 1, 20), D(2024, 4, 3))
    assert "up from the first (100 → 120)" in sentence  # not "down from 5 to 3" on a few days
    assert "up from the first (5.00 → 3.00)" not in sentence
    assert complete_buckets(trend, "month", D(2024, 1, 1), D(2024, 4, 30)).height == 4
    assert "Not enough complete months" in trend_takeaway(trend, "revenue", "month", D(2024, 1, 20), D(2024, 2, 28))
