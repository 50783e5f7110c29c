"""AppTest of the Drivers page: the demo's figures match the engine; data without products says what it needs."""
from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from crm_core import format as fmt
from crm_core import drivers, products
from crm_core.dataset import Dataset, load_dataset
from pages_helpers import captions, chart_keys, downloads, metrics, open_tab  # noqa: F401  (fixtures, used by name)
from pages_helpers import open_page as open_app_page
from ui.state import Keys

PAGE = "app_pages/drivers.py"


@pytest.fixture(scope="module")
def demo_profiles() -> pl.DataFrame:
    demo = load_dataset(ROOT / "data" / "demo")
    return drivers.customer_profiles(demo.transactions, demo.customers)


def unescaped(texts: list[str]) -> list[str]:
    """Captions without the Markdown escapes ``plain`` adds."""
    return [text.replace("\\", "") for text in texts]


def open_page(session: dict | None = None, tab: str | None = None) -> AppTest:
    at = open_app_page(PAGE, session, timeout=180)
    return open_tab(at, Keys.DRV_TAB, tab) if tab else at


def texts_of(at: AppTest, tab: str) -> list[str]:
    """Captions (unescaped) and info lines of the page's ``tab``."""
    open_tab(at, Keys.DRV_TAB, tab)
    return unescaped(captions(at)) + [info.value for info in at.info]


def test_page_shows_engine_figures(demo_profiles, downloads):
    at = open_page()
    shown = metrics(at)
    overall = drivers.overall_figures(demo_profiles)
    assert shown["Customers acquired"] == f"{demo_profiles.height:,}"
    assert shown["Revenue per customer"] == fmt.money(overall["revenue_per_customer"])
    assert shown["Repeat within a year"] == f"{overall['repeat_rate_365']:.1%}"
    table = drivers.driver_table(demo_profiles, "first_product")
    texts = unescaped(captions(at))
    assert any(drivers.takeaway(table, "first_product", overall) in text for text in texts)
    groups = at.dataframe[0].value
    assert sorted(groups["customers"].tolist()) == sorted(table["customers"].to_list())
    csv = pl.read_csv(io.BytesIO(downloads["drivers_by_first_product.csv"][3:]))
    assert csv["Customers"].sum() == demo_profiles.height  # the table's headers
    assert chart_keys(at) == {"drv_value", "drv_repeat"}  # only the open tab is drawn
    assert any("Refund rate = returned amount" in text for text in texts_of(at, "Products"))
    assert chart_keys(at) == {"drv_products", "drv_refund_products", "drv_refund_segments"}
    flows = products.journeys(load_dataset(ROOT / "data" / "demo").transactions, "product")
    assert any(products.journey_takeaway(flows) in text for text in texts_of(at, "First to second order"))
    assert chart_keys(at) == {"drv_journeys", "drv_timing"}
    assert any("of orders used a discount code" in text for text in texts_of(at, "Discounts"))
    assert chart_keys(at) == {"drv_offers"}  # the demo has no discount amounts: no depth chart


def test_channel_shows_payback(demo_profiles):
    at = open_page()
    at.segmented_control(key="drv_by").set_value("channel")
    at.run()
    assert not at.exception
    demo = load_dataset(ROOT / "data" / "demo")
    expected = drivers.driver_table(demo_profiles, "channel", marketing_spend=demo.marketing_spend)
    shown = at.dataframe[0].value
    assert "cac" in shown.columns
    cac = dict(zip(expected["name"], expected["cac"]))
    for name, value in zip(shown["name"], shown["cac"]):
        assert value == pytest.approx(cac[name])


