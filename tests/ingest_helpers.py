"""Reading a hostile file in the tests, with the accounting every read must keep."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from crm_core.ingest import REASONS, IngestReport, ReadOptions, read_orders


def read_checked(path: Path, **options) -> tuple[pl.DataFrame, IngestReport]:
    """Read ``path`` (with ``ReadOptions(**options)`` if any) and check that nothing was lost: rows read = kept +
    rejected, every rejected row has a line and a known reason. Returns the kept rows and the report."""
    tx, report = read_orders(path, options=ReadOptions(**options) if options else None)
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected
    assert report.rows_rejected == sum(report.rejected_by_reason().values())
    assert report.rows_valid == frame.height
    assert report.rejected.get_column("line").null_count() == 0
    assert set(report.rejected.get_column("reason")) <= set(REASONS)
    return frame, report
