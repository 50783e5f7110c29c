"""Every analysis command says, beside its figures, what the read kept, set aside and warned about.

A manager running `rfm`, `portfolio` or `clv` on an export with ragged rows or an unread status column would
otherwise get figures over fewer rows, or over cancelled orders, with nothing saying so (only `summary`
and `export` reported it).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_core.__main__ import main

DATA = Path(__file__).parent / "data"
RAGGED = DATA / "unquoted_decimal_comma.csv"  # 6 rows, 2 with an unquoted decimal comma (one field too many)
CANCELLED = DATA / "status_cancelled.csv"  # a status column marking cancelled orders, which nothing reads


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command", ["rfm", "portfolio", "drivers", "clv"])
def test_rejected_rows_are_counted_beside_the_figures(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    payload = run_json(capsys, command, str(RAGGED))
    assert (payload["rows_read"], payload["rows_valid"], payload["rows_rejected"]) == (6, 4, 2)
    assert payload["rejected_by_reason"] == {"more fields than the header": 2}
    assert any("set aside" in warning for warning in payload["warnings"])


@pytest.mark.parametrize("command", ["rfm", "portfolio", "drivers", "clv"])
def test_the_readers_warnings_reach_the_output(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    payload = run_json(capsys, command, str(CANCELLED))
    assert payload["rows_rejected"] == 0
    assert any("'status'" in warning and "cancel" in warning for warning in payload["warnings"])


def test_append_reports_the_new_exports_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crm_core.dataset import Dataset, save_dataset
    from crm_core.ingest import read_orders

    folder = tmp_path / "dataset"
    tx, _ = read_orders(CANCELLED)
    save_dataset(Dataset(tx), folder)
    payload = run_json(capsys, "append", str(folder), str(CANCELLED))
    assert payload["duplicate_orders"] > 0 and payload["rows_read"] == payload["rows_valid"] == 12
    assert any("'status'" in warning for warning in payload["warnings"])


@pytest.mark.parametrize(("command", "out"), [("deck", "deck.pptx"), ("report", "report.html")])
def test_report_and_deck_count_the_rows_set_aside(command: str, out: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    payload = run_json(capsys, command, str(RAGGED), "--out", str(tmp_path / out))
    assert (payload["rows_read"], payload["rows_valid"], payload["rows_rejected"]) == (6, 4, 2)
    assert any("set aside" in warning for warning in payload["warnings"])
