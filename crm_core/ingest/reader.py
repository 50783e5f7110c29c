"""The reader: ties the ingest stages together into ``read_orders`` and ``read_side_table``.

``read_orders(source)`` accepts a path, the file's bytes or an uploaded
file object, in CSV/TSV/TXT (any of ``, ; tab |`` or runs of spaces),
gzip/zip-compressed CSV, Parquet or Excel. It sniffs the encoding, delimiter,
header row, number format and date format; maps columns by name (or by a
vendor preset: Shopify, Stripe, HubSpot, Salesforce, WooCommerce, UCI Online
Retail, CDNOW); parses everything with vectorised Polars expressions; and
returns the valid rows plus an :class:`IngestReport` listing every rejected
row with its line number, raw text and a short reason. See docs/ingest.md.

Only :class:`IngestError` escapes: its message tells the user what to do.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Callable, Union

import numpy as np
import polars as pl

from crm_core.ingest import source as ingest_source
from crm_core.ingest.columns import (
    DATE, ID, MONTH, NUMBER, ORDER_ROLES, SIDE_REQUIRED, SIDE_ROLES, TEXT, Role, bracket_currency,
    name_candidates, resolve_user_column,
)
from crm_core.ingest.errors import IngestError
from crm_core.ingest.parse import (
    MONTH_FORMATS, as_text, clean_number, currency_mark_expr, date_expr, id_expr, month_expr, number_expr,
    present, second_chance_date, second_chance_number, text_expr,
)
from crm_core.ingest.presets import (
    BY_NAME, EXTRA_KINDS, LINE_ROLES, RULE, Preset, bad, detect_preset, finish_orders, flag, kept_lines,
    merged_lines_note,
)
from crm_core.ingest.sniff import (
    DateFormat, NumberFormat, date_tokens, format_label, is_day_first, parse_date_series, sniff_date_format,
    sniff_number_format, user_date_format,
)
from crm_core.ingest.source import LINE, RawTable, open_table
from crm_core.schema import SIDE_TABLE_SCHEMAS, TRANSACTION_SCHEMA

__all__ = [
    "IngestError", "IngestReport", "ColumnMapping", "ReadOptions", "read_orders", "read_side_table",
    "MAX_DECOMPRESSED_BYTES", "REASONS",
]

#: Default limit on what a compressed upload may expand to (see ``ingest_source``).
MAX_DECOMPRESSED_BYTES = ingest_source.MAX_DECOMPRESSED_BYTES
#: Raw text is kept for at most this many rejected rows (line and reason for all).
MAX_RAW_REJECTED = 1_000_000

#: Every reject reason, as it appears in ``IngestReport.rejected['reason']``.
REASONS = (
    "empty row", "missing customer id", "missing date", "unparseable date", "missing amount",
    "unparseable amount", "other currency", "cancelled order", "payment not paid", "payment refunded", "deal not won",
    "order not completed", "missing month", "unparseable month", "missing spend", "unparseable spend",
)

Source = Union[str, Path, bytes, bytearray, memoryview, IO[bytes]]


@dataclass(frozen=True)
class ColumnMapping:
    """Source column name for each canonical column (None = detect).

    ``unit_price`` makes amount = quantity x unit price when no amount column
    is given; ``currency`` names a column holding each row's currency code.
    """

    customer_id: str | None = None
    order_date: str | None = None
    amount: str | None = None
    order_id: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    channel: str | None = None
    region: str | None = None
    category: str | None = None
    cost: str | None = None
    days_late: str | None = None
    currency: str | None = None
    product: str | None = None
    sku: str | None = None
    discount_code: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """User overrides of what sniffing would detect (None = detect).

    Attributes
    ----------
    encoding
        e.g. ``utf-8``, ``utf-16``, ``cp1252``.
    delimiter
        One character (``,`` ``;`` ``\\t`` ``|``) or ``whitespace``.
    decimal, thousands
        Decimal mark (``.`` or ``,``) and thousands separator of amounts.
    date_format
        strftime (``%d/%m/%Y``) or a label (``DD/MM/YYYY``); times are ignored.
    preset
        shopify, stripe, hubspot, salesforce, woocommerce, online_retail,
        cdnow, or ``none`` to switch preset detection off.
    currency
        Keep only rows in this currency (others rejected: "other currency").
    sheet
        Excel sheet name (default: the sheet that looks like orders).
    has_header
        Whether the first row holds column names.
    revenue_definition
        ``net_sales`` (default) or ``total``: what revenue means where the
        export offers both (Shopify: Subtotal net of refunds, or Total with
        shipping and taxes). See docs/ingest.md, "Revenue definitions".
    """

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    preset: str | None = None
    thousands: str | None = None
    currency: str | None = None
    sheet: str | None = None
    has_header: bool | None = None
    revenue_definition: str | None = None


def _empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema={"line": pl.Int64, "raw": pl.String, "reason": pl.String})


@dataclass
class IngestReport:
    """What happened while reading a file.

    Invariant: ``rows_read == rows_valid + rows_rejected``. ``rejected`` has
    one row per rejected row: ``line`` (1-based line in the file, header =
    line 1; the spreadsheet row number for Excel), ``raw`` (the row's text)
    and ``reason`` (a short stable phrase, see :data:`REASONS`).
    ``duplicate_rows`` counts valid rows identical to an earlier valid row
    (kept); ``negative_amount_rows`` counts valid rows with a negative amount
    (kept as returns). ``detected`` holds the sniffed settings and the column
    mapping (canonical -> source column); ``warnings`` are plain sentences.
    """

    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rejected: pl.DataFrame = field(default_factory=_empty_rejected)
    duplicate_rows: int = 0
    negative_amount_rows: int = 0
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Data lines in the file (line items before merging them into orders).
    source_lines: int = 0
    #: One row per line item of the kept orders (product, sku, ...; see presets.kept_lines), or None.
    lines: pl.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (rejected rows excluded; store them as Parquet)."""
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": self.rejected_by_reason(),
            "duplicate_rows": self.duplicate_rows,
            "negative_amount_rows": self.negative_amount_rows,
            "detected": self.detected,
            "warnings": self.warnings,
            "source_lines": self.source_lines,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], rejected: pl.DataFrame | None = None) -> "IngestReport":
        known = {k: data[k] for k in ("rows_read", "rows_valid", "rows_rejected", "duplicate_rows",
                                      "negative_amount_rows", "detected", "warnings", "source_lines") if k in data}
        report = cls(**known)
        if rejected is not None:
            report.rejected = rejected
        return report

    def rejected_by_reason(self) -> dict[str, int]:
        """Number of rejected rows per reason, most frequent first."""
        counts = self.rejected.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))

    def reasons_table(self) -> pl.DataFrame:
        """reason, rows: the rejected rows counted per reason, most frequent first."""
        by_reason = self.rejected_by_reason()
        return pl.DataFrame({"reason": list(by_reason), "rows": list(by_reason.values())},
                            schema={"reason": pl.String, "rows": pl.Int64})

    def detected_table(self) -> pl.DataFrame:
        """setting, detected: what sniffing found, one line per setting (mappings flattened)."""
        rows = []
        for key, value in self.detected.items():
            if isinstance(value, dict):
                rows += [(f"{key}: {sub}", str(item)) for sub, item in value.items()]
            elif isinstance(value, list):
                rows.append((key, ", ".join(map(str, value))))
            else:
                rows.append((key, str(value)))
        return pl.DataFrame(rows, schema={"setting": pl.String, "detected": pl.String}, orient="row")


