"""Stage 3, parse: turn every mapped column's text into typed values.

:func:`parse_values` parses the whole table in one streaming pass (clean CSV
columns are parsed by the CSV reader itself), nulls non-finite numbers, and
re-reads the few values the fast parse missed with a thorough parse. Values
still unreadable set ``__bad_<role>`` so later stages say "unparseable"
rather than "missing".
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import polars as pl

from crm_core.ingest.columns import DATE, ID, MONTH, NUMBER, TEXT
from crm_core.ingest.formats import Formats
from crm_core.ingest.mapping import NOT_A_SALE, ColumnPlan, ColumnSample
from crm_core.ingest.numbers import classify, plainly_read, plainly_read_expr, resolve, simple_columns, simple_reading
from crm_core.ingest.parse import (
    NULL_TOKENS, as_text, currency_mark_expr, shared_mark_expr, date_expr, has_nul, id_expr, month_expr, number_expr, present, second_chance_date, text_expr,
    typed_cell_date,
)
from crm_core.ingest.presets import ambiguous, bad
from crm_core.ingest.mapping import is_text as is_text_dtype
from crm_core.ingest.source import EXTRA, LINE, RawTable


def _comma(role: str) -> str:
    return f"__comma_{role}"


def _bits(role: str) -> str:
    return f"__bits_{role}"


class Parsed(NamedTuple):
    """The parsed table: one column per role, ``__line``, and ``__bad_<role>`` flags.

    ``bad_examples`` holds one unreadable source value per role;
    ``corrected`` counts, per source column, numbers read against the
    column's convention (unambiguous in themselves).
    """

    frame: pl.DataFrame
    bad_examples: dict[str, str]
    corrected: dict[str, int]
    detected: dict[str, Any]
    #: Watched status columns (``plan.watch``) with the first values that mark a row as not a plain sale.
    marked: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def source_rows(self) -> int:
        return self.frame.height


def parse_values(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats,
    whole_column: Callable[[str], dict[str, Any]] | None = None,
) -> Parsed:
    """Parse every mapped column over the whole table (streaming), then retry failures.

    Clean CSV columns (plain numbers, ISO dates, as seen in the sample) are
    parsed by the CSV reader itself, strictly (and the text as strict UTF-8); if
    any value does not fit, the whole table is read again as text and parsed by
    expressions.
    ``whole_column`` is given when ``table`` is one batch of a larger file: for a
    number column whose convention must be decided, it returns the evidence
    (:func:`~crm_core.ingest.numbers.evidence`) of the whole file's column.
    """
    parsed = None
    detected: dict[str, Any] = {}
    fast = _reader_types(sample, plan, formats)
    nul = bool(table.detected.get("nul_bytes"))
    if table.typed is not None:  # strict UTF-8 (a faster read) even when the reader types no column
        try:
            frame = table.typed(fast)
            parsed = frame.select(_expressions(plan, formats, frame.collect_schema(), nul)).collect(engine="streaming")
            if fast:
                detected["fast_path"] = True
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - a value the reader rejects: use the text path
            parsed = None
    if parsed is None:
        parsed = table.rows().select(_expressions(plan, formats, sample.schema, nul)).collect(engine="streaming")
    if EXTRA in parsed.columns and parsed.get_column(EXTRA).null_count() == parsed.height:
        parsed = parsed.drop(EXTRA)  # no row has more fields than the header (a count kept with the column: free)
    parsed, marked = _marked(plan, parsed)
    parsed = parsed.select(pl.int_range(table.first_line, table.first_line + pl.len(), dtype=pl.Int64).alias(LINE), pl.all())
    parsed, numbers = _resolve_numbers(table, sample, plan, formats, parsed, whole_column)
    parsed = _typed_cells(table, plan, formats, parsed, detected)
    parsed, bad_examples = _second_chance(table, sample, plan, formats, parsed)
    detected.update(numbers.detected)
    return Parsed(parsed, {**numbers.examples, **bad_examples}, numbers.corrected, detected, marked)


def _mark(index: int) -> str:
    return f"__marks_{index}"


def _marked(plan: ColumnPlan, parsed: pl.DataFrame) -> tuple[pl.DataFrame, tuple[tuple[str, tuple[str, ...]], ...]]:
    """The watched status columns' values that mark rows as not plain sales (first three distinct), and
    ``parsed`` without the columns that carried them."""
    found = []
    for index, column in enumerate(plan.watch):
        values = parsed.get_column(_mark(index)).drop_nulls()
        if values.len():
            found.append((column, tuple(values.unique(maintain_order=True).head(3).to_list())))
    return parsed.drop([_mark(index) for index in range(len(plan.watch))]), tuple(found)


def _reader_types(sample: ColumnSample, plan: ColumnPlan, formats: Formats) -> dict[str, pl.DataType]:
    """Source columns the CSV reader can parse itself: plain numbers and ISO dates."""
    fast: dict[str, pl.DataType] = {}
    for key, column in plan.columns.items():
        if not sample.is_text(column):
            continue
        kind = plan.kinds[key]
        if kind == NUMBER and key in formats.counts:
            fast[column] = pl.Float64
        elif kind == DATE:
            fmt = formats.dates.get(key)
            clean = fmt is not None and fmt.rate >= 1.0 and fmt.padded_iso and not fmt.tail
            if clean and fmt.fmt == "%Y-%m-%d":
                fast[column] = pl.Date
    return fast


def _expressions(plan: ColumnPlan, formats: Formats, schema: pl.Schema, nul: bool = False) -> list[pl.Expr]:
    expressions: list[pl.Expr] = []
    for key, column in plan.columns.items():
        dtype = schema[column]
        kind = plan.kinds[key]
        strip = formats.strip.get(key, False)
        if kind == ID:
            float_ids, emails = formats.id_flags.get(key, (False, False))
            expressions.append(id_expr(column, dtype, float_ids, emails, strip, nul).alias(key))
            if nul and is_text_dtype(dtype):
                expressions.append(has_nul(pl.col(column)).alias(bad(key)))
        elif kind == TEXT:
            expressions.append(text_expr(column, dtype, strip).alias(key))
        elif kind == NUMBER and is_text_dtype(dtype) and key in formats.simple:
            number = formats.numbers[key]
            expressions += simple_columns(pl.col(column).cast(pl.String), key, number.decimal == ",", number.currency_marks)
        elif kind == NUMBER and is_text_dtype(dtype):
            reading = classify(pl.col(column).cast(pl.String))
            expressions += [reading.point.alias(key), reading.comma.alias(_comma(key)), reading.bits.alias(_bits(key))]
        elif kind == NUMBER:
            expressions.append(number_expr(column, dtype).alias(key))
        elif kind == DATE:
            expressions.append(date_expr(column, dtype, formats.dates.get(key)).alias(key))
        elif kind == MONTH:
            expressions.append(month_expr(as_text(column, dtype), formats.months[key]).alias(key))
    if EXTRA in schema:  # rows with more fields than the header: check_orders rejects them
        expressions.append(pl.col(EXTRA))
    for index, column in enumerate(plan.watch):  # unread status columns: rows beyond the sample may mark refunds
        status = pl.col(column).cast(pl.String).str.strip_chars()
        expressions.append(pl.when(status.str.contains(NOT_A_SALE)).then(status).alias(_mark(index)))
    if formats.currency_marks:
        expressions.append(currency_mark_expr(plan.columns["amount"]).alias("__mark"))
        expressions.append(shared_mark_expr(plan.columns["amount"]).alias("__mark_shared"))
    return expressions


class _Numbers(NamedTuple):
    corrected: dict[str, int]
    examples: dict[str, str]
    detected: dict[str, Any]


def _resolve_numbers(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, parsed: pl.DataFrame,
    whole_column: Callable[[str], dict[str, Any]] | None = None,
) -> tuple[pl.DataFrame, _Numbers]:
    """Each text number column: re-read the values the fast parse missed, then decide the
    column's convention from all its values and read each value against it (see numbers.py)."""
    simple = [k for k in plan.of_kind(NUMBER) if {f"{k}__len", f"{k}__two"} & set(parsed.columns)]
    if _nothing_to_resolve(parsed, plan, simple):
        aux = [c for k in simple for c in parsed.columns if c.startswith(f"{k}__")]
        return parsed.drop(aux), _Numbers({}, {}, {})
    for key in simple:
        aux = [c for c in parsed.columns if c.startswith(f"{key}__")]
        if plainly_read(parsed, key):  # the common case: nothing to decide, the values stand
            parsed = parsed.drop(aux)
            continue
        point, comma, bits = simple_reading(parsed, key)
        parsed = parsed.drop(aux).with_columns(point.alias(key), comma.alias(_comma(key)), bits.alias(_bits(key)))
    keys = [k for k in plan.of_kind(NUMBER) if _bits(k) in parsed.columns]
    failed = {k: parsed.get_column(_bits(k)).is_null() for k in keys}
    keys_failed = [k for k in keys if failed[k].any()]
    raw = _raw_text(table, sample, plan, parsed, failed, keys_failed)
    updates: list[pl.Series] = []
    corrected: dict[str, int] = {}
    examples: dict[str, str] = {}
    detected: dict[str, Any] = {}
    for key in keys:
        point, comma, bits = parsed.get_column(key), parsed.get_column(_comma(key)), parsed.get_column(_bits(key))
        written = ~failed[key]
        if key in keys_failed:
            point, comma, bits, written = _retry_numbers(raw, key, point, comma, bits, written)
        number = formats.numbers[key]
        result = resolve(point, comma, bits, written, number.decimal, formats.user_decimal,
                         whole_column(key) if whole_column else None,
                         spreadsheet=table.detected.get("format") in ("xlsx", "xls"))
        value = result.value
        if key != "amount":  # infinities are only kept for the amount, whose row says "amount out of range"
            value = pl.select(pl.when(value.is_finite()).then(value)).to_series()
        else:
            value = pl.select(pl.when(~value.is_nan()).then(value)).to_series()
        unreadable = written & value.is_null()
        updates.append(value.alias(key))
        if unreadable.any():
            updates.append(unreadable.alias(bad(key)))
            examples[key] = _first_unreadable(raw, key, unreadable)
        if result.ambiguous.any():
            updates.append(pl.select(pl.when(result.ambiguous).then(True)).to_series().alias(ambiguous(key)))
        corrected[plan.columns[key]] = result.corrected
        if key == "amount" and (result.ambiguous.any() or result.guessed.any()):
            # in a currency without decimals only the whole reading can be meant (checks.whole_amounts)
            updates.append(_whole_reading(point, comma, result.ambiguous | result.guessed))
        if key == "amount":
            detected.update(decimal=result.convention.decimal, thousands=result.convention.thousands or number.thousands)
    for key in plan.of_kind(NUMBER):
        if key not in keys:  # read natively or plainly (Parquet, plain counts and amounts)
            updates += _non_finite(parsed.get_column(key), key)
    aux = [c for k in keys for c in (_comma(k), _bits(k))]
    return parsed.with_columns(updates).drop(aux), _Numbers(corrected, examples, detected)


