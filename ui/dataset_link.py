"""The dataset in the page URL (``?ds=``): its id, never its label.

Two datasets may share a name (and even the minute they were saved), so a
label cannot name one for sure; the id can. The sidebar picker is therefore
not bound to the URL (a bound selectbox writes its label there): it reads the
link once per session with :func:`dataset_from_link` and writes the id back
with :func:`link_dataset`. Links from before carried the label; they still
open their dataset when exactly one dataset matches it.
"""
from __future__ import annotations

import streamlit as st

from ui.state import DEMO_DATASET_ID, Keys


def dataset_from_link(choices: dict[str, str], names: dict[str, str]) -> tuple[str | None, bool]:
    """The dataset id the URL names, and whether it named one that cannot be told apart from others.

    ``choices`` maps ids to the picker's labels, ``names`` ids to dataset
    names. Returns ``(None, False)`` when the URL names no dataset of this user.
    """
    value = st.query_params.get(Keys.DATASET_ID)
    if not value:
        return None, False
    if value in choices:
        return value, False
    # An old link carrying a label (or a name): only a single match is certain.
    matches = {dataset_id for dataset_id, label in choices.items() if label == value}
    matches |= {dataset_id for dataset_id, name in names.items() if name == value}
    if len(matches) == 1:
        return matches.pop(), False
    return None, len(matches) > 1


def link_dataset(dataset_id: str) -> None:
    """Put ``dataset_id`` in the URL (the demo, the default, leaves it out) so a copied link reopens it."""
    if dataset_id == DEMO_DATASET_ID:
        if Keys.DATASET_ID in st.query_params:
            del st.query_params[Keys.DATASET_ID]
    elif st.query_params.get(Keys.DATASET_ID) != dataset_id:
        st.query_params[Keys.DATASET_ID] = dataset_id
