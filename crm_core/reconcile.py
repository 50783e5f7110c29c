"""Append a new export to a saved dataset: match overlapping orders, keep the previous version.

A manager downloads an export every month, and consecutive exports overlap
(the same orders, some of them changed since: refunded, cancelled, edited).
:func:`reconcile` matches the new export's orders with the dataset's:

- with order ids, an order is all rows with the same ``order_id``; it is a
  **duplicate** when its customer, date, row count, net amount and refund
  flag are all unchanged, **changed** otherwise (the new rows replace the old
  ones: the later export knows better), and **new** when the id is unknown;
- rows without an order id are matched on (customer, date, amount), as a
  multiset: two identical rows already saved absorb two identical new rows,
  a third one is new. Without an id a changed order cannot be told from a
  new one, so it counts as new.

Orders of the dataset that the new export does not mention stay as they are
(the exports may cover different periods).

:func:`append_export` applies this to a dataset folder (see
:mod:`crm_core.dataset`): the previous transactions are kept under
``appends/<n>/`` with the appended file and the reconciliation, so
:func:`undo_append` restores them. Nothing is overwritten before the new
table is completely written. The dataset's line items (``lines.parquet``)
follow their orders: a new or changed order brings the new export's lines,
an order kept as it was keeps its saved lines; undo restores them too.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from crm_core.dataset import LINES_FILE, TRANSACTIONS_FILE
from crm_core.schema import LINE_SCHEMA, TRANSACTION_SCHEMA, C, conform

APPENDS_FOLDER = "appends"
PREVIOUS_FILE = "previous_transactions.parquet"
PREVIOUS_LINES_FILE = "previous_lines.parquet"
RECONCILIATION_FILE = "reconciliation.json"
APPENDED_STEM = "appended"
#: Changed orders listed in the reconciliation (all are counted).
MAX_CHANGED_LISTED = 50

_KEY = "__key"
_SIGNATURE = ("customer", "date", "rows", "amount", "refunded")


@dataclass(frozen=True)
class Reconciliation:
    """What appending an export did.

    Attributes
    ----------
    new_orders, changed_orders, duplicate_orders
        Orders of the new export that were not in the dataset, that were but
        differ (their rows replace the saved ones), and that were identical
        (skipped).
    orders_before, orders_after, rows_before, rows_after
        Orders and rows of the dataset before and after.
    matched_by
        ``order_id``, ``customer, date and amount`` or both (rows without ids).
    changed
        Up to :data:`MAX_CHANGED_LISTED` changed orders: order_id, customer_id,
        old_amount, new_amount, old_date, new_date.
    version
        Number of the saved previous version (``appends/<version>/``), 0 before saving.
    source_filename, appended_at
        The appended file's name and when it was appended (UTC, ISO).
    """

    new_orders: int
    changed_orders: int
    duplicate_orders: int
    orders_before: int
    orders_after: int
    rows_before: int
    rows_after: int
    matched_by: str
    changed: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    source_filename: str = ""
    appended_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (dates as ISO text)."""
        data = asdict(self)
        data["changed"] = [{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}
                           for row in self.changed]
        return data

    def sentence(self) -> str:
        """One plain sentence for the page and the CLI."""
        return (f"{self.new_orders:,} new, {self.changed_orders:,} changed and {self.duplicate_orders:,} duplicate "
                f"orders: the dataset now has {self.orders_after:,} orders (was {self.orders_before:,}).")


def _order_ids(frame: pl.DataFrame) -> pl.Expr:
    """The order key: the order id, else (customer, date, amount) numbered within equal rows."""
    by_content = pl.concat_str(
        [pl.col(C.CUSTOMER_ID), pl.col(C.ORDER_DATE).cast(pl.String), pl.col(C.AMOUNT).round(6).cast(pl.String),
         pl.int_range(pl.len()).over(C.CUSTOMER_ID, C.ORDER_DATE, pl.col(C.AMOUNT).round(6)).cast(pl.String)],
        separator="\x1f",
    )
    by_content = pl.lit("\x00") + by_content  # never equal to a real order id
    if C.ORDER_ID in frame.columns:
        return pl.coalesce(pl.col(C.ORDER_ID), by_content)
    return by_content


