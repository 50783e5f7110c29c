"""Small trend charts for figure cards, as static SVG drawn by the browser as an image.

Each Overview card used to carry ``st.metric``'s own small chart: a Vega-Lite chart per card, compiled
and drawn again by the browser's script on every rerun (~30 ms each under load, seven cards). The same
bars or line as an SVG image cost the browser no script at all: the server writes the picture once
per distinct series and the browser decodes it like any image.

The SVG holds numbers and colours only, never text from the data or the user, so nothing here
needs :mod:`crm_core.charts.text`'s escaping. It has a fixed height and no intrinsic width or
aspect ratio, so an image stretched to its card's width keeps the height of ``st.metric``'s chart
(3.5 rem) at every screen width; the inner viewport scales the marks to that width.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

#: ``st.metric``'s chart colours in the app's light theme (Streamlit's greenColor, redColor, grayColor),
#: chosen from the card's delta as Streamlit does: up is good, down is bad, no change is grey.
TONES = {"up": "#079464", "down": "#D94A57", "none": "#6B7280"}
HEIGHT_PX = 56  # st.metric's chart: 3.5rem
_PAD_PX = 2  # Streamlit's chart padding above and below the marks
_BAR_WIDTH = 0.62  # share of each month's slot the bar fills


def delta_tone(delta: object, delta_color: str = "normal") -> str:
    """The colour ``st.metric`` gives its chart for ``delta`` (a number or text such as "+25.4%").

    As Streamlit decides it: no delta or the text "0" is grey; a delta written with a leading minus is
    down; anything else is up. ``"normal"`` shows up green, ``"inverse"`` red, ``"off"`` grey.
    """
    if delta is None or delta == "":
        return TONES["none"]
    text = str(delta).strip()
    zero = text == "0" if isinstance(delta, str) else delta == 0
    if zero or delta_color == "off":
        return TONES["none"]
    down = text.startswith("-")
    if delta_color == "inverse":
        down = not down
    return TONES["down" if down else "up"]


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def sparkline_svg(values: Sequence[object], kind: Literal["bar", "line"], color: str) -> str | None:
    """An SVG document of ``values`` as bars (from zero, so their lengths compare) or a line (spanning
    the lowest to the highest value, as ``st.metric``'s line); None when there is nothing to draw.

    Missing or non-numeric values count as 0; ``color`` is a ``#RRGGBB`` colour (see :func:`delta_tone`).
    """
    if not (len(color) == 7 and color.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
        raise ValueError(f"not a #RRGGBB colour: {color!r}")
    numbers = [_number(value) for value in values]
    if not numbers:
        return None
    inner = HEIGHT_PX - 2 * _PAD_PX
    if kind == "bar":
        low, high = min(0.0, *numbers), max(0.0, *numbers)
        span = (high - low) or 1.0
        zero = inner * high / span
        marks = []
        for index, number in enumerate(numbers):
            top = inner * (high - max(number, 0.0)) / span
            length = inner * abs(number) / span
            if length > 0:
                marks.append(f'<rect x="{_fmt(index + (1 - _BAR_WIDTH) / 2)}" y="{_fmt(top if number > 0 else zero)}" '
                             f'width="{_fmt(_BAR_WIDTH)}" height="{_fmt(length)}"/>')
        view, body = f"0 0 {len(numbers)} {inner}", f'<g fill="{color}">{"".join(marks)}</g>'
    elif kind == "line":
        if len(numbers) == 1:
            numbers = numbers * 2
        low, high = min(numbers), max(numbers)
        span = high - low
        points = " ".join(f"{index},{_fmt(inner * (high - number) / span if span else inner / 2)}"
                          for index, number in enumerate(numbers))
        view = f"0 0 {len(numbers) - 1} {inner}"
        body = (f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2" '
                'stroke-linecap="round" stroke-linejoin="round" vector-effect="non-scaling-stroke"/>')
    else:
        raise ValueError(f"unknown sparkline kind: {kind!r}")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="{HEIGHT_PX}">'
            f'<svg y="{_PAD_PX}" width="100%" height="{inner}" viewBox="{view}" preserveAspectRatio="none" '
            f'overflow="visible">{body}</svg></svg>')
