"""AppTest of the Present pages: meeting mode, scorecard, saved views & notes, URL round trips."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import app_path
from streamlit.testing.v1 import AppTest

from crm_core.dataset import load_dataset
from crm_core.findings import FindingSettings, key_findings
from crm_core.notes import NotesStore
from ui.state import Keys
from ui.widgets import plain

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


@pytest.fixture(scope="module")
def expected_headlines() -> list[str]:
    """Headlines computed straight from crm_core for the demo's whole history (the sidebar default)."""
    return [finding.headline for finding in key_findings(load_dataset(DEMO), FindingSettings())]


def _app(page: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=180)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def _param(at: AppTest, name: str) -> str | None:
    """One URL query parameter as AppTest sees it (a string, or the first of a list)."""
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _meeting_toggle(at: AppTest):
    return next(toggle for toggle in at.sidebar.get("toggle") if toggle.key == "meeting")


def _button(at: AppTest, label: str):
    matches = [button for button in at.button if button.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def _shown(at: AppTest) -> str:
    """Headline of the slide meeting mode shows: every slide is on the page, one header each, and the
    controls' style sheet brings one into view (tests/test_browser_deck.py checks that in a browser)."""
    shown = [re.search(r"meeting_slide_(\d+) \{ position: static", html.proto.body) for html in at.get("html")]
    numbers = [int(match.group(1)) for match in shown if match]
    assert len(numbers) == 1, numbers
    assert len(at.header) >= numbers[0]
    return at.header[numbers[0] - 1].value


def _store() -> NotesStore:
    return NotesStore(Path(os.environ["CRM_WORKSPACE"]))


# --- Meeting mode ---------------------------------------------------------------


def test_meeting_mode_steps_through_the_default_deck(expected_headlines):
    at = _app("app_pages/meeting.py")
    assert at.title[0].value == "Meeting mode"
    assert any(plain(expected_headlines[1]) in markdown.value for markdown in at.markdown)

    _button(at, "Start meeting mode").click().run()
    assert not at.exception
    assert _shown(at) == plain(expected_headlines[0])
    assert at.get("progress")[0].proto.text == f"Slide 1 of {len(expected_headlines)} · Headline numbers"
    assert _button(at, "Previous").disabled
    assert _param(at, "step") == "1"

    _button(at, "Next").click().run()
    assert _shown(at) == plain(expected_headlines[1])
    assert _shown(at).startswith("The top 20% of customers bring")
    assert _param(at, "step") == "2"
    for _ in range(len(expected_headlines) - 2):
        _button(at, "Next").click().run()
    assert _shown(at) == plain(expected_headlines[-1])  # stops at the last finding
    assert _button(at, "Next").disabled

    _button(at, "Previous").click().run()
    assert _shown(at) == plain(expected_headlines[-2])

    _button(at, "Exit").click().run()
    assert not at.exception
    assert at.title[0].value == "Meeting mode" and not at.header


def test_sidebar_has_the_meeting_toggle():
    # Turning it on opens the meeting page: AppTest does not rerun the sidebar of a multipage
    # app after an interaction, so tests/test_browser_report.py checks that in a real browser.
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.run()
    assert _meeting_toggle(at).value is False


def test_meeting_link_reopens_the_same_screen(expected_headlines):
    """?meeting=true&step=3&theme=Dark reopens the third finding in meeting mode with dark charts.

    (AppTest reads bound widgets from the URL but does not show what they write back;
    tests/test_browser_report.py checks the address bar in a real browser.)
    """
    at = _app("app_pages/meeting.py", {"meeting": "true", "step": "3", "theme": "Dark"})
    assert _shown(at) == plain(expected_headlines[2])
    assert at.get("progress")[0].proto.text.startswith(f"Slide 3 of {len(expected_headlines)}")
    assert at.segmented_control(key="theme").value == "Dark"
    assert at.session_state["meeting"] is True
    _button(at, "Next").click().run()
    assert _param(at, "step") == "4"  # the step is written to the URL by the page itself


def test_meeting_link_with_a_bad_step_falls_back(expected_headlines):
    at = _app("app_pages/meeting.py", {"meeting": "true", "step": "99"})
    assert _shown(at) == plain(expected_headlines[-1])
    at = _app("app_pages/meeting.py", {"meeting": "true", "step": "abc"})
    assert _shown(at) == plain(expected_headlines[0])


# --- Scorecard --------------------------------------------------------------------


def _metric(at: AppTest, label: str) -> str:
    return next(metric.value for metric in at.metric if metric.label == label)


def _open_questions(at: AppTest, model: str) -> AppTest:
    """Open the model's panel of questions (drawn only once opened, ui.sections.lazy_expander), as a click does."""
    at.session_state[f"{Keys.SCORECARD_OPEN}{model}"] = True
    at.run()
    assert not at.exception
    return at


def test_scorecard_questions_are_drawn_once_their_panel_opens():
    at = _app("app_pages/scorecard.py")
    from crm_core.scorecard import MODELS, model_label

    panels = [f"{model_label(name)} – {description}" for name, description in MODELS.items()]
    assert [expander.label for expander in at.expander if expander.label in panels] == panels
    assert not at.radio  # four closed panels: none of the 23 questions is sent to the browser
    _open_questions(at, "QCi")
    assert {radio.key.split(".")[0] for radio in at.radio} == {"sc_qci"}
    assert len(at.radio) == 8


def test_scorecard_answer_changes_score_and_is_saved():
    at = _open_questions(_app("app_pages/scorecard.py"), "IDIC")
    before = _metric(at, "Knowing and treating customers individually (IDIC)")
    question = at.radio(key="sc_idic.customize")
    assert question.value is None
    question.set_value(4).run()
    assert not at.exception
    after = _metric(at, "Knowing and treating customers individually (IDIC)")
    assert after != before
    # Customize: no exports yet (evidence 0) and answer 4/4 -> step 50; the other steps are unchanged
    assert int(after.split(" / ")[0]) > int(before.split(" / ")[0])
    assert _store().load_answers("demo") == {"idic.customize": 4}

    again = _open_questions(_app("app_pages/scorecard.py"), "IDIC")  # a new session reads the saved answer back
    assert again.radio(key="sc_idic.customize").value == 4
    assert _metric(again, "Knowing and treating customers individually (IDIC)") == after


def test_scorecard_model_is_in_the_url():
    at = _app("app_pages/scorecard.py", {"model": "QCi"})
    assert at.segmented_control(key="model").value == "QCi"
    assert len([r for r in at.radio if r.key.startswith("sc_qci.")]) == 8
    assert not [r for r in at.radio if r.key.startswith("sc_idic.")]
    at.segmented_control(key="model").set_value("IDIC").run()
    assert len([r for r in at.radio if r.key.startswith("sc_idic.")]) == 4


# --- Saved views and notes ----------------------------------------------------------


def test_save_view_from_a_pasted_link_and_open_it():
    at = _app("app_pages/views.py")
    at.text_input(key="view_name").input("Q1 <b>review</b>")
    at.text_input(key="view_link").input("http://localhost:8501/segments?ds=demo&seg_bins=4")
    _button(at, "Save view").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["View saved."]
    assert "Q1 <b>review</b>" in [t.value for t in at.text]  # plain text, not HTML or Markdown
    views = _store().list_views()
    assert views.row(0, named=True)["page"] == "segments"
    assert views.row(0, named=True)["query"] == "ds=demo&seg_bins=4"
    link = at.get("page_link")[0].proto
    assert link.page.endswith("segments") or "segments" in link.page


def test_bad_link_gives_a_plain_error():
    at = _app("app_pages/views.py")
    at.text_input(key="view_name").input("Broken")
    at.text_input(key="view_link").input("ds=demo&<script>=1")
    _button(at, "Save view").click().run()
    assert at.error and "copy the link" in at.error[0].value
    assert _store().list_views().height == 0


def test_note_on_a_segment_is_listed_as_plain_text():
    at = _app("app_pages/views.py")
    at.selectbox(key="note_segment").set_value("At Risk")
    at.text_input(key="note_author").input("Ana")
    at.text_area(key="note_text").input("Call them <script>x</script> **now**")
    _button(at, "Add note").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Note added."]
    table = at.dataframe[0].value
    assert table["Note"].tolist() == ["Call them <script>x</script> **now**"]
    assert table["Who"].tolist() == ["Ana"] and table["Segment"].tolist() == ["At Risk"]
    assert _store().list_notes("demo").height == 1


def test_notes_filter_round_trips_through_the_url():
    store = _store()
    store.add_note("demo", "Champions", "VIP day", "Ana")
    store.add_note("demo", "Lost", "Stop mailing", "Ben")
    at = _app("app_pages/views.py", {"note_seg": "Lost"})
    assert at.selectbox(key="note_seg").value == "Lost"
    assert at.dataframe[0].value["Note"].tolist() == ["Stop mailing"]
    at.selectbox(key="note_seg").set_value("Champions").run()
    assert at.dataframe[0].value["Note"].tolist() == ["VIP day"]


def test_sidebar_offers_the_report_download():
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.run()
    labels = [element.label for element in at.sidebar.get("download_button")]
    assert "Download report" in labels


def test_scorecard_speaks_plainly_and_never_shows_none():
    at = _app("app_pages/scorecard.py")
    labels = [metric.label for metric in at.metric]
    assert labels[0] == "Knowing and treating customers individually (IDIC)"
    gaps_table = at.dataframe[0].value
    assert list(gaps_table.columns) == ["area", "score_text", "next_step"]
    assert "None" not in gaps_table.astype(str).to_string()
    assert gaps_table["area"].str.contains(r"\(\w", regex=True).all()  # the model's name comes second
    # one line a row cut 'Partners working for customers (Buttle valu' at 1366 px: the rows are tall enough for the
    # grid to wrap their text (Streamlit's frontend wraps only in rows over 64 px)
    assert at.dataframe[0].proto.row_height > 64
    assert not [m.value for m in at.markdown if "None" in m.value]


def test_settings_upload_states_its_own_limit_not_the_servers():
    """The settings file's uploader says 1 MB (a view is under 200 kB), not the 500 MB of an orders export."""
    at = _app("app_pages/views.py")
    uploaders = {element.proto.label: element.proto for element in at.get("file_uploader")}
    assert uploaders["Load settings (JSON)"].max_upload_size_mb == 1
