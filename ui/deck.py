"""Streamlit glue of the deck: the deck being built, "Add to deck", saved decks and slides prepared ahead.

The deck lives in session state (:data:`Keys.DECK_ENTRIES`); a saved deck is
named in the URL (``?deck=<id>``) so a copied link or a saved view opens it.
:func:`prepared_slides` computes every slide's content and figure once per
deck, dataset, period and theme, so a step in meeting mode only picks one.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from crm_core import format as fmt
from crm_core.charts.present import enlarged, themed
from crm_core.charts.text import plain_text
from crm_core.deck import PAGE_CHART_PREFIX, Deck, DeckEntry, DeckError, DeckStore, Slide, default_deck, prepare_slides
from ui.data import current_dataset, current_dataset_id, customer_summary, dataset_version, selected_period
from ui.state import Keys

#: Meeting mode at 1366x768: what is left for headline, chart and detail under the controls (px),
#: and the room one line of headline (2rem) or of detail (1.25rem) takes, with the characters it holds.
MEETING_SLIDE_ROOM = 545
HEADLINE_LINE, HEADLINE_CHARS = 39, 70
DETAIL_LINE, DETAIL_CHARS = 32, 110
MEETING_CHART_HEIGHTS = (250, 440)


def meeting_chart_height(title: str, detail: str) -> int:
    """Chart height that leaves the headline and the detail line on a 1366x768 screen."""
    headline_lines = max(1, -(-len(title) // HEADLINE_CHARS))
    detail_lines = -(-len(detail) // DETAIL_CHARS)
    height = MEETING_SLIDE_ROOM - HEADLINE_LINE * headline_lines - DETAIL_LINE * detail_lines
    return min(max(height, MEETING_CHART_HEIGHTS[0]), MEETING_CHART_HEIGHTS[1])


def deck_store() -> DeckStore:
    """Saved decks of the signed-in user (the notes database of their workspace folder)."""
    from ui.auth import user_notes

    return DeckStore(user_notes().path.parent)


def base_settings():
    """Finding settings of the sidebar period under the view's settings (tiers, rules, margin, filters)."""
    from ui.present import finding_settings

    return finding_settings()


def current_deck() -> Deck:
    """The deck being built: session first, else the saved deck named in the URL, else the default deck."""
    wanted = st.query_params.get(Keys.DECK)
    if wanted and st.session_state.get(Keys.DECK_LOADED) != wanted:
        saved = deck_store().load(wanted)
        st.session_state[Keys.DECK_LOADED] = wanted
        if saved is not None:
            st.session_state[Keys.DECK_ENTRIES] = saved[1]
    deck = st.session_state.get(Keys.DECK_ENTRIES)
    if deck is None:
        deck = default_deck()
        st.session_state[Keys.DECK_ENTRIES] = deck
    return deck


def set_deck(deck: Deck) -> None:
    st.session_state[Keys.DECK_ENTRIES] = deck


def current_settings_json(chart_title: str = "") -> str:
    """The settings in force (period and the view's settings, filters included), the dataset and the page's choices."""
    ignored = (Keys.DECK, Keys.DATASET_ID, Keys.PERIOD, Keys.MEETING_STEP, Keys.MEETING_MODE)
    choices = {name: ",".join(st.query_params.get_all(name)) for name in st.query_params if name not in ignored}
    values = {**base_settings().to_dict(), "dataset": current_dataset_id(), "chart_title": chart_title,
              "page_title": _page_title(), "page_choices": "; ".join(f"{k}={v}" for k, v in choices.items())}
    return json.dumps(values, ensure_ascii=False)


def _page_title() -> str:
    return str(st.session_state.get(Keys.PAGE_TITLE) or "")


def _figure_title(fig: go.Figure) -> str:
    """The chart's title as typed (figures hold titles escaped for Plotly: crm_core.charts.text)."""
    text = fig.layout.title.text if fig.layout.title else None
    return plain_text(text) or "Chart"


def add_chart(fig: go.Figure, key: str) -> None:
    """Callback of "Add to deck": the figure as it is drawn now, with the current settings."""
    title = _figure_title(fig)
    try:
        entry = DeckEntry(f"{PAGE_CHART_PREFIX}{key}", settings=current_settings_json(title),
                          figure_json=pio.to_json(fig, validate=False, remove_uids=True), page=_page_title())
        set_deck(current_deck().added(entry))
        st.toast(f"Added to the deck ({len(current_deck())} slides). Open **Deck** under Present to arrange it.",
                 icon=":material/playlist_add_check:")
    except DeckError as error:
        st.toast(str(error), icon=":material/error:")


