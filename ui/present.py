"""Streamlit glue for the Present pages: cached findings, the report downloads,
the meeting-mode toggle, the notes store and the app's page list."""
from __future__ import annotations

import streamlit as st

from crm_core.findings import Finding, FindingSettings
from crm_core.notes import NotesStore
from crm_core.chromium import chromium_path
from crm_core.report import PDF_UNAVAILABLE_MESSAGE, build_report, report_file_name, report_pdf_bytes
from crm_core.metrics import Figure, headline_figures
from ui.data import (
    DatasetKey,
    current_dataset,
    current_dataset_id,
    dataset_key,
    load_period_transactions,
    load_view_dataset,
    selected_period,
    summary_job,
)
from ui import background, background_jobs as jobs
from ui.background import Job
from ui.settings import current_settings, display_currency
from ui.state import DEMO_DATASET_ID, Keys

MEETING_PAGE = "app_pages/meeting.py"

#: url path -> (page file, title), in the order of app.py (url path '' is the default page).
APP_PAGES: dict[str, tuple[str, str]] = {
    "": ("app_pages/overview.py", "Overview"),
    "data": ("app_pages/data.py", "Data"),
    "portfolio": ("app_pages/portfolio.py", "Portfolio"),
    "segments": ("app_pages/segments.py", "Segments"),
    "lifetime": ("app_pages/lifetime.py", "Lifetime value & retention"),
    "customer360": ("app_pages/customer360.py", "Customer 360"),
    "interactions": ("app_pages/interactions.py", "Interactions"),
    "actions": ("app_pages/actions.py", "Actions"),
    "meeting": ("app_pages/meeting.py", "Meeting mode"),
    "deck": ("app_pages/deck.py", "Deck"),
    "scorecard": ("app_pages/scorecard.py", "CRM scorecard"),
    "views": ("app_pages/views.py", "Saved views & notes"),
}

# Constant style sheets written here (never built from user text), injected with
# st.html, which sends style-only HTML to the page without a visible element.
# Colours meet WCAG AA on their background: text >= 4.5:1, control borders and the progress track >= 3:1.
_HIDE_CHROME = """
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"], [data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 0.8rem 3rem 1rem 3rem !important; }
[data-testid="stMain"] h1 { font-size: 2.0rem !important; }
[data-testid="stMain"] h2 { font-size: 2.0rem !important; line-height: 1.2 !important; padding: 0.2rem 0 0.4rem 0 !important; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stCaptionContainer"] { font-size: 1.25rem !important; }
[data-testid="stMain"] button p { font-size: 1.1rem !important; }
"""


#: Meeting mode puts every slide on the page once, each in a container keyed SLIDE_KEY_PREFIX + number,
#: all in the SLIDES_KEY container. Slides are hidden but laid out at full width (so their charts are
#: drawn at the right size, once); shown_slide_css() brings the current one back into the flow.
SLIDES_KEY = "meeting_slides"
SLIDE_KEY_PREFIX = "meeting_slide_"
_SLIDES_CSS = f"""
.st-key-{SLIDES_KEY} {{ position: relative !important; overflow: hidden !important; gap: 0 !important; }}
[class*="st-key-{SLIDE_KEY_PREFIX}"] {{ position: absolute !important; top: 0; left: 0; right: 0; z-index: -1;
  visibility: hidden !important; opacity: 0 !important; pointer-events: none !important; }}
"""


def shown_slide_css(step: int) -> str:
    """Constant style sheet (built from a number only) that shows slide ``step`` of meeting mode."""
    return (f"<style>.st-key-{SLIDE_KEY_PREFIX}{int(step)} {{ position: static !important; z-index: auto; "
            "visibility: visible !important; opacity: 1 !important; pointer-events: auto !important; }</style>")