def _signatures(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per order key, in the order of their first rows: what must be equal for two orders to be
    duplicates. (In order: the changed orders listed are then the file's first ones, in both paths.)"""
    refunded = pl.col(C.FULLY_REFUNDED).fill_null(False).any() if C.FULLY_REFUNDED in frame.columns else pl.lit(False)
    return frame.group_by(_KEY, maintain_order=True).agg(
        pl.col(C.CUSTOMER_ID).first().alias("customer"),
        pl.col(C.ORDER_DATE).min().alias("date"),
        pl.len().alias("rows"),
        pl.col(C.AMOUNT).sum().round(6).alias("amount"),
        refunded.alias("refunded"),
    )


def reconcile(saved: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, Reconciliation]:
    """Merge ``new`` transactions into ``saved`` ones (both canonical).

    Returns the merged transactions (saved rows first, in their order, then
    the new orders' rows; a changed order's rows are replaced in place of
    the old ones' position at the end) and the reconciliation (not yet
    versioned: ``version`` 0).
    """
    merged, result, _ = _reconcile(saved, new)
    return merged, result


def _reconcile(saved: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, Reconciliation, pl.Series]:
    """:func:`reconcile`, and the keys of the new export's orders taken (new or changed)."""
    columns = [c for c in TRANSACTION_SCHEMA if c in saved.columns or c in new.columns]
    saved = saved.with_columns(_order_ids(saved).alias(_KEY))
    new = new.with_columns(_order_ids(new).alias(_KEY))
    old_orders, new_orders = _signatures(saved), _signatures(new)
    compared = new_orders.join(old_orders, on=_KEY, how="left", suffix="_old", maintain_order="left")
    known = pl.col("rows_old").is_not_null()
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in _SIGNATURE])
    status = compared.with_columns(
        pl.when(~known).then(pl.lit("new")).when(same).then(pl.lit("duplicate")).otherwise(pl.lit("changed"))
        .alias("status")
    )
    counts = dict(status.group_by("status").len().iter_rows())
    replaced = status.filter(pl.col("status") == "changed").get_column(_KEY)
    taken = status.filter(pl.col("status") != "duplicate").get_column(_KEY)
    merged = pl.concat(
        [saved.filter(~pl.col(_KEY).is_in(replaced.implode())), new.filter(pl.col(_KEY).is_in(taken.implode()))],
        how="diagonal_relaxed",
    )
    has_ids = C.ORDER_ID in new.columns and new.get_column(C.ORDER_ID).is_not_null().any()
    without_ids = C.ORDER_ID not in new.columns or new.get_column(C.ORDER_ID).is_null().any()
    matched_by = _matched_by(has_ids, without_ids)
    changed = _changed_listing(status)
    result = Reconciliation(
        new_orders=counts.get("new", 0),
        changed_orders=counts.get("changed", 0),
        duplicate_orders=counts.get("duplicate", 0),
        orders_before=old_orders.height,
        orders_after=merged.get_column(_KEY).n_unique(),
        rows_before=saved.height,
        rows_after=merged.height,
        matched_by=matched_by,
        changed=changed.to_dicts(),
    )
    return merged.select([pl.col(c).cast(TRANSACTION_SCHEMA[c]) for c in columns]), result, taken


_ROW = "__row"
_CONTENT = "\x00"  # the first character of an order key made from the content (see _order_ids)
#: New rows whose order ids are counted in one hash set by the streamed reconciliation (about 200 MB).
IDS_PER_PASS = 4_000_000


def _content_group(amount_digits: int = 6) -> pl.Expr:
    """The (customer, date, amount) a content key numbers its rows within, as one text value."""
    return pl.concat_str([pl.col(C.CUSTOMER_ID), pl.col(C.ORDER_DATE).cast(pl.String),
                          pl.col(C.AMOUNT).round(amount_digits).cast(pl.String)], separator="\x1f")


@dataclass(frozen=True)
class StreamedMerge:
    """:func:`reconcile_streamed`'s outcome: the reconciliation and the merged rows as a query (saved rows
    first, then the new export's rows in file order, as :func:`reconcile` orders them), to sink to a file."""

    reconciliation: Reconciliation
    merged: pl.LazyFrame
    replaced: pl.Series  # keys of the saved orders the new export changed


