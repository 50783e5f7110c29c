"""`make bench`'s final table (benchmarks/summary.py): every figure with its target beside it. No timings asserted."""
from __future__ import annotations

from benchmarks.__main__ import selected
from benchmarks.summary import HEADER, collect, format_table, rows_of

PAGES_LOG = f"""{HEADER}2026-12-05 03:00 UTC, load 1.0 0.9 0.8
page (demo, 5,000 customers)         first new sess  revisit   period   filter
Overview                             0.90    0.80     0.31     1.20!    1.10!
Segments                             1.62!   1.40     0.70!      -        -
target                               1.50s    1.50s    0.50s    1.00s    1.00s   (! = missed)
1M orders: upload to Overview  21.70! s (read 3.10 s + save and Overview 18.60 s) (target 5 s)
"""
MEMORY_LOG = ("summary, 100M orders (2,800 MB CSV)                  peak    457 MB (largest process 420 MB) 1141.0s "
              "rows 100,000,000 rejected 0 customers 10,000,000 revenue exact (target < 4096 MB)\n")
REPORT_LOG = ("ingest + summarize, 1,000,000 rows                ours     0.70s     420 MB | pandas same summary     "
              "1.40s    900 MB | time ratio  0.50x (target <= 0.5x)\n")
WAREHOUSE_LINE = ("duckdb     Overview + CLV counts                  push    1.20 s | pull    4.00 s (read 3.0 + compute 1.0) "
                  "| push/pull  0.30 (target < 1: met)")
WAREHOUSE_LOG = f"{WAREHOUSE_LINE}\n\nPush-down vs pull, 10,000,000 order lines:\n  {WAREHOUSE_LINE}\n"
LOAD_LOG = ("load, 30 sessions, back to back, fresh server: slowest page  p95 12.20 s (overview) (target p95 < 5 s)\n")
CLI_LOG = ("summary vs polars_summary.py, 1M orders    ours   0.52s | baseline   0.31s | ratio median 1.71x "
           "(min 1.54, max 1.84) (target <= 1.3x)\n")


def test_every_line_with_a_target_becomes_a_row_with_its_target():
    (row,) = rows_of("bench_cli", CLI_LOG)
    assert row.figure == "summary vs polars_summary.py, 1M orders"
    assert "ratio median 1.71x" in row.measured and "(min 1.54, max 1.84)" in row.measured
    assert row.target == "<= 1.3x"
    (row,) = rows_of("bench_memory", MEMORY_LOG)
    assert row.figure == "summary, 100M orders (2,800 MB CSV)" and "peak 457 MB" in row.measured
    assert row.target == "< 4096 MB"
    (row,) = rows_of("bench_ingest", REPORT_LOG)
    assert row.figure == "ingest + summarize, 1,000,000 rows" and "time ratio 0.50x" in row.measured
    assert row.target == "<= 0.5x"
    (row,) = rows_of("bench_warehouse", WAREHOUSE_LOG)  # printed twice (as measured, and in the recap): one row
    assert row.figure == "duckdb Overview + CLV counts" and "push/pull 0.30" in row.measured
    assert row.target == "< 1: met"
    (row,) = rows_of("bench_load", LOAD_LOG)
    assert row.figure == "load, 30 sessions, back to back, fresh server: slowest page"
    assert row.measured == "p95 12.20 s (overview)" and row.target == "p95 < 5 s"


def test_browser_page_table_is_summarised_as_the_slowest_page_per_column_with_its_target():
    rows = {row.figure: row for row in rows_of("bench_pages", PAGES_LOG)}
    first = rows["browser, demo: slowest first visit (2 pages)"]
    assert first.measured.startswith("1.62 s (Segments)") and "1 page(s) over target" in first.measured
    assert first.target == "< 1.50 s"
    assert rows["browser, demo: slowest revisit (2 pages)"].target == "< 0.50 s"
    assert rows["browser, demo: slowest period change (1 pages)"].measured.startswith("1.20 s (Overview)")
    upload = rows["1M orders: upload to Overview"]
    assert upload.target == "5 s" and "21.70" in upload.measured and "read 3.10 s" in upload.measured
    assert first.ran == "2026-12-05 03:00 UTC, load 1.0 0.9 0.8"


def test_table_lists_every_bench_with_figures_targets_and_dates(tmp_path):
    (tmp_path / "bench_cli.log").write_text(f"{HEADER}2026-12-05 03:10 UTC, load 0.5\n{CLI_LOG}")
    (tmp_path / "bench_report.log").write_text(f"{HEADER}2026-12-05 03:20 UTC, load 0.5\nkey findings 1.0 s\n")
    table = format_table(collect(tmp_path, ["bench_load", "bench_cli", "bench_report"]))
    header, rule, *lines = table.splitlines()
    assert [cell.strip() for cell in header.split(" | ")] == ["bench", "figure", "measured", "target", "ran"]
    assert set(rule) <= {"-", "+"}
    by_bench = {line.split(" | ")[0].strip(): line for line in lines}
    assert "<= 1.3x" in by_bench["cli"] and "ratio median 1.71x" in by_bench["cli"] and "03:10 UTC" in by_bench["cli"]
    assert "not run yet" in by_bench["load"]
    assert "no figure with a target" in by_bench["report"] and "03:20 UTC" in by_bench["report"]
    assert lines.index(by_bench["load"]) < lines.index(by_bench["cli"])  # issue 18's figures first, in its order


def test_skip_and_only_words_select_benches():
    names = ["bench_cli", "bench_load", "bench_memory", "bench_pages"]
    assert selected(names, [], ["memory", "load"]) == ["bench_cli", "bench_pages"]
    assert selected(names, ["load", "cli"], [""]) == ["bench_cli", "bench_load"]
