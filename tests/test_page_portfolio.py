"""AppTest of the Portfolio page on the demo dataset: numbers shown match the engine."""
from __future__ import annotations

import io
import math

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from crm_core import portfolio as pf
from crm_core.customers import summarize
from pages_helpers import captions, chart_keys, demo_summary, downloads, open_panel, open_tab  # noqa: F401  (fixtures)
from pages_helpers import open_page as open_app_page
from ui.state import Keys

COST = "Cost to serve & customer lists"


def open_page(tab: str | None = None) -> AppTest:
    at = open_app_page("app_pages/portfolio.py", timeout=120)
    return open_tab(at, Keys.PF_TAB, tab) if tab else at


def open_tiers(tab: str | None = None) -> AppTest:
    """The page with its tier settings' panel open (drawn only once opened: ui.sections.lazy_expander)."""
    return open_panel(open_page(tab), Keys.PF_TIER_PANEL)


def test_tier_settings_are_drawn_once_their_panel_opens(demo_summary):
    at = open_page()
    assert not [field for field in at.number_input if field.key.startswith(Keys.PF_TIER_SHARE)]
    expected = pf.tier_summary(pf.assign_tiers(demo_summary))  # the view's tiers apply with the panel closed
    assert at.dataframe[0].value["customers"].tolist() == expected["customers"].to_list()
    open_panel(at, Keys.PF_TIER_PANEL)
    assert [field.value for field in at.text_input if field.key.startswith(Keys.PF_TIER_NAME)] == list(
        pf.TierSettings().names)
    assert at.dataframe[0].value["customers"].tolist() == expected["customers"].to_list()


def test_page_shows_engine_figures(demo_summary):
    at = open_page()
    figures = pf.concentration(demo_summary)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Top 20% customers' share of revenue"] == f"{100 * figures.top20_share:.1f}%"
    assert metrics["Gini coefficient of revenue"] == f"{figures.gini:.2f}"
    tiers = at.dataframe[0].value
    expected = pf.tier_summary(pf.assign_tiers(demo_summary))
    assert tiers["customers"].tolist() == expected["customers"].to_list()
    assert any("The top 20% of customers bring" in text for text in captions(at))
    assert chart_keys(at) == {"pf_pareto", "pf_lorenz", "pf_pyramid"}  # only the open tab is drawn
    assert chart_keys(open_tab(at, Keys.PF_TAB, "Change over time")) == {"pf_trend", "pf_sankey"}
    assert chart_keys(open_tab(at, Keys.PF_TAB, COST)) == {"pf_matrix"}
    assert any("strategically significant" in text for text in captions(at))


def test_change_cutoff_pick_tier_and_download(demo_summary, downloads):
    at = open_tiers()
    at.number_input(key="pf_share_0").set_value(2.0)
    at.run()
    assert not at.exception
    n = demo_summary.height
    platinum = math.ceil(0.02 * n)
    assert at.dataframe[0].value["customers"].tolist()[0] == platinum
    assert any("Platinum the top 2%" in text for text in captions(at))

    open_tab(at, Keys.PF_TAB, COST)
    at.selectbox(key="pf_drill_pick").set_value("Gold")
    at.run()
    assert not at.exception
    settings = pf.TierSettings(shares=(0.02, 0.04, 0.15))
    gold = pf.assign_tiers(demo_summary, settings).filter(pl.col("tier") == "Gold")
    assert gold.height == math.ceil(0.06 * n) - platinum
    assert any(text.startswith(f"{gold.height:,} customers in Gold") for text in captions(at))

    content = downloads["portfolio_gold.csv"]
    assert content.startswith(b"\xef\xbb\xbf")
    csv = pl.read_csv(io.BytesIO(content[3:]), schema_overrides={"Customer ID": pl.String})
    assert csv["Customer ID"].to_list() == gold.sort("value_rank")["customer_id"].to_list()
    assert set(csv["Tier"]) == {"Gold"}
    # readable headers, money to the cent (no float noise), name and e-mail from the customers table
    revenue = next(name for name in csv.columns if name.startswith("Revenue"))
    assert csv[revenue].to_list() == [round(v, 2) for v in gold.sort("value_rank")["revenue"].to_list()]
    assert csv.columns[:3] == ["Customer ID", "Customer name", "E-mail"]


