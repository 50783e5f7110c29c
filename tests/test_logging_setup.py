"""Structured logging: JSON lines with timings and counts, no data in error lines."""
from __future__ import annotations

import io
import json
import logging

import pytest

from crm_core.logging_setup import configure_logging, get_logger, log_event, timed


@pytest.fixture
def stream():
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=buffer)
    yield buffer
    configure_logging(stream=io.StringIO())


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_event_is_one_json_line_with_fields(stream):
    log_event(get_logger("ingest"), "ingest", rows_read=10, rows_valid=9, kind="csv")
    (line,) = _lines(stream)
    assert line["logger"] == "crm.ingest" and line["event"] == "ingest" and line["level"] == "INFO"
    assert (line["rows_read"], line["rows_valid"], line["kind"]) == (10, 9, "csv")
    assert line["ts"].endswith("Z")


def test_timed_block_logs_duration_and_added_counts(stream):
    with timed(get_logger("model"), "clv_fit", customers=3) as info:
        info["iterations"] = 12
    (line,) = _lines(stream)
    assert line["status"] == "ok" and line["duration_ms"] >= 0 and (line["customers"], line["iterations"]) == (3, 12)


def test_failure_logs_type_and_place_but_not_the_message(stream):
    with pytest.raises(ValueError):
        with timed(get_logger("ingest"), "ingest"):
            raise ValueError("could not parse 'jane.doe@example.com'")
    (line,) = _lines(stream)
    assert (line["status"], line["level"], line["error_type"]) == ("error", "WARNING", "ValueError")
    assert any("test_logging_setup.py" in frame for frame in line["traceback"])
    assert "jane.doe" not in stream.getvalue()


def test_debug_level_includes_the_message():
    buffer = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=buffer)
    try:
        try:
            raise KeyError("detail")
        except KeyError:
            get_logger("x").error("failed", exc_info=True)
    finally:
        configure_logging(stream=io.StringIO())
    assert "detail" in _lines(buffer)[0]["error_message"]


def test_objects_are_not_dumped_and_strings_are_capped(stream):
    log_event(get_logger("x"), "event", frame=object(), note="y" * 500)
    (line,) = _lines(stream)
    assert line["frame"] == "<object>" and len(line["note"]) == 120


def test_text_format_and_idempotent_configuration():
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="text", stream=buffer)
    configure_logging(level="INFO", fmt="text", stream=buffer)  # no second handler
    try:
        log_event(get_logger("x"), "hello", rows=2)
    finally:
        configure_logging(stream=io.StringIO())
    assert buffer.getvalue().count("hello") == 1 and "rows=2" in buffer.getvalue()
    assert sum(1 for h in logging.getLogger("crm").handlers if getattr(h, "_crm_structured_handler", False)) == 1
