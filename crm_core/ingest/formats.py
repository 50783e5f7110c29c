"""Stage 2, sniff formats: how the mapped columns' values are written.

:func:`sniff_formats` looks at the sample (and, for undecided day/month
order, counts over the whole column) and returns a frozen :class:`Formats`:
the number convention of each numeric column, the date format of each date
column, month formats, id quirks and where currencies are written.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import polars as pl

from crm_core.ingest.columns import DATE, ID, MONTH, NUMBER, bracket_currency
from crm_core.ingest.errors import IngestError
from crm_core.ingest.mapping import ColumnPlan, ColumnSample, month_format
from crm_core.ingest.numbers import SIMPLE_WITH_SYMBOL, ZERO_WIDTH
from crm_core.ingest.options import ReadOptions
from crm_core.ingest.parse import DATE_CELL, NUMBER_CELL, as_text, typed_cell_date
from crm_core.ingest.presets import Preset
from crm_core.ingest.sniff import (
    DateFormat, NumberFormat, date_tokens, format_label, is_day_first, number_evidence, parse_date_series,
    WEEKDAY_HEAD, sniff_date_format, user_date_format,
)
from crm_core.ingest.source import RawTable


#: Number roles that count things rather than money.
COUNTS = frozenset({"quantity", "days_late", "csat"})


class Formats(NamedTuple):
    """How each mapped column is written.

    Attributes
    ----------
    numbers
        Role -> number convention (decimal mark, thousands separator, marks).
    dates, months
        Role -> date format (None: native dates) / month format.
    id_flags
        Role -> (ids written as ``123.0``, ids are e-mails).
    simple
        Number roles whose sample is simple numbers (``-1234.5``, ``27,18``): a cheap parse fits.
    counts
        Number roles that count things (quantity, days late, CSAT) in plain
        columns: parsed by the CSV reader itself, without the per-value check
        amounts get.
    strip
        Role -> values need trimming (the sample shows padded values).
    currency_marks
        Amounts carry currency symbols or codes.
    header_currency
        Currency code in the amount column's name (``Amount (EUR)``).
    """

    numbers: dict[str, NumberFormat]
    dates: dict[str, DateFormat | None]
    months: dict[str, str]
    id_flags: dict[str, tuple[bool, bool]]
    strip: dict[str, bool]
    detected: dict[str, Any]
    currency_marks: bool = False
    header_currency: str | None = None
    user_decimal: str | None = None
    simple: frozenset[str] = frozenset()
    counts: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


def sniff_formats(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, options: ReadOptions, preset: Preset | None
) -> Formats:
    """Detect every mapped column's format (the user's options win).

    Raises
    ------
    IngestError
        When the date column's values do not look like dates.
    """
    detected: dict[str, Any] = {}
    warnings: list[str] = []
    delimiter = table.detected.get("delimiter")
    numeric = [c for k, c in plan.columns.items() if plan.kinds[k] == NUMBER and sample.is_text(c)]
    values = pl.concat([sample.values(c).head(500) for c in numeric]) if numeric else pl.Series([], dtype=pl.String)
    evidence = number_evidence(values.to_list())  # decided twice: before and after the dates give a hint
    first = evidence.decide(european_hint=delimiter == ";")
    day_first_hint = delimiter == ";" or (first.decimal == "," and not first.ambiguous)
    if preset and preset.month_first is not None:
        day_first_hint = not preset.month_first
    dates: dict[str, DateFormat | None] = {}
    months: dict[str, str] = {}
    for key, column in plan.columns.items():
        if plan.kinds[key] == DATE:
            dates[key] = _date_format(table, sample, key, column, day_first_hint, options, detected, warnings)
        elif plan.kinds[key] == MONTH:
            months[key] = month_format(sample.values(column)) or "%Y-%m"
            detected.update(month_format=months[key], month_format_label=format_label(months[key]))
    main_date = next((d for d in dates.values() if d is not None), None)
    european = delimiter == ";" or bool(main_date and is_day_first(main_date.fmt) and not main_date.ambiguous)
    number = _number_format(values, evidence.decide(european), options, warnings)
    detected.update(decimal=number.decimal, thousands=number.thousands)
    numbers = {key: number for key in plan.of_kind(NUMBER)}
    id_flags = {}
    for key in plan.of_kind(ID):
        column = plan.columns[key]
        if sample.is_text(column):
            found = sample.values(column)
            id_flags[key] = (
                bool(found.str.contains(r"^\d+\.0+$").any()),
                bool(found.str.contains("@", literal=True).any()),
            )
            if key == "customer_id":
                warnings += _rounded_ids(found, column, detected)
    amount = plan.columns.get("amount")
    return Formats(
        numbers=numbers,
        simple=frozenset(k for k in numbers if _is_simple(sample, plan.columns[k])),
        counts=frozenset(k for k in numbers if k in COUNTS and number.plain and number.decimal == "."
                         and not options.decimal),
        dates=dates,
        months=months,
        id_flags=id_flags,
        strip={key: _needs_strip(sample, column) for key, column in plan.columns.items()},
        currency_marks=amount is not None and sample.is_text(amount) and number.currency_marks,
        header_currency=bracket_currency(amount) if amount is not None else None,
        user_decimal=options.decimal or ("," if options.thousands == "." else "." if options.thousands == "," else None),
        detected=detected,
        warnings=tuple(warnings),
    )


#: A long number as a spreadsheet shows it rounded to six digits (``1.23457E+11``): the id's digits are lost.
_SCIENTIFIC_ID = r"^\s*\d(?:[.,]\d+)?[eE]\+?\d{1,3}\s*$"


def _rounded_ids(found: pl.Series, column: str, detected: dict[str, Any]) -> list[str]:
    """A warning when sampled customer ids are written in scientific notation: Excel rounds long numbers so
    (``123451006789`` -> ``1.23451E+11``) and different customers may then share an id. They are read as written
    (the lost digits cannot be recovered); ``detected["scientific_ids"]`` counts them in the sample."""
    rounded = found.str.contains(_SCIENTIFIC_ID)
    count = int(rounded.sum())
    if not count:
        return []
    detected["scientific_ids"] = count
    example = found.filter(rounded)[0]
    return [
        f"Customer ids like '{example}' in column '{column}' ({count:,} of the first {found.len():,} rows) are long "
        "numbers a spreadsheet rounded to scientific notation: their last digits are lost, so different customers "
        "may be counted as one. Export the ids as text (format the column as Text before saving as CSV)."
    ]


def _number_format(values: pl.Series, number: NumberFormat, options: ReadOptions, warnings: list[str]) -> NumberFormat:
    """The sniffed ``number`` format with the user's decimal mark and thousands separator, if given."""
    if options.decimal or options.thousands:
        decimal = options.decimal or number.decimal
        thousands = options.thousands or ("." if decimal == "," else number.thousands)
        plain = number.plain and decimal == "." and options.thousands is None
        return NumberFormat(decimal, thousands, plain, number.currency_marks, False)
    if number.ambiguous and not values.is_empty():
        warnings.append(
            f"Amounts like '{_ambiguous_example(values)}' could use '{number.decimal}' as decimal mark or as thousands "
            f"separator; read with '{number.decimal}' as decimal mark. If that's wrong, set the decimal mark "
            f"(CLI: --decimal {',' if number.decimal == '.' else '.'})."
        )
    return number


