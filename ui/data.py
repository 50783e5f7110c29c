"""Cached loaders: datasets, the view's filters, the period and the per-customer summary.

Frames are cached with ``st.cache_resource`` (shared by every session, not
copied per rerun; Polars frames are immutable), keyed by a :class:`DatasetKey`
(dataset id, version and the view's row filters) and the period, with bounded
entries. Other ui modules key their own caches with :func:`dataset_key` and
read frames through the public loaders here.

The view's filters (:mod:`crm_core.filters`) apply here, once, so every page
sees the same rows: order attributes and acquisition cohort in
:func:`load_dataset`, tier and segment filters in :func:`load_period_transactions`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from crm_core.customers import filter_period
from crm_core.dataset import Dataset, load_dataset as read_dataset_folder
from crm_core.filters import cohort_label, customers_history, filter_customers, filter_orders, row_settings
from crm_core.schema import C
from crm_core.settings import ORDER_FILTERS, AnalysisSettings
from ui import background, background_jobs
from ui.auth import current_owner
from ui.background import Job
from ui.paths import DEMO_FOLDER, workspace_root
from ui.settings import current_settings
from ui.state import DEMO_DATASET_ID, Keys

__all__ = [
    "DEMO_FOLDER", "DatasetKey", "current_dataset", "current_dataset_id", "customer_summary", "dataset_key",
    "dataset_version", "date_bounds", "filter_choices", "filter_problem", "full_dataset", "load_dataset", "load_full_dataset", "load_period_transactions",
    "load_summary", "load_view_dataset", "period_orders", "period_transactions", "selected_period", "summary_job",
    "workspace_root",
]


#: Most values offered per filter (a free-text column with thousands of values is no filter).
MAX_FILTER_CHOICES = 500


@dataclass(frozen=True)
class DatasetKey:
    """What a cached frame depends on: the dataset, its version and the view's row filters.

    ``rows`` is :func:`crm_core.filters.row_settings` in URL form ("" = no filter).
    """

    dataset_id: str
    version: str
    rows: str = ""

    @property
    def settings(self) -> AnalysisSettings:
        return AnalysisSettings.from_url(self.rows)


@st.cache_resource(max_entries=8, show_spinner=False)
def load_full_dataset(dataset_id: str, version: str) -> Dataset:
    """Every table of a dataset in memory, unfiltered (``version`` busts the cache)."""
    if dataset_id == DEMO_DATASET_ID:
        lazy = read_dataset_folder(DEMO_FOLDER, name="Demo portfolio")
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
            ("lines", lazy.lines),  # line items of merged orders: product analytics join them to the kept orders
        )
    }
    return Dataset(name=lazy.name, **tables)


@st.cache_resource(max_entries=16, show_spinner=False)
def load_dataset(key: DatasetKey) -> Dataset:
    """The dataset with the view's order and cohort filters applied to its transactions.

    A filter the data cannot take (a missing column) leaves the rows unfiltered;
    the sidebar says why (:func:`filter_problem`).
    """
    dataset = load_full_dataset(key.dataset_id, key.version)
    if not key.rows:
        return dataset
    try:
        transactions = filter_orders(dataset.transactions, key.settings).collect().lazy()
    except ValueError:
        return dataset
    return Dataset(name=dataset.name, transactions=transactions, customers=dataset.customers,
                   interactions=dataset.interactions, marketing_spend=dataset.marketing_spend, lines=dataset.lines)


def filter_problem(key: DatasetKey) -> str | None:
    """Why the view's filters could not be applied to this dataset, if they could not."""
    if not key.rows:
        return None
    try:
        filter_orders(load_full_dataset(key.dataset_id, key.version).transactions.head(0), key.settings).collect()
    except ValueError as error:
        return str(error)
    return None


def current_dataset_id() -> str:
    """The dataset picked in the sidebar (or just saved/deleted, before the sidebar redraws)."""
    return st.session_state.get(Keys.PENDING_DATASET) or st.session_state.get(Keys.DATASET_ID) or DEMO_DATASET_ID


