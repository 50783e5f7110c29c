"""Small display helpers shared by pages (no computation of their own)."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st


def takeaway(sentence: str) -> None:
    """A one-line plain-language reading of the chart above (user text: never HTML)."""
    st.caption(f":material/lightbulb: {plain(sentence)}")


def chart(fig: go.Figure, key: str) -> None:
    """Draw a Plotly figure full width with the shared config."""
    st.plotly_chart(fig, width="stretch", theme=None, key=key, config={"displaylogo": False})


def explain(text: str) -> None:
    """A short explanation of what this screen shows, at its top."""
    st.markdown(text)


_MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|<>~$"


def plain(text: str) -> str:
    """Escape Markdown so user text (file or column names) shows literally.

    Streamlit never renders raw HTML here, but Markdown links or images in a
    file's text would still render; escaping keeps user text inert.
    """
    return "".join("\\" + char if char in _MARKDOWN_SPECIALS else char for char in str(text))