#: The whole-number reading of an amount that could mean two numbers (``1,234``: 1234, not 1.234), whether set
#: aside as ambiguous or read by the file's style when no value decided; see checks.whole_amounts.
WHOLE_AMOUNT = "__whole_amount"


def _whole_reading(point: pl.Series, comma: pl.Series, ambiguous_values: pl.Series) -> pl.Series:
    """Of an ambiguous value's two readings, the one that is a whole number, when only one is (``1,000`` is 1000
    or 1: both whole, so none)."""
    frame = pl.DataFrame({"p": point, "c": comma, "a": ambiguous_values})
    p_whole, c_whole = pl.col("p") == pl.col("p").round(0), pl.col("c") == pl.col("c").round(0)
    return frame.select(
        pl.when(pl.col("a") & p_whole & ~c_whole).then(pl.col("p"))
        .when(pl.col("a") & c_whole & ~p_whole).then(pl.col("c")).alias(WHOLE_AMOUNT)
    ).to_series()


def _nothing_to_resolve(parsed: pl.DataFrame, plan: ColumnPlan, simple: list[str]) -> bool:
    """The common case, checked in one pass: every simple number column was read plainly
    (:func:`~crm_core.ingest.numbers.plainly_read`), no other one needs its convention decided,
    and none holds a value :func:`_non_finite` would blank."""
    numbers = plan.of_kind(NUMBER)
    if any(_bits(key) in parsed.columns for key in numbers):
        return False
    if not numbers:
        return True
    checks = [plainly_read_expr(parsed, key) for key in simple]
    plain = [check for check in checks if check is not None]
    if len(plain) < len(checks):  # a comma-style column: its convention is decided below
        return False
    clean = [~_broken(pl.col(key), key).any() for key in numbers]
    return bool(parsed.select(pl.all_horizontal([*plain, *clean])).item())


