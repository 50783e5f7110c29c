"""Mixed currencies: convert amounts to one reporting currency with the user's rates table.

The rates table has three columns: ``date``, ``currency`` and ``rate``, where
**rate = units of the reporting currency per 1 unit of ``currency``** (to
report in EUR, a USD row says how many euros one dollar was worth that day,
e.g. ``2024-01-02,USD,0.9123``). Central-bank tables are often written the
other way round (the ECB publishes dollars per euro): invert those first.

* :func:`read_rates` reads and checks the table; every problem is one
  :class:`RatesError` line naming the row (header = row 1).
* :func:`convert_orders` converts each order with the rate **in force on its
  date**: the latest rate dated on or before the order (an as-of join,
  backward by date, per currency). The product is computed in decimals and
  rounded half away from zero to the cent, so it is exact to the cent.
* An order whose currency has no rate on or before its date is not
  converted at another rate: it is flagged and the ingest rejects it with the
  reason ``no exchange rate for USD on 2024-01-03``.

Amounts already in the reporting currency keep their value (rate 1).
"""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

import polars as pl

#: Largest rates file read (a daily table of 30 currencies over 20 years is about 7 MB).
MAX_RATES_BYTES = 20 * 1024**2
#: Largest accepted rate: no real currency pair is this far apart; a bigger value is a typo.
MAX_RATE = 1e9
#: Decimals kept of a rate (and of the products before rounding to the cent).
RATE_SCALE = 10
#: Order columns holding money: converted when present.
MONEY_COLUMNS = ("amount", "cost", "discount_amount")

#: Accepted header names (lower case, letters and digits only) for each column.
HEADERS = {
    "date": ("date", "day", "ratedate", "validfrom", "valid", "effectivedate", "effective", "asof", "asofdate",
             "datum", "fecha", "timeperiod", "period"),
    "currency": ("currency", "currencycode", "ccy", "code", "iso", "isocode", "from", "fromcurrency",
                 "sourcecurrency", "waehrung", "wahrung", "devise", "moneda", "valuta"),
    "rate": ("rate", "exchangerate", "fxrate", "conversionrate", "fx", "kurs", "wechselkurs", "taux", "tasa",
             "multiplier", "factor"),
}
#: Columns added to the orders by :func:`convert_orders`.
FX_RATE, FX_DATE, NO_RATE = "__fx_rate", "__fx_date", "__no_rate"

Rates = Union[str, Path, bytes, bytearray, IO[bytes]]
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T].*)?$")
_RATE = r"^\+?\d{1,15}(?:[.,]\d{1,20})?$"


class RatesError(ValueError):
    """A rates table that cannot be used; the message is one line naming the row."""


@dataclass(frozen=True)
class RatesTable:
    """A checked rates table: one rate per (date, currency), as tuples (hashable, picklable).

    ``rates`` are decimal strings (``"0.9123"``); ``name`` is the file name for messages.
    """

    dates: tuple[dt.date, ...]
    currencies: tuple[str, ...]
    rates: tuple[str, ...]
    name: str = "rates table"

    def frame(self) -> pl.DataFrame:
        """``rate_date`` (Date), ``currency`` (String), ``rate`` (Decimal), sorted by date."""
        return pl.DataFrame(
            {"rate_date": list(self.dates), "currency": list(self.currencies), "rate": list(self.rates)},
            schema={"rate_date": pl.Date, "currency": pl.String, "rate": pl.String},
        ).with_columns(pl.col("rate").str.to_decimal(scale=RATE_SCALE)).sort("rate_date", "currency")

    def codes(self) -> list[str]:
        """The currencies the table converts, sorted."""
        return sorted(set(self.currencies))


def read_rates(source: Rates, name: str | None = None) -> RatesTable:
    """Read and check a rates table (CSV: comma, semicolon or tab separated).

    Raises
    ------
    RatesError
        One line: the columns are missing, or a row has an unknown date, a
        currency that is not a 3-letter code, a rate that is not a positive
        number (at most 1e9), or repeats a date and currency.
    """
    data, name = _bytes(source, name)
    text = _decode(data)
    frame = _parse(text)
    columns = _columns(frame.columns)
    table = frame.select(
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row"),
        *[pl.col(source_name).str.strip_chars().alias(key) for key, source_name in columns.items()],
    ).filter(pl.any_horizontal(pl.col(key).is_not_null() & (pl.col(key) != "") for key in columns))
    if table.is_empty():
        raise RatesError("the rates table has no rows: add one row per date and currency (date, currency, rate)")
    checked = _checked(table)
    return RatesTable(
        tuple(checked["rate_date"].to_list()), tuple(checked["currency"].to_list()),
        tuple(checked["rate"].to_list()), name,
    )


