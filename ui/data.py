"""Cached loaders: datasets, the period filter and the per-customer summary.

Frames are cached with ``st.cache_resource`` (shared by every session, not
copied per rerun; Polars frames are immutable), keyed by dataset id and
period, with bounded entries.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import streamlit as st

from crm_core.customers import filter_period, summarize
from crm_core.dataset import Dataset, load_dataset
from crm_core.logging_setup import get_logger, timed
from crm_core.schema import C
from ui.auth import current_owner
from ui.state import DEMO_DATASET_ID, Keys

ROOT = Path(__file__).resolve().parent.parent
DEMO_FOLDER = ROOT / "data" / "demo"


def workspace_root() -> Path:
    """Workspace folder: $CRM_WORKSPACE, else ./workspace (git-ignored)."""
    return Path(os.environ.get("CRM_WORKSPACE", ROOT / "workspace"))


@st.cache_resource(max_entries=8, show_spinner=False)
def _collected_dataset(dataset_id: str, version: str) -> Dataset:
    """Load every table of a dataset into memory once (``version`` busts the cache)."""
    if dataset_id == DEMO_DATASET_ID:
        lazy = load_dataset(DEMO_FOLDER, name="Demo portfolio")
    else:
        from crm_core.workspace import Workspace

        lazy = Workspace(workspace_root(), owner=current_owner()).load(dataset_id)
    tables = {
        kind: (table.collect().lazy() if table is not None else None)
        for kind, table in (
            ("transactions", lazy.transactions),
            ("customers", lazy.customers),
            ("interactions", lazy.interactions),
            ("marketing_spend", lazy.marketing_spend),
        )
    }
    return Dataset(name=lazy.name, **tables)


def current_dataset_id() -> str:
    """The dataset picked in the sidebar (or just saved/deleted, before the sidebar redraws)."""
    return st.session_state.get(Keys.PENDING_DATASET) or st.session_state.get(Keys.DATASET_ID) or DEMO_DATASET_ID


def current_dataset() -> Dataset:
    """The dataset picked in the sidebar, all tables in memory."""
    dataset_id = current_dataset_id()
    return _collected_dataset(dataset_id, _version(dataset_id))


def _version(dataset_id: str) -> str:
    """Changes whenever a table of the dataset is (re)written, so caches refresh.

    For workspace datasets it also names the owner, so every cache keyed by it
    is per owner: a signed-in user never gets frames another owner loaded.
    """
    folder = DEMO_FOLDER if dataset_id == DEMO_DATASET_ID else workspace_root() / dataset_id
    stamps = sorted(f"{path.name}:{path.stat().st_mtime_ns}" for path in folder.glob("*.parquet"))
    version = "|".join(stamps) or "missing"
    return version if dataset_id == DEMO_DATASET_ID else f"{version}|owner:{current_owner()}"


@st.cache_resource(max_entries=8, show_spinner=False)
def _date_bounds(dataset_id: str, version: str) -> tuple[dt.date, dt.date]:
    tx = _collected_dataset(dataset_id, version).transactions
    row = tx.select(pl.col(C.ORDER_DATE).min(), pl.col(C.ORDER_DATE).max().alias("max")).collect().row(0)
    return row[0], row[1]


def date_bounds() -> tuple[dt.date, dt.date]:
    """First and last order date of the current dataset."""
    dataset_id = current_dataset_id()
    return _date_bounds(dataset_id, _version(dataset_id))


def selected_period() -> tuple[dt.date, dt.date]:
    """The sidebar period, clamped to the data (whole history by default)."""
    first, last = date_bounds()
    chosen = st.session_state.get(Keys.PERIOD) or ()
    start = chosen[0] if len(chosen) > 0 and chosen[0] else first
    end = chosen[1] if len(chosen) > 1 and chosen[1] else last
    return max(start, first), min(end, last)


def period_transactions() -> pl.LazyFrame:
    """Transactions of the current dataset inside the sidebar period."""
    start, end = selected_period()
    return filter_period(current_dataset().transactions, start, end)


@st.cache_resource(max_entries=16, show_spinner="Summarising customers…")
def _customer_summary(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    tx = filter_period(_collected_dataset(dataset_id, version).transactions, start, end)
    with timed(get_logger("model"), "customer_summary", dataset=dataset_id) as info:
        summary = summarize(tx, as_of=end).collect()
        info["customers"] = summary.height
    return summary


def customer_summary() -> pl.DataFrame:
    """Per-customer summary of the sidebar period (as of its end date)."""
    dataset_id = current_dataset_id()
    start, end = selected_period()
    return _customer_summary(dataset_id, _version(dataset_id), start, end)
