"""Shared setup of the page AppTests: open a page, read what it shows, capture downloads.

Fixtures defined here are used by importing them into a test module
(``from pages_helpers import downloads``); pytest finds them by name there.
"""
from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from conftest import ROOT, app_path
from crm_core.customers import summarize
from crm_core.dataset import load_dataset


def open_page(page: str, session: dict[str, Any] | None = None, timeout: int = 180) -> AppTest:
    """Run the app, switch to ``page`` (e.g. "app_pages/portfolio.py") and check it ran without an exception.

    ``session`` is put in session state before the first run (e.g. the dataset to show).
    """
    at = AppTest.from_file(app_path(), default_timeout=timeout)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception
    return at


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Open the page's lazy tab ``label`` (ui.sections.lazy_tabs under ``key``) and rerun, as a click does."""
    at.session_state[key] = label
    at.run()
    assert not at.exception
    return at


def open_panel(at: AppTest, key: str) -> AppTest:
    """Open the page's lazy expander under ``key`` (ui.sections.lazy_expander) and rerun, as a click does."""
    at.session_state[key] = True
    at.run()
    assert not at.exception
    return at


def chart_keys(at: AppTest) -> set[str]:
    """Keys of the Plotly charts this run drew (what the browser has to draw)."""
    return {chart.key for chart in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label -> shown value."""
    return {metric.label: metric.value for metric in at.metric}


def captions(at: AppTest) -> list[str]:
    return [caption.value for caption in at.caption]


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """Capture what st.download_button hands to the media storage (file name -> bytes)."""
    captured: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            captured[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return captured


@pytest.fixture(scope="module")
def demo_summary() -> pl.DataFrame:
    """The demo's customer summary over its whole history (what the pages show by default)."""
    return summarize(load_dataset(ROOT / "data" / "demo").transactions).collect()
