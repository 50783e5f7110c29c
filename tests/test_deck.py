"""The deck: model and store, native charts from any figure, and the PowerPoint file checked against the engine."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
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


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (Debian's chromium)")
def test_deck_cli_draws_the_picture_after_its_child_exits(tmp_path):
    """The supervised child writes the migration Sankey's table and page; the CLI's own process prints the page
    with Chromium afterwards and puts the picture where the table was: the slide as ``write_pptx`` draws it."""
    import sys

    from crm_core.dataset import load_dataset
    from crm_core.deck_pptx import DeckMeta, write_pptx

    out = tmp_path / "deck.pptx"
    done = subprocess.run([sys.executable, "-m", "crm_core", "deck", str(DEMO_ORDERS), "--out", str(out), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["pictures"], payload["tables"]) == (1, 0) and set(payload) == {
        "pptx", "slides", "native_charts", "pictures", "tables", "customers",
        "rows_read", "rows_valid", "rows_rejected", "rejected_by_reason", "warnings"}  # the internal hand-off keys gone
    pictured = [slide for slide in Presentation(str(out)).slides if any(shape.shape_type == 13 for shape in slide.shapes)]
    assert len(pictured) == 1 and not any(shape.has_table for shape in pictured[0].shapes)
    direct = tmp_path / "direct.pptx"
    slides = prepare_slides(Deck((DeckEntry("migration"),)), load_dataset(ROOT / "data" / "demo"))
    assert write_pptx(slides, DeckMeta("demo", None, 5), direct).pictures == 1
    drawn = Presentation(str(direct)).slides[1]

    def shapes(slide):
        return [(shape.shape_type, shape.left, shape.top, shape.width, shape.height) for shape in slide.shapes]

    assert shapes(pictured[0]) == shapes(drawn)
    assert pictured[0].notes_slide.notes_text_frame.text == drawn.notes_slide.notes_text_frame.text


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
    assert "1 Jan 2025 – 30 Jun 2025" in title and f"Customers: {customers:,}" in title
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


# --- What PowerPoint, Keynote and LibreOffice need from the file ------------------------------------

C_NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}


def _xpath(element, path: str) -> list:
    """lxml's xpath with the chart namespaces (python-pptx's own elements take no namespaces argument)."""
    from lxml import etree

    return etree._Element.xpath(element, path, namespaces=C_NS)


def _workbook_values(workbook, reference: str) -> list:
    """Cell values of 'Sheet1!$B$2:$B$37' in an openpyxl workbook, in order."""
    sheet_name, cells = reference.split("!")
    rows = workbook[sheet_name.strip("'")][cells.replace("$", "")]
    cells = [cell for row in (rows if isinstance(rows, tuple) else ((rows,),)) for cell in row]
    return [cell.value for cell in cells]


def _check_chart_part(chart) -> None:
    """Embedded workbook present and equal to the cached numbers; no series without a finite value."""
    import io
    import math

    import openpyxl

    xlsx = chart.part.chart_workbook.xlsx_part
    assert xlsx is not None and xlsx.blob, "a chart without its workbook cannot be edited in PowerPoint or Keynote"
    space = chart._chartSpace
    assert _xpath(space, "./c:externalData/@r:id"), "the chart does not point to its workbook"
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.blob))
    series = _xpath(space, ".//c:ser")
    assert series
    for ser in series:
        numbers = _xpath(ser, "./c:val/c:numRef | ./c:yVal/c:numRef")
        assert len(numbers) == 1
        cached = {int(pt.get("idx")): pt.findtext("c:v", namespaces=C_NS)
                  for pt in _xpath(numbers[0], "./c:numCache/c:pt")}
        values = [float(v) for v in cached.values()]
        assert values and all(math.isfinite(v) for v in values), "an empty series or a value that is not a number"
        for ref in _xpath(ser, ".//c:numRef"):  # values, x values, bubble sizes
            points = {int(pt.get("idx")): float(pt.findtext("c:v", namespaces=C_NS))
                      for pt in _xpath(ref, "./c:numCache/c:pt")}
            in_workbook = _workbook_values(workbook, ref.findtext("c:f", namespaces=C_NS))
            count = int(_xpath(ref, "./c:numCache/c:ptCount/@val")[0])
            assert len(in_workbook) == count
            assert {i: float(v) for i, v in enumerate(in_workbook) if v is not None} == pytest.approx(points)
        for ref in _xpath(ser, "./c:cat/c:strRef | ./c:tx/c:strRef"):
            labels = [pt.findtext("c:v", namespaces=C_NS) for pt in _xpath(ref, "./c:strCache/c:pt")]
            assert [str(v) for v in _workbook_values(workbook, ref.findtext("c:f", namespaces=C_NS))] == labels


def test_pptx_parts_are_what_office_apps_need(demo_pptx):
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(demo_pptx) as package:
        assert package.testzip() is None
        names = package.namelist()
        for name in names:  # every XML part parses (no stray control characters from the data)
            if name.endswith((".xml", ".rels")):
                etree.fromstring(package.read(name))
        types = package.read("[Content_Types].xml").decode()
    assert "drawingml.chart+xml" in types and "spreadsheetml.sheet" in types
    presentation = Presentation(str(demo_pptx))
    charts = _charts(presentation)
    assert len([name for name in names if name.startswith("ppt/embeddings/") and name.endswith(".xlsx")]) == len(charts)
    for _, chart in charts:
        _check_chart_part(chart)


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def _pdf_pages(pdf: Path) -> int:
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", done.stdout, re.MULTILINE).group(1))


def _page_image(pdf: Path, page: int, folder: Path):
    import numpy as np
    from PIL import Image

    stem = folder / f"page-{page}"
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(stem)],
                   capture_output=True, timeout=60, check=True)
    return np.asarray(Image.open(f"{stem}.png").convert("RGB")).astype(int)


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (.ci/run installs Debian's libreoffice-impress)")
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed (Debian's poppler-utils)")
@pytest.mark.timeout(600)
def test_libreoffice_impress_opens_the_deck_and_draws_its_charts(demo_pptx, tmp_path):
    """LibreOffice Impress converts the CLI's deck to PDF: one page per slide, every native chart drawn."""
    profile = tmp_path / "lo-profile"  # a private profile: no clash with another soffice, nothing left behind
    command = [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
               "--convert-to", "pdf", "--outdir", str(tmp_path), str(demo_pptx)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    pdf = tmp_path / "deck.pdf"
    assert done.returncode == 0 and pdf.is_file(), done.stderr[-500:]
    presentation = Presentation(str(demo_pptx))
    assert _pdf_pages(pdf) == len(presentation.slides)

    def coloured_share(page: int) -> tuple[float, float]:
        """(share of inked, share of coloured pixels) in the chart area of a page."""
        image = _page_image(pdf, page, tmp_path)
        height, width, _ = image.shape
        area = image[int(height * 0.19):int(height * 0.83), int(width * 0.04):int(width * 0.96)]
        inked = (area.min(axis=2) < 200).mean()
        coloured = ((area.max(axis=2) - area.min(axis=2)) > 60).mean()  # series colours, not black text
        return float(inked), float(coloured)

    chart_pages = {number: next(shape.chart for shape in slide.shapes if shape.has_chart)
                   for number, slide in enumerate(presentation.slides, start=1) if any(s.has_chart for s in slide.shapes)}
    assert len(chart_pages) >= 6
    for number, chart in chart_pages.items():
        inked, coloured = coloured_share(number)
        assert inked > 0.03 and coloured > 0.002, (number, chart.chart_title.text_frame.text, inked, coloured)
    monthly = next(n for n, c in chart_pages.items() if c.chart_title.text_frame.text == "Revenue per month")
    assert coloured_share(monthly)[1] > 0.04  # 36 bars of revenue, not an empty frame
    assert coloured_share(len(presentation.slides))[1] < 0.001  # the definitions page: text only


# --- A real-shaped Shopify export ---------------------------------------------------------------

SHOPIFY_COLUMNS = ["Name", "Email", "Financial Status", "Paid at", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
                   "Discount Code", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
                   "Cancelled at", "Refunded Amount"]


def _shopify_export(path: Path, orders: int = 160, seed: int = 7) -> None:
    """Orders of 40 customers over 17 months: line items, discounts, shipping and taxes, partial and full
    refunds, cancelled orders, e-mails in mixed case, as Shopify exports them."""
    import csv
    import datetime as dt
    import random

    rng = random.Random(seed)
    products = [("Rain Shell Jacket", "RSJ-1", 89.90), ("Wool Socks", "WS-2", 12.50), ("Trail Cap", "TC-3", 19.00),
                ("Down Vest", "DV-4", 129.00), ("Water Bottle", "WB-5", 9.95)]
    emails = [f"Customer{i}@Example.com" for i in range(40)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, SHOPIFY_COLUMNS)
        writer.writeheader()
        for number in range(1001, 1001 + orders):
            created = dt.datetime(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 500), hours=rng.randint(0, 23))
            lines = [(*rng.choice(products), rng.randint(1, 3)) for _ in range(rng.choice([1, 1, 2, 3]))]
            subtotal = round(sum(price * quantity for _, _, price, quantity in lines), 2)
            code = "WELCOME10" if rng.random() < 0.2 else ""
            subtotal = round(subtotal * 0.9, 2) if code else subtotal
            taxes = round(subtotal * 0.2, 2)
            total = round(subtotal + 4.90 + taxes, 2)
            draw = rng.random()
            refunded = total if draw < 0.07 else (round(total * 0.3, 2) if draw < 0.15 else 0.0)
            status = "refunded" if refunded == total else ("partially_refunded" if refunded else "paid")
            stamp = created.strftime("%Y-%m-%d %H:%M:%S +0100")
            for index, (name, sku, price, quantity) in enumerate(lines):
                row = {"Name": f"#{number}", "Created at": stamp, "Lineitem quantity": quantity, "Lineitem name": name,
                       "Lineitem price": f"{price:.2f}", "Lineitem sku": sku}
                if index == 0:
                    row.update({"Email": rng.choice(emails), "Financial Status": status, "Paid at": stamp,
                                "Currency": "EUR", "Subtotal": f"{subtotal:.2f}", "Shipping": "4.90",
                                "Taxes": f"{taxes:.2f}", "Total": f"{total:.2f}", "Discount Code": code,
                                "Cancelled at": stamp if rng.random() < 0.05 else "",
                                "Refunded Amount": f"{refunded:.2f}"})
                writer.writerow(row)


