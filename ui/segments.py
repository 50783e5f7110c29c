"""Behavioural-cluster fits for the Segments page: run once per dataset version, in the background.

The k-means fits (every k, with silhouette scores) take seconds; they run on the
background worker (:mod:`ui.background`), shared by every session, and the page
shows a progress note meanwhile. The default fit (the default behaviour columns,
as of the period's end) starts as soon as a dataset is loaded (:func:`start_default_fit`).
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from typing import TYPE_CHECKING

import polars as pl
import streamlit as st

from ui import background
from ui.data import DatasetKey

if TYPE_CHECKING:
    from crm_core import clusters as cl


def default_behaviour(summary: pl.DataFrame) -> tuple[str, ...]:
    """The behaviour columns ticked by default: those the data has."""
    from crm_core import clusters as cl  # scikit-learn: imported by the worker, not by every page

    options = cl.available_behaviour(summary)
    return tuple(key for key in cl.default_behaviour(summary) if key in options)


def fit_job(key: DatasetKey, start: dt.date, end: dt.date, as_of: dt.date, summary: pl.DataFrame,
            behaviour: tuple[str, ...] | None = None) -> Future:
    """K-means for every k on ``summary`` (the period's customers as of ``as_of``), in the background.

    ``behaviour`` None = the default columns (the job the dataset load starts).
    """
    def work() -> cl.ClusterFit:
        from crm_core import clusters as cl

        chosen = default_behaviour(summary) if behaviour is None else behaviour
        return cl.fit_clusters(summary, cl.ClusterSettings(behaviour=chosen))

    return background.submit("cluster_fit", (key, start, end, as_of, behaviour), work)


def start_default_fit(key: DatasetKey, start: dt.date, end: dt.date, summary: pl.DataFrame) -> None:
    """Start the Segments page's default fit for this dataset and period (no wait)."""
    if summary.height:
        fit_job(key, start, end, end, summary)


@st.cache_resource(max_entries=16, show_spinner="Describing the clusters…")
def cached_describe(_fit: cl.ClusterFit, fingerprint: tuple, settings: cl.ClusterSettings, k: int | None) -> cl.ClusterResult:
    """Labels, names, profile and map for one k (the fit is identified by the fingerprint and settings)."""
    from crm_core import clusters as cl

    return cl.describe_clusters(_fit, k, settings)