def dataset_version(dataset_id: str) -> str:
    """Changes whenever a table of the dataset is (re)written, so caches refresh.

    For workspace datasets it also names the owner, so every cache keyed by it
    is per owner: a signed-in user never gets frames another owner loaded.
    A page run asks for it dozens of times: the files are looked at once per
    run (and again only when the folder itself changed: the workspace writes
    every table through a new file moved into place).
    """
    folder = DEMO_FOLDER if dataset_id == DEMO_DATASET_ID else workspace_root() / dataset_id
    try:
        folder_stamp = folder.stat().st_mtime_ns
    except OSError:
        folder_stamp = None
    seen = _this_run()
    known = seen.get(("version", dataset_id))
    if known is not None and known[0] == folder_stamp:
        return known[1]
    stamps = sorted(f"{path.name}:{path.stat().st_mtime_ns}" for path in folder.glob("*.parquet"))
    version = "|".join(stamps) or "missing"
    version = version if dataset_id == DEMO_DATASET_ID else f"{version}|owner:{current_owner()}"
    seen[("version", dataset_id)] = (folder_stamp, version)
    return version


def _this_run() -> dict[Hashable, Any]:
    """Look-ups made in this script run: dataset versions, date bounds, the view's dataset (empty outside a
    run, and at the start of each).

    Asking a cached function costs Streamlit a hash of its arguments (about half a millisecond for a
    dataset key and two dates): a page asked for the date bounds 6-12 times a run, every session.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    run = getattr(get_script_run_ctx(suppress_warning=True), "cursors", None)  # a new dict at each run's start
    if run is None:
        return {}
    memo = st.session_state.get(Keys.VERSIONS_THIS_RUN)
    if memo is None or memo[0] is not run:
        memo = (run, {})
        st.session_state[Keys.VERSIONS_THIS_RUN] = memo
    return memo[1]


def dataset_key() -> DatasetKey:
    """The key of the sidebar's dataset under the current view's row filters."""
    dataset_id = current_dataset_id()
    return DatasetKey(dataset_id, dataset_version(dataset_id), row_settings(current_settings()).to_url())


def current_dataset() -> Dataset:
    """The dataset picked in the sidebar after every filter of the view, whole history, all in memory.

    Tier and segment filters keep the customers chosen in the sidebar period (with all their orders).
    """
    return load_view_dataset(dataset_key(), *selected_period())


def full_dataset() -> Dataset:
    """The dataset picked in the sidebar without any filter (filter choices, data checks)."""
    key = dataset_key()
    return load_full_dataset(key.dataset_id, key.version)


@st.cache_resource(max_entries=16, show_spinner=False)
def _date_bounds(key: DatasetKey) -> tuple[dt.date, dt.date]:
    tx = load_dataset(key).transactions
    row = tx.select(pl.col(C.ORDER_DATE).min(), pl.col(C.ORDER_DATE).max().alias("max")).collect().row(0)
    if row[0] is None:  # the filters leave nothing: fall back to the whole dataset's dates
        full = load_full_dataset(key.dataset_id, key.version).transactions
        row = full.select(pl.col(C.ORDER_DATE).min(), pl.col(C.ORDER_DATE).max().alias("max")).collect().row(0)
    return row[0], row[1]


def date_bounds() -> tuple[dt.date, dt.date]:
    """First and last order date of the current dataset (after the view's filters)."""
    key = dataset_key()
    seen = _this_run()
    bounds = seen.get(("bounds", key))
    if bounds is None:
        bounds = seen[("bounds", key)] = _date_bounds(key)
    return bounds


def selected_period() -> tuple[dt.date, dt.date]:
    """The sidebar period, clamped to the data (whole history by default)."""
    first, last = date_bounds()
    chosen = st.session_state.get(Keys.PERIOD) or ()
    start = chosen[0] if len(chosen) > 0 and chosen[0] else first
    end = chosen[1] if len(chosen) > 1 and chosen[1] else last
    return max(start, first), min(end, last)


def load_view_dataset(key: DatasetKey, start: dt.date, end: dt.date) -> Dataset:
    """:func:`load_dataset` limited to the customers the tier and segment filters pick in ``start..end``.

    Cached for every session; asked for once per script run (:func:`_this_run`).
    """
    seen = _this_run()
    dataset = seen.get(("view", key, start, end))
    if dataset is None:
        dataset = seen[("view", key, start, end)] = _load_view_dataset(key, start, end)
    return dataset


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_view_dataset(key: DatasetKey, start: dt.date, end: dt.date) -> Dataset:
    dataset = load_dataset(key)
    if not {"tier", "segment"} & set(key.settings.filter_map):
        return dataset
    try:
        in_view = filter_customers(filter_period(dataset.transactions, start, end), key.settings, end)
    except ValueError:
        return dataset  # an unknown tier or segment: reported by the sidebar, rows left unfiltered
    history = customers_history(dataset.transactions, in_view, key.settings).collect().lazy()
    return Dataset(name=dataset.name, transactions=history, customers=dataset.customers,
                   interactions=dataset.interactions, marketing_spend=dataset.marketing_spend, lines=dataset.lines)


@st.cache_resource(max_entries=16, show_spinner=False)
def load_period_transactions(key: DatasetKey, start: dt.date, end: dt.date) -> pl.LazyFrame:
    """Transactions of ``start..end`` after every filter of the view (tier and segment included)."""
    return filter_period(load_view_dataset(key, start, end).transactions, start, end).collect().lazy()


def period_orders(key: DatasetKey, start: dt.date, end: dt.date) -> pl.LazyFrame:
    """:func:`load_period_transactions`' rows as a plan, nothing collected (for a background job to collect)."""
    return filter_period(load_view_dataset(key, start, end).transactions, start, end)


def period_transactions() -> pl.LazyFrame:
    """Transactions of the current dataset inside the sidebar period, after the view's filters."""
    return load_period_transactions(dataset_key(), *selected_period())


def summary_job(key: DatasetKey, start: dt.date, end: dt.date) -> Job:
    """The shared job computing :func:`load_summary` (the dataset load starts it in the background)."""
    return background.submit("customer_summary", (key, start, end), background_jobs.customer_summary,
                             key.dataset_id, period_orders(key, start, end), end)


def load_summary(key: DatasetKey, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Per-customer summary of ``start..end`` (as of ``end``) after the view's filters.

    Computed once for every session (a background job, started on dataset load): here if it has not started.
    """
    return summary_job(key, start, end).result()


def customer_summary() -> pl.DataFrame:
    """Per-customer summary of the sidebar period (as of its end date), after the view's filters."""
    return load_summary(dataset_key(), *selected_period())


@st.cache_resource(max_entries=8, show_spinner=False)
def _filter_choices(dataset_id: str, version: str) -> dict[str, list[str]]:
    tx = load_full_dataset(dataset_id, version).transactions
    names = tx.collect_schema().names()
    choices: dict[str, list[str]] = {}
    for column in ORDER_FILTERS:
        if column in names:
            values = tx.select(pl.col(column).cast(pl.String).str.strip_chars().drop_nulls().unique().sort()).collect()
            choices[column] = values.to_series().head(MAX_FILTER_CHOICES).to_list()
    cohorts = (tx.group_by(C.CUSTOMER_ID).agg(pl.col(C.ORDER_DATE).min().alias("first_date"))
               .select(cohort_label().unique().sort(descending=True)).collect())
    choices["cohort"] = cohorts.to_series().to_list()
    return choices


def filter_choices() -> dict[str, list[str]]:
    """Values each order filter can take in the current dataset (unfiltered), and acquisition quarters."""
    key = dataset_key()
    return _filter_choices(key.dataset_id, key.version)
