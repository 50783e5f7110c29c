"""The deck: model and store, native charts from any figure, and the PowerPoint file checked against the engine."""
from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from plotly.subplots import make_subplots
from pptx import Presentation

from crm_core.__main__ import main
from crm_core.charts.native import from_figure
from crm_core.customers import summarize
from crm_core.deck import (
    Deck,
    DeckEntry,
    DeckError,
    DeckStore,
    default_deck,
    prepare_slides,
)
from crm_core.findings import REGISTRY, FindingSettings
from crm_core.ingest import read_orders

ROOT = Path(__file__).resolve().parent.parent
DEMO_ORDERS = ROOT / "data" / "demo" / "transactions.parquet"


# --- Deck model -------------------------------------------------------------------------------


def _page_entry(title: str = "Chart") -> DeckEntry:
    figure = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": {"text": title}})
    return DeckEntry("chart:pf_pareto", settings=json.dumps({"chart_title": title}), figure_json=figure.to_json())


def test_default_deck_covers_every_finding_in_order():
    deck = default_deck()
    assert [entry.figure_id for entry in deck.entries] == list(REGISTRY)
    assert {"kpis", "concentration", "tiers", "migration", "segments", "retention", "value", "at_risk", "actions",
            "service_cost"} <= set(REGISTRY)


def test_deck_edits_return_new_decks():
    deck = Deck((DeckEntry("kpis"), DeckEntry("tiers"), _page_entry()))
    assert [e.figure_id for e in deck.moved(2, -1).entries] == ["kpis", "chart:pf_pareto", "tiers"]
    assert [e.figure_id for e in deck.moved(0, -5).entries] == ["kpis", "tiers", "chart:pf_pareto"]  # clamped
    assert [e.figure_id for e in deck.moved(0, 9).entries] == ["tiers", "chart:pf_pareto", "kpis"]
    assert [e.figure_id for e in deck.removed(1).entries] == ["kpis", "chart:pf_pareto"]
    edited = deck.edited(1, title="  Our tiers ", note="Look at Gold", speaker_notes="Pause here")
    assert (edited.entries[1].title, edited.entries[1].note, edited.entries[1].speaker_notes) == \
        ("Our tiers", "Look at Gold", "Pause here")
    assert deck.entries[1].title == ""  # the original is unchanged
    assert Deck.from_json(edited.to_json()) == edited


def test_deck_rejects_what_it_cannot_keep():
    with pytest.raises(DeckError, match="no finding"):
        DeckEntry("nope")
    with pytest.raises(DeckError, match="must carry its figure"):
        DeckEntry("chart:x")
    with pytest.raises(DeckError, match="too long"):
        DeckEntry("kpis", title="x" * 500)
    with pytest.raises(DeckError, match="JSON object"):
        DeckEntry("kpis", settings="[1]")
    with pytest.raises(DeckError, match="not a deck"):
        Deck.from_json('{"slides": 3}')
    with pytest.raises(DeckError, match="at most"):
        Deck(tuple(DeckEntry("kpis") for _ in range(61)))
    with pytest.raises(DeckError, match="no field"):
        Deck((DeckEntry("kpis"),)).edited(0, figure_id="tiers")


def test_store_saves_by_name_and_loads_by_id(tmp_path):
    store = DeckStore(tmp_path)
    deck = Deck((DeckEntry("tiers", title="<b>Tiers</b>"),))
    deck_id = store.save("Board", "demo", deck)
    assert store.load(deck_id) == ("Board", deck)
    assert store.save("Board", "demo", deck.added(DeckEntry("kpis"))) == deck_id  # same name: overwritten
    assert store.list()["slides"].to_list() == [2]
    assert store.load("999") is None and store.load("abc") is None
    store.delete(deck_id)
    assert store.list().height == 0


# --- Native charts from any Plotly figure --------------------------------------------------------


