"""Shared pytest setup: the repo root on sys.path and common fixtures."""
from __future__ import annotations

import sys
from pathlib import Path

import polars  # noqa: F401  (see below)
import pytest

# Loaded before any test: the CLI's supervisor forks only while Polars is not loaded yet, and a forked child's
# output never reaches capsys. With Polars loaded, `main([...])` runs in-process for every test, whatever test file
# ran first (tests of the forked path start the CLI as a process of its own).

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own empty workspace folder."""
    monkeypatch.setenv("CRM_WORKSPACE", str(tmp_path / "workspace"))
    yield


@pytest.fixture
def cdnow_path() -> Path:
    return DATA / "cdnow_sample.csv"


def app_path() -> str:
    return str(ROOT / "app.py")
