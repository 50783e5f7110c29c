"""AppTest: Customer 360, Interactions and Actions pages on the demo (numbers checked against the engine / by hand)."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import app_path
from pages_helpers import captions, metrics, open_page
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from crm_core import format as fmt
from crm_core.actions import action_table, default_playbook, target_list
from crm_core.customers import summarize
from crm_core.dataset import Dataset, load_dataset
from crm_core.enrich import build_profile
from crm_core.export import GUARD
from crm_core.ingest import IngestReport
from crm_core.interactions import headline, prepare
from crm_core.settings import AnalysisSettings, Rfm
from ui.data import DEMO_FOLDER
from ui.state import Keys

CUSTOMER_360 = "app_pages/customer360.py"
INTERACTIONS = "app_pages/interactions.py"
ACTIONS = "app_pages/actions.py"


@pytest.fixture(scope="module")
def demo() -> dict:
    """The demo's action table as the pages build it (whole history, default playbook, top 20 %)."""
    dataset = load_dataset(DEMO_FOLDER)
    tx = dataset.transactions
    first, last = tx.select(pl.col("order_date").min(), pl.col("order_date").max().alias("m")).collect().row(0)
    summary = summarize(tx, last).collect()
    profile = build_profile(dataset, last, first, summary)
    customers = dataset.customers.collect()
    actions = action_table(summary, profile.table, default_playbook(), customers)
    return {"dataset": dataset, "first": first, "last": last, "actions": actions}


def _open(page: str) -> AppTest:
    return open_page(page)


_metrics = metrics


def _captions(at: AppTest) -> str:
    return "\n".join(captions(at))


# --------------------------------------------------------------------------- Customer 360


def test_customer_360_search_shows_profile_and_next_action(demo):
    best = demo["actions"].sort("revenue", descending=True).row(0, named=True)
    at = _open(CUSTOMER_360)
    assert at.info  # asks for a search first
    at.text_input(key=Keys.C360_QUERY).set_value(best["customer_id"].lower()).run()
    assert not at.exception
    assert at.selectbox(key=Keys.C360_PICK).value == best["customer_id"]  # exact match ranked first
    shown = _metrics(at)
    assert shown["Revenue (customer)"] == fmt.money(best["revenue"])
    assert shown["Orders (customer)"] == f"{best['orders']:,}"
    assert shown["RFM segment"] == best["segment"]
    assert shown["Value tier"] == best["tier"]
    assert shown["Next 12 months"] == fmt.money(best["clv"])
    assert shown["Probability still active"] == f"{best['p_alive']:.0%}"
    markdown = "\n".join(element.value for element in at.markdown)
    assert best["objective"] in markdown.replace("\\", "")
    assert f"playbook row '{best['rule']}'" in _captions(at).replace("\\", "")
    interactions = demo["dataset"].interactions.filter(pl.col("customer_id") == best["customer_id"]).collect()
    assert shown["Contacts (customer)"] == f"{interactions.height:,}"
    lines = next(frame.value for frame in at.dataframe if "discount_code" in frame.value.columns)
    assert lines["discount_code"].notna().all() and (lines["discount_code"] == "").any()  # empty, not "None"


def test_customer_360_search_by_email_part_and_no_match(demo):
    at = _open(CUSTOMER_360)
    at.text_input(key=Keys.C360_QUERY).set_value("SMITH").run()
    options = at.selectbox(key=Keys.C360_PICK).options
    assert 0 < len(options) <= 50
    assert all("smith" in option.lower() for option in options)
    at.text_input(key=Keys.C360_QUERY).set_value("no-such-customer-xyz").run()
    assert not at.exception
    assert at.warning and "No customer matches" in at.warning[0].value


# --------------------------------------------------------------------------- Interactions


def test_interactions_page_headline_matches_engine(demo):
    groups = demo["actions"].select("customer_id", "segment")
    expected = headline(prepare(demo["dataset"].interactions, groups, demo["first"], demo["last"]))
    at = _open(INTERACTIONS)
    shown = _metrics(at)
    assert shown["Support contacts"] == f"{expected['contacts']:,}"
    assert shown["CSAT (1-5)"] == f"{expected['csat_mean']:.2f}"
    assert shown["Complaint rate"] == f"{expected['complaint_share']:.1%}"
    # Only the open tab is drawn (ui.sections.lazy_tabs): three charts per visit, three more on the second tab.
    assert {chart.key for chart in at.get("plotly_chart")} == {
        "interact_csat_group", "interact_csat_channel", "interact_trend"}
    at.segmented_control(key=Keys.INTERACT_GROUP).set_value("tier").run()
    assert not at.exception
    assert "value tier" in _captions(at)
    at.session_state[Keys.INTERACT_TAB] = "Complaints and cost-to-serve"
    at.run()
    assert not at.exception
    assert {chart.key for chart in at.get("plotly_chart")} == {
        "interact_complaints", "interact_distribution", "interact_cost"}
    assert at.segmented_control(key=Keys.INTERACT_GROUP).value == "tier"  # the group chosen stays
    assert any("value tier" in expander.label for expander in at.expander)


