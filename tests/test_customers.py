"""Per-customer summary, hand-computed."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crm_core.customers import first_purchase_dates, purchase_summary, summarize

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


# ---------------------------------------------------------------- purchase_summary (the CLV path)

PURCHASE_COLUMNS = ["customer_id", "first_purchase_date", "last_purchase_date", "purchase_days", "revenue",
                    "first_day_amount"]
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "transactions.parquet"


@pytest.mark.parametrize("order", ["as_exported", "newest_first", "shuffled", "by_customer"])
def test_purchase_summary_matches_summarize_in_any_row_order(order):
    lines = pl.read_parquet(DEMO)
    lines = {
        "as_exported": lines,
        "newest_first": lines.reverse(),
        "shuffled": lines.sample(fraction=1.0, shuffle=True, seed=11),
        "by_customer": lines.sort("customer_id", "amount"),
    }[order]
    as_of = dt.date(2025, 6, 30)
    fast = purchase_summary(lines.lazy(), as_of).collect().sort("customer_id").drop("repeat_amount")
    reference = summarize(lines.lazy(), as_of=as_of).select(PURCHASE_COLUMNS).collect().sort("customer_id")
    assert fast["purchase_days"].sum() > fast.height  # repeat buyers present, so counting days matters
    assert_frame_equal(fast, reference, check_exact=False, rel_tol=1e-12, abs_tol=1e-9)


@pytest.mark.parametrize("sort_lines", [False, True])  # as given (runs out of date order) / date order (linear path)
def test_purchase_summary_by_hand(sort_lines):
    lines = pl.LazyFrame({
        "customer_id": ["a", "a", "b", "b", "b", "b", "c"],
        "order_date": [D(2024, 1, 5), D(2024, 1, 5), D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 9), D(2024, 1, 3),
                       D(2024, 1, 2)],
        "amount": [-4.0, -1.0, 10.0, -2.0, 7.0, 5.0, 3.0],
    })
    if sort_lines:
        lines = lines.sort("order_date", maintain_order=True)
    rows = {r["customer_id"]: r for r in purchase_summary(lines, D(2024, 1, 31)).collect().drop("repeat_amount").to_dicts()}
    # a: only returns -> no purchase days, null dates, revenue still counted.
    assert rows["a"] == {"customer_id": "a", "first_purchase_date": None, "last_purchase_date": None,
                         "purchase_days": 0, "revenue": -5.0, "first_day_amount": 0.0}
    # b: the return on Jan 1 is not a purchase; Jan 3 has two lines (10 + 5) around Jan 9 (rows out of date order).
    assert rows["b"] == {"customer_id": "b", "first_purchase_date": D(2024, 1, 3), "last_purchase_date": D(2024, 1, 9),
                         "purchase_days": 2, "revenue": 20.0, "first_day_amount": 15.0}
    assert rows["c"]["purchase_days"] == 1 and rows["c"]["first_day_amount"] == 3.0


@pytest.mark.parametrize("sort_lines", [False, True])
def test_purchase_days_before_and_after_a_split_by_hand(sort_lines):
    # Counted from each customer's distinct purchase days (one list): the split day itself is before the split.
    lines = pl.LazyFrame({
        "customer_id": ["a", "a", "b", "b", "b", "b", "b", "c", "d", "d"],
        "order_date": [D(2024, 1, 5), D(2024, 2, 5), D(2024, 1, 10), D(2024, 1, 3), D(2024, 1, 3), D(2024, 2, 1),
                       D(2024, 1, 20), D(2024, 2, 2), D(2024, 1, 4), D(2024, 1, 4)],
        "amount": [-4.0, -1.0, 10.0, 5.0, 6.0, 7.0, 2.0, 3.0, 1.0, -1.0],
    })
    if sort_lines:
        lines = lines.sort("order_date", maintain_order=True)
    frame = purchase_summary(lines, D(2024, 2, 28), split=D(2024, 1, 20)).collect()
    assert frame.schema["purchase_days"] == frame.schema["purchase_days_to_split"] == pl.UInt32
    rows = {r["customer_id"]: r for r in frame.select("customer_id", "purchase_days", "purchase_days_to_split",
                                                       "purchase_days_after_split", "last_purchase_to_split").to_dicts()}
    firsts_and_lasts = {r["customer_id"]: (r["first_purchase_date"], r["last_purchase_date"])
                        for r in frame.select("customer_id", "first_purchase_date", "last_purchase_date").to_dicts()}
    assert firsts_and_lasts == {"a": (None, None), "b": (D(2024, 1, 3), D(2024, 2, 1)),
                                "c": (D(2024, 2, 2), D(2024, 2, 2)), "d": (D(2024, 1, 4), D(2024, 1, 4))}
    assert rows == {
        "a": {"customer_id": "a", "purchase_days": 0, "purchase_days_to_split": 0, "purchase_days_after_split": 0,
              "last_purchase_to_split": None},  # only returns
        "b": {"customer_id": "b", "purchase_days": 4, "purchase_days_to_split": 3, "purchase_days_after_split": 1,
              "last_purchase_to_split": D(2024, 1, 20)},  # Jan 3 twice, Jan 10, Jan 20 (the split day), Feb 1
        "c": {"customer_id": "c", "purchase_days": 1, "purchase_days_to_split": 0, "purchase_days_after_split": 1,
              "last_purchase_to_split": None},  # first bought after the split
        "d": {"customer_id": "d", "purchase_days": 1, "purchase_days_to_split": 1, "purchase_days_after_split": 0,
              "last_purchase_to_split": D(2024, 1, 4)},  # a purchase and a return on one day
    }


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [3, 0, 4, 2, 1]])
def test_a_refunded_repeat_purchase_leaves_exactly_zero_repeat_spend(order):
    # Float sums of these amounts leave a residue (about 1e-14) whose sign depends on the order.
    amounts = [48.39, 38.21, 7.5, 68.84, -68.84]
    days = [D(2024, 9, 11)] * 3 + [D(2025, 1, 19), D(2025, 2, 3)]
    lines = pl.LazyFrame({"customer_id": ["a"] * 5, "order_date": [days[i] for i in order],
                          "amount": [amounts[i] for i in order]})
    row = purchase_summary(lines, D(2025, 12, 31)).collect().row(0, named=True)
    assert row["repeat_amount"] == 0.0
    assert row["first_day_amount"] == pytest.approx(94.1) and row["revenue"] == pytest.approx(94.1)


@pytest.mark.parametrize("split", [None, D(2024, 1, 6)])
def test_a_group_by_prepared_ahead_gives_the_same_summary_to_its_call_only(split, monkeypatch):
    # crm_core.commands.clv makes the group-by while the models load (prepare_purchase_runs) and hands it to fit_clv;
    # the call it was made for takes it, any other call (other rows, date or kind of split) groups its own rows. It
    # is taken once either way.
    import crm_core.customers as customers

    lines = tx()
    expected = purchase_summary(lines, D(2024, 1, 31), split=split).collect()
    grouped, group = [], customers._purchase_runs
    monkeypatch.setattr(customers, "_purchase_runs", lambda *args: grouped.append(args) or group(*args))
    prepared = customers.prepare_purchase_runs(lines, D(2024, 1, 31), split is not None)
    assert_frame_equal(purchase_summary(lines, D(2024, 1, 31), split=split, prepared=prepared).collect(), expected)
    assert len(grouped) == 1  # taken, not grouped again
    assert prepared.take(lines, D(2024, 1, 31), split is not None) is None  # once
    for other in [(tx(), D(2024, 1, 31), split), (lines, D(2024, 1, 30), split),
                  (lines, D(2024, 1, 31), None if split else D(2024, 1, 6))]:
        prepared = customers.prepare_purchase_runs(lines, D(2024, 1, 31), split is not None)
        summary = purchase_summary(*other[:2], split=other[2], prepared=prepared).collect()
        assert_frame_equal(summary, purchase_summary(*other[:2], split=other[2]).collect())
        assert prepared.take(lines, D(2024, 1, 31), split is not None) is None  # given up by the other call


def test_purchase_summary_of_no_lines_is_empty():
    lines = pl.LazyFrame({"customer_id": ["a"], "order_date": [D(2024, 5, 1)], "amount": [5.0]})
    assert purchase_summary(lines, D(2024, 1, 1)).collect().height == 0


def test_first_channel_is_the_first_purchase_days_first_line_with_a_channel():
    lines = pl.LazyFrame({
        "customer_id": ["a", "a", "b", "b", "b", "b", "c"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 1),
                       D(2024, 1, 1)],
        "amount": [-5.0, -1.0, 4.0, 10.0, 3.0, 2.0, -2.0],
        "channel": ["web", "app", "shop", None, "mail", "web", "web"],
    })
    first = dict(summarize(lines).select("customer_id", "first_channel").collect().iter_rows())
    # a and c: only returns, no purchase day. b: on Jan 1 the first line has no channel, the next says mail.
    assert first == {"a": None, "b": "mail", "c": None}


def _equal_decimal_revenue() -> pl.LazyFrame:
    """'a' spent 0.3 in one order, 'b' 0.1 + 0.2 and 'c' 0.2 + 0.1 (as floats: 0.30000000000000004), 'd' 1.00."""
    orders = [("a", 0.3), ("b", 0.1), ("b", 0.2), ("c", 0.2), ("c", 0.1), ("d", 1.0)]
    return pl.LazyFrame({"customer_id": [c for c, _ in orders], "order_id": [str(i) for i in range(len(orders))],
                         "order_date": [D(2024, 1, 1 + i) for i in range(len(orders))],
                         "amount": [amount for _, amount in orders], "cost": [0.1, 0.05, 0.05, 0.05, 0.05, 0.5]})


def test_equal_decimal_revenue_sums_to_equal_floats():
    assert 0.1 + 0.2 != 0.3  # what a float sum gives
    summary = summarize(_equal_decimal_revenue()).collect()
    revenue = dict(summary.select("customer_id", "revenue").iter_rows())
    assert revenue == {"a": 0.3, "b": 0.3, "c": 0.3, "d": 1.0}
    assert set(summary.filter(pl.col("customer_id") != "d")["margin"]) == {0.2}  # 0.3 - 0.1 and 0.3 - 0.05 - 0.05
    assert set(summary.filter(pl.col("customer_id") != "d")["gross_revenue"]) == {0.3}


def test_equal_revenue_gets_the_same_m_score_and_ties_break_by_customer_id():
    from crm_core.portfolio import TierSettings, assign_tiers
    from crm_core.rfm import rfm

    scored = rfm(_equal_decimal_revenue())
    m_scores = dict(scored.select("customer_id", "m_score").iter_rows())
    assert m_scores["a"] == m_scores["b"] == m_scores["c"] < m_scores["d"]
    # Two tiers of half the customers each: d, then the equal ones by customer id (a before b and c).
    tiers = assign_tiers(summarize(_equal_decimal_revenue()).collect(), TierSettings(names=("Top", "Rest"), shares=(0.5,)))
    assert tiers.select("customer_id", "tier").rows() == [("d", "Top"), ("a", "Top"), ("b", "Rest"), ("c", "Rest")]
