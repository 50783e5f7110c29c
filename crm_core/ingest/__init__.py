"""Read order exports (and side tables) into the canonical schema.

The package is staged: ``source`` opens the bytes (formats, compression,
limits), ``mapping`` maps columns to roles, ``formats`` sniffs notations,
``values`` parses, ``checks`` validates and ``report`` says what happened;
``reader`` ties the stages together and ``sandbox`` runs the reader in a
worker process with memory and time limits: its :func:`read_orders` and
:func:`read_side_table` are what this package exports. See docs/ingest.md.

Only :class:`IngestError` escapes: its message tells the user what to do.
Everything but the error is imported on first use, so that importing
``IngestError`` alone stays cheap (the CLI's ``--help`` and error paths).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from crm_core.ingest.errors import IngestError

if TYPE_CHECKING:
    from crm_core.ingest.reader import MAX_DECOMPRESSED_BYTES, REASONS, ColumnMapping, IngestReport, ReadOptions
    from crm_core.ingest.sandbox import read_orders, read_side_table

#: Where each public name lives (loaded on first use).
_HOMES = {
    "IngestReport": "reader", "ColumnMapping": "reader", "ReadOptions": "reader",
    "MAX_DECOMPRESSED_BYTES": "reader", "REASONS": "reader",
    "read_orders": "sandbox", "read_side_table": "sandbox",
}

__all__ = ["IngestError", *_HOMES]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"crm_core.ingest.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'crm_core.ingest' has no attribute '{name}'")
