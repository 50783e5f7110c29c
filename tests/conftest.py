"""Shared pytest setup: the repo root on sys.path and common fixtures."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
