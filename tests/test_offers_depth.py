"""Discount depth against later value and repeat rate, on small Shopify and WooCommerce exports computed by hand.

Shopify export (Subtotal is after discounts; net sales = Subtotal; Discount Amount on each order's first line),
read as of 2024-03-01 (the last order):

====  ==========  ========  ========  =====  ==========  =====================================
cust  first day   subtotal  discount  depth  band        later orders
====  ==========  ========  ========  =====  ==========  =====================================
a     2023-01-10  90        10        10%    10-20%      2023-03-01 (50): repeat in 50 days
b     2023-01-12  100       0         0      No discount none
c     2023-01-15  70        30        30%    30%+        2023-06-01 (40): repeat in 137 days
d     2023-02-01  95        5         5%     Under 10%   none
e     2023-02-10  80        20        20%    20-30%      2024-03-01 (40): 385 days, not within 365
f     2024-01-20  60        0         0      No discount none; observed 41 days only
g     2023-01-20  45        15        25%    20-30%      2023-02-20 (30, two lines): repeat in 31 days
====  ==========  ========  ========  =====  ==========  =====================================

Repeat within 365 days (of the customers observed 365 days): No discount 0/1 (f not observed), Under 10% 0/1,
10-20% 1/1, 20-30% 1/2, 30%+ 1/1. Revenue after the first order per customer: No discount 0, Under 10% 0,
10-20% 50, 20-30% (40 + 30) / 2 = 35, 30%+ 40.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math

import polars as pl
import pytest

from crm_core import drivers, offers
from crm_core.dataset import Dataset
from crm_core.findings import FindingSettings, key_findings
from crm_core.ingest import read_orders

SHOPIFY_COLUMNS = ["Name", "Email", "Financial Status", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
                   "Discount Code", "Discount Amount", "Created at", "Lineitem quantity", "Lineitem name",
                   "Lineitem price", "Lineitem sku", "Refunded Amount"]


def _order(name, email, day, subtotal, discount, code, lines):
    """A Shopify order: order fields on the first line only, then one row per line item."""
    rows = []
    for index, (product, quantity, price) in enumerate(lines):
        row = {"Created at": f"{day} 10:00:00 +0000", "Name": name, "Lineitem quantity": str(quantity),
               "Lineitem name": product, "Lineitem price": f"{price:.2f}", "Lineitem sku": product[:3].upper()}
        if index == 0:
            total = subtotal + 5
            row.update({"Email": email, "Financial Status": "paid", "Currency": "USD", "Subtotal": f"{subtotal:.2f}",
                        "Shipping": "5.00", "Taxes": "0.00", "Total": f"{total:.2f}", "Discount Code": code,
                        "Discount Amount": discount, "Refunded Amount": "0.00"})
        rows.append(row)
    return rows


ORDERS = [
    _order("#1001", "a@x.com", "2023-01-10", 90, "10.00", "WELCOME10", [("Jacket", 1, 80.0), ("Hat", 1, 20.0)]),
    _order("#1002", "b@x.com", "2023-01-12", 100, "0.00", "", [("Jacket", 1, 100.0)]),
    _order("#1003", "c@x.com", "2023-01-15", 70, "30.00", "BIG30", [("Boots", 1, 100.0)]),
    _order("#1004", "g@x.com", "2023-01-20", 45, "15.00", "SPRING", [("Hat", 2, 30.0)]),
    _order("#1005", "d@x.com", "2023-02-01", 95, "5.00", "FIVE", [("Scarf", 1, 100.0)]),
    _order("#1006", "e@x.com", "2023-02-10", 80, "20.00", "SPRING", [("Jacket", 1, 100.0)]),
    _order("#1007", "g@x.com", "2023-02-20", 30, "0.00", "", [("Socks", 1, 10.0), ("Hat", 1, 20.0)]),
    _order("#1008", "a@x.com", "2023-03-01", 50, "0.00", "", [("Scarf", 1, 50.0)]),
    _order("#1009", "c@x.com", "2023-06-01", 40, "", "", [("Socks", 4, 10.0)]),  # blank amount: no discount
    _order("#1010", "f@x.com", "2024-01-20", 60, "0.00", "", [("Hat", 3, 20.0)]),
    _order("#1011", "e@x.com", "2024-03-01", 40, "0.00", "", [("Socks", 4, 10.0)]),
]


def _csv(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({column: row.get(column, "") for column in columns} for row in rows)
    return buffer.getvalue()


def _shopify(tmp_path, orders=ORDERS, columns=SHOPIFY_COLUMNS, name="orders_export.csv"):
    path = tmp_path / name
    path.write_text(_csv(columns, [row for order in orders for row in order]), encoding="utf-8")
    return path


@pytest.fixture
def shopify_tx(tmp_path) -> pl.LazyFrame:
    frame, report = read_orders(_shopify(tmp_path))
    assert report.detected["preset"] == "shopify" and report.rows_rejected == 0
    return frame.collect().lazy()


def test_shopify_discount_amount_is_kept_beside_unchanged_revenue(tmp_path, shopify_tx):
    frame = shopify_tx.collect().sort("order_id")
    assert frame["discount_amount"].to_list() == [10.0, 0.0, 30.0, 15.0, 5.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    without = [column for column in SHOPIFY_COLUMNS if column != "Discount Amount"]
    plain, _ = read_orders(_shopify(tmp_path, columns=without, name="plain.csv"))
    plain = plain.collect().sort("order_id")
    assert "discount_amount" not in plain.columns
    assert frame["amount"].to_list() == plain["amount"].to_list()  # revenue is the same with or without it
    assert frame["amount"].to_list() == [90.0, 100.0, 70.0, 45.0, 95.0, 80.0, 30.0, 50.0, 40.0, 60.0, 40.0]


def test_unreadable_discount_amount_rejects_the_order_with_a_reason(tmp_path):
    broken = [*ORDERS[:-1], _order("#1011", "e@x.com", "2024-03-01", 40, "ten", "", [("Socks", 4, 10.0)])]
    frame, report = read_orders(_shopify(tmp_path, broken))
    assert report.rows_read == report.rows_valid + report.rows_rejected == 11
    assert report.rejected_by_reason() == {"unparseable discount amount": 1}
    assert "#1011" not in frame.collect()["order_id"].to_list()


def test_depth_bands_by_hand(shopify_tx):
    profiles = drivers.customer_profiles(shopify_tx)
    depth = dict(zip(profiles["customer_id"], profiles["discount_depth"], strict=True))
    assert depth == pytest.approx({"a@x.com": 0.10, "b@x.com": 0.0, "c@x.com": 0.30, "d@x.com": 0.05,
                                   "e@x.com": 0.20, "f@x.com": 0.0, "g@x.com": 0.25})
    table = offers.depth_table(profiles)
    assert table["name"].to_list() == ["No discount", "Under 10%", "10-20%", "20-30%", "30% or more"]
    assert table["customers"].to_list() == [2, 1, 1, 2, 1]
    assert table["observed_365"].to_list() == [1, 1, 1, 2, 1]
    assert table["repeat_rate_365"].to_list() == [0.0, 0.0, 1.0, 0.5, 1.0]
    assert table["after_first_per_customer"].to_list() == pytest.approx([0.0, 0.0, 50.0, 35.0, 40.0])
    assert table["mean_depth"].to_list() == pytest.approx([0.0, 0.05, 0.10, 0.225, 0.30])
    assert table["small"].all()


def test_band_edges_are_exact():
    depths = pl.Series([0.0, 1e-9, 0.0999999, 3 / 30, 0.2, 0.3, 0.95, None])
    bands = pl.select(offers.depth_band(pl.lit(depths))).to_series().to_list()
    assert bands == ["No discount", "Under 10%", "Under 10%", "10-20%", "20-30%", "30% or more", "30% or more", None]
    # 0.03 off 0.30: the float division gives 0.09999999999999998, yet it is 10% and in the 10-20% band.
    depth = pl.select(drivers.discount_depth(pl.lit(0.03), pl.lit(0.27))).item()
    assert depth < 0.1
    assert pl.select(offers.depth_band(pl.lit(depth))).item() == "10-20%"


def test_negative_discounts_are_sizes_and_no_price_has_no_depth():
    values = pl.DataFrame({"d": [-10.0, 0.0, None, 5.0], "r": [90.0, 50.0, 50.0, -5.0]})
    depth = values.select(drivers.discount_depth(pl.col("d"), pl.col("r"))).to_series().to_list()
    assert depth == [0.1, 0.0, 0.0, None]


def test_depth_takeaway_compares_deepest_with_full_price(shopify_tx):
    profiles = drivers.customer_profiles(shopify_tx)
    table = offers.depth_table(profiles, settings=drivers.DriverSettings(small_group=1))
    assert offers.depth_takeaway(table) == (
        "Customers whose first order had 30% or more off come back more: 100% ordered again within a year, "
        "against 0% of those who paid full price; they have spent 40.00 each since, against 0.00.")
    assert offers.depth_takeaway(offers.depth_table(profiles)).startswith("Too few customers in each discount depth")


def test_depth_needs_discount_amounts(tmp_path):
    without = [column for column in SHOPIFY_COLUMNS if column != "Discount Amount"]
    frame, _ = read_orders(_shopify(tmp_path, columns=without, name="plain.csv"))
    profiles = drivers.customer_profiles(frame)
    assert not offers.has_discount_amounts(profiles)
    with pytest.raises(ValueError, match="no discount amount"):
        offers.depth_table(profiles)


def test_predicted_values_per_band_follow_the_customers(shopify_tx):
    profiles = drivers.customer_profiles(shopify_tx)
    predictions = pl.DataFrame({"customer_id": ["a@x.com", "b@x.com", "e@x.com", "g@x.com"],
                                "predicted_value": [10.0, 20.0, 30.0, 50.0]})
    table = offers.depth_table(profiles, predictions)
    rows = {row["name"]: row for row in table.iter_rows(named=True)}
    assert rows["20-30%"]["predicted_value_per_customer"] == 40.0
    half = 1.959963984540054 * math.sqrt(200.0) / math.sqrt(2)  # sd of (30, 50) is sqrt(200)
    assert rows["20-30%"]["predicted_value_low"] == pytest.approx(40.0 - half)
    assert rows["No discount"]["predicted_value_per_customer"] == 20.0  # f has no prediction
    assert rows["No discount"]["predicted_customers"] == 1


WOO_COLUMNS = ["order_id", "order_date", "status", "order_currency", "order_total", "order_refund", "discount_total",
               "customer_id", "customer_email", "item_name", "sku", "quantity", "item_price", "coupon_code"]


def _woo_rows():
    """Order fields repeated on every line item, as the export plugins write them."""
    orders = [  # (id, day, status, total, refund, discount, customer, items)
        ("11", "2023-01-05", "wc-completed", "24.00", "0", "6.00", "7", [("Tea", 1, 10.0), ("Pot", 1, 20.0)]),
        ("12", "2023-01-06", "processing", "40.00", "0", "0.00", "8", [("Pot", 2, 20.0)]),
        ("13", "2023-02-01", "completed", "12.00", "0", "", "7", [("Tea", 1, 12.0)]),
        ("14", "2023-02-02", "cancelled", "50.00", "0", "50.00", "8", [("Pot", 1, 100.0)]),
        ("15", "2024-02-01", "completed", "30.00", "0", "20.00", "9", [("Tea", 5, 10.0)]),
    ]
    rows = []
    for order_id, day, status, total, refund, discount, customer, items in orders:
        for product, quantity, price in items:
            rows.append({"order_id": order_id, "order_date": f"{day} 09:00:00", "status": status,
                         "order_currency": "EUR", "order_total": total, "order_refund": refund,
                         "discount_total": discount, "customer_id": customer, "customer_email": f"{customer}@x.com",
                         "item_name": product, "sku": product[:1], "quantity": str(quantity),
                         "item_price": f"{price:.2f}", "coupon_code": "SAVE" if discount not in ("", "0.00") else ""})
    return rows


def test_woocommerce_discount_total_per_order_and_depth(tmp_path):
    path = tmp_path / "woo.csv"
    path.write_text(_csv(WOO_COLUMNS, _woo_rows()), encoding="utf-8")
    frame, report = read_orders(path)
    assert report.detected["preset"] == "woocommerce"
    assert report.rejected_by_reason() == {"order not completed": 1}
    orders = frame.collect().sort("order_id")
    assert orders["amount"].to_list() == [24.0, 40.0, 12.0, 30.0]  # Order Total, unchanged
    assert orders["discount_amount"].to_list() == [6.0, 0.0, 0.0, 20.0]
    profiles = drivers.customer_profiles(frame, as_of=dt.date(2024, 2, 1))
    depth = dict(zip(profiles["customer_id"], profiles["discount_depth"], strict=True))
    assert depth == pytest.approx({"7": 0.2, "8": 0.0, "9": 0.4})  # 6 / 30, none, 20 / 50
    table = offers.depth_table(profiles)
    assert table["name"].to_list() == ["No discount", "20-30%", "30% or more"]
    assert table["repeat_rate_365"].to_list() == [0.0, 1.0, None]  # customer 9 is not observed a year


def test_depth_finding_in_deck_and_report(shopify_tx):
    frame = shopify_tx.collect()
    # 35 customers: the Shopify ones copied five times under new e-mails, so no band is one person.
    copies = pl.concat([frame.with_columns(pl.col("customer_id") + f"-{copy}", pl.col("order_id") + f"-{copy}")
                        for copy in range(5)])
    findings = key_findings(Dataset(copies.lazy()), FindingSettings(), keys=("discount_depth",))
    assert [finding.key for finding in findings] == ["discount_depth"]
    finding = findings[0]
    assert finding.chart == "depth_bars"
    assert finding.table["First-order discount"].to_list() == list(offers.BAND_ORDER)
    assert finding.headline.startswith("Too few customers")  # bands of 5-10 customers are flagged small
    assert key_findings(Dataset(frame.drop("discount_amount").lazy()), keys=("discount_depth",)) == []


def test_cli_prints_the_depth_bands(tmp_path, capsys):
    from crm_core.__main__ import main

    assert main(["drivers", str(_shopify(tmp_path)), "--by", "discount_code", "--no-prediction", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {group["name"] for group in payload["groups"]} >= {"WELCOME10", "(none)"}  # the contract is untouched
    bands = {band["name"]: band for band in payload["discount_depth"]}
    assert list(bands) == list(offers.BAND_ORDER)
    assert bands["20-30%"]["customers"] == 2 and bands["20-30%"]["repeat_rate_365"] == 0.5
    assert bands["20-30%"]["after_first_per_customer"] == 35.0 and bands["20-30%"]["small"] is True
    plain = tmp_path / "plain.csv"
    plain.write_text("customer,date,amount\nc1,2024-01-05,10\n")
    assert main(["drivers", str(plain), "--by", "cohort", "--no-prediction", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["discount_depth"] is None