# ---------------------------------------------------------------- public entry points


def read_orders(
    source: Source,
    mapping: ColumnMapping | None = None,
    options: ReadOptions | None = None,
    *,
    filename: str | None = None,
) -> tuple[pl.LazyFrame, IngestReport]:
    """Read an order export.

    Parameters
    ----------
    source
        A path, the file's bytes, or a binary file object (e.g. a Streamlit
        upload; its ``.name`` is used as the file name hint).
    mapping
        Columns chosen by the user (others are detected).
    options
        Settings chosen by the user (others are detected).
    filename
        File name hint for bytes/uploads (its extension helps detection).

    Returns
    -------
    tuple[pl.LazyFrame, IngestReport]
        Canonical transactions (customer_id String, order_date Date, amount
        Float64, plus the optional columns found) and the report.

    Raises
    ------
    IngestError
        When the file cannot be used; the message says what to do.
    """
    mapping = mapping or ColumnMapping()
    options = options or ReadOptions()
    return _guarded(lambda: _quote_fallback(lambda quote: _read_orders(source, mapping, options, filename, quote)))


def read_side_table(
    source: Source,
    kind: str,
    options: ReadOptions | None = None,
    *,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
) -> tuple[pl.LazyFrame, IngestReport]:
    """Read a side table: ``customers``, ``interactions`` or ``marketing_spend``.

    Same sniffing and name matching as :func:`read_orders`; ``mapping`` maps
    canonical column names (see :mod:`crm_core.schema`) to source columns.
    Returns the canonical frame and its report.
    """
    if kind not in SIDE_TABLE_SCHEMAS:
        raise IngestError(f"Unknown table kind '{kind}'. Use one of: {', '.join(SIDE_TABLE_SCHEMAS)}.")
    options = options or ReadOptions()
    return _guarded(lambda: _quote_fallback(lambda quote: _read_side(source, kind, options, mapping or {}, filename, quote)))


def _guarded(read: Callable[[], Any]) -> Any:
    """Run ``read``; turn anything unexpected into one IngestError."""
    try:
        return read()
    except IngestError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - Polars panics derive from BaseException
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise IngestError(
            f"This file could not be read ({detail}). Check that it opens in a spreadsheet program, "
            "then export it again as CSV (UTF-8) or Excel (.xlsx)."
        ) from error


_PASS_THROUGH = (IngestError, KeyboardInterrupt, SystemExit, GeneratorExit)


def _quote_fallback(read: Callable[[bool], Any]) -> Any:
    """Read normally; if the CSV parser chokes (typically on an unbalanced quote,
    as in ``12" vinyl``), read again with quotes as ordinary characters."""
    try:
        return read(True)
    except _PASS_THROUGH:
        raise
    except BaseException as first:  # noqa: BLE001 - Polars panics derive from BaseException
        try:
            result = read(False)
        except _PASS_THROUGH:
            raise
        except BaseException:  # noqa: BLE001
            raise first from None
        result[1].warnings.append(
            'The file has unbalanced quote characters ("), so quotes were read as ordinary characters. '
            "Check rows whose values contain the delimiter."
        )
        return result


# ---------------------------------------------------------------- orders


