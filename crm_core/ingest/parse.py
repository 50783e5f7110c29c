"""Vectorised parsing expressions: text columns -> ids, dates, numbers.

Each builder returns Polars expressions; nothing loops over rows in Python.
Dates come in two flavours: the fast one chosen from the sample
(used on every row), and a thorough one applied afterwards only to the
values the fast one could not read (``second_chance_*``).
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from crm_core.ingest.currency_codes import ISO_4217, SYMBOLS
from crm_core.ingest.numbers import ZERO_WIDTH
from crm_core.ingest.sniff import TIME_TAIL, WEEKDAY_HEAD, DateFormat, parse_date_expr

#: Spellings of "no value" that spreadsheets and pandas write into id columns.
NULL_TOKENS = ["nan", "NaN", "NAN", "null", "NULL", "Null", "None", "none", "NONE", "N/A", "n/a", "NA",
               "#N/A", "-", "--", "(blank)", "<NA>"]
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
#: A currency mark directly before a number, or directly after it (blanks removed first).
_MARK = r"([A-Za-z]{0,3}\$|[€£¥₹]|[A-Za-z]{3})"
_MARK_BEFORE = rf"^[(+\-−–]*{_MARK}\(?[-−–+]?[\d.,]"  # also "$(12.50)"
_MARK_AFTER = rf"\d[kKmM]?\)?{_MARK}[)\-−–]*$"  # also "(12,50)€"


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as text (whole floats without their '.0')."""
    col = pl.col(column)
    if _is_text(dtype):
        return col.cast(pl.String)
    if dtype.is_float():
        whole = col.is_finite() & (col == col.round(0)) & (col.abs() < 1e18)
        return pl.when(whole).then(col.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(col.cast(pl.String))
    if isinstance(dtype, pl.Datetime):
        return col.dt.strftime("%Y-%m-%d %H:%M:%S")
    return col.cast(pl.String)


def present(text: pl.Expr) -> pl.Expr:
    """Stripped text, null when empty."""
    stripped = text.str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped)


#: An e-mail address as customer ids hold them: a local part, one @, a domain with a dot.
EMAIL_SHAPE = r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$"


def id_expr(column: str, dtype: pl.DataType, float_ids: bool, emails: bool, strip: bool = True,
            nul: bool = False) -> pl.Expr:
    """Customer ids as text: leading zeros kept, ``12346.0`` -> ``12346``,
    e-mails lower-cased, blanks and NaN-like spellings -> null; blanks and zero-width characters trimmed. ``strip=False``
    skips trimming (when the sample shows no padded values); ``nul=True`` (the file holds NUL bytes)
    makes ids holding one null."""
    value = as_text(column, dtype)
    if strip:  # blanks, then invisible characters pasted with the id ("C001\u200b" is C001), then blanks again
        value = value.str.strip_chars().str.strip_chars(ZERO_WIDTH).str.strip_chars()
    if float_ids and _is_text(dtype):
        value = value.str.replace(r"^(\d+)\.0+$", "${1}")
    if emails:  # only what is shaped like an address: "@SUM(A1)" or "=HYPERLINK(...@...)" stay as written
        value = pl.when(value.str.contains(EMAIL_SHAPE)).then(value.str.to_lowercase()).otherwise(value)
    present = (value.str.len_bytes() > 0) & ~value.is_in(NULL_TOKENS)
    return pl.when(present & ~has_nul(value) if nul else present).then(value)


def has_nul(text: pl.Expr) -> pl.Expr:
    """The text holds a NUL byte (a damaged line): such an id is unreadable, never a customer of its own."""
    return text.str.contains("\x00", literal=True).fill_null(False)


def text_expr(column: str, dtype: pl.DataType, strip: bool = True) -> pl.Expr:
    """Text trimmed (unless ``strip=False``), blanks -> null."""
    if strip:
        return present(as_text(column, dtype))
    value = as_text(column, dtype)
    return pl.when(value.str.len_bytes() > 0).then(value)


def number_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """A column the reader already typed (Parquet, Excel numbers, booleans) as Float64.

    Text columns are parsed by :mod:`crm_core.ingest.numbers`, value by value.
    """
    return pl.col(column).cast(pl.Float64)


