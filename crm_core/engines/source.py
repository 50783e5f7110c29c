"""Where the orders are: a connection URL, a table or query, the column mapping.

:func:`connect` turns a URL into an Ibis backend; :func:`canonical_table`
turns a table (or one SELECT) and a :class:`crm_core.ingest.ColumnMapping`
into an Ibis table expression with the canonical column names and types. Every
figure of :mod:`crm_core.engines.figures` is built on that expression, so it
runs unchanged on any engine Ibis compiles to.

Engines (URL forms):

- DuckDB, embedded: ``duckdb:///path/to/orders.duckdb`` (opened read-only);
- PostgreSQL: ``postgresql://reader:secret@db:5432/shop`` (psycopg 3; every
  statement read-only, with a statement timeout, parallel query as the server
  allows or ``CRM_WAREHOUSE_PARALLEL_WORKERS`` per session);
- Spark: ``spark://master:7077`` (a standalone cluster), ``sc://host:15002``
  (Spark Connect) or ``local[N]`` (in this process, for tests and trials).

Safety: table and column names are looked up in the engine before any query
and quoted by the SQL compiler; values (dates, customer ids) are literals
escaped by the compiler, never pasted text. A query source must be one SELECT
(or WITH) statement; on PostgreSQL the session is read-only, so even a
data-modifying WITH is refused. Use an account that can only read.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crm_core.ingest import ColumnMapping
from crm_core.schema import C, TRANSACTION_SCHEMA

ENGINES = ("duckdb", "postgresql", "spark")
#: PostgreSQL planner cost per row sent from a parallel worker, for our sessions (its default is 0.1).
PARALLEL_TUPLE_COST = 0.01
DEFAULT_TIMEOUT_S = 120
#: Canonical fields a mapping may name besides ColumnMapping's (detected by name only).
EXTRA_FIELDS = (C.DAYS_LATE, C.FULLY_REFUNDED)
#: Canonical columns the figures read (others are not selected, so never travel).
USED_COLUMNS = (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT, C.ORDER_ID, C.QUANTITY, C.CHANNEL, C.REGION, C.CATEGORY,
                C.COST, C.DAYS_LATE, C.FULLY_REFUNDED)
_IBIS_TYPES = {"String": "string", "Date": "date", "Float64": "float64", "Boolean": "boolean"}
_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_SPARK_LOCAL = re.compile(r"^local(\[(\d+|\*)\])?$")
#: SQLSTATE of a statement cancelled by the statement timeout (query_canceled).
_QUERY_CANCELED = "57014"


class WarehouseError(Exception):
    """The engine cannot answer; the message says what to do."""


@dataclass(frozen=True)
class WarehouseSource:
    """Where the orders are.

    Parameters
    ----------
    uri
        Engine URL (see the module doc): ``duckdb:///file.duckdb``,
        ``postgresql://user:password@host:5432/db``, ``spark://master:7077``,
        ``sc://host:15002`` or ``local[2]``.
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
        parts = urlsplit(uri.strip())
        if parts.password is None:
            return uri.strip()
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unreadable URI>"


