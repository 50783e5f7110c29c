"""Warehouse push-down: the SQL aggregates equal the file path's numbers.

Tests that need a database start a throwaway PostgreSQL server
(tests/pg_cluster.py) and are skipped, with the reason, when it cannot start.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crm_core.customers import filter_period, summarize
from crm_core.ingest import ColumnMapping, read_orders
from crm_core.kpis import kpi_comparison, kpi_trend, period_kpis
from crm_core.logging_setup import configure_logging
from crm_core.warehouse import (
    MAX_DRILL_ROWS,
    Warehouse,
    WarehouseError,
    WarehouseSource,
    bucket_bounds,
    check_query,
    create_engine,
    redact_uri,
    resolve_mapping,
    top_customers,
)

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
D = dt.date


@pytest.fixture(scope="module")
def pg():
    from pg_cluster import ClusterUnavailable, PostgresCluster

    try:
        cluster = PostgresCluster()
        uri = cluster.start()
    except ClusterUnavailable as reason:
        pytest.skip(f"PostgreSQL cannot start here: {reason}")
    yield uri
    cluster.stop()


def _load(uri: str, table: str, frame: pl.DataFrame, rename: dict[str, str] | None = None) -> None:
    from pg_cluster import load_frame

    load_frame(uri, table, frame, rename)


def _close(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Same columns, dtypes and rows; floats equal up to summation order."""
    assert_frame_equal(actual, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


def _same_dict(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


# --- a tiny portfolio computed by hand --------------------------------------------------

TINY = pl.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "B", "C"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 15), D(2024, 2, 1), D(2024, 1, 10), D(2024, 1, 10), D(2024, 2, 5)],
        "amount": [100.0, 50.0, -20.0, 30.0, 40.0, 60.0, -10.0],
        "order_id": ["o1", "o2", None, "o3", None, None, None],
        "channel": ["web", "web", None, "store", "store", None, "web"],
    }
)
# Awkward source names (spaces, capitals, a quote) must be quoted, never pasted into SQL.
TINY_NAMES = {"customer_id": "Customer ID", "order_date": "Order Date", "amount": "Net \"Amount\"", "order_id": "order_id", "channel": "Channel"}
TINY_MAPPING = ColumnMapping(customer_id="Customer ID", order_date="Order Date", amount='Net "Amount"', channel="Channel")


@pytest.fixture(scope="module")
def tiny(pg):
    _load(pg, "tiny orders", TINY, TINY_NAMES)
    return Warehouse(WarehouseSource(pg, table="tiny orders", mapping=TINY_MAPPING))


def test_tiny_customer_summary_by_hand(tiny):
    summary = {row["customer_id"]: row for row in tiny.customer_summary(end=D(2024, 2, 29)).iter_rows(named=True)}
    a, b, c = summary["A"], summary["B"], summary["C"]
    # A: orders o1, o2, o3 (the return line is not an order); 2 purchase days.
    assert (a["orders"], a["purchase_days"], a["return_lines"]) == (3, 2, 1)
    assert (a["revenue"], a["gross_revenue"], a["returns"]) == (160.0, 180.0, 20.0)
    assert a["first_day_amount"] == 150.0 and a["aov"] == pytest.approx(160 / 3)
    assert (a["first_date"], a["last_date"], a["recency_days"], a["tenure_days"]) == (D(2024, 1, 1), D(2024, 2, 1), 28, 59)
    assert (a["channels"], a["first_channel"]) == (2, "web")
    # B: two lines on one day without order ids are one order.
    assert (b["orders"], b["revenue"], b["aov"], b["first_channel"]) == (1, 100.0, 100.0, "store")
    # C: only a return: no orders, no purchase dates, nothing spent on a first purchase day.
    assert (c["orders"], c["revenue"], c["aov"], c["first_purchase_date"], c["first_day_amount"]) == (0, -10.0, None, None, 0.0)


