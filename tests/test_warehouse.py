"""Push-down through Ibis: every engine gives the file path's numbers.

The same fixtures (a small hand-made portfolio with returns, a free order and
an order refunded in full; the CDNOW sample) are loaded into DuckDB (embedded),
PostgreSQL (a throwaway server, parallel query on) and Spark (one local
session for the whole run) and every figure is compared with the file path:
customer summary, order totals, KPIs and trend, RFM scores, tiers and the CLV
statistics with the fitted BG/NBD parameters.

PostgreSQL tests skip, with the reason, when the server cannot start; Spark
tests when pyspark or Java is missing.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import ibis
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.data import rfm_summary
from crm_core.clv.gamma_gamma import GammaGammaModel
from crm_core.customers import count_orders, filter_period, summarize
from crm_core.engines import (
    MAX_DRILL_ROWS,
    Warehouse,
    WarehouseError,
    WarehouseSource,
    check_query,
    connect,
    engine_of,
    fit_purchase_model,
    fit_spend_model,
    redact_uri,
    resolve_mapping,
    top_customers,
)
from crm_core.ingest import ColumnMapping, read_orders
from crm_core.kpis import kpi_comparison, kpi_trend, period_kpis
from crm_core.logging_setup import configure_logging
from crm_core.portfolio import TierSettings, assign_tiers, tier_summary
from crm_core.rfm import RfmSettings, rfm, score_customers, segment_profile

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
D = dt.date


# --- engines ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg():
    from pg_cluster import PARALLEL_SETTINGS, ClusterUnavailable, PostgresCluster

    try:
        cluster = PostgresCluster(extra_settings=PARALLEL_SETTINGS)
        uri = cluster.start()
    except ClusterUnavailable as reason:
        pytest.skip(f"PostgreSQL cannot start here: {reason}")
    yield uri
    cluster.stop()


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local Spark session for the whole run (starting the JVM takes tens of seconds)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip("pyspark is not installed (pip install -r requirements.txt)")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        pytest.skip("Spark needs Java 17 (apt-get install default-jre-headless)")
    session = (SparkSession.builder.master("local[2]").appName("crm-tests")
               .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
               .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp_path_factory.mktemp('derby')}")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


class Engine:
    """Loads frames into one engine and opens a Warehouse on them."""

    def __init__(self, name: str, uri: str, backend=None, session=None) -> None:
        self.name, self.uri, self.backend, self.session = name, uri, backend, session

    def load(self, table: str, frame: pl.DataFrame, mapping: ColumnMapping = ColumnMapping()) -> Warehouse:
        if self.name == "postgresql":
            from pg_cluster import load_frame

            load_frame(self.uri, table, frame)
            return Warehouse(WarehouseSource(self.uri, table=table, mapping=mapping))
        if self.name == "spark":  # an in-memory view: Arrow keeps nulls null, and nothing is written to disk
            self.session.createDataFrame(frame.to_arrow()).cache().createOrReplaceTempView(table)
        else:
            self.backend.create_table(table, frame, overwrite=True)
        return Warehouse(WarehouseSource(self.uri, table=table, mapping=mapping), backend=self.backend)


@pytest.fixture(params=["duckdb", "postgresql", "spark"])
def engine(request) -> Engine:
    if request.param == "duckdb":
        return Engine("duckdb", "duckdb:///in-memory", ibis.duckdb.connect())
    if request.param == "postgresql":
        return Engine("postgresql", request.getfixturevalue("pg"))
    session = request.getfixturevalue("spark")
    return Engine("spark", "local[2]", ibis.pyspark.connect(session), session)


def _close(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Same columns, dtypes and rows; floats equal up to summation order."""
    assert_frame_equal(actual, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


# --- fixtures ----------------------------------------------------------------------------

SMALL = pl.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "B", "C", "D", "D", "E", "E"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 15), D(2024, 2, 1), D(2024, 1, 10), D(2024, 1, 10),
                       D(2024, 2, 5), D(2024, 1, 20), D(2024, 2, 20), D(2024, 1, 3), D(2024, 2, 3)],
        "amount": [100.0, 50.0, -20.0, 30.0, 40.0, 60.0, -10.0, 0.0, 25.5, 0.0, 12.25],
        "order_id": ["o1", "o2", None, "o3", None, None, None, "o4", "o5", "o6", "o7"],
        "channel": ["web", "web", None, "store", "store", None, "web", "web", "web", "store", "store"],
        # D's o4 was refunded in full (amount 0, no purchase); E's o6 was free (amount 0, a purchase).
        "fully_refunded": [False, False, False, False, False, False, False, True, False, False, False],
    }
)


