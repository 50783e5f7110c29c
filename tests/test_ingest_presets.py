"""Vendor presets, on small files with the vendors' real header names.

Totals are worked out by hand from the rows written in each test.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from crm_core.ingest import IngestError, ReadOptions, read_orders

D = dt.date
DATA = Path(__file__).resolve().parent / "data"


def load(tmp_path: Path, name: str, text: str, **options):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    tx, report = read_orders(path, None, ReadOptions(**options) if options else None)
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected == frame.height + report.rejected.height
    return frame, report


SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Billing Name,Billing Country,"
    "Notes,Cancelled at,Payment Method,Refunded Amount,Vendor,Outstanding Balance,Id,Tags,Source\n"
)


def test_shopify_collapses_line_items_nets_refunds_and_skips_cancelled(tmp_path):
    rows = (
        "#1001,Ann@Shop.com,partially_refunded,2024-03-01 10:00:00 +0100,fulfilled,,yes,EUR,28.00,2.00,0.00,30.00,,0.00,"
        "Standard,2024-03-01 10:00:00 +0100,1,Mug,10.00,,MUG-1,Ann,DE,,,"
        "Shopify Payments,5.00,Acme,0.00,5001,,web\n"
        "#1001,,,,,,,,,,,,,,,2024-03-01 10:00:00 +0100,2,Plate,9.00,,PL-1,,,,,,,Acme,,,,\n"
        "#1002,bob@shop.com,voided,,,,no,EUR,12.00,0.00,0.00,12.00,,0.00,Standard,2024-03-02 11:00:00 +0100,1,Mug,"
        "12.00,,MUG-1,Bob,FR,,2024-03-02 12:00:00 +0100,Shopify Payments,0.00,Acme,0.00,5002,,web\n"
        "#1003,ann@shop.com,paid,2024-03-05 23:30:00 +0100,,,yes,EUR,40.00,0.00,0.00,40.00,,0.00,Standard,"
        '2024-03-05 23:30:00 +0100,4,Cup,10.00,,CUP-1,Ann,DE,"leave at door\nthank you",,Shopify Payments,0.00,'
        "Acme,0.00,5003,,pos\n"
    )
    frame, report = load(tmp_path, "orders_export_1.csv", SHOPIFY_HEADER + rows)
    assert report.detected["preset"] == "shopify"
    assert report.detected["source_rows"] == 4
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (3, 2, 1)
    assert report.rejected_by_reason() == {"cancelled order": 1}
    assert report.rejected["line"].to_list() == [4]
    frame = frame.sort("order_id")
    assert frame["order_id"].to_list() == ["#1001", "#1003"]
    assert frame["customer_id"].to_list() == ["ann@shop.com", "ann@shop.com"]
    # net sales: 28 - 5 x 28 / 30 refunded (unrounded: the sum over orders is the formula's sum); 40
    assert frame["amount"].to_list() == pytest.approx([28 - 5 * 28 / 30, 40.0], abs=1e-12)
    assert frame["quantity"].to_list() == [3.0, 4.0]  # line items summed
    assert frame["order_date"].to_list() == [D(2024, 3, 1), D(2024, 3, 5)]
    assert frame["region"].to_list() == ["DE", "DE"]
    assert frame["channel"].to_list() == ["web", "pos"]


def test_shopify_without_total_sums_line_items(tmp_path):
    text = (
        "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Tags,Created at,Lineitem quantity,"
        "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Shipping Name\n"
        "#Z1,c1@example.com,paid,2026-01-05 10:00:00 +0000,fulfilled,GBP,,2026-01-05 10:00:00 +0000,2,Print,15.00,P-1,C,C\n"
        "#Z1,,,,,,,,1,Frame,20.00,F-1,,\n"
        "#Z2,c2@example.com,paid,2026-01-06 10:00:00 +0000,fulfilled,GBP,,2026-01-06 10:00:00 +0000,1,Print,15.00,P-1,D,D\n"
    )
    frame, report = load(tmp_path, "orders_export.csv", text)
    assert report.detected["preset"] == "shopify"
    assert frame.sort("order_id")["amount"].to_list() == [50.0, 15.0]  # 2 x 15 + 1 x 20
    assert frame.sort("order_id")["quantity"].to_list() == [3.0, 1.0]


STRIPE_HEADER = (
    "id,Description,Seller Message,{created},Amount,Amount Refunded,Currency,Converted Amount,"
    "Converted Amount Refunded,Fee,Tax,Converted Currency,Mode,Status,Statement Descriptor,Customer ID,"
    "Customer Description,Customer Email,Captured,Card ID\n"
)


@pytest.mark.parametrize("created", ["Created (UTC)", "Created date (UTC)"])
def test_stripe_keeps_paid_payments_net_of_refunds(tmp_path, created):
    rows = (
        "ch_1,,Payment complete.,2024-03-01 10:00:00,100.00,20.00,usd,100.00,20.00,3.20,0,usd,Live,Paid,,cus_A,,a@x.com,true,card_1\n"
        "ch_2,,Declined,2024-03-02 11:00:00,50.00,0.00,usd,50.00,0.00,0,0,usd,Live,Failed,,cus_B,,b@x.com,false,card_2\n"
        "ch_3,,Payment complete.,2024-03-03 12:00:00,30.00,0.00,usd,30.00,0.00,1.17,0,usd,Live,Paid,,,,guest@x.com,true,card_3\n"
        "ch_4,,Payment complete.,2024-03-04 12:00:00,10.00,10.00,usd,10.00,10.00,0.59,0,usd,Live,Refunded,,cus_A,,a@x.com,true,card_1\n"
    )
    frame, report = load(tmp_path, "unified_payments.csv", STRIPE_HEADER.format(created=created) + rows)
    assert report.detected["preset"] == "stripe"
    assert report.detected["columns"]["order_date"] == created
    assert report.rejected_by_reason() == {"payment not paid": 1, "payment refunded": 1}
    assert report.rejected["line"].to_list() == [3, 5]
    assert frame["customer_id"].to_list() == ["cus_A", "guest@x.com"]
    assert frame["amount"].to_list() == [80.0, 30.0]
    assert report.detected["currency"] == "USD"


HUBSPOT_HEADER = "Record ID,Deal Name,Deal Stage,Close Date,Deal owner,Amount,Pipeline,Create Date,Associated Company IDs\n"


def test_hubspot_keeps_closed_won_deals(tmp_path):
    rows = (
        "101,Big deal,Closed Won,2024-03-01 10:00,Kim,12000,Sales Pipeline,2024-01-01 09:00,555;777\n"
        "102,Lost deal,Closed Lost,2024-03-02 10:00,Kim,5000,Sales Pipeline,2024-01-02 09:00,556\n"
        "103,Open deal,Appointment Scheduled,,Kim,900,Sales Pipeline,2024-01-03 09:00,557\n"
        "104,Renewal,Closed won,2024-04-01 10:00,Lee,3000.50,Renewals,2024-02-01 09:00,555\n"
    )
    frame, report = load(tmp_path, "hubspot-crm-exports-all-deals.csv", HUBSPOT_HEADER + rows)
    assert report.detected["preset"] == "hubspot"
    assert report.rejected_by_reason() == {"deal not won": 2}
    assert frame["customer_id"].to_list() == ["555", "555"]  # first associated company
    assert frame["amount"].to_list() == [12000.0, 3000.5]
    assert frame["order_id"].to_list() == ["101", "104"]
    assert frame["order_date"].to_list() == [D(2024, 3, 1), D(2024, 4, 1)]


def test_salesforce_report_labels(tmp_path):
    text = (
        "Opportunity Name,Account Name,Amount,Close Date,Stage,Won,Closed\n"
        "Renewal 2024,Acme Corp,\"1,200.00\",3/15/2024,Closed Won,1,1\n"
        "New logo,Globex,800.00,3/20/2024,Closed Lost,0,1\n"
        "Upsell,Acme Corp,300.00,4/02/2024,Closed Won,1,1\n"
    )
    frame, report = load(tmp_path, "report.csv", text)
    assert report.detected["preset"] == "salesforce"
    assert report.rejected_by_reason() == {"deal not won": 1}
    assert frame["customer_id"].to_list() == ["Acme Corp", "Acme Corp"]
    assert frame["amount"].to_list() == [1200.0, 300.0]
    assert frame["order_date"].to_list() == [D(2024, 3, 15), D(2024, 4, 2)]


def test_salesforce_api_names(tmp_path):
    text = (
        "Id,AccountId,Name,StageName,Amount,CloseDate,IsWon,IsClosed,CreatedDate\n"
        "0065g001,0015g00000ABC,Renewal,Closed Won,1200,2024-03-15,true,true,2024-01-10T09:00:00.000Z\n"
        "0065g002,0015g00000DEF,New,Closed Lost,800,2024-03-20,false,true,2024-01-11T09:00:00.000Z\n"
        "0065g003,0015g00000ABC,Open,Prospecting,500,2024-06-30,false,false,2024-01-12T09:00:00.000Z\n"
    )
    frame, report = load(tmp_path, "extract.csv", text)
    assert report.detected["preset"] == "salesforce"
    assert report.detected["columns"]["customer_id"] == "AccountId"
    assert report.detected["columns"]["order_date"] == "CloseDate"
    assert report.rejected_by_reason() == {"deal not won": 2}
    assert frame.row(0, named=True)["amount"] == 1200.0
    assert frame["order_id"].to_list() == ["0065g001"]


def test_woocommerce_keeps_completed_and_processing(tmp_path):
    text = (
        "order_id,order_number,order_date,paid_date,status,order_currency,order_subtotal,order_total,customer_id,"
        "customer_email,billing_country\n"
        "11,11,2024-03-01 10:00:00,2024-03-01 10:01:00,completed,EUR,20.00,24.00,7,a@x.com,DE\n"
        "12,12,2024-03-02 10:00:00,,cancelled,EUR,10.00,12.00,7,a@x.com,DE\n"
        "13,13,2024-03-03 10:00:00,2024-03-03 10:01:00,processing,EUR,30.00,36.00,0,Guest@x.com,FR\n"
        "14,14,2024-03-04 10:00:00,,on-hold,EUR,5.00,6.00,8,c@x.com,FR\n"
    )
    frame, report = load(tmp_path, "orders-2024.csv", text)
    assert report.detected["preset"] == "woocommerce"
    assert report.rejected_by_reason() == {"order not completed": 2}
    assert frame["customer_id"].to_list() == ["7", "guest@x.com"]
    assert frame["amount"].to_list() == [24.0, 36.0]


def test_online_retail_amount_returns_and_missing_customers(tmp_path):
    text = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
        "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
        "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
        "536414,22139,,56,12/1/2010 11:52,0,,United Kingdom\n"
        "536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,12/13/2010 14:32,2.51,,United Kingdom\n"
    )
    frame, report = load(tmp_path, "Online Retail.csv", text)
    assert report.detected["preset"] == "online_retail"
    assert report.detected["date_format"] == "%m/%d/%Y"
    assert report.rejected_by_reason() == {"missing customer id": 2}
    assert report.rejected["line"].to_list() == [5, 6]
    assert frame["amount"].to_list() == pytest.approx([15.3, 20.34, -27.5])
    assert frame["order_id"].to_list() == ["536365", "536365", "C536379"]
    assert report.negative_amount_rows == 1
    assert frame["region"].to_list() == ["United Kingdom"] * 3


def test_online_retail_ii_headers_and_float_ids(tmp_path):
    text = (
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
        "489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom\n"
        "C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321.0,Australia\n"
        "489436,21755,LOVE BUILDING BLOCK WORD,2,2009-12-01 09:06:00,5.45,,United Kingdom\n"
    )
    frame, report = load(tmp_path, "online_retail_II.csv", text)
    assert report.detected["preset"] == "online_retail"
    assert frame["customer_id"].to_list() == ["13085", "16321"]
    assert frame["amount"].to_list() == pytest.approx([83.4, -35.4])
    assert report.rejected_by_reason() == {"missing customer id": 1}


def test_cdnow_csv_sample_matches_the_reference_counts():
    expected = json.loads((DATA / "cdnow_sample_expected.json").read_text())
    tx, report = read_orders(DATA / "cdnow_sample.csv")
    frame = tx.collect()
    assert report.rows_read == report.rows_valid == expected["transactions"] == 6919
    assert frame["customer_id"].n_unique() == expected["customers"] == 2357
    assert round(frame["amount"].sum(), 2) == expected["total_revenue"]
    assert report.duplicate_rows == expected["exact_duplicate_rows"] == 21
    assert str(frame["order_date"].min()) == expected["date_min"]


def test_forcing_a_preset_and_switching_detection_off(tmp_path):
    text = "00001 19970101  1   11.77\n00002 19970112  1   12.00\n"
    frame, report = load(tmp_path, "cd.txt", text, preset="cdnow")
    assert report.detected["preset"] == "cdnow" and frame.height == 2
    rows = "ch_1,,,2024-03-01 10:00:00,100.00,20.00,usd,,,,,,,Failed,,cus_A,,,,\n"
    frame, report = load(tmp_path, "s.csv", STRIPE_HEADER.format(created="Created (UTC)") + rows, preset="none")
    assert report.detected["preset"] is None
    assert frame["amount"].to_list() == [100.0]  # no Paid-only rule, no refund netting
    with pytest.raises(IngestError, match="Unknown preset"):
        load(tmp_path, "s.csv", "a,b\n1,2\n", preset="sap")
