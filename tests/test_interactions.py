"""Interactions: complaint flag, CSAT by group, service load, contacts distribution, trend (hand-computed)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.interactions import (
    NO_GROUP,
    UNKNOWN_GROUP,
    InteractionSettings,
    complaints_takeaway,
    contacts_distribution,
    cost_takeaway,
    csat_by,
    csat_takeaway,
    distribution_takeaway,
    expected_columns,
    group_choices,
    group_service,
    headline,
    prepare,
    satisfaction_trend,
    service_groups,
    trend_takeaway,
)
from crm_core.schema import INTERACTION_SCHEMA

D = dt.date

INTERACTIONS = pl.LazyFrame({
    "customer_id": ["a", "a", "b", "c", "c", "c", "z", "a"],
    "interaction_date": [D(2024, 1, 3), D(2024, 2, 1), D(2024, 1, 9), D(2024, 1, 20), D(2024, 2, 5), D(2024, 2, 6),
                         D(2024, 2, 7), D(2023, 12, 31)],
    "channel": ["Email", "Phone", "Email", "Chat", "Chat", None, "Phone", "Email"],
    "reason": ["Billing", "Formal COMPLAINT", "Billing", "Delivery", "Delivery", "Delivery", "Billing", "Billing"],
    "csat": [4.0, 3.0, 5.0, 2.0, None, 4.0, 1.0, 1.0],
    "cost": [2.0, 8.0, 2.0, 1.0, 1.0, 1.0, 8.0, 99.0],
})
# a, b, d bought in the period (d never called); z contacted support without buying; c bought but has no segment.
ACTIONS = pl.DataFrame({
    "customer_id": ["a", "b", "c", "d"],
    "segment": ["At Risk", "Champions", None, "Champions"],
    "revenue": [100.0, 400.0, 50.0, 0.0],
})


def _contacts() -> pl.DataFrame:
    return prepare(INTERACTIONS, ACTIONS.select("customer_id", "segment"), D(2024, 1, 1), D(2024, 2, 29))


def test_prepare_filters_period_joins_groups_and_flags_complaints():
    contacts = _contacts().sort("interaction_date")
    assert contacts.height == 7  # the December contact is outside the period
    assert contacts["segment"].to_list() == [
        "At Risk", "Champions", UNKNOWN_GROUP, "At Risk", UNKNOWN_GROUP, UNKNOWN_GROUP, NO_GROUP,
    ]
    # complaints: reason mentions a complaint (any case) or CSAT <= 2
    assert contacts["is_complaint"].to_list() == [False, False, True, True, False, False, True]
    assert contacts["channel"].to_list()[5] == "(not recorded)"


def test_complaint_threshold_is_a_setting():
    strict = prepare(INTERACTIONS, ACTIONS.select("customer_id"), settings=InteractionSettings(complaint_csat_max=3.0))
    assert strict.filter(pl.col("csat") == 3.0)["is_complaint"].to_list() == [True]


def test_prepare_adds_missing_optional_columns():
    bare = INTERACTIONS.select("customer_id", "interaction_date")
    contacts = prepare(bare, ACTIONS.select("customer_id"))
    assert set(INTERACTION_SCHEMA) <= set(contacts.columns)
    assert contacts["is_complaint"].sum() == 0


def test_headline():
    assert headline(_contacts()) == {
        "contacts": 7, "csat_mean": pytest.approx(19 / 6), "complaint_share": pytest.approx(3 / 7), "cost": 23.0,
    }


def test_csat_by_segment_worst_first():
    table = csat_by(_contacts(), "segment")
    rows = {row["segment"]: row for row in table.iter_rows(named=True)}
    assert table["segment"].to_list() == [NO_GROUP, UNKNOWN_GROUP, "At Risk", "Champions"]
    assert rows["At Risk"]["csat_mean"] == pytest.approx(3.5)
    assert (rows["At Risk"]["contacts"], rows["At Risk"]["complaints"], rows["At Risk"]["cost"]) == (2, 1, 10.0)
    assert rows[UNKNOWN_GROUP]["csat_mean"] == pytest.approx(3.0)  # (2 + 4) / 2, unrated contact ignored
    assert rows[UNKNOWN_GROUP]["rated"] == 2
    assert rows[UNKNOWN_GROUP]["complaint_share"] == pytest.approx(1 / 3)
    assert csat_takeaway(table, "segment", "RFM segment") == (
        f"Least satisfied RFM segment: {NO_GROUP} (CSAT 1.00 over 1 contacts); most satisfied: Champions (5.00)."
    )


def test_group_service_per_100_customers_and_cost_share():
    table = group_service(_contacts(), ACTIONS, "segment")
    rows = {row["segment"]: row for row in table.iter_rows(named=True)}
    assert NO_GROUP not in rows  # non-buyers have no revenue to compare with
    at_risk, champions, unknown = rows["At Risk"], rows["Champions"], rows[UNKNOWN_GROUP]
    assert (at_risk["customers"], at_risk["contacts"], at_risk["complaints"]) == (1, 2, 1)
    assert at_risk["complaints_per_100"] == pytest.approx(100.0)
    assert at_risk["cost_share"] == pytest.approx(0.10)
    assert (champions["customers"], champions["contacts"], champions["revenue"]) == (2, 1, 400.0)
    assert champions["contacts_per_customer"] == pytest.approx(0.5)
    assert champions["complaints_per_100"] == 0.0
    assert champions["cost_per_customer"] == pytest.approx(1.0)
    assert champions["revenue_per_customer"] == pytest.approx(200.0)
    assert unknown["complaints_per_100"] == pytest.approx(100.0) and unknown["cost_share"] == pytest.approx(3 / 50)
    assert table["segment"].to_list() == [UNKNOWN_GROUP, "At Risk", "Champions"]  # ties by name
    assert complaints_takeaway(table, "RFM segment") == (
        f"{UNKNOWN_GROUP} complain most: 100.0 complaints per 100 customers, against 50.0 across all RFM segments."
    )
    # total cost 15 over revenue 550 = 2.7%; heaviest share: At Risk 10%
    assert cost_takeaway(table, "RFM segment") == (
        "Serving customers cost 15, 2.7% of their revenue; it weighs most in RFM segment At Risk (10.0% of revenue)."
    )


def test_contacts_distribution_counts_buyers_without_contacts():
    table = contacts_distribution(_contacts(), ACTIONS)
    assert table.rows() == [
        ("0", 1, 0.25), ("1", 1, 0.25), ("2", 1, 0.25), ("3", 1, 0.25), ("4", 0, 0.0), ("5+", 0, 0.0),
    ]
    assert distribution_takeaway(table) == (
        "25% of this period's buyers never contacted support; 0.0% contacted it five times or more."
    )


def test_five_or_more_contacts_share_a_bucket():
    many = pl.LazyFrame({"customer_id": ["a"] * 7, "interaction_date": [D(2024, 1, d) for d in range(1, 8)]})
    table = contacts_distribution(prepare(many, ACTIONS.select("customer_id")), ACTIONS)
    assert dict(zip(table["contacts"], table["customers"])) == {"0": 3, "1": 0, "2": 0, "3": 0, "4": 0, "5+": 1}


def test_satisfaction_trend_by_month():
    trend = satisfaction_trend(_contacts())
    assert trend["month"].to_list() == [D(2024, 1, 1), D(2024, 2, 1)]
    assert trend["contacts"].to_list() == [3, 4]
    assert trend["rated"].to_list() == [3, 3]
    assert trend["csat_mean"].to_list() == pytest.approx([11 / 3, 8 / 3])
    assert trend["complaint_share"].to_list() == pytest.approx([1 / 3, 2 / 4])
    assert trend_takeaway(trend) == (
        "Satisfaction fell from 3.67 in the first month (Jan 2024) to 2.67 in the last month (to Feb 2024)."
    )
    assert "Not enough months" in trend_takeaway(trend.head(1))


def test_trend_takeaway_weights_three_months_on_each_side():
    trend = pl.DataFrame({
        "month": [D(2024, m, 1) for m in range(1, 8)],
        "rated": [1, 3, 0, 10, 2, 2, 4],
        "csat_mean": [2.0, 4.0, None, 1.0, 3.0, 3.0, 4.5],
    })
    # months with ratings: Jan..Jul without Mar (6); first 3: (2*1 + 4*3 + 1*10) / 14 = 24/14 = 1.71;
    # last 3: (3*2 + 3*2 + 4.5*4) / 8 = 30/8 = 3.75
    assert trend_takeaway(trend) == (
        "Satisfaction rose from 1.71 in the first 3 months (Jan 2024) to 3.75 in the last 3 months (to Jul 2024)."
    )


def test_expected_columns_and_group_choices():
    table = expected_columns()
    assert table["column"].to_list() == list(INTERACTION_SCHEMA)
    assert table.filter(pl.col("required") == "yes")["column"].to_list() == ["customer_id", "interaction_date"]
    assert all(table["meaning"].str.len_chars() > 0)
    assert group_choices(ACTIONS.with_columns(pl.lit("x").alias("value_band"))) == {
        "segment": "RFM segment", "value_band": "Value band",
    }


def test_service_groups_band_the_period_buyers():
    from crm_core.actions import ValueSettings

    summary = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [400.0, 100.0, 50.0, 10.0]})
    profile = pl.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["Champions", "Lost", "Lost"]})
    groups = service_groups(summary, profile, ValueSettings(high_value_share=0.25))
    rows = {row["customer_id"]: row for row in groups.iter_rows(named=True)}
    assert groups.columns == ["customer_id", "segment", "value_band"]  # no tier known: left out
    assert [rows[c]["value_band"] for c in "abcd"] == ["High value", "Other", "Other", "Other"]  # top 25% of 4 = a
    assert rows["d"]["segment"] is None  # not profiled: no segment, still banded
