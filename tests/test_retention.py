"""Cohorts, retention curves and the QCi lifecycle on a hand-built frame."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.retention import (
    LifecycleSettings,
    acquisition_groups,
    acquisition_takeaway,
    cohort_retention,
    cohort_takeaway,
    curves_takeaway,
    lifecycle,
    lifecycle_takeaway,
    penetration_takeaway,
    retention_curves,
)

D = dt.date
END = D(2024, 4, 30)


def tx(with_extras: bool = True) -> pl.LazyFrame:
    """a: Jan, Feb, Apr (51-day gap before Apr); b: Jan only; c: Feb twice, return in Mar;
    d: only a return; e: bought in Dec 2023 (before the period) and again in Mar."""
    frame = pl.DataFrame({
        "customer_id": ["a", "a", "a", "b", "c", "c", "c", "d", "e", "e"],
        "order_date": [D(2024, 1, 5), D(2024, 2, 10), D(2024, 4, 1), D(2024, 1, 20), D(2024, 2, 3),
                       D(2024, 2, 20), D(2024, 3, 3), D(2024, 2, 1), D(2023, 12, 1), D(2024, 3, 15)],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 25.0, -5.0, -8.0, 60.0, 70.0],
        "channel": ["web", "store", "web", "store", "web", "web", "web", "web", "store", "store"],
        "category": ["x", "y", "x", "x", "x", "x", "x", "x", "z", "z"],
    })
    return (frame if with_extras else frame.select("customer_id", "order_date", "amount")).lazy()


def test_cohort_matrix_by_hand():
    cohorts = cohort_retention(tx(), start=D(2024, 1, 1), end=END)
    jan = cohorts.filter(pl.col("cohort") == D(2024, 1, 1)).sort("months_since")
    assert jan["cohort_size"].to_list() == [2, 2, 2, 2]  # a and b; months 0..3 observable
    assert jan["customers"].to_list() == [2, 1, 0, 1]
    assert jan["customer_retention"].to_list() == [1.0, 0.5, 0.0, 0.5]
    assert jan["revenue"].to_list() == [50.0, 20.0, 0.0, 30.0]
    assert jan["revenue_retention"].to_list() == pytest.approx([1.0, 0.4, 0.0, 0.6])
    feb = cohorts.filter(pl.col("cohort") == D(2024, 2, 1)).sort("months_since")
    assert feb["months_since"].to_list() == [0, 1, 2]  # nothing after April is shown
    assert feb["customers"].to_list() == [1, 0, 0]  # c's March line is a return, not a purchase
    assert feb["revenue"].to_list() == [75.0, -5.0, 0.0]
    # e bought before the period, so is not new in March; d never bought.
    assert set(cohorts["cohort"].to_list()) == {D(2024, 1, 1), D(2024, 2, 1)}


def test_cohort_matrix_width_is_capped():
    cohorts = cohort_retention(tx(), start=D(2024, 1, 1), end=END, max_months=1)
    assert cohorts["months_since"].max() == 1


def test_cohort_sentence():
    cohorts = cohort_retention(tx(), start=D(2024, 1, 1), end=END)
    # month 1: Jan cohort 1 of 2, Feb cohort 0 of 1 -> 1/3
    assert cohort_takeaway(cohorts, month=1).startswith("On average 33.3% of new customers buy again in month 1")


def test_acquisition_groups_prefer_the_customers_table():
    side = pl.LazyFrame({"customer_id": ["a", "b"], "acquisition_channel": ["partner", None]})
    groups = {r["customer_id"]: r["acquisition_channel"] for r in acquisition_groups(tx(), side, END).to_dicts()}
    assert groups["a"] == "partner" and groups["b"] == "store" and groups["c"] == "web"
    assert acquisition_groups(tx(with_extras=False), None, END) is None


def test_retention_curves_by_channel():
    groups = acquisition_groups(tx(), None, END)
    curves = retention_curves(tx(), groups, start=D(2024, 1, 1), end=END)
    web = curves.filter(pl.col("group") == "web").sort("months_since")
    # web = a (Jan, observable 0..3) and c (Feb, 0..2)
    assert web["customers_observed"].to_list() == [2, 2, 2, 1]
    assert web["active"].to_list() == [2, 1, 0, 1]
    store = curves.filter(pl.col("group") == "store").sort("months_since")
    assert store["active"].to_list() == [1, 0, 0, 0]
    assert "In month 1 after joining, the web cohort keeps the most" in curves_takeaway(curves, month=1)


def test_retention_curves_by_year_without_channels():
    curves = retention_curves(tx(with_extras=False), None, start=D(2024, 1, 1), end=END)
    assert curves["group"].unique().to_list() == ["2024"]
    assert curves.filter(pl.col("months_since") == 1)["retention"].item() == pytest.approx(1 / 3)


def test_lifecycle_by_hand():
    spend = pl.LazyFrame({"month": [D(2024, 1, 1), D(2024, 2, 1), D(2023, 12, 1)],
                          "channel": ["web", "web", "web"], "spend": [100.0, 50.0, 999.0]})
    cycle = lifecycle(tx(), D(2024, 1, 1), END, marketing_spend=spend, settings=LifecycleSettings(gap_days=30))
    assert cycle.acquired == 3  # a, b, c
    assert cycle.repeat_rate == pytest.approx(2 / 3)  # a and c bought on a second day
    # acquired at least 30 days before the end: a, b, c; lapsed (no purchase since 31 Mar): b, c
    assert cycle.churn_base == 3 and cycle.churn_rate == pytest.approx(2 / 3)
    assert cycle.funnel["customers"].to_list() == [3, 2, 1, 1]  # grew: a bought 2 categories; a still active
    cac = {r["acquisition_channel"]: r for r in cycle.cac.to_dicts()}
    assert cac["web"]["new_customers"] == 2 and cac["web"]["spend"] == 150.0 and cac["web"]["cac"] == 75.0
    assert cac["store"]["cac"] == 0.0 and cac["All channels"]["cac"] == pytest.approx(50.0)
    # won back after > 30 days: a on 10 Feb (36-day gap; 20 + 30 since), e on 15 Mar (105-day gap; 70)
    assert cycle.won_back == 2 and cycle.won_back_revenue == pytest.approx(20.0 + 30.0 + 70.0)
    assert cycle.acquisition["new_customers"].sum() == 3
    assert "2 lapsed customers were won back" in lifecycle_takeaway(cycle)
    # 3 new customers over Jan and Feb; web brought 2 of 3; only web has spend, so no cheapest/dearest pair
    assert acquisition_takeaway(cycle) == "3 new customers joined, 2 a month on average; most came through web (67%)."


def test_penetration_uses_only_fully_observed_quarters():
    cycle = lifecycle(tx(), D(2024, 1, 1), END, settings=LifecycleSettings(gap_days=30, min_quarter_customers=1))
    # Nobody has lived 182 days by 30 April, so only quarter 1 (days 0-90) counts, and only for
    # a (116 days lived) and b (101 days); c (87 days) has not completed its first quarter.
    pen = cycle.penetration
    assert pen["quarter"].to_list() == [1]
    # a: 10 + 20 + 30 (1 Apr is day 87) = 60 in 2 categories; b: 40 in 1
    assert pen["customers"].item() == 2
    assert pen["spend_per_customer"].item() == pytest.approx((60 + 40) / 2)
    assert pen["categories_per_customer"].item() == pytest.approx(3 / 2)
    assert "not been around long enough" in penetration_takeaway(pen)


def test_lifecycle_says_what_is_missing():
    cycle = lifecycle(tx(with_extras=False), D(2024, 1, 1), END)
    assert cycle.cac is None and len(cycle.notes) == 3
    assert cycle.funnel["stage"][2] == "Grew: spent more per repeat purchase"
    # a: first day 10, repeat mean 25 -> grew; c: first 50, repeat (25 - 5) = 20 -> did not
    assert cycle.funnel["customers"].to_list()[:3] == [3, 2, 1]


def test_penetration_leaves_out_thin_quarters():
    cycle = lifecycle(tx(), D(2024, 1, 1), END, settings=LifecycleSettings(gap_days=30, min_quarter_customers=3))
    assert cycle.penetration.height == 0  # quarter 1 has only 2 customers
