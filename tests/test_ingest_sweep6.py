"""Sixth hostile sweep (session 14; generators in tests/hostile/sweep6.py): what still misread or misled.

Every read checks the trust rules (rows read = kept + rejected, each rejected row with its line and a known
reason); each test names what was wrong before its fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hostile import sweep6
from ingest_helpers import read_checked

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def made(tmp_path):
    return lambda name: sweep6.FILES[name](tmp_path / name)


def _batched(monkeypatch, rows: int) -> None:
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")  # every text file is "large"
    monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", str(rows))


def _without_batch_keys(detected: dict) -> dict:
    return {k: v for k, v in detected.items() if k not in ("fast_path", "read_in_batches")}


# ---------------------------------------------------------------- order lines filled from their order, in batches


@pytest.mark.parametrize("rows", [1, 7, 1000])
def test_a_batched_read_fills_order_lines_from_their_order_as_a_whole_read(made, monkeypatch, rows):
    """Read in batches, lines carrying the customer on their order's first line only were 'missing customer id'
    (their amounts left out of revenue) where a whole read fills them: now the same rows, report and warnings,
    also for an order whose lines straddle batches or come before its first line."""
    path = made("order_lines_batches.csv")
    whole_rows, whole = read_checked(path)
    assert whole.detected["filled_from_order"] == 40
    assert whole.rejected_by_reason() == {"missing customer id": 4, "unparseable amount": 2}
    _batched(monkeypatch, rows)
    batched_rows, batched = read_checked(path)
    assert batched.detected["read_in_batches"] == -(-whole.rows_read // rows)
    assert batched_rows.equals(whole_rows)
    expected, got = whole.to_dict(), batched.to_dict()
    assert _without_batch_keys(got.pop("detected")) == _without_batch_keys(expected.pop("detected"))
    assert got == expected  # warnings (the filled lines' one included), rejected rows with their raw text
    assert batched.all_rejected().collect().equals(whole.all_rejected().collect())
    early = batched_rows.filter(pl.col("order_id") == "9041")
    assert early.get_column("customer_id").to_list() == ["K1"]  # line 4, filled from the file's last lines


def test_the_cli_figures_are_the_same_when_order_lines_are_filled_in_batches(made, monkeypatch, capsys):
    from crm_core.__main__ import main

    path = made("order_lines_batches.csv")
    outputs = []
    for batched in (False, True):
        if batched:
            _batched(monkeypatch, 5)
        for command in (["summary"], ["rfm", "--as-of", "2024-07-01"], ["portfolio"]):
            assert main([command[0], str(path), *command[1:], "--json"]) == 0
            payload = json.loads(capsys.readouterr().out)
            payload.pop("detected", None)
            outputs.append(payload)
    assert outputs[:3] == outputs[3:]
    assert outputs[0]["rows_rejected"] == 6