def _order_sheet_score(columns: list[str]) -> int:
    core = [r for r in ORDER_ROLES if r.key in ("customer_id", "order_date", "amount", "unit_price")]
    return sum(bool(name_candidates(role, columns, set())) for role in core)


def _read_orders(source: Source, mapping: ColumnMapping, options: ReadOptions, filename: str | None, quote: bool):
    with _open(source, options, filename, _order_sheet_score, quote) as table:
        preset = _choose_preset(table, options)
        user = {f.name: getattr(mapping, f.name) for f in fields(mapping) if getattr(mapping, f.name)}
        roles = list(ORDER_ROLES) + list(LINE_ROLES)
        roles += [Role(key, kind, key.replace("_", " "), ()) for key, kind in EXTRA_KINDS.items()]
        plan = _Plan(table, options, preset)
        plan.map_columns(roles, user)
        plan.require_orders()
        plan.sniff_values()
        parsed = plan.parse()
        parsed, lines, revenue = finish_orders(preset, parsed, options.revenue_definition)
        plan.detected.update(revenue)
        if preset and preset.name == "shopify":
            plan.detected["source_rows"] = plan.source_rows
        parsed = plan.check_currencies(parsed)
        canonical = [c for c in TRANSACTION_SCHEMA if c in parsed.columns]
        keep, reason = _order_checks(parsed)
        if plan.source_rows != parsed.height:
            plan.warnings.insert(0, merged_lines_note(plan.source_rows, parsed.height))
        valid, report = plan.finish(parsed, keep, reason, canonical, TRANSACTION_SCHEMA, what="orders")
        report.source_lines, report.lines = plan.source_rows, kept_lines(lines, parsed, keep)
        return valid, report