def add_finding(key: str) -> None:
    """Callback: a key finding (recomputed with the current period) at the end of the deck."""
    try:
        set_deck(current_deck().added(DeckEntry(key, settings=json.dumps(base_settings().to_dict()))))
        st.toast("Added to the deck.", icon=":material/playlist_add_check:")
    except DeckError as error:
        st.toast(str(error), icon=":material/error:")


@dataclass(frozen=True)
class ReadySlide:
    """A slide with its figure already drawn for meeting mode and the line shown under it."""

    slide: Slide
    figure: go.Figure | None
    detail: str = ""


def _meeting_figure(slide: Slide, dark: bool, height: int) -> go.Figure | None:
    from crm_core.charts import registry

    if slide.chart:
        figure = registry.figure(slide.chart, slide.data, dark)
    elif slide.figure_json:
        figure = themed(pio.from_json(slide.figure_json), dark)
        if _figure_title(figure) == slide.title:  # the slide's headline already says it
            figure.update_layout(title_text=None, margin_t=30)
    else:
        return None
    figure = enlarged(figure, height=height)
    legend_on_top = figure.layout.legend.y is None or figure.layout.legend.y >= 1  # the template puts it on top
    if figure.layout.title.text and len(figure.data) > 1 and legend_on_top:  # room for the enlarged title above it
        figure.update_layout(margin_t=100)
    return figure


def _detail(slide: Slide) -> str:
    """The line under a slide's chart: headline (when retitled), takeaway, note; where a page chart comes from."""
    parts = [slide.headline] if slide.title != slide.headline else []
    parts += [part for part in (slide.takeaway, slide.note) if part]
    if slide.figure_json:
        source = f"Chart from the {slide.label} page" if slide.label and slide.label != slide.title else "Chart from a page"
        if slide.period:
            source += f", {fmt.date(slide.period[0])} – {fmt.date(slide.period[1])}"
        parts.append(source + ".")
    return " ".join(parts)


@st.cache_resource(max_entries=8, show_spinner="Preparing the slides…")
def _prepared(dataset_id: str, version: str, deck_json: str, settings_json: str, dark: bool) -> list[ReadySlide]:
    from crm_core.findings import FindingSettings

    from ui.present import findings_for

    base = FindingSettings.from_dict(json.loads(settings_json))
    slides = prepare_slides(Deck.from_json(deck_json), current_dataset(), customer_summary(), base,
                            findings_for(base))  # the Deck page's findings (one background job)
    ready = []
    for slide in slides:
        detail = _detail(slide)
        ready.append(ReadySlide(slide, _meeting_figure(slide, dark, meeting_chart_height(slide.title, detail)), detail))
    return ready


def prepared_slides(deck: Deck, dark: bool = False) -> list[ReadySlide]:
    """Every slide of ``deck`` computed and drawn once (cached): a meeting step only picks one.

    Figures are shared by every session: copy one before changing it.
    """
    dataset_id = current_dataset_id()
    return _prepared(dataset_id, dataset_version(dataset_id), deck.to_json(), json.dumps(base_settings().to_dict()), dark)


def deck_pptx_download(deck: Deck) -> Callable[[], bytes]:
    """The PowerPoint download's data: a function building the deck (native charts, speaker notes) when clicked.

    Streamlit runs it in a thread outside the page run, where session state and the URL cannot be read,
    so the dataset, period and the view's settings (tiers, rules, filters) are resolved now.
    """
    import io

    from crm_core.deck_pptx import DeckMeta, write_pptx

    dataset, summary, settings, period = current_dataset(), customer_summary(), base_settings(), selected_period()

    def build() -> bytes:
        slides = prepare_slides(deck, dataset, summary, settings)
        buffer = io.BytesIO()
        write_pptx(slides, DeckMeta(dataset.name, period, summary.height, settings.currency,
                                    filters=settings.filters_text(), locale=settings.analysis.locale), buffer)
        return buffer.getvalue()

    return build


def pptx_file_name() -> str:
    from crm_core.report import report_file_name

    return report_file_name(current_dataset().name, "pptx").replace("crm-report-", "crm-deck-", 1)
