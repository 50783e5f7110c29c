"""Read files in a worker process with memory and time limits.

The native readers (Polars' CSV and Parquet readers, calamine for Excel) are
Rust: a hostile file can make them allocate hundreds of gigabytes and abort
the process, which Python cannot catch, and that process would be the server.
So :func:`read_orders` and :func:`read_side_table` here run the whole read
(opening, parsing, the report) in a child process (``python -m
crm_core.ingest.worker``). The parent watches the child's resident memory
(every 20 ms) and the clock, and kills it beyond the limits; the child's
address space is also capped (``RLIMIT_AS``: the memory limit plus 1.5 GB,
as Polars reserves address space it never uses), so a single absurd
allocation fails at once. The child writes the valid rows as an Arrow IPC
file and the report (rejected rows beyond the first thousand spilled to a
CSV, see :mod:`crm_core.ingest.rejects`); the caller gets the same
``(LazyFrame, IngestReport)`` as from the in-process reader. A crash, the
memory limit or the timeout becomes one :class:`IngestError` line; the server
and other sessions carry on. The child's output (a Rust panic message, a
backtrace) is never shown.

Small plain-text files are read in-process (starting a worker costs about a
third of a second); compressed, Excel and Parquet files always go through the
worker, whatever their size.

A CLI command can instead run whole under :func:`crm_core.ingest.supervisor.supervised`
(a fork watched the same way, without re-importing or handing rows back); then every
file is read in-process, in that watched child.

Limits (environment variables, read at each call; see :mod:`crm_core.ingest.limits`):

- ``CRM_INGEST_MEMORY_MB``: resident memory of the worker (default 2560; 0: no limit).
- ``CRM_INGEST_TIMEOUT_S``: wall-clock limit of one read (default 240).
- ``CRM_INGEST_INPROCESS_MB``: plain-text files up to this size are read
  in-process (default 8; 0 sends every file to the worker).
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from crm_core.ingest import reader, rejects
from crm_core.ingest import source as ingest_source
from crm_core.ingest.errors import IngestError
from crm_core.ingest.limits import (
    ADDRESS_HEADROOM, PACKED_MAGIC, TOO_BIG, TOO_SLOW, crash_message, env_number, file_bytes, gigabytes, memory_limit_bytes,
    resident_bytes, seconds_label, timeout_seconds,
)
from crm_core.ingest.supervisor import SUPERVISED_ENV
from crm_core.ingest.messages import disk_full, is_disk_full, one_line
from crm_core.ingest.options import ColumnMapping, ReadOptions, Source
from crm_core.ingest.report import IngestReport

INPROCESS_ENV = "CRM_INGEST_INPROCESS_MB"
DEFAULT_INPROCESS_MB = 8

REQUEST_FILE = "request.pickle"
RESULT_FILE = "result.pickle"
VALID_FILE = "valid.arrow"

_CHUNK = 4 * 1024**2
#: How often the worker's resident memory is checked.
_POLL_SECONDS = 0.02

log = logging.getLogger("crm_core.ingest.sandbox")

# Rust prints a backtrace on a panic when RUST_BACKTRACE is set; the message is
# what the user needs, never the backtrace (in-process reads included).
os.environ["RUST_BACKTRACE"] = "0"


def read_orders(
    source: Source,
    mapping: ColumnMapping | None = None,
    options: ReadOptions | None = None,
    *,
    filename: str | None = None,
    count_duplicates: bool | str = True,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[pl.LazyFrame, IngestReport]:
    """:func:`crm_core.ingest.reader.read_orders` with the limits above (same parameters and result; ``meanwhile``
    is called as the worker starts when the file is read there)."""
    return _read("orders", source, filename, mapping=mapping, options=options, count_duplicates=count_duplicates,
                 meanwhile=meanwhile)


def read_side_table(
    source: Source,
    kind: str,
    options: ReadOptions | None = None,
    *,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
) -> tuple[pl.LazyFrame, IngestReport]:
    """:func:`crm_core.ingest.reader.read_side_table` with the limits above."""
    return _read("side", source, filename, kind=kind, options=options, mapping=mapping)


def source_limits() -> dict[str, int]:
    """The file limits of :mod:`crm_core.ingest.source` as set in this process (passed on to the worker)."""
    return {name: getattr(ingest_source, name) for name in ingest_source.LIMITS}


def run_reader(what: str, path: str, filename: str | None, arguments: dict[str, Any]) -> tuple[pl.LazyFrame, IngestReport]:
    """The in-process read (used by the worker, and for small text files)."""
    if what == "orders":
        lazy, report = reader.read_orders(path, arguments.get("mapping"), arguments.get("options"), filename=filename,
                                          count_duplicates=arguments.get("count_duplicates", True),
                                          meanwhile=arguments.get("meanwhile"))
    else:
        lazy, report = reader.read_side_table(
            path, arguments["kind"], arguments.get("options"), mapping=arguments.get("mapping"), filename=filename
        )
    return lazy, report


def _read(what: str, source: Source, filename: str | None, **arguments: Any) -> tuple[pl.LazyFrame, IngestReport]:
    try:
        return _read_file(what, source, filename, arguments)
    except IngestError as error:  # one line of at most 200 characters, long user text shortened
        raise IngestError(one_line(str(error)), error.report) from None
    except OSError as error:
        if is_disk_full(error):
            raise IngestError(disk_full()) from None
        raise


def _read_file(what: str, source: Source, filename: str | None, arguments: dict[str, Any]) -> tuple[pl.LazyFrame, IngestReport]:
    if isinstance(source, (str, Path)) and not _needs_worker(Path(source)):  # no upload to store, no worker
        with _native_output_silenced():
            return _spilled(run_reader(what, str(source), filename, arguments))
    with tempfile.TemporaryDirectory(prefix="crm_read_") as folder:
        job = Path(folder)
        path, filename = _local_file(source, filename, job)
        if not _needs_worker(path):
            with _native_output_silenced():
                return _spilled(run_reader(what, str(path), filename, arguments))
        meanwhile = arguments.pop("meanwhile", None)  # called here: it cannot be sent to the worker
        if meanwhile is not None:
            meanwhile()
        return _in_worker(what, path, filename, arguments, job)


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """In a single-threaded program (the CLI), send file descriptor 2 to a sink during an
    in-process read: a Rust panic prints its message there, which Python cannot stop. A
    server has other threads writing logs, so there it is left alone."""
    if threading.active_count() > 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _spilled(result: tuple[pl.LazyFrame, IngestReport]) -> tuple[pl.LazyFrame, IngestReport]:
    if result[1].rejected.height > rejects.KEPT_IN_MEMORY:  # else nothing to spill (and no folder to sweep)
        result[1].spill_rejected(rejects.spill_folder())
    rejects.remove_with(result[1])
    return result


def _local_file(source: Source, filename: str | None, job: Path) -> tuple[Path, str | None]:
    """A path holding the source's bytes (uploads are written to ``job``)."""
    if isinstance(source, (str, Path)):
        return Path(source), filename
    name = filename or str(getattr(source, "name", "") or "upload")
    target = job / ("upload" + Path(name).suffix[:12])
    try:
        with target.open("wb") as out:
            if isinstance(source, (bytes, bytearray, memoryview)):
                out.write(source)
            elif hasattr(source, "read"):
                with contextlib.suppress(Exception):
                    source.seek(0)
                while chunk := source.read(_CHUNK):
                    out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            else:
                raise IngestError("Unsupported source: give a file path, the file's bytes or an uploaded file.")
    except OSError as error:
        message = disk_full() if is_disk_full(error) else f"The upload could not be stored ({error})."
        raise IngestError(message) from error
    return target, name


