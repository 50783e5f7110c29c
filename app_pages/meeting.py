"""Meeting mode: the key findings, one per screen, large enough for a projector."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from crm_core.charts.present import enlarged, themed
from ui.present import MEETING_CSS, MEETING_DARK_CSS, current_findings
from ui.state import Keys
from ui.widgets import chart, explain, plain

THEMES = ("Light", "Dark")  # shown as is: bound widgets put the shown label in the URL


def _set_meeting(on: bool) -> None:
    st.session_state[Keys.MEETING_MODE] = on


def _move(delta: int, count: int) -> None:
    st.session_state[Keys.MEETING_STEP] = min(max(_step(count) + delta, 1), count)


def _step(count: int) -> int:
    """The finding shown (1-based): session first, else the link's ?step=, clamped."""
    raw = st.session_state.get(Keys.MEETING_STEP) or st.query_params.get(Keys.MEETING_STEP) or 1
    try:
        step = int(raw)
    except (TypeError, ValueError):
        step = 1
    return min(max(step, 1), max(count, 1))


def _theme(label_visibility: str = "visible") -> str:
    browser = (getattr(st.context.theme, "type", None) or "light").capitalize()
    return st.segmented_control(
        "Chart theme", THEMES, default=browser if browser in THEMES else THEMES[0],
        required=True, key=Keys.THEME, bind="query-params", help="Dark suits dim meeting rooms.",
        label_visibility=label_visibility,
    )


findings = current_findings()
meeting = bool(st.session_state.get(Keys.MEETING_MODE))

if not meeting:
    st.title("Meeting mode")
    explain(
        "Present the key findings of the period chosen in the sidebar: one finding per screen, each with a "
        "one-sentence headline computed from your data. Meeting mode hides the sidebar and enlarges text and charts. "
        "Move with **Next** / **Previous** (or the → and ← keys); **Esc** exits."
    )
    _theme()
    st.button("Start meeting mode", type="primary", icon=":material/co_present:", on_click=_set_meeting, args=(True,))
    if not findings:
        st.warning("There are no orders in the selected period. Widen the period in the sidebar.")
    else:
        st.subheader(f"{len(findings)} key findings")
        for number, finding in enumerate(findings, start=1):
            st.markdown(f"**{number}. {plain(finding.title)}** – {plain(finding.headline)}")
        st.caption("Download the same findings as a report with the button in the sidebar.")
    st.stop()

# --- Meeting mode ---------------------------------------------------------------
dark = (st.session_state.get(Keys.THEME) or st.query_params.get(Keys.THEME)) == "Dark"
st.html(MEETING_DARK_CSS if dark else MEETING_CSS)  # constant CSS: hides the sidebar, enlarges type

if not findings:
    st.title("No findings to show")
    st.warning("There are no orders in the selected period. Exit meeting mode and widen the period in the sidebar.")
    st.button("Exit meeting mode", on_click=_set_meeting, args=(False,), shortcut="Esc")
    st.stop()

count = len(findings)
step = _step(count)
st.session_state[Keys.MEETING_STEP] = step
st.query_params[Keys.MEETING_STEP] = str(step)  # a copied link reopens this finding
finding = findings[step - 1]

st.progress(step / count, text=f"Finding {step} of {count} · {plain(finding.title)}")
previous, following, theme_column, leave = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
previous.button("Previous", icon=":material/arrow_back:", disabled=step <= 1, on_click=_move, args=(-1, count),
                shortcut="Left", width="stretch")
following.button("Next", icon=":material/arrow_forward:", type="primary", disabled=step >= count, on_click=_move,
                 args=(1, count), shortcut="Right", width="stretch")
with theme_column:
    _theme("collapsed")
leave.button("Exit", icon=":material/close:", on_click=_set_meeting, args=(False,), shortcut="Esc",
             width="stretch")
st.header(plain(finding.headline), anchor=False)
if finding.figure is not None:
    figure = enlarged(themed(go.Figure(finding.figure), dark))  # a copy: the cached figure stays as it is
    chart(figure, key=f"meeting_chart_{finding.key}")
if finding.detail:
    st.caption(plain(finding.detail))

if finding.table is not None and finding.table.height:
    with st.expander("The numbers behind this finding"):
        st.dataframe(finding.table, hide_index=True, width="stretch")