def timeout_seconds() -> int:
    """Statement timeout on PostgreSQL: ``$CRM_WAREHOUSE_TIMEOUT_S`` (default 120 s)."""
    try:
        return max(1, int(os.environ.get("CRM_WAREHOUSE_TIMEOUT_S", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def engine_of(uri: str) -> str:
    """'duckdb', 'postgresql' or 'spark' for a URL; raises :class:`WarehouseError` otherwise."""
    text = uri.strip()
    if _SPARK_LOCAL.match(text):
        return "spark"
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme:
        raise WarehouseError("This connection URI cannot be read. Use the form postgresql://user:password@host:5432/"
                             "database, duckdb:///path/file.duckdb or spark://host:7077.")
    kind = {"postgresql": "postgresql", "postgres": "postgresql", "postgresql+psycopg": "postgresql",
            "duckdb": "duckdb", "spark": "spark", "sc": "spark"}.get(scheme)
    if kind is None:
        raise WarehouseError(f"Engine '{scheme}' is not supported. Use PostgreSQL (postgresql://), DuckDB (duckdb:///) "
                             "or Spark (spark:// or sc://).")
    return kind


def connect(uri: str) -> Any:
    """An Ibis backend for ``uri`` (see the module doc); raises :class:`WarehouseError` with what to do."""
    kind = engine_of(uri)
    try:
        if kind == "postgresql":
            return _connect_postgres(uri.strip())
        if kind == "duckdb":
            return _connect_duckdb(uri.strip())
        return _connect_spark(uri.strip())
    except WarehouseError:
        raise
    except ImportError as error:
        raise WarehouseError(f"The {kind} client is not installed on this server ({error.name}); ask whoever runs it "
                             "to install requirements.txt.") from None
    except Exception as error:  # drivers raise their own types; the message must not carry the password
        raise WarehouseError(operational_message(error, uri)) from None


def _connect_postgres(uri: str) -> Any:
    import ibis
    import psycopg

    conninfo = re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", uri)
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_seconds() * 1000}"
    # A tenth of the default cost per row passed from a parallel worker: the per-customer figures pass
    # every line through a Gather Merge, so their sort runs in the workers rather than in one process.
    options += f" -c parallel_tuple_cost={PARALLEL_TUPLE_COST}"
    workers = os.environ.get("CRM_WAREHOUSE_PARALLEL_WORKERS", "").strip()
    if workers.isdigit():
        options += f" -c max_parallel_workers_per_gather={int(workers)}"
    connection = psycopg.connect(conninfo, autocommit=True, options=options, connect_timeout=10)
    return ibis.postgres.from_connection(connection)


def _connect_duckdb(uri: str) -> Any:
    import ibis

    path = uri.split("://", 1)[1]
    path = path[1:] if path.startswith("/") and not path.startswith("//") else path
    if not path or path == ":memory:":
        raise WarehouseError("Give the DuckDB database file: duckdb:///path/to/orders.duckdb.")
    if not os.path.exists(path if path.startswith("/") else "/" + path):
        raise WarehouseError(f"There is no DuckDB file at {path}. Check the path (duckdb:///absolute/path.duckdb).")
    backend = ibis.duckdb.connect(path if path.startswith("/") else "/" + path, read_only=True)
    backend.raw_sql("SET enable_progress_bar = false")  # it would draw on the server's terminal
    return backend


def _connect_spark(uri: str) -> Any:
    import ibis
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("crm-analytics")
    if uri.startswith("sc://"):
        builder = builder.remote(uri)
    else:
        builder = builder.master(uri)
        for key, value in spark_settings(uri).items():
            builder = builder.config(key, value)
    return ibis.pyspark.connect(builder.getOrCreate())


def spark_settings(master: str) -> dict[str, str]:
    """Session settings for a Spark master: UTC dates, Arrow transfers, sort-based aggregation of sorted lines,
    and for ``local[N]`` few shuffle partitions.

    Spark's default of 200 shuffle partitions means 200 tiny tasks per
    group-by on one machine; a few per core is faster. A cluster keeps its own
    setting (its spark-defaults.conf).
    """
    settings = {"spark.sql.session.timeZone": "UTC", "spark.sql.execution.arrow.pyspark.enabled": "true",
                "spark.ui.showConsoleProgress": "false",
                # A group-by over lines already sorted by its keys (after the figures' sorts per customer) streams.
                "spark.sql.execution.replaceHashWithSortAgg": "true"}
    local = _SPARK_LOCAL.match(master)
    if local:
        cores = local.group(2)  # local = one thread, local[*] = every core
        count = 1 if cores is None else (os.cpu_count() or 2) if cores == "*" else int(cores)
        settings["spark.sql.shuffle.partitions"] = str(max(2, 2 * count))
    return settings


def check_query(query: str) -> str:
    """The query without a trailing ';'; raises unless it is one SELECT / WITH statement."""
    text = query.strip().rstrip(";").strip()
    if not _QUERY_START.match(text):
        raise WarehouseError("The query must be a single SELECT (or WITH … SELECT) statement.")
    if ";" in text:
        raise WarehouseError("The query must be a single statement: remove the ';' (or save it as a view and give its name).")
    return text


def source_table(backend: Any, source: WarehouseSource) -> Any:
    """The Ibis table of the source's rows as stored (table looked up, or the query)."""
    if bool(source.table) == bool(source.query):
        raise WarehouseError("Give either a table name or a query (not both).")
    if source.query:
        query = check_query(source.query)
        try:
            schema = _postgres_query_schema(backend, query) if backend.name == "postgres" else None
            return backend.sql(query, schema=schema)
        except WarehouseError:
            raise
        except Exception as error:
            raise WarehouseError(refused_message(error)) from None
    schema, _, name = (source.table or "").strip().rpartition(".")
    try:
        return backend.table(name, database=schema or None)
    except Exception as error:
        if _is_connection_error(error):
            raise WarehouseError(operational_message(error, source.uri)) from None
        raise WarehouseError(f"There is no table '{source.table}' in this database (or no permission to read it). "
                             "Check the name; use schema.table for a table outside the default schema.") from None


def _postgres_query_schema(backend: Any, query: str) -> Any:
    """Column types of a query, from running it with LIMIT 0.

    Ibis would create a temporary view to learn them, which a read-only session refuses.
    """
    import ibis
    from ibis.backends.sql.datatypes import PostgresType
    from psycopg.postgres import types

    with backend.con.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({query}) AS src LIMIT 0")
        described = [(column.name, types.get(column.type_code)) for column in cursor.description or []]
    return ibis.schema({name: PostgresType.from_string(info.name) if info else "string" for name, info in described})


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


def canonical_table(raw: Any, columns: dict[str, str]) -> Any:
    """The source as canonical columns (typed; rows without customer, date or amount left out).

    ``amount`` is the amount column, else quantity × unit price.
    """
    def typed(field: str) -> Any:
        return raw[columns[field]].cast(_IBIS_TYPES[type(TRANSACTION_SCHEMA[field]).__name__])

    if C.AMOUNT in columns:
        amount = typed(C.AMOUNT)
    else:
        amount = raw[columns[C.QUANTITY]].cast("float64") * raw[columns["unit_price"]].cast("float64")
    selected = {C.CUSTOMER_ID: typed(C.CUSTOMER_ID), C.ORDER_DATE: typed(C.ORDER_DATE), C.AMOUNT: amount}
    selected.update({field: typed(field) for field in USED_COLUMNS if field in columns and field not in selected})
    canonical = raw.select(**selected)
    return canonical.filter(canonical[C.CUSTOMER_ID].notnull(), canonical[C.ORDER_DATE].notnull(),
                            canonical[C.AMOUNT].notnull())


def _is_connection_error(error: Exception) -> bool:
    try:
        import psycopg

        return isinstance(error, psycopg.OperationalError) and not _sqlstate(error)
    except ImportError:
        return False


def _sqlstate(error: Exception) -> str | None:
    original = getattr(error, "orig", error)
    return getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)


def refused_message(error: Exception) -> str:
    """What to say when the engine refuses a statement (timeout included)."""
    if _sqlstate(error) == _QUERY_CANCELED:
        return operational_message(error, "")
    return (f"The database refused the query ({type(error).__name__}). Check the table or query, the column "
            "mapping and that the date column holds dates; ask your database admin if it persists.")


def operational_message(error: Exception, uri: str) -> str:
    """A timeout, or an engine that cannot be reached (the URI shown without its password)."""
    if _sqlstate(error) == _QUERY_CANCELED:
        return (f"The database query took longer than {timeout_seconds()} s and was stopped. Choose a shorter date "
                "range or a table with fewer rows, or ask your database admin to raise CRM_WAREHOUSE_TIMEOUT_S.")
    return (f"Cannot reach the database at {redact_uri(uri)}. Check the host, port, database name, user and password, "
            "and that this server may connect to it.")
