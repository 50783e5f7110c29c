"""A dataset: the canonical transactions plus optional side tables."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from crm_core.schema import LINE_SCHEMA, SIDE_TABLE_SCHEMAS, TRANSACTION_SCHEMA, conform

TRANSACTIONS_FILE = "transactions.parquet"
#: Line items of merged orders (see :data:`crm_core.schema.LINE_SCHEMA`), when the export had them.
LINES_FILE = "lines.parquet"


@dataclass(frozen=True)
class Dataset:
    """Canonical tables of one portfolio.

    Attributes
    ----------
    transactions
        Canonical transactions (see :mod:`crm_core.schema`).
    customers, interactions, marketing_spend
        Optional side tables, ``None`` when not supplied.
    name
        Human-readable name shown in the UI.
    lines
        Line items of orders merged into one transaction row (Shopify, WooCommerce), ``None``
        when every line is its own transaction row (see :func:`crm_core.products.sold_items`).
    """

    transactions: pl.LazyFrame
    customers: pl.LazyFrame | None = None
    interactions: pl.LazyFrame | None = None
    marketing_spend: pl.LazyFrame | None = None
    name: str = "dataset"
    extra: dict = field(default_factory=dict)
    lines: pl.LazyFrame | None = None

    def side_table(self, kind: str) -> pl.LazyFrame | None:
        """Return side table ``kind`` ('customers', 'interactions', 'marketing_spend')."""
        return getattr(self, kind)


def save_dataset(dataset: Dataset, folder: Path) -> None:
    """Write every table of ``dataset`` as Parquet into ``folder`` (created private to this user, 0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dataset.transactions.sink_parquet(folder / TRANSACTIONS_FILE)
    for kind in SIDE_TABLE_SCHEMAS:
        table = dataset.side_table(kind)
        if table is not None:
            table.sink_parquet(folder / f"{kind}.parquet")
    if dataset.lines is not None:
        conform(dataset.lines, LINE_SCHEMA).sink_parquet(folder / LINES_FILE)


def load_dataset(folder: Path, name: str | None = None) -> Dataset:
    """Scan a folder written by :func:`save_dataset` (lazy; nothing is read yet)."""
    folder = Path(folder)
    tx = conform(pl.scan_parquet(folder / TRANSACTIONS_FILE), TRANSACTION_SCHEMA)
    tables: dict[str, pl.LazyFrame | None] = {}
    for kind, schema in {**SIDE_TABLE_SCHEMAS, "lines": LINE_SCHEMA}.items():
        path = folder / (LINES_FILE if kind == "lines" else f"{kind}.parquet")
        tables[kind] = conform(pl.scan_parquet(path), schema) if path.exists() else None
    return Dataset(transactions=tx, customers=tables["customers"], interactions=tables["interactions"],
                   marketing_spend=tables["marketing_spend"], name=name or folder.name, lines=tables["lines"])
