"""Saved views (named links to a page with its filters) and notes on segments."""
from __future__ import annotations

import polars as pl
import streamlit as st

from crm_core.notes import NotesError, parse_link, query_dict, query_string
from crm_core.settings import AnalysisSettings
from ui.data import current_dataset_id
from ui.present import APP_PAGES, notes_store, segment_choices
from ui.settings import apply_settings, current_settings, settings_from_query
from ui.state import Keys
from ui.widgets import explain

OTHER = "Other…"
ALL = "All segments"

st.title("Saved views & notes")
explain(
    "Every page keeps its filters in the address bar, so a copied link reopens the same view. Here you can "
    "**name** such links to find them again, and keep **notes on segments**: who decided what, and when. "
    "Everything is saved in the workspace. A view's settings (period, filters, tiers, RFM rules, margin, "
    "horizon, currency) download as JSON: give that file to the command line with `--view FILE.json` to get "
    "the same figures, or load it here to apply it."
)
store = notes_store()
dataset_id = current_dataset_id()

# --- Saved views ----------------------------------------------------------------
st.subheader("Saved views")
# Without a pasted link, a view keeps the sidebar choices (dataset, period, settings) of this session.
shared_query = query_string({name: st.query_params.get_all(name)
                             for name in (Keys.DATASET_ID, Keys.PERIOD_PRESET, Keys.PERIOD, Keys.SETTINGS_URL)
                             if name in st.query_params})

# --- Settings as JSON -----------------------------------------------------------
with st.container(border=True):
    st.markdown("**This view's settings**")
    download_column, upload_column = st.columns(2)
    download_column.download_button(
        "Download settings (JSON)", current_settings().to_json().encode("utf-8"), file_name="view.json",
        mime="application/json", icon=":material/download:",
        help="Period, comparison, filters, tiers, RFM rules, margin, discount rate, horizon, cost-to-serve, "
             "currency and number format. `python -m crm_core report FILE --view view.json` reproduces the figures.")
    uploaded = upload_column.file_uploader("Load settings (JSON)", type=["json"], key=Keys.VIEW_JSON,
                                           max_upload_size=1,  # MB, the smallest it takes; a view is under 200 kB
                                           help="A file downloaded here (or written by hand): applied to every page.")
    if uploaded is not None:
        try:
            loaded = AnalysisSettings.from_json(uploaded.getvalue())
        except ValueError as error:
            st.error(f"That file cannot be used: {error}")
        else:
            if loaded != current_settings():
                apply_settings(loaded)
with st.form("save_view", clear_on_submit=True, border=True):
    st.text_input("Name of the view", key=Keys.VIEW_NAME, max_chars=80, placeholder="e.g. Q3 review – top tiers")
    st.selectbox("Page", list(APP_PAGES), format_func=lambda path: APP_PAGES[path][1], key=Keys.VIEW_PAGE)
    st.text_input(
        "Link (optional)", key=Keys.VIEW_LINK,
        help="Paste the address of any page of this app to keep all its choices. Empty: the chosen page with "
             "the dataset and period picked in the sidebar.",
    )
    submitted = st.form_submit_button("Save view", icon=":material/bookmark_add:")
if submitted:
    link = (st.session_state.get(Keys.VIEW_LINK) or "").strip()
    try:
        parsed = parse_link(link) if link else None
        page = parsed.page if parsed is not None and parsed.page is not None else st.session_state.get(Keys.VIEW_PAGE, "")
        if page not in APP_PAGES:
            raise NotesError("That link does not point to a page of this app; pick the page instead.")
        store.save_view(st.session_state.get(Keys.VIEW_NAME, ""), page, parsed.query if parsed is not None else shared_query)
        st.success("View saved.")
    except NotesError as error:
        st.error(str(error))

views = store.list_views()
if views.height == 0:
    st.info("No saved views yet. Set up a page the way you like it, copy its address and save it here.")
for view in views.iter_rows(named=True):
    page_file, page_title = APP_PAGES.get(view["page"], APP_PAGES[""])
    name_column, page_column, open_column, delete_column = st.columns([3, 2, 1, 1], vertical_alignment="center")
    name_column.text(view["name"])  # user text: plain, never Markdown or HTML
    page_column.caption(f"{page_title} · saved {view['created_at'][:16].replace('T', ' ')} UTC")
    with open_column:
        st.page_link(page_file, label="Open", icon=":material/open_in_new:", query_params=query_dict(view["query"]))
        try:
            view_json = settings_from_query(query_dict(view["query"])).to_json()
        except ValueError:
            view_json = None  # a damaged link: nothing to download
        if view_json is not None:
            st.download_button("JSON", view_json.encode("utf-8"), file_name="view.json", mime="application/json",
                               key=f"{Keys.VIEW_JSON}_{view['id']}", help="This view's settings, for `--view`.")
    delete_column.button("Delete", key=f"{Keys.VIEW_DELETE}{view['id']}", on_click=store.delete_view, args=(view["id"],))

# --- Notes on segments ----------------------------------------------------------
st.subheader("Notes on segments")
choices = segment_choices()
with st.form("add_note", clear_on_submit=True, border=True):
    st.selectbox("Segment", [*choices, OTHER], key=Keys.NOTE_SEGMENT)
    st.text_input("Other segment (when 'Other…')", key=Keys.NOTE_OTHER, max_chars=120)
    st.text_input("Your name", key=Keys.NOTE_AUTHOR, max_chars=80)
    st.text_area("Note: what was decided, and why", key=Keys.NOTE_TEXT, max_chars=2000)
    added = st.form_submit_button("Add note", icon=":material/note_add:")
if added:
    segment = st.session_state.get(Keys.NOTE_SEGMENT)
    if segment == OTHER:
        segment = st.session_state.get(Keys.NOTE_OTHER, "")
    try:
        store.add_note(dataset_id, segment, st.session_state.get(Keys.NOTE_TEXT, ""), st.session_state.get(Keys.NOTE_AUTHOR, ""))
        st.success("Note added.")
    except NotesError as error:
        st.error(str(error))

notes = store.list_notes(dataset_id)
segments_with_notes = notes["segment"].unique(maintain_order=True).to_list()
st.selectbox("Show notes on", [ALL, *segments_with_notes], key=Keys.NOTES_SEGMENT, bind="query-params")
chosen = st.session_state.get(Keys.NOTES_SEGMENT)
if chosen and chosen != ALL:
    notes = notes.filter(pl.col("segment") == chosen)
if notes.height == 0:
    st.info("No notes yet for this dataset.")
else:
    st.dataframe(  # notes are user text: shown as plain table cells
        notes.select(
            pl.col("created_at").str.slice(0, 16).str.replace("T", " ").alias("When (UTC)"),
            pl.col("segment").alias("Segment"), pl.col("author").alias("Who"), pl.col("text").alias("Note"), "id",
        ),
        hide_index=True, width="stretch",
        column_config={"Note": st.column_config.TextColumn(width="large"), "id": st.column_config.NumberColumn("No.", format="%d")},
    )
    with st.popover("Delete a note"):
        note_id = st.selectbox("Note number", notes["id"].to_list(), key=Keys.NOTE_DELETE)
        st.button("Delete note", on_click=store.delete_note, args=(note_id,), type="primary")
