"""Meeting mode: the deck, one slide per screen, large enough for a projector.

Every slide is computed and drawn once when the deck is opened (ui.deck caches
them) and put on the page, hidden; Next and Previous rerun only the controls,
whose constant CSS shows the current slide. A step sends no chart to the browser.
"""
from __future__ import annotations

import streamlit as st

from ui.background import progress_note, ready
from ui.deck import ReadySlide, current_deck, prepared_slides
from ui.present import current_findings_job, MEETING_CSS, MEETING_DARK_CSS, SLIDE_KEY_PREFIX, SLIDES_KEY, shown_slide_css
from ui.state import Keys
from ui.widgets import chart, explain, plain

THEMES = ("Light", "Dark")  # shown as is: bound widgets put the shown label in the URL


def _set_meeting(on: bool) -> None:
    st.session_state[Keys.MEETING_MODE] = on


def _move(delta: int, count: int) -> None:
    st.session_state[Keys.MEETING_STEP] = min(max(_step(count) + delta, 1), count)


def _step(count: int) -> int:
    """The slide shown (1-based): session first, else the link's ?step=, clamped."""
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


deck = current_deck()
meeting = bool(st.session_state.get(Keys.MEETING_MODE))
dark = (st.session_state.get(Keys.THEME) or st.query_params.get(Keys.THEME)) == "Dark"

if not meeting:
    st.title("Meeting mode")
    explain(
        "Present the deck: one slide per screen, each with a one-sentence headline computed from your data for the "
        "period chosen in the sidebar. Meeting mode hides the sidebar and enlarges text and charts. Move with "
        "**Next** / **Previous** (or the → and ← keys); **Esc** exits. Choose, order and annotate the slides on "
        "the **Deck** page; add any chart of any page with its **Add to deck** button."
    )
    _theme()
    st.button("Start meeting mode", type="primary", icon=":material/co_present:", on_click=_set_meeting, args=(True,))
    findings = current_findings_job()  # computed once in the background for every session
    if not ready(findings):
        progress_note("Computing the key findings of the slides… The list appears here by itself.", findings)
        st.stop()
    slides = prepared_slides(deck, dark)
    if not slides:
        st.warning("There is nothing to show for the selected period. Widen the period in the sidebar.")
    else:
        st.subheader(f"{len(slides)} slide" if len(slides) == 1 else f"{len(slides)} slides")
        for number, ready in enumerate(slides, start=1):
            st.markdown(f"**{number}. {plain(ready.slide.title)}**")
        st.page_link("app_pages/deck.py", label="Edit the deck", icon=":material/view_carousel:")
    st.stop()

# --- Meeting mode ---------------------------------------------------------------
st.html(MEETING_DARK_CSS if dark else MEETING_CSS)  # constant CSS: hides the sidebar, enlarges type, AA colours
slides = prepared_slides(deck, dark)

if not slides:
    st.title("No slides to show")
    st.warning("There is nothing to show for the selected period. Exit meeting mode and widen the period in the sidebar.")
    st.button("Exit meeting mode", on_click=_set_meeting, args=(False,), shortcut="Esc")
    st.stop()


@st.fragment
def _controls(labels: list[str], dark: bool) -> None:
    """Progress, buttons and which slide shows. Next / Previous rerun only this fragment:
    every slide is already on the page (drawn once below), so a step only swaps the one shown."""
    count = len(labels)
    step = _step(count)
    st.session_state[Keys.MEETING_STEP] = step
    st.query_params[Keys.MEETING_STEP] = str(step)  # a copied link reopens this slide
    st.html(shown_slide_css(step))
    st.progress(step / count, text=f"Slide {step} of {count} · {plain(labels[step - 1])}")
    # one horizontal container, not four columns: fewer elements for each step to send
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.button("Previous", icon=":material/arrow_back:", disabled=step <= 1, on_click=_move, args=(-1, count),
                  shortcut="Left", width="stretch")
        st.button("Next", icon=":material/arrow_forward:", type="primary", disabled=step >= count, on_click=_move,
                  args=(1, count), shortcut="Right", width="stretch")
        chosen = _theme("collapsed")
        st.button("Exit", icon=":material/close:", on_click=_set_meeting, args=(False,), shortcut="Esc",
                  width="stretch")
    if (chosen == "Dark") != dark or not st.session_state.get(Keys.MEETING_MODE):
        st.rerun()  # the theme's page colours and leaving meeting mode concern the whole app


def _slide(ready: ReadySlide, number: int) -> None:
    """One slide: headline, chart and detail (hidden by CSS unless it is the current one)."""
    slide = ready.slide
    st.header(plain(slide.title), anchor=False)
    if ready.figure is not None:  # the cached figure, drawn as it is
        chart(ready.figure, key=f"meeting_chart_{number}", deck=False, toolbar=False)
    if ready.detail:
        st.caption(plain(ready.detail))
    if slide.table is not None and slide.table.height:
        with st.expander("The numbers behind this slide"):
            st.dataframe(slide.table, hide_index=True, width="stretch")


_controls([ready.slide.label or ready.slide.title for ready in slides], dark)
with st.container(key=SLIDES_KEY):
    for number, ready in enumerate(slides, start=1):
        with st.container(key=f"{SLIDE_KEY_PREFIX}{number}"):
            _slide(ready, number)
