"""Deck: the slides of meeting mode and of the PowerPoint download, in order, with titles and notes."""
from __future__ import annotations

import hashlib

import streamlit as st

from crm_core import format as fmt
from crm_core.deck import Deck, DeckError, default_deck
from crm_core.findings import REGISTRY
from crm_core.notes import NotesError
from ui.data import current_dataset_id
from ui.deck import (
    add_finding,
    current_deck,
    deck_pptx_download,
    deck_store,
    pptx_file_name,
    set_deck,
)
from ui.background import progress_note, ready
from ui.present import current_findings, current_findings_job
from ui.sections import lazy_expander
from ui.state import Keys
from ui.widgets import explain, plain

st.title("Deck")
explain(
    "The slides of **meeting mode** and of the **PowerPoint** download, in this order. Add any chart with the "
    "**Add to deck** button under it on every page (it keeps the chart as it is, with the period and choices of "
    "that moment), or add a key finding below. Move slides up and down, give them your own title, a note shown "
    "under the chart and speaker notes for the presenter. **Save** the deck to open it again from its link."
)

deck = current_deck()
findings = current_findings_job()  # computed once in the background for every session
if ready(findings):
    headlines = {finding.key: finding for finding in current_findings()}
else:  # the slides are listed with their titles meanwhile
    headlines = {}
    progress_note("Computing the key findings: their headlines appear here by themselves.", findings)


def _move(index: int, delta: int) -> None:
    set_deck(current_deck().moved(index, delta))
    st.session_state[Keys.DECK_SELECTED] = min(max(index + delta, 0), len(current_deck()) - 1)  # the slide moved


def _pick(key: str) -> None:
    st.session_state[Keys.DECK_SELECTED] = st.session_state[key]


def _remove(index: int) -> None:
    set_deck(current_deck().removed(index))
    st.session_state[Keys.DECK_SELECTED] = max(min(index, len(current_deck()) - 1), 0)


def _edit(index: int) -> None:
    try:
        set_deck(current_deck().edited(
            index, title=st.session_state.get(f"{Keys.DECK_TITLE}{index}", ""),
            note=st.session_state.get(f"{Keys.DECK_NOTE}{index}", ""),
            speaker_notes=st.session_state.get(f"{Keys.DECK_SPEAKER}{index}", "")))
        st.toast("Slide updated.", icon=":material/check:")
    except DeckError as error:
        st.toast(str(error), icon=":material/error:")


def _reset() -> None:
    set_deck(default_deck())
    st.session_state[Keys.DECK_SELECTED] = 0
    for key in [k for k in st.session_state if str(k).startswith((Keys.DECK_TITLE, Keys.DECK_NOTE, Keys.DECK_SPEAKER))]:
        del st.session_state[key]


def _play() -> None:
    # The sidebar opens the meeting page on the next run (ui.present.render_present_controls).
    st.session_state.update({Keys.MEETING_MODE: True, Keys.MEETING_STEP: 1, Keys.MEETING_SWITCH: True})


def _clear() -> None:
    set_deck(Deck())
    st.session_state[Keys.DECK_SELECTED] = 0


def _period(settings: dict) -> str:
    """'01 Oct 2023 – 30 Sep 2026' from a slide's ISO start and end (as stored when the chart was added)."""
    import datetime as dt

    try:
        start, end = dt.date.fromisoformat(settings["start"]), dt.date.fromisoformat(settings["end"])
    except (KeyError, TypeError, ValueError):
        return "the period of that moment"
    return f"{fmt.date(start)} – {fmt.date(end)}"


def _shown_title(entry) -> tuple[str, str]:
    """(title shown on the slide, where it comes from)."""
    if entry.is_page_chart:
        settings = entry.settings_dict
        source = f"Chart from {settings.get('page_title') or entry.page or 'a page'}, {_period(settings)}"
        return entry.title or str(settings.get("chart_title") or "Chart"), source
    finding = headlines.get(entry.figure_id)
    name = finding.title if finding else finding_name(entry.figure_id)  # never the raw id ("discount_depth")
    source = f"Key finding: {name}"
    if finding is None and findings.done():
        source += " (not available for this data and period: left out when played)"
    elif finding is None:
        source += " (its headline is being computed)"
    return entry.title or (finding.headline if finding else name), source


def finding_name(key: str) -> str:
    """A key finding's name before (or without) its headline: "discount_depth" -> "Discount depth"."""
    return key.replace("_", " ").capitalize()


def _editor(index: int, entry) -> None:
    """A form for the slide's own title, note and speaker notes (saved on its button)."""
    with st.form(f"deck_edit_{index}", border=False):
        st.text_input("Title (empty: the headline computed from the data)", value=entry.title,
                      key=f"{Keys.DECK_TITLE}{index}", max_chars=200)
        st.text_input("Note shown under the chart", value=entry.note, key=f"{Keys.DECK_NOTE}{index}",
                      max_chars=2000)
        st.text_area("Speaker notes (PowerPoint notes page; definitions are added for you)",
                     value=entry.speaker_notes, key=f"{Keys.DECK_SPEAKER}{index}", max_chars=5000)
        st.form_submit_button("Save this slide", on_click=_edit, args=(index,))