def currency_mark_expr(column: str) -> pl.Expr:
    """Currency symbol or code written in an amount (``$`` -> ``USD``), else null."""
    # Only a real ISO 4217 code or a symbol written beside the number is a currency: `abc` or `12.50 pcs` never
    # names one (nor do `nan` and `inf`, which are not codes).
    text = pl.col(column).cast(pl.String).str.replace_all(r"[\s\u00a0\u202f'’]", "")
    mark = pl.coalesce(text.str.extract(_MARK_BEFORE, 1), text.str.extract(_MARK_AFTER, 1)).str.to_uppercase()
    code = mark.replace(SYMBOLS)
    return pl.when(code.is_in(list(ISO_4217))).then(code)


#: Symbols several currencies write (``$``: dollars and pesos; ``¥``: yen and yuan): beside a stated currency they
#: agree with it, whatever code they are read as alone.
SHARED_SYMBOLS = ("$", "¥")


def shared_mark_expr(column: str) -> pl.Expr:
    """True where the amount's currency mark is a symbol several currencies write (``$12.50``), see
    :data:`SHARED_SYMBOLS`."""
    text = pl.col(column).cast(pl.String).str.replace_all(r"[\s\u00a0\u202f'’]", "")
    mark = pl.coalesce(text.str.extract(_MARK_BEFORE, 1), text.str.extract(_MARK_AFTER, 1))
    return mark.is_in(list(SHARED_SYMBOLS)).fill_null(False)


def date_expr(column: str, dtype: pl.DataType, fmt: DateFormat | None) -> pl.Expr:
    """Fast parse of a date column to ``pl.Date`` (the calendar date as written:
    times and time zones are dropped, not converted). Years outside 1900-2100 -> null."""
    col = pl.col(column)
    if dtype == pl.Date:
        value = col
    elif isinstance(dtype, pl.Datetime):
        value = (col.dt.replace_time_zone(None) if dtype.time_zone else col).dt.date()
    elif fmt is None:
        return pl.lit(None, pl.Date)
    else:
        text = as_text(column, dtype)
        if not fmt.tail:
            token = text
        elif fmt.padded_iso:
            token = text.str.slice(0, 10)
        else:
            token = text.str.strip_chars().str.replace(TIME_TAIL, "")
        if fmt.weekday:
            token = token.str.replace(WEEKDAY_HEAD, "")
        value = parse_date_expr(token, fmt.fmt)
    return plausible(value)


def plausible(value: pl.Expr) -> pl.Expr:
    """Dates outside 1900-2100 (sentinels like 9999-12-31, misread formats) -> null."""
    return pl.when(value.is_between(FIRST_DAY, LAST_DAY)).then(value)


#: A workbook cell written as a number (its text as the reader renders it).
NUMBER_CELL = r"^-?\d+(?:\.\d+)?$"
#: How the workbook reader renders a date cell as text.
DATE_CELL = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def typed_cell_date(text: pl.Expr, cell: pl.Expr) -> pl.Expr:
    """A workbook cell's date when the workbook types it: ``cell`` is the cell read as a date (a number cell
    as its Excel serial day, a date cell as its date, null otherwise), ``text`` the same cell as text. A number
    is taken as a serial only in the range the ``excel-serial`` format reads (20000-80000, 1954-2119), and
    the date between 1900 and 2100, as every date."""
    serial = text.str.strip_chars().cast(pl.Float64, strict=False)
    number = text.str.contains(NUMBER_CELL).fill_null(False)
    return plausible(pl.when(~number | serial.is_between(20000, 80000)).then(cell))


def second_chance_date(text: pl.Expr, fmt: DateFormat | None) -> pl.Expr:
    """Thorough parse (trimmed, time removed) for values the fast parse missed."""
    if fmt is None:
        return pl.lit(None, pl.Date)
    value = parse_date_expr(text.str.strip_chars().str.replace(TIME_TAIL, "").str.replace(WEEKDAY_HEAD, ""), fmt.fmt)
    return plausible(value)


MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%m/%Y", "%m.%Y", "%m-%Y", "%b %Y", "%B %Y", "%b-%y", "%b-%Y", "%Y%m", "%b %y")


def month_expr(text: pl.Expr, fmt: str) -> pl.Expr:
    """Parse a month (``2024-03``, ``Mar 2024``, ``03/2024`` or a full date) to its first day."""
    if fmt in MONTH_FORMATS:
        value = (text.str.strip_chars() + pl.lit(" 1")).str.to_date(fmt + " %d", strict=False)
    else:
        value = parse_date_expr(text.str.strip_chars().str.replace(TIME_TAIL, ""), fmt)
    return value.dt.truncate("1mo")
