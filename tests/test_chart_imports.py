"""Figures can be built while another thread is still importing pandas (crm_core.charts.imports)."""
from __future__ import annotations

import importlib.machinery
import sys
import types

import plotly.graph_objects as go
import pytest

import crm_core.charts  # noqa: F401  (installs the look-up)
from crm_core.charts.imports import loaded_module


def _half_imported_pandas() -> types.ModuleType:
    """What sys.modules holds while another thread runs ``import pandas``: a module without its names yet."""
    module = types.ModuleType("pandas")
    module.__spec__ = importlib.machinery.ModuleSpec("pandas", loader=None)
    module.__spec__._initializing = True
    return module


def test_a_figure_is_built_while_pandas_is_being_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", _half_imported_pandas())
    figure = go.Figure(go.Bar(x=["a", "b"], y=[1.0, 2.0]))
    assert list(figure.data[0].y) == [1.0, 2.0]
    assert figure.to_json()  # the serialiser asks for pandas too


def test_the_look_up_still_finds_finished_modules(monkeypatch):
    import numpy

    assert loaded_module("numpy") is numpy
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    assert loaded_module("pandas") is None
    assert loaded_module("pandas_not_a_module") is None


def test_without_the_look_up_plotly_fails_on_a_half_imported_pandas(monkeypatch):
    """The failure the look-up prevents (so the first test means something)."""
    import _plotly_utils.basevalidators as validators

    monkeypatch.setitem(sys.modules, "pandas", _half_imported_pandas())
    monkeypatch.setattr(validators, "get_module", lambda name, should_load=True: sys.modules.get(name))
    with pytest.raises(AttributeError):
        go.Bar(x=["a", "b"], y=[1.0, 2.0])
