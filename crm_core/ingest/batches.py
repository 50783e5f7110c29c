"""Large delimited files read in batches: memory follows the batch, not the file.

A 3 GB CSV of 100M orders does not fit in memory as one frame (nor does its
parse, nor its checks). :func:`read_orders` runs the reader's stages (values,
checks, report) on batches of rows taken from the CSV by the streaming engine,
and writes each batch's outcome to disk:

- the valid rows, one Parquet part per batch in a private folder; the caller
  gets a LazyFrame scanning them, so its queries stream too. The folder is
  removed with the report (or at exit), so keep the report while using the rows;
- the rejected rows, appended to one CSV in :func:`rejects.spill_folder`: the
  report keeps the counts per reason and the first
  :data:`~crm_core.ingest.rejects.KEPT_IN_MEMORY` rows, as for a small file;
- a hash of each valid row, for the duplicate count (counted in slices, so the
  set of hashes never holds the whole file).

Decisions stay the whole file's: the columns, number and date formats are
sniffed once (as for any file); a number column's convention, when a batch
needs one, comes from a streaming pass over the whole column
(:func:`~crm_core.ingest.numbers.evidence`). Files over
``CRM_INGEST_BATCH_MB`` (default 256 MB) are read this way, unless a vendor
preset applies (presets merge an order's lines, which may straddle batches), the
file has line items (product, SKU, ...) or a rates table converts currencies:
those are read whole.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shutil
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import IO, Any, Iterator

import polars as pl

from crm_core.ingest import rejects
from crm_core.ingest.checks import (
    REORDERED_HEADER, RunningSums, _currencies, blank_value_counts, blank_value_warnings, check_orders, fill_candidates,
    filled_from, filled_warning, mark_total_rows, order_fills, order_total_warning, whole_amounts_warning,
)
from crm_core.ingest.formats import Formats
from crm_core.ingest.limits import env_number, large_for_batches
from crm_core.ingest.mapping import ColumnPlan, ColumnSample, status_warning
from crm_core.ingest.numbers import classify, evidence
from crm_core.ingest.options import ReadOptions
from crm_core.ingest.presets import Preset, finish_orders
from crm_core.ingest.report import (
    OK, IngestReport, ReportInputs, empty_rejected, finish_report, future_dates, future_warning, row_hashes, split_rows,
)
from crm_core.ingest.source import LINE, RawTable, text_batches
from crm_core.ingest.values import parse_values
from crm_core.schema import TRANSACTION_SCHEMA

BATCH_ROWS_ENV = "CRM_INGEST_BATCH_ROWS"
DEFAULT_BATCH_ROWS = 1_000_000
#: Roles that make line items (see presets._line_items): such files are read whole.
LINE_ITEM_ROLES = ("product", "sku", "category", "discount_code")
#: Row hashes put in one hash set when counting duplicates (about 100 MB).
HASHES_PER_PASS = 4_000_000
HASH = "__row_hash"
CSV_CHUNK_ENV = "POLARS_CSV_CHUNK_SIZE"
CSV_CHUNK_BYTES = 1024**2
STALE_SECONDS = 24 * 3600


def wanted(table: RawTable, preset: Preset | None, plan: ColumnPlan, options: ReadOptions) -> bool:
    """Read ``table`` in batches: large delimited text, no preset, no line items, no currency conversion."""
    if table.typed is None or preset is not None or any(role in plan.columns for role in LINE_ITEM_ROLES):
        return False
    if options.rates is not None:  # the conversion's report (rates used per currency) is made on the whole file
        return False
    return large_for_batches(table.text_bytes)


def batch_rows() -> int:
    """Rows per batch (``$CRM_INGEST_BATCH_ROWS``)."""
    return int(env_number(BATCH_ROWS_ENV, DEFAULT_BATCH_ROWS)) or DEFAULT_BATCH_ROWS


def read_orders(
    table: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, options: ReadOptions,
    detected: dict[str, Any], warnings: tuple[str, ...], count_duplicates: bool | str = True,
) -> tuple[pl.LazyFrame, IngestReport]:
    """The reader's result for a large file, read batch by batch (see the module doc).

    ``detected`` and ``warnings`` are what opening, mapping and sniffing found; ``count_duplicates``
    as :func:`crm_core.ingest.reader.read_orders`'s, except that rows on disk are counted here for a caller
    that counts later (only the reader sees them batch by batch).
    """
    store = _Store()
    try:
        tally = _Tally()
        whole_column = _WholeColumn(table, plan)
        with _small_csv_chunks():
            for part in text_batches(table, batch_rows()):
                _read_batch(part, sample, plan, formats, options, whole_column, store, tally)
        if store.held:
            _fill_held(store, tally, plan, formats, options)
        report = _report(tally, store, plan, formats, options, detected, warnings, count_duplicates)
        finish_report(report, (), "orders")
    except BaseException:
        store.remove()
        raise
    weakref.finalize(report, store.remove)
    return store.scan(tally.columns), report


def _read_batch(
    part: RawTable, sample: ColumnSample, plan: ColumnPlan, formats: Formats, options: ReadOptions,
    whole_column: _WholeColumn, store: _Store, tally: _Tally,
) -> None:
    parsed = parse_values(part, sample, plan, formats, whole_column)
    frame, _, revenue = finish_orders(None, parsed.frame, options.revenue_definition)
    batch = tally.batches
    frame = _hold_order_lines(mark_total_rows(frame, tally.sums), part, store, batch)
    checked = check_orders(frame, plan, options, formats.header_currency, parsed.bad_examples, whole=True)
    canonical = tuple(c for c in TRANSACTION_SCHEMA if c in frame.columns)
    inputs = ReportInputs(canonical=canonical, schema=TRANSACTION_SCHEMA, raw_text=part.raw_text, detected={},
                          warnings=(), notes=(), what="orders")
    valid, rejected, _ = split_rows(checked.frame, checked.rejected, inputs)
    store.add_valid(batch, valid, _kept_lines(checked.frame) if batch in store.held else None)
    store.add_rejected(rejected)
    if "order_id" in checked.frame.columns:
        store.add_known(batch, _rejected_with_customer(checked.frame))
    tally.add(checked.frame.height, valid, rejected, parsed.corrected, parsed.bad_examples,
              blank_value_counts(checked.frame, plan), {**parsed.detected, **revenue}, checked.detected)
    if not tally.reordered:
        tally.reordered = [w for w in checked.warnings if w.startswith(REORDERED_HEADER)][:1]
    for column, examples in parsed.marked:
        seen = tally.marked.setdefault(column, [])
        seen += [value for value in examples if value not in seen][: 3 - len(seen)]
    tally.columns = canonical


# Order lines without a customer (a whole read fills them from their order, checks.order_lines_filled) may
# belong to an order whose other lines are in another batch: each batch holds them back on disk (with their
# raw text) and, once every batch is read, they are filled from what all the batches' lines say of their
# order (the kept rows on disk and the rejected rows naming a customer), checked as in their batch, and merged
# back into their batch's part in line order: the same rows, figures and warnings as a whole read.
KNOWN_COLUMNS = ("order_id", "customer_id", "order_date")
RAW = "__raw"


def _hold_order_lines(frame: pl.DataFrame, part: RawTable, store: _Store, batch: int) -> pl.DataFrame:
    """``frame`` without the lines that may take their order's customer; those are held in ``store``."""
    candidates = fill_candidates(frame)
    if candidates is None:
        return frame
    held = frame.select(candidates.fill_null(False)).to_series()
    if not held.any():
        return frame
    lines = frame.filter(held)
    raw = part.raw_text(lines.get_column(LINE)).select(pl.col(LINE), pl.col("raw").alias(RAW)) \
        if part.raw_text is not None else pl.DataFrame({LINE: lines.get_column(LINE), RAW: None})
    store.hold(batch, lines.join(raw.unique(LINE), on=LINE, how="left", maintain_order="left"))
    return frame.filter(~held)


