"""Cached glue of the Interact & customize pages: profiles, playbook, action table, search index.

Everything is cached per dataset version and sidebar period with
``st.cache_resource`` (shared, immutable Polars frames); the playbook lives in
session state because each user edits their own.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import streamlit as st

from crm_core.actions import ValueSettings, action_table, clean_playbook, default_playbook, known_contacts
from crm_core.customer360 import known_customer_ids, search_index
from crm_core.enrich import EngineSettings, Profile, build_profile
from crm_core.interactions import prepare, service_groups
from crm_core.settings import AnalysisSettings
from ui.data import DatasetKey, current_dataset_id, dataset_key, load_full_dataset, load_summary, load_view_dataset, selected_period
from ui.models import clv_fit
from ui.settings import current_settings
from ui.state import Keys

DEFAULT_HIGH_VALUE_SHARE = ValueSettings().high_value_share


def _dataset_key() -> tuple[DatasetKey, dt.date, dt.date]:
    return dataset_key(), *selected_period()


def _shared_clv_fit(key: DatasetKey, start: dt.date, end: dt.date):
    """The Lifetime value page's cached default fit (None with too little data: build_profile says why)."""
    try:
        return clv_fit(key, start, end)
    except ValueError:
        return None


def engine_rules() -> str:
    """The view's tier and RFM rules in URL form: part of every cache key below."""
    settings = current_settings()
    return AnalysisSettings(tiers=settings.tiers, rfm=settings.rfm).to_url()


def _engines(key: DatasetKey, start: dt.date, end: dt.date, rules: str) -> EngineSettings:
    settings = AnalysisSettings.from_url(rules)
    return EngineSettings(rfm=settings.rfm_settings(), tiers=settings.tier_settings(),
                          clv_result=_shared_clv_fit(key, start, end))


@st.cache_resource(max_entries=8, show_spinner="Scoring segments, tiers and lifetime value…")
def _profile(key: DatasetKey, start: dt.date, end: dt.date, rules: str = "") -> Profile:
    dataset = load_view_dataset(key, start, end)
    return build_profile(dataset, end, start, load_summary(key, start, end), _engines(key, start, end, rules))


def current_profile() -> Profile:
    """Segment / tier / CLV / P(alive) of the customers who bought in the sidebar period."""
    return _profile(*_dataset_key(), engine_rules())


def current_playbook() -> pl.DataFrame:
    """The playbook as last edited on the Actions page (the default until then)."""
    playbook = st.session_state.get(Keys.PLAYBOOK)
    return playbook if isinstance(playbook, pl.DataFrame) else default_playbook()


def value_settings() -> ValueSettings:
    """The "High value" share chosen on the Actions page."""
    share = st.session_state.get(Keys.HIGH_VALUE_SHARE) or DEFAULT_HIGH_VALUE_SHARE * 100
    return ValueSettings(high_value_share=float(share) / 100)


@st.cache_resource(max_entries=16, show_spinner="Matching customers to the playbook…")
def _actions(
    key: DatasetKey, start: dt.date, end: dt.date, playbook_rows: tuple, share: float, rules: str = ""
) -> pl.DataFrame:
    dataset = load_view_dataset(key, start, end)
    summary = load_summary(key, start, end)
    contacts = known_contacts(dataset.transactions, dataset.customers)  # customers table, else the orders' own
    playbook = pl.DataFrame(list(playbook_rows), schema=list(default_playbook().columns), orient="row")
    profile = _profile(key, start, end, rules).table
    return action_table(summary, profile, playbook, contacts, ValueSettings(high_value_share=share))


def current_actions() -> pl.DataFrame:
    """One row per customer of the period with profile, value band and recommended action."""
    rows = tuple(clean_playbook(current_playbook()).iter_rows())
    return _actions(*_dataset_key(), rows, value_settings().high_value_share, engine_rules())


@st.cache_resource(max_entries=8, show_spinner="Indexing customers for search…")
def _search_index(dataset_id: str, version: str) -> pl.DataFrame:
    dataset = load_full_dataset(dataset_id, version)
    contacts = dataset.customers.collect() if dataset.customers is not None else None
    return search_index(known_customer_ids(dataset.transactions, dataset.customers), contacts)


def current_search_index() -> pl.DataFrame:
    """Every customer of the dataset (any period, any filter), with email and name when known."""
    key = dataset_key()
    return _search_index(key.dataset_id, key.version)


@st.cache_resource(max_entries=8, show_spinner="Reading support contacts…")
def _contacts(
    key: DatasetKey, start: dt.date, end: dt.date, share: float, rules: str = ""
) -> pl.DataFrame | None:
    interactions = load_view_dataset(key, start, end).interactions
    if interactions is None:
        return None
    summary = load_summary(key, start, end)
    profile = _profile(key, start, end, rules).table
    groups = service_groups(summary, profile, ValueSettings(high_value_share=share))
    return prepare(interactions, groups, start, end)


def current_contacts() -> pl.DataFrame | None:
    """Support contacts of the sidebar period with the customer's segment / tier / value band (None without data)."""
    return _contacts(*_dataset_key(), value_settings().high_value_share, engine_rules())


def logged_export(make_bytes: Callable[[], bytes], file_format: str, customers: int) -> Callable[[], bytes]:
    """A download callback that notes the export (the scorecard's Customize evidence) when it runs.

    The notes store and dataset id are resolved now: the callback runs outside the page script.
    """
    from ui.auth import user_notes

    activity_log, dataset_id = user_notes(), current_dataset_id()

    def produce() -> bytes:
        data = make_bytes()
        activity_log.record_activity("export", dataset_id, f"{file_format}: {customers} customers")
        return data

    return produce
