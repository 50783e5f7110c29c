"""The reader worker: ``python -m crm_core.ingest.worker JOB_FOLDER`` (started by :mod:`crm_core.ingest.sandbox`).

Reads ``request.pickle`` from the job folder, caps its own address space,
runs the in-process reader and writes ``valid.arrow`` (the valid rows) and
``result.pickle``: ``(status, message, report)`` with status ``ok``,
``error`` (an :class:`IngestError`: message and report) or ``memory``.
Anything else, including an abort, is the parent's to report.
"""
from __future__ import annotations

import pickle
import resource
import sys
from pathlib import Path

from crm_core.ingest import sandbox
from crm_core.ingest import source as ingest_source
from crm_core.ingest.errors import IngestError
from crm_core.ingest.messages import disk_full, is_disk_full


def main(job: Path) -> int:
    request = pickle.loads((job / sandbox.REQUEST_FILE).read_bytes())
    for name, value in request["limits"].items():
        setattr(ingest_source, name, value)
    limit = int(request["address_space"])
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        lazy, report = sandbox.run_reader(request["what"], request["path"], request["filename"], request["arguments"])
        lazy.sink_ipc(job / sandbox.VALID_FILE)  # streamed: a large file's rows never sit in memory at once
        report.spill_rejected(Path(request["spill"]))
        result = ("ok", None, report)
    except IngestError as error:
        result = _failure(error, Path(request["spill"]))
    except MemoryError:
        result = ("memory", None, None)
    except OSError as error:  # writing the result: the temporary disk is full
        if not is_disk_full(error):
            raise
        result = ("error", disk_full(), None)
    (job / sandbox.RESULT_FILE).write_bytes(pickle.dumps(result))
    return 0


def _failure(error: IngestError, spill: Path) -> tuple[str, str | None, object]:
    """The result for an IngestError (the reader wraps a MemoryError in one)."""
    if isinstance(error.__cause__, MemoryError):
        return ("memory", None, None)
    if error.report is not None:
        error.report.spill_rejected(spill)
    return ("error", str(error), error.report)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
