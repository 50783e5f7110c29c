"""Rejected rows beyond the first examples live in a CSV file, not in memory.

A file of 50 million junk rows has 50 million rejected rows: the report keeps
their counts per reason and the first :data:`KEPT_IN_MEMORY` rows
(``IngestReport.rejected``); every rejected row is written to a CSV file in
:func:`spill_folder` (``IngestReport.rejected_file``, read back lazily by
``IngestReport.all_rejected()``). The file is removed when the report is
garbage-collected (or at exit), and files left by killed processes are swept
after a day.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import polars as pl

#: Rejected rows kept in memory (shown on screen, in the CLI sample).
KEPT_IN_MEMORY = 1000
#: Spill files older than this are removed (left by killed processes).
STALE_SECONDS = 24 * 3600
REJECTED_SCHEMA = {"line": pl.Int64, "raw": pl.String, "reason": pl.String}


def spill_folder() -> Path:
    """The folder of spill files (private to this user), swept of stale files."""
    folder = Path(tempfile.gettempdir()) / f"crm_rejected_{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    cutoff = time.time() - STALE_SECONDS
    for old in folder.glob("*.csv"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    return folder


def spill(report: Any, folder: Path) -> None:
    """Move ``report.rejected`` beyond the first rows into a CSV file in ``folder``."""
    rejected: pl.DataFrame = report.rejected
    if report.rejected_file is not None or rejected.height <= KEPT_IN_MEMORY:
        return
    counts = rejected.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    path = folder / f"rejected-{uuid.uuid4().hex}.csv"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        rejected.write_csv(out)
    report.rejected_counts = dict(zip(counts["reason"].to_list(), counts["len"].to_list()))
    report.rejected_file = str(path)
    report.rejected = rejected.head(KEPT_IN_MEMORY)


def scan(path: str) -> pl.LazyFrame:
    """The rejected rows of a spill file (CSV) or of a saved dataset (Parquet), lazily."""
    if str(path).endswith(".parquet"):
        return pl.scan_parquet(path)
    return pl.scan_csv(path, schema=REJECTED_SCHEMA)


def attach_file(report: Any, path: Path, counts: dict[str, int] | None) -> None:
    """Give ``report`` the rejected rows saved in ``path`` (Parquet): the first ones loaded, the rest by file."""
    report.rejected = pl.scan_parquet(path).head(KEPT_IN_MEMORY).collect()
    if report.rows_rejected > report.rejected.height and counts is not None:
        report.rejected_file = str(path)
        report.rejected_counts = dict(counts)


def remove_with(report: Any) -> None:
    """Remove the report's spill file when the report is garbage-collected (or at exit)."""
    if report is not None and report.rejected_file:
        weakref.finalize(report, _remove, report.rejected_file)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
