"""The sidebar shared by every page: dataset, period (presets), comparison, filters, currency and format.

Every choice here is part of the view's :class:`~crm_core.settings.AnalysisSettings`
(:mod:`ui.settings`): it is in the URL, in saved views, and read by every page,
meeting mode, the report and the exports. Active filters are also shown as chips
above every page (:func:`render_filter_chips`).
"""
from __future__ import annotations

import datetime as dt
import hashlib

import streamlit as st

from crm_core.settings import (
    COMPARISON_LABELS,
    FILTER_COLUMNS,
    FILTER_LABELS,
    LOCALES,
    PERIOD_PRESETS,
    PRESET_LABELS,
    Period,
)
from ui.data import dataset_key, date_bounds, filter_choices, filter_problem
from ui.dataset_link import dataset_from_link, link_dataset
from ui.present import render_present_controls
from ui.sections import lazy_expander
from ui.settings import (
    current_settings,
    detected_currency,
    preset_from_label,
    set_period,
    settings_problem,
    sync_url,
    update_settings,
)
from ui.state import DEMO_DATASET_ID, Keys

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "INR", "CNY", "BRL")
LOCALE_LABELS = {"en": "1,234.56", "de": "1.234,56", "fr": "1 234,56", "ch": "1'234.56"}
DETECTED = ""


def _dataset_choices() -> tuple[dict[str, str], dict[str, str]]:
    """Dataset id -> label (demo first, then saved uploads, newest first), and id -> name.

    Labels are unique so the user can tell datasets apart: a repeated name gets
    its save time, and the start of its id when that is repeated too. (The URL
    carries the id: see ui.dataset_link.)
    """
    from ui.auth import user_workspace  # the signed-in user's datasets only

    choices, names = {DEMO_DATASET_ID: "Demo portfolio"}, {}
    for entry in user_workspace().list_datasets():
        saved = entry.created_at[:16].replace("T", " ")
        for label in (entry.name, f"{entry.name} (saved {saved})", f"{entry.name} (saved {saved}, {entry.id[:8]})"):
            if label not in choices.values():
                break
        choices[entry.id], names[entry.id] = label, entry.name
    return choices, names


def _reset_period_on_dataset_change(first, last) -> None:
    """A period chosen for another dataset (or outside this one's dates) resets to the whole history.

    The value is assigned rather than deleted: the browser keeps a widget's last
    value for its key, so only an explicit assignment replaces it.
    """
    dataset_id = st.session_state.get(Keys.DATASET_ID)
    previous = st.session_state.get(Keys.PERIOD_DATASET)
    chosen = st.session_state.get(Keys.PERIOD) or ()
    outside = any(day is not None and not first <= day <= last for day in chosen)
    if (previous is not None and previous != dataset_id) or outside:
        st.session_state[Keys.PERIOD] = (first, last)
        st.session_state[Keys.PERIOD_PRESET] = "all"
    st.session_state[Keys.PERIOD_DATASET] = dataset_id


def _apply_preset(first: dt.date, last: dt.date) -> None:
    """A preset was picked: show its dates in the date range."""
    preset = st.session_state.get(Keys.PERIOD_PRESET) or "all"
    if preset != "custom":
        st.session_state[Keys.PERIOD] = Period(preset).resolve(first, last)


def _dates_edited() -> None:
    st.session_state[Keys.PERIOD_PRESET] = "custom"


def _render_period() -> None:
    first, last = date_bounds()
    _reset_period_on_dataset_change(first, last)
    pending = st.session_state.pop(Keys.PENDING_PERIOD, None)
    if pending is not None:  # a loaded view's dates, clamped to the data
        st.session_state[Keys.PERIOD] = Period("custom", *pending).resolve(first, last)
    if Keys.PERIOD_PRESET not in st.session_state:  # a new session: the preset the link names
        try:
            st.session_state[Keys.PERIOD_PRESET] = preset_from_label(st.query_params.get(Keys.PERIOD_PRESET))
        except ValueError:
            st.session_state[Keys.PERIOD_PRESET] = "all"
    # Not bound to the URL (a bound selectbox writes its label there): the id is written back below.
    preset = st.selectbox(
        "Period", PERIOD_PRESETS, format_func=PRESET_LABELS.get, key=Keys.PERIOD_PRESET,
        on_change=_apply_preset, args=(first, last),
        help="Presets count back from the last order in the data (not from today).")
    if preset == "all":
        st.query_params.pop(Keys.PERIOD_PRESET, None)
    elif st.query_params.get(Keys.PERIOD_PRESET) != preset:
        st.query_params[Keys.PERIOD_PRESET] = preset
    if preset != "custom" and Keys.PERIOD not in st.session_state:
        st.session_state[Keys.PERIOD] = Period(preset).resolve(first, last)  # a link with a preset only
    initial = {} if Keys.PERIOD in st.session_state else {"value": (first, last)}  # no default next to state
    st.date_input(
        "Dates", **initial, min_value=first, max_value=last, key=Keys.PERIOD, bind="query-params",
        on_change=_dates_edited, label_visibility="collapsed",
        help="Every page analyses orders in this period. The link in your browser keeps it.",
    )
    chosen = st.session_state.get(Keys.PERIOD) or ()
    start = chosen[0] if len(chosen) > 0 else None
    end = chosen[1] if len(chosen) > 1 else None
    set_period(preset, start, end) if preset == "custom" else set_period(preset, None, None)


def _comparison_changed() -> None:
    update_settings(comparison=st.session_state[Keys.COMPARISON])


def _render_comparison() -> None:
    st.session_state[Keys.COMPARISON] = current_settings().comparison
    st.selectbox("Compare with", list(COMPARISON_LABELS), format_func=COMPARISON_LABELS.get, key=Keys.COMPARISON,
                 on_change=_comparison_changed,
                 help="What the changes on the Overview cards are measured against.")


