"""Engine results shared by every session, keyed by the content of their inputs.

Pages call small engine functions on frames that come from the cached loaders
(a group table, a trend, a distribution). :func:`shared` runs each once per
distinct input content, for every session and rerun, instead of on every rerun
of every session: ``shared(csat_by, contacts, "tier")`` in place of
``csat_by(contacts, "tier")``. Inputs are keyed exactly
(:func:`ui.figures.fingerprint`: a frame by its schema, height and row hashes),
so a period, filter or setting change that changes an input changes the key.
An input that cannot be keyed (a model object, a lazy frame) runs the function
directly. Results are shared: callers must not change them.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from ui.figures import fingerprint

__all__ = ["shared"]

T = TypeVar("T")

#: Fingerprints of the frames seen, by identity while the frame lives: the cached loaders hand every
#: rerun the same frame objects, so each is hashed once, not on every call.
_FRAME_KEYS: dict[int, tuple[weakref.ref, Hashable]] = {}
_LOCK = threading.RLock()  # re-entrant: a frame freed while it is held calls _forget


def _key_of(value: Any) -> Hashable | None:
    if not isinstance(value, pl.DataFrame):
        return fingerprint(value)
    with _LOCK:
        known = _FRAME_KEYS.get(id(value))
        if known is not None and known[0]() is value:
            return known[1]
    key = fingerprint(value)
    with _LOCK:
        _FRAME_KEYS[id(value)] = (weakref.ref(value, lambda _ref, ident=id(value): _forget(ident)), key)
    return key


def _forget(ident: int) -> None:
    with _LOCK:
        _FRAME_KEYS.pop(ident, None)


def shared(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, computed once per distinct input content for every session."""
    name = getattr(function, "__qualname__", "")
    keys = [_key_of(value) for value in (*args, *kwargs.values())]
    if not name or "<" in name or any(key is None for key in keys):
        return function(*args, **kwargs)
    digest = hashlib.blake2b(repr((function.__module__, name, tuple(kwargs), keys)).encode(),
                             digest_size=20).hexdigest()
    return _shared(digest, function, args, kwargs)


@st.cache_resource(max_entries=512, show_spinner=False)
def _shared(digest: str, _function: Callable[..., T], _args: tuple, _kwargs: dict) -> T:
    """The result; ``digest`` names the function and its inputs' content exactly."""
    return _function(*_args, **_kwargs)
