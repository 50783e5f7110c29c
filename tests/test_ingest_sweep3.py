"""Third hostile sweep (session 12): what the CLI got wrong on small hostile files.

- Status and type columns no role reads (no preset): rows they mark as cancelled or refunded are counted as sales,
  so the reader says so in a warning instead of leaving the reinterpretation silent.
- JSON files (an array of orders, or JSON lines) were read as a CSV whose first line is the header: "column names
  but no rows of data", or "no column looks like an order date" listing a JSON object as the columns.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crm_core.ingest import IngestError, read_orders

DATA = Path(__file__).resolve().parent / "data"
ROOT = DATA.parent.parent


@pytest.mark.parametrize("name, column, example", [
    ("status_cancelled.csv", "status", "'cancelled'"),
    ("refund_rows_type.csv", "type", "'Refund'"),
])
def test_an_unread_status_column_marking_cancellations_or_refunds_is_named(name, column, example):
    _, report = read_orders(DATA / name)
    named = [w for w in report.warnings if f"Column '{column}' is not read" in w]
    assert len(named) == 1 and example in named[0], report.warnings
    assert report.rows_read == 12 and report.rows_rejected == 0  # counted as written, as the warning says


def test_a_status_column_of_plain_sales_gives_no_warning(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text((DATA / "status_cancelled.csv").read_text().replace("cancelled", "completed"))
    _, report = read_orders(path)
    assert not [w for w in report.warnings if "is not read" in w], report.warnings


def test_the_cli_summary_carries_the_warning():
    done = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(DATA / "status_cancelled.csv"), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["rows_read"] == payload["rows_valid"] + payload["rows_rejected"] == 12
    assert any("Column 'status' is not read" in w for w in payload["warnings"])


@pytest.mark.parametrize("name", ["orders.json", "orders.ndjson"])
def test_json_files_are_named_as_json(name):
    with pytest.raises(IngestError, match="This file is JSON, not a table of orders"):
        read_orders(DATA / name)


@pytest.mark.parametrize("name", ["orders.json", "orders.ndjson"])
def test_the_cli_says_json_in_one_line(name):
    done = subprocess.run([sys.executable, "-m", "crm_core", "rfm", str(DATA / name), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "JSON" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_ids_are_lower_cased_only_when_shaped_like_an_address():
    """Ids with an @ were all lower-cased as e-mails: "@SUM(A1)" became another id, "@sum(a1)"."""
    frame, _ = read_orders(DATA / "formula_ids.csv")
    ids = set(frame.collect()["customer_id"].to_list())
    assert ids == {"@SUM(A1)", "ann.lee@example.com", '=HYPERLINK("http://x.test/a@b.cd","click")', "+cmd", "C1"}


def test_export_neutralises_formula_ids_as_written(tmp_path):
    out = tmp_path / "all.csv"
    segments = [arg for name in ("Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
                                 "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Lost", "Hibernating")
                for arg in ("--segment", name)]
    done = subprocess.run([sys.executable, "-m", "crm_core", "export", str(DATA / "formula_ids.csv"), *segments,
                           "--out", str(out), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first = {line.split(",")[0] for line in out.read_text(encoding="utf-8-sig").splitlines()[1:]}
    assert {"'@SUM(A1)", "'+cmd", "C1", "ann.lee@example.com"} <= first
    assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in first)


def test_rows_with_more_fields_than_the_header_are_set_aside_with_their_text(monkeypatch):
    """``1234,56`` unquoted in a comma-separated file was read as 1234 (the extra field dropped, no warning)."""
    for batched in (False, True):
        if batched:  # the large-file path reads batches of the same scan
            monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")
            monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", "2")
        frame, report = read_orders(DATA / "unquoted_decimal_comma.csv")
        assert (report.detected.get("read_in_batches", 0) > 1) == batched
        assert frame.collect()["amount"].to_list() == [10.5, 20.0, 12.25, 7.75], batched  # a trailing empty field is no extra
        assert report.rows_read == report.rows_valid + report.rows_rejected == 6
        assert report.rejected.rows() == [(4, "C3,2024-01-07,1234,56", "more fields than the header"),
                                          (6, "C2,2024-02-06,5,x", "more fields than the header")], batched
