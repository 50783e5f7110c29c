"""Read order exports (and side tables) into the canonical schema.

The package is staged: ``source`` opens the bytes (formats, compression,
limits), ``sniff`` detects encodings, delimiters and notations, ``columns``
maps names to roles, ``presets`` knows vendor exports, ``parse`` turns text
into typed values and ``reader`` ties the stages together into
:func:`read_orders` and :func:`read_side_table`; ``sandbox`` runs them in a
worker process with memory and time limits (what this package exports). See docs/ingest.md.

Only :class:`IngestError` escapes: its message tells the user what to do.
"""
from __future__ import annotations

from crm_core.ingest.errors import IngestError
from crm_core.ingest.reader import MAX_DECOMPRESSED_BYTES, REASONS, ColumnMapping, IngestReport, ReadOptions
from crm_core.ingest.sandbox import read_orders, read_side_table  # the reader in a worker with limits

__all__ = [
    "IngestError", "IngestReport", "ColumnMapping", "ReadOptions", "read_orders", "read_side_table",
    "MAX_DECOMPRESSED_BYTES", "REASONS",
]