def reconcile_streamed(saved: pl.DataFrame, new: pl.LazyFrame, rows: int) -> StreamedMerge:
    """:func:`reconcile` for a new export of many rows (``rows``, read in batches: on disk), without
    holding them: the same counts and the same merged rows.

    Only a new row whose order id, or (customer, date, amount), is among the saved orders' can be a
    duplicate or a change: those few rows are collected and compared exactly as :func:`reconcile`
    compares them (a content key's number counts every new row of its (customer, date, amount), and
    all of them are among the few). Every other new order is new: without an id each row is one, with
    ids they are counted distinct, slice by slice of ids. The merged rows stream from the files.
    """
    names = new.collect_schema().names()
    has_id_column = C.ORDER_ID in names
    columns = [c for c in TRANSACTION_SCHEMA if c in saved.columns or c in names]
    saved = saved.with_columns(_order_ids(saved).alias(_KEY))
    old_orders = _signatures(saved)
    by_content = pl.col(_KEY).str.starts_with(_CONTENT)
    saved_groups = saved.filter(by_content).select(_content_group()).to_series().unique()
    could_match = [_content_group().is_in(saved_groups.implode())] if saved_groups.len() else []
    if has_id_column:
        saved_ids = saved.filter(~by_content).get_column(_KEY).unique().implode()
        could_match.append(pl.col(C.ORDER_ID).is_in(saved_ids).fill_null(False))
    indexed = new.with_row_index(_ROW)
    few = indexed.filter(pl.any_horizontal(could_match) if could_match else pl.lit(False)) \
        .collect(engine="streaming").sort(_ROW)
    few = few.with_columns(_order_ids(few).alias(_KEY))
    matched = few.filter(pl.col(_KEY).is_in(old_orders.get_column(_KEY).implode()))
    compared = _signatures(matched).join(old_orders, on=_KEY, how="inner", suffix="_old", maintain_order="left")
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in _SIGNATURE])
    status = compared.with_columns(pl.when(same).then(pl.lit("duplicate")).otherwise(pl.lit("changed")).alias("status"))
    counts = dict(status.group_by("status").len().iter_rows())
    replaced = status.filter(pl.col("status") == "changed").get_column(_KEY)
    duplicates = status.filter(pl.col("status") == "duplicate").get_column(_KEY)
    dropped = few.filter(pl.col(_KEY).is_in(duplicates.implode())).get_column(_ROW)
    with_id = pl.col(C.ORDER_ID).is_not_null().sum() if has_id_column else pl.lit(0, pl.UInt32)
    new_rows, id_rows = new.select(pl.len(), with_id.alias("with_id")).collect(engine="streaming").row(0)
    without_id_rows = new_rows - id_rows
    matched_id_orders = matched.filter(~pl.col(_KEY).str.starts_with(_CONTENT)).get_column(_KEY).n_unique()
    matched_content_orders = matched.height - matched.filter(~pl.col(_KEY).str.starts_with(_CONTENT)).height
    new_orders = (without_id_rows - matched_content_orders) + (_distinct_ids(new, rows) - matched_id_orders
                                                               if id_rows else 0)
    kept_saved = saved.filter(~pl.col(_KEY).is_in(replaced.implode()))
    merged = pl.concat([_typed(kept_saved.lazy(), columns), _typed(indexed.filter(~pl.col(_ROW).is_in(dropped.implode())),
                                                                   columns)])
    without_ids = without_id_rows > 0 or not has_id_column  # as reconcile says it (an empty file included)
    matched_by = _matched_by(id_rows > 0, without_ids)
    changed = _changed_listing(status)
    result = Reconciliation(
        new_orders=new_orders,
        changed_orders=counts.get("changed", 0),
        duplicate_orders=counts.get("duplicate", 0),
        orders_before=old_orders.height,
        orders_after=old_orders.height + new_orders,  # a changed order replaces its saved self
        rows_before=saved.height,
        rows_after=kept_saved.height + new_rows - dropped.len(),
        matched_by=matched_by,
        changed=changed.to_dicts(),
    )
    return StreamedMerge(result, merged, replaced)


