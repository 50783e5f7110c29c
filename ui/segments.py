"""Behavioural-cluster fits for the Segments page: run once per dataset version, in the background.

The k-means fits (every k, with silhouette scores) take seconds; they run on the
background worker (:mod:`ui.background`), shared by every session, and the page
shows a progress note meanwhile. The default fit (the default behaviour columns,
as of the period's end) starts as soon as a dataset is loaded (:func:`start_default_fit`).
"""
from __future__ import annotations

import datetime as dt
from ui.background import Job
from typing import TYPE_CHECKING

import polars as pl
import streamlit as st

from crm_core import needs, rfm
from ui import background
from ui import background_jobs as jobs
from ui.background_jobs import default_behaviour  # noqa: F401  (the Segments page's import)
from ui.data import DatasetKey, load_period_transactions, summary_job

if TYPE_CHECKING:
    from crm_core import clusters as cl


def fit_job(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date, summary: pl.DataFrame,
            behaviour: tuple[str, ...] | None = None) -> Job:
    """K-means for every k on ``summary`` (the period's customers as of ``as_of``), in the background.

    ``behaviour`` None = the default columns (the job the dataset load starts).
    """
    return background.submit("cluster_fit", (key, start, end, as_of, behaviour), jobs.cluster_fit, summary, behaviour)


def start_default_fit(key: DatasetKey, start: dt.date, end: dt.date) -> None:
    """Start the Segments page's default fit for this dataset and period (no wait).

    The same job as :func:`fit_job` with the period's summary as of ``end``, taken from its own
    job (:func:`ui.data.summary_job`) when the worker gets to it.
    """
    background.submit("cluster_fit", (key, start, end, end, None), jobs.cluster_fit, summary_job(key, start, end), None)


@st.cache_resource(max_entries=16, show_spinner="Describing the clusters…")
def cached_describe(_fit: cl.ClusterFit, fingerprint: tuple, settings: cl.ClusterSettings, k: int | None) -> cl.ClusterResult:
    """Labels, names, profile and map for one k (the fit is identified by the fingerprint and settings)."""
    from crm_core import clusters as cl

    return cl.describe_clusters(_fit, k, settings)


# RFM and needs: cached for every session by dataset version, period, reference date and settings ----------
@st.cache_resource(max_entries=32, show_spinner=False)
def scored_customers(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date, settings: rfm.RfmSettings,
                     _summary: pl.DataFrame) -> pl.DataFrame:
    """RFM scores and segments of ``_summary`` (the period's customers as of ``as_of``; the key names it)."""
    return rfm.score_customers(_summary, settings).collect()


@st.cache_resource(max_entries=32, show_spinner=False)
def segment_migration(key: DatasetKey, start: dt.date, end: dt.date, earlier: dt.date, as_of: dt.date,
                      settings: rfm.RfmSettings) -> pl.DataFrame:
    """Customers moving between segments from ``earlier`` to ``as_of`` (the period's orders)."""
    return rfm.segment_migration(load_period_transactions(key, start, end), earlier, as_of, settings)


def _orders(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date) -> pl.LazyFrame:
    return needs.orders_until(load_period_transactions(key, start, end), as_of)


def fingerprint(frame: pl.DataFrame | None) -> tuple[int, int] | None:
    """An exact content key for a frame (Streamlit's own hash samples frames over 50,000 rows)."""
    if frame is None:
        return None
    return frame.height, int(frame.hash_rows(seed=0).sum())


def group_mix(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date, groups: pl.DataFrame,
              column: str) -> pl.DataFrame:
    """Share of each group's spend by ``column`` (``groups``: customer -> segment or cluster)."""
    return _group_mix(key, start, end, as_of, fingerprint(groups), groups, column)


@st.cache_resource(max_entries=32, show_spinner=False)
def _group_mix(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date, groups_key: tuple[int, int] | None,
               _groups: pl.DataFrame, column: str) -> pl.DataFrame:
    return needs.mix_by_group(_orders(key, start, end, as_of), _groups, column, needs.GROUP)


def cross_sell(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date,
               customers: pl.DataFrame | None) -> pl.DataFrame:
    """Category pairs bought by the same customers (all of them, or ``customers``)."""
    return _cross_sell(key, start, end, as_of, fingerprint(customers), customers)


@st.cache_resource(max_entries=32, show_spinner=False)
def _cross_sell(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date,
                customers_key: tuple[int, int] | None, _customers: pl.DataFrame | None) -> pl.DataFrame:
    return needs.cross_sell_pairs(_orders(key, start, end, as_of), _customers)


@st.cache_resource(max_entries=32, show_spinner=False)
def channel_moves(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date) -> pl.DataFrame:
    """First channel -> latest channel of the repeat customers."""
    return needs.channel_migration(_orders(key, start, end, as_of))
