"""The deck as an editable PowerPoint file (python-pptx).

One slide per deck entry: the title (headline unless retitled), the chart as
a native PowerPoint chart carrying its numbers (column, bar, stacked, line,
pie/doughnut, XY scatter, bubble) so a manager can restyle it and edit the
values, the takeaway as text, and speaker notes with the figure's definition,
period, filters and settings. Charts PowerPoint has no type for (Sankey,
heatmap, treemap) go in as a sharp picture printed by headless Chromium (a
table when Chromium is missing), with their data as a table in the notes.
A title slide opens the deck and slides of definitions close it.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from pptx import Presentation
from pptx.chart.data import BubbleChartData, CategoryChartData, XyChartData
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.dml.color import RGBColor
from pptx.util import Inches, Pt

from crm_core.charts.native import CATEGORY_KINDS, NativeChart
from crm_core.charts.present import enlarged
from crm_core.charts.text import plain_text
from crm_core.deck import Slide
from crm_core.deck_pictures import CHART_HEIGHT, CHART_TOP, HEIGHT, MARGIN, PICTURE_SIZE, WIDTH, PendingPicture, \
    add_picture, page_png
from crm_core import format as fmt
from crm_core.format import NumberStyle

MAX_NOTE_ROWS = 40
DEFINITIONS_PER_SLIDE = 5

_CHART_TYPES = {
    "column": XL_CHART_TYPE.COLUMN_CLUSTERED,
    "bar": XL_CHART_TYPE.BAR_CLUSTERED,
    "stacked_column": XL_CHART_TYPE.COLUMN_STACKED,
    "stacked_bar": XL_CHART_TYPE.BAR_STACKED,
    "line": XL_CHART_TYPE.LINE_MARKERS,
    "pie": XL_CHART_TYPE.PIE,
    "doughnut": XL_CHART_TYPE.DOUGHNUT,
    "scatter": XL_CHART_TYPE.XY_SCATTER,
    "scatter_lines": XL_CHART_TYPE.XY_SCATTER_LINES_NO_MARKERS,
    "bubble": XL_CHART_TYPE.BUBBLE,
}
_SETTING_LABELS = {
    "horizon_months": "lifetime-value horizon (months)",
    "overdue_factor": "overdue after (× usual gap)",
    "currency": "currency",
}


@dataclass(frozen=True)
class DeckMeta:
    """What the title slide and every speaker note say about the whole deck."""

    dataset: str
    period: tuple[dt.date, dt.date] | None
    customers: int
    currency: str = ""
    prepared: dt.date = field(default_factory=dt.date.today)
    filters: str = ""
    title: str = "Customer portfolio review"
    locale: str = "en"


@dataclass(frozen=True)
class PptxResult:
    """What was written: slides in all, native charts, pictures and tables standing in for charts; the pictures
    left to draw (``write_pptx(..., pictures_later=folder)``), each counted among the tables meanwhile."""

    path: Path
    slides: int
    native_charts: int
    pictures: int
    tables: int
    pending: tuple[PendingPicture, ...] = ()


def period_text(period: tuple[dt.date, dt.date] | None) -> str:
    return fmt.period(*period, " – ") if period else "the whole history"


def settings_text(settings: dict[str, Any]) -> str:
    """'lifetime-value horizon (months) 12; overdue after (× usual gap) 2' (period and empty values left out)."""
    parts = []
    for key, value in settings.items():
        if key in ("start", "end", "chart_title", "takeaway", "definition", "page_title", "dataset") or \
                value in (None, "", [], {}):
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        parts.append(f"{_SETTING_LABELS.get(key, key.replace('_', ' '))} {shown}")
    return "; ".join(parts) or "the defaults"


def _filters_and_settings(values: dict[str, Any]) -> tuple[str, str]:
    """(filters, settings) in words: a finding's settings are described, a page chart's listed."""
    if "analysis" in values:
        from crm_core.findings import FindingSettings

        try:
            settings = FindingSettings.from_dict(values)
        except (TypeError, ValueError):
            return "", settings_text({k: v for k, v in values.items() if k != "analysis"})
        described = "; ".join(f"{name}: {value}" for name, value in settings.describe())
        if values.get("page_choices"):
            described += f"; choices on the page: {values['page_choices']}"
        return settings.filters_text(), described
    return str(values.get("filters") or ""), settings_text({k: v for k, v in values.items() if k != "filters"})


def table_text(frame: pl.DataFrame, max_rows: int = MAX_NOTE_ROWS) -> str:
    """A frame as tab-separated lines (header first) for speaker notes."""
    lines = ["\t".join(frame.columns)]
    lines += ["\t".join("" if v is None else str(v) for v in row) for row in frame.head(max_rows).iter_rows()]
    if frame.height > max_rows:
        lines.append(f"(first {max_rows} of {frame.height:,} rows)")
    return "\n".join(lines)


def speaker_notes(slide: Slide, meta: DeckMeta, data_table: pl.DataFrame | None = None) -> str:
    """The presenter's notes, then definition, period, filters, settings and (for pictures) the data."""
    parts = [slide.speaker_notes] if slide.speaker_notes else []
    if slide.takeaway:
        parts.append(f"Takeaway: {slide.takeaway}")
    parts.append(f"Definition: {slide.definition or 'see the closing slides.'}")
    parts.append(f"Period: {period_text(slide.period or meta.period)}")
    filters, settings = _filters_and_settings(slide.settings)
    filters = filters or meta.filters
    parts.append(f"Filters: {filters if filters else 'none (every customer and order of the period)'}")
    parts.append(f"Settings: {settings}")
    if data_table is not None and data_table.height:
        parts.append("Data of the chart:\n" + table_text(data_table))
    return "\n".join(parts)