def _broken(value: pl.Expr, key: str) -> pl.Expr:
    """NaN is unreadable; so are infinities except in the amount (its row: "amount out of range")."""
    return value.is_nan() if key == "amount" else value.is_not_null() & ~value.is_finite()


def _non_finite(value: pl.Series, key: str) -> list[pl.Series]:
    """The values :func:`_broken` finds blanked, and their ``__bad_<key>`` flags."""
    broken = pl.select(_broken(pl.lit(value), key)).to_series()
    if not broken.any():
        return []
    return [pl.select(pl.when(~broken).then(value)).to_series().alias(key), broken.alias(bad(key))]


def _raw_text(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, parsed: pl.DataFrame, failed: dict[str, pl.Series],
    keys: list[str],
) -> pl.DataFrame:
    """Source text (``__raw_<role>``) of the rows where one of ``keys`` failed, by line."""
    if not keys:
        return pl.DataFrame(schema={LINE: pl.Int64})
    any_failed = pl.select(pl.any_horizontal([failed[k] for k in keys])).to_series()
    lines = parsed.get_column(LINE).filter(any_failed)
    return (
        table.frame.filter(pl.col(LINE).is_in(lines.implode()))
        .select([pl.col(LINE).cast(pl.Int64)] + [
            _spelled_blank(present(as_text(plan.columns[k], sample.dtype(plan.columns[k])))).alias(f"__raw_{k}")
            for k in keys
        ])
        .collect()
        .join(parsed.select(pl.col(LINE).cast(pl.Int64), pl.int_range(pl.len()).alias("__pos")), on=LINE)
    )


