"""Structured logging: one JSON object per line, with the standard library only.

Operations logs say *what ran, how long it took and how many rows it
touched*; they never carry customer data. Callers log an event name plus
fields that are counts, timings, kinds and ids (dataset ids, incident ids),
never customer ids, names, e-mails, amounts of one customer or file contents.
Exception messages can quote data, so an error logs its type and the code
locations of its traceback; the message itself only at ``CRM_LOG_LEVEL=DEBUG``.

Configuration (environment):

- ``CRM_LOG_LEVEL``: DEBUG, INFO (default), WARNING, ERROR.
- ``CRM_LOG_FORMAT``: ``json`` (default, one object per line on stderr) or
  ``text`` (human-readable, for a terminal).

Example line::

    {"ts": "2026-11-23T10:01:02.345Z", "level": "INFO", "logger": "crm.ingest",
     "event": "ingest", "status": "ok", "duration_ms": 812.4, "rows_read": 48982}
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

ROOT_LOGGER = "crm"
_HANDLER_MARK = "_crm_structured_handler"
_SAFE_TYPES = (int, float, bool, type(None))
MAX_FIELD_LENGTH = 120


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: ts, level, logger, event, fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(_safe_fields(getattr(record, "fields", {})))
        if record.exc_info and record.exc_info[1] is not None:
            payload.update(_error_fields(record.exc_info[1], include_message=record.levelno <= logging.DEBUG
                                         or logging.getLogger(ROOT_LOGGER).isEnabledFor(logging.DEBUG)))
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger event key=value ...`` for reading in a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _safe_fields(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            fields.update(_error_fields(record.exc_info[1], include_message=logging.getLogger(ROOT_LOGGER).isEnabledFor(logging.DEBUG)))
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{stamp} {record.levelname:<7} {record.name} {record.getMessage()} {extra}".rstrip()


def _safe_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Numbers, booleans and short strings only; anything else becomes its type name."""
    safe: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, _SAFE_TYPES):
            safe[key] = round(value, 3) if isinstance(value, float) else value
        elif isinstance(value, str):
            safe[key] = value[:MAX_FIELD_LENGTH]
        else:
            safe[key] = f"<{type(value).__name__}>"
    return safe


def _error_fields(error: BaseException, include_message: bool) -> dict[str, Any]:
    """The error's type and where it happened (file:line function), innermost last."""
    frames = traceback.extract_tb(error.__traceback__)[-8:]
    where = [f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}" for frame in frames]
    fields: dict[str, Any] = {"error_type": type(error).__name__, "traceback": where}
    if include_message:
        fields["error_message"] = str(error)[:500]
    return fields


def configure_logging(level: str | None = None, fmt: str | None = None, stream: IO[str] | None = None) -> logging.Logger:
    """Attach one structured handler to the ``crm`` logger (idempotent).

    Parameters
    ----------
    level, fmt
        Override ``CRM_LOG_LEVEL`` / ``CRM_LOG_FORMAT``.
    stream
        Where lines go (stderr by default; tests pass a StringIO).
    """
    logger = logging.getLogger(ROOT_LOGGER)
    level_name = (level or os.environ.get("CRM_LOG_LEVEL") or "INFO").upper()
    logger.setLevel(getattr(logging, level_name, logging.INFO))
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    use_text = (fmt or os.environ.get("CRM_LOG_FORMAT") or "json").lower() == "text"
    handler.setFormatter(TextFormatter() if use_text else JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def is_configured() -> bool:
    return any(getattr(handler, _HANDLER_MARK, False) for handler in logging.getLogger(ROOT_LOGGER).handlers)


def get_logger(area: str) -> logging.Logger:
    """Logger ``crm.<area>`` (e.g. ``get_logger("ingest")``)."""
    return logging.getLogger(f"{ROOT_LOGGER}.{area}")


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with structured ``fields`` (counts, timings, kinds, ids: never customer data)."""
    logger.log(level, event, extra={"fields": fields})


@contextmanager
def timed(logger: logging.Logger, event: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log ``event`` with its duration when the block ends.

    Yields a dict the block can add fields to (e.g. ``info["rows"] = n``).
    A failing block is logged with ``status="error"`` and the error type, and
    the exception propagates unchanged.
    """
    info: dict[str, Any] = dict(fields)
    start = time.perf_counter()
    try:
        yield info
    except Exception:
        info.update(status="error", duration_ms=(time.perf_counter() - start) * 1000)
        logger.warning(event, extra={"fields": info}, exc_info=True)
        raise
    info.update(status="ok", duration_ms=(time.perf_counter() - start) * 1000)
    logger.info(event, extra={"fields": info})
