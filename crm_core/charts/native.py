"""Charts as plain data for office files: what a native PowerPoint chart needs.

A :class:`NativeChart` holds a chart kind, categories and named series of
numbers, nothing drawn. :mod:`crm_core.deck_pptx` turns it into an editable
PowerPoint chart. Builders for the findings are in
:mod:`crm_core.charts.registry`; :func:`from_figure` reads any Plotly figure
(a chart added to the deck from a page) and returns ``None`` for the types
PowerPoint has no chart for (Sankey, heatmap, treemap, ...), which then go in
as a picture.
"""
from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from crm_core import format as fmt
from crm_core.charts.text import plain_text

ChartKind = Literal["column", "bar", "stacked_column", "stacked_bar", "line", "pie", "doughnut", "scatter",
                    "scatter_lines", "bubble"]

#: Kinds whose series are y values over shared categories (the others carry x and y per point).
CATEGORY_KINDS = ("column", "bar", "stacked_column", "stacked_bar", "line", "pie", "doughnut")


@dataclass(frozen=True)
class Series:
    """One series: its name and values; ``x`` and ``sizes`` only for scatter and bubble charts."""

    name: str
    values: tuple[float | None, ...]
    x: tuple[float, ...] = ()
    sizes: tuple[float, ...] = ()


@dataclass(frozen=True)
class NativeChart:
    """A chart as data: kind, category labels (category kinds) and series.

    ``number_format`` is an Excel number format for the value axis and labels
    ('#,##0', '0%', ...).
    """

    kind: ChartKind
    title: str
    categories: tuple[str, ...] = ()
    series: tuple[Series, ...] = field(default_factory=tuple)
    number_format: str = "#,##0"
    x_title: str = ""
    y_title: str = ""

    def values(self) -> list[float]:
        """Every finite value of every series (for checks such as 'adds up to total revenue')."""
        return [v for s in self.series for v in s.values if v is not None and math.isfinite(v)]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def column_chart(title: str, categories: list, series: dict[str, list], kind: ChartKind = "column",
                 number_format: str = "#,##0", y_title: str = "") -> NativeChart:
    """A category chart from plain lists (values None or NaN become gaps)."""
    return NativeChart(kind, title, tuple(_label(c) for c in categories),
                       tuple(Series(name, tuple(_number(v) for v in values)) for name, values in series.items()),
                       number_format, y_title=y_title)


def _label(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return fmt.date(value) if (value.hour, value.minute) != (0, 0) or value.day != 1 else fmt.month(value)
    if isinstance(value, dt.date):
        return fmt.month(value) if value.day == 1 else fmt.date(value)
    return str(value)  # text as typed: figure labels are read back with plain_text, raw data is never markup


# --- Any Plotly figure -------------------------------------------------------------------------

#: Plotly trace types PowerPoint has a chart for.
_NATIVE_TRACES = {"bar", "scatter", "pie"}


def _array(value: Any) -> list:
    """A trace array as a list: plain sequences, numpy arrays or Plotly's typed-array JSON ({dtype, bdata})."""
    if value is None:
        return []
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value.get("dtype", "f8")))
        shape = value.get("shape")
        return (data.reshape([int(n) for n in str(shape).split(",")]) if shape else data).tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value)


def _text(value: Any) -> str:
    """A title or name read from a figure, as the user typed it (figures hold it escaped)."""
    if value is None:
        return ""
    text = getattr(value, "text", value)
    return plain_text(text)


def _categories(values: list) -> list:
    """Category labels read from a figure: text as the user typed it, dates and numbers as they are."""
    return [plain_text(value) if isinstance(value, str) else value for value in values]


def from_figure(figure: Any) -> NativeChart | None:
    """The native chart of a Plotly figure, or None when PowerPoint has no such chart.

    Bars become column (vertical) or bar (horizontal) charts, stacked when the
    layout stacks them; lines over categories or dates become line charts;
    lines or markers over numbers become XY scatter charts (bubble when marker
    sizes vary); pies become pie or doughnut charts. Figures mixing types, or
    drawing on several subplots, have no single native chart.
    """
    data = [trace.to_plotly_json() if hasattr(trace, "to_plotly_json") else dict(trace) for trace in figure.data]
    if not data:
        return None
    types = {trace.get("type", "scatter") for trace in data}
    if len(types) != 1 or not types <= _NATIVE_TRACES:
        return None
    if len({(trace.get("xaxis", "x"), trace.get("yaxis", "y")) for trace in data}) > 1:
        return None  # subplots
    layout = figure.layout
    title = _text(layout.title.text if layout.title else "")
    kind = types.pop()
    if kind == "pie":
        return _pie(data[0], title)
    if kind == "bar":
        return _bars(data, title, layout.barmode or "group")
    return _scatter(data, title)


def _pie(trace: dict, title: str) -> NativeChart:
    labels, values = _categories(_array(trace.get("labels"))), _array(trace.get("values"))
    kind: ChartKind = "doughnut" if (trace.get("hole") or 0) > 0 else "pie"
    return column_chart(title, labels, {_text(trace.get("name")) or "Value": values}, kind)


def _bars(data: list[dict], title: str, barmode: str) -> NativeChart | None:
    horizontal = data[0].get("orientation") == "h"
    categories_key, values_key = ("y", "x") if horizontal else ("x", "y")
    categories: list = []
    for trace in data:
        for category in _array(trace.get(categories_key)):
            if category not in categories:
                categories.append(category)
    series = {}
    for index, trace in enumerate(data):
        lookup = dict(zip(_array(trace.get(categories_key)), _array(trace.get(values_key))))
        series[_text(trace.get("name")) or f"Series {index + 1}"] = [lookup.get(c) for c in categories]
    stacked = barmode in ("stack", "relative")
    kind: ChartKind = ("stacked_bar" if stacked else "bar") if horizontal else ("stacked_column" if stacked else "column")
    return column_chart(title, _categories(categories), series, kind)


def _scatter(data: list[dict], title: str) -> NativeChart | None:
    xs = [_array(trace.get("x")) for trace in data]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for x in xs for v in x)
    if not numeric:  # categories or dates: a line chart over the first trace's x
        categories = xs[0]
        lines: dict[str, list] = {}
        for index, trace in enumerate(data):
            lookup = dict(zip(_array(trace.get("x")), _array(trace.get("y"))))
            lines[_text(trace.get("name")) or f"Series {index + 1}"] = [lookup.get(c) for c in categories]
        return column_chart(title, _categories(categories), lines, "line")
    sized = [trace for trace in data if isinstance((trace.get("marker") or {}).get("size"), (list, tuple, dict))]
    joined = any("lines" in (trace.get("mode") or "lines") for trace in data)
    kind: ChartKind = "bubble" if sized else ("scatter_lines" if joined else "scatter")
    series = []
    for index, (trace, x) in enumerate(zip(data, xs)):
        y = [_number(v) for v in _array(trace.get("y"))]
        pairs = [(float(a), b) for a, b in zip(x, y) if b is not None and _number(a) is not None]
        size = (trace.get("marker") or {}).get("size")
        sizes = [float(s) for s in _array(size)] if isinstance(size, (list, tuple, dict)) else [1.0] * len(pairs)
        series.append(Series(_text(trace.get("name")) or f"Series {index + 1}", tuple(b for _, b in pairs),
                             tuple(a for a, _ in pairs), tuple(sizes[:len(pairs)]) if sized else ()))
    return NativeChart(kind, title, (), tuple(series))
