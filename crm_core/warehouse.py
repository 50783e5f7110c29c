"""Orders that live in a database: aggregates pushed down as SQL.

A :class:`WarehouseSource` is a SQLAlchemy connection URI (PostgreSQL for
now), a table or a single SELECT query, and the column mapping (the same
:class:`crm_core.ingest.ColumnMapping` as file uploads). :class:`Warehouse`
answers what the Overview and the customer tables need with SQL that runs in
the database, so only aggregates travel:

- :meth:`Warehouse.customer_summary`: one row per customer, the same columns
  and definitions as :func:`crm_core.customers.summarize`;
- :meth:`Warehouse.period_kpis`, :meth:`Warehouse.kpi_comparison`,
  :meth:`Warehouse.kpi_trend`: the same figures as :mod:`crm_core.kpis`;
- :meth:`Warehouse.rows`: raw rows for a drill-down, always with a limit.

Safety: user values (dates, customer ids, limits) are bound parameters, never
formatted into SQL. Table and column names must exist in the database (they
are looked up first) and are quoted by the dialect. A query source must be one
SELECT (or WITH) statement; every statement runs in a READ ONLY transaction
with a statement timeout. Use a database account that can only read.

One documented difference from the file path: ``first_channel`` needs the
"first line" of a customer's first purchase day, and SQL tables have no line
order, so the warehouse takes the alphabetically first channel of that day.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl

from crm_core.customers import summarize
from crm_core.ingest import ColumnMapping
from crm_core.kpis import GRAIN_TRUNCATE, _derived, comparison_frame, kpi_trend, previous_period
from crm_core.logging_setup import get_logger, timed
from crm_core.schema import C, TRANSACTION_SCHEMA

SUPPORTED_BACKENDS = ("postgresql",)
DEFAULT_DRILL_ROWS = 500
MAX_DRILL_ROWS = 10_000
DEFAULT_TIMEOUT_S = 120
STREAM_ROWS = 10_000
#: Canonical fields a mapping may name, besides ColumnMapping's (detected by name only).
EXTRA_FIELDS = (C.DAYS_LATE,)
_SQL_TYPES = {pl.String: "TEXT", pl.Date: "DATE", pl.Float64: "DOUBLE PRECISION"}
_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)

_log = get_logger("warehouse")


class WarehouseError(Exception):
    """The database cannot answer; the message says what to do."""


@dataclass(frozen=True)
class WarehouseSource:
    """Where the orders are.

    Parameters
    ----------
    uri
        SQLAlchemy URI, e.g. ``postgresql://reader:secret@db:5432/shop``
        (``postgresql://`` is run with the psycopg 3 driver).
    table
        ``table`` or ``schema.table``. Give either ``table`` or ``query``.
    query
        One SELECT statement whose columns are the order lines.
    mapping
        Source column for each canonical field; ``None`` fields are found by
        their canonical name (case-insensitive).
    """

    uri: str
    table: str | None = None
    query: str | None = None
    mapping: ColumnMapping = dataclasses.field(default_factory=ColumnMapping)

    def __repr__(self) -> str:  # never show the password
        return f"WarehouseSource(uri={redact_uri(self.uri)!r}, table={self.table!r}, query={'…' if self.query else None})"


def redact_uri(uri: str) -> str:
    """The URI with its password replaced by ``***`` (for messages and logs)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return "<unreadable URI>"


def timeout_seconds() -> int:
    """Statement timeout: ``$CRM_WAREHOUSE_TIMEOUT_S`` (default 120 s)."""
    try:
        return max(1, int(os.environ.get("CRM_WAREHOUSE_TIMEOUT_S", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def create_engine(uri: str):
    """A SQLAlchemy engine for ``uri``; raises :class:`WarehouseError` for bad or unsupported URIs."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(uri.strip())
    except ArgumentError:
        raise WarehouseError(
            "This connection URI cannot be read. Use the form postgresql://user:password@host:5432/database."
        ) from None
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise WarehouseError(
            f"Only PostgreSQL is supported for now (got '{url.get_backend_name()}'). "
            "Use a URI that starts with postgresql://."
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    except NoSuchModuleError:
        raise WarehouseError(f"The database driver '{url.drivername}' is not installed; use postgresql://.") from None


class Warehouse:
    """Push-down queries on one :class:`WarehouseSource`.

    Connecting looks up the table (or runs the query with ``LIMIT 0``) to learn
    its columns and resolve the mapping; errors say what to fix.
    """

    def __init__(self, source: WarehouseSource, engine: Any | None = None) -> None:
        if bool(source.table) == bool(source.query):
            raise WarehouseError("Give either a table name or a query (not both).")
        self.source = source
        self.engine = engine if engine is not None else create_engine(source.uri)
        self._quote = self.engine.dialect.identifier_preparer.quote_identifier
        self.source_columns = self._source_columns()
        self.columns = resolve_mapping(source.mapping, self.source_columns)
        self._canonical = self._canonical_select()

    # --- connection and source -------------------------------------------------------

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run one statement read-only with the statement timeout; (column names, rows)."""
        names, chunks = self._run(sql, params, lambda rows: [tuple(row) for row in rows], stream=False)
        return names, [row for chunk in chunks for row in chunk]

    def _execute_frame(self, sql: str, params: Mapping[str, Any], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        """Run one statement read-only and stream its rows into a frame, STREAM_ROWS at a time.

        Large results (one row per customer) never exist as one list of Python tuples.
        """
        def to_frame(rows) -> pl.DataFrame:
            return pl.DataFrame([tuple(row) for row in rows], schema=dict(schema), orient="row")

        names, chunks = self._run(sql, params, to_frame, stream=True)
        if list(names) != list(schema):
            raise WarehouseError("The database returned unexpected columns; this is a bug, please report it.")
        return pl.concat(chunks) if chunks else pl.DataFrame(schema=dict(schema))

    def _run(self, sql: str, params: Mapping[str, Any] | None, convert, stream: bool) -> tuple[list[str], list]:
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError, OperationalError

        try:
            with self.engine.connect() as connection, connection.begin():
                connection.execute(sa.text("SET TRANSACTION READ ONLY"))
                connection.execute(sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                                   {"ms": str(timeout_seconds() * 1000)})
                if stream:
                    return _stream(connection, sa.text(sql).compile(dialect=self.engine.dialect), params or {}, convert)
                result = connection.execute(sa.text(sql), dict(params or {}))
                return list(result.keys()), [convert(result.fetchall())]
        except OperationalError as error:
            raise WarehouseError(_operational_message(error, self.source.uri)) from None
        except DBAPIError as error:
            raise WarehouseError(
                f"The database refused the query ({type(error.orig).__name__}). Check the table or query, the column "
                "mapping and that the date column holds dates; ask your database admin if it persists."
            ) from None

    def _source_columns(self) -> list[str]:
        if self.source.table:
            return self._table_columns(self.source.table)
        names, _ = self._execute(f"SELECT * FROM {self._from_clause()} LIMIT 0")
        return names

    def _table_columns(self, table: str) -> list[str]:
        import sqlalchemy as sa
        from sqlalchemy.exc import OperationalError

        schema, _, name = table.strip().rpartition(".")
        try:
            inspector = sa.inspect(self.engine)
            if not inspector.has_table(name, schema=schema or None):
                raise WarehouseError(f"There is no table '{table}' in this database (or no permission to read it). "
                                     "Check the name; use schema.table for a table outside the default schema.")
            return [column["name"] for column in inspector.get_columns(name, schema=schema or None)]
        except OperationalError as error:
            raise WarehouseError(_operational_message(error, self.source.uri)) from None

    def _from_clause(self) -> str:
        if self.source.table:
            schema, _, name = self.source.table.strip().rpartition(".")
            qualified = f"{self._quote(schema)}.{self._quote(name)}" if schema else self._quote(name)
            return f"{qualified} AS src"
        # A ':' in the user's SQL (a '::' cast, a ' :name' in a string) is not a bind parameter.
        return f"({check_query(self.source.query or '')}) AS src".replace(":", "\\:")

    def _canonical_select(self) -> str:
        """SELECT of the canonical columns (typed, rows without customer/date/amount dropped)."""
        source = {field: f"src.{self._quote(column)}" for field, column in self.columns.items()}
        if C.AMOUNT in source:
            amount = f"CAST({source[C.AMOUNT]} AS DOUBLE PRECISION)"
        else:  # amount = quantity × unit price
            amount = f"(CAST({source[C.QUANTITY]} AS DOUBLE PRECISION) * CAST({source['unit_price']} AS DOUBLE PRECISION))"
        selected = [f"CAST({source[C.CUSTOMER_ID]} AS TEXT) AS customer_id",
                    f"CAST({source[C.ORDER_DATE]} AS DATE) AS order_date", f"{amount} AS amount"]
        for name in self.optional_columns:
            selected.append(f"CAST({source[name]} AS {_SQL_TYPES[TRANSACTION_SCHEMA[name].base_type()]}) AS {name}")
        required = f"{source[C.CUSTOMER_ID]} IS NOT NULL AND {source[C.ORDER_DATE]} IS NOT NULL AND {amount} IS NOT NULL"
        return f"SELECT {', '.join(selected)} FROM {self._from_clause()} WHERE {required}"

    @property
    def optional_columns(self) -> list[str]:
        """Optional canonical columns this source provides, in schema order."""
        return [name for name in TRANSACTION_SCHEMA if name in self.columns
                and name not in (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT)]

    def _with(self) -> str:
        """Common table expressions: tx (inlined, not materialised) and fp (first purchase per customer, computed once)."""
        return (f"WITH tx AS NOT MATERIALIZED ({self._canonical}), "
                "fp AS MATERIALIZED (SELECT customer_id, MIN(order_date) AS first_date FROM tx WHERE amount >= 0 GROUP BY customer_id)")

    def _order_key(self, alias: str) -> str:
        """SQL twin of crm_core.customers.order_key: order_id, else the purchase day."""
        day = f"to_char({alias}.order_date, 'YYYY-MM-DD')"
        return f"COALESCE({alias}.order_id, {day})" if C.ORDER_ID in self.columns else day

    # --- what the app asks -----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Rows, customers and first/last order date (one aggregate query)."""
        with timed(_log, "warehouse_query", kind="describe"):
            _, rows = self._execute(
                f"WITH tx AS ({self._canonical}) SELECT COUNT(*), COUNT(DISTINCT customer_id), "
                "MIN(order_date), MAX(order_date) FROM tx"
            )
        count, customers, first, last = rows[0]
        return {"rows": int(count), "customers": int(customers), "first_date": first, "last_date": last}

    def customer_summary(self, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        """Per-customer summary of ``start..end`` as of ``end``: ``summarize(filter_period(tx, start, end), end)``."""
        if end is None:
            end = self._last_date(start)
        if end is None:
            return _empty_summary(self.columns)
        period = "tx.order_date <= :end" + (" AND tx.order_date >= :start" if start is not None else "")
        optional = {
            C.QUANTITY: "COALESCE(SUM(p.quantity), 0) AS quantity",
            C.COST: "COALESCE(SUM(p.amount), 0) - COALESCE(SUM(p.cost), 0) AS margin",
            C.CATEGORY: "COUNT(DISTINCT p.category) AS categories",
            C.CHANNEL: "COUNT(DISTINCT p.channel) AS channels",
            C.DAYS_LATE: "AVG(p.days_late) AS days_late_mean",
        }
        extra = [sql for column, sql in optional.items() if column in self.columns]
        if C.CHANNEL in self.columns:
            extra.append("MIN(p.channel) FILTER (WHERE p.amount >= 0 AND p.order_date = p.first_date) AS first_channel")
        # One sort by (hash of the customer id, customer id) serves the window (first purchase day)
        # and the grouping: sorting on an integer first is much cheaper than on text, and exact,
        # since the id itself still separates customers whose hashes collide.
        sql = f"""
            WITH tx AS NOT MATERIALIZED ({self._canonical}),
            p AS (SELECT tx.*, MIN(tx.order_date) FILTER (WHERE tx.amount >= 0)
                               OVER (PARTITION BY hashtextextended(tx.customer_id, 0), tx.customer_id) AS first_date
                  FROM tx WHERE {period})
            SELECT p.customer_id,
                MIN(p.order_date) AS first_date,
                MAX(p.order_date) AS last_date,
                COUNT(DISTINCT CASE WHEN p.amount >= 0 THEN {self._order_key('p')} END) AS orders,
                COUNT(DISTINCT CASE WHEN p.amount >= 0 THEN p.order_date END) AS purchase_days,
                SUM(p.amount) AS revenue,
                SUM(GREATEST(p.amount, 0)) AS gross_revenue,
                SUM(GREATEST(-p.amount, 0)) AS returns,
                COUNT(*) FILTER (WHERE p.amount < 0) AS return_lines,
                MIN(p.first_date) AS first_purchase_date,
                MAX(p.order_date) FILTER (WHERE p.amount >= 0) AS last_purchase_date,
                COALESCE(SUM(p.amount) FILTER (WHERE p.order_date = p.first_date), 0) AS first_day_amount
                {''.join(', ' + item for item in extra)}
            FROM p
            GROUP BY hashtextextended(p.customer_id, 0), p.customer_id"""
        target = _summary_schema(tuple(self.columns))
        queried = {name: dtype for name, dtype in target.items() if name not in ("aov", "recency_days", "tenure_days")}
        with timed(_log, "warehouse_query", kind="customer_summary") as info:
            frame = self._execute_frame(sql, {"start": start, "end": end}, queried)
            info["rows_returned"] = frame.height
        derived = frame.with_columns(
            pl.when(pl.col("orders") > 0).then(pl.col("revenue") / pl.col("orders")).alias("aov"),
            (pl.lit(end) - pl.col("last_date")).dt.total_days().alias("recency_days"),
            (pl.lit(end) - pl.col("first_date")).dt.total_days().alias("tenure_days"),
        )
        return derived.select([pl.col(name).cast(dtype) for name, dtype in target.items()]).sort(C.CUSTOMER_ID)

    def _last_date(self, start: dt.date | None) -> dt.date | None:
        where = " WHERE order_date >= :start" if start is not None else ""
        _, rows = self._execute(f"WITH tx AS ({self._canonical}) SELECT MAX(order_date) FROM tx{where}", {"start": start})
        return rows[0][0]

    def _kpi_columns(self) -> str:
        """SQL twin of crm_core.kpis._kpi_aggregations over rows ``r``, but new customers (see below)."""
        order = f"r.customer_id || chr(31) || {self._order_key('r')}"
        return (
            "COALESCE(SUM(r.amount), 0) AS revenue, "
            f"COUNT(DISTINCT CASE WHEN r.amount >= 0 THEN {order} END) AS orders, "
            "COUNT(DISTINCT CASE WHEN r.amount >= 0 THEN r.customer_id END) AS active_customers"
        )

    # New customers of a period = active customers whose first purchase ever is on or after the
    # period's start. As the first purchase itself then lies in the period, that is simply the
    # customers whose first purchase date falls in it: counted from fp (one row per customer)
    # instead of joining every order line with fp. Only a trend bucket that starts before the
    # trend's start (a partial first week or month) needs more: see _trend_select.

    def _card_select(self, periods: list[tuple[dt.date, dt.date]]) -> tuple[str, dict[str, Any]]:
        """SELECT of the counted KPIs of each (start, end) period, one row per period index."""
        values, params = [], {}
        for index, (start, end) in enumerate(periods):
            values.append(f"({index}, CAST(:s{index} AS DATE), CAST(:e{index} AS DATE))")
            params.update({f"s{index}": start, f"e{index}": end})
        periods_sql = f"(VALUES {', '.join(values)}) AS periods (idx, p_start, p_end)"
        sql = f"""
            SELECT c.idx, c.revenue, c.orders, c.active_customers, n.new_customers
            FROM (SELECT periods.idx, {self._kpi_columns()}
                  FROM {periods_sql}
                  LEFT JOIN tx AS r ON r.order_date BETWEEN periods.p_start AND periods.p_end
                  GROUP BY periods.idx) AS c
            JOIN (SELECT periods.idx, COUNT(fp.customer_id) AS new_customers
                  FROM {periods_sql}
                  LEFT JOIN fp ON fp.first_date BETWEEN periods.p_start AND periods.p_end
                  GROUP BY periods.idx) AS n ON n.idx = c.idx"""
        return sql, params

    def _trend_select(self, start: dt.date, end: dt.date, grain: str) -> tuple[str, dict[str, Any]]:
        """SELECT of the counted KPIs per day / week / month bucket of start..end.

        A first bucket that starts before ``start`` also counts, as new, the customers
        whose first purchase lies in it before ``start`` and who buy again in it
        within the trend (polars compares with the bucket's start).
        """
        if grain not in GRAIN_TRUNCATE:
            raise WarehouseError(f"Unknown grain {grain!r}: use day, week or month.")
        bucket = "CAST(date_trunc(:grain, CAST({} AS TIMESTAMP)) AS DATE)"
        first_bucket, first_bucket_end = bucket_bounds(start, grain)
        sql = f"""
            SELECT c.period, c.revenue, c.orders, c.active_customers,
                   COALESCE(n.new_customers, 0)
                   + CASE WHEN c.period < :start THEN (
                         SELECT COUNT(*) FROM fp
                         WHERE fp.first_date >= :b0 AND fp.first_date < :start
                           AND fp.customer_id IN (SELECT customer_id FROM tx
                                                  WHERE amount >= 0 AND order_date BETWEEN :start AND :b0_end))
                     ELSE 0 END AS new_customers
            FROM (SELECT {bucket.format('r.order_date')} AS period, {self._kpi_columns()}
                  FROM tx AS r WHERE r.order_date BETWEEN :start AND :end
                  GROUP BY 1) AS c
            LEFT JOIN (SELECT {bucket.format('fp.first_date')} AS period, COUNT(*) AS new_customers
                       FROM fp WHERE fp.first_date BETWEEN :start AND :end
                       GROUP BY 1) AS n ON n.period = c.period"""
        params = {"grain": grain, "start": start, "end": end, "b0": first_bucket, "b0_end": min(first_bucket_end, end)}
        return sql, params

    @staticmethod
    def _cards(frame: pl.DataFrame, count: int) -> list[dict[str, Any]]:
        """period_kpis dicts, in period order, from the rows of :meth:`_card_select`."""
        counts = _typed_counts(frame.sort("idx").drop("idx"))
        derived = _derived(counts.lazy()).collect()
        return [derived.row(index, named=True) for index in range(count)]

    @staticmethod
    def _trend(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(pl.col("period").cast(pl.Date)).sort("period")
        trend = _derived(_typed_counts(frame).lazy()).collect()
        return trend.select([pl.col(name).cast(dtype) for name, dtype in _trend_schema().items()])

    def period_kpis(self, start: dt.date, end: dt.date) -> dict[str, float | int | None]:
        """Same as :func:`crm_core.kpis.period_kpis` on the whole history."""
        select, params = self._card_select([(start, end)])
        with timed(_log, "warehouse_query", kind="period_kpis", periods=1):
            names, rows = self._execute(f"{self._with()} {select}", params)
        return self._cards(pl.DataFrame(rows, schema=names, orient="row"), 1)[0]

    def kpi_comparison(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Same as :func:`crm_core.kpis.kpi_comparison` (both periods in one query)."""
        select, params = self._card_select([(start, end), previous_period(start, end)])
        with timed(_log, "warehouse_query", kind="kpi_comparison"):
            names, rows = self._execute(f"{self._with()} {select}", params)
        current, previous = self._cards(pl.DataFrame(rows, schema=names, orient="row"), 2)
        return comparison_frame(current, previous)

    def kpi_trend(self, start: dt.date, end: dt.date, grain: str = "month") -> pl.DataFrame:
        """Same as :func:`crm_core.kpis.kpi_trend`: KPIs per day / week (Monday) / month bucket."""
        select, params = self._trend_select(start, end, grain)
        with timed(_log, "warehouse_query", kind="kpi_trend", grain=grain) as info:
            names, rows = self._execute(f"{self._with()} {select}", params)
            info["rows_returned"] = len(rows)
        return self._trend(pl.DataFrame(rows, schema=names, orient="row"))

    def overview(self, card_start: dt.date, card_end: dt.date, start: dt.date, end: dt.date,
                 grain: str = "month") -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(kpi_comparison(card_start, card_end), kpi_trend(start, end, grain))`` in one statement.

        What the Overview page shows; the first purchase date of every customer
        (a pass over the whole history) is computed once for both.
        """
        cards, card_params = self._card_select([(card_start, card_end), previous_period(card_start, card_end)])
        trend, trend_params = self._trend_select(start, end, grain)
        kpis = "revenue, orders, active_customers, new_customers"
        sql = (f"{self._with()} "
               f"SELECT 'card' AS part, idx, CAST(NULL AS DATE) AS period, {kpis} FROM ({cards}) AS cards "
               f"UNION ALL SELECT 'trend', CAST(NULL AS INTEGER), period, {kpis} FROM ({trend}) AS trend")
        with timed(_log, "warehouse_query", kind="overview", grain=grain) as info:
            names, rows = self._execute(sql, {**card_params, **trend_params})
            info["rows_returned"] = len(rows)
        frame = pl.DataFrame(rows, schema=names, orient="row")
        current, previous = self._cards(frame.filter(pl.col("part") == "card").drop("part", "period"), 2)
        trend_frame = self._trend(frame.filter(pl.col("part") == "trend").drop("part", "idx"))
        return comparison_frame(current, previous), trend_frame

    def rows(self, customer_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None,
             limit: int = DEFAULT_DRILL_ROWS) -> pl.DataFrame:
        """Raw canonical rows for a drill-down, newest first, at most ``limit`` (≤ MAX_DRILL_ROWS)."""
        limit = max(1, min(int(limit), MAX_DRILL_ROWS))
        conditions = ["TRUE"]
        if customer_id is not None:
            conditions.append("tx.customer_id = :customer")
        if start is not None:
            conditions.append("tx.order_date >= :start")
        if end is not None:
            conditions.append("tx.order_date <= :end")
        sql = (f"WITH tx AS ({self._canonical}) SELECT * FROM tx WHERE {' AND '.join(conditions)} "
               "ORDER BY tx.order_date DESC, tx.customer_id LIMIT :limit")
        with timed(_log, "warehouse_query", kind="drill_rows", limit=limit) as info:
            names, rows = self._execute(sql, {"customer": customer_id, "start": start, "end": end, "limit": limit})
            info["rows_returned"] = len(rows)
        schema = {name: TRANSACTION_SCHEMA[name] for name in names}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def all_rows(self) -> pl.DataFrame:
        """Every canonical row, pulled with COPY: what push-down avoids (for benchmarks and tests)."""
        import sqlalchemy as sa

        schema = {name: TRANSACTION_SCHEMA[name] for name in (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT, *self.optional_columns)}
        # Compiled like every other statement: a ':' or '%' in a query source stays literal.
        statement = sa.text(f"COPY ({self._canonical}) TO STDOUT WITH (FORMAT csv)").compile(dialect=self.engine.dialect)
        buffer = io.BytesIO()
        with timed(_log, "warehouse_query", kind="all_rows") as info:
            connection = self.engine.raw_connection()
            try:
                with connection.driver_connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION READ ONLY")
                    with cursor.copy(statement.string, statement.construct_params({})) as copy:
                        for block in copy:
                            buffer.write(block)
            finally:
                connection.close()
            frame = pl.read_csv(buffer.getvalue(), has_header=False, new_columns=list(schema),
                                schema_overrides=schema)
            info["rows_returned"] = frame.height
        return frame


TOP_COLUMNS = ("customer_id", "revenue", "orders", "aov", "last_date", "recency_days")


def top_customers(summary: pl.DataFrame, n: int = 20) -> tuple[pl.DataFrame, str]:
    """The ``n`` customers with the most revenue, and a sentence on their share of it."""
    top = summary.sort(["revenue", C.CUSTOMER_ID], descending=[True, False]).head(n)
    top = top.select([name for name in TOP_COLUMNS if name in summary.columns])
    total = summary["revenue"].sum() if summary.height else 0.0
    if total <= 0:
        return top, "No net revenue in this period, so there is no top list to read."
    share = top["revenue"].sum() / total
    return top, f"The top {top.height:,} of {summary.height:,} customers bring {share:.0%} of the period's net revenue."


def bucket_bounds(day: dt.date, grain: str) -> tuple[dt.date, dt.date]:
    """First and last day of the day / week (Monday to Sunday) / month bucket holding ``day``."""
    if grain == "day":
        return day, day
    if grain == "week":
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=6)
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def check_query(query: str) -> str:
    """The query without a trailing ';'; raises unless it is one SELECT / WITH statement."""
    text = query.strip().rstrip(";").strip()
    if not _QUERY_START.match(text):
        raise WarehouseError("The query must be a single SELECT (or WITH … SELECT) statement.")
    if ";" in text:
        raise WarehouseError("The query must be a single statement: remove the ';' (or save it as a view and give its name).")
    return text


def resolve_mapping(mapping: ColumnMapping, source_columns: list[str]) -> dict[str, str]:
    """Canonical field -> source column, checking every named column exists.

    Fields left ``None`` are matched by canonical name, case-insensitively.
    Needs customer_id, order_date and amount (or quantity and unit_price).
    """
    by_lower = {name.lower(): name for name in source_columns}
    resolved: dict[str, str] = {}
    wanted = {field.name: getattr(mapping, field.name) for field in dataclasses.fields(mapping)}
    wanted.update({name: None for name in EXTRA_FIELDS})
    for field, column in wanted.items():
        if column:
            if column not in source_columns:
                shown = ", ".join(source_columns[:30])
                raise WarehouseError(f"Column '{column}' (for {field}) is not in the source. Its columns are: {shown}.")
            resolved[field] = column
        elif field in by_lower:
            resolved[field] = by_lower[field]
    missing = [field for field in (C.CUSTOMER_ID, C.ORDER_DATE) if field not in resolved]
    if C.AMOUNT not in resolved and not (C.QUANTITY in resolved and "unit_price" in resolved):
        missing.append(C.AMOUNT)
    if missing:
        raise WarehouseError(f"Say which column holds: {', '.join(missing)} (in the column mapping).")
    return resolved


def _stream(connection, compiled, params: Mapping[str, Any], convert) -> tuple[list[str], list]:
    """Fetch through a server-side cursor of the connection's (read-only) transaction, in chunks.

    The statement is the SQLAlchemy-compiled text (driver placeholders, '%' escaped) with
    its parameters bound by the driver.
    """
    import uuid

    driver = connection.connection.driver_connection
    chunks = []
    with driver.cursor(name=f"crm_{uuid.uuid4().hex[:12]}") as cursor:
        cursor.execute(compiled.string, compiled.construct_params(dict(params)))
        names = [column.name for column in cursor.description]
        while rows := cursor.fetchmany(STREAM_ROWS):
            chunks.append(convert(rows))
    return names, chunks


#: SQLSTATE of a statement cancelled by the statement timeout (query_canceled).
_QUERY_CANCELED = "57014"


def _operational_message(error: Exception, uri: str) -> str:
    original = getattr(error, "orig", None)
    if (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) == _QUERY_CANCELED:
        return (f"The database query took longer than {timeout_seconds()} s and was stopped. Choose a shorter date "
                "range or a table with fewer rows, or ask your database admin to raise CRM_WAREHOUSE_TIMEOUT_S.")
    return (f"Cannot reach the database at {redact_uri(uri)}. Check the host, port, database name, user and password, "
            "and that this server may connect to it.")


def _typed_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Counted KPIs cast to the dtypes crm_core.kpis produces."""
    schema = _trend_schema()
    return frame.with_columns([pl.col(name).cast(schema[name]) for name in
                               ("revenue", "orders", "active_customers", "new_customers")])


def _empty_transactions(columns: tuple[str, ...]) -> pl.LazyFrame:
    return pl.LazyFrame(schema={name: dtype for name, dtype in TRANSACTION_SCHEMA.items()
                                if name in columns or name in (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT)})


@lru_cache(maxsize=64)
def _summary_schema(columns: tuple[str, ...]) -> dict[str, pl.DataType]:
    """The exact output schema of crm_core.customers.summarize for these columns."""
    return dict(summarize(_empty_transactions(columns), as_of=dt.date(2000, 1, 1)).collect_schema())


def _empty_summary(columns: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(schema=_summary_schema(tuple(columns)))


@lru_cache(maxsize=1)
def _trend_schema() -> dict[str, pl.DataType]:
    """The exact output schema of crm_core.kpis.kpi_trend."""
    empty = _empty_transactions(())
    return dict(kpi_trend(empty, dt.date(2000, 1, 1), dt.date(2000, 1, 2)).schema)
