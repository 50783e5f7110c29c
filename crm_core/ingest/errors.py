"""The one exception ingest raises (re-exported by :mod:`crm_core.ingest`)."""
from __future__ import annotations

from typing import Any


class IngestError(Exception):
    """A file cannot be used; the message tells the user what to do.

    ``report`` carries the :class:`~crm_core.ingest.IngestReport` when the file
    was read but no row was usable (so the rejected rows can still be shown).
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
