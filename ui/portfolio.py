"""Portfolio page results, cached for every session by dataset version, period and the view's settings.

Each function names what its result depends on (:class:`ui.data.DatasetKey`,
the period, tier and cost settings) and reads its frames through the public
loaders, so the second session on a dataset gets the first one's results.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core import portfolio as pf
from ui.data import DatasetKey, load_period_transactions, load_summary, load_view_dataset


@st.cache_resource(max_entries=16, show_spinner=False)
def concentration(key: DatasetKey, start: dt.date, end: dt.date) -> tuple[pf.Concentration, pl.DataFrame, pl.DataFrame]:
    """Concentration figures, the Pareto curve and the Lorenz curve of the period's customers."""
    summary = load_summary(key, start, end)
    return pf.concentration(summary), pf.pareto_curve(summary), pf.lorenz_curve(summary)


@st.cache_resource(max_entries=16, show_spinner=False)
def tiers(key: DatasetKey, start: dt.date, end: dt.date, settings: pf.TierSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each customer's tier, and the tier summary (the pyramid)."""
    tiered = pf.assign_tiers(load_summary(key, start, end), settings)
    return tiered, pf.tier_summary(tiered, settings)


@st.cache_resource(max_entries=16, show_spinner=False)
def tier_trend(key: DatasetKey, start: dt.date, end: dt.date, settings: pf.TierSettings, grain: str) -> pl.DataFrame:
    """Revenue by tier per ``grain``, tiers assigned over the whole period."""
    tiered, _ = tiers(key, start, end, settings)
    return pf.tier_trend(load_period_transactions(key, start, end), tiered, settings, grain)


@st.cache_resource(max_entries=16, show_spinner=False)
def tier_migration(key: DatasetKey, start: dt.date, end: dt.date, earlier: tuple[dt.date, dt.date],
                   later: tuple[dt.date, dt.date], settings: pf.TierSettings) -> pl.DataFrame:
    """Customers moving between tiers from the earlier half of the period to the later one."""
    return pf.tier_migration(load_period_transactions(key, start, end), earlier, later, settings)


@st.cache_resource(max_entries=16, show_spinner=False)
def significance(key: DatasetKey, start: dt.date, end: dt.date, settings: pf.TierSettings,
                 serve: pf.ServeCostSettings, value: str, split: str) -> tuple[pl.DataFrame, pf.Significance]:
    """Every customer with tier, cost to serve and quadrant, and the matrix (:func:`crm_core.portfolio.portfolio_table`)."""
    interactions = load_view_dataset(key, start, end).interactions
    return pf.portfolio_table(load_summary(key, start, end), settings, interactions, (start, end), serve, value, split)