def _ambiguous_example(values: pl.Series) -> str:
    """A sampled value that reads two ways (one mark, three digits after it: ``1,234`` or ``1.234``), as the
    sniffer counts them; the first value when none is found (the warning then still names the column's values)."""
    core = values.cast(pl.String).str.replace_all(r"[^\d.,]", "")
    two_ways = values.filter(core.str.contains(r"^\d+[.,]\d{3}$") & ~core.str.contains(r"^0[.,]")).head(1)
    return str(two_ways[0] if not two_ways.is_empty() else values[0])


def _is_simple(sample: ColumnSample, column: str) -> bool:
    """Every sampled value is digits with at most one separator, perhaps with a currency
    symbol (a cheap parse fits)."""
    if not sample.is_text(column):
        return False
    values = sample.table.sample.get_column(column).drop_nulls()
    return bool(values.str.contains(SIMPLE_WITH_SYMBOL).all())


def _needs_strip(sample: ColumnSample, column: str) -> bool:
    """Trim text only when the sample shows padded or blank values, or invisible characters at either end
    (``C001\u200b``, a stray byte-order mark: trimmed too), since trimming costs a pass."""
    if not sample.is_text(column):
        return False
    values = sample.table.sample.get_column(column).drop_nulls()
    return bool(values.str.contains(f"^[\\s{ZERO_WIDTH}]|[\\s{ZERO_WIDTH}]$").any())


