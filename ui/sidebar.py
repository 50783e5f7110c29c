"""The sidebar shared by every page: dataset picker and period filter."""
from __future__ import annotations

import streamlit as st

from ui.data import date_bounds
from ui.present import render_present_controls
from ui.state import DEMO_DATASET_ID, Keys


def _dataset_choices() -> dict[str, str]:
    """Dataset id -> label, demo first, then saved uploads (newest first).

    Labels are unique (the URL carries the label): a repeated name gets its save time.
    """
    from ui.auth import user_workspace  # the signed-in user's datasets only

    choices = {DEMO_DATASET_ID: "Demo portfolio"}
    for entry in user_workspace().list_datasets():
        label = entry.name
        if label in choices.values():
            label = f"{entry.name} (saved {entry.created_at[:16].replace('T', ' ')})"
        choices[entry.id] = label
    return choices


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
    st.session_state[Keys.PERIOD_DATASET] = dataset_id


def render_sidebar() -> None:
    """Draw the dataset picker and the shared date-range filter."""
    with st.sidebar:
        choices = _dataset_choices()
        pending = st.session_state.pop(Keys.PENDING_DATASET, None)
        if pending is not None:
            st.session_state[Keys.DATASET_ID] = pending
        if st.session_state.get(Keys.DATASET_ID) not in choices:
            st.session_state[Keys.DATASET_ID] = DEMO_DATASET_ID
        st.selectbox(
            "Dataset",
            options=list(choices),
            format_func=lambda dataset_id: choices.get(dataset_id, dataset_id),
            key=Keys.DATASET_ID,
            bind="query-params",
            help="The demo, or an export you uploaded on the Data page.",
        )
        first, last = date_bounds()
        _reset_period_on_dataset_change(first, last)
        st.date_input(
            "Period",
            value=(first, last),
            min_value=first,
            max_value=last,
            key=Keys.PERIOD,
            bind="query-params",
            help="Every page analyses orders in this period. The link in your browser keeps it.",
        )
        render_present_controls()  # meeting-mode toggle and "Download report"