def _kept_lines(checked: pl.DataFrame) -> pl.Series:
    return checked.filter(pl.col(OK)).get_column(LINE).cast(pl.Int64)


def _rejected_with_customer(checked: pl.DataFrame) -> pl.DataFrame:
    """What the rejected rows of an order say of its customer and date (a whole read fills from them too)."""
    return checked.filter(~pl.col(OK) & pl.col("order_id").is_not_null() & pl.col("customer_id").is_not_null()) \
        .select(*KNOWN_COLUMNS)


def _fill_held(store: _Store, tally: _Tally, plan: ColumnPlan, formats: Formats, options: ReadOptions) -> None:
    """Fill the held lines from their orders, check them, and merge them into their batches' results."""
    typed = [pl.col("order_id").cast(pl.String), pl.col("customer_id").cast(pl.String),
             pl.col("order_date").cast(pl.Date)]
    lines = [store.scan(tally.columns).select(typed)] if store.parts else []
    lines += [pl.scan_parquet(path).select(typed) for path in store.known]
    held_orders = pl.concat([pl.scan_parquet(path).select("order_id") for path in store.held.values()]).unique()
    known = order_fills(pl.concat(lines).join(held_orders, on="order_id", how="semi")).collect(engine="streaming") \
        if lines else pl.DataFrame(schema={"order_id": pl.String, "__fill_c": pl.String, "__fill_d": pl.Date})
    filled = 0
    for batch, path in sorted(store.held.items()):
        held = pl.read_parquet(path)
        candidates = fill_candidates(held)
        assert candidates is not None  # noqa: S101 - held lines are candidates
        frame, count = filled_from(held, candidates, known.lazy())
        filled += count
        checked = check_orders(frame.drop(RAW), plan, options, formats.header_currency, {}, whole=True)
        inputs = ReportInputs(canonical=tally.columns, schema=TRANSACTION_SCHEMA, raw_text=_held_raw(held),
                              detected={}, warnings=(), notes=(), what="orders")
        valid, rejected, _ = split_rows(checked.frame, checked.rejected, inputs)
        store.merge_valid(batch, valid, _kept_lines(checked.frame))
        store.add_rejected(rejected)
        tally.add(checked.frame.height, valid, rejected, {}, {}, blank_value_counts(checked.frame, plan), {},
                  checked.detected, held=True)
    tally.filled = filled