def test_deck_of_a_shopify_export_adds_up_to_summary_revenue(tmp_path, capsys):
    export = tmp_path / "orders_export_1.csv"
    _shopify_export(export)
    assert main(["summary", str(export), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected_by_reason"].get("cancelled order", 0) > 0  # the export has cancelled orders
    out = tmp_path / "shop.pptx"
    assert main(["deck", str(export), "--out", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["customers"] == summary["customers"]
    presentation = Presentation(str(out))
    assert len(presentation.slides) >= 8 and written["native_charts"] >= 6
    title = " ".join(shape.text_frame.text for shape in presentation.slides[0].shapes if shape.has_text_frame)
    assert f"Customers: {summary['customers']:,}" in title and "Currency: €" in title
    charts = {chart.chart_title.text_frame.text: chart for _, chart in _charts(presentation)}
    for name in ("Revenue per month", "Revenue per tier"):
        values = [v for plot in charts[name].plots for series in plot.series for v in series.values if v is not None]
        assert sum(values) == pytest.approx(summary["revenue"], abs=0.006), name  # summary rounds to the cent
    for slide in list(presentation.slides)[1:]:
        if any(shape.has_chart for shape in slide.shapes):
            assert "Definition:" in slide.notes_slide.notes_text_frame.text
    for _, chart in _charts(presentation):
        _check_chart_part(chart)