def _bytes(source: Rates, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_RATES_BYTES + 1)
        except OSError as error:
            raise RatesError(f"cannot read the rates table ({error.strerror or error})") from None
        name = name or path.name
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source[: MAX_RATES_BYTES + 1])
    else:
        data = source.read(MAX_RATES_BYTES + 1)
        name = name or str(getattr(source, "name", "") or "")
    if len(data) > MAX_RATES_BYTES:
        raise RatesError(f"the rates table is larger than {MAX_RATES_BYTES // 1024**2} MB: keep the dates and "
                         "currencies of your orders only")
    return data, (name or "rates table")


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise RatesError("the rates table is not a text (CSV) file: save it as CSV with columns date, currency, rate")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _parse(text: str) -> pl.DataFrame:
    header = text.lstrip().split("\n", 1)[0]
    separator = max((",", ";", "\t", "|"), key=header.count)
    try:
        return pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False, truncate_ragged_lines=True)
    except Exception as error:  # noqa: BLE001 - any parser failure means the same to the user
        raise RatesError("the rates table could not be read as CSV: save it as CSV with columns date, currency, "
                         "rate") from error


def _columns(names: list[str]) -> dict[str, str]:
    """Rates column -> source column, by the accepted header names."""
    normal = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in names}
    found = {}
    for key, accepted in HEADERS.items():
        match = next((normal[word] for word in accepted if word in normal), None)
        if match is None:
            shown = ", ".join(name[:20] for name in names[:5])
            raise RatesError(f"the rates table needs columns date, currency and rate (found: {shown[:80]})")
        found[key] = match
    return found


def _checked(table: pl.DataFrame) -> pl.DataFrame:
    """rate_date, currency, rate (decimal text) after every row check; raises on the first bad row."""
    parsed = table.with_columns(
        _date_expr().alias("rate_date"),
        pl.col("currency").str.to_uppercase().alias("currency"),
        pl.col("rate").str.replace(",", ".").str.strip_prefix("+").alias("rate_text"),
    )
    is_number = pl.col("rate").str.contains(_RATE).fill_null(False)
    parsed = parsed.with_columns(
        pl.when(is_number).then(pl.col("rate_text")).str.to_decimal(scale=RATE_SCALE).alias("rate_value"),
    )
    _first_bad(parsed, pl.col("rate_date").is_null(),
               lambda row: f"unknown date {_shown(row['date'])} (write dates as YYYY-MM-DD)")
    _first_bad(parsed, ~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(False),
               lambda row: f"currency {_shown(row['currency'])} is not a 3-letter code like USD")
    negative = pl.col("rate").str.contains(r"^-\s*\d").fill_null(False)
    _first_bad(parsed, negative | (is_number & (pl.col("rate_value") <= 0)),
               lambda row: f"rate {_shown(row['rate'])} is not positive (rate = units of the reporting currency "
                           "per 1 unit of the currency)")
    _first_bad(parsed, ~is_number, lambda row: f"rate {_shown(row['rate'])} is not a number (write e.g. 0.9123)")
    _first_bad(parsed, pl.col("rate_value") > MAX_RATE,
               lambda row: f"rate {_shown(row['rate'])} is larger than {MAX_RATE:,.0f}: check the column")
    _first_bad(parsed, ~pl.struct("rate_date", "currency").is_first_distinct(),
               lambda row: f"a second rate for {row['currency']} on {row['rate_date']} (one rate per date and currency)")
    return parsed.select("rate_date", "currency", pl.col("rate_value").cast(pl.String).alias("rate"))


def _date_expr() -> pl.Expr:
    parts = pl.col("date").str.extract_groups(_DATE.pattern)
    year, month, day = (parts.struct[i].cast(pl.Int32, strict=False) for i in range(3))
    valid = year.is_between(1900, 2200) & month.is_between(1, 12) & day.is_between(1, 31)
    text = pl.format("{}-{}-{}", year, month.cast(pl.String).str.zfill(2), day.cast(pl.String).str.zfill(2))
    return pl.when(valid).then(text).str.to_date("%Y-%m-%d", strict=False)


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, message) -> None:
    hit = frame.filter(bad.fill_null(False)).head(1)
    if hit.height:
        row = hit.row(0, named=True)
        raise RatesError(f"rates row {row['row']}: {message(row)}")


def _shown(value: object) -> str:
    text = "" if value is None else str(value)
    return "(empty)" if not text else repr(text if len(text) <= 24 else text[:23] + "…")


# ---------------------------------------------------------------- conversion


