"""The sidebar shared by every page: dataset picker and period filter."""
from __future__ import annotations

import streamlit as st

from ui.data import date_bounds
from ui.dataset_link import dataset_from_link, link_dataset
from ui.present import render_present_controls
from ui.state import DEMO_DATASET_ID, Keys


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
    st.session_state[Keys.PERIOD_DATASET] = dataset_id


def render_sidebar() -> None:
    """Draw the dataset picker and the shared date-range filter."""
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
