"""Value drivers, product and offer analytics on a small export computed by hand.

Five customers, as of 2024-12-01 (the last order):

- A: order 1 on 2023-01-10 (Shoes 30, Hats 50: first product Hats), orders on 2023-02-15 (36 days later),
  2024-06-01 and 2024-12-01. Revenue 145; 120 in the first year.
- B: a zero order on 2023-01-20 (not a purchase), order 5 on 2023-03-01 (Shoes 100, 20 returned on 2023-03-10
  under the same order). Revenue 80, no second order.
- C: order 6 on 2023-05-01 (Socks 25, Hats 25: a tie, the first listed wins: Socks), order 7 198 days later.
  Revenue 110.
- D: order 8 on 2024-10-01 (Shoes 70): observed 61 days only. Revenue 70.
- E: orders 9 (Hats 10) and 10 (Shoes 15) on the same day 2023-06-01: no second order on a later day. Revenue 25.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from statistics import NormalDist

import polars as pl
import pytest

from crm_core import drivers, offers, products
from crm_core.__main__ import main
from crm_core.ingest import read_orders

CSV = """customer,order,date,amount,category,channel,region
A,1,2023-01-10,30,Shoes,Web,North
A,1,2023-01-10,50,Hats,Web,North
A,2,2023-02-15,40,Shoes,Web,North
B,4,2023-01-20,0,Hats,Store,South
B,5,2023-03-01,100,Shoes,Store,South
B,5,2023-03-10,-20,Shoes,Store,South
C,6,2023-05-01,25,Socks,Web,North
C,6,2023-05-01,25,Hats,Web,North
E,9,2023-06-01,10,Hats,Store,North
E,10,2023-06-01,15,Shoes,Store,North
C,7,2023-11-15,60,Hats,Web,North
A,3,2024-06-01,20,Hats,Web,North
D,8,2024-10-01,70,Shoes,Web,South
A,11,2024-12-01,5,Socks,Web,North
"""
#: Discount code of each line above (order 5's code is on its return line: the order's code counts).
CODES = ["WELCOME", None, None, None, None, "SPRING", "WELCOME", None, None, "X", None, None, None, None]
Z = NormalDist().inv_cdf(0.975)


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def tx(export) -> pl.LazyFrame:
    frame, report = read_orders(export)
    assert report.rows_rejected == 0
    return frame.collect().lazy()


@pytest.fixture
def tx_with_products(tx) -> pl.LazyFrame:
    """The same export with a product per line (the category's value) and discount codes."""
    return tx.with_columns(pl.col("category").alias("product"), pl.Series("discount_code", CODES))


@pytest.fixture
def profiles(tx_with_products) -> pl.DataFrame:
    return drivers.customer_profiles(tx_with_products)


def groups(table: pl.DataFrame) -> dict[str, dict]:
    return {row["name"]: row for row in table.iter_rows(named=True)}


def test_profiles_by_hand(profiles):
    rows = {row["customer_id"]: row for row in profiles.iter_rows(named=True)}
    assert set(rows) == set("ABCDE")
    assert [rows[c]["first_product"] for c in "ABCDE"] == ["Hats", "Shoes", "Socks", "Shoes", "Hats"]
    assert [rows[c]["first_order_value"] for c in "ABCDE"] == [80, 80, 50, 70, 10]
    assert [rows[c]["discount_code"] for c in "ABCDE"] == ["WELCOME", "SPRING", "WELCOME", "(none)", "(none)"]
    assert [rows[c]["revenue"] for c in "ABCDE"] == [145, 80, 110, 70, 25]
    assert [rows[c]["value_365"] for c in "ABCDE"] == [120, 80, 110, None, 25]
    assert [rows[c]["days_observed"] for c in "ABCDE"] == [691, 641, 580, 61, 549]
    assert str(rows["A"]["second_date"]) == "2023-02-15" and str(rows["C"]["second_date"]) == "2023-11-15"
    assert rows["B"]["second_date"] is None and rows["E"]["second_date"] is None  # same day is not a repeat
    assert [rows[c]["cohort"] for c in "ABCDE"] == ["2023-01", "2023-03", "2023-05", "2024-10", "2023-06"]


def test_revenue_matches_summary_definition(tx, profiles):
    assert profiles["revenue"].sum() == tx.select(pl.col("amount").sum()).collect().item()


def test_first_category_golden(tx):
    table = drivers.driver_table(drivers.customer_profiles(tx), "first_category")
    assert table["name"].to_list() == ["Socks", "Shoes", "Hats"]  # ranked by first-year value: 110, 80 (D too recent), 72.5
    by = groups(table)
    hats, shoes, socks = by["Hats"], by["Shoes"], by["Socks"]
    assert (hats["customers"], shoes["customers"], socks["customers"]) == (2, 2, 1)
    assert hats["revenue_per_customer"] == 85 and shoes["revenue_per_customer"] == 75
    assert (hats["repeat_rate_90"], hats["repeat_rate_180"], hats["repeat_rate_365"]) == (0.5, 0.5, 0.5)
    assert (socks["repeat_rate_90"], socks["repeat_rate_180"], socks["repeat_rate_365"]) == (0.0, 0.0, 1.0)
    assert shoes["observed_365"] == 1 and shoes["repeat_rate_365"] == 0.0  # D is too recent to count
    assert hats["value_365_per_customer"] == pytest.approx((120 + 25) / 2)
    half = Z * math.sqrt(2 * 60**2) / math.sqrt(2)  # sd of (145, 25) over sqrt(2)
    assert hats["revenue_low"] == pytest.approx(85 - half) and hats["revenue_high"] == pytest.approx(85 + half)
    assert socks["revenue_low"] is None  # one customer: no interval
    assert hats["median_days_to_second"] == 36 and shoes["median_days_to_second"] is None
    assert all(table["small"]) and table["predicted_value_per_customer"].is_null().all()
    assert socks["value_index"] == pytest.approx(110 / ((120 + 80 + 110 + 25) / 4))  # first-year value over its average


def test_first_product_and_discount_code_golden(profiles):
    product = groups(drivers.driver_table(profiles, "first_product"))
    assert {name: row["customers"] for name, row in product.items()} == {"Hats": 2, "Shoes": 2, "Socks": 1}
    codes = groups(drivers.driver_table(profiles, "discount_code"))
    assert {name: row["customers"] for name, row in codes.items()} == {"WELCOME": 2, "SPRING": 1, "(none)": 2}
    assert codes["WELCOME"]["revenue_per_customer"] == pytest.approx((145 + 110) / 2)
    assert codes["WELCOME"]["repeat_rate_365"] == 1.0 and codes["(none)"]["repeat_rate_365"] == 0.0


def test_channel_region_cohort_and_value_band_golden(tx):
    profiles = drivers.customer_profiles(tx)
    channel = groups(drivers.driver_table(profiles, "channel"))
    assert channel["Web"]["revenue_per_customer"] == pytest.approx((145 + 110 + 70) / 3)
    assert channel["Web"]["repeat_rate_365"] == 1.0 and channel["Store"]["repeat_rate_365"] == 0.0
    region = groups(drivers.driver_table(profiles, "region"))
    assert region["North"]["customers"] == 3 and region["North"]["repeat_rate_365"] == pytest.approx(2 / 3)
    assert region["South"]["revenue_per_customer"] == 75
    cohort = groups(drivers.driver_table(profiles, "cohort"))
    assert set(cohort) == {"2023-01", "2023-03", "2023-05", "2023-06", "2024-10"}
    assert cohort["2024-10"]["repeat_rate_90"] is None  # nobody in it observed 90 days
    bands = groups(drivers.driver_table(profiles, "value_band"))
    # first-order values 10, 50, 70, 80, 80: quartile cuts at 50 and 70 (75% = 80 is the maximum)
    assert {name: row["customers"] for name, row in bands.items()} == {
        "up to 50.00": 2, "50.00 to 70.00": 1, "over 70.00": 2}


def test_customers_side_table_sets_channel_and_region(tx):
    side = pl.LazyFrame({"customer_id": ["A", "B"], "acquisition_channel": ["Referral", None], "region": ["", "East"]})
    rows = {r["customer_id"]: r for r in drivers.customer_profiles(tx, side).iter_rows(named=True)}
    assert rows["A"]["channel"] == "Referral" and rows["B"]["channel"] == "Store"  # null falls back to the order
    assert rows["A"]["region"] == "North" and rows["B"]["region"] == "East"


def test_payback_against_cac(tx):
    profiles = drivers.customer_profiles(tx)
    spend = pl.LazyFrame({"month": [dt.date(2023, 1, 1), dt.date(2023, 6, 1), dt.date(2022, 1, 1)],
                          "channel": ["Web", "Web", "Web"], "spend": [100.0, 50.0, 999.0]})
    web = groups(drivers.driver_table(profiles, "channel", marketing_spend=spend))["Web"]
    assert web["cac"] == pytest.approx(150 / 3)  # 2022 is before the first acquisition month
    assert web["revenue_to_cac"] == pytest.approx((325 / 3) / 50)


def test_predictions_join_and_rank(profiles):
    predicted = pl.DataFrame({"customer_id": ["A", "B", "C", "D", "E"], "predicted_value": [10.0, 90.0, 30.0, 50.0, 20.0]})
    assert drivers.driver_table(profiles, "first_product", predicted)["name"].to_list() == ["Socks", "Shoes", "Hats"]
    # nobody observed a year: ranked by the prediction
    table = drivers.driver_table(profiles.with_columns(pl.lit(None, pl.Float64).alias("value_365")), "first_product", predicted)
    assert table["name"].to_list() == ["Shoes", "Socks", "Hats"]  # 70, 30, 15
    assert groups(table)["Shoes"]["predicted_value_per_customer"] == 70
    assert groups(table)["Shoes"]["predicted_range_low"] is None  # no per-customer intervals given
    ranged = predicted.with_columns((pl.col("predicted_value") / 2).alias("customer_value_low"),
                                    (pl.col("predicted_value") * 2).alias("customer_value_high"))
    shoes = groups(drivers.driver_table(profiles, "first_product", ranged))["Shoes"]
    assert (shoes["predicted_range_low"], shoes["predicted_range_high"]) == (35, 140)
    assert drivers.overall_figures(profiles, predicted)["predicted_value_per_customer"] == 40


def test_takeaway_names_the_best_group():
    table = pl.DataFrame({
        "name": ["Rain Shell Jacket", "Socks", "Tiny"], "small": [False, False, True],
        "value_365_per_customer": [210.0, 50.0, 900.0], "predicted_value_per_customer": [None] * 3,
        "revenue_per_customer": [1.0] * 3})
    sentence = drivers.takeaway(table, "first_product", {"value_365_per_customer": 100.0})
    assert sentence.startswith("Customers whose first order was Rain Shell Jacket are worth 2.1x the average after a year")
    assert "socks 0.5x" in sentence.lower() and "Tiny" not in sentence


def test_takeaway_when_groups_are_alike():
    table = pl.DataFrame({"name": ["1997-01", "1997-02"], "small": [False, False],
                          "value_365_per_customer": [102.0, 98.0], "predicted_value_per_customer": [None] * 2,
                          "revenue_per_customer": [1.0] * 2})
    sentence = drivers.takeaway(table, "cohort", {"value_365_per_customer": 100.0})
    assert sentence.startswith("Customers are worth about the same after a year whatever their month acquired")


def test_missing_column():
    tx = pl.LazyFrame({"customer_id": ["a"], "order_date": [dt.date(2024, 1, 1)], "amount": [1.0]})
    assert drivers.missing_column(tx, "first_product") == "product"
    assert drivers.missing_column(tx, "cohort") is None
    side = pl.LazyFrame({"customer_id": ["a"], "acquisition_channel": ["Web"]})
    assert drivers.missing_column(tx, "channel", side) is None


# --- products -----------------------------------------------------------------------


def test_product_table_golden(tx):
    table = products.product_table(tx, "category")
    by = groups(table)
    assert table["name"].to_list() == ["Shoes", "Hats", "Socks"]
    assert by["Shoes"]["revenue"] == 235 and by["Shoes"]["sold"] == 255 and by["Shoes"]["returned"] == 20
    assert by["Shoes"]["refund_rate"] == pytest.approx(20 / 255)
    assert (by["Shoes"]["customers"], by["Shoes"]["orders"]) == (4, 5)
    assert by["Shoes"]["repeat_rate"] == 0.25 and by["Shoes"]["rebuy_rate"] == 0.25
    assert (by["Hats"]["customers"], by["Hats"]["orders"], by["Hats"]["revenue"]) == (3, 5, 165)  # B's zero line is no purchase
    assert by["Hats"]["repeat_rate"] == pytest.approx(2 / 3) and by["Hats"]["rebuy_rate"] == pytest.approx(2 / 3)
    assert by["Socks"]["repeat_rate"] == 0.5 and by["Socks"]["rebuy_rate"] == 0.0
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert products.top_products(table, "customers", 1)["name"].to_list() == ["Shoes"]


def test_one_item_per_order(tx, tmp_path):
    assert not products.one_item_per_order(tx, "category")  # orders 1 and 6 list two categories
    path = tmp_path / "orders_export_1.csv"
    path.write_text(SHOPIFY)
    merged, _ = read_orders(path)
    assert products.one_item_per_order(merged, "product")


def test_journeys_golden(tx):
    flows = products.journeys(tx, "category")
    got = {(row["from_item"], row["to_item"]): row["customers"] for row in flows.iter_rows(named=True)}
    assert got == {("Hats", "Shoes"): 1, ("Socks", "Hats"): 1, ("Shoes", products.NO_SECOND): 2,
                   ("Hats", products.NO_SECOND): 1}
    assert products.journey_takeaway(flows).startswith("2 of 5 customers (40%) placed a second order")


def test_journeys_group_rare_products_as_other(tx):
    flows = products.journeys(tx, "category", limit=1)
    assert set(flows["from_item"]) == {"Hats", products.OTHER}  # Hats (2) and Shoes (2) tie: the name breaks it


def test_second_order_timing(profiles):
    timing = products.second_order_timing(profiles)
    assert dict(zip(timing["bucket"], timing["customers"])) == {
        "Within 30 days": 0, "31-90 days": 1, "91-180 days": 0, "181-365 days": 1, "After a year": 0, "Not yet": 3}
    assert products.median_days_to_second(profiles) == (36 + 198) / 2


def test_refunds_by_group(tx):
    segments = pl.DataFrame({"customer_id": ["A", "B", "C"], "group": ["Loyal", "New", "Loyal"]})
    table = groups(products.refunds_by_group(tx, segments).rename({"group": "name"}))
    assert table["New"]["refund_rate"] == pytest.approx(20 / 100)
    assert table["Loyal"]["refund_rate"] == 0.0 and table["Loyal"]["customers"] == 2


# --- offers -------------------------------------------------------------------------


def test_discount_usage_and_code_vs_none(tx_with_products, profiles):
    usage = offers.discount_usage(tx_with_products)
    assert dict(zip(usage["code"], usage["orders"])) == {"(none)": 6, "WELCOME": 2, "SPRING": 1, "X": 1}
    assert offers.discounted_share(usage) == 0.4
    comparison = groups(offers.code_vs_none(profiles))
    assert comparison[offers.WITH_CODE]["customers"] == 3 and comparison[offers.WITHOUT_CODE]["customers"] == 2
    assert comparison[offers.WITH_CODE]["repeat_rate_365"] == pytest.approx(2 / 3)
    assert offers.offer_takeaway(usage, offers.code_vs_none(profiles)).startswith("40% of orders used a discount code")


# --- CLI ----------------------------------------------------------------------------


def run_json(capsys, *argv) -> dict:
    assert main(["drivers", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("by, expected", [
    ("first_category", {"Socks": (1, 1.0, 110.0), "Hats": (2, 0.5, 85.0), "Shoes": (2, 0.0, 75.0)}),
    ("channel", {"Web": (3, 1.0, 108.33), "Store": (2, 0.0, 52.5)}),
    ("region", {"North": (3, 0.6667, 93.33), "South": (2, 0.0, 75.0)}),
    ("cohort", {"2023-01": (1, 1.0, 145.0), "2023-03": (1, 0.0, 80.0), "2023-05": (1, 1.0, 110.0),
                "2023-06": (1, 0.0, 25.0), "2024-10": (1, None, 70.0)}),
])
def test_cli_contract(export, capsys, by, expected):
    payload = run_json(capsys, export, "--by", by)
    assert payload["by"] == by
    got = {g["name"]: (g["customers"], g["repeat_rate_365"], g["revenue_per_customer"]) for g in payload["groups"]}
    assert got == expected
    assert all(set(g) >= {"name", "customers", "repeat_rate_365", "revenue_per_customer",
                          "predicted_value_per_customer"} for g in payload["groups"])


@pytest.mark.parametrize("by, column", [("first_product", "product"), ("discount_code", "discount_code")])
def test_cli_missing_column_exits_2_with_one_line(export, capsys, by, column):
    assert main(["drivers", str(export), "--by", by, "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) <= 200 and f"'{column}'" in err


def test_cli_products_once_ingest_keeps_them(tmp_path, capsys):
    path = tmp_path / "lines.csv"
    path.write_text("customer,order,date,amount,product,discount_code\n"
                    "A,1,2024-01-01,10,Socks,\nA,1,2024-01-01,30,Rain Shell Jacket,WELCOME\nB,2,2024-02-01,5,Socks,\n")
    frame, _ = read_orders(path)
    if "product" not in frame.collect_schema().names():
        pytest.skip("ingest does not keep the product column yet (issue 17 part 4)")
    payload = run_json(capsys, path, "--by", "first_product")
    assert {g["name"]: g["customers"] for g in payload["groups"]} == {"Rain Shell Jacket": 1, "Socks": 1}
    codes = run_json(capsys, path, "--by", "discount_code")
    assert {g["name"]: g["customers"] for g in codes["groups"]} == {"WELCOME": 1, "(none)": 1}


def test_drivers_finding_on_the_demo():
    from crm_core.dataset import load_dataset
    from crm_core.findings import FindingContext

    from conftest import ROOT

    demo = load_dataset(ROOT / "data" / "demo")
    finding = drivers.drivers_finding(FindingContext(demo))
    profiles = drivers.customer_profiles(demo.transactions, demo.customers)
    table = drivers.driver_table(profiles, "first_product", marketing_spend=demo.marketing_spend)
    assert finding.key == "drivers" and "first product" in finding.title and finding.chart == "driver_bars"
    assert finding.headline == drivers.takeaway(table, "first_product", drivers.overall_figures(profiles))
    assert finding.table.height == 10 and finding.table["Customers"].to_list() == table["customers"].head(10).to_list()
    from crm_core.charts.registry import figure, native

    assert len(figure(finding.chart, finding.data).data[0].y) == 15  # the best 15 groups drawn
    slide = native(finding.chart, finding.data)
    assert slide.categories[0] == table["name"][0]


def test_no_finding_for_a_handful_of_customers(tx):
    from crm_core.dataset import Dataset
    from crm_core.findings import FindingContext

    assert drivers.drivers_finding(FindingContext(Dataset(transactions=tx))) is None


def test_cli_default_dimension_is_the_first_the_file_has(export, capsys):
    assert run_json(capsys, export, "--no-prediction")["by"] == "first_category"  # no product column


SHOPIFY = """Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Country,Cancelled at,Refunded Amount
#1001,ann@shop.com,paid,EUR,50.00,5.00,0.00,55.00,WELCOME,5.00,2024-01-05 10:00:00 +0100,1,Mug,20.00,MUG,DE,,0.00
#1001,,,,,,,,,,,2,Plate,15.00,PLATE,,,
#1002,bob@shop.com,paid,EUR,120.00,0.00,0.00,120.00,,0.00,2024-01-10 10:00:00 +0100,1,Rain Shell Jacket,120.00,JKT,FR,,0.00
#1003,ann@shop.com,paid,EUR,20.00,0.00,0.00,20.00,,0.00,2024-03-01 10:00:00 +0100,1,Mug,20.00,MUG,DE,,0.00
#1004,cara@shop.com,refunded,EUR,120.00,0.00,0.00,120.00,,0.00,2024-02-01 10:00:00 +0100,1,Rain Shell Jacket,120.00,JKT,DE,,120.00
#1005,cara@shop.com,paid,EUR,20.00,0.00,0.00,20.00,SAVE,0.00,2024-04-01 10:00:00 +0100,1,Mug,20.00,MUG,DE,,0.00
"""


def test_cli_on_a_shopify_export(tmp_path, capsys):
    """Line items merged into orders by ingest: the first product is the largest line (Plate 2 x 15 over Mug 20);
    a fully refunded order acquires nobody (Cara's first purchase is her later Mug order)."""
    path = tmp_path / "orders_export_1.csv"
    path.write_text(SHOPIFY)
    product = run_json(capsys, path, "--by", "first_product", "--no-prediction")
    got = {g["name"]: (g["customers"], g["revenue_per_customer"]) for g in product["groups"]}
    assert got == {"Rain Shell Jacket": (1, 120.0), "Plate": (1, 70.0), "Mug": (1, 20.0)}
    codes = run_json(capsys, path, "--by", "discount_code", "--no-prediction")
    assert {g["name"]: g["customers"] for g in codes["groups"]} == {"WELCOME": 1, "(none)": 1, "SAVE": 1}


def test_profiles_built_in_slices_equal_the_whole_without_a_second_sort():
    # The CLI's slicer returns the customers sorted by id: the profiles are then not sorted (copied) again, and the
    # customers acquired in a period that holds every first order are not filtered (copied) again; same frames.
    from crm_core.demo import generate

    dataset = generate(customers=300, seed=5)

    def slicer(rows, build):
        parts = [build(rows.filter(pl.col("customer_id").hash() % 3 == k)).collect() for k in range(3)]
        return pl.concat(parts).sort("customer_id")

    tx = dataset.transactions
    first, last = tx.select(pl.col("order_date").min().alias("first"), pl.col("order_date").max().alias("last")).collect().row(0)
    whole = drivers.customer_profiles(tx, dataset.customers, last)
    assert drivers.customer_profiles(tx, dataset.customers, last, slicer=slicer).equals(whole)
    everyone = drivers.acquired_profiles(dataset, first, last, slicer)
    assert everyone.equals(whole)
    later = first + dt.timedelta(days=400)
    assert drivers.acquired_profiles(dataset, later, last, slicer).equals(whole.filter(pl.col("first_date") >= later))