# --- Charts -------------------------------------------------------------------------------------


def _chart_data(chart: NativeChart) -> Any:
    if chart.kind in CATEGORY_KINDS:
        categories = CategoryChartData(number_format=chart.number_format)
        categories.categories = list(chart.categories)
        for series in chart.series:
            categories.add_series(series.name, list(series.values))
        return categories
    data: Any = BubbleChartData(number_format=chart.number_format) if chart.kind == "bubble" else XyChartData(
        number_format=chart.number_format)
    for series in chart.series:
        target = data.add_series(series.name)
        for index, (x, y) in enumerate(zip(series.x, series.values)):
            if chart.kind == "bubble":
                target.add_data_point(x, y, series.sizes[index] if index < len(series.sizes) else 1.0)
            else:
                target.add_data_point(x, y)
    return data


def add_native_chart(pptx_slide: Any, chart: NativeChart, left: int, top: int, width: int, height: int) -> Any:
    """Place ``chart`` as an editable chart; returns the python-pptx chart."""
    frame = pptx_slide.shapes.add_chart(_CHART_TYPES[chart.kind], left, top, width, height, _chart_data(chart))
    graphic = frame.chart
    if chart.title:
        graphic.has_title = True
        graphic.chart_title.text_frame.text = chart.title
        graphic.chart_title.text_frame.paragraphs[0].font.size = Pt(14)
    graphic.has_legend = len(chart.series) > 1 or chart.kind in ("pie", "doughnut")
    if graphic.has_legend:
        graphic.legend.position = XL_LEGEND_POSITION.BOTTOM
        graphic.legend.include_in_layout = False
        graphic.legend.font.size = Pt(12)
    graphic.font.size = Pt(12)
    if chart.kind in ("bar", "stacked_bar"):
        graphic.category_axis.reverse_order = True  # first category on top, as on screen
        # ... and the value axis stays at the bottom: it crosses the reversed category axis at its last category
        for crosses in graphic._chartSpace.xpath(".//c:valAx/c:crosses"):
            crosses.set("val", "max")
    if chart.kind not in ("pie", "doughnut"):
        graphic.value_axis.tick_labels.number_format = chart.number_format
        graphic.value_axis.tick_labels.number_format_is_linked = False
        graphic.value_axis.has_major_gridlines = True
    return graphic


def picture_page(figure: Any, size: tuple[int, int] = PICTURE_SIZE) -> str:
    """The HTML page printing a Plotly figure at ``size`` CSS pixels (Plotly's script inline, no toolbar)."""
    from plotly.offline import get_plotlyjs

    width, height = size
    figure.update_layout(width=width, height=height)
    body = figure.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False, "staticPlot": True})
    return (f"<!doctype html><html><head><meta charset='utf-8'><script>{get_plotlyjs()}</script>"
            f"<style>body{{margin:0;background:white}}</style></head><body>{body}</body></html>")


def figure_png(figure: Any, size: tuple[int, int] = PICTURE_SIZE, chromium: str | None = None) -> bytes | None:
    """A PNG of a Plotly figure printed by headless Chromium at twice the density; None without Chromium."""
    from crm_core.chromium import chromium_path

    chromium = chromium or chromium_path()
    if chromium is None:
        return None
    with tempfile.TemporaryDirectory(prefix="crm-picture-") as folder:
        html_path = Path(folder) / "chart.html"
        html_path.write_text(picture_page(figure, size), encoding="utf-8")
        return page_png(html_path, chromium, size)


