"""Ingest's shortcuts for large text files read exactly what the long way reads.

The sample comes from the file's first bytes, sniffing splits only the lines it
looks at, the bare-CR scan searches the file through a memory map a window at a time, the fast parse
reads strict UTF-8 (falling back to the lossy text path), and one pass decides
that no number needs resolving. Each test compares with the long way or with
values worked out by hand.
"""
from __future__ import annotations

import mmap

import datetime as dt
import random
from pathlib import Path

import polars as pl

from crm_core.ingest import read_orders
from crm_core.ingest import prefetch
from crm_core.ingest import source as ingest_source
from crm_core.ingest.sniff import first_lines, number_evidence, sniff_number_format
from crm_core.ingest.source import SAMPLE_ROWS, open_table


def _orders_csv(path: Path, rows: int, note: str = "x") -> Path:
    start = dt.date(2023, 1, 1)
    lines = [f"C{i % 97},{start + dt.timedelta(days=i % 300)},{i % 500 + 0.25:.2f},{note}" for i in range(rows)]
    path.write_text("customer_id,order_date,amount,note\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_sample_of_a_large_file_is_its_first_rows_even_with_a_quoted_line_break_at_the_cut(tmp_path):
    path = _orders_csv(tmp_path / "orders.csv", 60_000, note="n" * 30)  # ~4,000 rows in the first quarter megabyte
    text = path.read_text(encoding="utf-8")
    start = text.rindex("\n", 0, ingest_source.SAMPLE_BYTES // 4 - 10)  # a quoted field with line breaks
    end = text.index("\n", start + 1)  # across the quarter megabyte, in a row of the sample
    text = text[:end - 30] + '"a\n' + "long " * 20 + '\nnote"' + text[end:]
    path.write_text(text, encoding="utf-8")
    with open_table(path) as table:
        whole_file = pl.scan_csv(path, schema={n: pl.String for n in table.columns}).head(SAMPLE_ROWS).collect()
        assert table.sample.equals(whole_file)
        assert not table.complete
        assert any("\nlong" in note for note in table.sample.get_column("note").to_list())


def test_first_lines_are_those_of_the_whole_text():
    chunks = ["a,b", "\r\n", "\n", "\r", "\x0b", "x" * 40, '"q\nq"', ""]
    rng = random.Random(4)
    for _ in range(300):
        text = "".join(rng.choice(chunks) for _ in range(rng.randrange(0, 4000)))
        for count in (0, 1, 7, 200, 300):
            assert first_lines(text, count) == text.splitlines()[:count]


def test_bare_carriage_returns_are_found_across_window_boundaries(tmp_path, monkeypatch):
    window = mmap.ALLOCATIONGRANULARITY  # the smallest window a map's offset allows
    monkeypatch.setattr(prefetch, "_SCAN_WINDOW", window)
    pad = b"x" * (window - 1)  # the next byte is the window's last
    cases = {
        pad + b"\r\n2345678\n": False,  # CRLF split across two windows
        pad + b"\rX2345678\n": True,  # a bare CR ending a window
        pad + b"\r": True,  # the file ends with a bare CR, at a window's end
        pad + b"x\r": True,  # ... and just past it
        pad + b"\r\n" + pad + b"\r\n": False,
        b"1234\r\n78\r\n": False,
        b"1234\r678\n": True,
        b"": False,
    }
    for content, bare in cases.items():
        path = tmp_path / "lines.csv"
        path.write_bytes(content)
        assert ingest_source._has_lone_cr(path) is bare, content[-12:]


def test_a_byte_that_is_not_utf8_past_the_sample_reads_as_on_the_lossy_path(tmp_path):
    path = _orders_csv(tmp_path / "orders.csv", 100_000)
    data = path.read_bytes()  # past the first megabyte and before the last 64 KB (where the encoding is sniffed)
    at = data.index(b"\nC5,", ingest_source.SAMPLE_BYTES + 1000) + 1
    path.write_bytes(data[:at] + b"\xff" + data[at:])  # "C5" -> "\xffC5"
    tx, report = read_orders(path)
    frame = tx.collect()
    assert report.detected["encoding"] == "utf-8"
    assert report.rows_read == report.rows_valid == 100_000
    assert frame.filter(pl.col("customer_id") == "\ufffdC5").height == 1


def test_number_evidence_decides_the_same_under_each_hint_however_often_asked():
    values = ["1,234", "12,50", "3.500", "7"]
    evidence = number_evidence(values)
    for hint in (True, False, True):
        assert evidence.decide(hint) == sniff_number_format(values, european_hint=hint)


def test_plain_amounts_and_three_decimal_amounts_are_read_as_before(tmp_path):
    """The one-pass check finds nothing to resolve in plain amounts; '1.234' among them still
    goes through the convention (three decimals with a point: ambiguous without other evidence)."""
    plain = tmp_path / "plain.csv"
    plain.write_text("customer_id,order_date,amount\nC1,2024-01-02,12.50\nC2,2024-01-03,-3.25\nC1,2024-01-04,inf\n")
    frame, report = read_orders(plain)[0].collect(), read_orders(plain)[1]
    assert frame.get_column("amount").to_list() == [12.50, -3.25]
    assert report.rejected_by_reason() == {"amount out of range": 1}
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("customer_id,order_date,amount\nC1,2024-01-02,1.234\nC2,2024-01-03,2.50\n")
    tx, report = read_orders(mixed)
    assert report.rows_read == 2
    assert report.rejected_by_reason().get("ambiguous amount", 0) + tx.collect().height == 2
