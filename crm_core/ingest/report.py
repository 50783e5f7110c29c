"""Stage 5, report: split kept and rejected rows and say what happened.

:func:`build_report` takes the checked frame (every row with ``__ok``) and
the reasons of the rows set aside, and returns the canonical valid rows plus the
:class:`IngestReport`: counts, rejected rows with line, raw text and reason,
duplicates, returns and plain-sentence warnings.
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import polars as pl

from crm_core.ingest import rejects
from crm_core.ingest.errors import IngestError
from crm_core.ingest.source import LINE

#: Raw text is kept for at most this many rejected rows (line and reason for all).
MAX_RAW_REJECTED = 1_000_000
OK = "__ok"

#: Every reject reason, as it appears in ``IngestReport.rejected['reason']``.
REASONS = (
    "empty row", "missing customer id", "missing date", "unparseable date", "missing amount",
    "unparseable amount", "ambiguous amount", "amount out of range", "other currency", "cancelled order",
    "payment not paid", "payment refunded", "deal not won", "order not completed", "missing month",
    "unparseable month", "missing spend", "unparseable spend", "missing currency", "repeated header",
    "unreadable customer id", "more fields than the header", "conflicting currency",
    "total row",
)
#: Reasons that name a value: ``no exchange rate for USD on 2024-01-03`` (see crm_core.currency).
REASON_PATTERNS = (r"^no exchange rate for [A-Z]{3} on \d{4}-\d{2}-\d{2}$",)


def empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema={"line": pl.Int64, "raw": pl.String, "reason": pl.String})


@dataclass
class IngestReport:
    """What happened while reading a file.

    Invariant: ``rows_read == rows_valid + rows_rejected``. ``rejected`` has
    one row per rejected row: ``line`` (1-based line in the file, header =
    line 1; the spreadsheet row number for Excel), ``raw`` (the row's text)
    and ``reason`` (a short stable phrase, see :data:`REASONS`).
    ``duplicate_rows`` counts valid rows identical to an earlier valid row
    (kept; None when the reader was asked not to count them, see
    ``count_duplicates``); ``negative_amount_rows`` counts valid rows with a negative amount
    (kept as returns). ``corrected_values`` counts numbers written against
    their column's convention but unambiguous in themselves (e.g. ``€49,90``
    in a file of ``12.50`` amounts), read as written; ``corrected_by_column``
    splits them by source column. ``detected`` holds the sniffed settings and
    the column mapping (canonical -> source column); ``warnings`` are plain
    sentences.
    """

    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rejected: pl.DataFrame = field(default_factory=empty_rejected)
    duplicate_rows: int | None = 0
    negative_amount_rows: int = 0
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    corrected_values: int = 0
    corrected_by_column: dict[str, int] = field(default_factory=dict)
    #: When there are many rejected rows, ``rejected`` holds the first ones only;
    #: then these give the counts per reason and the CSV file with all of them.
    rejected_counts: dict[str, int] | None = None
    rejected_file: str | None = None
    #: Data rows in the file (line items, before merging them into orders).
    source_lines: int = 0
    #: One row per line item of the kept orders (product, sku, ...; see presets.kept_lines), or None.
    lines: pl.DataFrame | None = None
    #: Where the duplicates sentence goes in ``warnings`` when the count comes later (:func:`record_duplicates`).
    duplicates_at: int | None = field(default=None, repr=False, compare=False)
    #: First and last order date of the kept rows, as the reader found them (None: not known, e.g. after a worker
    #: read; the caller then asks the rows). Not saved with the report.
    order_dates: tuple[dt.date, dt.date] | None = field(default=None, repr=False, compare=False)

    def all_rejected(self) -> pl.LazyFrame:
        """Every rejected row (line, raw, reason), from the spill file when there is one."""
        return rejects.scan(self.rejected_file) if self.rejected_file else self.rejected.lazy()

    def spill_rejected(self, folder: Path) -> None:
        """Keep the first rejected rows in memory and write all of them to a CSV in ``folder``."""
        rejects.spill(self, folder)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (rejected rows excluded; store them as Parquet)."""
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": self.rejected_by_reason(),
            "duplicate_rows": self.duplicate_rows,
            "negative_amount_rows": self.negative_amount_rows,
            "corrected_values": self.corrected_values,
            "corrected_by_column": self.corrected_by_column,
            "detected": self.detected,
            "warnings": self.warnings,
            "source_lines": self.source_lines,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], rejected: pl.DataFrame | Path | None = None) -> "IngestReport":
        """The report saved by ``to_dict``; ``rejected`` is the frame, or a Parquet file of it
        (then only the first rows are loaded, the rest is scanned when asked for)."""
        names = ("rows_read", "rows_valid", "rows_rejected", "duplicate_rows", "negative_amount_rows",
                 "corrected_values", "corrected_by_column", "detected", "warnings", "source_lines")
        report = cls(**{k: data[k] for k in names if k in data})
        if isinstance(rejected, Path):
            rejects.attach_file(report, rejected, data.get("rejected_by_reason"))
        elif rejected is not None:
            report.rejected = rejected
        return report

    def rejected_by_reason(self) -> dict[str, int]:
        """Number of rejected rows per reason, most frequent first."""
        if self.rejected_counts is not None:
            return dict(self.rejected_counts)
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


