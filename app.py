"""Router: page config, navigation and the sidebar shared by every page."""
from __future__ import annotations

import streamlit as st

import crm_core.charts  # noqa: F401  (registers the shared Plotly template)
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Customer portfolio", page_icon="📊", layout="wide")

PAGES = {
    "Your data": [
        st.Page("pages/overview.py", title="Overview", icon="📈", default=True),
        st.Page("pages/data.py", title="Data", icon="📂"),
    ],
    "Differentiate": [
        st.Page("pages/portfolio.py", title="Portfolio", icon="🏛️"),
        st.Page("pages/segments.py", title="Segments", icon="🧩"),
    ],
    "Predict": [
        st.Page("pages/lifetime.py", title="Lifetime value & retention", icon="🔮"),
    ],
    "Interact & customize": [
        st.Page("pages/customer360.py", title="Customer 360", icon="👤"),
        st.Page("pages/interactions.py", title="Interactions", icon="💬"),
        st.Page("pages/actions.py", title="Actions", icon="🎯"),
    ],
    "Present": [
        st.Page("pages/meeting.py", title="Meeting mode", icon="🖥️"),
        st.Page("pages/scorecard.py", title="CRM scorecard", icon="🧭"),
    ],
}

page = st.navigation(PAGES)
render_sidebar()
page.run()
