"""Formula-injection-safe exports: hostile cells are guarded, numbers are not."""
from __future__ import annotations

import csv
import io

import openpyxl
import polars as pl
import pytest

from crm_core.export import GUARD, neutralize_cell, safe_csv_bytes, safe_xlsx_bytes, write_safe_csv

HOSTILE = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "\rCR", "=HYPERLINK(\"http://x\")"]
HARMLESS = ["-12.5", "+7", "C000123", "", "plain text", "1e5", "-3,5"]


def test_hostile_cells_get_the_guard_and_round_trip():
    for value in HOSTILE:
        guarded = neutralize_cell(value)
        assert guarded == GUARD + value
        assert guarded[len(GUARD):] == value  # round trip: original text after the guard


@pytest.mark.parametrize("value", HARMLESS)
def test_numbers_and_plain_text_are_untouched(value):
    assert neutralize_cell(value) == value


def _frame() -> pl.DataFrame:
    ids = HOSTILE + HARMLESS
    return pl.DataFrame({"customer_id": ids, "revenue": [float(i) for i in range(len(ids))], "=evil header": ["x"] * len(ids)})


def test_csv_round_trip_reads_original_plus_guard():
    data = safe_csv_bytes(_frame()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    header = list(rows[0].keys())
    assert header[2] == GUARD + "=evil header"
    read_ids = [row["customer_id"] for row in rows]
    assert read_ids == [GUARD + v for v in HOSTILE] + HARMLESS
    assert [float(row["revenue"]) for row in rows] == [float(i) for i in range(len(rows))]


@pytest.mark.parametrize("rows_per_write", [1, 3, 1000])
def test_csv_written_in_slices_is_the_same_bytes(rows_per_write):
    """A large list is neutralised and written a slice of rows at a time: every slice guarded, one header."""
    for frame in (_frame(), _frame().clear()):
        output = io.BytesIO()
        write_safe_csv(frame, output, rows_per_write)
        assert output.getvalue() == safe_csv_bytes(frame)


def test_xlsx_has_no_formula_cells_and_keeps_numbers():
    workbook = openpyxl.load_workbook(io.BytesIO(safe_xlsx_bytes(_frame())))
    sheet = workbook.active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    # XLSX stores a carriage return as the escape _x000D_ (Excel decodes it).
    ids = [(row[0].value or "").replace("_x000D_", "\r") for row in sheet.iter_rows(min_row=2)]
    assert ids[: len(HOSTILE)] == [GUARD + v for v in HOSTILE]
    revenues = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(v, (int, float)) for v in revenues)