def _spelled_blank(text: pl.Expr) -> pl.Expr:
    """Null for the spellings of "no value" (``NULL``, ``None``, ``N/A``, ``--``, ``#N/A``): a number written that
    way is missing (its row: "missing amount"), not an unreadable number."""
    return pl.when(~text.is_in(NULL_TOKENS)).then(text)


def _retry_numbers(raw: pl.DataFrame, key: str, point, comma, bits, written):
    """Thorough :func:`classify` of the failed values' source text, put back in place."""
    text = raw.filter(pl.col(f"__raw_{key}").is_not_null())
    reading = classify(pl.col(f"__raw_{key}"))
    again = text.select("__pos", reading.point.alias("p"), reading.comma.alias("c"), reading.bits.alias("b"))
    positions = again.get_column("__pos")
    return (
        point.scatter(positions, again.get_column("p")),
        comma.scatter(positions, again.get_column("c")),
        bits.scatter(positions, again.get_column("b")),
        written.scatter(positions, True),
    )


def _first_unreadable(raw: pl.DataFrame, key: str, unreadable: pl.Series) -> str:
    """One unreadable source value of ``key`` (for warnings; blank when only ambiguous ones)."""
    if f"__raw_{key}" not in raw.columns:
        return ""
    found = raw.filter(pl.col("__pos").is_in(unreadable.arg_true().implode())).get_column(f"__raw_{key}").drop_nulls()
    return str(found[0]) if found.len() else ""


def _typed_cells(table: RawTable, plan: ColumnPlan, formats: Formats, parsed: pl.DataFrame,
                 detected: dict[str, Any]) -> pl.DataFrame:
    """A workbook's date column mixing number or date cells with text dates: each number or date cell is
    read as the workbook types it (a number cell is an Excel serial day: unambiguous), the text cells in the
    column's text notation. ``detected["date_cells"]`` counts the dates read from typed cells."""
    for key in plan.of_kind(DATE):
        fmt = formats.dates.get(key)
        if fmt is None or not fmt.cells or table.cell_dates is None:
            continue
        column = plan.columns[key]
        text = table.frame.select(pl.col(column).cast(pl.String)).collect().to_series()
        typed = pl.select(typed_cell_date(pl.lit(text), pl.lit(table.cell_dates(column)))).to_series()
        parsed = parsed.with_columns(pl.coalesce(pl.lit(typed), pl.col(key)).alias(key))
        detected["date_cells"] = detected.get("date_cells", 0) + typed.len() - typed.null_count()
    return parsed


def _second_chance(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, parsed: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Re-read the source text of the rows whose values did not parse (usually few).

    Values written unusually (padded, with a time, a currency sign, ...) get
    a thorough parse; values still unreadable set ``__bad_<role>``.
    """
    checked = [k for k in plan.of_kind(DATE, MONTH) if parsed.get_column(k).null_count()]
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
        if plan.kinds[key] == DATE:
            retry = second_chance_date(text, formats.dates.get(key))
        else:
            retry = month_expr(text, formats.months[key])
        retries.append(pl.coalesce(pl.col(key), retry).alias(key))
    return failed.with_columns(retries)
