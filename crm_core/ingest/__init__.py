"""Read order exports (and side tables) into the canonical schema.

The package is staged: ``source`` opens the bytes (formats, compression,
limits), ``sniff`` detects encodings, delimiters and notations, ``columns``
maps names to roles, ``presets`` knows vendor exports, ``parse`` turns text
into typed values and ``reader`` ties the stages together into
:func:`read_orders` and :func:`read_side_table`. See docs/ingest.md.

Only :class:`IngestError` escapes: its message tells the user what to do.
The reader (and Polars) is imported on first use, so that importing
``IngestError`` alone stays cheap (the CLI's ``--help`` and error paths).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crm_core.ingest.errors import IngestError

if TYPE_CHECKING:
    from crm_core.ingest.reader import (
        MAX_DECOMPRESSED_BYTES, REASONS, ColumnMapping, IngestReport, ReadOptions, read_orders, read_side_table,
    )

__all__ = [
    "IngestError", "IngestReport", "ColumnMapping", "ReadOptions", "read_orders", "read_side_table",
    "MAX_DECOMPRESSED_BYTES", "REASONS",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from crm_core.ingest import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'crm_core.ingest' has no attribute '{name}'")