def _held_raw(held: pl.DataFrame) -> Any:
    def raw_text(lines: pl.Series) -> pl.DataFrame:
        return held.filter(pl.col(LINE).is_in(lines.implode())).select(pl.col(LINE), pl.col(RAW).alias("raw"))
    return raw_text


@contextlib.contextmanager
def _small_csv_chunks() -> Iterator[None]:
    """Polars' streaming CSV reader parses ahead in chunks of many megabytes (about 350 MB in
    flight on 2 cores); 1 MB chunks keep that under 50 MB at no cost in speed. Read by Polars
    at each scan; set only around the batched read (a worker or CLI process, single-threaded)."""
    previous = os.environ.get(CSV_CHUNK_ENV)
    os.environ[CSV_CHUNK_ENV] = previous or str(CSV_CHUNK_BYTES)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CSV_CHUNK_ENV, None)


class _Tally:
    """What the batches found, added up."""

    def __init__(self) -> None:
        self.rows_read = self.rows_valid = self.negative = self.batches = 0
        self.columns: tuple[str, ...] = ()
        self.first_rejected: list[pl.DataFrame] = []
        self.kept_rejected = 0
        self.by_reason: dict[str, int] = {}
        self.corrected: dict[str, int] = {}
        self.bad_examples: dict[str, str] = {}
        self.blank: dict[str, int] = {}
        self.detected: dict[str, Any] = {}
        self.currencies: set[str] | None = None
        self.future = 0
        self.latest_future: dt.date | None = None
        self.marked: dict[str, list[str]] = {}
        self.reordered: list[str] = []  # the first batch's warning of a header repeated in another column order
        self.filled = 0  # order lines given their order's customer
        self.whole = 0  # ambiguous amounts read whole (a currency without decimals)
        self.sums = RunningSums(carried=True)  # the amounts above each batch, for its total rows

    def add(self, rows: int, valid: pl.DataFrame, rejected: pl.DataFrame, corrected: dict[str, int],
            bad_examples: dict[str, str], blank: dict[str, int], detected: dict[str, Any],
            checked: dict[str, Any], held: bool = False) -> None:
        self.batches += not held
        self.rows_read += rows
        self.rows_valid += valid.height
        if "amount" in valid.columns:
            self.negative += int((valid.get_column("amount") < 0).sum())
        future, latest = future_dates(valid)
        if future and latest is not None:
            self.future += future
            self.latest_future = latest if self.latest_future is None else max(latest, self.latest_future)
        if held and rejected.height:  # lines of earlier batches: sorted into the first ones by _report
            self.first_rejected.append(rejected.head(rejects.KEPT_IN_MEMORY))
        elif self.kept_rejected < rejects.KEPT_IN_MEMORY and rejected.height:
            first = rejected.head(rejects.KEPT_IN_MEMORY - self.kept_rejected)
            self.first_rejected.append(first)
            self.kept_rejected += first.height
        for reason, count in rejected.group_by("reason").len().iter_rows():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + count
        _add(self.corrected, corrected)
        _add(self.blank, blank)
        for key, example in bad_examples.items():
            self.bad_examples.setdefault(key, example)
        for key, value in detected.items():
            self.detected.setdefault(key, value)
        self.whole += checked.get("whole_amounts", 0)
        if "currencies" in checked:
            self.currencies = (self.currencies or set()) | set(checked["currencies"])


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + count


