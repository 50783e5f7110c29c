"""A clear message instead of a stack trace when a page fails on the server.

With ``client.showErrorDetails = "none"`` (the production config,
``.streamlit/config.prod.toml``) :func:`run_page` catches a page's error,
logs it as a structured line with an incident number (error type and code
locations; no data), and shows the user what to do with that number. In
development (any other setting) the error propagates, so Streamlit shows the
trace and AppTest sees ``at.exception``.
"""
from __future__ import annotations

import uuid

import streamlit as st
from streamlit import config

from crm_core.logging_setup import get_logger

_log = get_logger("app")


def friendly_errors() -> bool:
    """True when error details are hidden from users (production)."""
    return str(config.get_option("client.showErrorDetails")).lower() == "none"


def failure_message(incident: str) -> str:
    return (
        f"Sorry, this page could not be shown (incident {incident}). Try again, or pick another period or "
        "dataset in the sidebar. If it keeps happening, send the incident number to whoever runs this server: "
        "the server log has the details."
    )


def run_page(page) -> None:
    """``page.run()``, turning an unexpected error into a plain message in production."""
    try:
        page.run()
    except Exception:  # st.stop / st.rerun / st.switch_page are BaseExceptions and pass through
        if not friendly_errors():
            raise
        incident = uuid.uuid4().hex[:8]
        _log.error("page_failed", extra={"fields": {"incident": incident, "page": getattr(page, "url_path", "")}},
                   exc_info=True)
        st.error(failure_message(incident), icon=":material/error:")