def convert_orders(frame: pl.DataFrame, rates: RatesTable, reporting: str, currency: str = "__currency",
                   date: str = "order_date", max_amount: float = 1e12) -> pl.DataFrame:
    """Convert each order's money columns to ``reporting`` with the rate in force on its date.

    Parameters
    ----------
    frame
        Orders with a ``currency`` column (code per row, null = unknown), the
        order ``date`` and any of :data:`MONEY_COLUMNS`.
    rates
        The checked rates table.
    reporting
        The currency amounts are reported in (rate 1: its amounts are kept as they are).
    max_amount
        Amounts beyond this (or not finite) are left as they are, for the range check to reject.

    Returns
    -------
    pl.DataFrame
        ``frame`` in the same order with money converted where a rate applies, plus
        ``__fx_rate`` (Decimal; 1 in the reporting currency, null without a rate),
        ``__fx_date`` (the date of the rate used) and ``__no_rate`` (True where a
        foreign-currency order with a date and an amount has no rate on or before its date).
    """
    table = rates.frame().filter(pl.col("currency") != reporting).rename({"currency": "__fx_currency"})
    indexed = frame.with_row_index("__fx_row")
    code, when = pl.col(currency), pl.col(date)
    foreign = code.is_not_null() & (code != reporting)
    wanted = (
        indexed.filter(foreign & when.is_not_null())
        .select("__fx_row", code.alias("__fx_currency"), when.alias("__fx_order_date"))
        .sort("__fx_order_date")
    )
    matched = wanted.join_asof(
        table, left_on="__fx_order_date", right_on="rate_date", by="__fx_currency", strategy="backward",
        check_sortedness=False,  # both sides are sorted by date above; Polars cannot check it per group
    ).select("__fx_row", pl.col("rate").alias(FX_RATE), pl.col("rate_date").alias(FX_DATE))
    joined = indexed.join(matched, on="__fx_row", how="left", maintain_order="left")
    one = pl.lit(1).cast(pl.Decimal(38, RATE_SCALE))
    joined = joined.with_columns(pl.when(code == reporting).then(one).otherwise(pl.col(FX_RATE)).alias(FX_RATE))
    converted = []
    for column in (name for name in MONEY_COLUMNS if name in frame.columns):
        value = pl.col(column).cast(pl.Float64)
        readable = value.is_finite() & (value.abs() <= max_amount)
        product = (value.cast(pl.Decimal(38, 6)) * pl.col(FX_RATE)).round(2, mode="half_away_from_zero")
        converted.append(
            pl.when(foreign & pl.col(FX_RATE).is_not_null() & readable.fill_null(False))
            .then(product.cast(pl.Float64)).otherwise(value).alias(column)
        )
    amount = pl.col("amount") if "amount" in frame.columns else pl.lit(None)
    no_rate = foreign & when.is_not_null() & amount.is_not_null() & pl.col(FX_RATE).is_null()
    return joined.with_columns(*converted, no_rate.fill_null(False).alias(NO_RATE)).drop("__fx_row")


def no_rate_reason(currency: str = "__currency", date: str = "order_date") -> pl.Expr:
    """The reject reason of an order without a rate: ``no exchange rate for USD on 2024-01-03``."""
    return pl.format("no exchange rate for {} on {}", pl.col(currency), pl.col(date).dt.to_string("%Y-%m-%d"))


def convert_lines(lines: pl.DataFrame | None, orders: pl.DataFrame, reporting: str, currency: str = "__currency",
                  order_line: str = "__order_line", line: str = "__line") -> pl.DataFrame | None:
    """Line items with ``line_amount`` converted at their order's rate (see :func:`convert_orders`)."""
    if lines is None or "line_amount" not in lines.columns or FX_RATE not in orders.columns:
        return lines
    rates = orders.select(pl.col(line).alias(order_line), pl.col(currency).alias("__fx_currency"), FX_RATE)
    joined = lines.join(rates, on=order_line, how="left", maintain_order="left")
    foreign = pl.col("__fx_currency").is_not_null() & (pl.col("__fx_currency") != reporting)
    value = pl.col("line_amount")
    product = (value.cast(pl.Decimal(38, 6), strict=False) * pl.col(FX_RATE)).round(2, mode="half_away_from_zero")
    usable = foreign & pl.col(FX_RATE).is_not_null() & value.is_finite().fill_null(False)
    converted = pl.when(usable).then(product.cast(pl.Float64)).otherwise(value).alias("line_amount")
    return joined.with_columns(converted).drop("__fx_currency", FX_RATE)


def conversion_summary(kept: pl.DataFrame, reporting: str, currency: str = "__currency") -> dict[str, dict[str, object]]:
    """Per converted currency: kept orders, distinct rate dates used, first and last rate date (ISO)."""
    if FX_RATE not in kept.columns:
        return {}
    used = (
        kept.filter(pl.col(currency).is_not_null() & (pl.col(currency) != reporting) & pl.col(FX_RATE).is_not_null())
        .group_by(currency)
        .agg(pl.len().alias("orders"), pl.col(FX_DATE).n_unique().alias("rate_dates"),
             pl.col(FX_DATE).min().alias("first"), pl.col(FX_DATE).max().alias("last"))
        .sort(["orders", currency], descending=[True, False])
    )
    return {
        row[currency]: {"orders": row["orders"], "rate_dates": row["rate_dates"],
                        "first_rate_date": row["first"].isoformat(), "last_rate_date": row["last"].isoformat()}
        for row in used.iter_rows(named=True)
    }


def conversion_sentence(used: dict[str, dict[str, object]], reporting: str) -> str:
    """``Amounts converted to EUR with your rates table (120 orders in USD, 30 in GBP).``"""
    parts = [f"{info['orders']:,} orders in {code}" if i == 0 else f"{info['orders']:,} in {code}"
             for i, (code, info) in enumerate(used.items())]
    return f"Amounts converted to {reporting} with your rates table ({', '.join(parts)})."