@pytest.fixture(scope="module")
def cdnow_frame() -> pl.DataFrame:
    return read_orders(DATA / "cdnow_sample.csv")[0].collect()


def _file_totals(tx: pl.DataFrame) -> dict:
    """What `summary` prints: crm_core/commands/summary.py's figures."""
    counts = count_orders(tx.lazy())
    return {"customers": tx["customer_id"].n_unique(), "revenue": round(tx["amount"].sum(), 2),
            "orders": counts["orders"], "purchases": counts["purchases"], "transactions": counts["positive_orders"],
            "first_date": tx["order_date"].min(), "last_date": tx["order_date"].max()}


def _same_tiers(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Same ranking values and tiers; customers with equal revenue (to the cent) may swap places.

    The engines add money exactly; the file path adds floats, so two customers
    with the same revenue can differ in the last bit there and be ordered by that.
    """
    assert actual["revenue"].round(2).to_list() == expected["revenue"].round(2).to_list()
    assert actual["tier"].to_list() == expected["tier"].to_list()
    for name in ("customer_id", "tier"):
        by_value = actual.group_by(pl.col("revenue").round(2), "tier").agg(pl.col("customer_id").sort())
        expected_by_value = expected.group_by(pl.col("revenue").round(2), "tier").agg(pl.col("customer_id").sort())
        assert by_value.sort("revenue", "tier").equals(expected_by_value.sort("revenue", "tier")), name


def check_every_figure(warehouse: Warehouse, tx: pl.DataFrame, calibration_end: dt.date) -> None:
    """Every pushed-down figure equals the file path's on ``tx``."""
    lazy, last = tx.lazy(), tx["order_date"].max()
    first = tx["order_date"].min()
    # Totals: exact to the cent, counts equal.
    totals = warehouse.totals()
    assert {**{key: totals[key] for key in ("customers", "orders", "purchases", "first_date", "last_date")},
            "revenue": round(totals["revenue"], 2), "transactions": totals["positive_orders"]} == _file_totals(tx)
    # Customer summary (first_channel: engines have no line order, see crm_core.engines.figures).
    summary = summarize(lazy, as_of=last).collect()
    pushed = warehouse.customer_summary()
    _close(pushed.drop("first_channel", strict=False), summary.drop("first_channel", strict=False))
    assert (pushed["revenue"].round(2) == summary["revenue"].round(2)).all()
    # KPI cards and trend.
    _close(warehouse.kpi_comparison(first + (last - first) / 2, last), kpi_comparison(lazy, first + (last - first) / 2, last))
    _close(warehouse.kpi_trend(first, last, "month"), kpi_trend(lazy, first, last, "month"))
    # RFM scores and segments, both tie rules.
    _close(warehouse.rfm_scores(), rfm(lazy))
    ordinal = RfmSettings(bins=4, ties="ordinal")
    _close(warehouse.rfm_scores(settings=ordinal), rfm(lazy, settings=ordinal))
    # Tiers, and everything per customer in one query.
    tiered = assign_tiers(summary)
    _same_tiers(warehouse.tiers(), tiered)
    table = warehouse.customer_table()
    _same_tiers(table.sort("value_rank"), tiered)
    _close(table.select(rfm(lazy).columns), rfm(lazy))
    _close(warehouse.tier_summary(), tier_summary(tiered))
    # Segments from the score cells (a few rows travel), both tie rules.
    for settings in (RfmSettings(), ordinal):
        _close(warehouse.segment_profile(settings=settings), segment_profile(rfm(lazy, settings=settings), settings))
    cells = warehouse.score_cells()
    assert cells["customers"].sum() == summary.height and cells.height <= 5 ** 3
    profile, tier_table = warehouse.segments_and_tiers(rfm=ordinal)  # one query for both
    _close(profile, segment_profile(rfm(lazy, settings=ordinal), ordinal))
    _close(tier_table, tier_summary(tiered))
    # The Overview in one query: the same cards and trend.
    card_start = first + (last - first) / 2
    comparison, trend = warehouse.overview(card_start, last, first, last, "month")
    _close(comparison, kpi_comparison(lazy, card_start, last))
    _close(trend, kpi_trend(lazy, first, last, "month"))
    # CLV: compressed (x, t_x, T) counts and the fitted BG/NBD parameters.
    stats = rfm_summary(lazy, calibration_end).collect()
    counts = warehouse.clv_counts(calibration_end)
    expected = stats.group_by("frequency", "recency", "T").agg(pl.len().cast(pl.Int64).alias("customers"))
    _close(counts, expected.with_columns(pl.col("frequency").cast(pl.Float64)).sort("frequency", "recency", "T"))
    if counts["frequency"].sum() > 0:
        ours = fit_purchase_model(counts, BetaGeoModel()).params_
        theirs = BetaGeoModel().fit(stats["frequency"], stats["recency"], stats["T"]).params_
        assert ours == pytest.approx(theirs, rel=1e-9)
    # Gamma-Gamma: compressed (x, mean repeat spend) counts and the fitted parameters.
    spend = warehouse.spend_counts(calibration_end)
    both = warehouse.clv_data(calibration_end)  # both models' data in one query
    _close(both[0], counts)
    _close(both[1], spend)
    repeat = stats.filter(pl.col("frequency") > 0)
    expected = (repeat.group_by(pl.col("frequency").cast(pl.Float64), pl.col("monetary_value").round(6))
                .agg(pl.len().cast(pl.Int64).alias("customers")).sort("frequency", "monetary_value"))
    _close(spend.with_columns(pl.col("monetary_value").round(6)), expected)
    usable = repeat.filter(pl.col("monetary_value") > 0)
    if usable.height >= 2:
        ours = fit_spend_model(spend, GammaGammaModel()).params_
        theirs = GammaGammaModel().fit(usable["frequency"], usable["monetary_value"]).params_
        assert ours == pytest.approx(theirs, rel=1e-6)


# Spark runs each of these a few seconds per query (more on a busy machine): a longer limit than the default.
@pytest.mark.timeout(900)
def test_small_fixture_same_as_file_path(engine):
    warehouse = engine.load("small", SMALL)
    check_every_figure(warehouse, SMALL, D(2024, 2, 29))


@pytest.mark.timeout(900)
def test_cdnow_same_as_file_path(engine, cdnow_frame):
    warehouse = engine.load("cdnow", cdnow_frame)
    check_every_figure(warehouse, cdnow_frame, D(1997, 9, 30))
    expected = json.loads((DATA / "cdnow_sample_expected.json").read_text())
    counts = warehouse.clv_counts(D(1997, 9, 30))
    assert counts["customers"].sum() == expected["customers"]
    assert (counts["frequency"] * counts["customers"]).sum() == expected["calibration"]["repeat_transactions_sum_x"]
    published = expected["bgnbd"]["refit"]
    params = fit_purchase_model(counts, BetaGeoModel()).params_
    assert {name: round(value, 4) for name, value in params.items()} == {k: published[k] for k in ("r", "alpha", "a", "b")}
    assert len(counts) < expected["customers"] / 2  # compressed: fewer rows than customers travel
    spend = warehouse.spend_counts(D(1997, 9, 30))
    spend_model = fit_spend_model(spend, GammaGammaModel())
    assert spend_model.n_customers_ == expected["gamma_gamma"]["n_customers"]
    assert {name: round(value, 4) for name, value in spend_model.params_.items()} == {
        k: expected["gamma_gamma"]["refit"][k] for k in ("p", "q", "v")}
    assert len(spend) < expected["gamma_gamma"]["n_customers"]  # equal (x, spend) pairs travel once


# --- by hand, on DuckDB (the same expressions run everywhere) -----------------------------


@pytest.fixture(scope="module")
def small():
    backend = ibis.duckdb.connect()
    backend.create_table("small orders", SMALL.rename({"customer_id": "Customer ID", "amount": 'Net "Amount"'}))
    mapping = ColumnMapping(customer_id="Customer ID", amount='Net "Amount"')
    return Warehouse(WarehouseSource("duckdb:///memory", table="small orders", mapping=mapping), backend=backend)


def test_fully_refunded_order_is_an_order_but_no_purchase(small):
    summary = {row["customer_id"]: row for row in small.customer_summary().iter_rows(named=True)}
    # D: o4 refunded in full stays in revenue (0) but is no purchase; o5 is D's first purchase.
    assert (summary["D"]["orders"], summary["D"]["purchase_days"], summary["D"]["first_purchase_date"]) == (1, 1, D(2024, 2, 20))
    # E: the free order o6 is a purchase.
    assert (summary["E"]["orders"], summary["E"]["first_purchase_date"]) == (2, D(2024, 1, 3))
    totals = small.totals()
    # 7 order ids + 4 lines without one; o4 and the two returns are no purchases; o6 is free (not positive).
    assert (totals["orders"], totals["purchases"], totals["positive_orders"]) == (11, 8, 7)
    january = small.period_kpis(D(2024, 1, 1), D(2024, 1, 31))
    assert (january["orders"], january["active_customers"], january["new_customers"]) == (4, 3, 3)  # not D
    assert january == pytest.approx(period_kpis(SMALL.lazy(), D(2024, 1, 1), D(2024, 1, 31)))


def test_small_summary_by_hand(small):
    a = small.customer_summary(end=D(2024, 2, 29)).row(0, named=True)
    assert (a["customer_id"], a["orders"], a["purchase_days"], a["return_lines"]) == ("A", 3, 2, 1)
    assert (a["revenue"], a["gross_revenue"], a["returns"], a["first_day_amount"]) == (160.0, 180.0, 20.0, 150.0)
    assert (a["recency_days"], a["tenure_days"], a["channels"], a["first_channel"]) == (28, 59, 2, "web")


def test_drill_down_rows_are_limited_and_newest_first(small):
    rows = small.rows(limit=2)
    assert rows["order_date"].to_list() == [D(2024, 2, 20), D(2024, 2, 5)]
    assert list(rows.columns) == ["customer_id", "order_date", "amount", "order_id", "channel", "fully_refunded"]
    assert small.rows(customer_id="B")["amount"].sort().to_list() == [40.0, 60.0]
    assert small.rows(customer_id="A", start=D(2024, 1, 2), end=D(2024, 1, 31))["amount"].to_list() == [-20.0]
    assert small.rows(limit=10 * MAX_DRILL_ROWS).height == SMALL.height  # capped, not an error
    assert small.rows(customer_id="A' OR '1'='1").height == 0  # a value, never SQL


def test_empty_period_gives_zero_counts_and_no_ratios(small):
    kpis = small.period_kpis(D(2030, 1, 1), D(2030, 1, 31))
    assert (kpis["revenue"], kpis["orders"], kpis["active_customers"], kpis["aov"], kpis["frequency"]) == (0.0, 0, 0, None, None)
    assert small.kpi_comparison(D(2024, 1, 1), D(2024, 1, 31))["previous"].null_count() == 7


EDGE = pl.DataFrame(
    {   # trend from 10 March: the March bucket starts before it
        "customer_id": ["D", "D", "E", "F", "F", "G", "H", "H"],
        "order_date": [D(2024, 3, 5), D(2024, 3, 20), D(2024, 3, 6), D(2024, 2, 20), D(2024, 3, 15), D(2024, 3, 12),
                       D(2024, 3, 2), D(2024, 3, 15)],
        "amount": [10.0, 20.0, 5.0, 7.0, 8.0, 9.0, 4.0, -4.0],
    }
)


def test_partial_first_bucket_counts_new_customers_like_the_file_path():
    backend = ibis.duckdb.connect()
    backend.create_table("edge", EDGE)
    warehouse = Warehouse(WarehouseSource("duckdb:///memory", table="edge"), backend=backend)
    start, end = D(2024, 3, 10), D(2024, 3, 31)
    march = warehouse.kpi_trend(start, end, "month").row(0, named=True)
    # D (first bought 5 March, again on the 20th) and G (first on the 12th) are new in March;
    # E did not buy after the 10th, F first bought in February, H only returned after the 10th.
    assert (march["active_customers"], march["new_customers"]) == (3, 2)
    for grain in ("day", "week", "month"):
        _close(warehouse.kpi_trend(start, end, grain), kpi_trend(EDGE.lazy(), start, end, grain))


def _demo_summary_on(backend):
    """The demo's orders as table ``demo`` on ``backend``; its warehouse, last year's range and the file path's
    customer summary of it, checked against the engine's."""
    tx = pl.read_parquet(ROOT / "data" / "demo" / "transactions.parquet")
    backend.create_table("demo", tx)
    warehouse = Warehouse(WarehouseSource("duckdb:///memory", table="demo"), backend=backend)
    last = tx["order_date"].max()
    start = D(last.year - 1, 1, 1)
    expected = summarize(filter_period(tx.lazy(), start, last), as_of=last).collect()
    _close(warehouse.customer_summary(start, last).drop("first_channel"), expected.drop("first_channel"))
    return tx, warehouse, start, last, expected


def test_spark_shape_gives_the_file_path_figures(monkeypatch):
    """Spark's sorted shape (distinct counts and Overview buckets from sorted lines) is plain Ibis: run on DuckDB,
    it gives the file path's figures, with every optional column and a trend bucket that starts before the range."""
    monkeypatch.setattr(Warehouse, "_sorted_lines", property(lambda self: True))
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")  # Ibis writes list_distinct's lambda the old way
    backend.create_table("edge", EDGE)
    tx, warehouse, start, last, expected = _demo_summary_on(backend)
    assert "categories" in expected.columns and "channels" in expected.columns
    counts, spend = warehouse.clv_data(start)
    _close(counts, warehouse.clv_counts(start))
    _close(spend, warehouse.spend_counts(start))
    stats = rfm_summary(tx.lazy(), start).collect()
    assert counts["customers"].sum() == stats.height
    assert (counts["frequency"] * counts["customers"]).sum() == stats["frequency"].sum()
    check_every_figure(Engine("duckdb", "duckdb:///in-memory", backend).load("small", SMALL), SMALL, D(2024, 2, 29))
    edge = Warehouse(WarehouseSource("duckdb:///memory", table="edge"), backend=backend)
    card_start, card_end = D(2024, 3, 10), D(2024, 3, 31)
    for grain in ("day", "week", "month"):  # 10 March is a Sunday: the week and month buckets start before it
        comparison, trend = edge.overview(card_start, card_end, card_start, card_end, grain)
        _close(trend, kpi_trend(EDGE.lazy(), card_start, card_end, grain))
        _close(comparison, kpi_comparison(EDGE.lazy(), card_start, card_end))


def test_demo_every_optional_column_same_as_file_path():
    tx, warehouse, start, last, expected = _demo_summary_on(ibis.duckdb.connect())
    _close(warehouse.kpi_comparison(start, last), kpi_comparison(tx.lazy(), start, last))
    # Margin tiers: the margin sums and ranges come from the engine too.
    by_margin = TierSettings(value="margin")
    profile, tiers = warehouse.segments_and_tiers(start, last, tiers=by_margin)
    _close(tiers, tier_summary(assign_tiers(expected, by_margin), by_margin))
    _close(profile, segment_profile(score_customers(expected).collect()))


def test_duckdb_file_by_url_read_only(tmp_path):
    path = tmp_path / "orders.duckdb"
    writer = ibis.duckdb.connect(str(path))
    writer.create_table("orders", SMALL)
    writer.disconnect()
    warehouse = Warehouse(WarehouseSource(f"duckdb:///{path}", table="orders"))
    assert warehouse.totals()["customers"] == 5
    with pytest.raises(Exception, match="read-only"):
        warehouse.backend.raw_sql("DELETE FROM orders")
    with pytest.raises(WarehouseError, match="no DuckDB file"):
        connect(f"duckdb:///{tmp_path / 'missing.duckdb'}")


# --- PostgreSQL: safety and parallel plans ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pg(pg):
    from pg_cluster import load_frame

    load_frame(pg, "tiny orders", SMALL, {"customer_id": "Customer ID", "amount": 'Net "Amount"'})
    mapping = ColumnMapping(customer_id="Customer ID", amount='Net "Amount"')
    return Warehouse(WarehouseSource(pg, table="tiny orders", mapping=mapping))


def test_postgres_runs_the_summary_with_parallel_workers(tiny_pg):
    from crm_core.engines import figures

    sql = tiny_pg.backend.compile(figures.customer_summary(tiny_pg.tx, D(2024, 2, 29)))
    with tiny_pg.backend.con.cursor() as cursor:
        cursor.execute("SET parallel_tuple_cost = 0")  # five rows: only free transfers make a parallel plan pay
        plan = "\n".join(row[0] for row in cursor.execute(f"EXPLAIN {sql}").fetchall())
        cursor.execute("RESET parallel_tuple_cost")
    # The lines are sorted by customer in the workers and grouped as they stream in: no hash table of
    # one group per order or per day in one process, no join.
    assert "Gather Merge" in plan and "Parallel Seq Scan" in plan
    assert "HashAggregate" not in plan and "Join" not in plan


def test_postgres_overview_reads_lines_in_parallel_and_first_dates_once(tiny_pg):
    import re

    from crm_core.engines import figures
    from crm_core.engines.warehouse import _inlined_sql

    # The trend starts mid-month: the first month's returning customers need the first purchase dates too.
    overview = figures.overview(tiny_pg.tx, [(D(2024, 2, 1), D(2024, 2, 29)), (D(2024, 1, 1), D(2024, 1, 31))],
                                D(2024, 1, 15), D(2024, 2, 29), "month", distinct_in_groups=True)
    sql = _inlined_sql(tiny_pg.backend, overview)
    with tiny_pg.backend.con.cursor() as cursor:
        plan = "\n".join(row[0] for row in cursor.execute(f"EXPLAIN {sql}").fetchall())
    assert "Parallel Seq Scan" in plan
    assert len(re.findall(r"^\s*CTE \w+$", plan, re.M)) == 1  # the first purchase dates, computed once


def test_query_source_and_amount_from_quantity_times_price(pg):
    from pg_cluster import load_frame

    frame = pl.DataFrame({"cust": ["X", "X", "Y"], "day": [D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 2)],
                          "qty": [2.0, 1.0, 3.0], "price": [10.0, 5.0, 1.5]})
    load_frame(pg, "lines", frame)
    mapping = ColumnMapping(customer_id="cust", order_date="day", quantity="qty", unit_price="price")
    warehouse = Warehouse(WarehouseSource(pg, query="SELECT cust, day, qty, price FROM lines WHERE qty > 1;", mapping=mapping))
    kpis = warehouse.period_kpis(D(2024, 3, 1), D(2024, 3, 31))
    assert (kpis["revenue"], kpis["orders"], kpis["active_customers"]) == (24.5, 2, 2)  # 2×10 + 3×1.5
    # '%' and ':' in the user's query reach the database as written.
    literal = Warehouse(WarehouseSource(pg, query="SELECT cust, day::date, qty::float8, price, 'a :b %' AS note FROM lines "
                                                  "WHERE cust LIKE 'X%'", mapping=mapping))
    assert literal.customer_summary()["customer_id"].to_list() == ["X"]
    assert literal.all_rows()["amount"].sort().to_list() == [5.0, 20.0]


