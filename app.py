"""Router: page config, navigation and the sidebar shared by every page."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

import crm_core.charts  # noqa: F401  (registers the shared Plotly template)
from crm_core.logging_setup import configure_logging, is_configured
from ui.auth import require_sign_in
from ui.background import page_run, start_for_view
from ui.errors import run_page
from ui.sidebar import render_filter_chips, render_sidebar
from ui.state import Keys
from ui.streamlit_fixes import install as install_streamlit_fixes

# A local file: a ":material/...:" page icon makes every browser fetch it from fonts.gstatic.com.
PAGE_ICON = Path(__file__).resolve().parent / "assets" / "page_icon.png"
st.set_page_config(page_title="Customer portfolio", page_icon=str(PAGE_ICON), layout="wide")
install_streamlit_fixes()  # a stale timed rerun of the previous page's fragment no longer blanks a switched page
if not is_configured():
    configure_logging()  # JSON lines on stderr (CRM_LOG_LEVEL, CRM_LOG_FORMAT)
require_sign_in()  # no-op without an [auth] section in secrets; else sign-in screen until signed in

PAGES = {
    "Your data": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:"),
    ],
    "Differentiate": [
        st.Page("app_pages/portfolio.py", title="Portfolio", icon=":material/account_tree:"),
        st.Page("app_pages/segments.py", title="Segments", icon=":material/donut_small:"),
        st.Page("app_pages/drivers.py", title="What brings the best customers", icon=":material/trending_up:"),
    ],
    "Predict": [
        st.Page("app_pages/lifetime.py", title="Lifetime value & retention", icon=":material/timeline:"),
    ],
    "Interact & customize": [
        st.Page("app_pages/customer360.py", title="Customer 360", icon=":material/person_search:"),
        st.Page("app_pages/interactions.py", title="Interactions", icon=":material/support_agent:"),
        st.Page("app_pages/actions.py", title="Actions", icon=":material/campaign:"),
    ],
    "Present": [
        st.Page("app_pages/meeting.py", title="Meeting mode", icon=":material/co_present:"),
        st.Page("app_pages/deck.py", title="Deck", icon=":material/view_carousel:"),
        st.Page("app_pages/scorecard.py", title="CRM scorecard", icon=":material/fact_check:"),
        st.Page("app_pages/views.py", title="Saved views & notes", icon=":material/bookmarks:"),
    ],
}

page = st.navigation(PAGES, expanded=True)  # every screen listed: a hidden "View more" hid Deck and Scorecard
st.session_state[Keys.PAGE_TITLE] = page.title  # "Add to deck" names the page a chart came from
render_sidebar()
render_filter_chips()  # the view's filters, named above every page
start_for_view()  # model fit and clusters of this dataset and period: once, in the background, for every session
with page_run():  # background jobs start once no page is running
    run_page(page)  # production (showErrorDetails = "none"): a plain message with an incident number