def _needs_worker(path: Path) -> bool:
    """Compressed, Excel and Parquet files, and large text files, are read by the worker
    (except in a CLI command the supervisor already runs under the same limits)."""
    if os.environ.get(SUPERVISED_ENV) == "1":
        return False
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(8)
    except OSError:
        return False  # the reader says what is wrong with the path
    if magic.startswith(PACKED_MAGIC):
        return True
    return size > env_number(INPROCESS_ENV, DEFAULT_INPROCESS_MB) * 1024**2


def _in_worker(
    what: str, path: Path, filename: str | None, arguments: dict[str, Any], job: Path
) -> tuple[pl.LazyFrame, IngestReport]:
    import pickle  # the worker's hand-over only: most reads are in-process

    request = {"what": what, "path": str(path.resolve()), "filename": filename, "arguments": arguments,
               "address_space": memory_limit_bytes() and memory_limit_bytes() + ADDRESS_HEADROOM, "spill": str(rejects.spill_folder()), "limits": source_limits()}
    try:
        (job / REQUEST_FILE).write_bytes(pickle.dumps(request))
    except OSError as error:
        message = disk_full() if is_disk_full(error) else f"A temporary file could not be written ({error})."
        raise IngestError(message) from error
    returncode = _run_worker(job, file_bytes(path))
    result_path = job / RESULT_FILE
    if returncode != 0 or not result_path.exists():
        raise IngestError(crash_message(returncode))
    status, payload, report = pickle.loads(result_path.read_bytes())
    rejects.remove_with(report)
    if status == "error":
        raise IngestError(payload, report)
    if status == "memory":
        raise IngestError(TOO_BIG.format(limit=gigabytes(memory_limit_bytes())))
    return pl.read_ipc(job / VALID_FILE).lazy(), report


def _run_worker(job: Path, size: int) -> int:
    """Run the worker on ``job``, watching its memory and time; its return code (negative: killed by that signal)."""
    env = dict(os.environ, RUST_BACKTRACE="0", POLARS_VERBOSE="0", MALLOC_ARENA_MAX="2")
    limit, seconds = memory_limit_bytes(), timeout_seconds(size)
    deadline = time.monotonic() + seconds
    with (job / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "crm_core.ingest.worker", str(job)],
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=env, cwd=Path(__file__).resolve().parents[2],
        )
        try:
            while True:
                try:
                    returncode = process.wait(timeout=_POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if limit and resident_bytes(process.pid) > limit:
                    raise IngestError(TOO_BIG.format(limit=gigabytes(limit)))
                if time.monotonic() > deadline:
                    raise IngestError(TOO_SLOW.format(seconds=seconds_label(seconds)))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if returncode:  # logged without the Rust text (a panic message, a backtrace)
        log.info("ingest worker exited with %s", returncode)
    return returncode
