"""The reader's memory and time limits and their messages (stdlib only).

Shared by the sandbox's worker (:mod:`crm_core.ingest.sandbox`) and the CLI's
forked supervisor (:mod:`crm_core.ingest.supervisor`), which must not import
Polars before it forks. Limits are environment variables, read at each call:

- ``CRM_INGEST_MEMORY_MB``: resident memory of the reading process (default 2560; 0: no limit).
- ``CRM_INGEST_TIMEOUT_S``: wall-clock limit of one read (default 240).
"""
from __future__ import annotations

import os
import signal

MEMORY_ENV = "CRM_INGEST_MEMORY_MB"
TIMEOUT_ENV = "CRM_INGEST_TIMEOUT_S"
DEFAULT_MEMORY_MB = 2560
DEFAULT_TIMEOUT_S = 240
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


def timeout_seconds() -> float:
    """The wall-clock limit of one read (``$CRM_INGEST_TIMEOUT_S``)."""
    return env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S


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
