"""The URL names the dataset by id: datasets sharing a name (saved the same minute) never get confused."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import polars as pl
from conftest import app_path
from streamlit.testing.v1 import AppTest

from crm_core.dataset import Dataset
from crm_core.ingest import IngestReport
from crm_core.workspace import Workspace
from ui.auth import LOCAL_OWNER


def _save(name: str, customers: int) -> str:
    tx = pl.DataFrame({"customer_id": [f"C{i}" for i in range(customers)], "order_date": [dt.date(2024, 1, 2)] * customers,
                       "amount": [10.0] * customers})
    workspace = Workspace(Path(os.environ["CRM_WORKSPACE"]), owner=LOCAL_OWNER)
    return workspace.save(name, b"raw", "orders.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=customers))


def _same_minute(*ids: str) -> None:
    """Both saves in the same minute, as a busy server would do (the labels then used to collide)."""
    with sqlite3.connect(Path(os.environ["CRM_WORKSPACE"]) / "catalog.sqlite") as connection:
        for second, dataset_id in enumerate(ids):
            connection.execute("UPDATE datasets SET created_at = ? WHERE id = ?",
                               (f"2024-05-01T10:00:{second:02d}.000000+00:00", dataset_id))


def _open(link: str | None) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=120)
    if link is not None:
        at.query_params["ds"] = link
    at.run()
    assert not at.exception
    return at


def test_a_link_opens_the_dataset_by_id_even_when_names_and_minutes_match():
    first, second = _save("Shop export", 1), _save("Shop export", 2)
    _same_minute(first, second)
    for dataset_id in (first, second):
        at = _open(dataset_id)
        assert at.session_state["ds"] == dataset_id
        assert at.query_params["ds"] == dataset_id
    labels = [_open(None).sidebar.selectbox(key="ds").format_func(option)
              for option in _open(None).sidebar.selectbox(key="ds").options]
    assert len(set(labels)) == 3  # the user can still tell them apart


def test_picking_a_dataset_puts_its_id_in_the_url():
    dataset_id = _save("Shop export", 1)
    at = _open(None)
    at.sidebar.selectbox(key="ds").set_value(dataset_id).run()
    assert not at.exception and at.query_params["ds"] == dataset_id  # the id, not its label
    at.sidebar.selectbox(key="ds").set_value("demo").run()
    assert "ds" not in at.query_params  # the default stays out of the link


def test_old_links_with_a_label_open_when_only_one_dataset_matches():
    unique, twin_a, twin_b = _save("Only one", 1), _save("Twin", 1), _save("Twin", 2)
    at = _open("Only one")
    assert at.session_state["ds"] == unique and at.query_params["ds"] == unique  # the link is mended to the id
    at = _open("Twin")  # two datasets are called that: the link cannot say which
    assert at.session_state["ds"] == "demo"
    assert any("several" in warning.value for warning in at.sidebar.warning)
    assert len(at.sidebar.selectbox(key="ds").options) == 4 and twin_a != twin_b


def test_a_link_to_an_unknown_dataset_opens_the_demo():
    at = _open("0" * 32)
    assert at.session_state["ds"] == "demo" and not at.sidebar.warning
