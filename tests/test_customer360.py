"""Customer 360: search ranking and literal matching, one customer's view, takeaways."""
from __future__ import annotations

import datetime as dt

import polars as pl

from crm_core.customer360 import (
    SEARCH_LIMIT,
    action_details,
    customer_row,
    customer_view,
    interactions_summary,
    known_customer_ids,
    match_labels,
    p_alive_text,
    purchase_timeline,
    search_customers,
    search_index,
    timeline_takeaway,
)

IDS = pl.DataFrame({"customer_id": ["C100", "C1000", "X9", "AC100", "a.c(1", "NOMAIL"]})
CONTACTS = pl.DataFrame({
    "customer_id": ["C100", "C1000", "X9", "AC100", "a.c(1", "GHOST"],
    "email": ["ann@shop.com", "bob@Shop.com", "c100fan@mail.org", None, "dot@x.io", "ghost@x.io"],
    "name": ["Ann Lee", "Bob Stone", "Cy", "Dee", "Eve", "Ghost"],
})


def _ids(frame: pl.DataFrame) -> list[str]:
    return frame["customer_id"].to_list()


def test_index_keeps_every_customer_once_with_contacts():
    index = search_index(pl.concat([IDS, IDS]), CONTACTS)
    assert _ids(index) == IDS["customer_id"].to_list()  # contacts of unknown ids (GHOST) are not added
    assert index.filter(pl.col("customer_id") == "NOMAIL")["email"].to_list() == [None]


def test_search_is_case_insensitive_partial_and_ranks_exact_then_prefix():
    index = search_index(IDS, CONTACTS)
    result = search_customers(index, "c100")
    # exact id first, then prefix (C1000 id, c100fan email), then contains (AC100)
    assert _ids(result) == ["C100", "C1000", "X9", "AC100"]
    assert result["matched_on"].to_list() == ["customer_id", "customer_id", "email", "customer_id"]


def test_search_by_email_and_name():
    index = search_index(IDS, CONTACTS)
    assert _ids(search_customers(index, "SHOP.COM")) == ["C100", "C1000"]
    assert _ids(search_customers(index, "stone")) == ["C1000"]
    assert search_customers(index, "stone")["matched_on"].to_list() == ["name"]


def test_search_is_literal_not_regex():
    index = search_index(IDS, CONTACTS)
    assert _ids(search_customers(index, "a.c(")) == ["a.c(1"]
    assert _ids(search_customers(index, ".*")) == []
    assert _ids(search_customers(index, "[")) == []


def test_empty_query_and_no_side_table():
    index = search_index(IDS)
    assert search_customers(index, "   ").height == 0
    assert search_customers(index, "").columns == ["customer_id", "matched_on"]
    assert _ids(search_customers(index, " x9 ")) == ["X9"]  # surrounding spaces ignored


def test_search_limit_on_a_large_index():
    ids = pl.DataFrame({"customer_id": [f"C{i:06d}" for i in range(100_000)]})
    index = search_index(ids)
    result = search_customers(index, "c0")
    assert result.height == SEARCH_LIMIT
    assert _ids(result)[:2] == ["C000000", "C000001"]
    assert _ids(search_customers(index, "099999")) == ["C099999"]


def test_match_labels_and_customer_row():
    index = search_index(IDS, CONTACTS)
    labels = match_labels(search_customers(index, "ac100"))
    assert labels == {"AC100": "AC100 · Dee"}
    table = pl.DataFrame({"customer_id": ["a", "b"], "revenue": [1.0, 2.0]})
    assert customer_row(table, "b") == {"customer_id": "b", "revenue": 2.0}
    assert customer_row(table, "zz") is None


# --------------------------------------------------------------------------- one customer's view

D = dt.date


def _tx() -> pl.LazyFrame:
    return pl.LazyFrame({
        "customer_id": ["A", "A", "A", "A", "B"],
        "order_date": [D(2024, 1, 5), D(2024, 1, 5), D(2024, 3, 1), D(2024, 3, 9), D(2024, 2, 2)],
        "amount": [30.0, 20.0, 100.0, -25.0, 9.0],
        "category": ["Books", "Toys", "Books", "Books", "Toys"],
        "channel": ["Web", "Web", "Store", None, "Web"],
    })