def _palette_css(page: str, text: str, muted: str, control: str, border: str, primary: str, primary_text: str,
                 track: str, bar: str) -> str:
    return (
        f'.stApp, [data-testid="stMain"], [data-testid="stAppViewContainer"] {{ background: {page} !important; color: {text} !important; }}'
        f'[data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] p {{ color: {text} !important; }}'
        f'[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{ color: {muted} !important; }}'
        f'[data-testid="stCaptionContainer"] {{ opacity: 1 !important; }}'  # Streamlit fades captions to 60 %
        f'[data-testid="stMain"] button {{ background: {control} !important; color: {text} !important; border: 1px solid {border} !important; }}'
        f'[data-testid="stMain"] button p, [data-testid="stMain"] button span {{ color: inherit !important; }}'
        f'[data-testid="stMain"] button[kind="primary"], [data-testid="stMain"] button[aria-checked="true"] '
        f'{{ background: {primary} !important; color: {primary_text} !important; border-color: {primary} !important; }}'
        f'[data-testid="stMain"] button:disabled {{ opacity: 0.75 !important; }}'
        f'[data-testid="stProgress"] [role="progressbar"] > div {{ background: {track} !important; }}'
        f'[data-testid="stProgress"] [role="progressbar"] > div > div > div {{ background: {bar} !important; }}'
        f'[data-testid="stProgress"] p {{ color: {text} !important; }}'
    )


#: Light: ink on white, blue primary (white on #0B5CAD is 6.6:1), grey borders 3.5:1, track 3.3:1.
MEETING_CSS = "<style>" + _HIDE_CHROME + _SLIDES_CSS + _palette_css(
    page="#FFFFFF", text="#1B2733", muted="#4A5866", control="#FFFFFF", border="#7B8794", primary="#0B5CAD",
    primary_text="#FFFFFF", track="#8A96A3", bar="#0B5CAD") + "</style>"
#: Dark: light ink on #0E1117, dark buttons with light borders, sky-blue primary with dark text.
MEETING_DARK_CSS = "<style>" + _HIDE_CHROME + _SLIDES_CSS + _palette_css(
    page="#0E1117", text="#E8EDF2", muted="#B8C4CF", control="#1B222C", border="#8B98A5", primary="#56B4E9",
    primary_text="#0E1117", track="#5E6B78", bar="#56B4E9") + "</style>"


def notes_store() -> NotesStore:
    """The notes database of the signed-in user (the workspace root when single-user)."""
    from ui.auth import user_notes

    return user_notes()


def finding_settings() -> FindingSettings:
    """Findings of the sidebar period under the view's settings (tiers, rules, margin, currency)."""
    start, end = selected_period()
    return FindingSettings.from_analysis(current_settings(), start, end, display_currency())


def findings_job(key: DatasetKey, settings: FindingSettings) -> Job:
    """The shared job computing the key findings (the dataset load starts it in the background).

    It reuses the customer summary and driver profiles of the same period (their own jobs).
    """
    from ui.drivers import profiles_job

    start, end = settings.start, settings.end
    return background.submit("key_findings", (key, settings), jobs.key_findings, load_view_dataset(key, start, end),
                             settings, summary_job(key, start, end), profiles_job(key, start, end))


def _findings(key: DatasetKey, settings: FindingSettings) -> list[Finding]:
    return findings_job(key, settings).result()


def findings_for(settings: FindingSettings) -> list[Finding]:
    """Key findings of the current dataset under ``settings`` (shared with :func:`current_findings`)."""
    return _findings(dataset_key(), settings)


def current_findings_job() -> Job:
    """The background job of :func:`current_findings` (Meeting mode and Deck show a progress note while it runs)."""
    return findings_job(dataset_key(), finding_settings())


def current_findings() -> list[Finding]:
    """Key findings of the current dataset and period (light charts; copy figures before changing them)."""
    return _findings(dataset_key(), finding_settings())


@st.cache_resource(max_entries=8, show_spinner="Computing the headline figures…")
def _figures(key: DatasetKey, start, end, settings_url: str) -> list[Figure]:
    from crm_core.settings import AnalysisSettings

    history = load_view_dataset(key, start, end).transactions
    return headline_figures(load_period_transactions(key, start, end), AnalysisSettings.from_url(settings_url),
                            start, end, history=history)


