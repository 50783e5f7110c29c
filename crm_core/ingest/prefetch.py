"""The bare-CR scan of a supervised command's file, made by the supervisor's parent while the child loads Polars.

A supervised command (:mod:`crm_core.ingest.supervisor`) forks before Polars is imported: the child then spends
a tenth of a second importing it, on one core, while the parent only watches. The reader's first pass over
every byte of a text file, the search for lines ended by a bare CR (:func:`has_lone_cr`, 5 ms per 25 MB), needs
no Polars, so the parent makes it meanwhile on the other core and sends the answer down a pipe. The child takes
it when it opens that same file (same device, inode, size and modification time) and the answer has arrived,
and scans the file itself otherwise (another file, a transcoded copy, an answer not there yet).

Only the standard library is imported here: the parent must not load Polars (see the supervisor).
"""
from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import select

#: Largest file the parent scans: its scan delays its first look at the child's memory, by about 50 ms here.
MAX_BYTES = 256 * 1024**2

_LONE_CR = re.compile(rb"\r(?!\n)")
_SCAN_WINDOW = 64 * 1024**2  # a multiple of the map offset granularity (4 KB here, 64 KB on Windows)

#: In the child: (pipe's read end, identity of the file scanned) while an answer may come; the answer once read.
_pending: tuple[int, tuple[int, ...]] | None = None
_answer: tuple[tuple[int, ...], bool] | None = None


def has_lone_cr(path: str | os.PathLike[str]) -> bool:
    """Does a UTF-8 file end some lines with a bare CR (old Mac style, or mixed into CRLF)?

    The CSV reader ends rows at LF only, so such lines would merge. The file is
    searched through a memory map, a window at a time (a map of a whole 3 GB
    file would count 3 GB as resident), without copying it; files without any
    CR (most) cost one memchr scan per window.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for start in range(0, size, _SCAN_WINDOW):
            # One byte beyond the window, so that a CR at its end sees whether an LF follows.
            length = min(_SCAN_WINDOW + 1, size - start)
            with mmap.mmap(handle.fileno(), length, offset=start, access=mmap.ACCESS_READ) as window:
                if window.find(b"\r") < 0:
                    continue
                found = _LONE_CR.search(window)
                # A match on the extra byte is the next window's to judge (unless the file ends there).
                if found and (found.start() < _SCAN_WINDOW or start + length == size):
                    return True
    return False


def _identity(path: str | os.PathLike[str]) -> tuple[int, ...] | None:
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def worth_it(path: object) -> bool:
    """Whether the parent should scan ``path``: a plain file the reader will scan, and not too large."""
    identity = _identity(str(path)) if isinstance(path, (str, os.PathLike)) else None
    return identity is not None and 0 < identity[2] <= MAX_BYTES


def send(path: str | os.PathLike[str], pipe: int) -> None:
    """In the parent: scan ``path`` and write the answer (with the file's identity) on ``pipe``, then close it."""
    with contextlib.suppress(OSError, ValueError):
        identity = _identity(path)
        if identity is not None:
            os.write(pipe, json.dumps([identity, has_lone_cr(path)]).encode())
    with contextlib.suppress(OSError):
        os.close(pipe)


def listen(path: str | os.PathLike[str], pipe: int) -> None:
    """In the child: an answer about ``path`` may come on ``pipe``."""
    global _pending
    identity = _identity(path)
    if identity is not None:
        _pending = (pipe, identity)


def lone_cr(path: str | os.PathLike[str]) -> bool | None:
    """The parent's answer for ``path`` when it has arrived and is about this very file; None otherwise."""
    global _pending, _answer
    if _pending is not None:
        pipe, identity = _pending
        if not select.select([pipe], [], [], 0)[0]:
            return None  # not there yet: the caller scans (the answer may still serve a later read)
        _pending = None
        with contextlib.suppress(OSError, ValueError, TypeError):
            identity_sent, found = json.loads(os.read(pipe, 256))
            if tuple(identity_sent) == identity:
                _answer = (identity, bool(found))
        with contextlib.suppress(OSError):
            os.close(pipe)
    if _answer is not None and _answer[0] == _identity(path):
        return _answer[1]
    return None