def test_postgres_results_keep_empty_text_nulls_and_dates(pg):
    """Results come back through COPY as CSV: '' stays text, NULL stays null, truncated dates stay dates."""
    query = ("SELECT 'X' AS customer_id, DATE '2024-03-05' AS order_date, 1.5::float8 AS amount, '' AS channel "
             "UNION ALL SELECT 'Y', DATE '2024-04-30', 2.25, NULL")
    warehouse = Warehouse(WarehouseSource(pg, query=query))
    rows = warehouse.all_rows().sort("customer_id")
    assert rows["channel"].to_list() == ["", None]
    assert rows["amount"].to_list() == [1.5, 2.25] and rows["order_date"].dtype == pl.Date
    trend = warehouse.kpi_trend(D(2024, 3, 1), D(2024, 4, 30), "month")
    assert trend["period"].to_list() == [D(2024, 3, 1), D(2024, 4, 1)]
    assert warehouse.customer_summary()["channels"].to_list() == [1, 0]  # '' is a channel, NULL is none


def test_unknown_table_or_column_is_refused_before_any_query(pg, tiny_pg):
    with pytest.raises(WarehouseError, match="no table"):
        Warehouse(WarehouseSource(pg, table='"tiny orders"; DROP TABLE cdnow'))
    with pytest.raises(WarehouseError, match="not in the source"):
        Warehouse(WarehouseSource(pg, table="tiny orders", mapping=ColumnMapping(customer_id='x" FROM pg_user --')))
    with pytest.raises(WarehouseError, match="Say which column"):
        Warehouse(WarehouseSource(pg, table="tiny orders"))  # no customer_id / amount by name
    assert tiny_pg.rows().height == SMALL.height