def test_data_without_products_or_codes_says_what_it_needs(cdnow_path):
    from crm_core.ingest import IngestReport
    from crm_core.workspace import Workspace

    tx = pl.read_csv(cdnow_path, schema_overrides={"customer_id": pl.String}).with_columns(
        pl.col("order_date").str.to_date("%Y-%m-%d"), pl.col("amount").cast(pl.Float64))
    dataset_id = Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "CDNOW sample", b"raw", "cdnow.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=tx.height))
    at = open_page({Keys.DATASET_ID: dataset_id, Keys.DRV_PREDICT: False, Keys.DRV_BY: "first_product"})
    assert any("First product needs a 'product' column" in text for text in unescaped(captions(at)))
    acquired = drivers.customer_profiles(tx.lazy()).height  # customers with an order of positive revenue
    assert acquired < tx["customer_id"].n_unique()  # CDNOW has zero-amount purchases
    assert metrics(at)["Customers acquired"] == f"{acquired:,}"
    assert any("need a 'product'" in text for text in texts_of(at, "Products"))
    assert any("needs a 'product'" in text for text in texts_of(at, "First to second order"))
    assert any("need a 'discount_code' column" in text for text in texts_of(at, "Discounts"))


def _save_shopify(tmp_path, keep_lines: bool = True) -> str:
    from dataclasses import replace

    from crm_core.ingest import read_orders
    from crm_core.workspace import Workspace
    from test_drivers import SHOPIFY

    path = tmp_path / "orders_export_1.csv"
    path.write_text(SHOPIFY)
    tx, report = read_orders(path)
    return Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "Shop", path.read_bytes(), path.name, Dataset(transactions=tx.collect().lazy()),
        report if keep_lines else replace(report, lines=None))


def _product_table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "rebuy_rate" in frame.value.columns)


def test_merged_order_export_counts_each_item_and_shows_discount_depth(tmp_path):
    """#1001 (net 50) holds a Mug at 20 and two Plates at 15: 20 and 30 of its revenue; Cara's refunded Jacket is 0."""
    at = open_page({Keys.DATASET_ID: _save_shopify(tmp_path), Keys.DRV_PREDICT: False})
    assert metrics(at)["Customers acquired"] == "3"  # Cara's fully refunded order acquires nobody
    assert not any("one row per order" in text for text in texts_of(at, "Products"))
    shown = _product_table(at)
    assert dict(zip(shown["name"], shown["revenue"])) == {"Rain Shell Jacket": 120.0, "Mug": 60.0, "Plate": 30.0}
    assert any("of orders used a discount code" in text for text in texts_of(at, "Discounts"))
    assert "Discount depth" in [header.value for header in at.subheader]
    depth = next(frame.value for frame in at.dataframe if "mean_depth" in frame.value.columns)
    assert depth["name"].tolist() == ["No discount", "Under 10%"]  # Ann: 5 off 55 (9.1%)
    assert depth["customers"].tolist() == [2, 1]
    assert any("Too few customers in each discount depth" in text for text in unescaped(captions(at)))


def test_dataset_saved_without_lines_says_products_are_main_products(tmp_path):
    at = open_page({Keys.DATASET_ID: _save_shopify(tmp_path, keep_lines=False), Keys.DRV_PREDICT: False}, "Products")
    assert any("one row per order, carrying the order's main product" in text for text in captions(at))
    assert dict(zip(_product_table(at)["name"], _product_table(at)["revenue"]))["Plate"] == 50.0


def test_journeys_download_is_typed_like_the_other_exports(downloads):
    open_page(tab="First to second order")
    flows = products.journeys(load_dataset(ROOT / "data" / "demo").transactions, "product")
    csv = pl.read_csv(io.BytesIO(downloads["drivers_journeys.csv"][3:]))  # after the UTF-8 mark
    assert csv.columns == ["First order's product", "Second order's product", "Customers",
                           "Share of the first product's customers (%)"]
    assert csv["Customers"].sum() == flows["customers"].sum()
    # percent with two decimals, adding up to 100 for each first product
    totals = csv.group_by("First order's product").agg(pl.col("Share of the first product's customers (%)").sum())
    assert totals[totals.columns[1]].to_list() == pytest.approx([100.0] * totals.height, abs=0.05)
    assert csv["Share of the first product's customers (%)"].map_elements(
        lambda value: round(value, 2) == value, return_dtype=pl.Boolean).all()