def _interactions() -> pl.LazyFrame:
    return pl.LazyFrame({
        "customer_id": ["A", "A", "A", "B"],
        "interaction_date": [D(2023, 12, 1), D(2024, 1, 7), D(2024, 3, 10), D(2024, 2, 3)],
        "channel": ["Email", "Phone", "Chat", "Email"],
        "reason": ["Billing", "Complaint", "Return / refund", "Billing"],
        "csat": [5.0, 1.0, None, 4.0],
        "cost": [3.0, 8.0, 2.0, 3.0],
    })


def test_timeline_groups_by_purchase_day_with_returns():
    timeline = purchase_timeline(_tx().filter(pl.col("customer_id") == "A").collect())
    assert timeline.rows() == [
        (D(2024, 1, 5), 50.0, 0.0, 2),
        (D(2024, 3, 1), 100.0, 0.0, 1),
        (D(2024, 3, 9), -25.0, 25.0, 1),
    ]


def test_customer_view_gathers_mix_contacts_and_interactions_in_period():
    contacts = CONTACTS.lazy().with_columns(pl.col("customer_id").replace("C100", "A"))
    view = customer_view("A", _tx(), {"recency_days": 3}, contacts, _interactions(), D(2024, 1, 1), D(2024, 3, 31))
    assert view.bought
    assert view.categories.rows() == [("Books", 105.0, 2), ("Toys", 20.0, 1)]
    assert view.channels.rows() == [("Store", 100.0, 1), ("Web", 50.0, 1), ("(not recorded)", -25.0, 0)]
    assert view.contact == {"email": "ann@shop.com", "name": "Ann Lee"}
    # the December contact is outside the period; newest first
    assert view.interactions["interaction_date"].to_list() == [D(2024, 3, 10), D(2024, 1, 7)]
    assert interactions_summary(view) == {"contacts": 2, "csat_mean": 1.0, "cost": 10.0}
    assert timeline_takeaway(view) == (
        "Bought on 3 days between 5 Jan 2024 and 9 Mar 2024, 125.00 in total; "
        "last purchase 3 days before the end of the period; returned 25.00."
    )


def test_customer_view_without_optional_data():
    tx = _tx().select("customer_id", "order_date", "amount")
    view = customer_view("Z", tx, None)
    assert not view.bought
    assert view.categories is None and view.channels is None and view.interactions is None
    assert view.contact == {}
    assert interactions_summary(view) is None
    assert "no purchase in the selected period" in timeline_takeaway(view)


def test_action_details_leave_out_empty_playbook_fields():
    assert action_details({"channel": "Phone", "offer": "10% off"}) == "Channel: Phone · Offer: 10% off"
    assert action_details({"channel": None, "offer": "Free delivery"}) == "Offer: Free delivery"
    assert action_details({"channel": "", "offer": None}) == ""
    assert action_details({}) == ""


def test_p_alive_is_a_dash_for_customers_without_a_repeat_purchase():
    assert p_alive_text({"p_alive": 0.374, "repeat_days": 3}) == "37%"
    assert p_alive_text({"p_alive": 1.0, "repeat_days": 0}) == "—"  # the model always says 100% here
    assert p_alive_text({"p_alive": 0.5}) == "50%"  # repeat history unknown: the estimate as is
    assert p_alive_text({"p_alive": None, "repeat_days": 2}) == "—"


def test_known_customer_ids_include_customers_who_never_bought():
    tx = pl.LazyFrame({"customer_id": ["B", "A", "B"], "amount": [1.0, 2.0, 3.0]})
    customers = pl.LazyFrame({"customer_id": [7, 1], "email": ["x@y", "z@y"]})  # ids read as numbers
    assert known_customer_ids(tx, customers)["customer_id"].to_list() == ["1", "7", "A", "B"]
    assert known_customer_ids(tx)["customer_id"].to_list() == ["A", "B"]