def _report(tally: _Tally, store: _Store, plan: ColumnPlan, formats: Formats, options: ReadOptions,
            detected: dict[str, Any], warnings: tuple[str, ...], count_duplicates: bool | str) -> IngestReport:
    """The whole file's report from the batches' tally (before the closing warnings)."""
    # The currency decision and its wording are the checks stage's, fed the currencies of all batches.
    found = pl.DataFrame({"currency": sorted(tally.currencies)}, schema={"currency": pl.String}) \
        if tally.currencies is not None else pl.DataFrame()
    _, currency, currency_warnings = _currencies(found, options, None if tally.currencies is not None
                                                 else formats.header_currency)
    rows_rejected = sum(tally.by_reason.values())
    report = IngestReport(
        rows_read=tally.rows_read,
        rows_valid=tally.rows_valid,
        rows_rejected=rows_rejected,
        rejected=pl.concat(tally.first_rejected).sort("line").head(rejects.KEPT_IN_MEMORY)
        if tally.first_rejected else empty_rejected(),
        negative_amount_rows=tally.negative,
        detected={**detected, **tally.detected, **currency, "read_in_batches": tally.batches,
                  **({"filled_from_order": tally.filled} if tally.filled else {}),
                  **({"whole_amounts": tally.whole} if tally.whole else {})},
        warnings=[*warnings, *(status_warning(column, examples) for column, examples in tally.marked.items()),
                  *currency_warnings, *([whole_amounts_warning(tally.whole)] if tally.whole else []),
                  *([filled_warning(tally.filled, plan)] if tally.filled else []), *blank_value_warnings(tally.blank, plan, tally.bad_examples),
                  *future_warning(tally.future, tally.latest_future),
                  *tally.reordered, *_order_totals(store, tally, plan)],
        corrected_values=sum(tally.corrected.values()),
        corrected_by_column={k: v for k, v in tally.corrected.items() if v},
    )
    report.source_lines = tally.rows_read
    report.duplicate_rows = store.duplicate_rows(tally.rows_valid) if count_duplicates else None
    if rows_rejected > rejects.KEPT_IN_MEMORY:
        report.rejected_file = store.finish_rejected()
        report.rejected_counts = dict(sorted(tally.by_reason.items(), key=lambda item: (-item[1], item[0])))
    else:
        store.finish_rejected(keep=False)
    return report


def _order_totals(store: _Store, tally: _Tally, plan: ColumnPlan) -> list[str]:
    """The warning of an order total repeated on every line of an order (as a whole read gives), over the kept
    rows on disk: an order's lines may straddle two batches."""
    if not store.parts or "order_id" not in tally.columns:
        return []
    return order_total_warning(store.scan(tally.columns).select("order_id", "amount"), plan, tally.rows_valid)


class _WholeColumn:
    """The convention evidence of a number column over the whole file, computed once when first asked."""

    def __init__(self, table: RawTable, plan: ColumnPlan) -> None:
        self.table, self.plan = table, plan
        self.found: dict[str, dict[str, Any]] = {}

    def __call__(self, key: str) -> dict[str, Any]:
        if key not in self.found:
            bits = classify(pl.col(self.plan.columns[key]).cast(pl.String)).bits
            query = self.table.frame.select(evidence(bits))
            self.found[key] = query.collect(engine="streaming").row(0, named=True)
        return self.found[key]