def test_interactions_page_without_data_explains_the_file():
    from crm_core.workspace import Workspace

    tx = load_dataset(DEMO_FOLDER).transactions.head(500).collect()
    dataset_id = Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "No side tables", b"raw", "orders.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=500, rows_valid=500)
    )
    at = _open_dataset(dataset_id, INTERACTIONS)
    assert "interactions" in at.info[0].value
    layout = at.dataframe[0].value
    assert list(layout["column"]) == ["customer_id", "interaction_date", "channel", "reason", "csat", "cost"]


# --------------------------------------------------------------------------- Actions


def test_default_what_if_by_hand(demo):
    segments = demo["actions"]["segment"]
    n = int(segments.is_in(["At Risk", "Can't Lose Them"]).sum())
    at = _open(ACTIONS)
    assert at.multiselect(key=Keys.WHATIF_SEGMENTS).value == ["At Risk", "Can't Lose Them"]
    shown = _metrics(at)
    # defaults: 2.00 per contact, 5 % respond, +50 per responder, 30 % margin
    assert shown["Customers contacted"] == f"{n:,}"
    assert shown["Expected responders"] == f"≈ {round(n * 0.05):,}"  # people, not 43.4 of them
    responders = next(metric for metric in at.metric if metric.label == "Expected responders")
    assert f"As computed: {n * 0.05:,.1f}." in responders.proto.help  # the exact expectation, in the help
    assert shown["Extra revenue"] == fmt.money(n * 0.05 * 50)
    assert shown["Extra margin"] == fmt.money(n * 0.05 * 50 * 0.3)
    assert shown["Campaign cost"] == fmt.money(n * 2.0)
    assert shown["Campaign net profit"] == fmt.money(n * 0.75 - n * 2.0)
    assert shown["Campaign ROI"] == f"{(0.75 - 2.0) / 2.0:.1%}"  # -62.5 %
    assert shown["Break-even response rate"] == f"{2.0 / (0.3 * 50):.1%}"  # 13.3 %
    assert any("Assumptions" in element.value for element in at.markdown)


def test_playbook_coverage_is_drawn_once_its_panel_opens(demo):
    at = _open(ACTIONS)
    def coverage_tables():
        return [frame.value for frame in at.dataframe if list(frame.value.columns) == ["rule", "customers", "revenue"]]

    assert not coverage_tables()
    at.session_state[Keys.PLAYBOOK_COVERAGE] = True  # a click on "How many customers each playbook row applies to"
    at.run()
    assert not at.exception
    (coverage,) = coverage_tables()
    assert coverage["customers"].sum() == demo["actions"].height  # every customer falls under one playbook row


def test_what_if_percent_uplift_by_hand(demo):
    champions = demo["actions"].filter(pl.col("segment") == "Champions")
    n, baseline = champions.height, champions["clv"].fill_null(0).sum()
    at = _open(ACTIONS)
    at.multiselect(key=Keys.WHATIF_SEGMENTS).set_value(["Champions"]).run()
    at.number_input(key=Keys.WHATIF_COST).set_value(1.0).run()
    at.number_input(key=Keys.WHATIF_RESPONSE).set_value(10.0).run()
    at.number_input(key=Keys.WHATIF_MARGIN).set_value(50.0).run()
    at.radio(key=Keys.WHATIF_MODE).set_value("percent").run()
    at.number_input(key=Keys.WHATIF_UPLIFT_PERCENT).set_value(20.0).run()
    assert not at.exception
    revenue = 0.10 * 0.20 * baseline  # response x uplift x baseline (predicted CLV) of the targets
    shown = _metrics(at)
    assert shown["Customers contacted"] == f"{n:,}"
    assert shown["Extra revenue"] == fmt.money(revenue)
    assert shown["Campaign net profit"] == fmt.money(revenue * 0.5 - n * 1.0)
    assert "baseline (predicted CLV)" in "\n".join(element.value for element in at.markdown).replace("\\", "")


@pytest.fixture
def downloads(monkeypatch) -> list:
    """Collect the data callables the download buttons register (called on click in a browser)."""
    captured: list = []
    original = MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        captured.append(data_callable)
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return captured


