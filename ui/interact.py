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

from crm_core.actions import ValueSettings, action_table, clean_playbook, default_playbook
from crm_core.customer360 import known_customer_ids, search_index
from crm_core.enrich import EngineSettings, Profile, build_profile
from crm_core.interactions import prepare, service_groups
from ui.data import _collected_dataset, _customer_summary, _version, current_dataset_id, selected_period
from ui.state import Keys

DEFAULT_HIGH_VALUE_SHARE = ValueSettings().high_value_share


def _dataset_key() -> tuple[str, str, dt.date, dt.date]:
    dataset_id = current_dataset_id()
    start, end = selected_period()
    return dataset_id, _version(dataset_id), start, end


def _shared_clv_fit(dataset_id: str, version: str, end: dt.date):
    """The Lifetime value page's cached default fit, when that page's glue is installed."""
    try:
        from ui.models import _fit
    except ImportError:
        return None
    try:
        return _fit(dataset_id, version, end)
    except ValueError:  # too little data: build_profile reports why
        return None


def segment_settings():
    """The RFM settings chosen on the Segments page (score levels, ties, axis, applied rules), else None.

    Score levels, ties and axis live in the URL (bound widgets), the applied
    rule table in session state; both outlive a page switch.
    """
    try:
        from crm_core.rfm import RfmSettings
    except ImportError:
        return None

    def chosen(key: str, default: str) -> str:
        return str(st.session_state.get(key) or st.query_params.get(key) or default)

    try:
        bins = int(chosen(Keys.SEG_BINS, "5"))
        rules = st.session_state.get(f"{Keys.SEG_RULES}{bins}")
        settings = RfmSettings(bins=bins, ties=chosen(Keys.SEG_TIES, "shared"), segment_on=chosen(Keys.SEG_AXIS, "F"),
                               rules=tuple(rules) if rules else None)
    except ValueError:  # a hand-edited URL: fall back to the defaults
        return None
    return settings if settings != RfmSettings() else None


@st.cache_resource(max_entries=8, show_spinner="Scoring segments, tiers and lifetime value…")
def _profile(dataset_id: str, version: str, start: dt.date, end: dt.date, rfm_settings=None) -> Profile:
    dataset = _collected_dataset(dataset_id, version)
    engines = EngineSettings(rfm=rfm_settings, clv_result=_shared_clv_fit(dataset_id, version, end))
    return build_profile(dataset, end, start, _customer_summary(dataset_id, version, start, end), engines)


def current_profile() -> Profile:
    """Segment / tier / CLV / P(alive) of the customers who bought in the sidebar period."""
    return _profile(*_dataset_key(), segment_settings())


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
    dataset_id: str, version: str, start: dt.date, end: dt.date, playbook_rows: tuple, share: float, rfm_settings=None
) -> pl.DataFrame:
    dataset = _collected_dataset(dataset_id, version)
    summary = _customer_summary(dataset_id, version, start, end)
    contacts = dataset.customers.collect() if dataset.customers is not None else None
    playbook = pl.DataFrame(list(playbook_rows), schema=list(default_playbook().columns), orient="row")
    profile = _profile(dataset_id, version, start, end, rfm_settings).table
    return action_table(summary, profile, playbook, contacts, ValueSettings(high_value_share=share))


def current_actions() -> pl.DataFrame:
    """One row per customer of the period with profile, value band and recommended action."""
    rows = tuple(clean_playbook(current_playbook()).iter_rows())
    return _actions(*_dataset_key(), rows, value_settings().high_value_share, segment_settings())


@st.cache_resource(max_entries=8, show_spinner="Indexing customers for search…")
def _search_index(dataset_id: str, version: str) -> pl.DataFrame:
    dataset = _collected_dataset(dataset_id, version)
    contacts = dataset.customers.collect() if dataset.customers is not None else None
    return search_index(known_customer_ids(dataset.transactions, dataset.customers), contacts)


def current_search_index() -> pl.DataFrame:
    """Every customer of the dataset (any period), with email and name when known."""
    dataset_id = current_dataset_id()
    return _search_index(dataset_id, _version(dataset_id))


@st.cache_resource(max_entries=8, show_spinner="Reading support contacts…")
def _contacts(
    dataset_id: str, version: str, start: dt.date, end: dt.date, share: float, rfm_settings=None
) -> pl.DataFrame | None:
    interactions = _collected_dataset(dataset_id, version).interactions
    if interactions is None:
        return None
    summary = _customer_summary(dataset_id, version, start, end)
    profile = _profile(dataset_id, version, start, end, rfm_settings).table
    groups = service_groups(summary, profile, ValueSettings(high_value_share=share))
    return prepare(interactions, groups, start, end)


def current_contacts() -> pl.DataFrame | None:
    """Support contacts of the sidebar period with the customer's segment / tier / value band (None without data)."""
    return _contacts(*_dataset_key(), value_settings().high_value_share, segment_settings())


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