def _order_checks(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """(row is kept, why it is not): business rule, currency, then missing or unreadable values."""
    rule = pl.col(RULE) if RULE in frame.columns else pl.lit(None, pl.String)
    other = pl.col("__other_currency").fill_null(False) if "__other_currency" in frame.columns else pl.lit(False)
    customer, date, amount = pl.col("customer_id"), pl.col("order_date"), pl.col("amount")
    keep = rule.is_null() & ~other & customer.is_not_null() & date.is_not_null() & amount.is_not_null()
    bad_date, bad_amount = flag(frame, "order_date"), flag(frame, "amount")
    nothing = customer.is_null() & date.is_null() & amount.is_null() & ~bad_date & ~bad_amount
    reason = (
        pl.when(nothing).then(pl.lit("empty row"))  # also report footers ("Grand Totals", copyright lines)
        .when(rule.is_not_null()).then(rule)
        .when(other).then(pl.lit("other currency"))
        .when(customer.is_null()).then(pl.lit("missing customer id"))
        .when(date.is_null() & bad_date).then(pl.lit("unparseable date"))
        .when(date.is_null()).then(pl.lit("missing date"))
        .when(amount.is_null() & bad_amount).then(pl.lit("unparseable amount"))
        .otherwise(pl.lit("missing amount"))
    )
    return keep, reason


def _choose_preset(table: RawTable, options: ReadOptions) -> Preset | None:
    wanted = (options.preset or "").strip().lower().replace(" ", "_").replace("-", "_")
    if wanted in ("none", "generic", "off"):
        return None
    if wanted and wanted != "auto":
        aliases = {"uci": "online_retail", "onlineretail": "online_retail", "online_retail_ii": "online_retail",
                   "woo": "woocommerce", "sfdc": "salesforce"}
        preset = BY_NAME.get(aliases.get(wanted, wanted))
        if preset is None:
            raise IngestError(f"Unknown preset '{options.preset}'. Use one of: {', '.join(BY_NAME)} (or none).")
        return preset
    return detect_preset(table.columns, table.sample, bool(table.detected.get("header", True)))


# ---------------------------------------------------------------- side tables


def _read_side(
    source: Source, kind: str, options: ReadOptions, mapping: dict[str, str], filename: str | None, quote: bool
):
    roles = list(SIDE_ROLES[kind])
    required = SIDE_REQUIRED[kind]

    def score(columns: list[str]) -> int:
        return sum(bool(name_candidates(r, columns, set())) for r in roles if r.key in required)

    with _open(source, options, filename, score, quote) as table:
        plan = _Plan(table, options, None)
        plan.map_columns(roles, {k: v for k, v in mapping.items() if v})
        for key in required:
            if key not in plan.columns:
                role = next(r for r in roles if r.key == key)
                raise IngestError(_missing_message(role, table.columns, kind))
        plan.sniff_values()
        parsed = plan.parse()
        keep = pl.all_horizontal([pl.col(key).is_not_null() for key in required])
        reason = pl.lit("empty row")
        for key in reversed(required):
            word = {"customer_id": "customer id", "interaction_date": "date", "month": "month", "spend": "spend"}[key]
            reason = pl.when(pl.col(key).is_null() & flag(parsed, key)).then(pl.lit(f"unparseable {word}")).when(
                pl.col(key).is_null()).then(pl.lit(f"missing {word}")).otherwise(reason)
        if "csat" in parsed.columns:
            outside = parsed.filter(pl.col("csat").is_not_null() & ~pl.col("csat").is_between(1, 5)).height
            if outside:
                plan.warnings.append(
                    f"{_rows(outside).replace('row', 'satisfaction score')} outside 1-5 and were left blank. "
                    "Check the CSAT column."
                )
                parsed = parsed.with_columns(pl.when(pl.col("csat").is_between(1, 5)).then(pl.col("csat")).alias("csat"))
        schema = SIDE_TABLE_SCHEMAS[kind]
        canonical = [c for c in schema if c in parsed.columns]
        return plan.finish(parsed, keep, reason, canonical, schema, what=kind.replace("_", " "))


# ---------------------------------------------------------------- shared machinery


def _open(source: Source, options: ReadOptions, filename: str | None, score: Callable[[list[str]], int], quote: bool):
    delimiter = options.delimiter
    if delimiter in ("tab", "\\t", "TAB"):
        delimiter = "\t"
    if delimiter in ("space", "spaces", "whitespace"):
        delimiter = "whitespace"
    return open_table(
        source, encoding=options.encoding, delimiter=delimiter, has_header=options.has_header,
        sheet=options.sheet, filename=filename, sheet_score=score, quote=quote,
    )


def _missing_message(role: Role, columns: list[str], what: str = "orders") -> str:
    shown = ", ".join(columns[:30]) + (f" (and {len(columns) - 30} more)" if len(columns) > 30 else "")
    article = "an" if role.label[0] in "aeiou" else "a"
    extra = " (or a quantity and a unit price)" if role.key == "amount" else ""
    flag = f" (CLI: {role.flag} COL)" if role.flag else ""
    return (
        f"No column looks like {article} {role.label}{extra}. Columns found: {shown}. "
        f"Pick the {role.label} column in 'Column mapping'{flag}."
    )


class _Plan:
    """Decisions about one table: which column plays which role, and how to parse it."""

    def __init__(self, table: RawTable, options: ReadOptions, preset: Preset | None) -> None:
        self.table = table
        self.options = options
        self.preset = preset
        self.columns: dict[str, str] = {}  # role -> source column
        self.kinds: dict[str, str] = {}
        self.detected: dict[str, Any] = dict(table.detected)
        self.warnings: list[str] = list(table.warnings)
        self.number = NumberFormat()
        self.dates: dict[str, DateFormat | None] = {}
        self.months: dict[str, str] = {}
        self.id_flags: dict[str, tuple[bool, bool]] = {}
        self.currency_marks = False
        self.header_currency: str | None = None
        self.source_rows = 0
        self.bad_examples: dict[str, str] = {}
        self._date_cache: dict[tuple[str, bool], DateFormat | None] = {}
        self.detected["preset"] = preset.name if preset else None
        self.schema = table.frame.collect_schema()

    # -------------------------------------------------------- mapping

    def map_columns(self, roles: list[Role], user: dict[str, str]) -> None:
        columns = self.table.columns
        used: set[str] = set()
        for role in roles:  # the user's choices first, so detection does not take them
            if role.key in user:
                found = resolve_user_column(user[role.key], columns)
                if found is None:
                    shown = ", ".join(columns[:30])
                    raise IngestError(
                        f"Column '{user[role.key]}' (chosen for the {role.label}) is not in the file. "
                        f"Columns found: {shown}. Check the spelling in 'Column mapping'."
                    )
                self._assign(role, found, used)
        headerless = not self.detected.get("header", True)
        for role in roles:
            if role.key in self.columns:
                continue
            if self.preset and role.key in self.preset.columns:
                names = self.preset.columns[role.key]
                plain = Role(role.key, role.kind, role.label, names)
                found = next(iter(name_candidates(plain, columns, used, names)), None) if names else None
            elif role.key in EXTRA_KINDS or headerless:
                found = None
            elif role.key == "amount" and "unit_price" in user and "amount" not in user:
                found = None  # the user asked for quantity x unit price
            else:
                found = self._first_valid(role, columns, used)
            if found is not None:
                self._assign(role, found, used)
        if headerless and not self.preset:
            self._map_by_content(roles, used)
        self.detected["columns"] = {k: v for k, v in self.columns.items() if k not in EXTRA_KINDS}

    def _assign(self, role: Role, column: str, used: set[str]) -> None:
        self.columns[role.key] = column
        self.kinds[role.key] = role.kind
        used.add(column)

    def _values(self, column: str) -> pl.Series:
        values = self.table.sample.get_column(column).drop_nulls().str.strip_chars()
        return values.filter(values.str.len_bytes() > 0)

    def _dtype(self, column: str) -> pl.DataType:
        return self.schema[column]

    def _first_valid(self, role: Role, columns: list[str], used: set[str]) -> str | None:
        """The first candidate whose values fit the role; else the first exact name match
        (its bad values are then rejected row by row, with reasons)."""
        exact = name_candidates(role, columns, used, fuzzy=False)
        for column in name_candidates(role, columns, used):
            if self._fits(role.kind, column):
                return column
        return exact[0] if exact else None

    def _fits(self, kind: str, column: str, threshold: float = 0.5) -> bool:
        """Do the sampled values of ``column`` look like ``kind``?"""
        dtype = self._dtype(column)
        values = self._values(column)
        if kind in (ID, TEXT):
            return True
        if values.is_empty():
            return threshold < 0.9  # nothing to contradict a name match
        if kind in (DATE, MONTH):
            if dtype == pl.Date or isinstance(dtype, pl.Datetime):
                return True
            found = self._sniffed_date(column)
            if found is None and kind == MONTH:
                return _month_format(values) is not None
            return found is not None and found.rate >= threshold
        if kind == NUMBER:
            if dtype.is_numeric():
                return True
            parsed = pl.DataFrame({"v": values}).select(clean_number(pl.col("v"), _guess_decimal(values))).to_series()
            return parsed.is_not_null().mean() >= threshold
        return True

    def _sniffed_date(self, column: str, day_first_hint: bool = False) -> DateFormat | None:
        """Date format of a column's sample (cached: sniffing tries every format)."""
        key = (column, day_first_hint)
        if key not in self._date_cache:
            self._date_cache[key] = sniff_date_format(self._values(column), day_first_hint, min_rate=0.05)
        return self._date_cache[key]

    def _map_by_content(self, roles: list[Role], used: set[str]) -> None:
        """Headerless files: guess date, amount and customer columns from their values."""
        free = [c for c in self.table.columns if c not in used]
        by_key = {r.key: r for r in roles}
        if "order_date" in by_key and "order_date" not in self.columns:
            date = next((c for c in free if self._fits(DATE, c, 0.9)), None)
            if date:
                self._assign(by_key["order_date"], date, used)
        numeric = [c for c in self.table.columns if c not in used and self._fits(NUMBER, c, 0.9)]
        if "amount" in by_key and "amount" not in self.columns and numeric:
            decimals = [c for c in numeric if self._values(c).str.contains(r"[.,]\d{1,2}$").any()]
            self._assign(by_key["amount"], (decimals or numeric)[-1], used)
        if "customer_id" in by_key and "customer_id" not in self.columns:
            rest = [c for c in self.table.columns if c not in used]
            if rest:
                self._assign(by_key["customer_id"], rest[0], used)
        if "quantity" in by_key and "quantity" not in self.columns:
            counts = [c for c in self.table.columns if c not in used and self._fits(NUMBER, c, 0.9)]
            if counts:
                self._assign(by_key["quantity"], counts[0], used)
        if self.columns:
            pairs = ", ".join(f"{k}: {v}" for k, v in self.columns.items())
            self.warnings.append(f"The file has no header row; columns were guessed from their values ({pairs}).")
        self.detected["columns"] = dict(self.columns)

    def require_orders(self) -> None:
        roles = {r.key: r for r in ORDER_ROLES}
        for key in ("customer_id", "order_date"):
            if key not in self.columns:
                raise IngestError(_missing_message(roles[key], self.table.columns))
        if "amount" not in self.columns and not ("quantity" in self.columns and "unit_price" in self.columns):
            raise IngestError(_missing_message(roles["amount"], self.table.columns))
        if "amount" not in self.columns:
            self.detected["columns"]["amount"] = f"{self.columns['quantity']} x {self.columns['unit_price']}"

    # -------------------------------------------------------- value formats

    def sniff_values(self) -> None:
        options = self.options
        delimiter = self.detected.get("delimiter")
        numeric = [c for k, c in self.columns.items() if self.kinds[k] == NUMBER and _is_text(self._dtype(c))]
        values = pl.concat([self._values(c).head(500) for c in numeric]) if numeric else pl.Series([], dtype=pl.String)
        first = sniff_number_format(values.to_list(), european_hint=delimiter == ";")
        day_first_hint = delimiter == ";" or (first.decimal == "," and not first.ambiguous)
        if self.preset and self.preset.month_first is not None:
            day_first_hint = not self.preset.month_first
        for key, column in self.columns.items():
            if self.kinds[key] == DATE:
                self.dates[key] = self._date_format(key, column, day_first_hint)
            elif self.kinds[key] == MONTH:
                self.months[key] = _month_format(self._values(column)) or "%Y-%m"
                self.detected.update(month_format=self.months[key], month_format_label=format_label(self.months[key]))
        main_date = next((d for d in self.dates.values() if d is not None), None)
        european = delimiter == ";" or bool(main_date and is_day_first(main_date.fmt) and not main_date.ambiguous)
        self.number = sniff_number_format(values.to_list(), european_hint=european)
        if options.decimal or options.thousands:
            decimal = options.decimal or self.number.decimal
            thousands = options.thousands or ("." if decimal == "," else self.number.thousands)
            plain = self.number.plain and decimal == "." and options.thousands is None
            self.number = NumberFormat(decimal, thousands, plain, self.number.currency_marks, False)
        elif self.number.ambiguous and not values.is_empty():
            self.warnings.append(
                f"Amounts like '{values[0]}' could use '{self.number.decimal}' as decimal mark or as thousands "
                f"separator; read with '{self.number.decimal}' as decimal mark. If that's wrong, set the decimal mark "
                f"(CLI: --decimal {',' if self.number.decimal == '.' else '.'})."
            )
        self.detected.update(decimal=self.number.decimal, thousands=self.number.thousands)
        for key, column in self.columns.items():
            if self.kinds[key] == ID and _is_text(self._dtype(column)):
                sample = self._values(column)
                self.id_flags[key] = (
                    bool(sample.str.contains(r"^\d+\.0+$").any()),
                    bool(sample.str.contains("@", literal=True).any()),
                )
        amount = self.columns.get("amount")
        if amount is not None:
            self.currency_marks = _is_text(self._dtype(amount)) and self.number.currency_marks
            self.header_currency = bracket_currency(amount)

    def _date_format(self, key: str, column: str, day_first_hint: bool) -> DateFormat | None:
        dtype = self._dtype(column)
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            self.detected.update(date_format="native", date_ambiguous=False)
            return None
        values = self._values(column)
        if self.options.date_format:
            fmt = user_date_format(self.options.date_format)
            chosen = DateFormat(fmt, tail=True)
            if not values.is_empty():
                rate = parse_date_series(date_tokens(values), fmt).is_not_null().mean()
                if rate < 0.5:
                    self.warnings.append(
                        f"Only {rate:.0%} of the sampled dates match the date format you gave ({self.options.date_format}); "
                        "the others will be rejected as 'unparseable date'."
                    )
        else:
            chosen = self._sniffed_date(column, day_first_hint)
            if chosen is None:
                if values.is_empty():
                    chosen = DateFormat("%Y-%m-%d", tail=True)
                else:
                    example = values[0]
                    raise IngestError(
                        f"The values of column '{column}' (used as the {key.replace('_', ' ')}) do not look like dates, "
                        f"e.g. '{example}'. Pick the date column in 'Column mapping' (CLI: --date COL) or give the "
                        "date format (CLI: --date-format %d/%m/%Y)."
                    )
            if chosen.ambiguous and not self.table.complete:
                chosen = self._settle_ambiguity(column, chosen)
        self.detected.update(
            date_format=chosen.fmt, date_format_label=format_label(chosen.fmt), date_ambiguous=chosen.ambiguous
        )
        if chosen.ambiguous:
            order = "day-first" if is_day_first(chosen.fmt) else "month-first"
            style = "European style" if order == "day-first" else "US style"
            self.warnings.append(
                f"Dates such as '{values[0]}' could be day-first or month-first and no value decides it; they were "
                f"read as {order} ({format_label(chosen.fmt)}, {style}). If that's wrong, set the date format "
                f"(CLI: --date-format {chosen.alternative})."
            )
        return chosen

    def _settle_ambiguity(self, column: str, chosen: DateFormat) -> DateFormat:
        """Day/month undecided in the sample: count failures of both orders over the whole column."""
        dtype = self._dtype(column)
        tokens = as_text(column, dtype).str.strip_chars().str.replace(r"[T\s].*$", "")
        counts = self.table.frame.select(
            tokens.str.to_date(chosen.fmt, strict=False).null_count().alias("a"),
            tokens.str.to_date(chosen.alternative, strict=False).null_count().alias("b"),
        ).collect(engine="streaming").row(0)
        if counts[0] < counts[1]:
            return DateFormat(chosen.fmt, False, None, chosen.rate, chosen.tail, chosen.padded_iso)
        if counts[1] < counts[0]:
            return DateFormat(chosen.alternative, False, None, chosen.rate, chosen.tail, chosen.padded_iso)
        return chosen

    # -------------------------------------------------------- parsing

    def parse(self) -> pl.DataFrame:
        """Parse every mapped column over the whole table (streaming), then retry failures.

        Clean CSV columns (plain numbers, ISO dates, as seen in the sample)
        are parsed by the CSV reader itself, strictly; if any value does not
        fit, the whole table is read again as text and parsed by expressions.
        """
        parsed = None
        fast = self._reader_types()
        if fast and self.table.typed is not None:
            try:
                frame = self.table.typed(fast)
                parsed = frame.select(self._expressions(frame.collect_schema())).collect(engine="streaming")
                self.detected["fast_path"] = True
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - a value the reader rejects: use the text path
                parsed = None
        if parsed is None:
            parsed = self.table.rows().select(self._expressions(self.schema)).collect(engine="streaming")
        line = (pl.col(LINE).cast(pl.Int64) + self.table.first_line).alias(LINE)
        parsed = parsed.with_row_index(LINE).with_columns(line)
        self.source_rows = parsed.height
        return self._second_chance(self._drop_non_finite(parsed))

    def _reader_types(self) -> dict[str, pl.DataType]:
        """Source columns the CSV reader can parse itself: plain numbers and ISO dates."""
        fast: dict[str, pl.DataType] = {}
        for key, column in self.columns.items():
            if not _is_text(self._dtype(column)):
                continue
            if self.kinds[key] == NUMBER and self.number.plain and self.number.decimal == ".":
                fast[column] = pl.Float64
            elif self.kinds[key] == DATE:
                fmt = self.dates.get(key)
                clean = fmt is not None and fmt.rate >= 1.0 and fmt.padded_iso and not fmt.tail
                if clean and fmt.fmt == "%Y-%m-%d":
                    fast[column] = pl.Date
        return fast

    def _expressions(self, schema: pl.Schema) -> list[pl.Expr]:
        expressions: list[pl.Expr] = []
        for key, column in self.columns.items():
            dtype = schema[column]
            kind = self.kinds[key]
            strip = self._needs_strip(column)
            if kind == ID:
                float_ids, emails = self.id_flags.get(key, (False, False))
                expressions.append(id_expr(column, dtype, float_ids, emails, strip).alias(key))
            elif kind == TEXT:
                expressions.append(text_expr(column, dtype, strip).alias(key))
            elif kind == NUMBER:
                expressions.append(number_expr(column, dtype, self.number).alias(key))
            elif kind == DATE:
                expressions.append(date_expr(column, dtype, self.dates.get(key)).alias(key))
            elif kind == MONTH:
                expressions.append(month_expr(as_text(column, dtype), self.months[key]).alias(key))
        if self.currency_marks:
            expressions.append(currency_mark_expr(self.columns["amount"]).alias("__mark"))
        return expressions

    def _needs_strip(self, column: str) -> bool:
        """Trim text only when the sample shows padded or blank values (trimming costs a pass)."""
        if not _is_text(self._dtype(column)):
            return False
        values = self.table.sample.get_column(column).drop_nulls()
        return bool(values.str.contains(r"^\s|\s$").any())

    def _checked(self) -> list[str]:
        return [key for key, kind in self.kinds.items() if kind in (NUMBER, DATE, MONTH)]

    def _drop_non_finite(self, parsed: pl.DataFrame) -> pl.DataFrame:
        """NaN and infinities are not amounts: null them (the re-read marks them unreadable)."""
        numbers = [k for k, kind in self.kinds.items() if kind == NUMBER]
        broken = [k for k in numbers if (parsed.get_column(k).is_nan() | parsed.get_column(k).is_infinite()).any()]
        if not broken:
            return parsed
        return parsed.with_columns([pl.when(pl.col(k).is_finite()).then(pl.col(k)).alias(k) for k in broken])

    def _second_chance(self, parsed: pl.DataFrame) -> pl.DataFrame:
        """Re-read the source text of the rows whose values did not parse (usually few).

        Values written unusually (padded, with a time, a currency sign, ...)
        get a thorough parse; values still unreadable set ``__bad_<role>``,
        so the row's reason says "unparseable" rather than "missing".
        """
        checked = [k for k in self._checked() if parsed.get_column(k).null_count()]
        if not checked:
            return parsed
        failed = parsed.with_row_index("__pos").filter(pl.any_horizontal([pl.col(k).is_null() for k in checked]))
        retried = self._retry(failed.select("__pos", LINE, *checked), checked)
        updates: list[pl.Series] = []
        for key in checked:
            fixed = retried.filter(pl.col(key).is_not_null() & pl.col(f"__null_{key}"))
            column = parsed.get_column(key)
            if fixed.height:
                column = column.scatter(fixed.get_column("__pos"), fixed.get_column(key).cast(column.dtype))
            updates.append(column)
            unreadable = retried.filter(pl.col(key).is_null() & pl.col(f"__raw_{key}").is_not_null())
            if unreadable.height:
                self.bad_examples[key] = unreadable.get_column(f"__raw_{key}")[0]
                flags = pl.Series(bad(key), [False], dtype=pl.Boolean).extend_constant(False, parsed.height - 1)
                updates.append(flags.scatter(unreadable.get_column("__pos"), True))
        return parsed.with_columns(updates)

    def _retry(self, failed: pl.DataFrame, checked: list[str]) -> pl.DataFrame:
        """``failed`` with the source text (``__raw_<role>``) and the thorough parse of each role."""
        raw = (
            self.table.frame.filter(pl.col(LINE).is_in(failed.get_column(LINE).implode()))
            .select([pl.col(LINE)] + [
                present(as_text(self.columns[k], self._dtype(self.columns[k]))).alias(f"__raw_{k}") for k in checked
            ])
            .collect()
        )
        failed = failed.join(raw, on=LINE, how="left").with_columns(
            [pl.col(k).is_null().alias(f"__null_{k}") for k in checked]
        )
        retries = []
        for key in checked:
            text = pl.col(f"__raw_{key}")
            if self.kinds[key] == NUMBER:
                retry = second_chance_number(text, self.number)
            elif self.kinds[key] == DATE:
                retry = second_chance_date(text, self.dates.get(key))
            else:
                retry = month_expr(text, self.months[key])
            retries.append(pl.coalesce(pl.col(key), retry).alias(key))
        return failed.with_columns(retries)

    # -------------------------------------------------------- currencies

    def check_currencies(self, parsed: pl.DataFrame) -> pl.DataFrame:
        sources = []
        if "currency" in parsed.columns:
            sources.append(pl.col("currency").str.strip_chars().str.to_uppercase())
        if "__mark" in parsed.columns:
            sources.append(pl.col("__mark"))
        if self.header_currency:
            sources.append(pl.lit(self.header_currency))
        if not sources:
            self.detected["currency"] = None
            if self.options.currency:
                self.warnings.append(
                    f"No currency column or symbol was found, so the currency filter ({self.options.currency}) was not applied."
                )
            return parsed
        parsed = parsed.with_columns(pl.coalesce(sources).alias("__currency"))
        kept = parsed.filter(pl.col(RULE).is_null()) if RULE in parsed.columns else parsed
        found = sorted(kept.get_column("__currency").drop_nulls().unique().to_list())
        self.detected["currencies"] = found
        wanted = (self.options.currency or "").strip().upper()
        if wanted:
            self.detected["currency"] = wanted
            other = pl.col("__currency").is_not_null() & (pl.col("__currency") != wanted)
            return parsed.with_columns(other.alias("__other_currency"))
        self.detected["currency"] = found[0] if len(found) == 1 else (", ".join(found) if found else None)
        if len(found) > 1:
            self.warnings.append(
                f"Amounts are in {len(found)} currencies ({', '.join(found[:8])}) and totals would add them as if they "
                f"were one. Keep one currency (CLI: --currency {found[0]}) or convert the amounts before uploading."
            )
        return parsed

    # -------------------------------------------------------- split and report

    def finish(
        self, parsed: pl.DataFrame, keep: pl.Expr, reason: pl.Expr, canonical: list[str], schema: dict, what: str
    ):
        """Split kept and rejected rows, attach raw text to rejects, and build the report."""
        ok = parsed.select(keep.fill_null(False).alias("ok")).to_series()
        everything_ok = bool(ok.all())
        kept = parsed if everything_ok else parsed.filter(ok)
        self._blank_value_warnings(kept)
        valid = kept.select([pl.col(c).cast(schema[c], strict=False) for c in canonical])
        if everything_ok:
            rejected = _empty_rejected().select("line", "reason")
        else:
            rejected = parsed.filter(~ok).select(pl.col(LINE).cast(pl.Int64).alias("line"), reason.alias("reason"))
        rejected = self._with_raw(rejected)
        report = IngestReport(
            rows_read=parsed.height,
            rows_valid=valid.height,
            rows_rejected=rejected.height,
            rejected=rejected,
            detected=self.detected,
            warnings=self.warnings,
        )
        if valid.height:
            report.duplicate_rows = _duplicate_rows(valid)
            if "amount" in valid.columns:
                report.negative_amount_rows = int((valid.get_column("amount") < 0).sum())
        self._summary_warnings(report, what)
        if parsed.height == 0:
            raise IngestError(
                f"The file has column names but no rows of data. Check you exported the {what}, not an empty report.",
                report,
            )
        if valid.height == 0:
            reasons = ", ".join(f"{n} {r}" for r, n in list(report.rejected_by_reason().items())[:3])
            raise IngestError(
                f"None of the {parsed.height} rows could be used ({reasons}). Check the column mapping and the date "
                "format (CLI: --customer/--date/--amount COL, --date-format).",
                report,
            )
        return valid.lazy(), report

    def _blank_value_warnings(self, kept: pl.DataFrame) -> None:
        """Optional columns whose values could not be read are left blank: say so."""
        for key, kind in self.kinds.items():
            if kind not in (NUMBER, DATE, MONTH) or bad(key) not in kept.columns:
                continue
            count = int(kept.get_column(bad(key)).sum())
            if count:
                noun = {NUMBER: "a number", DATE: "a date", MONTH: "a month"}[kind]
                self.warnings.append(
                    f"{_rows(count, 'has', 'have')} a value in column '{self.columns[key]}' that could not be read "
                    f"as {noun} (e.g. '{self.bad_examples.get(key, '')}'); it was left blank."
                )

    def _with_raw(self, rejected: pl.DataFrame) -> pl.DataFrame:
        if rejected.is_empty() or self.table.raw_text is None:
            return rejected.with_columns(pl.lit(None, pl.String).alias("raw")).select("line", "raw", "reason")
        lines = rejected.get_column("line").head(MAX_RAW_REJECTED)
        raw = self.table.raw_text(lines).rename({LINE: "line"}).unique("line", keep="first")
        if rejected.height > MAX_RAW_REJECTED:
            self.warnings.append(f"Raw text is kept for the first {MAX_RAW_REJECTED:,} rejected rows only.")
        return rejected.join(raw, on="line", how="left").select("line", "raw", "reason").sort("line")

    def _summary_warnings(self, report: IngestReport, what: str) -> None:
        if self.preset:
            report.warnings.extend(self.preset.notes)
        if report.rows_rejected:
            reasons = ", ".join(f"{n:,} {r}" for r, n in report.rejected_by_reason().items())
            share = report.rows_rejected / max(report.rows_read, 1)
            report.warnings.append(
                f"{report.rows_rejected:,} of {report.rows_read:,} rows ({share:.1%}) were set aside: {reasons}."
            )
        if report.duplicate_rows:
            report.warnings.append(
                f"{_rows(report.duplicate_rows)} exact copies of an earlier row; they were kept."
            )
        if report.negative_amount_rows:
            report.warnings.append(
                f"{_rows(report.negative_amount_rows, 'has', 'have')} a negative amount; they are treated as returns."
            )
        if self.detected.get("encoding") in ("cp1252", "latin-1"):
            report.warnings.append(
                f"The file is not UTF-8; it was read as {self.detected['encoding']} (Western European). "
                "If accents look wrong, choose the encoding (CLI: --encoding)."
            )


def _duplicate_rows(frame: pl.DataFrame) -> int:
    """Rows identical to an earlier row in every column.

    Counted on 64-bit row hashes (sorted, equal neighbours): a false match
    needs a hash collision, about 1 in 10^8 for 10M rows.
    """
    hashes = np.sort(frame.hash_rows().to_numpy())
    return int(np.count_nonzero(hashes[1:] == hashes[:-1]))


def _rows(count: int, singular: str = "is", plural: str = "are") -> str:
    """``1 row is`` / ``3 rows are``."""
    return f"{count:,} row {singular}" if count == 1 else f"{count:,} rows {plural}"


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def _guess_decimal(values: pl.Series) -> str:
    return sniff_number_format(values.head(200).to_list()).decimal


def _month_format(values: pl.Series) -> str | None:
    """The format of month values (``2024-03``, ``Mar 2024``, ...) or of full dates."""
    if values.is_empty():
        return None
    frame = pl.DataFrame({"v": values.head(500)})
    best, best_rate = None, 0.0
    for fmt in MONTH_FORMATS:
        rate = frame.select(month_expr(pl.col("v"), fmt).is_not_null().mean()).item() or 0.0
        if rate > best_rate:
            best, best_rate = fmt, rate
    full = sniff_date_format(values)
    if full is not None and full.rate >= best_rate:
        return full.fmt
    return best if best_rate >= 0.5 else None
