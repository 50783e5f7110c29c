"""Stage 3, parse: turn every mapped column's text into typed values.

:func:`parse_values` parses the whole table in one streaming pass (clean CSV
columns are parsed by the CSV reader itself), nulls non-finite numbers, and
re-reads the few values the fast parse missed with a thorough parse. Values
still unreadable set ``__bad_<role>`` so later stages say "unparseable"
rather than "missing".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_core.ingest.columns import DATE, ID, MONTH, NUMBER, TEXT
from crm_core.ingest.formats import Formats
from crm_core.ingest.mapping import ColumnPlan, ColumnSample
from crm_core.ingest.parse import (
    as_text, currency_mark_expr, date_expr, id_expr, month_expr, number_expr, present, second_chance_date,
    second_chance_number, text_expr,
)
from crm_core.ingest.presets import bad
from crm_core.ingest.source import LINE, RawTable


@dataclass(frozen=True)
class Parsed:
    """The parsed table: one column per role, ``__line``, and ``__bad_<role>`` flags.

    ``bad_examples`` holds one unreadable source value per role;
    ``corrected`` counts, per source column, numbers read against the
    column's convention (unambiguous in themselves).
    """

    frame: pl.DataFrame
    bad_examples: dict[str, str] = field(default_factory=dict)
    corrected: dict[str, int] = field(default_factory=dict)
    detected: dict[str, Any] = field(default_factory=dict)

    @property
    def source_rows(self) -> int:
        return self.frame.height


def parse_values(table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats) -> Parsed:
    """Parse every mapped column over the whole table (streaming), then retry failures.

    Clean CSV columns (plain numbers, ISO dates, as seen in the sample) are
    parsed by the CSV reader itself, strictly; if any value does not fit, the
    whole table is read again as text and parsed by expressions.
    """
    parsed = None
    detected: dict[str, Any] = {}
    fast = _reader_types(sample, plan, formats)
    if fast and table.typed is not None:
        try:
            frame = table.typed(fast)
            parsed = frame.select(_expressions(plan, formats, frame.collect_schema())).collect(engine="streaming")
            detected["fast_path"] = True
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - a value the reader rejects: use the text path
            parsed = None
    if parsed is None:
        parsed = table.rows().select(_expressions(plan, formats, sample.schema)).collect(engine="streaming")
    line = (pl.col(LINE).cast(pl.Int64) + table.first_line).alias(LINE)
    parsed = parsed.with_row_index(LINE).with_columns(line)
    parsed = _drop_non_finite(parsed, plan)
    parsed, bad_examples = _second_chance(table, sample, plan, formats, parsed)
    return Parsed(parsed, bad_examples, {}, detected)


def _reader_types(sample: ColumnSample, plan: ColumnPlan, formats: Formats) -> dict[str, pl.DataType]:
    """Source columns the CSV reader can parse itself: plain numbers and ISO dates."""
    fast: dict[str, pl.DataType] = {}
    for key, column in plan.columns.items():
        if not sample.is_text(column):
            continue
        kind = plan.kinds[key]
        if kind == NUMBER and formats.numbers[key].plain and formats.numbers[key].decimal == ".":
            fast[column] = pl.Float64
        elif kind == DATE:
            fmt = formats.dates.get(key)
            clean = fmt is not None and fmt.rate >= 1.0 and fmt.padded_iso and not fmt.tail
            if clean and fmt.fmt == "%Y-%m-%d":
                fast[column] = pl.Date
    return fast


def _expressions(plan: ColumnPlan, formats: Formats, schema: pl.Schema) -> list[pl.Expr]:
    expressions: list[pl.Expr] = []
    for key, column in plan.columns.items():
        dtype = schema[column]
        kind = plan.kinds[key]
        strip = formats.strip.get(key, False)
        if kind == ID:
            float_ids, emails = formats.id_flags.get(key, (False, False))
            expressions.append(id_expr(column, dtype, float_ids, emails, strip).alias(key))
        elif kind == TEXT:
            expressions.append(text_expr(column, dtype, strip).alias(key))
        elif kind == NUMBER:
            expressions.append(number_expr(column, dtype, formats.numbers[key]).alias(key))
        elif kind == DATE:
            expressions.append(date_expr(column, dtype, formats.dates.get(key)).alias(key))
        elif kind == MONTH:
            expressions.append(month_expr(as_text(column, dtype), formats.months[key]).alias(key))
    if formats.currency_marks:
        expressions.append(currency_mark_expr(plan.columns["amount"]).alias("__mark"))
    return expressions


def _drop_non_finite(parsed: pl.DataFrame, plan: ColumnPlan) -> pl.DataFrame:
    """NaN and infinities are not amounts: null them (the re-read marks them unreadable)."""
    numbers = plan.of_kind(NUMBER)
    broken = [k for k in numbers if (parsed.get_column(k).is_nan() | parsed.get_column(k).is_infinite()).any()]
    if not broken:
        return parsed
    return parsed.with_columns([pl.when(pl.col(k).is_finite()).then(pl.col(k)).alias(k) for k in broken])


def _second_chance(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, parsed: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Re-read the source text of the rows whose values did not parse (usually few).

    Values written unusually (padded, with a time, a currency sign, ...) get
    a thorough parse; values still unreadable set ``__bad_<role>``.
    """
    checked = [k for k in plan.of_kind(NUMBER, DATE, MONTH) if parsed.get_column(k).null_count()]
    if not checked:
        return parsed, {}
    failed = parsed.with_row_index("__pos").filter(pl.any_horizontal([pl.col(k).is_null() for k in checked]))
    retried = _retry(table, sample, plan, formats, failed.select("__pos", LINE, *checked), checked)
    updates: list[pl.Series] = []
    examples: dict[str, str] = {}
    for key in checked:
        fixed = retried.filter(pl.col(key).is_not_null() & pl.col(f"__null_{key}"))
        column = parsed.get_column(key)
        if fixed.height:
            column = column.scatter(fixed.get_column("__pos"), fixed.get_column(key).cast(column.dtype))
        updates.append(column)
        unreadable = retried.filter(pl.col(key).is_null() & pl.col(f"__raw_{key}").is_not_null())
        if unreadable.height:
            examples[key] = unreadable.get_column(f"__raw_{key}")[0]
            flags = pl.Series(bad(key), [False], dtype=pl.Boolean).extend_constant(False, parsed.height - 1)
            updates.append(flags.scatter(unreadable.get_column("__pos"), True))
    return parsed.with_columns(updates), examples


def _retry(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, failed: pl.DataFrame, checked: list[str]
) -> pl.DataFrame:
    """``failed`` with the source text (``__raw_<role>``) and the thorough parse of each role."""
    raw = (
        table.frame.filter(pl.col(LINE).is_in(failed.get_column(LINE).implode()))
        .select([pl.col(LINE)] + [
            present(as_text(plan.columns[k], sample.dtype(plan.columns[k]))).alias(f"__raw_{k}") for k in checked
        ])
        .collect()
    )
    failed = failed.join(raw, on=LINE, how="left").with_columns(
        [pl.col(k).is_null().alias(f"__null_{k}") for k in checked]
    )
    retries = []
    for key in checked:
        text = pl.col(f"__raw_{key}")
        if plan.kinds[key] == NUMBER:
            retry = second_chance_number(text, formats.numbers[key])
        elif plan.kinds[key] == DATE:
            retry = second_chance_date(text, formats.dates.get(key))
        else:
            retry = month_expr(text, formats.months[key])
        retries.append(pl.coalesce(pl.col(key), retry).alias(key))
    return failed.with_columns(retries)
