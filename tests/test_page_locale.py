"""Takeaways on the pages follow the manager's currency and number format (sidebar), with no stale text."""
from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from conftest import app_path
from crm_core.settings import AnalysisSettings
from ui.state import Keys

ENGLISH_NUMBER = re.compile(r"\d,\d{3}(?!\d)|\d\.\d{1,2}(?!\d)")


def _captions(at: AppTest) -> list[str]:
    """Captions as read on screen (Markdown escapes removed)."""
    return [caption.value.replace("\\", "") for caption in at.caption]


def _one(texts: list[str], word: str) -> str:
    found = [text for text in texts if word in text]
    assert found, f"no caption with {word!r} in {texts}"
    return found[0]


def test_overview_takeaway_carries_the_currency_and_follows_the_locale():
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.session_state[Keys.SETTINGS] = AnalysisSettings(currency="EUR")  # as after loading a saved view
    at.run()
    assert not at.exception, at.exception
    english = _one(_captions(at), "peaked")  # the revenue trend takeaway
    assert re.search(r"€\d{1,3}(,\d{3})+", english), english

    at.session_state[Keys.FORMAT_OPEN] = True  # the sidebar's Currency panel, opened (drawn once opened)
    at.run()
    at.sidebar.selectbox(key=Keys.LOCALE).set_value("de").run()  # the manager switches to 1.234,56
    assert not at.exception, at.exception
    german = _one(_captions(at), "peaked")
    assert german != english
    assert re.search(r"\d{1,3}(\.\d{3})+ €", german) and not ENGLISH_NUMBER.search(german), german
    retention = _one(_captions(at), "bought again in this one")
    assert not ENGLISH_NUMBER.search(retention), retention


def test_portfolio_notes_carry_the_currency():
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.session_state[Keys.SETTINGS] = AnalysisSettings(currency="EUR", locale="de")
    at.run()
    at.switch_page("app_pages/portfolio.py").run()
    assert not at.exception, at.exception
    pareto = _one(_captions(at), "The top 20% of customers bring")
    assert not ENGLISH_NUMBER.search(pareto), pareto
    at.session_state[Keys.PF_TAB] = "Cost to serve & customer lists"  # the page's lazy tab (ui.sections)
    at.run()
    lines = _one(_captions(at), "Dashed lines")
    assert re.search(r"\d,\d{2} €", lines) and not ENGLISH_NUMBER.search(lines), lines


def _chart(at: AppTest, key: str) -> dict:
    """The drawn figure of the chart with ``key`` (see ui.widgets.chart)."""
    import json

    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key}")


def test_cached_chart_text_follows_the_locale():
    """Text a builder writes (the Lorenz curve's Gini, the pyramid's shares) changes with the locale, cache or not."""
    at = AppTest.from_file(app_path(), default_timeout=180)
    at.session_state[Keys.SETTINGS] = AnalysisSettings(currency="EUR")
    at.run()
    at.switch_page("app_pages/portfolio.py").run()
    assert not at.exception, at.exception
    english = [trace["name"] for trace in _chart(at, "pf_lorenz")["data"] if "Gini" in trace.get("name", "")]
    assert english and re.search(r"Gini \d\.\d{2}\)", english[0]), english
    at.session_state[Keys.FORMAT_OPEN] = True  # the sidebar's Currency panel, opened
    at.run()
    at.sidebar.selectbox(key=Keys.LOCALE).set_value("de").run()
    assert not at.exception, at.exception
    german = [trace["name"] for trace in _chart(at, "pf_lorenz")["data"] if "Gini" in trace.get("name", "")]
    assert german == [english[0].replace(".", ",")]
    pyramid = " ".join(_chart(at, "pf_pyramid")["data"][0]["text"])
    assert re.search(r"\(\d+,\d%\)", pyramid) and not ENGLISH_NUMBER.search(pyramid), pyramid
