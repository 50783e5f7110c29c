"""The reader's memory and time limits and their messages (stdlib only).

Shared by the sandbox's worker (:mod:`crm_core.ingest.sandbox`) and the CLI's
forked supervisor (:mod:`crm_core.ingest.supervisor`), which must not import
Polars before it forks. Limits are environment variables, read at each call:

- ``CRM_INGEST_MEMORY_MB``: resident memory of the reading process (default 2560; 0: no limit).
- ``CRM_INGEST_TIMEOUT_S``: wall-clock limit of one read (default 240), plus
- ``CRM_INGEST_TIMEOUT_S_PER_GB``: seconds more per gigabyte of the file as stored (default 240):
  a 3 GB CSV of 100M orders legitimately takes minutes on 2 cores, while a crafted file
  that hangs the reader is small on disk (a bomb's expansion is capped separately).
"""
from __future__ import annotations

import os
import signal

MEMORY_ENV = "CRM_INGEST_MEMORY_MB"
TIMEOUT_ENV = "CRM_INGEST_TIMEOUT_S"
TIMEOUT_PER_GB_ENV = "CRM_INGEST_TIMEOUT_S_PER_GB"
DEFAULT_MEMORY_MB = 2560
DEFAULT_TIMEOUT_S = 240
DEFAULT_TIMEOUT_S_PER_GB = 240
#: Address space allowed beyond the memory limit: Polars and its allocator reserve
#: about 1.5 GB they never touch, so the cap on address space alone would refuse real files.
ADDRESS_HEADROOM = 1536 * 1024**2

TOO_BIG = (
    "Reading this file needed more memory than the server allows ({limit}), so it was stopped. "
    "Export a shorter period or fewer columns, or save it as CSV."
)
TOO_SLOW = (
    "Reading this file took longer than {seconds} s, so it was stopped. "
    "Export a shorter period or fewer columns, or save it as CSV."
)
CRASHED = (
    "The file reader stopped on this file ({what}); it may be damaged or crafted. "
    "Open it in a spreadsheet program and export it again as CSV (UTF-8)."
)


def env_number(name: str, default: float) -> float:
    """A non-negative number from the environment (``default`` when unset or invalid)."""
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def memory_limit_bytes() -> int:
    """The reading process's resident-memory limit (``$CRM_INGEST_MEMORY_MB``; 0: none)."""
    return int(env_number(MEMORY_ENV, DEFAULT_MEMORY_MB) * 1024**2)


def timeout_seconds(file_bytes: int = 0) -> float:
    """The wall-clock limit of one read of a file of ``file_bytes`` bytes (see the module doc)."""
    base = env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S
    return base + env_number(TIMEOUT_PER_GB_ENV, DEFAULT_TIMEOUT_S_PER_GB) * file_bytes / 1024**3


def file_bytes(path: object) -> int:
    """Size of the file at ``path`` (0 when it is not a readable file)."""
    try:
        return os.stat(str(path)).st_size if path else 0
    except (OSError, ValueError):
        return 0


#: First bytes of files whose size on disk says little about what reading them takes: gzip, zip (and .xlsx),
#: Parquet, old Excel. Their size is never trusted (see crm_core.ingest.sandbox).
PACKED_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"PK\x05\x06", b"PAR1", b"\xd0\xcf\x11\xe0")


def is_packed(path: object) -> bool:
    """Does the file at ``path`` start like a compressed or binary table (:data:`PACKED_MAGIC`)?"""
    try:
        with open(str(path), "rb") as handle:
            return handle.read(8).startswith(PACKED_MAGIC)
    except (OSError, ValueError):
        return False


def seconds_label(seconds: float) -> str:
    """``240`` or ``0.01``: a limit in seconds as the messages show it."""
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.2g}"


def gigabytes(size: int) -> str:
    return f"{size / 1024**3:.1f} GB"


def crash_message(returncode: int) -> str:
    """Why the reading process died, for the user: memory (an allocation abort or the kernel) or a crash."""
    if returncode in (-signal.SIGABRT, -signal.SIGKILL, -signal.SIGBUS):
        # Rust aborts when an allocation fails under the cap; the kernel kills on OOM.
        return TOO_BIG.format(limit=gigabytes(memory_limit_bytes()))
    if returncode < 0 and -returncode in signal.valid_signals():
        return CRASHED.format(what=f"signal {signal.Signals(-returncode).name}")
    return CRASHED.format(what=f"exit {returncode}")


def resident_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (0 where /proc is not available)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


#: Delimited text files over this many MB are read in batches (crm_core/ingest/batches.py).
BATCH_MB_ENV = "CRM_INGEST_BATCH_MB"
DEFAULT_BATCH_MB = 256


def large_for_batches(size: int) -> bool:
    """Whether ``size`` bytes of text are over ``$CRM_INGEST_BATCH_MB`` (read in batches when the file allows)."""
    return size > env_number(BATCH_MB_ENV, DEFAULT_BATCH_MB) * 1024**2
