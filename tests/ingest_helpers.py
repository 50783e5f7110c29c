"""Reading a hostile file in the tests, with the accounting every read must keep."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from crm_core.ingest import REASONS, IngestReport, ReadOptions, read_orders

ROOT = Path(__file__).resolve().parent.parent


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


def summary_cli(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m crm_core summary PATH --json`` (supervised, as a user runs it), checked against the CLI's
    contract on a hostile file: exit 0, or exit 2 with one line of at most ``MAX_MESSAGE`` characters; never a
    traceback or a Rust panic. Returns the finished process for the caller's own checks of its output."""
    from crm_core.ingest.messages import MAX_MESSAGE

    done = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(path), "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 2), (path.name, done.stderr)
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr, path.name
    if done.returncode == 2:
        assert done.stderr.count("\n") == 1 and len(done.stderr.strip()) <= MAX_MESSAGE, (path.name, done.stderr)
    return done