def test_native_chart_of_page_figures():
    bars = from_figure(go.Figure([go.Bar(x=["a", "b"], y=[1, 2], name="One"), go.Bar(x=["b", "c"], y=[5, 7], name="Two")],
                                 layout={"barmode": "stack", "title": {"text": "T"}}))
    assert (bars.kind, bars.title, bars.categories) == ("stacked_column", "T", ("a", "b", "c"))
    assert [s.values for s in bars.series] == [(1.0, 2.0, None), (None, 5.0, 7.0)]
    horizontal = from_figure(go.Figure(go.Bar(y=["x", "y"], x=[3, 4], orientation="h")))
    assert horizontal.kind == "bar" and horizontal.series[0].values == (3.0, 4.0)
    import datetime as dt

    line = from_figure(go.Figure(go.Scatter(x=[dt.date(2024, 1, 1), dt.date(2024, 2, 1)], y=[10, 20], mode="lines")))
    assert line.kind == "line" and line.categories == ("Jan 2024", "Feb 2024")
    doughnut = from_figure(go.Figure(go.Pie(labels=["a", "b"], values=[1, 3], hole=0.4)))
    assert doughnut.kind == "doughnut" and doughnut.values() == [1.0, 3.0]
    bubble = from_figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4], mode="markers", marker={"size": [10, 20]})))
    assert bubble.kind == "bubble" and bubble.series[0].sizes == (10.0, 20.0)
    # numpy arrays survive Plotly's typed-array JSON
    import numpy as np

    restored = pio.from_json(go.Figure(go.Scatter(x=np.array([0.1, 0.5]), y=np.array([1.5, 2.5]), mode="markers")).to_json())
    assert from_figure(restored).series[0].x == (0.1, 0.5)


def test_no_native_chart_for_sankey_heatmap_or_subplots():
    assert from_figure(go.Figure(go.Sankey(node={"label": ["a", "b"]}, link={"source": [0], "target": [1], "value": [1]}))) is None
    assert from_figure(go.Figure(go.Heatmap(z=[[1, 2]]))) is None
    assert from_figure(go.Figure(go.Treemap(labels=["a"], parents=[""]))) is None
    two = make_subplots(rows=1, cols=2)
    two.add_trace(go.Bar(x=["a"], y=[1]), row=1, col=1)
    two.add_trace(go.Bar(x=["a"], y=[2]), row=1, col=2)
    assert from_figure(two) is None


