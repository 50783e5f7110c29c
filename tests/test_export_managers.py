"""Exports in managers' format: readable headers, money to the cent with the currency, percent, ISO dates,
name and e-mail wherever known (customers table or the orders file), formula injection still neutralised."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from crm_core.__main__ import main
from crm_core.actions import TARGET_HEADERS, known_contacts, target_list_file
from crm_core.export import GUARD, readable_export, safe_csv_bytes, safe_xlsx_bytes
from crm_core.ingest.reader import read_orders

sys.path.insert(0, str(Path(__file__).parent))
from test_ingest_presets import SHOPIFY_HEADER  # noqa: E402


def _targets() -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": ["C1", "=2+3"],
        "name": ["Ann", "@SUM(1)"],
        "email": ["ann@example.com", None],
        "segment": ["At Risk", "At Risk"],
        "clv": [15115.869999999999, 2.675],
        "p_alive": [0.4567, 1.0],
        "revenue": [0.1 + 0.2, 1e6 / 3],
        "orders": [3, 1],
        "last_date": [dt.date(2024, 5, 1), dt.date(2023, 12, 31)],
    })


def test_target_file_headers_rounding_percent_dates():
    frame = target_list_file(_targets(), "EUR")
    assert frame.columns == ["Customer ID", "Customer name", "E-mail", "RFM segment", "Predicted value (EUR)",
                             "Probability still active (%)", "Revenue (EUR)", "Orders", "Last purchase"]
    text = safe_csv_bytes(frame).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["Predicted value (EUR)"] for row in rows] == ["15115.87", "2.68"]  # no float noise, half away from 0
    assert [row["Revenue (EUR)"] for row in rows] == ["0.3", "333333.33"]
    assert [row["Probability still active (%)"] for row in rows] == ["45.67", "100.0"]
    assert [row["Last purchase"] for row in rows] == ["2024-05-01", "2023-12-31"]
    # formula injection still neutralised in the readable file (ids and names)
    assert [row["Customer ID"] for row in rows] == ["C1", GUARD + "=2+3"]
    assert [row["Customer name"] for row in rows] == ["Ann", GUARD + "@SUM(1)"]


def test_money_header_without_a_known_currency():
    assert "Predicted value" in target_list_file(_targets(), "").columns


def test_xlsx_keeps_numbers_and_dates_and_guards_text():
    sheet = openpyxl.load_workbook(io.BytesIO(safe_xlsx_bytes(target_list_file(_targets(), "USD")))).active
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    assert "Predicted value (USD)" in header
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    value = header.index("Predicted value (USD)")
    assert [row[value] for row in body] == [15115.87, 2.68]
    assert body[1][0] == GUARD + "=2+3"
    assert isinstance(body[0][header.index("Last purchase")], dt.datetime)  # a date cell, not text
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_readable_export_words_unlisted_columns_and_rounds_floats():
    frame = pl.DataFrame({"x_score": [1.234567891], "when": [dt.datetime(2024, 1, 2, 13, 5)]})
    out = readable_export(frame, {"when": "When"}, set())
    assert out.columns == ["X score", "When"] and out["X score"][0] == 1.2346 and out["When"][0] == dt.date(2024, 1, 2)


def test_every_target_column_has_a_header():
    from crm_core.actions import TARGET_COLUMNS

    assert set(TARGET_COLUMNS) <= set(TARGET_HEADERS)


SHOPIFY_ROWS = (
    "#1001,Ann@Shop.com,paid,2024-03-01 10:00:00 +0100,fulfilled,,yes,EUR,28.00,2.00,0.00,30.00,,0.00,"
    "Standard,2024-03-01 10:00:00 +0100,1,Mug,10.00,,MUG-1,Ann Smith,DE,,,Shopify Payments,0.00,Acme,0.00,5001,,web\n"
    "#1001,,,,,,,,,,,,,,,2024-03-01 10:00:00 +0100,2,Plate,9.00,,PL-1,,,,,,,Acme,,,,\n"
    "#1002,bob@shop.com,paid,2024-03-02 11:00:00 +0100,,,no,EUR,12.00,0.00,0.00,12.00,,0.00,Standard,"
    "2024-03-02 11:00:00 +0100,1,Mug,12.00,,MUG-1,=HYPERLINK(1),FR,,,Shopify Payments,0.00,Acme,0.00,5002,,web\n"
)


def test_shopify_orders_keep_billing_name_and_email_without_changing_totals():
    text = (SHOPIFY_HEADER + SHOPIFY_ROWS).encode()
    tx, report = read_orders(text, filename="orders_export.csv")
    frame = tx.collect().sort("order_id")
    assert frame["customer_name"].to_list() == ["Ann Smith", "=HYPERLINK(1)"]
    assert frame["amount"].to_list() == [28.0, 12.0]  # the totals are the same as without the name column
    contacts = known_contacts(tx).sort("customer_id")
    assert contacts.rows() == [("ann@shop.com", "Ann Smith", "ann@shop.com"), ("bob@shop.com", "=HYPERLINK(1)", "bob@shop.com")]


def test_generic_file_email_column_and_customers_table_precedence():
    tx = pl.LazyFrame({
        "customer_id": ["A", "A", "B", "c@x.org"],
        "order_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 1, 5), dt.date(2024, 1, 9)],
        "amount": [1.0, 2.0, 3.0, 4.0],
        "email": ["old@a.com", "new@a.com", None, None],
    })
    contacts = known_contacts(tx).sort("customer_id")
    # the latest order's e-mail; an id that is an e-mail address; B has nothing known
    assert contacts.rows() == [("A", "new@a.com"), ("c@x.org", "c@x.org")]
    side = pl.LazyFrame({"customer_id": ["A", "B"], "name": ["Ann", "Bea"], "email": ["side@a.com", None]})
    merged = known_contacts(tx, side).sort("customer_id")
    assert merged.rows() == [("A", "Ann", "side@a.com"), ("B", "Bea", None), ("c@x.org", None, "c@x.org")]


def _orders(tmp_path) -> Path:
    rows = []
    for i in range(30):
        for k in range(1 + i % 4):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=(i * 11 + k * 37) % 360)
            rows.append((f"C{i:03d}", day.isoformat(), 10 + i + 5 * k + 0.005, f"c{i}@example.com",
                         "=cmd|' /C calc'!A0" if i == 1 else f"Name {i}", "EUR"))
    path = tmp_path / "orders.csv"
    pl.DataFrame(rows, schema=["Customer ID", "Order Date", "Amount", "Email", "Customer Name", "Currency"],
                 orient="row").write_csv(path)
    return path


def test_cli_export_managers_format(tmp_path, capsys):
    source, out = _orders(tmp_path), tmp_path / "targets.csv"
    segments = ["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
                "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]
    argv = ["export", str(source), "--out", str(out), "--json"]
    for name in segments:
        argv += ["--segment", name]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"segments", "customers", "format", "out", "columns", "warnings"}  # the contract
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert payload["columns"] == list(rows[0])
    assert {"Customer ID", "Customer name", "E-mail", "Predicted value (EUR)", "Revenue (EUR)",
            "Probability still active (%)"} <= set(payload["columns"])
    assert len(rows) == payload["customers"] == 30
    by_id = {row["Customer ID"]: row for row in rows}
    assert by_id["C005"]["E-mail"] == "c5@example.com" and by_id["C005"]["Customer name"] == "Name 5"
    assert by_id["C001"]["Customer name"] == GUARD + "=cmd|' /C calc'!A0"
    for row in rows:
        assert len(row["Revenue (EUR)"].partition(".")[2]) <= 2  # to the cent
    # C002 bought 3 times: 12.005 + 17.005 + 22.005 = 51.015 -> 51.02 (half away from zero)
    assert by_id["C002"]["Revenue (EUR)"] == "51.02"


def test_cli_export_customers_table_wins(tmp_path, capsys):
    source, out = _orders(tmp_path), tmp_path / "t.xlsx"
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,name,email\nC005,Official Five,five@corp.com\n")
    argv = ["export", str(source), "--segment", "Champions", "--segment", "Lost", "--segment", "Hibernating",
            "--segment", "At Risk", "--segment", "Need Attention", "--segment", "Potential Loyalists",
            "--segment", "About to Sleep", "--segment", "Promising", "--segment", "New Customers",
            "--segment", "Loyal Customers", "--segment", "Can't Lose Them", "--customers", str(customers),
            "--out", str(out)]
    assert main(argv) == 0
    sheet = openpyxl.load_workbook(out).active
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    body = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert body["C005"][header.index("Customer name")] == "Official Five"
    assert body["C005"][header.index("E-mail")] == "five@corp.com"
    assert body["C006"][header.index("E-mail")] == "c6@example.com"  # not in the table: the orders file's


@pytest.mark.parametrize("currency", ["GBP"])
def test_cli_export_view_currency_in_headers(tmp_path, capsys, currency):
    source = tmp_path / "o.csv"
    source.write_text(_orders(tmp_path).read_text().replace(",EUR", f",{currency}"))
    view = tmp_path / "v.json"
    view.write_text(json.dumps({"currency": currency}))
    out = tmp_path / "t.csv"
    assert main(["export", str(source), "--segment", "Lost", "--segment", "Champions", "--view", str(view),
                 "--out", str(out), "--json"]) == 0
    assert f"Revenue ({currency})" in json.loads(capsys.readouterr().out)["columns"]


# Stripe payments export (newer header): cus_A pays twice with its Customer ID, bob has no Customer ID
# (his e-mail becomes his id), carl's payment failed.
STRIPE = (
    "id,Description,Created date (UTC),Amount,Amount Refunded,Currency,Converted Amount,Fee,Status,"
    "Customer ID,Customer Description,Customer Email,Captured\n"
    "ch_1,Order 1,2024-01-05 10:00:00,40.00,0.00,eur,40.00,1.46,Paid,cus_A,Anna,anna@example.com,true\n"
    "ch_2,Order 2,2024-02-05 10:00:00,25.50,5.50,eur,25.50,1.04,Paid,,,bob@example.com,true\n"
    "ch_3,Order 3,2024-02-06 10:00:00,12.00,0.00,eur,12.00,0.65,Paid,cus_A,Anna,anna@example.com,true\n"
    "ch_4,Order 4,2024-02-07 10:00:00,99.00,0.00,eur,99.00,0.00,Failed,cus_C,,carl@example.com,false\n"
)
# WooCommerce export plugin without a billing e-mail column: customer 7 is registered, customer 0 a guest.
WOOCOMMERCE = (
    "order_id,order_number,order_date,status,customer_id,customer_email,billing_first_name,order_currency,"
    "order_total,order_refund\n"
    "101,101,2024-01-03 09:00:00,wc-completed,7,dana@example.com,Dana,EUR,30.00,0.00\n"
    "102,102,2024-01-09 09:00:00,wc-processing,0,Guest@Example.com,Gus,EUR,15.00,0.00\n"
    "103,103,2024-01-10 09:00:00,wc-completed,7,dana@example.com,Dana,EUR,20.00,5.00\n"
    "104,104,2024-01-11 09:00:00,wc-cancelled,8,eve@example.com,Eve,EUR,50.00,0.00\n"
)
EVERY_SEGMENT = ["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
                 "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]


@pytest.mark.parametrize("name, text, preset, expected", [
    ("payments.csv", STRIPE, "stripe", {"cus_A": "anna@example.com", "bob@example.com": "bob@example.com"}),
    ("orders.csv", WOOCOMMERCE, "woocommerce", {"7": "dana@example.com", "guest@example.com": "guest@example.com"}),
])
def test_email_used_as_customer_id_is_kept_as_the_email(tmp_path, capsys, name, text, preset, expected):
    tx, report = read_orders(text.encode(), filename=name)
    assert report.detected["preset"] == preset
    emails = dict(tx.collect().group_by("customer_id").agg(pl.col("email").first()).iter_rows())
    assert emails == expected  # every order row keeps its e-mail, also where the id is not the e-mail
    source, out = tmp_path / name, tmp_path / "targets.csv"
    source.write_text(text)
    argv = ["export", str(source), "--out", str(out)]
    for segment in EVERY_SEGMENT:
        argv += ["--segment", segment]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert {row["Customer ID"]: row["E-mail"] for row in rows} == expected