class _Store:
    """The files one batched read writes: valid parts (Parquet) and the rejected rows (CSV)."""

    def __init__(self) -> None:
        base = Path(tempfile.gettempdir()) / f"crm_rows_{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
        _sweep(base)
        self.folder = Path(tempfile.mkdtemp(prefix="read-", dir=base))
        self.parts = 0
        self.held: dict[int, Path] = {}  # batch -> its lines held until every batch is read
        self.known: list[Path] = []
        self.rejected_path = rejects.spill_folder() / f"rejected-{uuid.uuid4().hex}.csv"
        self._rejected: IO[bytes] | None = None

    def add_valid(self, batch: int, valid: pl.DataFrame, lines: pl.Series | None = None) -> None:
        """Write a batch's valid rows (and their lines beside them when held lines will be merged in)."""
        if valid.height:
            self._write_part(batch, valid)
            if lines is not None:
                pl.DataFrame({LINE: lines}).write_parquet(self._lines(batch))

    def _write_part(self, batch: int, valid: pl.DataFrame) -> None:
        path = self.folder / f"part-{batch:06d}.parquet"
        self.parts += not path.exists()
        valid.with_columns(row_hashes(valid).alias(HASH)).write_parquet(path, compression="lz4", statistics=False)

    def _lines(self, batch: int) -> Path:
        return self.folder / f"lines-{batch:06d}.parquet"

    def merge_valid(self, batch: int, valid: pl.DataFrame, lines: pl.Series) -> None:
        """Merge held lines kept after filling into their batch's part, in line order."""
        if not valid.height:
            return
        rows = valid.with_columns(lines.alias(LINE))
        if self._lines(batch).exists():
            part = self.folder / f"part-{batch:06d}.parquet"
            before = pl.read_parquet(part).drop(HASH).with_columns(pl.read_parquet(self._lines(batch)).to_series())
            rows = pl.concat([before, rows], how="vertical_relaxed").sort(LINE)
        self._write_part(batch, rows.drop(LINE))

    def hold(self, batch: int, lines: pl.DataFrame) -> None:
        self.held[batch] = self.folder / f"held-{batch:06d}.parquet"
        lines.write_parquet(self.held[batch], compression="lz4", statistics=False)

    def add_known(self, batch: int, lines: pl.DataFrame) -> None:
        if lines.height:
            self.known.append(self.folder / f"known-{batch:06d}.parquet")
            lines.write_parquet(self.known[-1], compression="lz4", statistics=False)

    def add_rejected(self, rejected: pl.DataFrame) -> None:
        if not rejected.height:
            return
        first = self._rejected is None
        if self._rejected is None:
            descriptor = os.open(self.rejected_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._rejected = os.fdopen(descriptor, "wb")
        rejected.write_csv(self._rejected, include_header=first)

    def finish_rejected(self, keep: bool = True) -> str:
        """Close the rejected rows' file; its path (removed when not kept)."""
        if self._rejected is not None:
            self._rejected.close()
            self._rejected = None
            if not keep:
                with contextlib.suppress(OSError):
                    self.rejected_path.unlink()
        return str(self.rejected_path)

    def scan(self, columns: tuple[str, ...]) -> pl.LazyFrame:
        return pl.scan_parquet(self.folder / "part-*.parquet").select(columns)

    def duplicate_rows(self, valid: int) -> int:
        """Valid rows identical to an earlier one (rows minus distinct row hashes), slice by slice of hashes."""
        if not self.parts:
            return 0
        passes = max(1, math.ceil(valid / HASHES_PER_PASS))
        hashes = pl.scan_parquet(self.folder / "part-*.parquet").select(HASH)
        distinct = sum(
            hashes.filter(pl.col(HASH) % passes == slice_).select(pl.col(HASH).n_unique())
            .collect(engine="streaming").item()
            for slice_ in range(passes)
        )
        return valid - distinct

    def remove(self) -> None:
        if self._rejected is not None:
            self.finish_rejected(keep=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _sweep(base: Path) -> None:
    """Remove folders left by killed processes (older than a day)."""
    cutoff = time.time() - STALE_SECONDS
    for old in base.glob("read-*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
