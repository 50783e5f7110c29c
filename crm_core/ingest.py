"""Read order exports into the canonical schema.

TEMPORARY STUB: reads CSV/Parquet whose columns already carry canonical names.
The full sniffing/mapping implementation replaces this module, keeping the
public names below (IngestError, IngestReport, ColumnMapping, ReadOptions,
read_orders, read_side_table).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from crm_core.schema import SIDE_TABLE_SCHEMAS, TRANSACTION_SCHEMA, conform


class IngestError(Exception):
    """A file cannot be used; the message tells the user what to do."""


@dataclass(frozen=True)
class ColumnMapping:
    """Source column name for each canonical column (None = detect)."""

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


@dataclass(frozen=True)
class ReadOptions:
    """User overrides of what sniffing would detect (None = detect)."""

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    preset: str | None = None


@dataclass
class IngestReport:
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rejected: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"line": pl.Int64, "raw": pl.String, "reason": pl.String})
    )
    duplicate_rows: int = 0
    negative_amount_rows: int = 0
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], rejected: pl.DataFrame | None = None) -> "IngestReport":
        known = {k: data[k] for k in ("rows_read", "rows_valid", "rows_rejected", "duplicate_rows",
                                      "negative_amount_rows", "detected", "warnings") if k in data}
        report = cls(**known)
        if rejected is not None:
            report.rejected = rejected
        return report

    def rejected_by_reason(self) -> dict[str, int]:
        counts = self.rejected.group_by("reason").len().sort("reason")
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))


def _scan(source: str | Path) -> pl.LazyFrame:
    path = Path(source)
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    frame = pl.scan_csv(path, infer_schema=False)
    dates = [n for n in frame.collect_schema().names() if n.endswith("date") or n == "month"]
    return frame.with_columns(pl.col(dates).str.to_date(strict=False))


def read_orders(
    source: str | Path,
    mapping: ColumnMapping | None = None,
    options: ReadOptions | None = None,
) -> tuple[pl.LazyFrame, IngestReport]:
    """Read an order export. Returns canonical transactions and the report."""
    frame = conform(_scan(source), TRANSACTION_SCHEMA).collect()
    report = IngestReport(rows_read=frame.height, rows_valid=frame.height)
    return frame.lazy(), report


def read_side_table(
    source: str | Path, kind: str, options: ReadOptions | None = None
) -> tuple[pl.LazyFrame, IngestReport]:
    """Read a side table ('customers', 'interactions', 'marketing_spend')."""
    frame = conform(_scan(source), SIDE_TABLE_SCHEMAS[kind]).collect()
    return frame.lazy(), IngestReport(rows_read=frame.height, rows_valid=frame.height)
