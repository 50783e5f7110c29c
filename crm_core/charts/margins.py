"""Chart margins worked out from a figure's own labels, so the browser draws each chart once.

With ``automargin`` Plotly draws the axes, measures every tick label (a forced layout of the whole page),
widens the margins and draws the chart again: about half of a chart's drawing time in the browser, on
every visit of every page (a standalone Chromium drawing this app's figures: 0.2-0.6x the time without
it). :func:`settle_margins` sets each cartesian axis' ``automargin`` off and the margins wide enough for
the labels the axes will show: categories as they are, numbers formatted like Plotly does at the ends of
their range, dates by their tick format, with the axis titles, tick marks and a tilted axis' slant.
The estimate leans wide (a few pixels of white space rather than a cut label). Legends and colour bars
still push the margins themselves when they need more room (``margin.autoexpand`` stays on).
"""
from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["label_width", "settle_margins"]

#: Advance widths of a 13 px tick label's characters (the template's tick font), in thousandths of the font
#: size: Helvetica's metrics (Arial's, Liberation Sans'), which the browser falls back on for the template's
#: font list; :data:`_WIDER` adds room for Inter and Segoe UI. Other characters count as :data:`_OTHER`.
_WIDTHS = dict(zip(
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\u2013\u2212",
    (278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, *(556,) * 10, 278, 278, 584, 584,
     584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
     611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222,
     222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 556,
     584), strict=True))
_OTHER = 650
#: Most pixels the side margins may take together (a half-width chart is ~400 px wide); longer labels are left
#: to Plotly's automargin, which keeps the plot a share of the width.
_MOST_PX = 250
_MINUS = "\u2212"  # Plotly's minus sign
_FONT_PX = 13
_WIDER = 1.08
#: Height of one line of tick labels and of an axis title (15 px font), pixels.
_LINE_PX = 18
_TITLE_PX = 19
#: Each further line of an axis title broken with ``<br>`` (Plotly's line height: 1.3 x its 15 px font).
_TITLE_LINE_PX = 20
#: Tick marks ("outside", 5 px), their gap to the labels and the room left at the figure's edge.
_TICK_PX = 17
#: Cartesian traces: their x and y values sit on axes (pies, treemaps, polar charts and Sankeys have none).
_CARTESIAN = {"bar", "scatter", "scattergl", "histogram", "heatmap", "box", "violin", "waterfall", "funnel"}
_TAGS = re.compile(r"<[^>]+>")


def label_width(text: str) -> tuple[float, int]:
    """(width in pixels, lines) of a tick label at the template's tick font; ``<br>`` breaks lines."""
    lines = [html.unescape(_TAGS.sub("", line)) for line in re.split(r"<br\s*/?>", str(text))]
    return max((sum(map(_char_px, line)) for line in lines), default=0.0), len(lines)


def _char_px(char: str) -> float:
    return _WIDTHS.get(char, _OTHER) * _FONT_PX / 1000 * _WIDER


