"""AppTest: the Data page's "Connect a database" shows push-down figures from PostgreSQL and DuckDB."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import app_path
from streamlit.testing.v1 import AppTest

from crm_core.customers import summarize
from crm_core.ingest import read_orders
from crm_core import format as fmt
from crm_core.kpis import comparison_window, default_window, kpi_comparison
from crm_core.metrics import metric
from crm_core.engines import top_customers
from ui.widgets import plain

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def cdnow_uri():
    from pg_cluster import ClusterUnavailable, PostgresCluster, load_frame

    try:
        cluster = PostgresCluster()
        uri = cluster.start()
    except ClusterUnavailable as reason:
        pytest.skip(f"PostgreSQL cannot start here: {reason}")
    tx = read_orders(DATA / "cdnow_sample.csv")[0].collect()
    load_frame(uri, "orders", tx.rename({"customer_id": "Buyer"}))
    yield uri, tx
    cluster.stop()


def _data_page() -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=120).run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    assert not [box for box in at.text_input if box.key == "wh_table"]  # the closed panel does not run
    at.session_state["wh_panel"] = True  # open it (it reruns the page, like a click)
    at.run()
    return at


def test_connect_shows_the_overview_cards_and_top_customers(cdnow_uri, monkeypatch):
    uri, tx = cdnow_uri
    monkeypatch.setenv("CRM_WAREHOUSE_URL", uri)
    at = _data_page()
    at.text_input(key="wh_table").set_value("orders")
    at.text_input(key="wh_map_customer_id").set_value("Buyer")
    at.button(key="wh_connect").click().run()
    assert not at.exception and not at.error
    assert any("6,919 order lines, 2,357 customers" in message.value for message in at.success)
    first, last = dt.date(1997, 1, 1), dt.date(1998, 6, 30)
    expected = kpi_comparison(tx.lazy(), *comparison_window(first, last, default_window(first, last)))
    shown = {card.label: card.value for card in at.metric}
    for row in expected.iter_rows(named=True):
        entry = metric(row["kpi"])
        assert shown[entry.label] == fmt.value(row["value"], entry.unit)
    top, sentence = top_customers(summarize(tx.lazy(), as_of=last).collect(), 20)
    table = next(frame.value for frame in at.dataframe if "recency_days" in frame.value.columns)
    assert table["customer_id"].tolist() == top["customer_id"].to_list()
    assert any(plain(sentence) in caption.value for caption in at.caption)
    # Drill-down: the first top customer's lines, straight from the database.
    lines = next(frame.value for frame in at.dataframe if list(frame.value.columns)[:3] == ["customer_id", "order_date", "amount"])
    assert set(lines["customer_id"]) == {top["customer_id"][0]}
    assert len(lines) == tx.filter(tx["customer_id"] == top["customer_id"][0]).height


def _cdnow_in_duckdb(tmp_path):
    """The CDNOW sample's orders (as read from the file) in a DuckDB file's table ``orders``."""
    import ibis

    tx = read_orders(DATA / "cdnow_sample.csv")[0].collect()
    path = tmp_path / "shop.duckdb"
    writer = ibis.duckdb.connect(str(path))
    writer.create_table("orders", tx)
    writer.disconnect()
    return tx, path


def test_a_duckdb_file_connects_by_url(tmp_path, monkeypatch):
    tx, path = _cdnow_in_duckdb(tmp_path)
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    at = _data_page()
    at.text_input(key="wh_uri").set_value(f"duckdb:///{path}")
    at.text_input(key="wh_table").set_value("orders")
    at.button(key="wh_connect").click().run()
    assert not at.exception and not at.error, [error.value for error in at.error]
    assert any("6,919 order lines, 2,357 customers" in message.value for message in at.success)
    top, _ = top_customers(summarize(tx.lazy(), as_of=dt.date(1998, 6, 30)).collect(), 20)
    table = next(frame.value for frame in at.dataframe if "recency_days" in frame.value.columns)
    assert table["customer_id"].tolist() == top["customer_id"].to_list()


def test_the_panel_follows_currency_and_locale(tmp_path, monkeypatch):
    """Counts, dates and the top-customers sentence in the manager's style (here EUR, 1.234,56)."""
    from crm_core.format import NumberStyle
    from crm_core.settings import AnalysisSettings
    from ui.state import Keys

    tx, path = _cdnow_in_duckdb(tmp_path)
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    at = AppTest.from_file(app_path(), default_timeout=120)
    at.session_state[Keys.SETTINGS] = AnalysisSettings(currency="EUR", locale="de")
    at.session_state[Keys.WH_PANEL] = True
    at.run()
    at.switch_page("app_pages/data.py").run()
    at.text_input(key="wh_uri").set_value(f"duckdb:///{path}")
    at.text_input(key="wh_table").set_value("orders")
    at.button(key="wh_connect").click().run()
    assert not at.exception and not at.error, [error.value for error in at.error]
    assert any("6.919 order lines, 2.357 customers, 1 Jan 1997 – 30 Jun 1998" in m.value for m in at.success)
    _, sentence = top_customers(summarize(tx.lazy(), as_of=dt.date(1998, 6, 30)).collect(), 20,
                                style=NumberStyle("EUR", "de"))
    assert "of 2.357 customers" in sentence
    assert any(plain(sentence) in caption.value for caption in at.caption)


def test_typed_uri_errors_say_what_to_do(monkeypatch):
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    at = _data_page()
    at.text_input(key="wh_uri").set_value("mysql://u:pw@host/db")
    at.text_input(key="wh_table").set_value("orders")
    at.button(key="wh_connect").click().run()
    assert not at.exception
    assert any("not supported" in error.value for error in at.error)
    assert all("pw" not in error.value for error in at.error)


def test_typed_uris_can_be_switched_off(monkeypatch):
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("CRM_WAREHOUSE_ALLOW_URI", "0")
    at = _data_page()
    assert not [widget for widget in at.text_input if widget.key == "wh_uri"]
    assert any("switched off" in info.value for info in at.info)
