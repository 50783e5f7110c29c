"""Revenue as each source system defines it, line items kept, and the summary JSON keys.

Small hand-made exports with the vendors' real header names; every expected
figure is worked out by hand in the comments.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from crm_core.customers import count_orders, purchase_summary, summarize
from crm_core.ingest import IngestError, ReadOptions, read_orders

D = dt.date
ROOT = Path(__file__).resolve().parent.parent

SHOPIFY_COLUMNS = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Currency", "Subtotal", "Shipping",
    "Taxes", "Total", "Discount Code", "Discount Amount", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem sku", "Billing Country", "Cancelled at", "Refunded Amount", "Id", "Source",
]


def _csv(columns: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _order(name, email, status, subtotal, total, refunded="0.00", code="", cancelled="", created="2024-03-01 10:00:00 +0100"):
    return {
        "Name": name, "Email": email, "Financial Status": status, "Paid at": created, "Currency": "EUR",
        "Subtotal": subtotal, "Total": total, "Discount Code": code, "Created at": created,
        "Cancelled at": cancelled, "Refunded Amount": refunded, "Billing Country": "DE", "Source": "web",
    }


def _line(first: dict | None, quantity, product, price, sku, name=None):
    row = dict(first) if first else {"Name": name}
    row.update({"Lineitem quantity": quantity, "Lineitem name": product, "Lineitem price": price, "Lineitem sku": sku})
    return row


# #1001 two lines, Plate 2 x 15 = 30 beats Mug 1 x 20; net sales = Subtotal 50 (Total 65 with shipping, tax)
# #1002 refunded 10 of Total 50: net sales 40 - 10 x 40 / 50 = 32; Cup 2 x 10 and Bowl 1 x 20 tie: Cup (first)
# #1003 refunded in full (36 of 36): kept with 0, not a purchase
# #1004 cancelled: set aside; #1005 no e-mail: set aside
# #1006 free order (100% discount, no refund): 0, still a purchase
SHOPIFY_ROWS = [
    _line(_order("#1001", "Ann@Shop.com", "paid", "50.00", "65.00", code="SPRING10"), 1, "Mug", "20.00", "MUG-1"),
    _line(None, 2, "Plate", "15.00", "PL-1", name="#1001"),
    _line(_order("#1002", " bob@shop.com ", "partially_refunded", "40.00", "50.00", refunded="10.00",
                 created="2024-03-02 09:00:00 +0100"), 2, "Cup", "10.00", "CUP-1"),
    _line(None, 1, "Bowl", "20.00", "BOWL-1", name="#1002"),
    _line(_order("#1003", "cara@shop.com", "refunded", "30.00", "36.00", refunded="36.00",
                 created="2024-03-03 09:00:00 +0100"), 3, "Cup", "10.00", "CUP-1"),
    _line(_order("#1004", "dan@shop.com", "voided", "12.00", "12.00", cancelled="2024-03-04 12:00:00 +0100",
                 created="2024-03-04 09:00:00 +0100"), 1, "Mug", "12.00", "MUG-1"),
    _line(_order("#1005", "", "paid", "9.00", "9.00", created="2024-03-05 09:00:00 +0100"), 1, "Mug", "9.00", "MUG-1"),
    _line(_order("#1006", "ann@shop.com", "paid", "0.00", "0.00", code="FREE", created="2024-03-06 09:00:00 +0100"),
          1, "Sticker", "0.00", "ST-1"),
]


@pytest.fixture
def shopify_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders_export_1.csv"
    path.write_text(_csv(SHOPIFY_COLUMNS, SHOPIFY_ROWS), encoding="utf-8")
    return path


def _read(path: Path, **options):
    tx, report = read_orders(path, None, ReadOptions(**options))
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected == frame.height + report.rejected.height
    return frame, report


def test_shopify_net_sales_refunds_cancelled_and_emails(shopify_file):
    frame, report = _read(shopify_file)
    assert report.detected["preset"] == "shopify"
    assert report.detected["revenue_definition"] == "net_sales"
    assert report.source_lines == 8
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (6, 4, 2)
    assert report.rejected_by_reason() == {"cancelled order": 1, "missing customer id": 1}
    assert report.warnings[0].startswith("8 lines, 6 orders")
    frame = frame.sort("order_id")
    assert frame["order_id"].to_list() == ["#1001", "#1002", "#1003", "#1006"]
    assert frame["customer_id"].to_list() == ["ann@shop.com", "bob@shop.com", "cara@shop.com", "ann@shop.com"]
    assert frame["amount"].to_list() == [50.0, 32.0, 0.0, 0.0]
    assert frame["fully_refunded"].to_list() == [False, False, True, False]
    assert frame["product"].to_list() == ["Plate", "Cup", "Cup", "Sticker"]  # largest line; ties to the first
    assert frame["sku"].to_list() == ["PL-1", "CUP-1", "CUP-1", "ST-1"]
    assert frame["discount_code"].to_list() == ["SPRING10", None, None, "FREE"]
    assert frame["quantity"].to_list() == [3.0, 3.0, 3.0, 1.0]


def test_shopify_total_definition_keeps_shipping_and_taxes(shopify_file):
    frame, report = _read(shopify_file, revenue_definition="total")
    assert report.detected["revenue_definition"] == "total"
    # Total net of refunds: 65; 50 - 10 = 40; 36 - 36 = 0; 0
    assert frame.sort("order_id")["amount"].to_list() == [65.0, 40.0, 0.0, 0.0]
    assert frame.sort("order_id")["fully_refunded"].to_list() == [False, False, True, False]


def test_unknown_revenue_definition_is_refused(shopify_file):
    with pytest.raises(IngestError, match="net_sales, total"):
        read_orders(shopify_file, None, ReadOptions(revenue_definition="gross"))


def test_shopify_lines_keep_every_item_of_kept_orders(shopify_file):
    _, report = _read(shopify_file)
    lines = report.lines
    assert lines.columns == ["order_id", "customer_id", "order_date", "product", "sku", "quantity", "line_amount",
                             "discount_code"]
    assert lines["order_id"].to_list() == ["#1001", "#1001", "#1002", "#1002", "#1003", "#1006"]
    assert lines["product"].to_list() == ["Mug", "Plate", "Cup", "Bowl", "Cup", "Sticker"]
    assert lines["line_amount"].to_list() == [20.0, 30.0, 20.0, 20.0, 30.0, 0.0]
    # order fields filled on every line from the order's first line, as in the transactions
    assert lines["customer_id"].to_list() == ["ann@shop.com"] * 2 + ["bob@shop.com"] * 2 + ["cara@shop.com", "ann@shop.com"]
    assert lines["discount_code"].to_list() == ["SPRING10", "SPRING10", None, None, None, "FREE"]
    assert lines["order_date"].to_list() == [D(2024, 3, 1)] * 2 + [D(2024, 3, 2)] * 2 + [D(2024, 3, 3), D(2024, 3, 6)]


def test_fully_refunded_order_is_no_purchase_downstream(shopify_file):
    tx, _ = read_orders(shopify_file)
    assert count_orders(tx) == {"orders": 4, "purchases": 3, "positive_orders": 2}  # #1003 refunded in full; #1006 free
    customers = summarize(tx).collect().sort("customer_id")
    cara = customers.filter(pl.col("customer_id") == "cara@shop.com").row(0, named=True)
    assert (cara["orders"], cara["purchase_days"], cara["revenue"], cara["first_purchase_date"]) == (0, 0, 0.0, None)
    ann = customers.filter(pl.col("customer_id") == "ann@shop.com").row(0, named=True)
    assert (ann["orders"], ann["purchase_days"], ann["revenue"]) == (2, 2, 50.0)  # the free order counts
    lean = purchase_summary(tx, D(2024, 3, 31)).collect()
    assert lean.filter(pl.col("customer_id") == "cara@shop.com")["purchase_days"].to_list() == [0]


def _summary(path: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(path), "--json", *extra],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout)


def test_summary_json_for_a_shopify_export(shopify_file):
    payload = _summary(shopify_file)
    expected_keys = {"rows_read", "rows_valid", "rows_rejected", "rejected_by_reason", "duplicate_rows",
                     "negative_amount_rows", "customers", "transactions", "revenue", "first_date", "last_date",
                     "detected", "warnings", "rejected_sample", "source_lines", "orders", "revenue_definition",
                     "currency", "corrected_values"}
    assert expected_keys <= set(payload)
    assert payload["source_lines"] == 8
    assert payload["orders"] == 4  # not cancelled, with an e-mail
    assert payload["transactions"] == 2  # positive net revenue: not #1003 (refunded in full), not #1006 (free)
    assert payload["customers"] == 3  # ann (two spellings), bob, cara
    assert payload["revenue"] == 82.0  # 50 + 32 + 0 + 0
    assert payload["revenue_definition"] == "net_sales"
    assert payload["currency"] == "EUR"
    assert payload["corrected_values"] == 0
    total = _summary(shopify_file, "--revenue", "total")
    assert (total["revenue"], total["revenue_definition"]) == (105.0, "total")  # 65 + 40 + 0 + 0


STRIPE_COLUMNS = ["id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Status", "Customer ID",
                  "Customer Email", "Description"]


def test_stripe_amount_net_of_refunds_paid_only(tmp_path):
    rows = [  # 100 - 20 = 80; 50 refunded in full -> 0 (kept, no purchase); partly refunded 30 - 10 = 20
        {"id": "ch_1", "Created date (UTC)": "2024-03-01 10:00", "Amount": "100.00", "Amount Refunded": "20.00",
         "Currency": "usd", "Status": "Paid", "Customer ID": "cus_A", "Description": "Plan A"},
        {"id": "ch_2", "Created date (UTC)": "2024-03-02 10:00", "Amount": "50.00", "Amount Refunded": "50.00",
         "Currency": "usd", "Status": "Paid", "Customer ID": "cus_B"},
        {"id": "ch_3", "Created date (UTC)": "2024-03-03 10:00", "Amount": "30.00", "Amount Refunded": "10.00",
         "Currency": "usd", "Status": "Partially refunded", "Customer ID": "cus_A"},
        {"id": "ch_4", "Created date (UTC)": "2024-03-04 10:00", "Amount": "70.00", "Amount Refunded": "0.00",
         "Currency": "usd", "Status": "Failed", "Customer ID": "cus_C"},
    ]
    path = tmp_path / "unified_payments.csv"
    path.write_text(_csv(STRIPE_COLUMNS, rows), encoding="utf-8")
    frame, report = _read(path)
    assert report.detected["preset"] == "stripe"
    assert report.detected["revenue_columns"].startswith("Amount - Amount Refunded")
    assert report.rejected_by_reason() == {"payment not paid": 1}
    assert frame["amount"].to_list() == [80.0, 0.0, 20.0]
    assert frame["fully_refunded"].to_list() == [False, True, False]
    assert count_orders(frame.lazy()) == {"orders": 3, "purchases": 2, "positive_orders": 2}
    assert frame["product"].to_list() == ["Plan A", None, None]  # Stripe's Description


WOO_COLUMNS = ["order_id", "order_date", "status", "order_currency", "order_total", "order_refund", "customer_id",
               "customer_email", "item_name", "sku", "quantity", "item_price", "coupon_code"]


def test_woocommerce_line_items_completed_orders_net_of_refunds(tmp_path):
    rows = [  # order 11 has two lines (order fields repeated): one order of 24 - 4 refunded = 20
        {"order_id": "11", "order_date": "2024-03-01 10:00:00", "status": "wc-completed", "order_currency": "EUR",
         "order_total": "24.00", "order_refund": "4.00", "customer_id": "7", "customer_email": "a@x.com",
         "item_name": "Tea", "sku": "T-1", "quantity": "1", "item_price": "8.00", "coupon_code": "WELCOME"},
        {"order_id": "11", "order_date": "2024-03-01 10:00:00", "status": "wc-completed", "order_currency": "EUR",
         "order_total": "24.00", "order_refund": "4.00", "customer_id": "7", "customer_email": "a@x.com",
         "item_name": "Pot", "sku": "P-1", "quantity": "1", "item_price": "16.00", "coupon_code": "WELCOME"},
        {"order_id": "12", "order_date": "2024-03-02 10:00:00", "status": "processing", "order_currency": "EUR",
         "order_total": "36.00", "order_refund": "0", "customer_id": "0", "customer_email": "Guest@X.com",
         "item_name": "Pot", "sku": "P-1", "quantity": "2", "item_price": "18.00", "coupon_code": ""},
        {"order_id": "13", "order_date": "2024-03-03 10:00:00", "status": "cancelled", "order_currency": "EUR",
         "order_total": "10.00", "order_refund": "0", "customer_id": "7", "customer_email": "a@x.com",
         "item_name": "Tea", "sku": "T-1", "quantity": "1", "item_price": "10.00", "coupon_code": ""},
    ]
    path = tmp_path / "orders-2024.csv"
    path.write_text(_csv(WOO_COLUMNS, rows), encoding="utf-8")
    frame, report = _read(path)
    assert report.detected["preset"] == "woocommerce"
    assert report.source_lines == 4 and report.rows_read == 3
    assert report.rejected_by_reason() == {"order not completed": 1}
    assert frame["customer_id"].to_list() == ["7", "guest@x.com"]
    assert frame["amount"].to_list() == [20.0, 36.0]
    assert frame["product"].to_list() == ["Pot", "Pot"]
    assert frame["discount_code"].to_list() == ["WELCOME", None]
    assert report.lines["product"].to_list() == ["Tea", "Pot", "Pot"]
    assert report.lines["line_amount"].to_list() == [8.0, 16.0, 36.0]


def test_generic_line_file_rows_are_the_lines(tmp_path):
    text = (
        "order_id,customer,date,product,category,sku,amount\n"
        "A1,c1,2024-01-05,Tea,Drinks,T-1,10.00\n"
        "A1,c1,2024-01-05,Pot,Kitchen,P-1,25.00\n"
        "A2,c2,2024-01-06,Tea,Drinks,T-1,10.00\n"
        "A3,,2024-01-07,Tea,Drinks,T-1,10.00\n"
    )
    path = tmp_path / "lines.csv"
    path.write_text(text, encoding="utf-8")
    frame, report = _read(path)
    assert report.detected["revenue_definition"] == "amount"
    assert frame["product"].to_list() == ["Tea", "Pot", "Tea"]
    lines = report.lines
    assert lines.columns == ["order_id", "customer_id", "order_date", "product", "sku", "category", "quantity",
                             "line_amount", "discount_code"]
    assert lines["order_id"].to_list() == ["A1", "A1", "A2"]  # the rejected row's line is not kept
    assert lines["line_amount"].to_list() == [10.0, 25.0, 10.0]
    assert count_orders(frame.lazy()) == {"orders": 2, "purchases": 2, "positive_orders": 2}


def test_file_without_products_has_no_lines(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("customer,date,amount\nc1,2024-01-05,10\n", encoding="utf-8")
    _, report = _read(path)
    assert report.lines is None
    assert report.source_lines == 1


def test_kpis_count_no_refunded_order(shopify_file):
    from crm_core.kpis import period_kpis

    tx, _ = read_orders(shopify_file)
    kpis = period_kpis(tx, D(2024, 3, 1), D(2024, 3, 31))
    # #1001, #1002 and the free #1006 are orders; #1003 (refunded in full) is not, nor is cara active
    assert (kpis["revenue"], kpis["orders"], kpis["active_customers"]) == (82.0, 3, 2)


def test_shopify_refund_with_unreadable_total_is_not_guessed(tmp_path):
    rows = [
        _line(_order("#1", "a@x.com", "partially_refunded", "40.00", "abc", refunded="10.00"), 1, "Tea", "40.00", "T-1"),
        _line(_order("#2", "b@x.com", "paid", "30.00", "abc"), 1, "Tea", "30.00", "T-1"),
    ]
    path = tmp_path / "orders_export.csv"
    path.write_text(_csv(SHOPIFY_COLUMNS, rows), encoding="utf-8")
    frame, report = _read(path)
    # #1's refund cannot be split without its Total: set aside; #2 has no refund: its Subtotal is its net sales
    assert report.rejected_by_reason() == {"unparseable amount": 1}
    assert frame["amount"].to_list() == [30.0]


def test_summary_transactions_are_orders_with_positive_net_revenue(tmp_path):
    """A free order is a purchase for the models (as in CDNOW) but not a summary transaction; a return is neither."""
    path = tmp_path / "orders.csv"
    path.write_text("customer,date,amount,order\nC1,2024-01-02,0,o1\nC1,2024-01-03,5,o2\nC2,2024-01-03,-5,o3\n")
    frame, _ = _read(path)
    assert count_orders(frame.lazy()) == {"orders": 3, "purchases": 2, "positive_orders": 1}
    result = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(path), "--json"],
                            capture_output=True, text=True, check=True)
    payload = json.loads(result.stdout)
    assert (payload["orders"], payload["transactions"], payload["revenue"]) == (3, 1, 0.0)
