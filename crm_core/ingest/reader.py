"""The reader: runs the ingest stages in order for ``read_orders`` and ``read_side_table``.

``read_orders(source)`` accepts a path, the file's bytes or an uploaded
file object, in CSV/TSV/TXT (any of ``, ; tab |`` or runs of spaces),
gzip/zip-compressed CSV, Parquet or Excel. The stages, each a pure function
in its own module returning a frozen result:

1. :mod:`~crm_core.ingest.mapping` - map columns to roles (or a vendor preset);
2. :mod:`~crm_core.ingest.formats` - sniff each column's number, date and month format;
3. :mod:`~crm_core.ingest.values` - parse every value (vectorised Polars);
4. :mod:`~crm_core.ingest.checks` - keep each row, or give the reason it is set aside;
5. :mod:`~crm_core.ingest.report` - split kept and rejected rows, build the :class:`IngestReport`.

Opening the bytes (formats, compression, limits) is :mod:`~crm_core.ingest.source`.
Only :class:`IngestError` escapes: its message tells the user what to do. See docs/ingest.md.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

import polars as pl

from crm_core.ingest import batches
from crm_core.ingest import source as ingest_source
from crm_core.ingest.checks import RunningSums, check_orders, check_side, mark_total_rows, repeated_order_totals
from crm_core.ingest.columns import ORDER_ROLES, SIDE_REQUIRED, SIDE_ROLES, Role, name_candidates
from crm_core.ingest.errors import IngestError
from crm_core.ingest.messages import disk_full, is_disk_full
from crm_core.ingest.formats import sniff_formats
from crm_core.ingest.mapping import ColumnSample, map_columns, missing_message, require_orders, status_warning
from crm_core.ingest.options import ColumnMapping, ReadOptions, Source
from crm_core.ingest.presets import (
    BY_NAME, CONTACT_ROLES, EXTRA_KINDS, LINE_ROLES, Preset, detect_preset, finish_orders, kept_lines, merged_lines_note,
)
from crm_core.ingest.report import OK, REASONS, IngestReport, ReportInputs, build_report
from crm_core.ingest.source import RawTable, open_table
from crm_core.ingest.values import parse_values
from crm_core.schema import SIDE_TABLE_SCHEMAS, TRANSACTION_SCHEMA

__all__ = [
    "IngestError", "IngestReport", "ColumnMapping", "ReadOptions", "read_orders", "read_side_table",
    "MAX_DECOMPRESSED_BYTES", "REASONS",
]

#: Default limit on what a compressed upload may expand to (see ``ingest_source``).
MAX_DECOMPRESSED_BYTES = ingest_source.MAX_DECOMPRESSED_BYTES


# ---------------------------------------------------------------- public entry points


def read_orders(
    source: Source,
    mapping: ColumnMapping | None = None,
    options: ReadOptions | None = None,
    *,
    filename: str | None = None,
    count_duplicates: bool | str = True,
    meanwhile: Callable[[], object] | None = None,
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
    count_duplicates
        Count the kept rows that copy an earlier row (``report.duplicate_rows``);
        False leaves it None, for callers that never show it; ``"later"``
        (:data:`~crm_core.ingest.report.COUNT_LATER`) leaves rows read in memory to the caller,
        who counts them alongside its own queries (:class:`~crm_core.ingest.report.DuplicatesAlongside`).
    meanwhile
        Called once, as the values start to be parsed: the longest stage, which runs in Polars' threads
        without the interpreter lock, so that work the caller starts then on a thread of its own (loading
        the modules it needs next) takes turns with little of the reader's Python.

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
    parsing = _once(meanwhile)  # a second read (quotes as plain characters) does not call it again
    return _guarded(lambda: _quote_fallback(
        lambda quote: _read_orders(source, mapping, options, filename, quote, count_duplicates, parsing)))


def _once(call: Callable[[], object] | None) -> Callable[[], None]:
    """``call`` made the first time the result is called, never again (nothing when None)."""
    pending = [call] if call is not None else []

    def first_time() -> None:
        while pending:
            pending.pop()()

    return first_time


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
        if is_disk_full(error):
            raise IngestError(disk_full()) from error
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:80]
        if type(error).__name__ == "PanicException":  # a Rust panic's text means nothing to the user
            detail = "the reader failed on its contents"
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


def _read_orders(source: Source, mapping: ColumnMapping, options: ReadOptions, filename: str | None, quote: bool,
                 count_duplicates: bool | str = True, parsing: Callable[[], None] = lambda: None):
    with _open(source, options, filename, _order_sheet_score, quote) as table:
        preset = _choose_preset(table, options)
        user = {f.name: getattr(mapping, f.name) for f in fields(mapping) if getattr(mapping, f.name)}
        roles = list(ORDER_ROLES) + list(LINE_ROLES)
        roles += [Role(key, kind, key.replace("_", " "), ()) for key, kind in EXTRA_KINDS.items()]
        roles += list(CONTACT_ROLES)  # after the presets' own roles (Stripe's customer e-mail is its customer)
        sample = ColumnSample(table)
        plan = require_orders(map_columns(table, sample, roles, user, preset), table.columns)
        formats = sniff_formats(table, sample, plan, options, preset)
        if batches.wanted(table, preset, plan, options):  # a large CSV: memory follows the batch, not the file
            found = {**_start(table, preset), **plan.detected, **formats.detected}
            parsing()
            return batches.read_orders(table, sample, plan, formats, options, found,
                                       (*table.warnings, *plan.warnings, *formats.warnings), count_duplicates)
        parsing()
        parsed = parse_values(table, sample, plan, formats)
        frame, lines, revenue = finish_orders(preset, parsed.frame, options.revenue_definition)
        extra = {"source_rows": parsed.source_rows} if preset and preset.name == "shopify" else {}
        merged = (merged_lines_note(parsed.source_rows, frame.height),) if parsed.source_rows != frame.height else ()
        if preset is None:  # a footer or subtotal row named "Total" whose amount sums the rows above
            frame = mark_total_rows(frame, RunningSums())
        checked = check_orders(frame, plan, options, formats.header_currency, parsed.bad_examples,
                               fill_orders=preset is None, whole=preset is None)
        detected = {**_start(table, preset), **plan.detected, **formats.detected, **parsed.detected, **extra,
                    **revenue, **checked.detected}
        inputs = ReportInputs(
            canonical=tuple(c for c in TRANSACTION_SCHEMA if c in frame.columns),
            schema=TRANSACTION_SCHEMA,
            raw_text=table.raw_text,
            detected=detected,
            warnings=(*merged, *table.warnings, *plan.warnings, *_marked(parsed.marked, preset is not None),
                      *formats.warnings, *checked.warnings,
                      *(repeated_order_totals(checked.frame, plan) if preset is None else ())),
            notes=preset.notes if preset else (),
            what="orders",
            corrected=parsed.corrected,
            count_duplicates=count_duplicates,
        )
        valid, report = build_report(checked.frame, checked.rejected, inputs)
        if options.rates is not None:  # line amounts at their order's rate
            from crm_core.currency import convert_lines

            lines = convert_lines(lines, checked.frame, checked.detected.get("currency") or "")
        report.source_lines, report.lines = parsed.source_rows, kept_lines(lines, checked.frame, pl.col(OK))
        return valid, report


def _marked(marked: tuple[tuple[str, tuple[str, ...]], ...], preset: bool) -> list[str]:
    """Warnings for the unread status columns whose rows beyond the sample mark cancellations or refunds."""
    return [status_warning(column, list(examples), preset) for column, examples in marked]


def _start(table: RawTable, preset: Preset | None) -> dict[str, Any]:
    """What opening the file found, and the preset."""
    return {**table.detected, "preset": preset.name if preset else None}


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
        sample = ColumnSample(table)
        plan = map_columns(table, sample, roles, {k: v for k, v in mapping.items() if v}, None)
        for key in required:
            if key not in plan.columns:
                role = next(r for r in roles if r.key == key)
                raise IngestError(missing_message(role, table.columns, kind))
        formats = sniff_formats(table, sample, plan, options, None)
        parsed = parse_values(table, sample, plan, formats)
        checked = check_side(parsed.frame, plan, tuple(required), parsed.bad_examples)
        schema = SIDE_TABLE_SCHEMAS[kind]
        inputs = ReportInputs(
            canonical=tuple(c for c in schema if c in parsed.frame.columns),
            schema=schema,
            raw_text=table.raw_text,
            detected={**_start(table, None), **plan.detected, **formats.detected, **parsed.detected},
            warnings=(*table.warnings, *plan.warnings, *formats.warnings, *checked.warnings),
            notes=(),
            what=kind.replace("_", " "),
            corrected=parsed.corrected,
        )
        return build_report(checked.frame, checked.rejected, inputs)


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
