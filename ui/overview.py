"""The Overview's figures, computed once for every session, and its inputs from other pages' models.

The cards, the trend and the relationship cards are the same for every session that views the
same dataset, period and settings: 30 sessions opening the Overview of a fresh server at once
computed them 30 times side by side. Here each is computed once per view (``st.cache_resource``
holds one computation per key: the others wait for it), keyed by the :class:`ui.data.DatasetKey`,
the period and the settings they depend on.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import polars as pl
import streamlit as st

from crm_core.format import NumberStyle
from crm_core.kpis import Grain, RelationshipSnapshot, kpi_comparison, kpi_trend, relationship_snapshot
from ui.background import Job
from ui.data import DatasetKey, load_view_dataset
from ui.figures import fingerprint
from ui.models import view_clv_result, view_fit_job


def overview_clv_job() -> Job:
    """The background model fit behind :func:`overview_clv` (shared with the Lifetime page)."""
    return view_fit_job()


def overview_clv() -> pl.DataFrame | None:
    """Predicted CLV per customer with the view's horizon, margin and rate; None when the fit is unreliable.

    Shares the Lifetime page's cached fit, so the model runs once per dataset and period.
    """
    try:
        result = view_clv_result()
    except Exception:  # a model that cannot be fitted must not break the Overview
        return None
    if not result.reliable:
        return None
    return result.customers.select("customer_id", "clv")


@st.cache_resource(max_entries=64, show_spinner=False)
def comparison(key: DatasetKey, start: dt.date, end: dt.date, card_start: dt.date, card_end: dt.date,
               compare: str) -> pl.DataFrame:
    """:func:`crm_core.kpis.kpi_comparison` of the cards' window in the view's dataset of ``start..end``."""
    return kpi_comparison(load_view_dataset(key, start, end).transactions, card_start, card_end, compare)


@st.cache_resource(max_entries=64, show_spinner=False)
def trend(key: DatasetKey, start: dt.date, end: dt.date, grain: Grain) -> pl.DataFrame:
    """:func:`crm_core.kpis.kpi_trend` of ``start..end`` by ``grain`` in the view's dataset."""
    return kpi_trend(load_view_dataset(key, start, end).transactions, start, end, grain)


def snapshot(key: DatasetKey, start: dt.date, end: dt.date, card_start: dt.date, card_end: dt.date,
             clv: pl.DataFrame | None, style: NumberStyle) -> RelationshipSnapshot:
    """:func:`crm_core.kpis.relationship_snapshot` of the cards' window (``clv``: predicted CLV, or None)."""
    clv_key, style_key = fingerprint(clv), fingerprint(style)
    if clv_key is None or style_key is None:  # cannot be named exactly: computed for this run alone
        return relationship_snapshot(load_view_dataset(key, start, end), card_start, card_end, clv=clv, style=style)
    return _snapshot(key, start, end, card_start, card_end, clv_key, style_key, clv, style)


@st.cache_resource(max_entries=64, show_spinner=False)
def _snapshot(key: DatasetKey, start: dt.date, end: dt.date, card_start: dt.date, card_end: dt.date,
              clv_key: Hashable, style_key: Hashable, _clv: pl.DataFrame | None,
              _style: NumberStyle) -> RelationshipSnapshot:
    """``clv_key`` and ``style_key`` name the unhashed ``_clv`` and ``_style`` exactly (:func:`ui.figures.fingerprint`)."""
    return relationship_snapshot(load_view_dataset(key, start, end), card_start, card_end, clv=_clv, style=_style)