def _values(trace: Any, letter: str) -> list:
    """The values ``trace`` puts on its ``letter`` axis (a bar's base and error bars included)."""
    values = getattr(trace, letter, None)
    out = [] if values is None else list(np.asarray(values, dtype=object).ravel())
    if trace.type == "bar" and (getattr(trace, "orientation", None) or "v") == ("h" if letter == "x" else "v"):
        base = getattr(trace, "base", None)
        out += [0] if base is None else list(np.atleast_1d(np.asarray(base, dtype=object)).ravel())
        error = getattr(trace, f"error_{'x' if letter == 'x' else 'y'}", None)
        if error is not None and error.array is not None and out:
            numbers = [v for v in out if isinstance(v, (int, float))]
            widest = max((abs(float(e)) for e in error.array if isinstance(e, (int, float))), default=0.0)
            out += [max(numbers, default=0) + widest, min(numbers, default=0) - widest]
    counts = "y" if (getattr(trace, "orientation", None) or "v") == "v" else "x"
    if trace.type == "waterfall" and letter == counts:
        out += [0]
    if trace.type == "histogram" and letter == counts:  # the tallest bin: Plotly bins in the browser
        binned = [float(v) for v in np.asarray(getattr(trace, "x" if counts == "y" else "y"), dtype=object).ravel()
                  if _is_number(v)] if getattr(trace, "x" if counts == "y" else "y", None) is not None else []
        out += [0, int(np.histogram(binned, bins=int(trace.nbinsx or 20))[0].max()) * 2 if binned else 1]
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _as_number(value: Any) -> Any:
    """A numeric string as the number Plotly reads it as (its axis is linear, not a category one)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_date(value: Any) -> bool:
    if isinstance(value, (dt.date, np.datetime64)):
        return True
    return isinstance(value, str) and bool(re.match(r"^\d{4}-\d{2}(-\d{2})?([ T]\d|$)", value))


def _number_labels(low: float, high: float, axis: Any) -> list[str]:
    """The tick labels at the ends of ``[low, high]`` as Plotly would write them (a step wider: nice ticks)."""
    if axis.range is not None and all(_is_number(v) for v in axis.range):
        low, high = float(min(axis.range)), float(max(axis.range))
    span = high - low or abs(high) or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    ends = [math.floor(low / step) * step, math.ceil(high / step) * step]
    if axis.dtick is not None and _is_number(axis.dtick):
        step = float(axis.dtick)
        ends = [math.floor(low / float(axis.dtick)) * float(axis.dtick), math.ceil(high / float(axis.dtick)) * float(axis.dtick)]
    form = axis.tickformat or ""
    labels = []
    for value in ends:
        labels.append(_d3(value, form, step))
    prefix, suffix = axis.tickprefix or "", axis.ticksuffix or ""
    return [prefix + label.replace("-", _MINUS) + suffix for label in labels]


def _d3(value: float, form: str, step: float) -> str:
    """``value`` in the d3 format ``form`` (the few this app uses; a wide stand-in otherwise)."""
    match = re.fullmatch(r"(,?)(?:\.(\d+))?([fd%s])?|~?s|", form.lstrip("~"))
    if form == "":
        decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
        if abs(value) >= 10000:  # Plotly's default writes 20k, 1.5M
            return f"{value / 1000:.0f}k" if abs(value) < 1e6 else f"{value / 1e6:.1f}M"
        return f"{value:.{decimals}f}"
    if match is None or form.endswith("s"):
        return f"{value:,.2f}"
    comma, decimals, kind = match.group(1), int(match.group(2) or 0), match.group(3) or "f"
    if kind == "%":
        return f"{value * 100:{comma}.{decimals}f}%"
    if kind == "d":
        return f"{round(value):{comma}d}"
    return f"{value:{comma}.{decimals}f}"


def _date_labels(values: Iterable, axis: Any) -> tuple[list[str], int]:
    form = axis.tickformat
    if not form:  # Plotly's automatic dates: "Jan 2025" over months, else day and month over the year
        dates = sorted(_as_date(value) for value in values if value is not None)
        if len(dates) < 2 or (dates[-1] - dates[0]).days <= 62:
            raise ValueError("days over a year's line: Plotly may turn them")
        return ["Sep 2025"], 1
    sample = dt.date(2025, 9, 30)
    try:
        text = sample.strftime(form.replace("%-", "%"))
    except ValueError:
        text = "30 Sep 2025"
    return [text], 1


def _as_date(value: Any) -> dt.date:
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[D]").item()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10] if len(str(value)) >= 10 else f"{str(value)[:7]}-01")


def _axis_extent(fig: go.Figure, name: str, traces: list) -> tuple[float, tuple[str, float]]:
    """Pixels an axis' labels and title take across it (width for a y axis, height for an x axis), and the
    side and pixels its labels may reach past the plot's end (half a number at the end, or turned labels)."""
    axis = fig.layout[name]
    letter = name[0]
    if axis.visible is False:
        return 0.0, ("r", 0.0)
    labels: list[str] = []
    lines = 1
    centred = False
    values = [_as_number(v) for trace in traces for v in _values(trace, letter)]
    if axis.ticktext is not None:
        labels = [str(text) for text in axis.ticktext]
    elif axis.type == "category" or any(isinstance(v, str) and not _is_date(v) for v in values):
        labels = list(dict.fromkeys(str(v) for v in values if v is not None))
        centred = False
    elif axis.type == "date" or (values and all(_is_date(v) for v in values if v is not None)):
        labels, lines = _date_labels(values, axis)
    else:
        numbers = [float(v) for v in values if _is_number(v)]
        centred = True
        given = [v for trace in traces for v in np.asarray(getattr(trace, letter, None) if getattr(trace, letter, None)
                                                           is not None else [], dtype=object).ravel() if _is_number(_as_number(v))]
        if not given and axis.range is None and not any(trace.type == "histogram" for trace in traces):
            raise ValueError("no numbers on this axis: Plotly picks its range")
        labels = _number_labels(min(numbers, default=0.0), max(numbers, default=1.0), axis)
    if axis.showticklabels is False:
        labels = []
    sizes = [label_width(label) for label in labels] or [(0.0, 0)]
    width = max(size[0] for size in sizes)
    lines = max(lines, *(size[1] for size in sizes))
    title = bool(axis.title.text) if axis.title is not None else False
    angle = abs(float(axis.tickangle)) if _is_number(axis.tickangle) else 0.0
    if letter == "y":
        across = width if angle < 45 else lines * _LINE_PX
    else:
        slant = math.radians(angle)
        across = lines * _LINE_PX if angle == 0 else width * math.sin(slant) + _LINE_PX * math.cos(slant)
    scale = (axis.tickfont.size or _FONT_PX) / _FONT_PX if axis.tickfont is not None else 1.0
    width, across = width * scale, across * scale
    if angle == 0 and not centred and labels:  # categories: the end ones centred in slots of 300 px / n at least
        ends = max(label_width(labels[0])[0], label_width(labels[-1])[0]) * scale
        overhang = ("r", ends / 2 - 150 / len(labels) + 2)
    elif angle == 0:
        overhang = ("r", width / 2 + 2 if centred else 0.0)
    else:  # turned labels run from their tick towards the side they lean to
        overhang = ("l" if float(axis.tickangle) < 0 else "r", width * math.cos(math.radians(angle)) + 4)
    title_scale = ((axis.title.font.size or 15) / 15) if title and axis.title.font is not None else 1.0
    title_px = _TITLE_PX + _TITLE_LINE_PX * (len(re.split(r"<br\s*/?>", str(axis.title.text))) - 1) if title else 0
    return across + _TICK_PX * scale + title_px * title_scale, overhang


