"""One-line messages for the user: at most 200 characters, user text shortened."""
from __future__ import annotations

import errno
import re

#: Longest message a command prints (CLI contract).
MAX_MESSAGE = 200
#: Longest piece of user text (a value, a file name) quoted inside a message.
MAX_QUOTED = 40


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line of at most ``limit`` characters.

    Whitespace runs become one space; when too long, the longest words (user
    text: a 1 MB "column name", a path) are shortened first, so the advice
    at the end survives; then the end is cut.
    """
    words = re.sub(r"\s+", " ", str(message)).strip().split(" ")
    while len(" ".join(words)) > limit:
        longest = max(range(len(words)), key=lambda index: len(words[index]))
        if len(words[longest]) <= MAX_QUOTED:
            break
        words[longest] = words[longest][: MAX_QUOTED - 1] + "…"
    flat = " ".join(words)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def quoted(text: object, limit: int = MAX_QUOTED) -> str:
    """User text to quote inside a message: one line, at most ``limit`` characters."""
    return one_line(str(text), limit)


def disk_full(where: str = "the temporary folder") -> str:
    """The message for ENOSPC: the disk is full, not the file."""
    return one_line(
        f"The disk holding {where} is full, so the file could not be processed. "
        "Free some space (or ask the administrator to), then try again."
    )


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is "no space left on device" (Python's errno, or the Rust readers' text)."""
    return getattr(error, "errno", None) == errno.ENOSPC or "os error 28" in str(error)
