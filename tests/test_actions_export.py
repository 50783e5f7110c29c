"""Target-list exports: hostile ids and names are neutralised, CSV/XLSX round-trip, and the CLI."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import polars as pl
import pytest

from crm_core.__main__ import main
from crm_core.actions import ValueSettings, action_table, default_playbook, target_list
from crm_core.export import GUARD, safe_csv_bytes, safe_xlsx_bytes

HOSTILE_IDS = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x","click")']
SAFE_IDS = ["C001", "-12.5", "+7"]
HOSTILE_NAMES = ["=cmd|' /C calc'!A0", "@SUM(1)", "Ann", "-Bob", "+Eve", "\t=x", "Zoë O'Brien"]
ALL_IDS = HOSTILE_IDS + SAFE_IDS
GUARDED_NAMES = {"=cmd|' /C calc'!A0", "@SUM(1)", "-Bob", "+Eve", "\t=x"}


def _targets() -> pl.DataFrame:
    n = len(ALL_IDS)
    summary = pl.DataFrame({
        "customer_id": ALL_IDS,
        "revenue": [float(100 - i) for i in range(n)],  # distinct, so the list order is known
        "orders": list(range(1, n + 1)),
        "last_date": [dt.date(2024, 5, 1)] * n,
    })
    profile = pl.DataFrame({"customer_id": ALL_IDS, "segment": ["At Risk"] * n})
    names = (HOSTILE_NAMES * 2)[:n]
    contacts = pl.DataFrame({"customer_id": ALL_IDS, "name": names, "email": [f"{i}@example.com" for i in range(n)]})
    return target_list(action_table(summary, profile, default_playbook(), contacts, ValueSettings(0.2)), ["At Risk"])


def _expected_cell(value: str, hostile: bool) -> str:
    return GUARD + value if hostile else value


def test_csv_neutralises_hostile_ids_and_names_and_round_trips():
    targets = _targets()
    text = safe_csv_bytes(targets).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["customer_id"] for row in rows] == [_expected_cell(v, v in HOSTILE_IDS) for v in targets["customer_id"]]
    assert [row["name"] for row in rows] == [_expected_cell(v, v in GUARDED_NAMES) for v in targets["name"]]
    # round trip: dropping the guard gives the original text back
    assert [row["customer_id"].removeprefix(GUARD) if row["customer_id"].startswith(GUARD) else row["customer_id"]
            for row in rows] == targets["customer_id"].to_list()
    # numbers stay numbers
    assert [float(row["revenue"]) for row in rows] == targets["revenue"].to_list()
    assert rows[0]["action"] == targets["action"][0]


def test_no_csv_cell_starts_a_formula():
    text = safe_csv_bytes(_targets()).decode("utf-8-sig")
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell.replace(",", "."))  # only plain numbers may start with a sign


def test_xlsx_has_no_formula_cells_and_guards_hostile_text():
    targets = _targets()
    sheet = openpyxl.load_workbook(io.BytesIO(safe_xlsx_bytes(targets, sheet_name="Target list"))).active
    assert sheet.title == "Target list"
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    assert header == targets.columns
    column = {name: index for index, name in enumerate(header)}
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    ids = [row[column["customer_id"]].replace("_x000D_", "\r") for row in body]  # XLSX escapes CR
    assert ids == [_expected_cell(v, v in HOSTILE_IDS) for v in targets["customer_id"]]
    names = [row[column["name"]] for row in body]
    assert names == [_expected_cell(v, v in GUARDED_NAMES) for v in targets["name"]]
    assert [row[column["revenue"]] for row in body] == targets["revenue"].to_list()  # numbers, not text


# --------------------------------------------------------------------------- CLI


def _orders_csv(tmp_path) -> str:
    """30 customers with 1-4 orders over a year; customer 0 has a hostile id."""
    rows = []
    start = dt.date(2024, 1, 1)
    for i in range(30):
        customer = "=HYPERLINK(1)" if i == 0 else f"C{i:03d}"
        for k in range(1 + i % 4):
            day = start + dt.timedelta(days=(i * 11 + k * 37) % 360)
            rows.append((customer, day.isoformat(), float(10 + i + 5 * k)))
    path = tmp_path / "orders.csv"
    pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row").write_csv(path)
    return str(path)


def test_cli_writes_the_segment_target_list(tmp_path, capsys):
    pytest.importorskip("crm_core.rfm")
    source = _orders_csv(tmp_path)
    out = tmp_path / "lost.csv"
    assert main(["export", source, "--segment", "lost", "--out", str(out), "--json"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline="")))
    assert rows and {row["RFM segment"] for row in rows} == {"Lost"}  # managers' headers
    assert all(row["Objective"] in ("Stop spending", "One last try") for row in rows)
    assert '"customers": %d' % len(rows) in capsys.readouterr().out


def test_cli_xlsx_guards_hostile_ids(tmp_path):
    pytest.importorskip("crm_core.rfm")
    source = _orders_csv(tmp_path)
    out = tmp_path / "all.xlsx"
    segments = ["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
                "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]
    argv = ["export", source, "--out", str(out)]
    for name in segments:
        argv += ["--segment", name]
    assert main(argv) == 0
    sheet = openpyxl.load_workbook(out).active
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(ids) == 30
    assert GUARD + "=HYPERLINK(1)" in ids
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_cli_unknown_segment_lists_valid_names(tmp_path, capsys):
    pytest.importorskip("crm_core.rfm")
    source = _orders_csv(tmp_path)
    out = tmp_path / "x.csv"
    assert main(["export", source, "--segment", "Loyalish", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "unknown segment 'Loyalish'" in error
    assert "Champions" in error and "Can't Lose Them" in error
    assert not out.exists()