def test_tiny_period_kpis_by_hand(tiny):
    expected = {"revenue": 230.0, "orders": 3, "active_customers": 2, "new_customers": 2,
                "returning_share": 0.0, "aov": 230 / 3, "frequency": 1.5}
    _same_dict(tiny.period_kpis(D(2024, 1, 1), D(2024, 1, 31)), expected)
    _same_dict(period_kpis(TINY.lazy(), D(2024, 1, 1), D(2024, 1, 31)), expected)  # the file path agrees
    # February: A returns (bought before), nobody new; C's return is revenue but no order.
    february = tiny.period_kpis(D(2024, 2, 1), D(2024, 2, 29))
    assert (february["revenue"], february["orders"], february["active_customers"], february["new_customers"]) == (20.0, 1, 1, 0)
    assert february["returning_share"] == 1.0


def test_tiny_matches_file_path_exactly(tiny):
    _close(tiny.customer_summary(D(2024, 1, 5), D(2024, 2, 10)),
           summarize(filter_period(TINY.lazy(), D(2024, 1, 5), D(2024, 2, 10)), as_of=D(2024, 2, 10)).collect())
    for grain in ("day", "week", "month"):
        _close(tiny.kpi_trend(D(2024, 1, 1), D(2024, 2, 29), grain), kpi_trend(TINY.lazy(), D(2024, 1, 1), D(2024, 2, 29), grain))
    _close(tiny.kpi_comparison(D(2024, 2, 1), D(2024, 2, 29)), kpi_comparison(TINY.lazy(), D(2024, 2, 1), D(2024, 2, 29)))


def test_empty_period_gives_zero_counts_and_no_ratios(tiny):
    kpis = tiny.period_kpis(D(2030, 1, 1), D(2030, 1, 31))
    assert (kpis["revenue"], kpis["orders"], kpis["active_customers"], kpis["aov"], kpis["frequency"]) == (0.0, 0, 0, None, None)
    comparison = tiny.kpi_comparison(D(2024, 1, 1), D(2024, 1, 31))  # previous period has no orders
    assert comparison["previous"].null_count() == comparison.height


# --- the CDNOW sample and the demo: same numbers as the file path ------------------------


@pytest.fixture(scope="module")
def cdnow(pg):
    tx = read_orders(DATA / "cdnow_sample.csv")[0].collect()
    _load(pg, "cdnow", tx)
    return tx, Warehouse(WarehouseSource(pg, table="cdnow"))


def test_cdnow_reference_totals(cdnow):
    expected = json.loads((DATA / "cdnow_sample_expected.json").read_text())
    _, warehouse = cdnow
    described = warehouse.describe()
    assert (described["rows"], described["customers"]) == (expected["transactions"], expected["customers"])
    assert str(described["first_date"]) == expected["date_min"] and str(described["last_date"]) == expected["date_max"]
    whole = warehouse.period_kpis(D(1997, 1, 1), D(1998, 6, 30))
    assert whole["revenue"] == pytest.approx(expected["total_revenue"], abs=0.005)
    assert whole["active_customers"] == expected["customers"]
    summary = warehouse.customer_summary()
    assert summary.height == expected["customers"] and summary["quantity"].sum() == expected["total_quantity"]


def test_cdnow_same_as_file_path(cdnow):
    tx, warehouse = cdnow
    lazy = tx.lazy()
    _close(warehouse.customer_summary(), summarize(lazy).collect())
    _close(warehouse.customer_summary(D(1997, 3, 1), D(1997, 9, 30)),
           summarize(filter_period(lazy, D(1997, 3, 1), D(1997, 9, 30)), as_of=D(1997, 9, 30)).collect())
    _close(warehouse.kpi_comparison(D(1998, 1, 1), D(1998, 6, 30)), kpi_comparison(lazy, D(1998, 1, 1), D(1998, 6, 30)))
    for grain in ("day", "week", "month"):
        _close(warehouse.kpi_trend(D(1997, 1, 1), D(1998, 6, 30), grain), kpi_trend(lazy, D(1997, 1, 1), D(1998, 6, 30), grain))


