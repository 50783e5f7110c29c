"""read_orders(meanwhile=...): the caller's work started as the values are parsed, exactly once, on every path."""
from __future__ import annotations

from pathlib import Path

import pytest

import crm_core.ingest.reader as reader
from crm_core.ingest import read_orders

CSV = "customer_id,order_date,amount\nA,2024-01-05,10.00\nB,2024-01-06,12.50\nA,2024-02-01,7.25\n"


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return path


def _watching_the_parse(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Events in order: 'meanwhile' when the caller's call is made, 'parse' when the reader parses."""
    events: list[str] = []
    parse_values = reader.parse_values
    monkeypatch.setattr(reader, "parse_values", lambda *a, **k: (events.append("parse"), parse_values(*a, **k))[1])
    return events


def test_called_once_just_before_the_values_are_parsed(orders, monkeypatch):
    events = _watching_the_parse(monkeypatch)
    frame, report = read_orders(orders, meanwhile=lambda: events.append("meanwhile"))
    assert events == ["meanwhile", "parse"]
    assert report.rows_valid == 3 and frame.collect()["amount"].sum() == pytest.approx(29.75)


def test_called_once_when_the_file_is_read_twice(tmp_path, monkeypatch):
    """An unbalanced quote makes the reader read the file again with quotes as plain characters."""
    path = tmp_path / "quotes.csv"
    path.write_text('customer_id,order_date,amount,product\nA,2024-01-05,10.00,"12 vinyl\nB,2024-01-06,12.50,cd\n'
                    'C,2024-01-07,1.00,x\n')
    calls: list[int] = []
    _, report = read_orders(path, meanwhile=lambda: calls.append(1))
    assert calls == [1]
    assert report.rows_valid == 3 and any("unbalanced quote" in warning for warning in report.warnings)


def test_called_on_the_batched_path_and_by_the_worker(orders, monkeypatch):
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")  # read in batches
    calls: list[str] = []
    read_orders(orders, meanwhile=lambda: calls.append("batches"))
    monkeypatch.delenv("CRM_INGEST_BATCH_MB")
    monkeypatch.setenv("CRM_INGEST_INPROCESS_MB", "0")  # read by the sandbox's worker process
    monkeypatch.delenv("CRM_INGEST_SUPERVISED", raising=False)
    frame, _ = read_orders(orders, meanwhile=lambda: calls.append("worker"))
    assert calls == ["batches", "worker"] and frame.collect().height == 3
