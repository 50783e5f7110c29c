"""Every figure on screen says what it is and which dates it covers; the catalogue behind it is consistent.

One AppTest walks every page on the demo (Customer 360 on a real customer) and fails when a card
(``st.metric``) has no help text, or help text without its period. The catalogue tests fail when two
entries share a label or an entry names a function that does not exist.
"""
from __future__ import annotations

import importlib
import json
import re

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, app_path
from crm_core.metrics import _METRICS, CATALOGUE, catalogue_markdown, metric, update_docs
from ui.state import Keys

PAGES = ("overview", "portfolio", "segments", "lifetime", "drivers", "interactions", "actions", "customer360",
         "scorecard", "meeting", "deck", "views", "data")
#: Pages whose sections are lazy tabs, and the tabs' key (ui.sections.lazy_tabs).
LAZY_TABS = {"portfolio": Keys.PF_TAB, "segments": Keys.SEG_TAB, "lifetime": Keys.LT_TAB, "drivers": Keys.DRV_TAB,
             "interactions": Keys.INTERACT_TAB}


def _tour(settings=None):
    """Yield (page, app) for every page on the demo, Customer 360 on a real customer, optionally with ``settings``."""
    customer = pl.read_parquet(ROOT / "data" / "demo" / "transactions.parquet")["customer_id"].sort()[0]
    at = AppTest.from_file(app_path(), default_timeout=300)
    if settings is not None:
        at.session_state[Keys.SETTINGS] = settings
    at.session_state[Keys.C360_QUERY] = customer
    at.run()
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        yield page, at
        if page in LAZY_TABS:  # every other tab of the page, as "page › tab" (ui.sections runs the open one)
            for label in [tab.label for tab in at.tabs][1:]:
                at.session_state[LAZY_TABS[page]] = label
                at.run()
                assert not at.exception, (page, label, at.exception)
                yield f"{page} › {label}", at


@pytest.fixture(scope="module")
def cards_by_page() -> dict[str, list]:
    """Every page's cards (label, value, help) on the demo."""
    return {page: [(card.label, card.value, card.proto.help) for card in at.metric] for page, at in _tour()}


def test_every_card_on_every_page_has_its_definition_and_period(cards_by_page):
    for page in ("overview", "portfolio", "segments", "lifetime", "drivers", "interactions", "actions", "customer360"):
        assert cards_by_page[page], f"{page} shows no card: the walk did not reach it"
    for page, cards in cards_by_page.items():
        for label, _, help_text in cards:
            assert help_text.strip(), f"{page}: the card {label!r} has no help text"
            assert "Period:" in help_text, f"{page}: the card {label!r} does not say which dates it covers"


def _catalogue_definitions() -> list[re.Pattern]:
    """One pattern per catalogue entry: help text starting with its definition, then its period."""
    return [re.compile(".*".join(map(re.escape, re.split(r"\{\w+\}", entry.definition))) + " Period: ")
            for entry in _METRICS]


def test_cards_take_their_definition_from_the_catalogue(cards_by_page):
    patterns = _catalogue_definitions()
    for page, cards in cards_by_page.items():
        for label, _, help_text in cards:
            assert any(pattern.match(help_text) for pattern in patterns), (page, label, help_text)


def test_warehouse_cards_take_label_definition_and_period_from_the_catalogue(tmp_path, monkeypatch):
    """The Data page's "Connect a database" panel: its cards are catalogue figures like every other card."""
    import ibis

    tx = pl.read_parquet(ROOT / "data" / "demo" / "transactions.parquet")
    path = tmp_path / "shop.duckdb"
    writer = ibis.duckdb.connect(str(path))
    writer.create_table("orders", tx.select("customer_id", "order_date", "amount"))
    writer.disconnect()
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    at = AppTest.from_file(app_path(), default_timeout=300).run()
    at.switch_page("app_pages/data.py").run()
    at.session_state["wh_panel"] = True  # open the panel (only an open panel runs), like a click
    at.run()
    at.text_input(key="wh_uri").set_value(f"duckdb:///{path}")
    at.text_input(key="wh_table").set_value("orders")
    at.button(key="wh_connect").click().run()
    assert not at.exception and not at.error, [error.value for error in at.error]
    cards = {card.label: card.proto.help for card in at.metric}
    catalogue_labels = {metric(key).label for key in ("revenue", "orders", "active_customers", "new_customers",
                                                      "returning_share", "aov", "frequency")}
    assert catalogue_labels <= set(cards), sorted(cards)
    patterns = _catalogue_definitions()
    for label in catalogue_labels:
        assert any(pattern.match(cards[label]) for pattern in patterns), (label, cards[label])
        assert re.search(r"Period: \d+ \w+ \d{4} – \d+ \w+ \d{4}, compared with", cards[label]), cards[label]


def test_different_figures_have_different_labels():
    labels = [entry.label for entry in _METRICS]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    assert not repeated, f"two catalogue entries share a label: {repeated}"
    assert len(CATALOGUE) == len(_METRICS), "two catalogue entries share an id"


def test_every_entry_names_a_function_that_exists():
    for entry in _METRICS:
        module_name, *attributes = entry.computed_by.split(".")
        target = importlib.import_module(module_name)
        path = module_name
        for name in attributes:  # deepest importable module first, then attributes
            path = f"{path}.{name}"
            try:
                target = importlib.import_module(path)
            except ImportError:
                target = getattr(target, name, None)
                assert target is not None, f"{entry.id}: {entry.computed_by} does not exist"


def test_templates_resolve():
    assert metric("tier.Key accounts.customers").id == "tier.{tier}.customers"
    assert metric("maturity.payne_frow").id == "maturity.{model}"
    with pytest.raises(KeyError):
        metric("no_such_figure")


def test_docs_are_generated_from_the_catalogue():
    text = (ROOT / "docs" / "metrics.md").read_text()
    assert update_docs(text) == text, "docs/metrics.md is out of date: run `python -m crm_core.metrics`"
    assert catalogue_markdown() in text
    for entry in _METRICS:
        assert re.search(re.escape(f"| {entry.id.split('{')[0]}"), text), entry.id


@pytest.fixture(scope="module")
def shown_in_euros() -> dict[str, tuple[list, list]]:
    """Every page's cards and chart specs with the view's currency set to EUR."""
    from crm_core.settings import AnalysisSettings

    return {page: ([(card.label, card.value) for card in at.metric],
                   [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")])
            for page, at in _tour(AnalysisSettings(currency="EUR"))}


def test_currency_shows_on_every_money_card_and_axis(shown_in_euros):
    by_label = {entry.label: entry for entry in _METRICS}
    money_cards = money_axes = 0
    for page, (cards, specs) in shown_in_euros.items():
        for label, value in cards:
            entry = by_label.get(label)
            if entry is not None and entry.unit == "money" and value not in ("–", "n/a"):
                assert value.startswith("€") or value.startswith("-€"), f"{page}: {label} = {value}"
                money_cards += 1
        for spec in specs:
            for axis in (spec["layout"].get("meta") or {}).get("money_axes", []):
                settings = spec["layout"][f"{axis[0]}axis{axis[1:]}"]
                assert settings.get("tickprefix") == "€", f"{page}: {spec['layout'].get('title')} {axis}"
                money_axes += 1
    assert money_cards >= 10 and money_axes >= 10, (money_cards, money_axes)