def _date_format(
    table: RawTable, sample: ColumnSample, key: str, column: str, day_first_hint: bool, options: ReadOptions,
    detected: dict[str, Any], warnings: list[str],
) -> DateFormat | None:
    dtype = sample.dtype(column)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        detected.update(date_format="native", date_ambiguous=False)
        return None
    values = sample.values(column)
    if options.date_format:
        fmt = user_date_format(options.date_format)
        chosen = DateFormat(fmt, tail=True)
        if not values.is_empty():
            rate = parse_date_series(date_tokens(values), fmt).is_not_null().mean()
            if rate < 0.5:
                warnings.append(
                    f"Only {rate:.0%} of the sampled dates match the date format you gave ({options.date_format}); "
                    "the others will be rejected as 'unparseable date'."
                )
    else:
        chosen = sample.date_format(column, day_first_hint)
        text_cells = _text_cells(table, column)
        if text_cells is not None:  # a workbook's dates mixing number or date cells with text: sniff the text
            chosen = sniff_date_format(text_cells, day_first_hint, min_rate=0.05) or chosen
        if chosen is None:
            if values.is_empty():
                chosen = DateFormat("%Y-%m-%d", tail=True)
            else:
                raise IngestError(
                    f"The values of column '{column}' (used as the {key.replace('_', ' ')}) do not look like dates, "
                    f"e.g. '{values[0]}'. Pick the date column in 'Column mapping' (CLI: --date COL) or give the "
                    "date format (CLI: --date-format %d/%m/%Y)."
                )
        if chosen.ambiguous and not table.complete:
            chosen = _settle_ambiguity(table, sample, column, chosen)
        if text_cells is not None:
            chosen = chosen._replace(cells=True)
    if options.date_format and _text_cells(table, column) is not None:
        chosen = chosen._replace(cells=True)
    if chosen.cells:
        warnings.append(
            f"Column '{column}' mixes date or number cells with dates written as text: number cells were read as "
            f"Excel serial day numbers, date cells as their dates, and text as {format_label(chosen.fmt)}."
        )
    detected.update(date_format=chosen.fmt, date_format_label=format_label(chosen.fmt), date_ambiguous=chosen.ambiguous)
    if chosen.ambiguous:
        order = "day-first" if is_day_first(chosen.fmt) else "month-first"
        style = "European style" if order == "day-first" else "US style"
        warnings.append(
            f"Dates such as '{values[0]}' could be day-first or month-first and no value decides it; they were "
            f"read as {order} ({format_label(chosen.fmt)}, {style}). If that's wrong, set the date format "
            f"(CLI: --date-format {chosen.alternative})."
        )
    return chosen


def _text_cells(table: RawTable, column: str) -> pl.Series | None:
    """A workbook's date column whose cells mix numbers or dates with text: the text cells' values
    (up to 2,000), which say the notation of the text; None for other columns and files."""
    if table.cell_dates is None:
        return None
    text = table.frame.select(pl.col(column).cast(pl.String).str.strip_chars()).collect().to_series()
    filled = text.filter(text.str.len_bytes() > 0)
    typed_shape = filled.str.contains(NUMBER_CELL) | filled.str.contains(DATE_CELL)
    if not typed_shape.any() or typed_shape.all():
        return None
    typed = pl.select(typed_cell_date(pl.lit(text), pl.lit(table.cell_dates(column)))).to_series()
    return text.filter(typed.is_null() & (text.str.len_bytes() > 0)).head(2000)


def _settle_ambiguity(table: RawTable, sample: ColumnSample, column: str, chosen: DateFormat) -> DateFormat:
    """Day/month undecided in the sample: count failures of both orders over the whole column."""
    tokens = as_text(column, sample.dtype(column)).str.strip_chars()
    tokens = (tokens.str.replace(WEEKDAY_HEAD, "") if chosen.weekday else tokens).str.replace(r"[T\s].*$", "")
    counts = table.frame.select(
        tokens.str.to_date(chosen.fmt, strict=False).null_count().alias("a"),
        tokens.str.to_date(chosen.alternative, strict=False).null_count().alias("b"),
    ).collect(engine="streaming").row(0)
    if counts[0] < counts[1]:
        return chosen._replace(ambiguous=False, alternative=None)
    if counts[1] < counts[0] and chosen.alternative is not None:
        return chosen._replace(fmt=chosen.alternative, ambiguous=False, alternative=None)
    return chosen