class ReportInputs(NamedTuple):
    """What the report stage needs besides the checked frame."""

    canonical: tuple[str, ...]  # canonical columns present, in schema order
    schema: dict[str, pl.DataType]
    raw_text: Callable[[pl.Series], pl.DataFrame] | None
    detected: dict[str, Any]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]  # the preset's notes
    what: str  # "orders", "customers", ...
    corrected: dict[str, int] | None = None  # numbers read against their column's convention, per column
    #: Count the valid rows that copy an earlier one (a tenth of a 1M-row read): off for callers that
    #: never show the count (the CLI's clv, rfm, portfolio), whose report then has ``duplicate_rows=None``;
    #: :data:`COUNT_LATER` for a caller that counts them itself, alongside its own queries (see :class:`DuplicatesAlongside`).
    count_duplicates: bool | str = True


def build_report(
    checked: pl.DataFrame, reasons: pl.DataFrame, inputs: ReportInputs
) -> tuple[pl.LazyFrame, IngestReport]:
    """Split kept and rejected rows, attach raw text to rejects, and build the report.

    ``checked`` has every row with ``__ok``; ``reasons`` the line and reason of each row set aside.

    Raises
    ------
    IngestError
        When the table has no data rows, or none of them could be used (the
        report travels with the error).
    """
    valid, rejected, warnings = split_rows(checked, reasons, inputs)
    report = IngestReport(
        rows_read=checked.height,
        rows_valid=valid.height,
        rows_rejected=rejected.height,
        rejected=rejected,
        detected=dict(inputs.detected),
        warnings=warnings,
        corrected_values=sum((inputs.corrected or {}).values()),
        corrected_by_column={k: v for k, v in (inputs.corrected or {}).items() if v},
    )
    if valid.height:
        report.duplicate_rows = duplicate_rows(valid) if inputs.count_duplicates is True else None
        negative, future, latest, report.order_dates = _kept_row_facts(valid)
        if negative is not None:
            report.negative_amount_rows = negative
        report.warnings.extend(future_warning(future, latest))
    finish_report(report, inputs.notes, inputs.what)
    return valid.lazy(), report


def _kept_row_facts(valid: pl.DataFrame) -> tuple[int | None, int, dt.date | None, tuple[dt.date, dt.date] | None]:
    """In one pass over the kept rows: the negative amounts (None without amounts), the orders dated after
    tomorrow and the latest of them (:func:`future_dates`), and the first and last order dates (None without them)."""
    has_amount, has_date = "amount" in valid.columns, "order_date" in valid.columns
    if not has_amount and not has_date:
        return None, 0, None, None
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    date = pl.col("order_date")
    facts = valid.select(
        *([(pl.col("amount") < 0).sum().alias("negative")] if has_amount else []),
        *([(date > tomorrow).sum().alias("future"), date.min().alias("first"), date.max().alias("last")] if has_date else []),
    ).row(0, named=True)
    negative = int(facts["negative"]) if has_amount else None
    if not has_date:
        return negative, 0, None, None
    future = int(facts["future"] or 0)
    first, last = facts["first"], facts["last"]
    return negative, future, last if future else None, (first, last) if first is not None else None


def future_dates(valid: pl.DataFrame) -> tuple[int, dt.date | None]:
    """Kept orders dated after tomorrow (a day of slack for time zones ahead of the server's), and the latest."""
    if "order_date" not in valid.columns:
        return 0, None
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    date = pl.col("order_date")
    count, latest = valid.select((date > tomorrow).sum().alias("future"), date.max().alias("latest")).row(0)
    return int(count or 0), latest if count else None