def _colorbar_width(traces: list) -> float:
    """Pixels a heatmap's colour bar takes on the right: bar, gaps, tick labels, its title."""
    widest = 0.0
    for trace in traces:
        if trace.type != "heatmap" or trace.showscale is False:
            continue
        bar = trace.colorbar
        numbers = [float(v) for v in np.asarray(trace.z, dtype=object).ravel() if _is_number(v)] if trace.z is not None else []
        labels = [] if not numbers else [_d3(value, bar.tickformat or "", max(numbers) - min(numbers) or 1.0)
                                         for value in (min(numbers), max(numbers))]
        if bar.ticktext is not None:
            labels = [str(text) for text in bar.ticktext]
        ticks = max((label_width(f"{bar.tickprefix or ''}{label}{bar.ticksuffix or ''}")[0] for label in labels), default=0.0)
        title = label_width(bar.title.text)[0] * 15 / 13 if bar.title is not None and bar.title.text else 0.0
        widest = max(widest, 30 + 10 + 8 + max(ticks + 6, title) + 14)
    return widest


def _edge(fig: go.Figure, name: str) -> str | None:
    """The margin an axis' labels fall in ("l", "r", "t", "b"), or None for an axis inside the figure."""
    axis = fig.layout[name]
    letter, other = name[0], "x" if name[0] == "y" else "y"
    low, high = ("r", "l") if letter == "y" else ("t", "b")
    side = low if axis.side in ("right", "top") else high
    if axis.overlaying:  # drawn over another axis: at that one's place
        return side
    anchor = axis.anchor if axis.anchor not in (None, "free") else None
    if anchor is None:
        position = axis.position if axis.anchor == "free" and _is_number(axis.position) else None
        if position is None:
            return side
        return side if float(position) in (0.0, 1.0) else None
    domain = fig.layout[f"{other}axis{anchor[1:]}"].domain or (0, 1)
    edge = float(domain[1]) if side in ("r", "t") else float(domain[0])
    return side if edge in (0.0, 1.0) else None


