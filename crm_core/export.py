"""Safe exports: CSV and XLSX that spreadsheet programs cannot execute.

A text cell that starts with ``= + - @``, a tab or a carriage return is read
as a formula by Excel, LibreOffice and Google Sheets (CSV/formula injection,
OWASP). Such cells are prefixed with a single quote, unless the whole cell is
a plain number (``-12.5`` stays a number). Reading the file back gives the
original text plus the one-character guard.
"""
from __future__ import annotations

import io
import re
from typing import BinaryIO

import polars as pl

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"
_PLAIN_NUMBER = r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$"


def neutralize_text(column: pl.Expr) -> pl.Expr:
    """Expression: prefix the guard to text cells that would start a formula."""
    starts_formula = column.str.contains(r"^[=+\-@\t\r]")
    is_number = column.str.contains(_PLAIN_NUMBER)
    return pl.when(starts_formula & ~is_number).then(pl.lit(GUARD) + column).otherwise(column)


def neutralize(frame: pl.DataFrame) -> pl.DataFrame:
    """Neutralise every text column of ``frame`` (numbers and dates untouched)."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    safe = frame.with_columns(neutralize_text(pl.col(name)).alias(name) for name in text_columns)
    # Column headers can carry user text too (mapped source column names).
    return safe.rename({name: neutralize_cell(name) for name in safe.columns})


def neutralize_cell(value: str) -> str:
    """Neutralise one string (used for headers and single values)."""
    if value.startswith(FORMULA_TRIGGERS) and not re.match(_PLAIN_NUMBER, value):
        return GUARD + value
    return value


UTF8_BOM = b"\xef\xbb\xbf"
#: Rows neutralised and written at a time by :func:`write_safe_csv`.
CSV_ROWS_PER_WRITE = 200_000


def safe_csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 (with BOM, so Excel detects it) CSV of ``frame``, injection-safe."""
    return UTF8_BOM + neutralize(_flatten(frame)).write_csv().encode("utf-8")


def write_safe_csv(frame: pl.DataFrame, output: BinaryIO, rows_per_write: int = CSV_ROWS_PER_WRITE) -> None:
    """:func:`safe_csv_bytes` of ``frame`` written to ``output``, the same bytes, a slice of rows at a time:
    a large list never exists as one CSV string (plus its bytes, plus its neutralised copy) in memory."""
    output.write(UTF8_BOM)
    for offset in range(0, max(frame.height, 1), rows_per_write):
        neutralize(_flatten(frame.slice(offset, rows_per_write))).write_csv(output, include_header=offset == 0)


def safe_xlsx_bytes(frame: pl.DataFrame, sheet_name: str = "Customers") -> bytes:
    """XLSX of ``frame`` with every cell written as a value, never as a formula.

    Text is neutralised like the CSV and additionally written with
    ``write_string`` semantics (xlsxwriter's formula autodetection is off).
    """
    buffer = io.BytesIO()
    neutralize(_flatten(frame)).write_excel(
        buffer,
        worksheet=sheet_name[:31],
        autofit=True,
        header_format={"bold": True},
        include_header=True,
    )
    return buffer.getvalue()


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists and structs are not CSV-able: render them as text."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    return frame.with_columns(pl.col(name).cast(pl.String, strict=False) for name in nested) if nested else frame


#: Headers of order rows in downloads (canonical column -> header) and their money columns.
ORDER_HEADERS = {
    "customer_id": "Customer ID", "order_date": "Order date", "amount": "Amount", "order_id": "Order ID",
    "quantity": "Quantity", "channel": "Channel", "region": "Region", "category": "Category", "cost": "Cost",
    "days_late": "Days late", "product": "Product", "sku": "SKU", "discount_code": "Discount code",
    "fully_refunded": "Refunded in full", "customer_name": "Customer name", "email": "E-mail",
    "line_amount": "Line amount", "line": "Line", "raw": "Row as written", "reason": "Reason",
}
ORDER_MONEY = frozenset({"amount", "cost", "line_amount", "discount_amount"})


def readable_export(frame: pl.DataFrame, labels: dict[str, str], money: set[str], shares: set[str] = frozenset(),
                    currency: str = "") -> pl.DataFrame:
    """A frame for managers' downloads: readable headers, money to the cent, shares in percent, ISO dates.

    Parameters
    ----------
    frame
        Engine output (snake_case columns).
    labels
        Column -> header ("revenue" -> "Revenue"); other columns get their name in words
        ("repeat_rate_90" -> "Repeat rate 90").
    money
        Columns holding amounts: rounded to the cent (half away from zero, no float noise:
        15115.869999999999 -> 15115.87), header "Revenue (EUR)".
    shares
        0-1 columns: written as percent with two decimals, header "... (%)".
    currency
        ISO code named in money headers ("" = not stated).

    Dates stay dates (ISO ``2024-01-31`` in CSV, date cells in Excel); other
    floats are rounded to 4 decimals.
    """
    from crm_core.format import header

    columns = []
    for name, dtype in frame.schema.items():
        label = labels.get(name) or _words(name)
        column = pl.col(name)
        if name in money and dtype.is_numeric():
            columns.append(column.cast(pl.Float64).round(2, mode="half_away_from_zero").alias(header(label, "money", currency)))
        elif name in shares and dtype.is_numeric():
            columns.append((column * 100).round(2).alias(header(label, "share")))
        elif dtype == pl.Datetime:
            columns.append(column.dt.date().alias(label))
        elif dtype.is_float():
            columns.append(column.round(4).alias(label))
        else:
            columns.append(column.alias(label))
    return frame.select(columns)


def _words(name: str) -> str:
    """``"repeat_rate_90"`` -> ``"Repeat rate 90"``; a name that is not snake_case stays as it is."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return name
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name
