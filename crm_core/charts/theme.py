"""One Plotly template and palette for every chart, readable in a meeting room.

The palette is Okabe-Ito (colour-blind safe); type is large enough for a
projector; gridlines are faint so the data carries the contrast.
"""
from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go
import plotly.io as pio

from crm_core import format as fmt
from crm_core.charts.text import safe_label

TEMPLATE_NAME = "crm"

#: Okabe-Ito, reordered so the first colours are the most distinct.
PALETTE = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]
#: Sequential scale for heatmaps (light to dark blue).
SEQUENTIAL = ["#F2F7FC", "#C6DBEF", "#6BAED6", "#2171B5", "#08306B"]
#: Diverging scale (vermillion - white - blue) for deltas.
DIVERGING = ["#D55E00", "#F7F7F7", "#0072B2"]
POSITIVE = "#009E73"
NEGATIVE = "#D55E00"
NEUTRAL = "#7F8C99"

FONT_FAMILY = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _template() -> go.layout.Template:
    axis = dict(
        showgrid=True,
        gridcolor="#E6EBF0",
        zeroline=False,
        linecolor="#B8C2CC",
        ticks="outside",
        tickcolor="#B8C2CC",
        title=dict(font=dict(size=15)),
        tickfont=dict(size=13),
        automargin=True,
    )
    return go.layout.Template(
        layout=go.Layout(
            font=dict(family=FONT_FAMILY, size=15, color="#1B2733"),
            title=dict(font=dict(size=20), x=0.0, xanchor="left", y=0.97),
            colorway=PALETTE,
            colorscale=dict(sequential=SEQUENTIAL, diverging=DIVERGING),
            paper_bgcolor="white",
            plot_bgcolor="white",
            xaxis=axis,
            yaxis=axis,
            legend=dict(font=dict(size=13), orientation="h", yanchor="bottom", y=1.02, x=0, title=None),
            hoverlabel=dict(font=dict(size=14)),
            margin=dict(l=10, r=10, t=60, b=10),
        )
    )


pio.templates[TEMPLATE_NAME] = _template()

DARK_TEMPLATE_NAME = "crm_dark"
#: Okabe-Ito again; only black becomes light grey so it shows on a dark background.
DARK_PALETTE = PALETTE[:-1] + ["#E0E0E0"]


def _dark_template() -> go.layout.Template:
    """The same template on a dark background (dark theme, dim meeting rooms)."""
    template = _template()
    grid, line, text, background = "#33414F", "#5B6B7A", "#E8EDF2", "#0E1117"
    axis = dict(gridcolor=grid, linecolor=line, tickcolor=line)
    template.layout.update(
        font_color=text, colorway=DARK_PALETTE, paper_bgcolor=background, plot_bgcolor=background,
        xaxis=axis, yaxis=axis, polar=dict(bgcolor=background, radialaxis=dict(gridcolor=grid), angularaxis=dict(gridcolor=grid)),
    )
    return template


pio.templates[DARK_TEMPLATE_NAME] = _dark_template()


def styled(fig: go.Figure, title: str | None = None, height: int = 420) -> go.Figure:
    """Apply the shared template (and an optional title, shown as plain text) to ``fig``; returns it.

    Titles often name user data (a segment, a column), so the title goes
    through :func:`~crm_core.charts.text.safe_label` here: callers pass it raw.
    """
    fig.update_layout(template=TEMPLATE_NAME, height=height)
    if title:
        fig.update_layout(title_text=safe_label(title))
    return fig


#: ``layout.meta`` key listing a figure's money axes ("x", "y", "y2"...), so the currency can be added where known.
MONEY_AXES = "money_axes"


def _axis_key(axis: str) -> str:
    """'y' -> 'yaxis', 'x2' -> 'xaxis2'."""
    return f"{axis[0]}axis{axis[1:]}"


def money_axis(fig: go.Figure, axis: str = "y", tickformat: str = ",.0f", **settings) -> None:
    """Format ``axis`` as money (thousands separators, no SI 'k') and mark it for :func:`with_currency`."""
    fig.update_layout({_axis_key(axis): {**fmt.money_axis(), "tickformat": tickformat, **settings}})
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta[MONEY_AXES] = sorted({*meta.get(MONEY_AXES, ()), axis})
    fig.update_layout(meta=meta)


def count_axis(fig: go.Figure, axis: str = "y", max_value: float | None = None, **settings) -> None:
    """Whole-number ticks on ``axis`` (see :func:`crm_core.format.count_axis`)."""
    fig.update_layout({_axis_key(axis): {**fmt.count_axis(max_value), **settings}})


#: Width of one tick-label character at the template's 13 px tick font (digits and separators are narrower).
_TICK_CHAR_PX = 8.5


#: ``layout.meta`` key: the left margin :func:`fixed_margins` set, before a currency widens it.
FIXED_LEFT = "fixed_left"


def fixed_margins(fig: go.Figure, y_tick_chars: int, bottom: int = 45) -> None:
    """Margins set from the longest y tick label (``y_tick_chars`` characters, affixes included) instead of
    Plotly's automargin.

    With automargin Plotly draws the axes, measures every tick label (a forced browser layout of the whole
    page) and lays the plot out again; on a page that redraws on every filter change that second pass was
    half the chart's drawing time. The left margin holds the labels and the y title; the bottom one
    month labels on two lines or turned.
    """
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    left = 40 + round(y_tick_chars * _TICK_CHAR_PX)  # title (15 px font, rotated) and gaps, then the labels
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta[FIXED_LEFT] = left  # :func:`with_currency` widens it by the currency's characters
    fig.update_layout(margin=dict(l=left, r=20, t=60, b=bottom), meta=meta)


def largest(values: Iterable) -> float | None:
    """The largest finite number of ``values`` (None when there is none): the top of a count axis."""
    numbers = [float(value) for value in values if isinstance(value, (int, float)) and value == value]
    return max(numbers) if numbers else None


def money_axes(fig: go.Figure) -> list[str]:
    """The axes :func:`money_axis` marked."""
    meta = fig.layout.meta
    return list(meta.get(MONEY_AXES, ())) if isinstance(meta, dict) else []


def with_currency(fig: go.Figure, currency: str = "", locale: str = "en", extra_axes: Iterable[str] = ()) -> None:
    """The view's number format on ``fig``: locale separators, and the currency on every money axis.

    ``extra_axes`` are money axes of figures built without :func:`money_axis`. The margins are then set for
    the labels as they will read (:func:`crm_core.charts.margins.settle_margins`: one drawing pass in the browser).
    """
    from crm_core.charts.margins import settle_margins

    fig.update_layout(separators=fmt.plotly_separators(locale))
    for axis in extra_axes:
        money_axis(fig, axis)
    for axis in money_axes(fig):
        affixes = fmt.axis_affixes(currency, locale)
        fig.update_layout({_axis_key(axis): affixes})
        left = fig.layout.meta.get(FIXED_LEFT) if isinstance(fig.layout.meta, dict) else None
        if axis == "y" and left is not None:  # fixed margins (no automargin): room for the currency too
            fig.update_layout(margin_l=left + round(sum(map(len, affixes.values())) * _TICK_CHAR_PX))
    settle_margins(fig)
