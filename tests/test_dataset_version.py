"""ui.data.dataset_version: the dataset's files are looked at once per page run, and a rewrite is seen at once."""
from __future__ import annotations

import os
import pathlib
from pathlib import Path

import polars as pl
from streamlit.testing.v1 import AppTest


def _script() -> None:
    import os
    import uuid
    from pathlib import Path

    import polars as pl
    import streamlit as st

    from ui.data import dataset_version

    versions = [dataset_version("versioned"), dataset_version("versioned")]
    folder = Path(os.environ["CRM_WORKSPACE"]) / "versioned"
    temporary = folder / f".t.{uuid.uuid4().hex}.parquet"  # written like crm_core.workspace: a new file moved into place
    pl.DataFrame({"a": [st.session_state.get("runs", 0)]}).write_parquet(temporary)
    temporary.replace(folder / "transactions.parquet")
    versions.append(dataset_version("versioned"))
    st.session_state["versions"] = versions
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1


def test_files_are_read_once_per_run_and_a_rewrite_is_seen_in_the_same_run(monkeypatch):
    folder = Path(os.environ["CRM_WORKSPACE"]) / "versioned"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"a": [0]}).write_parquet(folder / "transactions.parquet")
    globs = []
    original = pathlib.Path.glob
    monkeypatch.setattr(pathlib.Path, "glob", lambda self, pattern, **kw: globs.append(self) or original(self, pattern, **kw))
    at = AppTest.from_function(_script).run()
    assert not at.exception
    first, again, rewritten = at.session_state["versions"]
    assert first == again and rewritten != first
    assert globs.count(folder) == 2  # the first look-up and the one after the rewrite, not the repeat
    at.run()
    assert at.session_state["versions"][0] == rewritten  # the next run starts afresh and reads the files
    assert globs.count(folder) == 4


def test_a_page_run_asks_the_shared_caches_for_the_dates_and_the_view_dataset_once(monkeypatch):
    """Each ask of a cached function hashes its arguments: the date bounds and the view's dataset are
    looked up once per script run, however many widgets and figures ask for them."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import app_path

    import ui.data

    asked = {"_date_bounds": 0, "_load_view_dataset": 0}
    for name in asked:
        original = getattr(ui.data, name)

        def counted(*args, _name=name, _original=original):
            asked[_name] += 1
            return _original(*args)

        monkeypatch.setattr(ui.data, name, counted)
    at = AppTest.from_file(app_path(), default_timeout=180).run()
    at.switch_page("app_pages/lifetime.py").run()  # asked for them a dozen times a run before
    assert not at.exception
    for name in asked:
        asked[name] = 0
    at.run()
    assert asked == {"_date_bounds": 1, "_load_view_dataset": 1}
    month_start = at.sidebar.date_input(key="period").value[1].replace(day=1)
    at.sidebar.date_input(key="period").set_value((month_start, at.sidebar.date_input(key="period").value[1])).run()
    assert not at.exception and asked["_load_view_dataset"] == 2  # another period: its own dataset, in the new run