# --- The PowerPoint file ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_pptx(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deck") / "deck.pptx"
    assert main(["deck", str(DEMO_ORDERS), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def demo_summary() -> pl.DataFrame:
    return summarize(read_orders(DEMO_ORDERS)[0]).collect()


def _charts(presentation) -> list:
    return [(slide, shape.chart) for slide in presentation.slides for shape in slide.shapes if shape.has_chart]


def test_default_deck_file_meets_the_contract(demo_pptx, demo_summary):
    presentation = Presentation(str(demo_pptx))
    slides = list(presentation.slides)
    assert len(slides) >= 8
    charts = _charts(presentation)
    assert len(charts) >= 6
    title_text = " ".join(shape.text_frame.text for shape in slides[0].shapes if shape.has_text_frame)
    assert f"Customers: {demo_summary.height:,}" in title_text and "Period:" in title_text and "Currency:" in title_text
    for slide in slides[1:]:
        has_chart = any(shape.has_chart or shape.shape_type == 13 for shape in slide.shapes)  # 13 = picture
        if has_chart:
            notes = slide.notes_slide.notes_text_frame.text
            for part in ("Definition:", "Period:", "Filters:", "Settings:"):
                assert part in notes, (slide.shapes.title.text, notes)
    assert slides[-1].shapes.title.text.startswith("Definitions")


def test_native_chart_values_match_the_engine(demo_pptx, demo_summary):
    total = float(demo_summary["revenue"].sum())
    charts = {chart.chart_title.text_frame.text if chart.has_title else "": chart for _, chart in _charts(Presentation(str(demo_pptx)))}
    sums = {title: sum(v for plot in chart.plots for series in plot.series for v in series.values if v is not None)
            for title, chart in charts.items()}
    assert sums["Revenue per month"] == pytest.approx(total, rel=1e-9)
    assert sums["Revenue per tier"] == pytest.approx(total, rel=1e-9)
    # segment shares: each series adds up to one (every customer and all revenue in exactly one segment)
    segments = charts["RFM segments: customers vs revenue"]
    for series in segments.plots[0].series:
        assert sum(series.values) == pytest.approx(1.0)
    month = charts["Revenue per month"]
    assert list(month.plots[0].categories)[0].endswith("2023") and month.chart_type is not None


def test_chart_without_native_type_is_a_picture_or_a_table(monkeypatch, tmp_path, demo_summary):
    from crm_core.dataset import load_dataset
    from crm_core.deck_pptx import DeckMeta, write_pptx

    monkeypatch.setenv("CRM_CHROMIUM", str(tmp_path / "no-chromium"))  # no Chromium: the table stands in
    dataset = load_dataset(ROOT / "data" / "demo")
    slides = prepare_slides(Deck((DeckEntry("migration"),)), dataset)
    result = write_pptx(slides, DeckMeta("demo", None, demo_summary.height), tmp_path / "m.pptx")
    assert (result.native_charts, result.pictures, result.tables) == (0, 0, 1)
    slide = Presentation(str(tmp_path / "m.pptx")).slides[1]
    assert any(shape.has_table for shape in slide.shapes)
    assert "Data of the chart:" in slide.notes_slide.notes_text_frame.text


def test_page_chart_entry_keeps_its_numbers(tmp_path, demo_summary):
    from crm_core.deck_pptx import DeckMeta, write_pptx

    figure = go.Figure(go.Pie(labels=["Email", "Phone"], values=[30, 70], hole=0.5), layout={"title": {"text": "Channels"}})
    entry = DeckEntry("chart:channels", note="From the Segments page", speaker_notes="Phone wins",
                      settings=json.dumps({"chart_title": "Channels", "filters": "seg_bins=4"}), figure_json=figure.to_json())
    slides = prepare_slides(Deck((entry,)), None)  # page charts need no dataset
    write_pptx(slides, DeckMeta("demo", None, 5), tmp_path / "p.pptx")
    slide = Presentation(str(tmp_path / "p.pptx")).slides[1]
    chart = next(shape.chart for shape in slide.shapes if shape.has_chart)
    assert list(chart.plots[0].series[0].values) == [30.0, 70.0]
    notes = slide.notes_slide.notes_text_frame.text
    assert notes.startswith("Phone wins") and "Filters: seg_bins=4" in notes


def test_deck_cli_unwritable_out_exits_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out in (blocker / "deck.pptx", tmp_path / "missing" / "deck.pptx", tmp_path, tmp_path / "deck.pdf"):
        assert main(["deck", str(DEMO_ORDERS), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) <= 200 and "Traceback" not in err


def test_deck_cli_view_sets_the_period(tmp_path, capsys):
    view = tmp_path / "view.json"
    view.write_text(json.dumps({"period": {"preset": "custom", "start": "2025-01-01", "end": "2025-06-30"},
                                "tiers": {"names": ["Top", "Rest"], "shares": [0.2, 0.8]}}))
    out = tmp_path / "half.pptx"
    assert main(["deck", str(DEMO_ORDERS), "--view", str(view), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    tx = read_orders(DEMO_ORDERS)[0]
    import datetime as dt

    from crm_core.customers import filter_period

    customers = summarize(filter_period(tx, dt.date(2025, 1, 1), dt.date(2025, 6, 30))).collect().height
    assert payload["customers"] == customers
    title = " ".join(s.text_frame.text for s in Presentation(str(out)).slides[0].shapes if s.has_text_frame)
    assert "01 Jan 2025 – 30 Jun 2025" in title and f"Customers: {customers:,}" in title
    tiers = [chart for _, chart in _charts(Presentation(str(out))) if chart.chart_title.text_frame.text == "Revenue per tier"]
    assert list(tiers[0].plots[0].categories) == ["Top", "Rest"]  # the view's tiers
    notes = [s.notes_slide.notes_text_frame.text for s in Presentation(str(out)).slides if s.has_notes_slide]
    assert any("Tiers: Top, Rest by revenue" in text for text in notes)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["deck", str(DEMO_ORDERS), "--view", str(bad), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_settings_round_trip():
    settings = FindingSettings(horizon_months=6, currency="$")
    assert FindingSettings.from_dict(settings.to_dict()) == settings