@pytest.fixture(scope="module")
def demo(pg):
    tx = pl.read_parquet(ROOT / "data" / "demo" / "transactions.parquet")
    names = {"customer_id": "Customer", "order_date": "Ordered On", "amount": "Net Amount", "order_id": "Order No",
             "cost": "COGS"}
    from sqlalchemy import create_engine as sa_engine, text

    with sa_engine(pg).begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS sales"))
    _load(pg, "demo_orders", tx, names)
    with sa_engine(pg).begin() as connection:
        connection.execute(text('ALTER TABLE demo_orders SET SCHEMA sales'))
    mapping = ColumnMapping(customer_id="Customer", order_date="Ordered On", amount="Net Amount", order_id="Order No", cost="COGS")
    return tx, Warehouse(WarehouseSource(pg, table="sales.demo_orders", mapping=mapping))


def test_demo_every_optional_column_same_as_file_path(demo):
    tx, warehouse = demo
    assert warehouse.optional_columns == ["order_id", "quantity", "channel", "region", "category", "cost", "days_late",
                                         "product", "sku", "discount_code"]
    lazy = tx.lazy()
    last = tx["order_date"].max()
    start = D(last.year - 1, 1, 1)
    expected = summarize(filter_period(lazy, start, last), as_of=last).collect()
    actual = warehouse.customer_summary(start, last)
    # first_channel: SQL has no line order, so the warehouse takes the alphabetically first channel of the day.
    _close(actual.drop("first_channel"), expected.drop("first_channel"))
    first_day = filter_period(lazy, start, last).filter(pl.col("amount") >= 0).with_columns(
        pl.col("order_date").min().over("customer_id").alias("first")
    )
    alphabetical = (first_day.filter(pl.col("order_date") == pl.col("first")).group_by("customer_id")
                    .agg(pl.col("channel").min().alias("first_channel")).collect())
    joined = actual.select("customer_id", "first_channel").join(alphabetical, on="customer_id", how="left", suffix="_expected")
    assert joined.filter(pl.col("first_channel").ne_missing(pl.col("first_channel_expected"))).height == 0
    _close(warehouse.kpi_comparison(start, last), kpi_comparison(lazy, start, last))
    _close(warehouse.kpi_trend(start, last, "week"), kpi_trend(lazy, start, last, "week"))


def test_query_source_and_amount_from_quantity_times_price(pg, tiny):
    frame = pl.DataFrame({"cust": ["X", "X", "Y"], "day": [D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 2)],
                          "qty": [2.0, 1.0, 3.0], "price": [10.0, 5.0, 1.5]})
    _load(pg, "lines", frame)
    source = WarehouseSource(pg, query="SELECT cust, day, qty, price FROM lines WHERE qty > 1;",
                             mapping=ColumnMapping(customer_id="cust", order_date="day", quantity="qty", unit_price="price"))
    warehouse = Warehouse(source)
    kpis = warehouse.period_kpis(D(2024, 3, 1), D(2024, 3, 31))
    assert (kpis["revenue"], kpis["orders"], kpis["active_customers"]) == (24.5, 2, 2)  # 2×10 + 3×1.5; X's qty-1 line filtered
    assert warehouse.columns["quantity"] == "qty"
    # '%' and ':' in the user's query reach the database as written (large results take another path).
    literal = Warehouse(WarehouseSource(pg, query="SELECT cust, day::date, qty::float8, price, 'a :b %' AS note FROM lines WHERE cust LIKE 'X%'",
                                        mapping=ColumnMapping(customer_id="cust", order_date="day", quantity="qty",
                                                              unit_price="price")))
    assert literal.customer_summary()["customer_id"].to_list() == ["X"]
    assert literal.period_kpis(D(2024, 3, 1), D(2024, 3, 31))["revenue"] == 25.0
    assert literal.all_rows()["amount"].sort().to_list() == [5.0, 20.0]