def add_table(pptx_slide: Any, frame: pl.DataFrame, left: int, top: int, width: int, height: int, max_rows: int = 12) -> None:
    """A plain PowerPoint table of ``frame`` (first rows), the fallback for a chart without Chromium."""
    shown = frame.head(max_rows)
    shape = pptx_slide.shapes.add_table(shown.height + 1, len(shown.columns), left, top, width, height)
    for column, name in enumerate(shown.columns):
        shape.table.cell(0, column).text = str(name)
    for row, values in enumerate(shown.iter_rows(), start=1):
        for column, value in enumerate(values):
            shape.table.cell(row, column).text = "" if value is None else str(value)
    for cell in (c for r in shape.table.rows for c in r.cells):
        for paragraph in cell.text_frame.paragraphs:
            paragraph.font.size = Pt(11)


# --- Slides -------------------------------------------------------------------------------------


def _text_box(pptx_slide: Any, text: str, left: int, top: int, width: int, height: int, size: int,
              bold: bool = False) -> None:
    frame = pptx_slide.shapes.add_textbox(left, top, width, height).text_frame
    frame.word_wrap = True
    for index, line in enumerate(text.split("\n")):
        paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
        paragraph.text = line
        paragraph.font.size = Pt(size)
        paragraph.font.bold = bold


def _title(pptx_slide: Any, text: str) -> None:
    title = pptx_slide.shapes.title
    title.left, title.top, title.width, title.height = MARGIN, Inches(0.3), WIDTH - 2 * MARGIN, Inches(1.1)
    title.text = text
    for paragraph in title.text_frame.paragraphs:
        paragraph.font.size = Pt(26 if len(text) < 110 else 21)
        paragraph.font.bold = True
    title.text_frame.word_wrap = True


def _native_of(slide: Slide) -> tuple[NativeChart | None, Any]:
    """(native chart or None, Plotly figure) of a slide."""
    from crm_core.charts import registry

    if slide.chart:
        return registry.native(slide.chart, slide.data), registry.figure(slide.chart, slide.data)
    import plotly.io as pio

    from crm_core.charts.native import from_figure

    figure = pio.from_json(slide.figure_json)
    return from_figure(figure), figure


def _chart_data_table(slide: Slide, figure: Any) -> pl.DataFrame:
    """The numbers of a chart drawn as a picture, for the notes: the finding's table, else the traces'."""
    if slide.table is not None:
        return slide.table
    rows = []
    for trace in figure.data:
        plain = trace.to_plotly_json()
        for key in ("x", "y", "z", "values", "labels", "value"):
            if plain.get(key) is not None:
                shown = [plain_text(v) if isinstance(v, str) else v for v in plain[key]]  # labels as typed
                rows.append((plain_text(plain.get("name") or plain.get("type")), key, str(shown)[:500]))
    return pl.DataFrame(rows, schema={"trace": pl.String, "field": pl.String, "values": pl.String}, orient="row")


