"""Orders in PostgreSQL: time to the Overview figures, push-down vs. pulling every row.

A throwaway PostgreSQL server (Debian's package, as in the tests) gets an
``orders`` table of ``CRM_BENCH_WAREHOUSE_ROWS`` lines (default 10,000,000;
about 10 per customer over four years, 4 % returns, order ids, channels),
generated inside the database with ``generate_series`` and a fixed seed.

Both sides compute what the Overview page shows: the KPI cards (last 12
months against the 12 months before) and the monthly trend of the whole
history.

- push-down: ``crm_core.warehouse.Warehouse.overview`` (one SQL statement;
  50 rows travel);
- pull: every row fetched with ``COPY … TO STDOUT`` (the fastest way out of
  PostgreSQL) into Polars, then ``crm_core.kpis``.

Each side runs in a fresh process (peak RSS of the client process); the
database's own memory is not counted on either side. The figures are checked
to be equal. A second line does the same for the per-customer summary.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from benchmarks.common import measure, report

ROWS = int(os.environ.get("CRM_BENCH_WAREHOUSE_ROWS", 10_000_000))
CUSTOMERS = max(ROWS // 10, 1)
FIRST, DAYS = dt.date(2022, 1, 1), 4 * 365
LAST = FIRST + dt.timedelta(days=DAYS - 1)
TESTS = Path(__file__).resolve().parent.parent / "tests"
# More memory for sorts and hashes than the tiny defaults; two parallel workers (2 cores).
SERVER_SETTINGS = "-c shared_buffers=1GB -c work_mem=256MB -c max_parallel_workers_per_gather=2 -c jit=off"

CREATE = f"""
SELECT setseed(0.42);
CREATE UNLOGGED TABLE orders AS
SELECT 'C' || lpad((1 + floor(random() * {CUSTOMERS}))::bigint::text, 8, '0') AS customer_id,
       DATE '{FIRST}' + floor(random() * {DAYS})::int AS order_date,
       round(((CASE WHEN random() < 0.04 THEN -1 ELSE 1 END) * exp(2.5 + random() * 2.5))::numeric, 2)::float8 AS amount,
       'O' || g AS order_id,
       (ARRAY['web', 'store', 'phone', 'partner'])[1 + floor(random() * 4)::int] AS channel
FROM generate_series(1, {ROWS}) AS g;
ANALYZE orders;
"""


def _windows() -> tuple[dt.date, dt.date]:
    from crm_core.kpis import comparison_window

    return comparison_window(FIRST, LAST, "last_12_months")


def _digest(comparison, trend) -> dict:
    """What must agree between the two sides (rounded against float summation order)."""
    return {
        "cards": {row["kpi"]: (round(row["value"], 4) if row["value"] is not None else None,
                               round(row["previous"], 4) if row["previous"] is not None else None)
                  for row in comparison.iter_rows(named=True)},
        "trend_rows": trend.height,
        "trend_revenue": round(float(trend["revenue"].sum()), 2),
        "trend_orders": int(trend["orders"].sum()),
    }


def overview_pushdown(uri: str) -> dict:
    from crm_core.warehouse import Warehouse, WarehouseSource

    start = time.perf_counter()
    warehouse = Warehouse(WarehouseSource(uri, table="orders"))
    digest = _digest(*warehouse.overview(*_windows(), FIRST, LAST, "month"))
    return {**digest, "wall": time.perf_counter() - start}


def overview_pull(uri: str) -> dict:
    from crm_core.kpis import kpi_comparison, kpi_trend
    from crm_core.warehouse import Warehouse, WarehouseSource

    start = time.perf_counter()
    tx = Warehouse(WarehouseSource(uri, table="orders")).all_rows().lazy()
    digest = _digest(kpi_comparison(tx, *_windows()), kpi_trend(tx, FIRST, LAST, "month"))
    return {**digest, "wall": time.perf_counter() - start}


def summary_pushdown(uri: str) -> dict:
    from crm_core.warehouse import Warehouse, WarehouseSource

    start = time.perf_counter()
    summary = Warehouse(WarehouseSource(uri, table="orders")).customer_summary(FIRST, LAST)
    return {"customers": summary.height, "revenue": round(float(summary["revenue"].sum()), 2),
            "orders": int(summary["orders"].sum()), "wall": time.perf_counter() - start}


def summary_pull(uri: str) -> dict:
    from crm_core.customers import filter_period, summarize
    from crm_core.warehouse import Warehouse, WarehouseSource

    start = time.perf_counter()
    tx = Warehouse(WarehouseSource(uri, table="orders")).all_rows().lazy()
    summary = summarize(filter_period(tx, FIRST, LAST), as_of=LAST).collect()
    return {"customers": summary.height, "revenue": round(float(summary["revenue"].sum()), 2),
            "orders": int(summary["orders"].sum()), "wall": time.perf_counter() - start}


def pulled_megabytes(uri: str) -> float:
    """Size of the CSV that pulling every row moves (not timed)."""
    from crm_core.warehouse import Warehouse, WarehouseSource

    return Warehouse(WarehouseSource(uri, table="orders")).all_rows().write_csv().encode().__len__() / 1e6


def _load(uri: str) -> float:
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        for statement in filter(str.strip, CREATE.split(";")):
            connection.execute(statement)
    return time.perf_counter() - start


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from pg_cluster import ClusterUnavailable, PostgresCluster

    cluster = PostgresCluster(extra_settings=SERVER_SETTINGS)
    try:
        uri = cluster.start()
    except ClusterUnavailable as reason:
        print(f"skipped: PostgreSQL cannot start here ({reason})", flush=True)
        return
    try:
        if ROWS != 10_000_000:
            print(f"NOTE: {ROWS:,} rows (CRM_BENCH_WAREHOUSE_ROWS), not the 10,000,000 of the target", flush=True)
        print(f"  generating {ROWS:,} orders of {CUSTOMERS:,} customers in PostgreSQL: {_load(uri):.0f} s", flush=True)
        print(f"  pulling every row moves {measure(pulled_megabytes, uri)[2]:,.0f} MB of CSV; push-down returns "
              "50 rows for the Overview (2 card periods + 48 months)", flush=True)
        for title, ours_func, pull_func in (("Overview figures", overview_pushdown, overview_pull),
                                            ("per-customer summary", summary_pushdown, summary_pull)):
            _, ours_mb, ours = measure(ours_func, uri)
            _, pull_mb, pulled = measure(pull_func, uri)
            same = {k: v for k, v in ours.items() if k != "wall"} == {k: v for k, v in pulled.items() if k != "wall"}
            report(f"{title}, {ROWS:,} rows in PostgreSQL", (ours["wall"], ours_mb), (pulled["wall"], pull_mb),
                   "pull all rows", "push-down faster, less memory")
            print(f"  push-down / pull time {ours['wall'] / pulled['wall']:.2f}, client peak memory "
                  f"{pull_mb / ours_mb:.1f}x less with push-down; same figures: {'yes' if same else 'NO'}", flush=True)
            if not same:
                print(f"  push-down {ours}\n  pull      {pulled}", flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