def test_renamed_tier_is_neutralised_in_the_download(downloads):
    at = open_tiers()
    at.text_input(key="pf_name_1").set_value("=HYPERLINK(1)")
    at.run()
    open_tab(at, Keys.PF_TAB, COST)
    at.selectbox(key="pf_drill_pick").set_value("=HYPERLINK(1)")
    at.run()
    assert not at.exception
    content = downloads["portfolio_hyperlink_1.csv"].decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in content
    assert "\n=HYPERLINK" not in content and ",=HYPERLINK" not in content


def test_invalid_cutoffs_explain_and_fall_back():
    at = open_tiers()
    at.number_input(key="pf_share_2").set_value(96.0)
    at.run()
    assert not at.exception
    assert any("below 100%" in error.value for error in at.error)
    assert any("Platinum the top 1%" in text for text in captions(at))  # defaults still drawn


def test_quadrant_drilldown(demo_summary):
    at = open_page(COST)
    at.segmented_control(key="pf_drill").set_value("quadrant")
    at.run()
    at.selectbox(key="pf_drill_pick").set_value("Candidates to reprice or exit")
    at.run()
    assert not at.exception
    shown = at.dataframe[-1].value
    assert set(shown["quadrant"]) == {"Candidates to reprice or exit"}
    quadrant_table = at.dataframe[-2].value
    expected = int(quadrant_table.loc[quadrant_table["quadrant"] == "Candidates to reprice or exit", "customers"].iloc[0])
    assert any(text.startswith(f"{expected:,} customers in Candidates") for text in captions(at))


def test_page_without_optional_columns_says_what_is_missing(cdnow_path):
    import os
    from pathlib import Path

    from crm_core.dataset import Dataset
    from crm_core.ingest import IngestReport
    from crm_core.workspace import Workspace

    tx = pl.read_csv(cdnow_path, schema_overrides={"customer_id": pl.String}).with_columns(
        pl.col("order_date").str.to_date("%Y-%m-%d"), pl.col("amount").cast(pl.Float64))
    dataset_id = Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "CDNOW sample", b"raw", "cdnow.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=tx.height))
    at = open_app_page("app_pages/portfolio.py", {Keys.DATASET_ID: dataset_id}, timeout=120)
    assert "Margin is not available: the data has no cost column." in captions(open_panel(at, Keys.PF_TIER_PANEL))
    expected = pf.concentration(summarize(tx.lazy()).collect())
    assert {m.label: m.value for m in at.metric}["Top 20% customers' share of revenue"] == f"{100 * expected.top20_share:.1f}%"
    texts = captions(open_tab(at, Keys.PF_TAB, COST))
    assert any("no recorded cost of serving customers (no interactions table)" in text for text in texts)


def test_amount_cutoffs_and_margin_ranking(demo_summary):
    at = open_tiers()
    at.segmented_control(key="pf_cut").set_value("amount")
    at.run()
    assert not at.exception
    amounts = pf.rank_cutoff_amounts(demo_summary)
    assert at.number_input(key="pf_amount_0").value == pytest.approx(amounts[0])
    expected = demo_summary.filter(pl.col("revenue") >= amounts[0]).height
    assert at.dataframe[0].value["customers"].tolist()[0] == expected
    assert any(text.startswith("Tiers by revenue in the period: Platinum from") for text in captions(at))
    if pf.has_margin(demo_summary):
        at.segmented_control(key="pf_cut").set_value("rank")
        at.segmented_control(key="pf_by").set_value("margin")
        at.run()
        assert not at.exception
        tiers = pf.tier_summary(pf.assign_tiers(demo_summary, pf.TierSettings(value="margin")),
                                pf.TierSettings(value="margin"))
        assert at.dataframe[0].value["revenue"].tolist() == pytest.approx(tiers["revenue"].to_list())