def write_pptx(slides: list[Slide], meta: DeckMeta, path: Path | str | BinaryIO, chromium: str | None = None,
               pictures_later: Path | None = None) -> PptxResult:
    """Write the deck to ``path`` (.pptx file or a binary stream); raises OSError when it cannot be written.

    ``pictures_later``: a folder where the page of each chart drawn as a picture is written instead of being
    printed now; the deck holds the chart's table meanwhile, and :func:`crm_core.deck_pictures.draw_pictures`
    puts the pictures in afterwards (``PptxResult.pending``), from a process without this one's tables."""
    presentation = Presentation()
    presentation.slide_width, presentation.slide_height = WIDTH, HEIGHT
    title_layout, title_only = presentation.slide_layouts[0], presentation.slide_layouts[5]
    _title_slide(presentation.slides.add_slide(title_layout), meta)
    natives = pictures = tables = 0
    pending: list[PendingPicture] = []
    if pictures_later is not None:
        from crm_core.chromium import chromium_path

        chromium = chromium or chromium_path()
    later = pictures_later if pictures_later is not None and chromium is not None else None
    content_width = WIDTH - 2 * MARGIN
    for slide in slides:
        page = presentation.slides.add_slide(title_only)
        _title(page, slide.title)
        data_table = None
        if slide.has_chart:
            chart, figure = _native_of(slide)
            if chart is not None:
                add_native_chart(page, chart, MARGIN, CHART_TOP, content_width, CHART_HEIGHT)
                natives += 1
            else:
                data_table = _chart_data_table(slide, figure)
                legible = enlarged(figure, height=PICTURE_SIZE[1])  # labels legible
                if later is not None:  # the table stands in until the picture is drawn
                    page_path = later / f"slide-{len(presentation.slides) - 1}.html"
                    page_path.write_text(picture_page(legible), encoding="utf-8")
                    pending.append(PendingPicture(len(presentation.slides) - 1, str(page_path)))
                png = None if later is not None else figure_png(legible, chromium=chromium)
                if png is not None:
                    add_picture(page, png)
                    pictures += 1
                else:
                    add_table(page, data_table, MARGIN, CHART_TOP, content_width, CHART_HEIGHT)
                    tables += 1
        elif slide.table is not None and slide.table.height:
            add_table(page, slide.table, MARGIN, CHART_TOP, content_width, CHART_HEIGHT)
        lines = [line for line in (slide.takeaway, slide.note) if line]
        if slide.title != slide.headline:
            lines.insert(0, slide.headline)
        if lines:
            _text_box(page, "\n".join(lines), MARGIN, Inches(6.3), content_width, Inches(1.0), 15)
        page.notes_slide.notes_text_frame.text = speaker_notes(slide, meta, data_table)
    _definitions(presentation, slides, meta)
    if isinstance(path, (str, Path)):
        path = Path(path)
        presentation.save(str(path))
    else:
        presentation.save(path)
    return PptxResult(path if isinstance(path, Path) else Path("deck.pptx"), len(presentation.slides), natives,
                      pictures, tables, tuple(pending))


def _title_slide(page: Any, meta: DeckMeta) -> None:
    """Title, then dataset, period, currency, customers and date, placed for the 16:9 slide.

    The default template's placeholders are laid out for 4:3 slides: they are
    moved and sized here, or the lines wrap and run off the slide.
    """
    title, facts = page.shapes.title, page.placeholders[1]
    title.left, title.top, title.width, title.height = MARGIN, Inches(1.2), WIDTH - 2 * MARGIN, Inches(1.6)
    title.text = meta.title
    title.text_frame.word_wrap = True
    title.text_frame.paragraphs[0].font.size = Pt(40)
    title.text_frame.paragraphs[0].font.bold = True
    facts.left, facts.top, facts.width, facts.height = MARGIN, Inches(3.1), WIDTH - 2 * MARGIN, Inches(3.6)
    facts.text = "\n".join([
        f"Dataset: {meta.dataset}",
        f"Period: {period_text(meta.period)}",
        f"Currency: {meta.currency or 'as in the data (no symbol)'}",
        f"Customers: {NumberStyle(meta.currency, meta.locale).count(meta.customers)}",
        f"Prepared on {fmt.date(meta.prepared)}",
    ])
    facts.text_frame.word_wrap = True
    for paragraph in facts.text_frame.paragraphs:
        paragraph.font.size = Pt(22)
        paragraph.font.color.rgb = RGBColor(0x33, 0x3F, 0x4C)  # the template's grey is too pale for a projector


def _definitions(presentation: Any, slides: list[Slide], meta: DeckMeta) -> None:
    """Closing slides: what each figure means, five to a slide."""
    seen, terms = set(), []
    for slide in slides:
        name = slide.area or slide.title
        if slide.definition and name not in seen:
            seen.add(name)
            terms.append((name, slide.definition))
    terms.append(("Revenue", ("Net of returns: negative amounts are returns and lower revenue. "
                              f"Figures cover {period_text(meta.period)}, as of its last day.")))
    layout = presentation.slide_layouts[5]
    for start in range(0, len(terms), DEFINITIONS_PER_SLIDE):
        page = presentation.slides.add_slide(layout)
        _title(page, "Definitions" if start == 0 else "Definitions (continued)")
        frame = page.shapes.add_textbox(MARGIN, Inches(1.4), WIDTH - 2 * MARGIN, Inches(5.6)).text_frame
        frame.word_wrap = True
        for index, (name, text) in enumerate(terms[start:start + DEFINITIONS_PER_SLIDE]):
            paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
            term = paragraph.add_run()
            term.text, term.font.bold, term.font.size = f"{name}: ", True, Pt(14)
            body = paragraph.add_run()
            body.text, body.font.size = text, Pt(14)
            paragraph.space_after = Pt(8)


__all__ = ["DeckMeta", "PptxResult", "add_native_chart", "figure_png", "speaker_notes", "write_pptx"]
