"""Rows on disk split once into slices of customers, so that a query over one slice reads that slice alone.

With many rows on disk (a file read in batches), the per-customer tables and the totals the findings count
(:func:`crm_core.commands.common.per_customer`, :func:`crm_core.customers.customer_totals`) are built slice by
slice of customers: ``rows.filter(pl.col("customer_id").hash() % n == k)``, one slice's rows in memory at a
time. Over the rows as read, every slice scans every row: n slices of a table cost n full reads, and n grows
with the rows (one slice per 1.5M rows), so the work grew with the square of the rows (30M orders: 20 reads
of 30M rows for each of about 15 tables, the report's row findings still running after 40 minutes).

:func:`sliced_rows` writes the rows once into one folder per slice (each slice's rows in their order in the
file) and returns a LazyFrame with the rows' schema whose source reads, for a query filtered on one slice
(the filter above, alone or beside others in a conjunction), that slice's files alone, and for any other
query the rows as before (the same frame, the same order). The filter is still applied either way: the
answer is the one the rows give; only what is read changes.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from crm_core.schema import C

#: Rows per batch when the rows are written into their slices.
WRITE_BATCH_ROWS = 1_000_000


def slice_filter(slices: int, k: int) -> pl.Expr:
    """The filter of slice ``k`` of ``slices`` (as per_customer and customer_totals write it)."""
    return pl.col(C.CUSTOMER_ID).hash() % slices == k


def _conjuncts(tree: Any) -> Iterator[Any]:
    """The terms of a predicate's top-level conjunction (``a & b & c``), as serialized trees."""
    binary = tree.get("BinaryExpr") if isinstance(tree, dict) else None
    if binary is not None and binary.get("op") == "And":
        yield from _conjuncts(binary["left"])
        yield from _conjuncts(binary["right"])
    else:
        yield tree


def _integer(tree: Any) -> int | None:
    """The value of an integer literal's tree ({"Literal": {"Dyn": {"Int": 4}}} or {"Literal": {"Scalar": {"UInt64": 4}}})."""
    literal = tree.get("Literal") if isinstance(tree, dict) else None
    while isinstance(literal, dict) and len(literal) == 1:
        literal = next(iter(literal.values()))
    return literal if isinstance(literal, int) and not isinstance(literal, bool) else None


def _slice_term(tree: Any, hashed: Any) -> tuple[int, int] | None:
    """(slices, k) when ``tree`` is ``hashed % slices == k``, else None."""
    equal = tree.get("BinaryExpr") if isinstance(tree, dict) else None
    if equal is None or equal.get("op") != "Eq":
        return None
    modulus = equal["left"].get("BinaryExpr") if isinstance(equal["left"], dict) else None
    if modulus is None or modulus.get("op") != "Modulus" or modulus["left"] != hashed:
        return None
    slices, k = _integer(modulus["right"]), _integer(equal["right"])
    return None if slices is None or k is None else (slices, k)


def slice_of(predicate: pl.Expr | None, slices: int) -> int | None:
    """The slice ``predicate`` keeps (one of its top-level conjunction's terms is :func:`slice_filter`), else None."""
    if predicate is None:
        return None
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
        hashed = json.loads(pl.col(C.CUSTOMER_ID).hash().meta.serialize(format="json"))
    except Exception:  # an expression that does not serialize: read everything
        return None
    for term in _conjuncts(tree):
        found = _slice_term(term, hashed)
        if found is not None and found[0] == slices and 0 <= found[1] < slices:
            return found[1]
    return None


@contextlib.contextmanager
def sliced_rows(rows: pl.LazyFrame, slices: int) -> Iterator[pl.LazyFrame]:
    """``rows`` (on disk) written once into ``slices`` slices of customers; yields a LazyFrame of the same rows
    whose queries on one slice read that slice alone (see the module's docstring). The files are removed on exit."""
    schema = rows.collect_schema()
    # Beside the batched read's own folders (private to this user): a process killed before it removes its slices
    # leaves a folder the next read sweeps once a day old (crm_core.ingest.batches._sweep).
    base = Path(tempfile.gettempdir()) / f"crm_rows_{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="read-slices-", dir=base))
    try:
        key = "__slice"
        keyed = rows.with_columns((pl.col(C.CUSTOMER_ID).hash() % slices).cast(pl.Int64).alias(key))
        for part, batch in enumerate(keyed.collect_batches(chunk_size=WRITE_BATCH_ROWS, engine="streaming")):
            for (k,), piece in batch.partition_by(key, as_dict=True, maintain_order=True).items():
                target = folder / f"slice-{k}"
                target.mkdir(exist_ok=True)
                piece.drop(key).write_parquet(target / f"part-{part:06d}.parquet", compression="lz4", statistics=False)
            del batch

        def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                   batch_size: int | None) -> Iterator[pl.DataFrame]:
            k = slice_of(predicate, slices)
            if k is None:
                frame = rows
            elif (folder / f"slice-{k}").exists():
                frame = pl.scan_parquet(folder / f"slice-{k}" / "part-*.parquet", schema=schema)
            else:
                frame = pl.LazyFrame(schema=schema)
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if n_rows is not None:
                frame = frame.head(n_rows)
            yield from frame.collect_batches(chunk_size=batch_size, engine="streaming")

        from polars.io.plugins import register_io_source

        yield register_io_source(source, schema=schema)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def sliced_dataset(dataset: Any, report: Any) -> Iterator[Any]:
    """``dataset`` with its transactions :func:`sliced_rows` when they are on disk and counted in more than one
    slice of customers (:func:`crm_core.commands.common.customer_slices`); otherwise ``dataset`` itself."""
    from dataclasses import replace

    from crm_core.commands.common import customer_slices, on_disk

    slices = customer_slices(report.rows_valid) if on_disk(report) else 1
    if slices <= 1:
        yield dataset
        return
    with sliced_rows(dataset.transactions, slices) as rows:
        yield replace(dataset, transactions=rows)
