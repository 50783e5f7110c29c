"""Built Plotly figures, cached for every session by what they are drawn from.

Building a figure (Plotly validates every property it is given) costs more than
the numbers behind it, and a page used to rebuild each of its charts on every
rerun: a revisit, a click on a widget, a period change. A page now names a
figure by its builder and inputs (:func:`figure`); :func:`ui.widgets.chart`
draws it through :func:`drawn`, which builds it once per distinct content of
the inputs and the view's number format (currency, locale, marked axes) and
hands the same finished figure to every later rerun and session.

The key is the inputs' content, not their identity: a frame is keyed by its
schema, height and a hash of every row, so a change of period, filter, tier or
any setting that changes the data behind a chart changes its key, and a figure
is never served stale. Inputs that cannot be keyed exactly (a lazy frame, a
model object, a lambda as builder) are built on every call, uncached.

Cached figures are shared and must not be changed after :func:`drawn`: Streamlit
and "Add to deck" only read them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

__all__ = ["FigureSpec", "call_key", "drawn", "figure", "fingerprint"]


@dataclasses.dataclass(frozen=True, eq=False)
class FigureSpec:
    """A figure not built yet: ``builder(*args, **kwargs)``."""

    builder: Callable[..., go.Figure]
    args: tuple
    kwargs: dict[str, Any]

    def build(self) -> go.Figure:
        return self.builder(*self.args, **self.kwargs)

    def key(self) -> str | None:
        """What the figure depends on, exactly; None when an input cannot be keyed (then it is not cached)."""
        return call_key(self.builder, self.args, self.kwargs)


def call_key(function: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> str | None:
    """A digest naming ``function(*args, **kwargs)`` by the function and its inputs' content, exactly;
    None for a lambda or local function (its closure is not part of the key) or an input that cannot be keyed."""
    name = getattr(function, "__qualname__", "")
    if not name or "<" in name:
        return None
    inputs = fingerprint((args, tuple(sorted(kwargs.items()))))
    if inputs is None:
        return None
    return _digest((function.__module__, name, inputs))


def figure(builder: Callable[..., go.Figure], *args: Any, **kwargs: Any) -> FigureSpec:
    """The figure ``builder(*args, **kwargs)``, to pass to :func:`ui.widgets.chart` (built there, cached)."""
    return FigureSpec(builder, args, kwargs)


_SCALARS = (str, int, float, bool, bytes, type(None), dt.date, dt.datetime, dt.time, dt.timedelta, enum.Enum)


def fingerprint(value: Any) -> Hashable | None:
    """An exact, hashable stand-in for ``value``'s content; None when there is none.

    Frames: schema, height and the sum of their row hashes (Streamlit's own
    hash samples frames over 50,000 rows, so it is not used). Containers and
    dataclasses: their items' fingerprints. Scalars: themselves.
    """
    if isinstance(value, _SCALARS):
        return (type(value).__name__, value)
    if isinstance(value, pl.DataFrame):
        return _frame_key(value)
    if isinstance(value, pl.Series):
        return _hashed_frame_key(value.to_frame())
    if isinstance(value, (tuple, list)):
        return _all(type(value).__name__, [fingerprint(item) for item in value])
    if isinstance(value, dict):
        return _all("dict", [fingerprint((name, item)) for name, item in value.items()])
    if isinstance(value, (set, frozenset)):
        items = [fingerprint(item) for item in value]
        return None if None in items else ("set", tuple(sorted(map(repr, items))))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [fingerprint(getattr(value, field.name)) for field in dataclasses.fields(value)]
        return _all(f"{type(value).__module__}.{type(value).__qualname__}", fields)
    number = getattr(value, "item", None)  # a NumPy scalar
    if callable(number) and getattr(value, "ndim", None) == 0:
        return fingerprint(number())
    return None


def _all(kind: str, items: list) -> Hashable | None:
    return None if any(item is None for item in items) else (kind, tuple(items))


#: Fingerprints of the frames seen, by identity while the frame lives: the cached loaders hand every
#: rerun the same frame objects, so each is hashed once, not on every call.
_FRAME_KEYS: dict[int, tuple[weakref.ref, Hashable | None]] = {}
_LOCK = threading.RLock()  # re-entrant: a frame freed while it is held calls _forget


def _frame_key(frame: pl.DataFrame) -> Hashable | None:
    with _LOCK:
        known = _FRAME_KEYS.get(id(frame))
        if known is not None and known[0]() is frame:
            return known[1]
    key = _hashed_frame_key(frame)
    with _LOCK:
        _FRAME_KEYS[id(frame)] = (weakref.ref(frame, lambda _ref, ident=id(frame): _forget(ident)), key)
    return key


def _forget(ident: int) -> None:
    with _LOCK:
        _FRAME_KEYS.pop(ident, None)


def _hashed_frame_key(frame: pl.DataFrame) -> Hashable | None:
    try:
        rows = int(frame.hash_rows(seed=0).sum()) if frame.width else 0
    except Exception:  # noqa: BLE001  (a column type Polars cannot hash: build this figure uncached)
        return None
    return "frame", str(frame.schema), frame.height, rows


Finish = Callable[[go.Figure], None]


def drawn(spec: FigureSpec, number_format: Hashable, finish: Finish) -> go.Figure:
    """The built figure with ``finish`` applied (the view's number format, named by ``number_format``).

    Cached for every session by the spec's inputs and ``number_format``; built
    afresh when an input cannot be keyed.
    """
    key = spec.key()
    if key is None:
        fig = spec.build()
        finish(fig)
        return fig
    return _drawn(f"{key}:{_digest(number_format)}", spec, finish)


def _digest(value: Hashable) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=20).hexdigest()


@st.cache_resource(max_entries=256, show_spinner=False)
def _drawn(digest: str, _spec: FigureSpec, _finish: Finish) -> go.Figure:
    """The figure of ``_spec`` finished; ``digest`` names its inputs and number format exactly."""
    fig = _spec.build()
    _finish(fig)
    return fig
