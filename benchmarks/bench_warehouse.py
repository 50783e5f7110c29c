"""Push-down (Ibis, in the engine) vs. pulling every row into Polars, on DuckDB, PostgreSQL and Spark.

``CRM_BENCH_WAREHOUSE_ROWS`` order lines (default 1,000,000 for a quick run;
the target is stated at 10,000,000: ``CRM_BENCH_WAREHOUSE_ROWS=10000000 make
bench``), about 10 per customer over four years, 4 % returns, order ids and
channels, generated once with a fixed seed into ``benchmarks/out/`` as
Parquet, then loaded into each engine: a DuckDB file, a throwaway PostgreSQL
server (parallel query on, 2 workers per gather), and a local Spark session
(``local[2]``) reading the Parquet file.

Two workloads, each computed both ways and checked to give the same figures:

- *aggregates*: the Overview (KPI cards of the last 12 months against the 12
  before, the monthly trend) and the CLV statistics (compressed (x, t_x, T)
  counts); a few thousand rows travel with push-down;
- *per customer*: the customer summary, RFM scores and the tier table (one row
  per customer travels for the first two).

Push-down runs :class:`crm_core.engines.Warehouse`; pull reads every row with
:meth:`~crm_core.engines.Warehouse.all_rows` (``COPY`` on PostgreSQL, Arrow
elsewhere) and runs the file-path functions. Each side runs in a fresh
process; Spark's start-up (the JVM) is left out of both sides' times.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, measure, report

ROWS = int(os.environ.get("CRM_BENCH_WAREHOUSE_ROWS", 1_000_000))
TARGET_ROWS = 10_000_000
CUSTOMERS = max(ROWS // 10, 1)
FIRST, DAYS = dt.date(2022, 1, 1), 4 * 365
LAST = FIRST + dt.timedelta(days=DAYS - 1)
CALIBRATION_END = LAST - dt.timedelta(days=365)
TESTS = Path(__file__).resolve().parent.parent / "tests"
# More memory for sorts and hashes than the tiny defaults; parallel query with two workers (2 cores).
PG_SETTINGS = "-c shared_buffers=1GB -c work_mem=256MB -c max_parallel_workers_per_gather=2 -c jit=off"
TARGET = "< 1: push-down faster than pulling the rows"


def orders_parquet() -> Path:
    """The generated orders (generated once per size, shared by the engines)."""
    import numpy as np
    import polars as pl

    path = OUT / f"warehouse_orders_{ROWS}.parquet"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    sign = np.where(rng.random(ROWS) < 0.04, -1.0, 1.0)
    frame = pl.DataFrame({
        "customer_id": rng.integers(1, CUSTOMERS + 1, ROWS),
        "order_date": rng.integers(0, DAYS, ROWS),
        "amount": np.round(sign * np.exp(2.5 + rng.random(ROWS) * 2.5), 2),
        "channel": rng.integers(0, 4, ROWS),
    }).select(
        pl.format("C{}", pl.col("customer_id").cast(pl.String).str.zfill(8)).alias("customer_id"),
        (pl.lit(FIRST) + pl.duration(days=pl.col("order_date"))).cast(pl.Date).alias("order_date"),
        "amount",
        pl.format("O{}", pl.int_range(pl.len())).alias("order_id"),
        pl.col("channel").replace_strict([0, 1, 2, 3], ["web", "store", "phone", "partner"]).alias("channel"),
    )
    partial = path.with_suffix(".partial")
    frame.write_parquet(partial)
    partial.rename(path)
    return path


# --- the two workloads, both ways --------------------------------------------------------


def _windows() -> tuple[dt.date, dt.date]:
    from crm_core.kpis import comparison_window

    return comparison_window(FIRST, LAST, "last_12_months")


def _aggregates_digest(comparison, trend, counts) -> dict[str, Any]:
    """What must agree between the two sides (rounded against float summation order)."""
    return {
        "cards": {row["kpi"]: None if row["value"] is None else round(row["value"], 4) for row in comparison.iter_rows(named=True)},
        "trend_revenue": round(float(trend["revenue"].sum()), 2), "trend_orders": int(trend["orders"].sum()),
        "clv_rows": counts.height, "clv_customers": int(counts["customers"].sum()),
        "clv_x": int((counts["frequency"] * counts["customers"]).sum()),
    }


def _customers_digest(summary, scored, tiers) -> dict[str, Any]:
    return {
        "customers": summary.height, "revenue": round(float(summary["revenue"].sum()), 2),
        "orders": int(summary["orders"].sum()), "r_sum": int(scored["r_score"].cast(int).sum()),
        "m_sum": int(scored["m_score"].cast(int).sum()), "tiers": tiers["customers"].to_list(),
        "tier_revenue": [round(value, 2) for value in tiers["revenue"].to_list()],
    }


def _warehouse(engine: str, where: str):
    from crm_core.engines import Warehouse, WarehouseSource

    if engine != "spark":
        return Warehouse(WarehouseSource(where, table="orders"))
    import ibis
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "8")
               .config("spark.driver.memory", "3g").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(OUT / "spark-warehouse")).getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    session.read.parquet(where).createOrReplaceTempView("orders")
    return Warehouse(WarehouseSource("local[2]", table="orders"), backend=ibis.pyspark.connect(session))


def push_aggregates(engine: str, where: str) -> dict[str, Any]:
    warehouse = _warehouse(engine, where)
    start = time.perf_counter()
    comparison, trend = warehouse.overview(*_windows(), FIRST, LAST, "month")
    digest = _aggregates_digest(comparison, trend, warehouse.clv_counts(CALIBRATION_END))
    return {**digest, "wall": time.perf_counter() - start}


def push_customers(engine: str, where: str) -> dict[str, Any]:
    warehouse = _warehouse(engine, where)
    start = time.perf_counter()
    from crm_core.portfolio import tier_summary

    table = warehouse.customer_table(FIRST, LAST)  # summary, scores and tiers: one query
    digest = _customers_digest(table, table, tier_summary(table))
    return {**digest, "wall": time.perf_counter() - start}


def pull_both(engine: str, where: str) -> dict[str, Any]:
    """Read every row once, then each workload with the file path; times of each step."""
    from crm_core.clv.data import rfm_summary
    from crm_core.customers import filter_period, summarize
    from crm_core.kpis import kpi_comparison, kpi_trend
    from crm_core.portfolio import assign_tiers, tier_summary
    from crm_core.rfm import score_customers

    warehouse = _warehouse(engine, where)
    start = time.perf_counter()
    tx = warehouse.all_rows().lazy()
    read = time.perf_counter() - start
    start = time.perf_counter()
    stats = rfm_summary(tx, CALIBRATION_END).collect()
    counts = stats.group_by("frequency", "recency", "T").agg(__import__("polars").len().alias("customers"))
    aggregates = _aggregates_digest(kpi_comparison(tx, *_windows()), kpi_trend(tx, FIRST, LAST, "month"), counts)
    aggregates_wall = time.perf_counter() - start
    start = time.perf_counter()
    summary = summarize(filter_period(tx, FIRST, LAST), as_of=LAST).collect()
    customers = _customers_digest(summary, score_customers(summary).collect(), tier_summary(assign_tiers(summary)))
    customers_wall = time.perf_counter() - start
    return {"aggregates": aggregates, "customers": customers, "read": read, "aggregates_wall": aggregates_wall,
            "customers_wall": customers_wall}


# --- engines ------------------------------------------------------------------------------


def _duckdb(parquet: Path) -> str:
    import duckdb

    path = OUT / f"warehouse_orders_{ROWS}.duckdb"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with duckdb.connect(str(partial)) as connection:
            connection.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{parquet}')")
        partial.rename(path)
    return f"duckdb:///{path}"


def _postgres_load(uri: str, parquet: Path) -> None:
    import polars as pl
    from pg_cluster import load_frame

    load_frame(uri, "orders", pl.read_parquet(parquet))


def _compare(engine: str, where: str) -> None:
    pushed = {}
    for name, func in (("aggregates", push_aggregates), ("customers", push_customers)):
        _, peak_mb, result = measure(func, engine, where)
        pushed[name] = (result, peak_mb)
        print(f"  {engine} push-down {name}: {result['wall']:.1f} s, client peak {peak_mb:,.0f} MB", flush=True)
    _, pull_mb, pulled = measure(pull_both, engine, where)
    print(f"  {engine} pull: read {pulled['read']:.1f} s, client peak {pull_mb:,.0f} MB", flush=True)
    for name, (result, push_peak) in pushed.items():
        pull_wall = pulled["read"] + pulled[f"{name}_wall"]
        same = {key: value for key, value in result.items() if key != "wall"} == pulled[name]
        label = {"aggregates": "Overview + CLV counts", "customers": "summary + RFM + tiers"}[name]
        report(f"{engine}: {label}, {ROWS:,} rows", (result["wall"], push_peak), (pull_wall, pull_mb),
               "pull all rows", TARGET)
        print(f"  push-down / pull time {result['wall'] / pull_wall:.2f} (target < 1; pull = read "
              f"{pulled['read']:.1f} s + compute {pulled[f'{name}_wall']:.1f} s); same figures: {'yes' if same else 'NO'}",
              flush=True)
        if not same:
            print(f"  push-down {result}\n  pull      {pulled[name]}", flush=True)


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from pg_cluster import ClusterUnavailable, PostgresCluster

    if ROWS != TARGET_ROWS:
        print(f"NOTE: {ROWS:,} rows (CRM_BENCH_WAREHOUSE_ROWS); the target is stated at {TARGET_ROWS:,}", flush=True)
    start = time.perf_counter()
    parquet = orders_parquet()
    print(f"  {ROWS:,} orders of {CUSTOMERS:,} customers: {parquet.name} ready in {time.perf_counter() - start:.0f} s",
          flush=True)
    only = os.environ.get("CRM_BENCH_ENGINES", "duckdb,postgresql,spark").split(",")
    if "duckdb" in only:
        _compare("duckdb", _duckdb(parquet))
    if "postgresql" in only:
        cluster = PostgresCluster(extra_settings=PG_SETTINGS)
        try:
            uri = cluster.start()
        except ClusterUnavailable as reason:
            print(f"  postgresql skipped: the server cannot start here ({reason})", flush=True)
        else:
            try:
                start = time.perf_counter()
                _postgres_load(uri, parquet)
                print(f"  loaded into PostgreSQL in {time.perf_counter() - start:.0f} s", flush=True)
                _compare("postgresql", uri)
            finally:
                cluster.stop()
    if "spark" in only:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            print("  spark skipped: pyspark is not installed", flush=True)
        else:
            _compare("spark", str(parquet))


if __name__ == "__main__":
    main()
