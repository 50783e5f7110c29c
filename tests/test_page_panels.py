"""Settings panels drawn only while open (ui.sections.lazy_expander) keep the manager's settings.

A closed panel's widgets are not drawn, and Streamlit drops the value of a widget it does not draw: the
settings live in the one settings object (and the link), so an edit must survive closing the panel, a page
change and a copied link, with the figures that use it unchanged. Each panel's label still says what is
inside while it is closed.
"""
from __future__ import annotations

from pages_helpers import metrics, open_page, open_panel
from streamlit.testing.v1 import AppTest

from conftest import app_path
from crm_core.settings import AnalysisSettings, Rfm
from ui.state import Keys


def _table_with(at: AppTest, column: str) -> list:
    frame = next(frame.value for frame in at.dataframe if column in frame.value.columns)
    return frame.to_dict("records")


def _close_and_come_back(at: AppTest, panel: str, page: str) -> AppTest:
    """Close the panel (a click on its label), then visit the Overview and come back."""
    at.session_state[panel] = False
    at.run()
    assert not at.exception
    at.switch_page("app_pages/overview.py").run()
    at.switch_page(page).run()
    assert not at.exception
    return at


def _from_link(at: AppTest, page: str) -> AppTest:
    """A new session opened from the link in the address bar (what a copied link or a reload opens)."""
    fresh = AppTest.from_file(app_path(), default_timeout=180)
    for name in at.query_params:
        fresh.query_params[name] = at.query_params[name]
    fresh.run()
    fresh.switch_page(page).run()
    assert not fresh.exception
    return fresh


def _labels(at: AppTest) -> list[str]:
    return [expander.label for expander in at.expander]


def test_tier_settings_survive_closing_their_panel_a_page_change_and_the_link():
    page = "app_pages/portfolio.py"
    at = open_page(page)
    assert "Tier settings: names and cut-offs" in _labels(at)
    before = _table_with(at, "tier")
    open_panel(at, Keys.PF_TIER_PANEL)
    at.text_input(key=f"{Keys.PF_TIER_NAME}0").set_value("Key accounts").run()
    at.number_input(key=f"{Keys.PF_TIER_SHARE}0").set_value(2.0).run()
    edited = _table_with(at, "tier")
    assert edited != before and edited[0]["tier"] == "Key accounts"

    _close_and_come_back(at, Keys.PF_TIER_PANEL, page)
    assert not [field for field in at.text_input if field.key.startswith(Keys.PF_TIER_NAME)]  # closed: not drawn
    assert _table_with(at, "tier") == edited
    open_panel(at, Keys.PF_TIER_PANEL)  # reopened: the widgets show the edit
    assert at.text_input(key=f"{Keys.PF_TIER_NAME}0").value == "Key accounts"
    assert at.number_input(key=f"{Keys.PF_TIER_SHARE}0").value == 2.0
    assert _table_with(at, "tier") == edited
    assert _table_with(_from_link(at, page), "tier") == edited


def test_forecast_settings_survive_closing_their_panel_a_page_change_and_the_link():
    page = "app_pages/lifetime.py"
    at = open_page(page)
    assert "Forecast settings: horizon, margin, discount rate" in _labels(at)
    open_panel(at, Keys.LT_SETTINGS_PANEL)
    at.select_slider(key=Keys.LT_HORIZON).set_value(6).run()
    at.slider(key=Keys.LT_MARGIN).set_value(40).run()
    edited = metrics(at)
    assert "Predicted margin, next 6 months" in edited

    _close_and_come_back(at, Keys.LT_SETTINGS_PANEL, page)
    assert not at.select_slider  # closed: not drawn
    assert metrics(at) == edited
    open_panel(at, Keys.LT_SETTINGS_PANEL)
    assert at.select_slider(key=Keys.LT_HORIZON).value == 6
    assert at.slider(key=Keys.LT_MARGIN).value == 40
    assert metrics(at) == edited
    assert metrics(_from_link(at, page)) == edited


def test_segment_rules_survive_closing_their_panel_a_page_change_and_the_link():
    page = "app_pages/segments.py"
    at = open_page(page, {Keys.SETTINGS: AnalysisSettings(rfm=Rfm(rules=(("Everyone", 1, 5, 1, 5),)))})
    assert "Segment rules (editable)" in _labels(at)
    open_panel(at, Keys.SEG_RULES_PANEL)
    assert [button.label for button in at.button][:2] == ["Apply rules", "Back to the default rules"]
    at.button[0].click().run()  # "Apply rules" on the table as shown: the one rule
    assert not at.exception and not at.error
    edited = _table_with(at, "mean_r")  # the segment profiles (the rule editor has a segment column too)
    assert [row["segment"] for row in edited] == ["Everyone"]

    _close_and_come_back(at, Keys.SEG_RULES_PANEL, page)
    assert not [button for button in at.button if button.label == "Apply rules"]  # closed: not drawn
    assert _table_with(at, "mean_r") == edited
    open_panel(at, Keys.SEG_RULES_PANEL)
    assert _table_with(at, "r_min") == [{"segment": "Everyone", "r_min": 1, "r_max": 5, "f_min": 1, "f_max": 5}]
    assert _table_with(_from_link(at, page), "mean_r") == edited