left, middle, right, far = st.columns(4)
left.button("Play in meeting mode", type="primary", icon=":material/co_present:", on_click=_play)
middle.download_button(
    "Download PowerPoint", data=deck_pptx_download(current_deck()), file_name=pptx_file_name(),
    mime="application/vnd.openxmlformats-officedocument.presentationml.presentation", icon=":material/slideshow:",
    help="One slide per entry with an editable PowerPoint chart, the takeaway and speaker notes "
         "(definition, period, filters, settings); opens in PowerPoint, LibreOffice Impress and Keynote.")
right.button("Reset to the default deck", icon=":material/restart_alt:", on_click=_reset,
             help="One slide per key finding, from KPIs to service and cost; your slides are dropped.")
far.button("Start an empty deck", icon=":material/clear_all:", on_click=_clear,
           help="Remove every slide, then add charts with their Add to deck buttons.")

st.subheader(f"{len(deck)} slide" if len(deck) == 1 else f"{len(deck)} slides")
if not len(deck):
    st.info("The deck is empty. Add charts with **Add to deck** on any page, or a key finding below.")
else:
    # One Markdown element lists every slide and one row of widgets acts on the slide picked: a row of
    # buttons and an editor panel per slide (75 elements, 45 buttons on the default deck) cost the
    # browser ~0.9 s on every visit.
    shown = [_shown_title(entry) for entry in deck.entries]
    index = st.session_state.get(Keys.DECK_SELECTED, 0)
    index = min(max(index, 0), len(deck) - 1) if isinstance(index, int) else 0
    labels = [f"{number}. {title}" for number, (title, _) in enumerate(shown, start=1)]
    # Keyed by its labels: the browser keeps a select box's choice by label, so a retitled or moved slide (or
    # the headlines arriving) would leave it empty. New labels draw a new box showing the slide picked.
    pick, up, down, remove = st.columns([6, 1.1, 1.4, 1.6], vertical_alignment="bottom")
    key = "deck_slide_" + hashlib.sha1("\n".join(labels).encode()).hexdigest()[:10]
    index = pick.selectbox("Slide", range(len(deck)), index=index, format_func=labels.__getitem__, key=key,
                           on_change=_pick, args=(key,),
                           help="The slide the buttons beside and the panel below act on (in blue in the list).")
    up.button("Up", key="deck_up", icon=":material/arrow_upward:", disabled=index == 0, width="stretch",
              on_click=_move, args=(index, -1), help="Move this slide one place earlier.")
    down.button("Down", key="deck_down", icon=":material/arrow_downward:", disabled=index == len(deck) - 1,
                width="stretch", on_click=_move, args=(index, 1), help="Move this slide one place later.")
    remove.button("Remove", key="deck_remove", icon=":material/delete:", width="stretch", on_click=_remove,
                  args=(index,), help="Remove this slide from the deck.")
    # The editor is drawn once opened (a closed panel is one line for the browser).
    with lazy_expander("Title, note and speaker notes of this slide", Keys.DECK_EDITOR) as opened:
        if opened:
            _editor(index, deck.entries[index])
    with st.container(border=True):
        st.markdown("\n\n".join(
            (f":blue[**{number}. {plain(title)}**]" if number == index + 1 else f"**{number}. {plain(title)}**")
            + f"  \n:gray[{plain(source)}" + (f" · Note: {plain(entry.note)}]" if entry.note else "]")
            for number, ((title, source), entry) in enumerate(zip(shown, deck.entries), start=1)))

st.subheader("Add a key finding")
labels = {key: (headlines[key].title if key in headlines else finding_name(key)) for key in REGISTRY}
choice, add = st.columns([3, 1], vertical_alignment="bottom")
picked = choice.selectbox("Key finding", list(REGISTRY), format_func=labels.get, key="deck_pick_finding")
add.button("Add to deck", icon=":material/playlist_add:", on_click=add_finding, args=(picked,), key="deck_add_finding")

st.subheader("Save and open decks")
store = deck_store()
with st.form("deck_save", clear_on_submit=False, border=True):
    st.text_input("Name of the deck", key=Keys.DECK_NAME, max_chars=80, placeholder="e.g. Q3 board review")
    saved = st.form_submit_button("Save deck", icon=":material/save:")
if saved:
    try:
        deck_id = store.save(st.session_state.get(Keys.DECK_NAME, ""), current_dataset_id(), current_deck())
        st.session_state[Keys.DECK_LOADED] = str(deck_id)
        st.query_params[Keys.DECK] = str(deck_id)  # the link in the address bar now opens this deck
        st.success("Deck saved. The link in your browser opens it; save that link as a view to find it again.")
    except NotesError as error:
        st.error(str(error))
decks = store.list()
if decks.height == 0:
    st.caption("No saved decks yet.")
for row in decks.iter_rows(named=True):
    name, when, open_column, delete_column = st.columns([3, 2, 1, 1], vertical_alignment="center")
    name.text(row["name"])  # user text: plain
    when.caption(f"{row['slides']} slides · saved {row['updated_at'][:16].replace('T', ' ')} UTC")
    with open_column:
        st.page_link("app_pages/deck.py", label="Open", icon=":material/open_in_new:",
                     query_params={Keys.DECK: str(row["id"])})
    delete_column.button("Delete", key=f"deck_delete_{row['id']}", on_click=store.delete, args=(row["id"],))
