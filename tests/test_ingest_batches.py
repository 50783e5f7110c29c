"""Large files are read in batches (crm_core/ingest/batches.py): same result as a whole read, bounded memory.

The threshold and batch size are lowered by environment variables so that small
files take the batched path; the whole-file read of the same file is the reference.
"""
from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import polars as pl
import pytest

from crm_core.ingest import read_orders
from crm_core.ingest.rejects import KEPT_IN_MEMORY


def _batched(monkeypatch, rows: int) -> None:
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")  # every text file is "large"
    monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", str(rows))


def _messy_csv(path: Path, rows: int = 6000) -> Path:
    """Comma decimals decided only by a row far from the ambiguous ones, bad values, two currencies."""
    lines = ["customer;date;amount;quantity;currency"]
    for i in range(rows):
        amount = f"{i % 97},{i % 100:02d}"
        if i == 10:
            amount = "1.234"  # ambiguous alone; "1.234,56" below settles it as 1234
        if i == rows - 5:
            amount = "1.234,56"
        if i % 501 == 7:
            amount = "abc"
        date = "2024-02-30" if i % 333 == 5 else f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        quantity = "x" if i % 777 == 3 else str(1 + i % 4)
        currency = "USD" if i > rows - 50 else "EUR"
        customer = "" if i % 1001 == 9 else f"C{i % 211}"
        lines.append(f"{customer};{date};{amount};{quantity};{currency}")
    lines += lines[1:21]  # exact copies, in another batch than their originals
    path.write_text("\n".join(lines) + "\n")
    return path


def _without_batch_keys(detected: dict) -> dict:
    return {k: v for k, v in detected.items() if k not in ("fast_path", "read_in_batches")}


def test_batched_read_gives_the_whole_reads_rows_report_and_rejects(tmp_path, monkeypatch):
    path = _messy_csv(tmp_path / "messy.csv")
    whole_rows, whole = read_orders(path)
    _batched(monkeypatch, 700)
    batched_rows, batched = read_orders(path)
    assert batched.detected["read_in_batches"] == 9 and batched.rows_read == 6020
    assert batched_rows.collect().equals(whole_rows.collect())
    expected, got = whole.to_dict(), batched.to_dict()
    assert _without_batch_keys(got.pop("detected")) == _without_batch_keys(expected.pop("detected"))
    assert got == expected
    assert whole.duplicate_rows == 17  # 20 copies, 3 of them of rejected rows (lines 7, 9 and 11)
    assert read_orders(path, count_duplicates=False)[1].duplicate_rows is None
    assert batched.all_rejected().collect().equals(whole.all_rejected().collect())
    # the ambiguous "1.234" was settled by "1.234,56" in another batch: read as 1234, not rejected
    assert batched_rows.filter(pl.col("amount") == 1234.0).collect().height == 2  # the row and its copy


def test_many_rejected_rows_go_to_disk_and_only_the_first_stay_in_memory(tmp_path, monkeypatch):
    rows = 200_000
    frame = pl.DataFrame({"i": pl.int_range(rows, eager=True)}).select(
        customer=pl.format("C{}", pl.col("i") % 5000),
        date=pl.when(pl.col("i") % 2 == 0).then(pl.lit("2024-03-01")).otherwise(pl.lit("not a date")),
        amount=(pl.col("i") % 1000).cast(pl.String) + ".25",
    )
    path = tmp_path / "half_rejected.csv"
    frame.write_csv(path)
    _batched(monkeypatch, 50_000)
    valid, report = read_orders(path)
    assert report.detected["read_in_batches"] == 4
    assert report.rows_read == rows == report.rows_valid + report.rows_rejected
    assert report.rows_rejected == rows // 2 and report.rejected_by_reason() == {"unparseable date": rows // 2}
    assert report.rejected.height == KEPT_IN_MEMORY  # the first ones only
    assert report.rejected["line"].to_list()[:3] == [3, 5, 7]  # header = line 1, first data row = line 2
    on_disk = Path(report.rejected_file)
    assert on_disk.is_file()
    spilled = report.all_rejected().collect()
    assert spilled.height == rows // 2 and spilled["line"].is_sorted()
    assert spilled.row(-1) == (rows + 1, f"C{(rows - 1) % 5000},not a date,999.25", "unparseable date")
    assert valid.select(pl.len()).collect().item() == rows // 2
    assert valid.select(pl.col("amount").sum()).collect().item() == pytest.approx(
        sum(i % 1000 + 0.25 for i in range(0, rows, 2)))


def test_batched_rows_are_removed_with_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # temporary files of this test only
    path = _messy_csv(tmp_path / "messy.csv", rows=1500)
    _batched(monkeypatch, 500)
    valid, report = read_orders(path)
    folders = list(tmp_path.glob("crm_rows_*/read-*"))
    assert len(folders) == 1 and len(list(folders[0].glob("part-*.parquet"))) == 4
    assert valid.collect().height == report.rows_valid
    del report
    gc.collect()
    assert not folders[0].exists()


def test_cli_summary_is_the_same_when_the_file_is_read_in_batches(tmp_path, monkeypatch, capsys):
    import json

    from crm_core.__main__ import main

    path = _messy_csv(tmp_path / "messy.csv")
    assert main(["summary", str(path), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    _batched(monkeypatch, 1000)
    assert main(["summary", str(path), "--json"]) == 0
    batched = json.loads(capsys.readouterr().out)
    assert batched.pop("detected")["read_in_batches"] == 7
    whole.pop("detected")
    assert batched == whole and whole["rows_read"] == 6020


def test_customers_counted_in_slices_of_their_hash_are_all_counted():
    from crm_core.commands.summary import ROWS_PER_SLICE, distinct_customers

    tx = pl.DataFrame({"customer_id": [f"C{i % 977}" for i in range(50_000)]}).lazy()
    assert distinct_customers(tx, 50_000) == 977  # one slice
    assert distinct_customers(tx, ROWS_PER_SLICE * 7) == 977  # seven slices, each id in exactly one


def _counted_alongside(path: Path):
    from crm_core.ingest.report import COUNT_LATER, DuplicatesAlongside

    rows, report = read_orders(path, count_duplicates=COUNT_LATER)
    left = report.duplicate_rows
    duplicates = DuplicatesAlongside()
    duplicates.start(rows, report)
    duplicates.record(report)
    return left, report


def test_duplicates_counted_alongside_the_callers_queries_give_the_readers_count_and_sentence(tmp_path, monkeypatch):
    path = _messy_csv(tmp_path / "messy.csv")
    path.write_text(path.read_text() + "C1;2024-03-03;-5,00;1;EUR\n")  # a return: its sentence follows the duplicates'
    _, whole = read_orders(path)
    left, later = _counted_alongside(path)
    assert left is None  # rows in memory: left to the caller
    assert later.duplicate_rows == whole.duplicate_rows == 17
    assert later.warnings == whole.warnings  # the sentence in the reader's place, between the others
    _batched(monkeypatch, 700)
    left, batched = _counted_alongside(path)
    assert left == 17 and batched.duplicate_rows == 17  # rows on disk: only the reader can count them
    assert batched.warnings == read_orders(path)[1].warnings
