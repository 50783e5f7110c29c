"""Lazy tabs and expanders: a page split into sections of which only the open one runs, is sent and is drawn.

A page with a dozen Plotly charts spends most of a visit in the browser drawing
them. :func:`lazy_tabs` shows the page's sections as tabs and runs only the open
tab's code (Streamlit's ``st.tabs`` with state tracking: a click on another tab
reruns the page with that tab open). The open tab is bound to the URL under the
tabs' key, so a copied link opens the same section; the first tab is the default
and leaves the URL clean.

Widgets inside a tab are not drawn while another tab is open, and Streamlit forgets
a widget's value once it is not drawn. Widgets whose choice should survive a tab
switch pass :data:`KEEP` (``persist_state``) or are bound to the URL.

:func:`lazy_expander` does the same for an expander: its content runs only while it
is open (a click on its label reruns the page), so a closed panel of questions or
editors costs the browser one line, not its dozens of widgets.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import streamlit as st

__all__ = ["KEEP", "lazy_expander", "lazy_tabs"]

#: ``persist_state`` for widgets inside a lazy tab: keep the choice while the manager stays on the page.
KEEP = "page"


def lazy_tabs(key: str, sections: Mapping[str, Callable[[], None]]) -> str:
    """Tabs labelled by ``sections``' keys; runs the open tab's function inside it and returns its label.

    ``key`` names the tabs in session state and in the URL (``?key=label``).
    """
    tabs = st.tabs(list(sections), key=key, bind="query-params")
    for (label, draw), tab in zip(sections.items(), tabs):
        if tab.open:
            with tab:
                draw()
            return label
    raise AssertionError("st.tabs with state tracking has one open tab")  # pragma: no cover


@contextlib.contextmanager
def lazy_expander(label: str, key: str, expanded: bool = False, icon: str | None = None) -> Iterator[bool]:
    """An expander whose content runs only while it is open: ``with lazy_expander(...) as opened: if opened: ...``.

    ``key`` names its open state in session state (set it to True to open it from code, as a click does);
    ``expanded`` is its state on the page's first run.
    """
    panel = st.expander(label, expanded=expanded, key=key, icon=icon, on_change="rerun")
    with panel:
        yield bool(panel.open)