def _typed(frame: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """``columns`` of ``frame`` in the transaction schema's types, those it lacks as nulls."""
    present = frame.collect_schema().names()
    return frame.select([(pl.col(c) if c in present else pl.lit(None)).cast(TRANSACTION_SCHEMA[c]).alias(c)
                         for c in columns])


def _distinct_ids(new: pl.LazyFrame, rows: int) -> int:
    """Distinct order ids of ``new``, counted slice by slice of their hashes (one hash set of all
    of them would hold every id of a file of millions of orders)."""
    slices = max(1, math.ceil(rows / IDS_PER_PASS))
    ids = new.select(pl.col(C.ORDER_ID)).drop_nulls()
    return sum(ids.filter(pl.col(C.ORDER_ID).hash() % slices == k).select(pl.col(C.ORDER_ID).n_unique())
               .collect(engine="streaming").item() for k in range(slices))


def merge_lines(saved: pl.DataFrame | None, new: pl.DataFrame | None, taken: pl.Series) -> pl.DataFrame | None:
    """Line items after an append: the saved ones, except those of the orders the new export
    replaced or added (``taken``, order keys), whose lines come from the new export."""
    taken_ids = taken.implode()
    parts = []
    if saved is not None:
        parts.append(saved.filter(~pl.col(C.ORDER_ID).is_in(taken_ids).fill_null(False)))
    if new is not None:
        parts.append(new.filter(pl.col(C.ORDER_ID).is_in(taken_ids).fill_null(False)))
    if not parts:
        return None
    return conform(pl.concat(parts, how="diagonal_relaxed").lazy(), LINE_SCHEMA).collect()


# ---------------------------------------------------------------- dataset folders


def _appends(folder: Path) -> Path:
    return Path(folder) / APPENDS_FOLDER


def versions(folder: Path) -> list[Reconciliation]:
    """The appends that can be undone, oldest first."""
    found = []
    root = _appends(folder)
    for path in sorted(root.iterdir(), key=lambda p: int(p.name)) if root.exists() else []:
        if path.name.isdigit() and (path / RECONCILIATION_FILE).exists():
            data = json.loads((path / RECONCILIATION_FILE).read_text("utf-8"))
            found.append(Reconciliation(**data))
    return found


def append_export(
    folder: Path, new: pl.LazyFrame | pl.DataFrame, *, source: Path | bytes | None = None, source_filename: str = "",
    lines: pl.LazyFrame | pl.DataFrame | None = None, streamed_rows: int | None = None,
) -> Reconciliation:
    """Append ``new`` canonical transactions to the dataset saved in ``folder``.

    The previous ``transactions.parquet`` (and ``lines.parquet``) move to
    ``appends/<n>/`` with the appended file (``source``: its path or bytes)
    and the reconciliation; :func:`undo_append` puts them back. ``lines`` are
    the new export's line items (``IngestReport.lines``), if any.
    ``streamed_rows``: ``new`` holds this many rows on disk (a file read in batches, which has no line
    items): they are reconciled and written without being held (:func:`reconcile_streamed`).
    """
    folder = Path(folder)
    target = folder / TRANSACTIONS_FILE
    if not target.exists():
        raise FileNotFoundError(f"No saved dataset in {folder.name}: {TRANSACTIONS_FILE} is missing.")
    saved = conform(pl.scan_parquet(target), TRANSACTION_SCHEMA).collect()
    merged: pl.DataFrame | StreamedMerge
    if streamed_rows is not None:
        merged = reconcile_streamed(saved, conform(new.lazy(), TRANSACTION_SCHEMA), streamed_rows)
        result, taken, new_lines = merged.reconciliation, merged.replaced, None  # of the saved lines, those replaced
    else:
        new_frame = conform(new.lazy(), TRANSACTION_SCHEMA).collect()
        merged, result, taken = _reconcile(saved, new_frame)
        new_lines = _useful_lines(lines, new_frame)
    lines_target = folder / LINES_FILE
    saved_lines = conform(pl.scan_parquet(lines_target), LINE_SCHEMA).collect() if lines_target.exists() else None
    merged_lines = merge_lines(saved_lines, new_lines, taken) if new_lines is not None or saved_lines is not None else None
    number = max((int(p.name) for p in _appends(folder).glob("*") if p.name.isdigit()), default=0) + 1
    version = _appends(folder) / str(number)
    staging = _appends(folder) / f".{number}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        result = Reconciliation(**{**asdict(result), "version": number, "source_filename": Path(source_filename).name,
                                   "appended_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        if isinstance(merged, StreamedMerge):
            merged.merged.sink_parquet(staging / f".{TRANSACTIONS_FILE}")
        else:
            merged.write_parquet(staging / f".{TRANSACTIONS_FILE}")
        if merged_lines is not None:
            merged_lines.write_parquet(staging / f".{LINES_FILE}")
        if source is not None:
            suffix = "".join(s.lower() for s in Path(source_filename).suffixes[-2:] if s[1:].isalnum() and len(s) <= 6)
            copy = staging / f"{APPENDED_STEM}{suffix}"
            if isinstance(source, Path):
                shutil.copyfile(source, copy)  # block by block: an export of millions of rows is never held
            else:
                copy.write_bytes(bytes(source))
        (staging / RECONCILIATION_FILE).write_text(json.dumps(result.to_dict(), ensure_ascii=False), "utf-8")
        if lines_target.exists():  # before the transactions: once they are copied, failing restores both
            shutil.copy2(lines_target, staging / PREVIOUS_LINES_FILE)
        shutil.copy2(target, staging / PREVIOUS_FILE)
        for path in staging.iterdir():
            path.chmod(0o600)
        if merged_lines is not None:
            (staging / f".{LINES_FILE}").replace(lines_target)
        (staging / f".{TRANSACTIONS_FILE}").replace(target)  # the moment the dataset changes
        staging.rename(version)
    except BaseException:
        if (staging / PREVIOUS_FILE).exists() and not version.exists():
            shutil.copy2(staging / PREVIOUS_FILE, target)  # the dataset as it was
            _restore_lines(staging, folder)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _useful_lines(lines: pl.LazyFrame | pl.DataFrame | None, transactions: pl.DataFrame) -> pl.DataFrame | None:
    """The new export's lines when they hold items its transactions merged (else None)."""
    from crm_core.products import lines_add_items

    if lines is None or not lines_add_items(lines, transactions):
        return None
    return conform(lines.lazy(), LINE_SCHEMA).collect()


def _restore_lines(version: Path, folder: Path) -> None:
    """Put the lines saved in ``version`` back (none saved: the dataset had no lines)."""
    previous, target = version / PREVIOUS_LINES_FILE, Path(folder) / LINES_FILE
    if previous.exists():
        previous.replace(target)
    else:
        target.unlink(missing_ok=True)


def undo_append(folder: Path) -> Reconciliation:
    """Put back the transactions as they were before the last append; returns that append's reconciliation."""
    done = versions(folder)
    if not done:
        raise FileNotFoundError("Nothing to undo: no export was appended to this dataset.")
    last = done[-1]
    version = _appends(folder) / str(last.version)
    _restore_lines(version, folder)
    (version / PREVIOUS_FILE).replace(Path(folder) / TRANSACTIONS_FILE)
    shutil.rmtree(version, ignore_errors=True)
    return last


def _matched_by(by_id: bool, by_customer_date_amount: bool) -> str:
    """How orders were matched, as the reconciliation says it."""
    return " and ".join(label for label, used in (("order_id", by_id),
                                                  ("customer, date and amount", by_customer_date_amount)) if used)


def _changed_listing(status: pl.DataFrame) -> pl.DataFrame:
    """The first changed orders with their old and new amount and date."""
    return (
        status.filter(pl.col("status") == "changed").head(MAX_CHANGED_LISTED)
        .select(pl.col(_KEY).alias("order_id"), pl.col("customer").alias("customer_id"),
                pl.col("amount_old").alias("old_amount"), pl.col("amount").alias("new_amount"),
                pl.col("date_old").alias("old_date"), pl.col("date").alias("new_date"))
    )
