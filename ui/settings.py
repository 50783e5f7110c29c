"""The manager's :class:`~crm_core.settings.AnalysisSettings` in the session and the URL.

One object per session (``st.session_state[Keys.SETTINGS]``), mirrored in the
URL parameter ``v`` (compact: only what differs from the defaults). A fresh
session opening a copied link reads ``v``; afterwards the session is the truth
and ``v`` is written back on every run, so settings survive navigation (page
switches may drop query parameters) and a copied link always carries them.

The period comes from the sidebar's own widgets (preset and dates, each bound
to the URL), and is folded in by :func:`current_settings`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import streamlit as st

from crm_core.format import NumberStyle
from crm_core.settings import AnalysisSettings, Period
from ui.state import DEMO_DATASET_ID, Keys


def _stored() -> AnalysisSettings:
    """The session's settings; on a session's first run, those of the link (``v``)."""
    stored = st.session_state.get(Keys.SETTINGS)
    if isinstance(stored, AnalysisSettings):
        return stored
    try:
        stored = AnalysisSettings.from_url(st.query_params.get(Keys.SETTINGS_URL))
    except ValueError as error:
        st.session_state[Keys.SETTINGS_ERROR] = str(error)
        stored = AnalysisSettings()
    st.session_state[Keys.SETTINGS] = stored
    return stored


def current_settings() -> AnalysisSettings:
    """The settings every page, meeting mode, report and export read (period from the sidebar)."""
    settings = _stored()
    period = st.session_state.get(Keys.PERIOD_SETTING)
    return replace(settings, period=period) if isinstance(period, Period) else settings


def set_settings(settings: AnalysisSettings) -> None:
    """Replace the session's settings and write them to the URL."""
    st.session_state[Keys.SETTINGS] = settings
    sync_url()


def update_settings(**changes) -> AnalysisSettings:
    """Change some settings (e.g. ``margin=0.4``); returns the new settings. Raises ValueError."""
    settings = replace(_stored(), **changes)
    if settings != _stored():
        set_settings(settings)
    return settings


def set_period(preset: str, start: dt.date | None, end: dt.date | None) -> None:
    """Called by the sidebar: the period part of the settings."""
    st.session_state[Keys.PERIOD_SETTING] = Period(preset=preset, start=start, end=end)  # type: ignore[arg-type]


def sync_url() -> None:
    """Write ``v`` (or remove it for the defaults) when it differs from the session's settings."""
    text = _stored().to_url()
    if (st.query_params.get(Keys.SETTINGS_URL) or "") != text:
        if text:
            st.query_params[Keys.SETTINGS_URL] = text
        else:
            del st.query_params[Keys.SETTINGS_URL]


def settings_problem() -> str | None:
    """A damaged ``v`` in the link, reported once."""
    return st.session_state.pop(Keys.SETTINGS_ERROR, None)


@st.cache_data(max_entries=64, show_spinner=False)
def _detected_currency(dataset_id: str, owner: str) -> str:
    """The single currency the ingest found in a saved dataset (column, symbols or codes); "" if none or several."""
    from ui.auth import user_workspace

    try:
        report = user_workspace().report(dataset_id)
    except Exception:  # noqa: BLE001 - no saved report: no currency shown rather than a failing page
        return ""
    code = (getattr(report, "detected", None) or {}).get("currency") or ""
    return code if isinstance(code, str) and len(code) == 3 and code.isalpha() else ""


def detected_currency() -> str:
    """Currency detected in the current dataset ("" for the demo or when unknown or mixed)."""
    from ui.auth import current_owner

    dataset_id = st.session_state.get(Keys.PENDING_DATASET) or st.session_state.get(Keys.DATASET_ID) or DEMO_DATASET_ID
    if dataset_id == DEMO_DATASET_ID:
        return ""  # the demo's amounts have no stated currency; the sidebar can set one
    return _detected_currency(dataset_id, current_owner())


def display_currency() -> str:
    """The currency every money figure shows: the manager's choice, else the detected one."""
    return current_settings().currency or detected_currency()


def display_locale() -> str:
    return current_settings().locale


def number_style() -> NumberStyle:
    """The manager's currency and locale, for every figure a takeaway sentence writes."""
    return NumberStyle(display_currency(), display_locale())


#: Widgets showing a part of the settings: cleared when settings are replaced, so they show the new ones.
_SETTINGS_WIDGETS = (Keys.COMPARISON, Keys.CURRENCY, Keys.LOCALE, Keys.PF_VALUE, Keys.PF_METHOD,
                     Keys.LT_HORIZON, Keys.LT_MARGIN, Keys.LT_DISCOUNT, Keys.SEG_BINS, Keys.SEG_TIES, Keys.SEG_AXIS)
_SETTINGS_WIDGET_PREFIXES = (Keys.FILTER, Keys.PF_TIER_NAME, Keys.PF_TIER_SHARE, Keys.PF_TIER_AMOUNT)


def apply_settings(settings: AnalysisSettings) -> None:
    """Replace every setting (a loaded view), period included, and rerun so every widget shows it."""
    set_settings(replace(settings, period=Period()))
    if settings.period.preset != "all" or settings.period.start or settings.period.end:
        st.session_state[Keys.PERIOD_PRESET] = settings.period.preset
        st.session_state.pop(Keys.PERIOD, None)  # the sidebar resolves the preset
        if settings.period.preset == "custom":
            st.session_state[Keys.PENDING_PERIOD] = (settings.period.start, settings.period.end)
    for key in list(st.session_state):
        if key in _SETTINGS_WIDGETS or str(key).startswith(_SETTINGS_WIDGET_PREFIXES):
            del st.session_state[key]
    st.rerun()


def settings_from_query(params: dict) -> AnalysisSettings:
    """The settings a saved link carries (``v`` plus the sidebar's period parameters). Raises ValueError."""
    def first(name: str) -> str | None:
        value = params.get(name)
        return value[0] if isinstance(value, list) and value else value  # type: ignore[return-value]

    settings = AnalysisSettings.from_url(first(Keys.SETTINGS_URL))
    preset = preset_from_label(first(Keys.PERIOD_PRESET))
    dates = params.get(Keys.PERIOD)
    dates = dates if isinstance(dates, list) else ([dates] if dates else [])
    if preset == "custom" and dates:
        start = dt.date.fromisoformat(dates[0])
        end = dt.date.fromisoformat(dates[-1]) if len(dates) > 1 else None
        return replace(settings, period=Period("custom", start, end))
    return replace(settings, period=Period(preset)) if preset != "custom" else settings


def preset_from_label(text: str | None) -> str:
    """A bound selectbox writes its shown label to the URL ('Year to date'); accept ids too."""
    from crm_core.settings import PRESET_LABELS

    if not text:
        return "all"
    for preset, label in PRESET_LABELS.items():
        if text in (preset, label):
            return preset
    raise ValueError(f"unknown period preset {text[:30]!r}")