def test_postgres_sessions_are_read_only(pg, tiny_pg):
    sneaky = 'WITH gone AS (DELETE FROM "tiny orders" RETURNING *) SELECT * FROM gone'
    with pytest.raises(WarehouseError, match="refused"):
        Warehouse(WarehouseSource(pg, query=sneaky, mapping=ColumnMapping(customer_id="Customer ID", amount='Net "Amount"')))
    with pytest.raises(Exception, match="read-only"):
        tiny_pg.backend.raw_sql('DELETE FROM "tiny orders"')
    assert tiny_pg.all_rows().height == SMALL.height


def test_statement_timeout_says_what_to_do(pg, monkeypatch):
    monkeypatch.setenv("CRM_WAREHOUSE_TIMEOUT_S", "1")
    slow = Warehouse(WarehouseSource(pg, query="SELECT 'a' AS customer_id, DATE '2024-01-01' AS order_date, "
                                               "1.0::float8 AS amount FROM pg_sleep(3)"))
    with pytest.raises(WarehouseError, match="took longer than 1 s"):
        slow.totals()


def test_uris_are_checked_and_passwords_never_shown(pg):
    assert redact_uri("postgresql://reader:s3cret@db:5432/shop") == "postgresql://reader:***@db:5432/shop"
    assert "s3cret" not in repr(WarehouseSource("postgresql://reader:s3cret@db/shop", table="t"))
    assert [engine_of(uri) for uri in ("postgresql://h/db", "duckdb:///x.duckdb", "spark://h:7077", "sc://h", "local[2]")] == [
        "postgresql", "duckdb", "spark", "spark", "spark"]
    with pytest.raises(WarehouseError, match="not supported"):
        engine_of("mysql://u:pw@host/db")
    with pytest.raises(WarehouseError, match="cannot be read"):
        engine_of("not a uri")
    port = int(pg.rsplit(":", 1)[1].split("/")[0])
    dead = f"postgresql://reader:s3cret@127.0.0.1:{port + 1 if port < 65535 else port - 1}/shop"
    with pytest.raises(WarehouseError, match="Cannot reach") as caught:
        Warehouse(WarehouseSource(dead, table="orders"))
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_logs_have_timings_and_counts_but_no_customer_data(small):
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    try:
        small.customer_summary()
        small.rows(customer_id="A")
    finally:
        configure_logging(stream=io.StringIO())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    kinds = {line.get("kind") for line in lines if line["event"] == "warehouse_query"}
    assert {"customer_summary", "drill_rows"} <= kinds
    assert all("duration_ms" in line and line["status"] == "ok" and line["engine"] == "duckdb" for line in lines)
    assert next(line for line in lines if line.get("kind") == "customer_summary")["rows_returned"] == 5
    for secret in ('"A"', "web", "store", "160", "small orders"):
        assert secret not in stream.getvalue()