def _filter_changed(column: str) -> None:
    filters = current_settings().filter_map
    filters[column] = tuple(st.session_state.get(f"{Keys.FILTER}{column}") or ())
    update_settings(filters=filters)


def _filter_options(column: str, choices: dict[str, list[str]]) -> list[str]:
    settings = current_settings()
    if column == "tier":
        return list(settings.tiers.names)
    if column == "segment":
        return settings.rfm_settings().segment_names
    return choices.get(column, [])


def _render_filters() -> None:
    # Drawn once opened: closed, its six multiselects still cost the browser on every run (every page change).
    # A constant label: a new label is a new panel (closed again after each pick); the chips name the filters.
    with lazy_expander("Filters", Keys.FILTERS_OPEN, icon=":material/filter_alt:") as opened:
        if opened:
            _render_filter_widgets(current_settings().filter_map)
    problem = filter_problem(dataset_key())
    if problem:
        st.warning(f"The filters were not applied: {problem}", icon=":material/filter_alt_off:")


def _render_filter_widgets(active: dict[str, tuple[str, ...]]) -> None:
    st.caption("Order filters keep matching order lines; cohort, tier and segment keep matching customers.")
    choices = filter_choices()
    for column in FILTER_COLUMNS:
        options = _filter_options(column, choices)
        chosen = list(active.get(column, ()))
        if not options and not chosen:
            continue
        key = f"{Keys.FILTER}{column}"
        st.session_state[key] = chosen  # the settings are the truth (links, saved views, chips)
        st.multiselect(FILTER_LABELS[column], [*options, *(value for value in chosen if value not in options)],
                       key=key, on_change=_filter_changed, args=(column,), placeholder="All")


def _format_changed() -> None:
    update_settings(currency=st.session_state[Keys.CURRENCY], locale=st.session_state[Keys.LOCALE])


def _render_format() -> None:
    settings = current_settings()
    detected = detected_currency()
    with lazy_expander("Currency and number format", Keys.FORMAT_OPEN, icon=":material/payments:") as opened:
        if not opened:  # drawn once opened, as the filters
            return
        options = [DETECTED, *sorted(set(CURRENCIES) | ({settings.currency} - {""}))]
        st.session_state[Keys.CURRENCY] = settings.currency
        st.session_state[Keys.LOCALE] = settings.locale
        st.selectbox(
            "Currency of the amounts", options, key=Keys.CURRENCY, on_change=_format_changed,
            format_func=lambda code: code or (f"As detected ({detected})" if detected else "Not stated"),
            help="Detected from the file's currency column, symbols or codes; pick one to override. "
                 "Files with several currencies are refused on upload unless one is chosen.")
        st.selectbox("Number format", LOCALES, format_func=LOCALE_LABELS.get, key=Keys.LOCALE,
                     on_change=_format_changed)


def render_sidebar() -> None:
    """Draw the dataset picker, period, comparison, filters, currency and the present controls."""
    with st.sidebar:
        choices, names = _dataset_choices()
        pending = st.session_state.pop(Keys.PENDING_DATASET, None)
        if pending is not None:
            st.session_state[Keys.DATASET_ID] = pending
        elif Keys.DATASET_ID not in st.session_state:  # a new session: open the dataset the link names
            linked, ambiguous = dataset_from_link(choices, names)
            st.session_state[Keys.DATASET_ID] = linked or DEMO_DATASET_ID
            if ambiguous:
                st.warning("This link names a dataset by a name several of your datasets share. Pick it below.")
        if st.session_state.get(Keys.DATASET_ID) not in choices:
            st.session_state[Keys.DATASET_ID] = DEMO_DATASET_ID
        st.selectbox(
            "Dataset",
            options=list(choices),
            format_func=lambda dataset_id: choices.get(dataset_id, dataset_id),
            key=Keys.DATASET_ID,
            help="The demo, or an export you uploaded on the Data page.",
        )
        link_dataset(st.session_state[Keys.DATASET_ID])
        problem = settings_problem()
        if problem:
            st.warning(problem)
        _render_period()
        _render_comparison()
        _render_filters()
        _render_format()
        render_present_controls()  # meeting-mode toggle and "Download report"
    sync_url()  # page switches may drop query parameters: the settings go back into the link


def _chip_removed(chips: dict[str, tuple[str, str]], key: str) -> None:
    kept = set(st.session_state.get(key) or ())
    filters = current_settings().filter_map
    for label, (column, value) in chips.items():
        if label not in kept:
            filters[column] = tuple(v for v in filters.get(column, ()) if v != value)
    update_settings(filters=filters)


def render_filter_chips() -> None:
    """The active filters as chips above the page; clicking one removes it.

    The chips have their slot above the page whether a filter is on or not (empty without one): the page's
    elements keep their places, so a filter change updates them. Without the slot every element below moved
    down by one when the first filter came on (and up when the last went), and the browser took each for a
    new one and drew the page anew: every chart, card and table remounted (29 of the Overview's 36).
    """
    slot = st.empty()
    filters = current_settings().filter_map
    if not filters:
        return
    chips = {f"{FILTER_LABELS[column]}: {value}": (column, value) for column, values in filters.items() for value in values}
    key = Keys.FILTER_CHIPS + hashlib.sha1("|".join(chips).encode()).hexdigest()[:10]
    slot.pills("Filtered to", list(chips), selection_mode="multi", default=list(chips), key=key,
             on_change=_chip_removed, args=(chips, key),
             help="Every page, meeting mode, the report and the exports use only these orders and customers. "
                  "Click a chip to remove that filter.")