def future_warning(count: int, latest: dt.date | None) -> list[str]:
    """Orders dated in the future are kept as written (a sentinel like 2099-12-31 is not guessed away): say so."""
    if not count:
        return []
    return [f"{rows(count, 'is', 'are').replace('row', 'order')} dated in the future (latest {latest}); "
            "recency and the models measure from the last order date, so check these dates in the source system "
            "(or filter the period)."]


def _date_notation_warning(report: IngestReport) -> list[str]:
    """Dates set aside as unparseable are often another notation in the same column: name the format used."""
    count = report.rejected_by_reason().get("unparseable date", 0)
    label, column = report.detected.get("date_format_label"), report.detected.get("columns", {}).get("order_date")
    if not count or not label or not column:
        return []
    return [f"{count:,} dates in column '{column}' could not be read as {label} (the format of its other dates) or fall "
            "outside 1900-2100, so their rows were set aside: if the column mixes notations, fix them in the source "
            "system, or choose the format (CLI: --date-format)."]


def split_rows(
    checked: pl.DataFrame, reasons: pl.DataFrame, inputs: ReportInputs
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The kept rows in the canonical schema, the rejected rows (line, raw, reason) and the warnings so far."""
    ok = checked.get_column(OK).fill_null(False)
    kept = checked if bool(ok.all()) else checked.filter(ok)
    valid = kept.select([pl.col(c).cast(inputs.schema[c], strict=False) for c in inputs.canonical])
    warnings = list(inputs.warnings)
    return valid, _with_raw(reasons, inputs.raw_text, warnings), warnings


def finish_report(report: IngestReport, notes: tuple[str, ...], what: str) -> None:
    """Add the closing warnings (rows set aside, duplicates, ...) to a report whose counts are final.

    Raises
    ------
    IngestError
        When the table has no data rows, or none of them could be used (the report travels with the error).
    """
    _summary_warnings(report, notes)
    if report.rows_read == 0:
        raise IngestError(
            f"The file has column names but no rows of data. Check you exported the {what}, not an empty report.",
            report,
        )
    if report.rows_valid == 0:
        by_reason = report.rejected_by_reason()
        reasons = ", ".join(f"{n} {r}" for r, n in list(by_reason.items())[:3])
        advice = what_to_check(next(iter(by_reason), ""), report.detected)
        raise IngestError(f"None of the {report.rows_read} rows could be used ({reasons}). {advice}", report)


#: What to check when no row could be used, by the most frequent reason (the default: mapping and dates).
_ADVICE = {
    "date": "Check the date column and its format (CLI: --date COL, --date-format).",
    "amount": "Check the amount column and its notation (CLI: --amount COL, --decimal).",
    "customer": "Check the customer column (CLI: --customer COL).",
    "rule": "The export's own rules set every row aside: check its period and status filter (or --preset none).",
    "currency": "Check the currency kept (--currency) or the rates table (--rates).",
}
_RULE_REASONS = ("cancelled order", "payment not paid", "payment refunded", "deal not won", "order not completed")


def what_to_check(reason: str, detected: dict[str, Any]) -> str:
    """One sentence saying what to check when every row was set aside, mostly for ``reason``."""
    if reason == "missing amount" and detected.get("format") == "xlsx":
        return "Amounts are blank: if they are formulas, save the file in Excel (to store results), or use --amount COL."
    if reason in _RULE_REASONS:
        return _ADVICE["rule"]
    if reason == "more fields than the header":
        return ("Values holding the separator must be quoted (e.g. amounts with a decimal comma in a "
                "comma-separated file), or give the separator (CLI: --delimiter).")
    for word in ("date", "amount", "customer", "currency"):
        if word in reason:
            return _ADVICE[word]
    return ("Check the column mapping and the date format (CLI: --customer/--date/--amount COL, --date-format).")


def _with_raw(
    rejected: pl.DataFrame, raw_text: Callable[[pl.Series], pl.DataFrame] | None, warnings: list[str]
) -> pl.DataFrame:
    if rejected.is_empty() or raw_text is None:
        return rejected.with_columns(pl.lit(None, pl.String).alias("raw")).select("line", "raw", "reason")
    lines = rejected.get_column("line").head(MAX_RAW_REJECTED)
    raw = raw_text(lines).rename({LINE: "line"}).unique("line", keep="first")
    if rejected.height > MAX_RAW_REJECTED:
        warnings.append(f"Raw text is kept for the first {MAX_RAW_REJECTED:,} rejected rows only.")
    return rejected.join(raw, on="line", how="left").select("line", "raw", "reason").sort("line")


#: Reasons named in the summary sentence (the rest are counted).
_LISTED_REASONS = 8


def _summary_warnings(report: IngestReport, notes: tuple[str, ...]) -> None:
    report.warnings.extend(notes)
    if report.rows_rejected:
        by_reason = report.rejected_by_reason()
        reasons = ", ".join(f"{n:,} {r}" for r, n in list(by_reason.items())[:_LISTED_REASONS])
        if len(by_reason) > _LISTED_REASONS:  # e.g. one "no exchange rate for USD on <date>" per date
            reasons += f" and {len(by_reason) - _LISTED_REASONS:,} other reasons (see the rejected rows)"
        share = report.rows_rejected / max(report.rows_read, 1)
        report.warnings.append(
            f"{report.rows_rejected:,} of {report.rows_read:,} rows ({share:.1%}) were set aside: {reasons}."
        )
    report.warnings.extend(_date_notation_warning(report))
    if report.corrected_values:
        columns = ", ".join(f"'{c}' ({n:,})" for c, n in report.corrected_by_column.items())
        report.warnings.append(
            f"{rows(report.corrected_values, 'was', 'were').replace('row', 'number')} written in another notation "
            f"than the rest of the column but unambiguous, and read as written: {columns}. Check the source system "
            "if that surprises you."
        )
    report.duplicates_at = len(report.warnings)
    if report.duplicate_rows:
        report.warnings.append(_duplicates_sentence(report.duplicate_rows))
    if report.negative_amount_rows:
        report.warnings.append(
            f"{rows(report.negative_amount_rows, 'has', 'have')} a negative amount; they are treated as returns."
        )
    if report.detected.get("encoding") in ("cp1252", "latin-1"):
        report.warnings.append(
            f"The file is not UTF-8; it was read as {report.detected['encoding']} (Western European). "
            "If accents look wrong, choose the encoding (CLI: --encoding)."
        )


def row_hashes(frame: pl.DataFrame) -> pl.Series:
    """64-bit hash of each row (the same for equal rows in every batch of a file)."""
    return frame.hash_rows()


def duplicate_rows(frame: pl.DataFrame) -> int:
    """Rows identical to an earlier row in every column.

    Counted on 64-bit row hashes (rows minus distinct hashes): a false match
    needs a hash collision, about 1 in 10^8 for 10M rows. The hashes are sorted on one thread, and their
    distinct values counted along the sorted run: ``n_unique()`` sorts them on every core, for half the CPU
    time in about the same wall time (1M rows: 22 ms against 44 ms of CPU, 22-24 ms either way), and the count
    usually runs beside other queries (:class:`DuplicatesAlongside`), whose cores it would take.
    """
    return frame.height - row_hashes(frame).sort(multithreaded=False).n_unique()


def _duplicates_sentence(count: int) -> str:
    return f"{rows(count)} exact copies of an earlier row; they were kept."


#: ``count_duplicates`` of a read whose caller counts the duplicate rows itself when they are in memory
#: (:class:`DuplicatesAlongside`); rows read in batches are counted by the reader as they are read.
COUNT_LATER = "later"


def record_duplicates(report: IngestReport, count: int) -> None:
    """Give ``report`` the duplicate count that was left for later, and its sentence where the reader puts it."""
    report.duplicate_rows = count
    if count:
        at = len(report.warnings) if report.duplicates_at is None else report.duplicates_at
        report.warnings.insert(at, _duplicates_sentence(count))


class DuplicatesAlongside:
    """The duplicate rows of a read made with ``count_duplicates=COUNT_LATER``, counted on a thread while the
    caller runs its own queries: the count (row hashes, then their distinct values) runs on one core, and so
    do the distinct counts of a summary's totals; side by side they take the time of the longer one.

    :meth:`start` right after the read (with its rows, before any filter), :meth:`record` before the report is used.
    """

    def __init__(self) -> None:
        self._count: Future[int] | None = None

    def start(self, rows: pl.LazyFrame, report: IngestReport) -> None:
        if report.duplicate_rows is None and self._count is None:  # in memory, not counted yet
            from crm_core import parallel

            self._count = parallel.submit(lambda: duplicate_rows(rows.collect()))

    def record(self, report: IngestReport) -> None:
        if self._count is not None:
            record_duplicates(report, self._count.result())
            self._count = None


def rows(count: int, singular: str = "is", plural: str = "are") -> str:
    """``1 row is`` / ``3 rows are``."""
    return f"{count:,} row {singular}" if count == 1 else f"{count:,} rows {plural}"
