"""One truth: the view's settings travel to every page, meeting mode, the report, the exports and the CLI.

Each test drives the app with AppTest on the demo and checks a figure against the CLI run on the same
file with the view the app would download (``--view``).
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, app_path
from crm_core.kpis import comparison_window, default_window, period_kpis
from crm_core.settings import AnalysisSettings, Tiers
from pages_helpers import downloads  # noqa: F401  (fixture, used by name)
from ui.settings import settings_from_query
from ui.state import Keys

DEMO_ORDERS = ROOT / "data" / "demo" / "transactions.parquet"
VIEW_TIERS = Tiers(names=("Key", "Growth", "Base"), shares=(0.05, 0.25, 0.70))
COST_TAB = "Cost to serve & customer lists"  # the Portfolio tab with the customer lists (ui.sections)


def app(page: str | None = None, settings: AnalysisSettings | None = None) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=180)
    if settings is not None:
        at.session_state[Keys.SETTINGS] = settings  # as after loading a saved view
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def cli(tmp_path, command: str, settings: AnalysisSettings, *extra: str) -> dict:
    view = tmp_path / "view.json"
    view.write_text(settings.to_json())
    completed = subprocess.run([sys.executable, "-m", "crm_core", command, str(DEMO_ORDERS), "--view", str(view),
                                *extra, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def report_figures(tmp_path, settings: AnalysisSettings) -> dict[str, dict]:
    out = tmp_path / "report.html"
    cli(tmp_path, "report", settings, "--out", str(out))
    match = re.search(r'<script type="application/json" id="figures">(.*?)</script>', out.read_text(), re.S)
    return {entry["id"]: entry for entry in json.loads(match.group(1))}


def table_with(at: AppTest, column: str):
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def link_settings(at: AppTest) -> AnalysisSettings:
    """The settings a copied link carries (what a saved view downloads)."""
    return settings_from_query({name: at.query_params[name] for name in at.query_params})


def meeting_table(at: AppTest, column: str):
    """Meeting mode on the slide whose table has ``column`` (e.g. the tiers slide's "Tier"): that table."""
    at.session_state[Keys.MEETING_MODE] = True
    for step in range(1, 20):
        at.session_state[Keys.MEETING_STEP] = step
        go(at, "app_pages/meeting.py")
        table = next((frame.value for frame in at.dataframe if column in frame.value.columns), None)
        if table is not None:
            return table
    raise AssertionError(f"no slide with a {column!r} table in meeting mode")


def test_one_figure_is_identical_on_its_page_in_meeting_mode_in_the_report_and_the_cli(tmp_path):
    settings = AnalysisSettings(tiers=VIEW_TIERS)
    at = app("app_pages/portfolio.py", settings)
    page = dict(zip(table_with(at, "tier")["tier"], table_with(at, "tier")["customers"]))
    shown_share = {m.label: m.value for m in at.metric}["Top 20% customers' share of revenue"]

    portfolio = cli(tmp_path, "portfolio", settings)
    figures = report_figures(tmp_path, settings)
    slides = meeting_table(at, "Tier")
    meeting = dict(zip(slides["Tier"], slides["Customers"]))
    for name in VIEW_TIERS.names:
        assert page[name] == portfolio["tiers"][name]["customers"] == figures[f"tier.{name}.customers"]["value"] \
            == meeting[name], name
    assert shown_share == f"{100 * portfolio['top20_revenue_share']:.1f}%"
    assert figures["top20_revenue_share"]["value"] == portfolio["top20_revenue_share"]
    assert figures["tier.Key.customers"]["definition"] == "Customers in tier Key under the view's tier rule."


def test_tiers_edited_on_portfolio_survive_navigation_and_reach_meeting_mode_and_the_report(tmp_path):
    at = app("app_pages/portfolio.py")
    at.session_state[Keys.PF_TIER_PANEL] = True  # a click opens the tier settings (ui.sections.lazy_expander)
    at.run()
    at.text_input(key=f"{Keys.PF_TIER_NAME}0").set_value("Key accounts").run()
    at.number_input(key=f"{Keys.PF_TIER_SHARE}0").set_value(3.0).run()
    assert not at.exception
    go(at, "app_pages/overview.py")
    go(at, "app_pages/segments.py")
    go(at, "app_pages/portfolio.py")
    at.session_state[Keys.PF_TIER_PANEL] = True
    at.run()
    assert at.text_input(key=f"{Keys.PF_TIER_NAME}0").value == "Key accounts"
    tiers = table_with(at, "tier")
    assert tiers["tier"].tolist()[0] == "Key accounts"

    linked = link_settings(at)  # the copied link carries the edit
    assert linked.tiers.names[0] == "Key accounts" and linked.tiers.shares[0] == pytest.approx(0.03)
    meeting = meeting_table(at, "Tier")
    assert meeting["Tier"].tolist()[0] == "Key accounts"
    assert meeting["Customers"].tolist()[0] == tiers["customers"].tolist()[0]
    figures = report_figures(tmp_path, linked)
    assert figures["tier.Key accounts.customers"]["value"] == tiers["customers"].tolist()[0]


def test_a_filter_changes_every_page_consistently(tmp_path):
    at = app()
    labels = [node.label for node in at.sidebar.get("expander")]
    assert "Filters" in labels and not at.sidebar.multiselect  # closed panels are not drawn (page changes pay less)
    at.session_state[Keys.FILTERS_OPEN] = True  # a click on the sidebar's Filters panel
    at.run()
    assert len(at.sidebar.multiselect) >= 4
    at.sidebar.multiselect(key=f"{Keys.FILTER}channel").set_value(["Web"]).run()
    assert not at.exception
    assert any(pill.key and pill.key.startswith(Keys.FILTER_CHIPS) for pill in at.get("button_group")), \
        "the filter is shown as a chip"
    settings = link_settings(at)
    assert settings.filter_map == {"channel": ("Web",)}

    tx = pl.read_parquet(DEMO_ORDERS).lazy()
    web = tx.filter(pl.col("channel") == "Web")
    first, last = web.select(pl.col("order_date").min(), pl.col("order_date").max().alias("m")).collect().row(0)
    start, end = comparison_window(first, last, default_window(first, last))
    expected = period_kpis(web, start, end)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue (net)"] == f"{expected['revenue']:,.0f}"

    portfolio = cli(tmp_path, "portfolio", settings)
    go(at, "app_pages/portfolio.py")
    tiers = table_with(at, "tier")
    assert int(tiers["customers"].sum()) == portfolio["customers"]
    assert tiers["revenue"].sum() == pytest.approx(portfolio["revenue"], abs=0.01)
    go(at, "app_pages/segments.py")
    assert {m.label: m.value for m in at.metric}["Customers"] == f"{portfolio['customers']:,}"
    figures = report_figures(tmp_path, settings)
    assert figures["customers"]["value"] == portfolio["customers"]


def test_currency_shows_on_cards_axes_tables_and_exports(downloads):
    at = app()
    at.session_state[Keys.FORMAT_OPEN] = True  # a click on the sidebar's Currency panel (drawn once opened)
    at.run()
    at.sidebar.selectbox(key=Keys.CURRENCY).set_value("EUR").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue (net)"].startswith("€") and shown["Average order value"].startswith("€")
    trend = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert trend["layout"]["yaxis"]["tickprefix"] == "€"

    go(at, "app_pages/portfolio.py")
    at.session_state[Keys.PF_TAB] = COST_TAB
    at.run()
    assert "Revenue (EUR)" in [column["label"] for column in _column_configs(at)]
    export = downloads["portfolio_platinum.csv"].decode("utf-8-sig")
    header = export.splitlines()[0].split(",")
    assert "Revenue (EUR)" in header and "Customer name" in header and "E-mail" in header
    frame = pl.read_csv(io.StringIO(export))
    assert frame["Revenue (EUR)"].dtype == pl.Float64
    assert (frame["Revenue (EUR)"] == frame["Revenue (EUR)"].round(2)).all()  # to the cent: no 15115.869999999999


def _column_configs(at: AppTest) -> list[dict]:
    configs = []
    for frame in at.dataframe:
        configs += [c for c in json.loads(frame.proto.columns or "{}").values() if isinstance(c, dict) and "label" in c]
    return configs


def test_a_customer_list_opens_the_customer_in_customer_360():
    at = app("app_pages/portfolio.py")
    at.session_state[Keys.PF_TAB] = COST_TAB
    at.session_state[f"{Keys.PF_DOWNLOAD}_rows"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    opener = [button for button in at.button if button.label.startswith("Open ") and "Customer 360" in button.label]
    assert opener, "selecting a row offers Customer 360"
    customer = opener[0].label.removeprefix("Open ").removesuffix(" in Customer 360")
    opener[0].click().run()
    assert not at.exception
    assert at.subheader[0].value == customer and "Orders, lines and refunds" in [s.value for s in at.subheader]
    lines = table_with(at, "kind")
    expected = pl.read_parquet(DEMO_ORDERS).filter(pl.col("customer_id") == customer)
    assert len(lines) == expected.height
    assert set(lines["kind"]) <= {"Purchase", "Refund / return"}
