"""User text in figures: one helper so Plotly shows it literally, never as markup.

Plotly reads a small HTML subset in every string it draws (titles, legends,
hover labels, axis tick labels, annotations, node and bar labels): ``<a href>``
becomes a clickable link, ``<span style>`` can draw over the page, ``<br>``
breaks lines, and entities such as ``&lt;`` are decoded. Template strings
(``hovertemplate``, ``texttemplate``) also read ``%{...}`` as a placeholder.

:func:`safe_label` escapes ``&``, ``<`` and ``>`` as HTML entities and ``%``
as ``&#37;``: Plotly splits tags *before* it decodes entities, so the label is
drawn exactly as typed, even inside a template. Quotes stay as they are
(Plotly does not decode ``&quot;``, and quotes only matter inside a tag).

Every chart builder passes each string that came from data or from the user
(segment, channel, tier, category and customer names, column names in titles)
through :func:`safe_label` or :func:`safe_labels`; our own constant text may use
markup such as ``<br>``. ``tests/test_chart_text.py`` runs every builder with
hostile labels.
"""
from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Iterable

import polars as pl

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;"})
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def safe_label(value: object) -> str:
    """``value`` as text Plotly draws literally (``None`` becomes an empty label).

    Examples
    --------
    >>> safe_label('<a href="http://x">50% off</a>')
    '&lt;a href="http://x"&gt;50&#37; off&lt;/a&gt;'
    """
    return "" if value is None else str(value).translate(_ENTITIES)


def safe_labels(values: Iterable[object] | pl.Series) -> list[str]:
    """:func:`safe_label` of each value (a Series is cast to text first, so dates and numbers read as Polars writes them)."""
    if isinstance(values, pl.Series):
        values = values.cast(pl.String).to_list()
    return [safe_label(value) for value in values]


def safe_wrapped(value: object, width: int) -> str:
    """:func:`safe_label` of ``value`` broken at spaces into lines of at most ``width`` characters with ``<br>``
    (a longer word keeps its own line).

    For axis titles longer than the axis: Plotly draws a title on one line, past the figure's edge.
    The lines are escaped one by one, so the only markup in the result is our own ``<br>``.

    Examples
    --------
    >>> safe_wrapped("more orders & more spend -> right", 20)
    'more orders &amp;<br>more spend -&gt; right'
    """
    text = "" if value is None else str(value)
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)  # at spaces only
    return "<br>".join(safe_label(line) for line in lines or [""])


def plain_text(shown: object) -> str:
    """The text a figure label shows, for files that are not drawn by Plotly (PowerPoint charts).

    The inverse of :func:`safe_label` (``plain_text(safe_label(x)) == x``);
    our own ``<br>`` line breaks become spaces. Only for text read back from a
    figure: raw data never went through :func:`safe_label`.
    """
    return "" if shown is None else html.unescape(_LINE_BREAK.sub(" ", str(shown)))

