"""Orders in an engine (DuckDB, PostgreSQL, Spark): the app's figures computed there.

:class:`Warehouse` runs the Ibis expressions of :mod:`crm_core.engines.figures`
on one :class:`~crm_core.engines.source.WarehouseSource` and returns Polars
frames with exactly the file path's columns and types, so pages and tests
compare them directly. Only results travel: a few rows for the KPIs and the
per-tier or per-score-cell sums, thousands for the CLV statistics of both
models (:meth:`Warehouse.clv_data`), one row per customer for the summary,
scores, tiers and segments (ranked here: :meth:`Warehouse.segments_and_tiers`).
:meth:`Warehouse.all_rows` pulls every line instead (what push-down avoids; for
benchmarks and tests).
"""
from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from typing import Any

import polars as pl

from crm_core.engines import figures
from crm_core.engines.source import (
    WarehouseError,
    WarehouseSource,
    canonical_table,
    connect,
    engine_of,
    refused_message,
    resolve_mapping,
    source_table,
)
from crm_core.format import PLAIN, NumberStyle
from crm_core.kpis import _derived, comparison_frame, previous_period
from crm_core.logging_setup import get_logger, timed
from crm_core.schema import C, TRANSACTION_SCHEMA

DEFAULT_DRILL_ROWS = 500
MAX_DRILL_ROWS = 10_000
SCORES = ("r_score", "f_score", "m_score", "fm_score")
_KPI_COUNTS = ("revenue", "orders", "active_customers", "new_customers")

_log = get_logger("warehouse")


