"""AppTest of the Segments page: the numbers shown match the engines, controls and edits take effect."""
from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl
from pages_helpers import captions, chart_keys, demo_summary, downloads, metrics, open_tab  # noqa: F401  (fixtures)
from pages_helpers import open_page as open_app_page
from streamlit.testing.v1 import AppTest

from crm_core import clusters as cl
from crm_core import rfm
from crm_core.dataset import Dataset
from crm_core.ingest import read_orders
from crm_core.kpis import format_kpi
from crm_core.settings import AnalysisSettings, Rfm
from ui.state import Keys


def open_page(dataset_id: str | None = None) -> AppTest:
    # the sidebar applies a pending dataset before drawing the picker
    return open_app_page("app_pages/segments.py", {Keys.PENDING_DATASET: dataset_id} if dataset_id else None)


def table_with(at: AppTest, column: str):
    """The first shown table that has ``column`` (the rule editor is a table too)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def unescape(text: str) -> str:
    return text.replace("\\", "")


def test_headline_and_default_drill_down_match_the_engine(demo_summary, downloads):
    at = open_page()
    scored = rfm.score_customers(demo_summary).collect()
    numbers = rfm.headline(scored)
    shown = metrics(at)
    assert shown["Customers"] == format_kpi(numbers["customers"], "count") == "5,000"
    assert shown["Median recency (days)"] == format_kpi(numbers["median_recency_days"], "count")
    assert shown["Median revenue"] == format_kpi(numbers["median_monetary"], "money")
    champions = rfm.segment_counts(scored)["Champions"]
    assert shown["Customers in segment"] == format_kpi(champions, "count")
    profile = rfm.segment_profile(scored)
    assert any(unescape(c).endswith(rfm.profile_takeaway(profile)) for c in captions(at))
    csv = downloads["segment_champions.csv"]
    assert csv.startswith(b"\xef\xbb\xbf")
    assert pl.read_csv(io.BytesIO(csv[3:])).height == champions


def test_pick_a_segment_shows_its_numbers(demo_summary, downloads):
    at = open_page()
    at.selectbox(key="seg_drill").set_value("At Risk").run()
    assert not at.exception
    scored = rfm.score_customers(demo_summary).collect()
    row = rfm.segment_profile(scored).filter(pl.col("segment") == "At Risk").row(0, named=True)
    shown = metrics(at)
    assert shown["Customers in segment"] == format_kpi(row["customers"], "count")
    assert shown["Segment revenue"] == format_kpi(row["revenue"], "money")
    assert shown["Revenue share"] == format_kpi(row["revenue_share"], "share")
    assert pl.read_csv(io.BytesIO(downloads["segment_at_risk.csv"][3:]))["RFM segment"].unique().to_list() == ["At Risk"]


def test_score_levels_and_ties_change_the_segments(demo_summary):
    at = open_page()
    at.segmented_control(key="seg_bins").set_value(4).run()
    at.segmented_control(key="seg_ties").set_value("ordinal").run()
    assert not at.exception
    settings = rfm.RfmSettings(bins=4, ties="ordinal")
    expected = rfm.segment_counts(rfm.score_customers(demo_summary, settings).collect(), settings)
    assert metrics(at)["Customers in segment"] == format_kpi(expected["Champions"], "count")
    table = table_with(at, "advice")  # the profile table
    assert dict(zip(table["segment"], table["customers"])) == expected
    assert list(table.columns[:2]) == ["segment", "advice"]  # "What to do" beside the name, not cut off at the end


def test_edited_rules_are_used_and_user_text_is_export_safe(demo_summary, downloads):
    at = open_page()
    edited = ("=Top", 4, 5, 4, 5), *[(r.name, r.r_min, r.r_max, r.f_min, r.f_max) for r in rfm.DEFAULT_RULES[5][1:]]
    rules = tuple(rfm.SegmentRule(*row) for row in edited)
    at.session_state[Keys.SETTINGS] = AnalysisSettings(rfm=Rfm(rules=edited))  # the view's rule table
    at.run()
    at.selectbox(key="seg_drill").set_value("=Top").run()
    assert not at.exception
    settings = rfm.RfmSettings(rules=rules)
    expected = rfm.segment_counts(rfm.score_customers(demo_summary, settings).collect(), settings)
    assert expected["=Top"] > rfm.segment_counts(rfm.score_customers(demo_summary).collect())["Champions"]
    assert metrics(at)["Customers in segment"] == format_kpi(expected["=Top"], "count")
    exported = pl.read_csv(io.BytesIO(downloads["segment_top.csv"][3:]))
    assert exported.height == expected["=Top"] and exported["RFM segment"].unique().to_list() == ["'=Top"]


def test_apply_and_reset_rule_buttons():
    at = open_page()
    assert not [button for button in at.button if button.label == "Apply rules"]  # drawn once its panel opens
    at.session_state[Keys.SEG_RULES_PANEL] = True
    at.run()
    at.button[0].click().run()  # "Apply rules" with the table unchanged: valid, applied (= the defaults)
    assert not at.exception and not at.error
    assert at.session_state[Keys.SETTINGS].rfm_settings().active_rules == rfm.DEFAULT_RULES[5]
    at.session_state[Keys.SETTINGS] = AnalysisSettings(rfm=Rfm(rules=(("Everyone", 1, 5, 1, 5),)))
    at.run()
    at.button[1].click().run()  # back to defaults
    assert not at.exception and at.session_state[Keys.SETTINGS].rfm.rules is None


def test_three_levels_say_which_segments_stay_empty():
    at = open_page()
    at.segmented_control(key="seg_bins").set_value(3).run()
    assert not at.exception
    assert any("Promising, Hibernating" in unescape(info.value) for info in at.info)


def test_only_the_open_tab_runs_and_each_says_what_it_shows():
    at = open_page()
    assert chart_keys(at) == {"seg_grid_chart", "seg_treemap"}  # the first visit draws two charts, not a dozen
    open_tab(at, Keys.SEG_TAB, "Movement between segments")
    assert chart_keys(at) == {"seg_migration"}
    assert any("Scores the customers twice" in c for c in captions(at))
    open_tab(at, Keys.SEG_TAB, "What groups buy")
    assert chart_keys(at) == {"needs_category_mix", "needs_cross_sell"}
    assert any("revenue split by product category" in c for c in captions(at))
    open_tab(at, Keys.SEG_TAB, "Channels")
    assert chart_keys(at) == {"needs_channel_mix", "needs_channel_value", "needs_channel_moves"}


def test_a_choice_inside_a_tab_survives_a_tab_switch():
    at = open_page()
    at.selectbox(key="seg_drill").set_value("At Risk").run()
    open_tab(at, Keys.SEG_TAB, "Behavioural clusters")
    open_tab(at, Keys.SEG_TAB, "RFM segments")
    assert at.selectbox(key="seg_drill").value == "At Risk"


def test_needs_can_group_by_the_clusters_chosen_on_their_tab(demo_summary):
    at = open_tab(open_page(), Keys.SEG_TAB, "Behavioural clusters")
    at.selectbox(key="clu_k").set_value(4).run()
    open_tab(at, Keys.SEG_TAB, "What groups buy")
    at.segmented_control(key="needs_group").set_value("cluster").run()
    assert not at.exception
    fit = cl.fit_clusters(demo_summary, cl.ClusterSettings(behaviour=cl.default_behaviour(demo_summary)))
    names = cl.cluster_titles(cl.describe_clusters(fit, 4, cl.ClusterSettings(behaviour=cl.default_behaviour(demo_summary))))
    assert at.selectbox(key="needs_scope").options == ["All customers", *names.values()]


def test_cluster_count_can_be_overridden(demo_summary):
    at = open_tab(open_page(), Keys.SEG_TAB, "Behavioural clusters")
    default = cl.ClusterSettings(behaviour=cl.default_behaviour(demo_summary))
    fit = cl.fit_clusters(demo_summary, default)
    at.selectbox(key="clu_k").set_value(5).run()
    assert not at.exception
    result = cl.describe_clusters(fit, 5, default)
    assert list(table_with(at, "cluster_name")["customers"]) == result.profile["customers"].to_list()
    assert any(unescape(c).endswith(cl.curve_takeaway(result)) for c in captions(at))
    assert "you chose 5" in " ".join(unescape(c) for c in captions(at))


def test_dataset_without_optional_columns_says_what_to_add(cdnow_path):
    tx, report = read_orders(cdnow_path)
    from crm_core.workspace import Workspace

    dataset_id = Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "CDNOW", cdnow_path.read_bytes(), cdnow_path.name, Dataset(transactions=tx), report)
    at = open_page(dataset_id)
    shown = metrics(at)
    assert shown["Customers"] == "2,357"
    assert "Frequency: 52% of customers have the same value (1 order)" in " ".join(info.value for info in at.info)
    assert "Add a 'category' column" in " ".join(info.value for info in open_tab(at, Keys.SEG_TAB, "What groups buy").info)
    assert "Add a 'channel' column" in " ".join(info.value for info in open_tab(at, Keys.SEG_TAB, "Channels").info)
    hints = " ".join(captions(open_tab(at, Keys.SEG_TAB, "Behavioural clusters")))
    assert "Add a 'category' column to your orders to use category breadth." in hints
