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

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from ui.figures import call_key

__all__ = ["shared"]

T = TypeVar("T")


def shared(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, computed once per distinct input content for every session."""
    digest = call_key(function, args, kwargs)
    if digest is None:
        return function(*args, **kwargs)
    return _shared(digest, function, args, kwargs)


@st.cache_resource(max_entries=512, show_spinner=False)
def _shared(digest: str, _function: Callable[..., T], _args: tuple, _kwargs: dict) -> T:
    """The result; ``digest`` names the function and its inputs' content exactly."""
    return _function(*_args, **_kwargs)