# --- pure helpers ----------------------------------------------------------------------------


def test_spark_sessions_get_arrow_and_few_shuffle_partitions_locally():
    from crm_core.engines.source import spark_settings

    assert spark_settings("local[3]")["spark.sql.shuffle.partitions"] == "6"  # two tasks per core, not 200
    assert spark_settings("local")["spark.sql.shuffle.partitions"] == "2"
    cluster = spark_settings("spark://master:7077")
    assert "spark.sql.shuffle.partitions" not in cluster  # the cluster's own setting stays
    assert cluster["spark.sql.execution.arrow.pyspark.enabled"] == "true"


def test_query_checks():
    assert check_query("  select 1 ;  ") == "select 1"
    for bad in ("DELETE FROM t", "SELECT 1; DROP TABLE t", "", "update t set a=1"):
        with pytest.raises(WarehouseError):
            check_query(bad)


def test_mapping_resolution():
    assert resolve_mapping(ColumnMapping(), ["Customer_ID", "ORDER_DATE", "amount", "Days_Late", "Fully_Refunded"]) == {
        "customer_id": "Customer_ID", "order_date": "ORDER_DATE", "amount": "amount", "days_late": "Days_Late",
        "fully_refunded": "Fully_Refunded"}
    with pytest.raises(WarehouseError, match="amount"):
        resolve_mapping(ColumnMapping(), ["customer_id", "order_date", "quantity"])
    with pytest.raises(WarehouseError, match="not in the source"):
        resolve_mapping(ColumnMapping(amount="Amount"), ["customer_id", "order_date", "amount"])