def _may_turn(axis: Any, traces: list) -> bool:
    """Whether this x axis' categories may not fit side by side in a half-width chart: Plotly then turns them
    (its automatic angle) or lets the end ones reach far out (an angle of 0): left to its automargin."""
    if axis.plotly_name[0] != "x" or (_is_number(axis.tickangle) and float(axis.tickangle) != 0):
        return False
    labels = {str(v) for trace in traces for v in _values(trace, "x") if isinstance(v, str) and not _is_date(v)}
    return sum(label_width(label)[0] + 12 for label in labels) > 300


def settle_margins(fig: go.Figure) -> None:
    """Margins wide enough for the axes' labels and titles, with Plotly's ``automargin`` off (one drawing pass).

    Axes a builder set ``automargin=False`` on are left as they are (their margins are its own), and so are
    figures without cartesian axes, axes whose labels Plotly may turn to fit, and any figure the estimate
    cannot read (then Plotly's automargin does the work, as before). Margins never shrink below the figure's own.
    """
    traces = [trace for trace in fig.data if trace.type in _CARTESIAN]
    if not traces or len(traces) != len(fig.data):
        return
    legend = fig.layout.legend
    if _is_number(legend.x) and float(legend.x) > 1:
        return  # a legend beside the plot takes the right margin: left to Plotly
    try:
        settled, need = _plan(fig, traces)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError):
        return
    if not settled or need["l"] + need["r"] > _MOST_PX:
        return  # labels too long for a half-width chart: Plotly shares the room out itself
    margin = fig.layout.margin
    current = {"l": margin.l, "r": margin.r, "t": margin.t, "b": margin.b}
    template = fig.layout.template.layout.margin if fig.layout.template is not None else None
    for side, value in current.items():
        if value is None and template is not None:
            current[side] = getattr(template, side)
    for name in settled:
        fig.layout[name].automargin = False
    fig.update_layout(margin={side: max(int(math.ceil(need[side])), int(current[side] or 0)) for side in need})


def _plan(fig: go.Figure, traces: list) -> tuple[list[str], dict[str, float]]:
    """The axes to settle and the pixels each margin needs for them."""
    layout = fig.layout.to_plotly_json()
    names = {"xaxis", "yaxis", *(key for key in layout if re.fullmatch(r"[xy]axis\d+", key))}
    need = {"l": 0.0, "r": 0.0, "t": 0.0, "b": 0.0}
    settled = []
    for name in sorted(names):
        axis = fig.layout[name]
        if axis.automargin is False:
            continue
        ref = name[0] + name[5:]
        on_axis = [trace for trace in traces if (getattr(trace, f"{name[0]}axis", None) or name[0]) == ref]
        if _may_turn(axis, on_axis):
            return [], need  # Plotly lays this figure out twice anyway: all of it is left to its automargin
        settled.append(name)
        side = _edge(fig, name)
        if side is not None:  # an axis inside the figure (a subplot's) takes room from the gap, not a margin
            across, (beside, reach) = _axis_extent(fig, name, on_axis)
            need[side] = max(need[side], across)
            if name[0] == "x":  # the last tick's label is centred on the plot's edge, turned ones lean out
                need[beside] = max(need[beside], reach)
                if not _is_number(axis.tickangle) or float(axis.tickangle) == 0:
                    need["l"] = max(need["l"], reach)  # the first one too
    if settled:
        need["r"] = max(need["r"], _colorbar_width(traces))
    return settled, need
