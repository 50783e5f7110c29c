"""Cached behavioural-cluster fits for the Segments page."""
from __future__ import annotations

import polars as pl
import streamlit as st

from crm_core import clusters as cl


@st.cache_resource(max_entries=8, show_spinner="Finding behavioural clusters…")
def cached_fit(_summary: pl.DataFrame, fingerprint: tuple, settings: cl.ClusterSettings) -> cl.ClusterFit:
    """K-means for every k, cached per dataset, period, reference date and features."""
    return cl.fit_clusters(_summary, settings)


@st.cache_resource(max_entries=16, show_spinner="Describing the clusters…")
def cached_describe(_fit: cl.ClusterFit, fingerprint: tuple, settings: cl.ClusterSettings, k: int | None) -> cl.ClusterResult:
    """Labels, names, profile and map for one k (the fit is identified by the fingerprint and settings)."""
    return cl.describe_clusters(_fit, k, settings)
