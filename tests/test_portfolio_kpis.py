"""Golden tests of crm_core.kpis_relationship on frames computed by hand."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core import kpis_relationship as kr
from crm_core.customers import summarize

D = dt.date
JAN, FEB = (D(2024, 1, 1), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 29))


def tx_frame(rows) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64},
                        orient="row").lazy()


RETENTION_TX = tx_frame([
    ("A", D(2024, 1, 10), 10.0), ("A", D(2024, 2, 10), 10.0),   # retained
    ("B", D(2024, 1, 12), 20.0),                                # churned
    ("C", D(2024, 2, 5), 30.0),                                 # new in February
    ("D", D(2024, 1, 20), 15.0), ("D", D(2024, 2, 3), -15.0),   # only a return in February: not active
])


def test_retention_and_churn():
    result = kr.retention(RETENTION_TX, FEB, JAN)
    assert (result.previous_customers, result.retained) == (3, 1)
    assert result.retention_rate == pytest.approx(1 / 3)
    assert result.churn_rate == pytest.approx(2 / 3)
    assert result.takeaway() == (
        "33% of the 3 customers who bought in the previous period bought again in this one; 67% did not.")


def test_retention_default_previous_period_is_equal_length_before():
    assert kr.equal_period_before(FEB) == (D(2024, 1, 3), D(2024, 1, 31))
    assert kr.retention(RETENTION_TX, FEB).previous_customers == 3  # all January buys are after the 3rd


def test_retention_without_previous_buyers():
    result = kr.retention(RETENTION_TX, JAN)
    assert result.retention_rate is None and result.churn_rate is None
    assert "cannot be measured" in result.takeaway()


CAC_TX = tx_frame([
    ("A", D(2024, 1, 10), 50.0),                                 # first purchase before the period
    ("B", D(2024, 1, 20), 40.0), ("B", D(2024, 2, 25), 60.0),    # new, Paid
    ("C", D(2024, 2, 5), 80.0),                                  # new, Social
    ("D", D(2024, 1, 25), 20.0),                                 # new, channel missing
    ("E", D(2024, 2, 10), 10.0),                                 # new, not in the customers table
    ("B", D(2024, 3, 5), 500.0),                                 # after the period
])
CUSTOMERS = pl.DataFrame({
    "customer_id": ["A", "B", "C", "D"], "acquisition_channel": ["Paid", "Paid", "Social", None],
}).lazy()
SPEND = pl.DataFrame({
    "month": [D(2023, 12, 1), D(2024, 1, 1), D(2024, 2, 1), D(2024, 2, 1), D(2024, 3, 1)],
    "channel": ["Paid", "Paid", "Paid", "Social", "Social"],
    "spend": [999.0, 100.0, 50.0, 30.0, 7.0],
}).lazy()
CAC_PERIOD = (D(2024, 1, 15), D(2024, 2, 29))


def test_cac_by_channel():
    table = kr.cac_by_channel(CAC_TX, CUSTOMERS, SPEND, CAC_PERIOD)
    rows = {row["channel"]: row for row in table.iter_rows(named=True)}
    assert set(rows) == {"Paid", "Social", "Unknown"}
    assert (rows["Paid"]["spend"], rows["Paid"]["new_customers"], rows["Paid"]["cac"]) == (150.0, 1, 150.0)
    assert (rows["Social"]["spend"], rows["Social"]["new_customers"], rows["Social"]["cac"]) == (30.0, 1, 30.0)
    assert (rows["Unknown"]["spend"], rows["Unknown"]["new_customers"], rows["Unknown"]["cac"]) == (0.0, 2, 0.0)
    assert kr.overall_cac(table) == pytest.approx(180 / 4)


def test_channel_with_spend_but_no_new_customer_has_no_cac():
    table = kr.cac_by_channel(CAC_TX, CUSTOMERS, SPEND, (D(2024, 3, 1), D(2024, 3, 31)))
    social = table.filter(pl.col("channel") == "Social").row(0, named=True)
    assert (social["spend"], social["new_customers"], social["cac"]) == (7.0, 0, None)
    assert kr.overall_cac(table) is None


def test_clv_cac_historic():
    table, basis = kr.clv_cac(CAC_TX, CUSTOMERS, SPEND, CAC_PERIOD)
    rows = {row["channel"]: row for row in table.iter_rows(named=True)}
    assert basis == kr.HISTORIC_CLV and "not a forecast" in basis
    assert rows["Paid"]["clv_mean"] == 100.0  # B's revenue up to the period end (March excluded)
    assert rows["Paid"]["clv_cac"] == pytest.approx(100 / 150)
    assert rows["Social"]["clv_cac"] == pytest.approx(80 / 30)
    assert rows["Unknown"]["clv_mean"] == pytest.approx((20 + 10) / 2)
    assert rows["Unknown"]["clv_cac"] is None  # no spend: ratio undefined


def test_clv_cac_with_predicted_clv():
    clv = pl.DataFrame({"customer_id": ["B", "D"], "clv": [300.0, 40.0]})
    table, basis = kr.clv_cac(CAC_TX, CUSTOMERS, SPEND, CAC_PERIOD, clv=clv)
    rows = {row["channel"]: row for row in table.iter_rows(named=True)}
    assert basis == kr.PREDICTED_CLV
    assert rows["Paid"]["clv_cac"] == pytest.approx(2.0)
    assert rows["Social"]["clv_mean"] == 0.0  # C has no prediction: counted as 0
    assert rows["Unknown"]["clv_mean"] == pytest.approx(20.0)


INTERACTIONS = pl.DataFrame({
    "customer_id": ["A", "B", "C", "D", "E", "F"],
    "interaction_date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5), D(2024, 3, 1)],
    "csat": [5.0, 4.0, 3.0, None, 1.0, 5.0],
}).lazy()


def test_csat():
    result = kr.csat(INTERACTIONS, (D(2024, 1, 1), D(2024, 1, 31)))
    assert result.responses == 4
    assert result.mean == pytest.approx(13 / 4)
    assert result.share_satisfied == pytest.approx(2 / 4)
    assert result.takeaway() == "Average satisfaction 3.25 out of 5 over 4 scored contacts; 50% were satisfied (4 or 5)."
    everything = kr.csat(INTERACTIONS)
    assert (everything.responses, everything.share_satisfied) == (5, pytest.approx(3 / 5))


def test_csat_without_scores():
    assert kr.csat(INTERACTIONS.drop("csat")) == kr.Csat(0, None, None)
    assert kr.csat(INTERACTIONS, (D(2025, 1, 1), D(2025, 1, 31))).mean is None


def test_revenue_concentration():
    summary = summarize(tx_frame([
        ("a", D(2024, 1, 1), 70.0), ("b", D(2024, 1, 1), 20.0), ("c", D(2024, 1, 1), 6.0),
        ("d", D(2024, 1, 1), 4.0), ("e", D(2024, 1, 1), 0.0), ("f", D(2024, 1, 1), 0.0),
    ]))
    # ceil(0.2 * 6) = 2 customers: 90 of 100
    assert kr.revenue_concentration(summary) == pytest.approx(0.9)


def test_clv_cac_leaves_out_failed_predictions():
    clv = pl.DataFrame({"customer_id": ["D", "E"], "clv": [40.0, float("nan")]})
    table, _ = kr.clv_cac(CAC_TX, CUSTOMERS, SPEND, CAC_PERIOD, clv=clv)
    unknown = table.filter(pl.col("channel") == "Unknown").row(0, named=True)
    assert unknown["clv_mean"] == 40.0  # E's NaN is not averaged in; D's 40 stands alone