def current_figures() -> list[Figure]:
    """The catalogue's headline figures for the view: the same numbers as the report and the CLI."""
    return _figures(dataset_key(), *selected_period(), current_settings().to_url())


def figure_by_id(figure_id: str) -> Figure | None:
    return next((figure for figure in current_figures() if figure.id == figure_id), None)


def current_ingest_report():
    """The ingest report of an uploaded dataset; None for the demo or when it cannot be read."""
    dataset_id = current_dataset_id()
    if dataset_id == DEMO_DATASET_ID:
        return None
    try:
        from ui.auth import user_workspace

        return user_workspace().report(dataset_id)
    except Exception:  # noqa: BLE001 - a missing report only drops a report section
        return None


def _request_meeting_page() -> None:
    st.session_state[Keys.MEETING_SWITCH] = True


def _meeting_from_link() -> None:
    """A new session opened from a copied link starts in meeting mode when the link says ?meeting=true."""
    if Keys.MEETING_MODE not in st.session_state:
        st.session_state[Keys.MEETING_MODE] = (st.query_params.get(Keys.MEETING_MODE) or "").lower() == "true"


def _meeting_to_link(on: bool) -> None:
    """Keep ?meeting=true in the address exactly while meeting mode is on (a copied link reopens it)."""
    if on and st.query_params.get(Keys.MEETING_MODE) != "true":
        st.query_params[Keys.MEETING_MODE] = "true"
    elif not on and Keys.MEETING_MODE in st.query_params:
        del st.query_params[Keys.MEETING_MODE]


def render_present_controls() -> None:
    """Sidebar: the meeting-mode toggle and the report downloads (built only when clicked).

    The toggle is not bound to the URL (``bind="query-params"``): after the switch to the meeting page
    Streamlit's bound-parameter write-back raced the page switch (the switch clears bound parameters,
    the restore depends on which widget states the rerun carries, and the browser rebuilds the address
    from a query string it may not have received yet), so ?meeting=true was intermittently missing and
    a copied link reopened the deck outside meeting mode. Like the dataset and the view settings, the
    parameter is written by hand: in the switch itself, and checked on every run.
    """
    st.divider()
    _meeting_from_link()
    on = st.toggle(
        "Meeting mode", key=Keys.MEETING_MODE, on_change=_request_meeting_page,
        help="Full screen, large type, one key finding per screen. Exit with the button under the chart or Esc.",
    )
    if st.session_state.pop(Keys.MEETING_SWITCH, False) and on:
        # The switch drops the other pages' parameters; the meeting page and the sidebar write theirs back.
        st.switch_page(MEETING_PAGE, query_params={Keys.MEETING_MODE: "true"})
    _meeting_to_link(on)
    dataset, settings, ingest = current_dataset(), finding_settings(), current_ingest_report()
    figure_args = (dataset_key(), *selected_period(), current_settings().to_url())  # resolved now: callbacks run later

    def html_bytes() -> bytes:
        return build_report(dataset, settings, ingest_report=ingest, figures=_figures(*figure_args)).html.encode("utf-8")

    st.download_button(
        "Download report", data=html_bytes, file_name=report_file_name(dataset.name, "html"),
        mime="text/html", icon=":material/download:", width="stretch",
        help="One HTML file with the key findings, charts, tables, data quality and methodology. Opens offline.",
    )
    if chromium_path() is None:
        st.caption(PDF_UNAVAILABLE_MESSAGE)
        return

    def pdf_bytes() -> bytes:
        return report_pdf_bytes(build_report(dataset, settings, ingest_report=ingest, figures=_figures(*figure_args)))

    st.download_button(
        "Download PDF", data=pdf_bytes, file_name=report_file_name(dataset.name, "pdf"),
        mime="application/pdf", icon=":material/picture_as_pdf:", width="stretch",
        help="The same report printed to PDF (takes a few seconds).",
    )


def segment_choices() -> list[str]:
    """Segments a note can be about: the view's RFM segments, then its value tiers."""
    settings = current_settings()
    return [*settings.rfm_settings().segment_names, *(f"Tier: {name}" for name in settings.tiers.names)]
