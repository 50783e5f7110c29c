"""Push-down (Ibis, in the engine) vs. pulling every row into Polars, on DuckDB, PostgreSQL and Spark.

``CRM_BENCH_WAREHOUSE_ROWS`` order lines (default 1,000,000 for a quick run;
the target is stated at 10,000,000: ``CRM_BENCH_WAREHOUSE_ROWS=10000000 make
bench``), about 10 per customer over four years, 4 % returns, order ids and
channels, generated once with a fixed seed into ``benchmarks/out/`` as
Parquet, then loaded into each engine: a DuckDB file, a PostgreSQL server
(parallel query on, 2 workers per gather) whose data folder is kept in
``benchmarks/out/warehouse_pg_<rows>/`` so later runs skip the load, and a
Spark session (``CRM_BENCH_SPARK_MASTER``, default ``local[*]``) reading the
Parquet file (``CRM_BENCH_SPARK_LAYOUT=bucketed``: a Parquet table bucketed
and sorted by customer instead, :func:`spark_orders`, kept in
``benchmarks/out/spark-warehouse/``, as a Spark warehouse keeps orders; both
sides read it). All are made once per size and reused: delete
``benchmarks/out/warehouse_*`` and ``benchmarks/out/spark-warehouse`` to start over. ``CRM_BENCH_ENGINES=duckdb,postgresql``
runs only those.

Each figure is computed both ways and checked to give the same numbers:

- *Overview*: KPI cards of the last 12 months against the 12 before, and the
  monthly trend;
- *CLV data*: the compressed (x, t_x, T) counts (BG/NBD) and the (x, mean
  spend) counts (Gamma-Gamma);
- *Segments + tiers*: the segment profile and the tier summary (a few rows
  travel: the engine aggregates per score cell and per tier);
- *Customer table*: summary, scores and tiers, one row per customer.

Push-down runs :class:`crm_core.engines.Warehouse` (one connection or session
for all figures, one query per figure, as the app does); pull reads every row
once with :meth:`~crm_core.engines.Warehouse.all_rows` (``COPY`` on
PostgreSQL, Arrow elsewhere: each engine's fastest way out) and runs the
file-path functions as the app would on a file, each figure from the rows
alone (segments + tiers summarise only the columns they need, as
``crm_core.rfm.rfm`` does); a figure's pull time is that read plus its own
computation. Each side runs in a fresh process; connecting (Spark's JVM start
and a first warm-up query included) is left out of both sides' times. For
DuckDB and Spark, which run inside the measured processes, each line also
gives the CPU seconds of each side (the process tree: Spark's JVM and Python
workers included), which say what a busy 2-core machine hides in wall time.
Target: push < pull for every figure on every engine.

``CRM_BENCH_SPARK_EVENTLOG=<folder>`` also writes Spark's event logs there
(one sub-folder per run and side) and prints, per figure, what Spark's
stages cost: their number, the executors' CPU seconds (garbage collection
included), and the rows and megabytes written to shuffle files
(:func:`spark_stage_totals`): where a figure's CPU goes, beside the process
tree's total.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, cpu_seconds, measure, process_tree

ROWS = int(os.environ.get("CRM_BENCH_WAREHOUSE_ROWS", 1_000_000))
TARGET_ROWS = 10_000_000
CUSTOMERS = max(ROWS // 10, 1)
FIRST, DAYS = dt.date(2022, 1, 1), 4 * 365
LAST = FIRST + dt.timedelta(days=DAYS - 1)
CALIBRATION_END = LAST - dt.timedelta(days=365)
TESTS = Path(__file__).resolve().parent.parent / "tests"
# Memory for the per-customer hash tables (about 300 MB per million lines; less spills to disk);
# parallel query with two workers (2 cores).
PG_SETTINGS = "-c shared_buffers=1GB -c work_mem=1GB -c max_parallel_workers_per_gather=2 -c jit=off"
SPARK_MASTER = os.environ.get("CRM_BENCH_SPARK_MASTER", "local[*]")
SPARK_EVENT_LOG = os.environ.get("CRM_BENCH_SPARK_EVENTLOG")
#: ``bucketed``: Spark reads the orders as a table bucketed by customer (:func:`spark_orders`); else the Parquet file.
SPARK_LAYOUT = os.environ.get("CRM_BENCH_SPARK_LAYOUT", "parquet")
#: Buckets of the Spark table (:func:`spark_orders`): one per shuffle partition of ``local[2]``.
SPARK_BUCKETS = 4


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


# --- the figures, both ways ----------------------------------------------------------------

#: What each figure is, as printed.
FIGURES = {
    "overview": "Overview: KPI cards + monthly trend",
    "clv": "CLV data: (x, t_x, T) + spend counts",
    "segments": "Segments + tiers (aggregates)",
    "customers": "Customer table (1 row/customer)",
}


def _windows() -> tuple[dt.date, dt.date]:
    from crm_core.kpis import comparison_window

    return comparison_window(FIRST, LAST, "last_12_months")


def _overview_digest(comparison, trend) -> dict[str, Any]:
    """What must agree between the two sides (rounded against float summation order)."""
    return {
        "cards": {row["kpi"]: None if row["value"] is None else round(row["value"], 4) for row in comparison.iter_rows(named=True)},
        "trend_revenue": [round(value, 2) for value in trend["revenue"].to_list()], "trend_orders": trend["orders"].to_list(),
        "trend_new": trend["new_customers"].to_list(),
    }


def _clv_digest(counts, spend) -> dict[str, Any]:
    return {"clv_rows": counts.height, "clv_customers": int(counts["customers"].sum()),
            "clv_x": int((counts["frequency"] * counts["customers"]).sum()),
            "spend_customers": int(spend["customers"].sum()),
            "spend_total": round(float((spend["monetary_value"] * spend["frequency"] * spend["customers"]).sum()), 2)}


def _segments_digest(profile, tiers) -> dict[str, Any]:
    return {"segments": profile["customers"].to_list(), "segment_revenue": [round(v, 2) for v in profile["revenue"].to_list()],
            "tiers": tiers["customers"].to_list(), "tier_revenue": [round(v, 2) for v in tiers["revenue"].to_list()]}


def _customers_digest(table) -> dict[str, Any]:
    return {"customers": table.height, "revenue": round(float(table["revenue"].sum()), 2),
            "orders": int(table["orders"].sum()), "r_sum": int(table["r_score"].cast(int).sum()),
            "tier_sum": int(table["tier_index"].cast(int).sum())}


def _warehouse(engine: str, where: str, event_log: str | None = None):
    from crm_core.engines import Warehouse, WarehouseSource

    if engine != "spark":
        return Warehouse(WarehouseSource(where, table="orders"))
    import ibis
    from pyspark.sql import SparkSession

    from crm_core.engines.source import spark_settings

    builder = (SparkSession.builder.master(SPARK_MASTER).config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "3g").config("spark.sql.warehouse.dir", str(OUT / "spark-warehouse")))
    if event_log is not None:  # plain JSON lines, read by spark_stage_totals
        builder = (builder.config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", event_log)
                   .config("spark.eventLog.compress", "false"))
    for key, value in spark_settings(SPARK_MASTER).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    if SPARK_LAYOUT == "bucketed":
        spark_orders(session, Path(where))
    else:
        session.read.parquet(where).createOrReplaceTempView("orders")
    # A first, untimed query warms the JVM up (class loading, code generation) on both sides, as in a running app.
    session.sql("SELECT count(DISTINCT customer_id) FROM orders").collect()
    return Warehouse(WarehouseSource(SPARK_MASTER, table="orders"), backend=ibis.pyspark.connect(session))


def spark_orders(session: Any, parquet: Path, buckets: int = SPARK_BUCKETS) -> Path:
    """The table ``orders`` in ``session``: the generated lines stored as a warehouse keeps them, bucketed by customer.

    Parquet files bucketed (``bucketBy``) and sorted by customer and date,
    one file per bucket, written once per size into
    ``benchmarks/out/spark-warehouse/`` and registered in each session
    (``CREATE TABLE ... CLUSTERED BY (customer_id) ... LOCATION``). Spark then
    knows the lines are already hash-partitioned by customer: a group-by or
    window per customer (or per customer and order, day or bucket) needs no
    shuffle. Both sides of the bench read this same table.

    Parameters
    ----------
    session
        The Spark session.
    parquet
        The generated orders (:func:`orders_parquet`).
    buckets
        Number of buckets (files); default: Spark's shuffle partitions for ``local[2]``.

    Returns
    -------
    Path
        The table's folder.
    """
    folder = OUT / "spark-warehouse" / f"orders_{ROWS}_by_customer_{buckets}"
    if not (folder / "_SUCCESS").exists():
        import shutil

        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        (session.read.parquet(str(parquet)).repartition(buckets, "customer_id")  # one file per bucket
         .sortWithinPartitions("customer_id", "order_date").write.bucketBy(buckets, "customer_id")
         .sortBy("customer_id", "order_date").option("path", str(partial)).saveAsTable("orders_load"))
        session.sql("DROP TABLE orders_load")  # an external table: its files stay
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in session.read.parquet(str(folder)).schema)
    session.sql(f"CREATE TABLE orders ({columns}) USING parquet CLUSTERED BY (customer_id) SORTED BY (customer_id, order_date) "
                f"INTO {buckets} BUCKETS LOCATION '{folder}'")
    return folder


def tree_cpu_seconds(root: int | None = None) -> float | None:
    """CPU seconds (user + system) used so far by process ``root`` (default: this one) and its descendants.

    Read from ``/proc`` (Linux; None elsewhere): the Spark JVM and its Python
    workers are this process's children, as are DuckDB's threads its own, so
    both sides of an in-process engine are counted whole. Children that have
    exited and were waited for count through their parent's ``cutime``/``cstime``.
    """
    root = os.getpid() if root is None else root
    try:
        tree = process_tree(root)
    except OSError:  # no /proc
        return None
    total = 0.0
    for pid in tree:
        try:
            total += cpu_seconds(pid, children=True)
        except OSError:  # ended meanwhile
            continue
    return total if tree else None


def _timed(func) -> tuple[Any, float, float | None]:
    """``func()``, its wall seconds and the CPU seconds of this process tree meanwhile (None without /proc)."""
    cpu_before, start = tree_cpu_seconds(), time.perf_counter()
    result = func()
    wall, cpu_after = time.perf_counter() - start, tree_cpu_seconds()
    return result, wall, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def _timed_into(results: dict[str, Any], name: str, func, warehouse: Any = None) -> Any:
    """``func()``, with its wall and CPU seconds stored as ``results[name + '_wall' / '_cpu']``.

    On Spark, the jobs ``func`` starts are described as ``name`` (what :func:`spark_stage_totals` groups by).
    """
    if warehouse is not None and warehouse.engine == "spark":
        warehouse.backend._session.sparkContext.setJobDescription(name)
    result, results[f"{name}_wall"], results[f"{name}_cpu"] = _timed(func)
    return result


def spark_stage_totals(folder: Path) -> dict[str, dict[str, float]]:
    """Per job description (a figure's name): stages, executor CPU and GC seconds, shuffle rows and MB written.

    Read from the uncompressed Spark event logs under ``folder``: the task
    metrics summed per completed stage, each stage counted under the
    description of the job that ran it (jobs without one under '').
    """
    import json

    described: dict[int, str] = {}
    totals: dict[str, dict[str, float]] = {}
    for path in sorted(folder.rglob("*")):  # Spark 4 rolls its logs into an eventlog_v2_<app> folder
        if not path.is_file() or path.name.startswith("."):
            continue
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # the last line of a log whose process ended while writing it
                continue
            if event["Event"] == "SparkListenerJobStart":
                name = (event.get("Properties") or {}).get("spark.job.description") or ""
                described.update({stage: name for stage in event.get("Stage IDs", [])})
            elif event["Event"] == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                metrics = {item["Name"]: item.get("Value") or 0 for item in info.get("Accumulables", [])}
                figure = totals.setdefault(described.get(info["Stage ID"], ""), dict.fromkeys(
                    ("stages", "cpu_s", "gc_s", "shuffle_rows", "shuffle_mb"), 0.0))
                figure["stages"] += 1
                figure["cpu_s"] += metrics.get("internal.metrics.executorCpuTime", 0) / 1e9
                figure["gc_s"] += metrics.get("internal.metrics.jvmGCTime", 0) / 1e3
                figure["shuffle_rows"] += metrics.get("internal.metrics.shuffle.write.recordsWritten", 0)
                figure["shuffle_mb"] += metrics.get("internal.metrics.shuffle.write.bytesWritten", 0) / 1e6
    return totals


def _stage_note(totals: dict[str, float] | None) -> str:
    if not totals:
        return "no Spark stage"
    return (f"{totals['stages']:.0f} stages, executors {totals['cpu_s']:.1f} CPU-s (GC {totals['gc_s']:.1f} s), "
            f"shuffle {totals['shuffle_rows'] / 1e6:.2f}M rows / {totals['shuffle_mb']:.0f} MB")


def push_all(engine: str, where: str, event_log: str | None = None) -> dict[str, Any]:
    """Each figure computed in the engine (one connection / session); digests and seconds per figure."""
    warehouse = _warehouse(engine, where, event_log)
    results: dict[str, Any] = {}
    overview = _timed_into(results, "overview", lambda: warehouse.overview(*_windows(), FIRST, LAST, "month"), warehouse)
    results["overview"] = _overview_digest(*overview)
    clv = _timed_into(results, "clv", lambda: warehouse.clv_data(CALIBRATION_END), warehouse)
    results["clv"] = _clv_digest(*clv)
    segments = _timed_into(results, "segments", lambda: warehouse.segments_and_tiers(FIRST, LAST), warehouse)
    results["segments"] = _segments_digest(*segments)
    table = _timed_into(results, "customers", lambda: warehouse.customer_table(FIRST, LAST), warehouse)
    results["customers"] = _customers_digest(table)
    return results


def pull_all(engine: str, where: str, event_log: str | None = None) -> dict[str, Any]:
    """Every row read once into Polars, then each figure with the file path; digests and seconds per step."""
    import polars as pl

    from crm_core.clv.data import rfm_summary
    from crm_core.customers import filter_period, summarize
    from crm_core.kpis import kpi_comparison, kpi_trend
    from crm_core.portfolio import assign_tiers, tier_summary
    from crm_core.rfm import RFM_INPUTS, score_customers, segment_profile

    warehouse = _warehouse(engine, where, event_log)
    results: dict[str, Any] = {}
    tx = _timed_into(results, "read", lambda: warehouse.all_rows().lazy(), warehouse)
    overview = _timed_into(results, "overview", lambda: (kpi_comparison(tx, *_windows()), kpi_trend(tx, FIRST, LAST, "month")))
    results["overview"] = _overview_digest(*overview)

    def clv():
        stats = rfm_summary(tx, CALIBRATION_END).collect()
        counts = stats.group_by("frequency", "recency", "T").agg(pl.len().alias("customers"))
        spend = (stats.filter(pl.col("frequency") > 0)
                 .group_by(pl.col("frequency").cast(pl.Float64), pl.col("monetary_value").round(6))
                 .agg(pl.len().alias("customers")))
        return counts, spend

    clv_result = _timed_into(results, "clv", clv)
    results["clv"] = _clv_digest(*clv_result)

    def segments():  # only the columns scores and tiers need, as crm_core.rfm.rfm asks Polars for
        summary = summarize(filter_period(tx, FIRST, LAST), as_of=LAST).select(RFM_INPUTS).collect()
        return segment_profile(score_customers(summary).collect()), tier_summary(assign_tiers(summary))

    segments_result = _timed_into(results, "segments", segments)
    results["segments"] = _segments_digest(*segments_result)

    def customer_table():
        summary = summarize(filter_period(tx, FIRST, LAST), as_of=LAST).collect()
        tiered = assign_tiers(summary).select("customer_id", "tier_index")
        return score_customers(summary).collect().join(tiered, on="customer_id")

    table = _timed_into(results, "customers", customer_table)
    results["customers"] = _customers_digest(table)
    return results


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
    """The orders table, loaded unless the kept server already has it (10M rows take minutes to load)."""
    import polars as pl
    import psycopg
    from pg_cluster import load_frame

    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://")) as connection:
        loaded = connection.execute("SELECT to_regclass('orders') IS NOT NULL").fetchone()
        if loaded and loaded[0] and connection.execute("SELECT count(*) FROM orders").fetchone() == (ROWS,):
            return
    load_frame(uri, "orders", pl.read_parquet(parquet))


def _compare(engine: str, where: str) -> list[str]:
    """Push-down and pull of every figure on one engine; the printed lines."""
    logs = {side: None for side in ("push", "pull")}
    if engine == "spark" and SPARK_EVENT_LOG:
        for side in logs:
            folder = Path(SPARK_EVENT_LOG) / f"{ROWS}-{side}-{time.strftime('%Y%m%d-%H%M%S')}"
            folder.mkdir(parents=True, exist_ok=True)
            logs[side] = str(folder)
    _, push_mb, pushed = measure(push_all, engine, where, logs["push"])
    _, pull_mb, pulled = measure(pull_all, engine, where, logs["pull"])
    print(f"  {engine}: pull read every row in {pulled['read_wall']:.1f} s (client peak {pull_mb:,.0f} MB; "
          f"push-down client peak {push_mb:,.0f} MB)", flush=True)
    lines = []
    for name, label in FIGURES.items():
        push, pull = pushed[f"{name}_wall"], pulled["read_wall"] + pulled[f"{name}_wall"]
        same = pushed[name] == pulled[name]
        verdict = "met" if push < pull else "NOT met"
        title = f"{engine} {ROWS / 1e6:g}M orders, {label}"
        line = (f"{title:<64}  push {push:7.2f} s | pull {pull:7.2f} s (read {pulled['read_wall']:.1f} + "
                f"compute {pulled[f'{name}_wall']:.1f}){_cpu_note(engine, pushed, pulled, name)} | push/pull {push / pull:5.2f} (target < 1) {verdict}"
                f"{'' if same else ' | FIGURES DIFFER'}")
        print(line, flush=True)
        lines.append(line)
        if not same:
            print(f"    push-down {pushed[name]}\n    pull      {pulled[name]}", flush=True)
    if logs["push"] and logs["pull"]:
        push_stages, pull_stages = spark_stage_totals(Path(logs["push"])), spark_stage_totals(Path(logs["pull"]))
        print(f"  spark stages (event logs in {SPARK_EVENT_LOG}); pull read: {_stage_note(pull_stages.get('read'))}", flush=True)
        for name in FIGURES:
            print(f"    push {name}: {_stage_note(push_stages.get(name))}", flush=True)
    return lines


def _cpu_note(engine: str, pushed: dict[str, Any], pulled: dict[str, Any], name: str) -> str:
    """'| CPU-s push X / pull Y' for an engine that runs inside the measured processes (not PostgreSQL's server)."""
    cpu = (pushed[f"{name}_cpu"], pulled["read_cpu"], pulled[f"{name}_cpu"])
    if engine == "postgresql" or None in cpu:
        return ""
    return f" | CPU-s push {cpu[0]:.1f} / pull {cpu[1] + cpu[2]:.1f}"


def main() -> None:
    sys.path.insert(0, str(TESTS))
    # The app stops a PostgreSQL query after 120 s; a benchmark at 10M orders on a busy machine measures instead.
    os.environ.setdefault("CRM_WAREHOUSE_TIMEOUT_S", "3600")
    from pg_cluster import ClusterUnavailable, PostgresCluster

    if ROWS != TARGET_ROWS:
        print(f"NOTE: {ROWS:,} rows (CRM_BENCH_WAREHOUSE_ROWS); the target is stated at {TARGET_ROWS:,}", flush=True)
    start = time.perf_counter()
    parquet = orders_parquet()
    print(f"  {ROWS:,} orders of {CUSTOMERS:,} customers: {parquet.name} ready in {time.perf_counter() - start:.0f} s",
          flush=True)
    only = os.environ.get("CRM_BENCH_ENGINES", "duckdb,postgresql,spark").split(",")
    lines: list[str] = []
    if "duckdb" in only:
        lines += _compare("duckdb", _duckdb(parquet))
    if "postgresql" in only:
        # The server's data folder is kept beside the Parquet file, so the next run skips the load.
        cluster = PostgresCluster(extra_settings=PG_SETTINGS, keep_in=OUT / f"warehouse_pg_{ROWS}")
        try:
            uri = cluster.start()
        except ClusterUnavailable as reason:
            print(f"  postgresql skipped: the server cannot start here ({reason})", flush=True)
        else:
            try:
                start = time.perf_counter()
                _postgres_load(uri, parquet)
                print(f"  PostgreSQL table ready in {time.perf_counter() - start:.0f} s", flush=True)
                lines += _compare("postgresql", uri)
            finally:
                cluster.stop()
    if "spark" in only:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            print("  spark skipped: pyspark is not installed", flush=True)
        else:
            lines += _compare("spark", str(parquet))
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nPush-down vs pull, {ROWS:,} order lines, {os.cpu_count()} cores, load average {load} at the end:")
    for line in lines:  # a recap: without "(target" so the bench summary table counts each figure once
        print("  " + line.replace(" (target < 1)", ", target < 1:"))


if __name__ == "__main__":
    main()