def test_drill_down_rows_are_limited_and_newest_first(tiny):
    rows = tiny.rows(limit=2)
    assert rows.height == 2 and rows["order_date"].to_list() == [D(2024, 2, 5), D(2024, 2, 1)]
    assert list(rows.columns) == ["customer_id", "order_date", "amount", "order_id", "channel"]
    assert tiny.rows(customer_id="B")["amount"].sort().to_list() == [40.0, 60.0]
    assert tiny.rows(customer_id="A", start=D(2024, 1, 2), end=D(2024, 1, 31))["amount"].to_list() == [-20.0]
    assert tiny.rows(limit=10 * MAX_DRILL_ROWS).height == TINY.height  # capped, not an error


def test_all_rows_pull_equals_the_table(tiny):
    _close(tiny.all_rows().sort("customer_id", "order_date", "amount"), TINY.sort("customer_id", "order_date", "amount"))


# --- safety ------------------------------------------------------------------------------


def test_user_values_are_bound_not_pasted(tiny):
    assert tiny.rows(customer_id="A' OR '1'='1").height == 0
    assert tiny.rows(customer_id="A").height == 4


def test_unknown_table_or_column_is_refused_before_any_query(pg, tiny):
    with pytest.raises(WarehouseError, match="no table"):
        Warehouse(WarehouseSource(pg, table='"tiny orders"; DROP TABLE cdnow'))
    with pytest.raises(WarehouseError, match="not in the source"):
        Warehouse(WarehouseSource(pg, table="tiny orders", mapping=ColumnMapping(customer_id='x" FROM pg_user --')))
    with pytest.raises(WarehouseError, match="Say which column"):
        Warehouse(WarehouseSource(pg, table="tiny orders"))  # no customer_id / order_date / amount by name
    assert tiny.rows().height == TINY.height


def test_queries_run_read_only(pg, tiny):
    sneaky = 'WITH gone AS (DELETE FROM "tiny orders" RETURNING *) SELECT * FROM gone'
    with pytest.raises(WarehouseError, match="refused"):
        Warehouse(WarehouseSource(pg, query=sneaky, mapping=TINY_MAPPING))
    with pytest.raises(WarehouseError, match="refused"):  # every statement runs in a READ ONLY transaction
        tiny._execute('DELETE FROM "tiny orders"')
    assert tiny.rows().height == TINY.height


def test_query_checks():
    assert check_query("  select 1 ;  ") == "select 1"
    for bad in ("DELETE FROM t", "SELECT 1; DROP TABLE t", "", "update t set a=1"):
        with pytest.raises(WarehouseError):
            check_query(bad)


def test_mapping_resolution():
    assert resolve_mapping(ColumnMapping(), ["Customer_ID", "ORDER_DATE", "amount", "Days_Late"]) == {
        "customer_id": "Customer_ID", "order_date": "ORDER_DATE", "amount": "amount", "days_late": "Days_Late"}
    with pytest.raises(WarehouseError, match="amount"):
        resolve_mapping(ColumnMapping(), ["customer_id", "order_date", "quantity"])
    with pytest.raises(WarehouseError, match="not in the source"):
        resolve_mapping(ColumnMapping(amount="Amount"), ["customer_id", "order_date", "amount"])