class Warehouse:
    """The app's figures on one source, computed by its engine.

    Connecting looks up the table (or the query's columns) and resolves the
    column mapping; errors say what to fix. ``backend`` passes an Ibis backend
    that is already connected (tests, a shared Spark session).
    """

    def __init__(self, source: WarehouseSource, backend: Any | None = None) -> None:
        if bool(source.table) == bool(source.query):
            raise WarehouseError("Give either a table name or a query (not both).")
        self.source = source
        self.engine = engine_of(source.uri)
        self.backend = backend if backend is not None else connect(source.uri)
        raw = source_table(self.backend, source)
        self.source_columns = list(raw.columns)
        self.columns = resolve_mapping(source.mapping, self.source_columns)
        self.tx = canonical_table(raw, self.columns)

    @property
    def _distinct_in_groups(self) -> bool:
        """Count distinct orders within each (bucket, customer) group: PostgreSQL (see ``figures.bucket_counts``)."""
        return self.engine == "postgresql"

    @property
    def _sorted_lines(self) -> bool:
        """Distinct counts from sorted lines, not ``COUNT(DISTINCT ...)``: Spark (see ``figures._sorted_windows``)."""
        return self.engine == "spark"

    @property
    def optional_columns(self) -> list[str]:
        """Optional canonical columns this source provides, in schema order."""
        return [name for name in self.tx.columns if name not in (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT)]

    def _run(self, expression: Any, kind: str, **fields: Any) -> pl.DataFrame:
        """Execute one expression in the engine; the result as a Polars frame."""
        with timed(_log, "warehouse_query", kind=kind, engine=self.engine, **fields) as info:
            try:
                frame = self._fetch(expression)
            except Exception as error:  # each engine raises its own types
                raise WarehouseError(refused_message(error)) from None
            info["rows_returned"] = frame.height
        return frame

    def _fetch(self, expression: Any) -> pl.DataFrame:
        """The result as Arrow data, by the engine's fastest way out (never through pandas).

        Ibis compiles the expression; it runs here rather than through Ibis's own
        execution because that reads PostgreSQL through a server-side cursor (a
        cursor never gets a parallel plan) and Spark through pandas.
        """
        if self.engine == "duckdb":
            return pl.from_arrow(expression.to_pyarrow())  # type: ignore[return-value]
        table = expression.as_table()
        schema = dict(table.schema().to_polars())
        if self.engine == "postgresql":
            return _copy_out(self.backend.con, _inlined_sql(self.backend, table), schema)
        sql = self.backend.compile(table)
        frame = pl.from_arrow(self.backend._session.sql(sql).toArrow())
        return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())  # type: ignore[union-attr]

    # --- totals and drill-down ---------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Rows, customers and first/last order date."""
        row = self.totals()
        return {"rows": row["rows"], "customers": row["customers"], "first_date": row["first_date"],
                "last_date": row["last_date"]}

    def totals(self) -> dict[str, Any]:
        """rows, customers, revenue, first/last date, orders, purchases, positive_orders (``summary``'s figures)."""
        row = self._run(figures.totals(self.tx), "totals").row(0, named=True)
        counts = ("rows", "customers", "orders", "purchases", "positive_orders")
        return {**row, **{name: int(row[name] or 0) for name in counts}, "revenue": float(row["revenue"] or 0.0)}

    def rows(self, customer_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None,
             limit: int = DEFAULT_DRILL_ROWS) -> pl.DataFrame:
        """Canonical lines for a drill-down, newest first, at most ``limit`` (≤ MAX_DRILL_ROWS)."""
        import ibis

        limit = max(1, min(int(limit), MAX_DRILL_ROWS))
        lines = figures.in_period(self.tx, start, end)
        if customer_id is not None:
            lines = lines.filter(lines[C.CUSTOMER_ID] == customer_id)
        lines = lines.order_by([ibis.desc(lines[C.ORDER_DATE]), lines[C.CUSTOMER_ID]]).limit(limit)
        return _typed(self._run(lines, "drill_rows", limit=limit), TRANSACTION_SCHEMA)

    def all_rows(self) -> pl.DataFrame:
        """Every canonical line, pulled to this process: what push-down avoids (benchmarks, tests).

        PostgreSQL sends them with ``COPY … TO STDOUT`` (its fastest way out);
        DuckDB and Spark as Arrow batches.
        """
        schema = {name: TRANSACTION_SCHEMA[name] for name in self.tx.columns}
        return _typed(self._run(self.tx, "all_rows"), schema)

    # --- customers -----------------------------------------------------------------------

    def _last_date(self) -> dt.date | None:
        """The last order date (the default as-of date), asked once per Warehouse."""
        if not hasattr(self, "_last"):
            last = self.tx.aggregate(last=self.tx[C.ORDER_DATE].max())
            self._last: dt.date | None = self._run(last, "last_date").item()
        return self._last

    def _summary_expression(self, start: dt.date | None, end: dt.date | None) -> tuple[Any, dt.date | None]:
        end = end if end is not None else self._last_date()
        return (figures.customer_summary(self.tx, end, start, sorted_lines=self._sorted_lines) if end is not None else None), end

    def customer_summary(self, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        """``summarize(filter_period(tx, start, end), as_of=end)`` (end: the last order date)."""
        expression, _ = self._summary_expression(start, end)
        schema = _summary_schema(tuple(self.tx.columns))
        if expression is None:
            return pl.DataFrame(schema=schema)
        frame = self._run(expression, "customer_summary")
        return _typed(frame, schema).sort(C.CUSTOMER_ID)

    def _values_expression(self, start: dt.date | None, end: dt.date | None) -> Any:
        """The lean per-customer values (recency, orders, revenue, margin) of ``start..end``; None without data."""
        end = end if end is not None else self._last_date()
        return figures.customer_values(self.tx, end, start) if end is not None else None

    def rfm_scores(self, start: dt.date | None = None, end: dt.date | None = None, settings: Any = None) -> pl.DataFrame:
        """customer_id, recency_days, orders, revenue, the scores and segment: ``crm_core.rfm.rfm``.

        The scores are ranked in the engine; the segment rules (a few comparisons
        per customer) are applied here to the scores that come back.
        """
        from crm_core.rfm import RFM_INPUTS, RfmSettings, segment_expr

        settings = settings or RfmSettings()
        values = self._values_expression(start, end)
        if values is None:
            return pl.DataFrame()
        scored = figures.rfm_scores(values.select(*RFM_INPUTS), settings.bins, settings.ties)
        frame = self._run(scored, "rfm_scores")
        schema = _summary_schema(tuple(self.tx.columns))
        inputs = frame.select(pl.col(name).cast(schema[name]) for name in RFM_INPUTS)
        scores = frame.select(pl.col(name).cast(pl.Int8) for name in SCORES)
        return (pl.concat([inputs, scores], how="horizontal").sort(C.CUSTOMER_ID)
                .with_columns(segment_expr(settings.active_rules, settings.f_column).alias("segment")))

    def score_cells(self, start: dt.date | None = None, end: dt.date | None = None, settings: Any = None) -> pl.DataFrame:
        """Customers and sums per combination of scores, with its segment: at most bins³ rows travel.

        Columns: r_score, f_score, m_score, fm_score, customers, revenue (exact
        sum), recency_days and orders (sums over the cell's customers), segment.
        """
        from crm_core.rfm import RfmSettings, segment_expr

        settings = settings or RfmSettings()
        values = self._values_expression(start, end)
        schema = {**{name: pl.Int8 for name in SCORES}, "customers": pl.Int64, "revenue": pl.Float64,
                  "recency_days": pl.Int64, "orders": pl.Int64}
        if values is None:
            return pl.DataFrame(schema={**schema, "segment": pl.String})
        scored = figures.rfm_scores(values.select(C.CUSTOMER_ID, "recency_days", "orders", "revenue"), settings.bins,
                                    settings.ties)
        frame = self._run(figures.score_cells(scored), "score_cells")
        frame = frame.with_columns(pl.col("revenue").cast(pl.Float64) / figures.MICROS)
        return (frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
                .sort(*SCORES).with_columns(segment_expr(settings.active_rules, settings.f_column).alias("segment")))

    def segment_profile(self, start: dt.date | None = None, end: dt.date | None = None, settings: Any = None) -> pl.DataFrame:
        """``crm_core.rfm.segment_profile`` of the period's customers, from :meth:`score_cells` (a few rows travel)."""
        from crm_core.rfm import RfmSettings

        settings = settings or RfmSettings()
        return _profile(self.score_cells(start, end, settings), settings)

    def segments_and_tiers(self, start: dt.date | None = None, end: dt.date | None = None, rfm: Any = None,
                           tiers: Any = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(segment_profile, tier_summary)``: the engine sums the lines per customer, the ranks are taken here.

        One row per customer travels (customer id, recency, orders, revenue,
        margin with costs) and the file path's own functions score, tier and
        profile it, as :meth:`customer_table` does: ranking in the engine needs
        windows over every customer, which PostgreSQL and Spark run in a single
        process (five sorts of every customer, slower than sending the rows),
        while Polars ranks a million rows in a fraction of a second.
        """
        from crm_core.portfolio import TierSettings, assign_tiers, tier_summary
        from crm_core.rfm import RfmSettings, score_customers, segment_profile

        rfm, tiers = rfm or RfmSettings(), tiers or TierSettings()
        values = self.customer_values(start, end)
        return segment_profile(score_customers(values, rfm).collect(), rfm), tier_summary(assign_tiers(values, tiers), tiers)

    def customer_values(self, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        """customer_id, recency_days, orders, revenue (and margin with costs) per customer of ``start..end``.

        The columns of :meth:`customer_summary` that scores and tiers need, typed as
        there, from the engine's lean per-customer query; sorted by customer id.
        """
        schema = _summary_schema(tuple(self.tx.columns))
        columns = [C.CUSTOMER_ID, "recency_days", "orders", "revenue", *(["margin"] if C.COST in self.tx.columns else [])]
        expression = self._values_expression(start, end)
        if expression is None:
            return pl.DataFrame(schema={name: schema[name] for name in columns})
        frame = self._run(expression, "customer_values")
        return frame.select(pl.col(name).cast(schema[name]) for name in columns).sort(C.CUSTOMER_ID)

    def _tier_expression(self, start: dt.date | None, end: dt.date | None, settings: Any, summary: Any = None) -> Any:
        """The tiers of ``summary`` (default: the lean :func:`~crm_core.engines.figures.customer_values`)."""
        if summary is None:
            end = end if end is not None else self._last_date()
            if end is None:
                return None
            summary = figures.customer_values(self.tx, end, start)
        if settings.method == "rank":
            return figures.tiers(summary, settings.value, shares=settings.cumulative_shares)
        return figures.tiers(summary, settings.value, amounts=settings.amounts)

    def customer_table(self, start: dt.date | None = None, end: dt.date | None = None, rfm: Any = None,
                       tiers: Any = None) -> pl.DataFrame:
        """The customer summary with RFM scores, segment, value_rank, tier_index and tier; sorted by customer id.

        The engine computes the summary (the work over the order lines); the
        scores and tiers are ranked here, on the one row per customer that has
        to travel anyway, by the file path's own functions: ranking in the
        engine needs windows over every customer, which PostgreSQL and Spark
        run in a single process, while Polars ranks a million rows in a fraction of a second.
        """
        from crm_core.portfolio import TierSettings, assign_tiers
        from crm_core.rfm import RfmSettings, score_customers

        rfm, tiers = rfm or RfmSettings(), tiers or TierSettings()
        summary = self.customer_summary(start, end)
        scored = score_customers(summary, rfm).collect()
        ranked = assign_tiers(summary, tiers).select(C.CUSTOMER_ID, "value_rank", "tier_index", "tier")
        table = scored.join(ranked, on=C.CUSTOMER_ID, how="left")
        return table.select(*summary.columns, *SCORES, "value_rank", "tier_index", "segment", "tier").sort(C.CUSTOMER_ID)

    def tiers(self, start: dt.date | None = None, end: dt.date | None = None, settings: Any = None) -> pl.DataFrame:
        """customer_id, value, value_rank, tier_index and tier of each customer (``assign_tiers``), best first."""
        from crm_core.portfolio import TierSettings

        settings = settings or TierSettings()
        tiered = self._tier_expression(start, end, settings)
        if tiered is None:
            return pl.DataFrame()
        frame = self._run(tiered.select(C.CUSTOMER_ID, settings.value, "value_rank", "tier_index"), "tiers")
        return frame.with_columns(pl.col("value_rank").cast(pl.UInt32), pl.col("tier_index").cast(pl.UInt32)).sort(
            "value_rank").with_columns(pl.col("tier_index").replace_strict(
                list(range(len(settings.names))), list(settings.names), return_dtype=pl.String).alias("tier"))

    def tier_summary(self, start: dt.date | None = None, end: dt.date | None = None, settings: Any = None) -> pl.DataFrame:
        """``crm_core.portfolio.tier_summary`` with the per-tier sums computed in the engine (a few rows travel)."""
        from crm_core.portfolio import TierSettings

        settings = settings or TierSettings()
        tiered = self._tier_expression(start, end, settings)
        counts = (self._run(figures.tier_counts(tiered, settings.value), "tier_counts") if tiered is not None else
                  pl.DataFrame(schema={"tier_index": pl.Int64, "customers": pl.Int64, "revenue": pl.Float64,
                                       "value_min": pl.Float64, "value_max": pl.Float64}))
        return _tier_table(counts, settings)

    # --- KPIs ------------------------------------------------------------------------------

    def _cards(self, periods: list[tuple[dt.date, dt.date]], frame: pl.DataFrame | None = None) -> list[dict[str, Any]]:
        if frame is None:
            frame = self._run(figures.period_cards(self.tx, periods, distinct_in_groups=self._distinct_in_groups), "period_kpis", periods=len(periods))
        by_start = {row["period"]: row for row in frame.with_columns(pl.col("period").cast(pl.Date)).iter_rows(named=True)}
        empty = {"revenue": 0.0, "orders": 0, "active_customers": 0, "new_customers": 0}
        rows = [{name: by_start.get(start, empty)[name] for name in _KPI_COUNTS} for start, _ in periods]
        counts = _typed_counts(pl.DataFrame(rows, schema={"revenue": pl.Float64, "orders": pl.Int64,
                                                          "active_customers": pl.Int64, "new_customers": pl.Int64}))
        derived = _derived(counts.lazy()).collect()
        return [derived.row(index, named=True) for index in range(len(periods))]

    def period_kpis(self, start: dt.date, end: dt.date) -> dict[str, float | int | None]:
        """Same as :func:`crm_core.kpis.period_kpis` on the whole history."""
        return self._cards([(start, end)])[0]

    def kpi_comparison(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Same as :func:`crm_core.kpis.kpi_comparison` (both periods in one query)."""
        current, previous = self._cards([(start, end), previous_period(start, end)])
        return comparison_frame(current, previous)

    def kpi_trend(self, start: dt.date, end: dt.date, grain: str = "month") -> pl.DataFrame:
        """Same as :func:`crm_core.kpis.kpi_trend`: KPIs per day / week (Monday) / month bucket."""
        _check_grain(grain)
        return _trend_frame(self._run(figures.trend(self.tx, start, end, grain, distinct_in_groups=self._distinct_in_groups), "kpi_trend", grain=grain))

    def overview(self, card_start: dt.date, card_end: dt.date, start: dt.date, end: dt.date,
                 grain: str = "month") -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(kpi_comparison(card_start, card_end), kpi_trend(start, end, grain))``: what the Overview shows.

        One engine query (the first purchase dates, which need the whole history, computed once).
        """
        _check_grain(grain)
        periods = [(card_start, card_end), previous_period(card_start, card_end)]
        frame = self._run(figures.overview(self.tx, periods, start, end, grain, distinct_in_groups=self._distinct_in_groups,
                                           sorted_lines=self._sorted_lines), "overview", grain=grain)
        current, previous = self._cards(periods, frame.filter(pl.col("kind") == "cards"))
        return comparison_frame(current, previous), _trend_frame(frame.filter(pl.col("kind") == "trend"))

    # --- CLV -------------------------------------------------------------------------------

    def clv_counts(self, calibration_end: dt.date | None = None) -> pl.DataFrame:
        """Compressed CLV statistics: frequency (x), recency (t_x) and T in weeks, and customers per row.

        The per-customer (x, t_x, T) of :func:`crm_core.clv.data.rfm_summary`,
        counted in the engine, sorted by (x, t_x, T): fit a model on them with
        ``weights=customers`` (thousands of rows, whatever the number of orders).
        """
        calibration_end = calibration_end if calibration_end is not None else self._last_date()
        if calibration_end is None:
            return _purchase_counts(pl.DataFrame(schema=_CLV_ROWS))
        frame = self._run(figures.clv_counts(self.tx, calibration_end, sorted_lines=self._sorted_lines), "clv_counts")
        return _purchase_counts(frame.rename({"t_x_days": "a", "T_days": "b"}))

    def spend_counts(self, calibration_end: dt.date | None = None) -> pl.DataFrame:
        """Compressed Gamma-Gamma statistics: frequency (x > 0), mean repeat spend, and customers per row.

        The (frequency, monetary_value) of :func:`crm_core.clv.data.rfm_summary`
        for customers with a repeat purchase, counted in the engine per distinct
        pair and sorted: fit with :func:`fit_spend_model`. Mean spend is exact
        net money over x (the engine sums whole millionths).
        """
        calibration_end = calibration_end if calibration_end is not None else self._last_date()
        if calibration_end is None:
            return _spend_counts(pl.DataFrame(schema=_CLV_ROWS))
        frame = self._run(figures.spend_counts(self.tx, calibration_end, sorted_lines=self._sorted_lines), "spend_counts")
        return _spend_counts(frame.rename({"repeat_micros": "a"}))

    def clv_data(self, calibration_end: dt.date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(clv_counts(calibration_end), spend_counts(calibration_end))`` from one engine query."""
        calibration_end = calibration_end if calibration_end is not None else self._last_date()
        if calibration_end is None:
            empty = pl.DataFrame(schema=_CLV_ROWS)
            return _purchase_counts(empty), _spend_counts(empty)
        frame = self._run(figures.clv_data(self.tx, calibration_end, sorted_lines=self._sorted_lines), "clv_data")
        return (_purchase_counts(frame.filter(pl.col("kind") == "purchases")),
                _spend_counts(frame.filter(pl.col("kind") == "spend")))


_CLV_ROWS = {"x": pl.Int64, "a": pl.Int64, "b": pl.Int64, "customers": pl.Int64}


def _purchase_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """(x, a = t_x days, b = T days, customers) rows as frequency, recency and T in weeks."""
    from crm_core.clv.settings import DAYS_PER_WEEK

    return frame.select(
        pl.col("x").cast(pl.Float64).alias("frequency"),
        (pl.col("a").cast(pl.Float64) / DAYS_PER_WEEK).alias("recency"),
        (pl.col("b").cast(pl.Float64) / DAYS_PER_WEEK).alias("T"),
        pl.col("customers").cast(pl.Int64),
    ).sort("frequency", "recency", "T")


def _spend_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """(x, a = repeat spend in millionths, customers) rows as frequency and mean spend per repeat purchase."""
    x = pl.col("x").cast(pl.Float64)
    return frame.select(
        x.alias("frequency"), (pl.col("a").cast(pl.Float64) / figures.MICROS / x).alias("monetary_value"),
        pl.col("customers").cast(pl.Int64),
    ).sort("frequency", "monetary_value")


def fit_spend_model(counts: pl.DataFrame, model: Any) -> Any:
    """Fit a spend model (Gamma-Gamma) on :meth:`Warehouse.spend_counts`; returns the model.

    The customers with a positive mean spend are fitted, as the CLV pipeline
    does; each row stands for ``customers`` equal customers, repeated here
    (the likelihood is a sum over customers).
    """
    usable = counts.filter(pl.col("monetary_value") > 0)
    times = usable["customers"].to_numpy()
    return model.fit(usable["frequency"].to_numpy().repeat(times), usable["monetary_value"].to_numpy().repeat(times))


def fit_purchase_model(counts: pl.DataFrame, model: Any) -> Any:
    """Fit a purchase model (BG/NBD, Pareto/NBD, ...) on :meth:`Warehouse.clv_counts`; returns the model."""
    return model.fit(counts["frequency"], counts["recency"], counts["T"], weights=counts["customers"].cast(pl.Float64))


TOP_COLUMNS = ("customer_id", "revenue", "orders", "aov", "last_date", "recency_days")


def top_customers(summary: pl.DataFrame, n: int = 20, *, style: NumberStyle = PLAIN) -> tuple[pl.DataFrame, str]:
    """The ``n`` customers with the most revenue, and a sentence on their share of it (figures in ``style``)."""
    top = summary.sort(["revenue", C.CUSTOMER_ID], descending=[True, False]).head(n)
    top = top.select([name for name in TOP_COLUMNS if name in summary.columns])
    total = float(summary["revenue"].sum()) if summary.height else 0.0
    if total <= 0:
        return top, "No net revenue in this period, so there is no top list to read."
    share = float(top["revenue"].sum()) / total
    return top, (f"The top {style.count(top.height)} of {style.count(summary.height)} customers bring "
                 f"{style.share(share, 0)} of the period's net revenue.")


def _inlined_sql(backend: Any, table: Any) -> str:
    """PostgreSQL SQL for ``table``, its row-level common table expressions ``NOT MATERIALIZED``.

    Ibis names a sub-query used twice in a ``WITH``, and PostgreSQL computes
    such a CTE once, in the leader alone, storing its rows: for the filtered
    order lines (millions of rows) that costs more than reading the table
    again, and the plan loses its parallel scans. Those are inlined. A CTE
    that aggregates (the first purchase dates, a per-customer table) stays
    materialized: inlined, it would be aggregated again for each use, and once
    per parallel worker on the inner side of a join (measured slower).
    """
    import sqlglot.expressions as sge

    query = backend.compiler.to_sqlglot(table)
    for cte in query.find_all(sge.CTE):
        if cte.this.find(sge.Group, sge.AggFunc) is None:
            cte.set("materialized", False)
    return query.sql(dialect=backend.dialect, copy=False)


def _copy_out(connection: Any, sql: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Run ``sql`` on PostgreSQL with ``COPY … TO STDOUT`` and read the CSV with ``schema``.

    COPY runs the query to completion in one statement, so the planner may use
    parallel workers, and its text is parsed by Polars in bulk (no Python
    object per value). Nulls are written as ``\\N`` so empty text stays empty
    text; booleans come as t / f.
    """
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, NULL '\\N')") as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.getbuffer().nbytes:
        return pl.DataFrame(schema=schema)
    # Read as text: booleans (t / f) and dates (a truncated date may come as a timestamp) converted below.
    as_read = {name: pl.String if dtype in (pl.Boolean, pl.Date) else dtype for name, dtype in schema.items()}
    frame = pl.read_csv(buffer.getvalue(), has_header=False, new_columns=list(schema), schema_overrides=as_read,
                        null_values="\\N", empty_string_is_null=False, infer_schema=False)
    return frame.with_columns(
        *(pl.col(name) == "t" for name, dtype in schema.items() if dtype == pl.Boolean),
        *(pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d") for name, dtype in schema.items() if dtype == pl.Date))


def _tier_table(counts: pl.DataFrame, settings: Any) -> pl.DataFrame:
    """Per-tier counts and sums from the engine as :func:`crm_core.portfolio.tier_summary`'s table."""
    names = pl.DataFrame({"tier_index": list(range(len(settings.names))), "tier": list(settings.names)})
    table = names.join(counts.with_columns(pl.col("tier_index").cast(pl.Int64)), on="tier_index", how="left")
    table = table.with_columns(pl.col("customers").fill_null(0).cast(pl.UInt32), pl.col("revenue").fill_null(0.0))
    customers, revenue = int(table["customers"].sum()), float(table["revenue"].sum())
    margin = ["margin"] if "margin" in table.columns else []
    return table.sort("tier_index").select(
        "tier", "customers",
        (pl.col("customers") / customers if customers else pl.lit(None, pl.Float64)).alias("customer_share"),
        "revenue", (pl.col("revenue") / revenue if revenue > 0 else pl.lit(None, pl.Float64)).alias("revenue_share"),
        *margin, "value_min", "value_max")


def _profile(cells: pl.DataFrame, settings: Any) -> pl.DataFrame:
    """:func:`crm_core.rfm.segment_profile` from score cells with their segment (sums, not customers)."""
    from crm_core.rfm import SEGMENT_ADVICE

    customers = pl.col("customers").sum()
    weighted = [(pl.col(score).cast(pl.Int64) * pl.col("customers")).sum() / customers
                for score in ("r_score", "f_score", "m_score")]
    stats = cells.group_by("segment").agg(
        customers, pl.col("revenue").sum(), (pl.col("recency_days").sum() / customers).alias("mean_recency_days"),
        (pl.col("orders").sum() / customers).alias("mean_orders"), (pl.col("revenue").sum() / customers).alias("mean_revenue"),
        weighted[0].alias("mean_r"), weighted[1].alias("mean_f"), weighted[2].alias("mean_m"),
        (pl.col("revenue").sum() / pl.col("orders").sum()).alias("aov"))
    total_customers, total_revenue = max(int(cells["customers"].sum()), 1), float(cells["revenue"].sum())
    names = settings.segment_names
    order = pl.DataFrame({"segment": names, "_order": list(range(len(names)))})
    return (order.join(stats, on="segment", how="left")
            .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0),
                          pl.col("aov").fill_nan(None))
            .with_columns((pl.col("customers") / total_customers).alias("customer_share"),
                          (pl.col("revenue") / total_revenue if total_revenue else pl.lit(None, pl.Float64))
                          .alias("revenue_share"),
                          pl.col("segment").replace_strict(SEGMENT_ADVICE, default="").alias("advice"))
            .sort("_order")
            .select("segment", "customers", "customer_share", "revenue", "revenue_share", "mean_recency_days",
                    "mean_orders", "mean_revenue", "mean_r", "mean_f", "mean_m", "aov", "advice"))


def _check_grain(grain: str) -> None:
    if grain not in figures.GRAIN_UNITS:
        raise WarehouseError(f"Unknown grain {grain!r}: use day, week or month.")


def _trend_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Bucket counts from the engine as :func:`crm_core.kpis.kpi_trend`'s frame."""
    frame = _typed_counts(frame.with_columns(pl.col("period").cast(pl.Date)).sort("period"))
    schema = _trend_schema()
    return _derived(frame.lazy()).collect().select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _typed(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The columns of ``schema`` present in ``frame``, in schema order, cast to its types."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items() if name in frame.columns)


def _typed_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Counted KPIs cast to the dtypes crm_core.kpis produces."""
    schema = _trend_schema()
    return frame.with_columns(pl.col(name).cast(schema[name]) for name in _KPI_COUNTS)


def _empty_transactions(columns: tuple[str, ...]) -> pl.LazyFrame:
    return pl.LazyFrame(schema={name: dtype for name, dtype in TRANSACTION_SCHEMA.items()
                                if name in columns or name in (C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT)})


@lru_cache(maxsize=64)
def _summary_schema(columns: tuple[str, ...]) -> dict[str, pl.DataType]:
    """The exact output schema of crm_core.customers.summarize for these columns."""
    from crm_core.customers import summarize

    return dict(summarize(_empty_transactions(columns), as_of=dt.date(2000, 1, 1)).collect_schema())


@lru_cache(maxsize=1)
def _trend_schema() -> dict[str, pl.DataType]:
    """The exact output schema of crm_core.kpis.kpi_trend."""
    from crm_core.kpis import kpi_trend

    return dict(kpi_trend(_empty_transactions(()), dt.date(2000, 1, 1), dt.date(2000, 1, 2)).schema)