def test_target_list_downloads_match_the_engine(demo, downloads):
    at = _open(ACTIONS)
    expected = target_list(demo["actions"], ["At Risk", "Can't Lose Them"])
    assert at.dataframe[-1].value["customer_id"].tolist() == expected["customer_id"].to_list()[:1000]
    assert len(at.main.get("download_button")) == 2
    csv_bytes, xlsx_bytes = downloads[-2](), downloads[-1]()
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"), newline="")))
    assert [row["Customer ID"] for row in rows] == expected["customer_id"].to_list()  # managers' headers
    assert [row["Recommended action"] for row in rows] == expected["action"].to_list()
    assert [row["E-mail"] for row in rows] == expected["email"].to_list()
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes)).active
    assert sheet.max_row == expected.height + 1
    assert not [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
    # Each export is logged as evidence for the scorecard's Customize step.
    from crm_core.notes import NotesStore

    assert NotesStore(Path(os.environ["CRM_WORKSPACE"])).count_activity("export") == 2


def test_edited_playbook_drives_targets_downloads_and_customer_360(demo, downloads):
    book = default_playbook()
    champions_row = book["segment"].to_list().index("Champions")
    hostile = '=HYPERLINK("http://x","VIP call")'
    at = _open(ACTIONS)
    at.session_state[Keys.PLAYBOOK_EDITOR] = {
        "edited_rows": {champions_row: {"action": hostile}}, "added_rows": [], "deleted_rows": [],
    }
    at.multiselect(key=Keys.WHATIF_SEGMENTS).set_value(["Champions"]).run()
    assert not at.exception
    preview = at.dataframe[-1].value
    assert set(preview["action"]) == {hostile}
    rows = list(csv.DictReader(io.StringIO(downloads[-2]().decode("utf-8-sig"), newline="")))
    assert {row["Recommended action"] for row in rows} == {GUARD + hostile}  # neutralised, original text after the guard

    # the edit follows the user to Customer 360
    champion = demo["actions"].filter(pl.col("segment") == "Champions").row(0, named=True)
    at.switch_page(CUSTOMER_360).run()
    at.text_input(key=Keys.C360_QUERY).set_value(champion["customer_id"]).run()
    assert not at.exception
    # as the reader sees it: escapes resolved, the invisible word joiner that keeps "http" from linking dropped
    markdown = "\n".join(element.value for element in at.markdown).replace("\\", "").replace("\u2060", "")
    assert hostile in markdown

    # back on Actions the editor starts from the edited playbook; reset restores the default
    at.switch_page(ACTIONS).run()
    assert hostile in set(at.data_editor[0].value["action"])
    at.button[0].click().run()
    assert not at.exception
    assert hostile not in set(at.data_editor[0].value["action"])
    assert set(at.dataframe[-1].value["action"]) == {book["action"][champions_row]}


# --------------------------------------------------------------------------- degraded data


def _bare_dataset_id(rows: int = 2_000) -> tuple[str, pl.DataFrame]:
    """A saved dataset with only customer_id, order_date, amount and no side tables."""
    from crm_core.workspace import Workspace

    tx = load_dataset(DEMO_FOLDER).transactions.select("customer_id", "order_date", "amount").head(rows).collect()
    dataset_id = Workspace(Path(os.environ["CRM_WORKSPACE"])).save(
        "Bare orders", b"raw", "orders.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=rows, rows_valid=rows)
    )
    return dataset_id, tx


def _open_dataset(dataset_id: str, page: str) -> AppTest:
    return open_page(page, {Keys.DATASET_ID: dataset_id})


def test_customer_360_without_side_tables_or_optional_columns():
    dataset_id, tx = _bare_dataset_id()
    customer = tx["customer_id"][0]
    at = _open_dataset(dataset_id, CUSTOMER_360)
    at.text_input(key=Keys.C360_QUERY).set_value(customer).run()
    assert not at.exception
    captions = _captions(at)
    assert "No customers file" in captions
    assert "no category column" in captions and "no channel column" in captions
    assert "No interactions file" in captions
    assert _metrics(at)["Revenue (customer)"] == fmt.money(tx.filter(pl.col('customer_id') == customer)['amount'].sum())


def test_customer_360_follows_the_segments_page_settings(demo):
    rfm = pytest.importorskip("crm_core.rfm")
    summary = summarize(demo["dataset"].transactions).collect()
    three = rfm.score_customers(summary, rfm.RfmSettings(bins=3)).select("customer_id", "segment").collect()
    changed = three.join(demo["actions"].select("customer_id", pl.col("segment").alias("five")), on="customer_id")
    customer = changed.filter(pl.col("segment") != pl.col("five")).row(0, named=True)
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.query_params[Keys.SETTINGS_URL] = AnalysisSettings(rfm=Rfm(bins=3)).to_url()  # chosen on Segments, in the link
    at.run()
    at.switch_page(CUSTOMER_360).run()
    at.text_input(key=Keys.C360_QUERY).set_value(customer["customer_id"]).run()
    assert not at.exception
    assert _metrics(at)["RFM segment"] == customer["segment"] != customer["five"]