def test_uris_are_checked_and_passwords_never_shown(pg):
    assert redact_uri("postgresql://reader:s3cret@db:5432/shop") == "postgresql://reader:***@db:5432/shop"
    assert "s3cret" not in repr(WarehouseSource("postgresql://reader:s3cret@db/shop", table="t"))
    with pytest.raises(WarehouseError, match="Only PostgreSQL"):
        create_engine("sqlite:///x.db")
    with pytest.raises(WarehouseError, match="cannot be read"):
        create_engine("not a uri")
    port = int(pg.rsplit(":", 1)[1].split("/")[0])
    dead = f"postgresql://reader:s3cret@127.0.0.1:{port + 1 if port < 65535 else port - 1}/shop"
    with pytest.raises(WarehouseError, match="Cannot reach") as caught:
        Warehouse(WarehouseSource(dead, table="orders"))
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_logs_have_timings_and_counts_but_no_customer_data(pg, tiny):
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    try:
        tiny.customer_summary()
        tiny.rows(customer_id="A")
        with pytest.raises(WarehouseError):
            Warehouse(WarehouseSource(pg, table="tiny orders", mapping=ColumnMapping(customer_id="nope")))
    finally:
        configure_logging(stream=io.StringIO())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    kinds = {line.get("kind") for line in lines if line["event"] == "warehouse_query"}
    assert {"customer_summary", "drill_rows"} <= kinds
    assert all("duration_ms" in line and line["status"] == "ok" for line in lines)
    assert next(line for line in lines if line.get("kind") == "customer_summary")["rows_returned"] == 3
    text = stream.getvalue()
    for secret in ('"A"', "web", "store", "160", "tiny orders"):
        assert secret not in text


def test_top_customers_and_their_share():
    summary = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [50.0, 30.0, 30.0, -10.0], "orders": [1, 2, 3, 1]})
    top, sentence = top_customers(summary, 2)
    assert top["customer_id"].to_list() == ["a", "b"]  # ties broken by id
    assert sentence == "The top 2 of 4 customers bring 80% of the period's net revenue."  # 80 / 100
    assert top_customers(summary.head(0), 5)[1].startswith("No net revenue")


EDGE = pl.DataFrame(
    {   # trend from 10 March: the March bucket starts before it
        "customer_id": ["D", "D", "E", "F", "F", "G", "H", "H"],
        "order_date": [D(2024, 3, 5), D(2024, 3, 20), D(2024, 3, 6), D(2024, 2, 20), D(2024, 3, 15), D(2024, 3, 12),
                       D(2024, 3, 2), D(2024, 3, 15)],
        "amount": [10.0, 20.0, 5.0, 7.0, 8.0, 9.0, 4.0, -4.0],
    }
)


def test_partial_first_bucket_counts_new_customers_like_the_file_path(pg):
    _load(pg, "edge", EDGE)
    warehouse = Warehouse(WarehouseSource(pg, table="edge"))
    start, end = D(2024, 3, 10), D(2024, 3, 31)
    march = warehouse.kpi_trend(start, end, "month").row(0, named=True)
    # D (first bought 5 March, again on the 20th) and G (first on the 12th) are new in March;
    # E did not buy after the 10th, F first bought in February, H only returned after the 10th.
    assert (march["active_customers"], march["new_customers"]) == (3, 2)
    for grain in ("day", "week", "month"):
        _close(warehouse.kpi_trend(start, end, grain), kpi_trend(EDGE.lazy(), start, end, grain))


def test_overview_is_the_cards_and_the_trend_in_one_statement(cdnow):
    tx, warehouse = cdnow
    comparison, trend = warehouse.overview(D(1997, 7, 1), D(1998, 6, 30), D(1997, 1, 1), D(1998, 6, 30), "week")
    _close(comparison, kpi_comparison(tx.lazy(), D(1997, 7, 1), D(1998, 6, 30)))
    _close(trend, kpi_trend(tx.lazy(), D(1997, 1, 1), D(1998, 6, 30), "week"))


def test_bucket_bounds():
    assert bucket_bounds(D(2024, 2, 14), "month") == (D(2024, 2, 1), D(2024, 2, 29))
    assert bucket_bounds(D(2024, 12, 31), "month") == (D(2024, 12, 1), D(2024, 12, 31))
    assert bucket_bounds(D(2024, 3, 10), "week") == (D(2024, 3, 4), D(2024, 3, 10))  # Monday to Sunday
    assert bucket_bounds(D(2024, 3, 10), "day") == (D(2024, 3, 10), D(2024, 3, 10))
