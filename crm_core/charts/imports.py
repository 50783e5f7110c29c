"""Plotly figures built while another thread imports pandas.

Plotly asks ``sys.modules`` whether pandas is loaded (``get_module(..., should_load=False)``)
each time it checks a value, and then reads ``pandas.Series``. While another thread is
still importing pandas (the server's background warm-up imports scikit-learn, which
imports pandas), ``sys.modules`` already holds the half-built module without ``Series``,
and building any figure fails with ``AttributeError``. On a fresh server this broke the
first page that drew charts in about one visit in three (the meeting-mode "blank page"
of issue 18). Our code never hands Plotly a pandas object, so a module still being
imported can safely count as not loaded: the check narwhals (which Plotly uses) already makes
for the same race (``narwhals.dependencies._get_imported_module``) and CPython's import system makes.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable

_PATCHED = "_crm_ignores_modules_being_imported"


def loaded_module(name: str) -> ModuleType | None:
    """``sys.modules[name]`` once its import has finished; None while it is absent or still being imported."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def ignore_modules_being_imported() -> None:
    """Make Plotly's "is this module loaded?" look-up skip modules another thread is still importing.

    Plotly's modules bind ``get_module`` by name, so the wrapper replaces it in every Plotly
    module loaded so far and at its source, where modules imported later take it from.
    """
    import _plotly_utils.optional_imports as optional_imports

    original: Callable[..., Any] = optional_imports.get_module
    if getattr(original, _PATCHED, False):
        return

    def get_module(name: str, should_load: bool = True) -> ModuleType | None:
        return original(name, should_load) if should_load else loaded_module(name)

    setattr(get_module, _PATCHED, True)
    get_module.__doc__ = original.__doc__
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] in ("plotly", "_plotly_utils") and getattr(module, "get_module", None) is original:
            module.get_module = get_module  # type: ignore[attr-defined]