def test_amount_tiers_and_margin_ranking(small):
    settings = TierSettings(names=("Big", "Small"), method="amount", amounts=(100.0,))
    summary = small.customer_summary()
    _close(small.tier_summary(settings=settings), tier_summary(assign_tiers(summary, settings), settings))
    assert small.tiers(settings=settings).filter(pl.col("tier") == "Big")["customer_id"].to_list() == ["A", "B"]


def test_top_customers_and_their_share():
    summary = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [50.0, 30.0, 30.0, -10.0], "orders": [1, 2, 3, 1]})
    top, sentence = top_customers(summary, 2)
    assert top["customer_id"].to_list() == ["a", "b"]  # ties broken by id
    assert sentence == "The top 2 of 4 customers bring 80% of the period's net revenue."  # 80 / 100
    assert top_customers(summary.head(0), 5)[1].startswith("No net revenue")


@pytest.mark.timeout(900)
def test_spark_table_bucketed_by_customer_gives_the_same_figures_without_a_shuffle_by_customer(spark, tmp_path):
    """A table bucketed by customer (as a Spark warehouse keeps orders, and the bench does) gives the file path's
    figures, and Spark groups and sorts each customer's lines where they lie: no exchange by customer in the plan."""
    folder = tmp_path / "bucketed"
    (spark.createDataFrame(SMALL.to_arrow()).repartition(2, "customer_id").write.bucketBy(2, "customer_id")
     .sortBy("customer_id", "order_date").option("path", str(folder)).saveAsTable("small_load"))
    spark.sql("DROP TABLE small_load")
    columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in spark.read.parquet(str(folder)).schema)
    spark.sql(f"CREATE TABLE small_bucketed ({columns}) USING parquet CLUSTERED BY (customer_id) INTO 2 BUCKETS "
              f"LOCATION '{folder}'")
    warehouse = Warehouse(WarehouseSource("local[2]", table="small_bucketed"), backend=ibis.pyspark.connect(spark))
    check_every_figure(warehouse, SMALL, D(2024, 2, 29))
    from crm_core.engines import figures

    sql = warehouse.backend.compile(figures.clv_data(warehouse.tx, D(2024, 2, 29), sorted_lines=True).as_table())
    plan = spark.sql(sql)._jdf.queryExecution().executedPlan().toString()
    assert "Bucketed: true" in plan
    assert "Exchange hashpartitioning(customer_id" not in plan
