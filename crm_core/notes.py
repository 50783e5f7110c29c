"""Saved views, notes on segments, scorecard answers and an activity log.

Stored in ``notes.sqlite`` in the workspace root (next to the dataset
catalog, in its own file so the two schemas evolve independently). Every
value is stored and returned as plain text; showing it safely (never as HTML)
is the caller's job.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import polars as pl

NOTES_FILE = "notes.sqlite"
MAX_NAME = 80
MAX_AUTHOR = 80
MAX_SEGMENT = 120
MAX_TEXT = 2000
MAX_QUERY_PARAMS = 30
MAX_QUERY_VALUE = 4000  # the settings parameter v carries tier names and RFM rules (compressed)
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
_PAGE_NAME = re.compile(r"^[a-z0-9_\-]{0,40}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS saved_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    page TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segment_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL,
    segment TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scorecard_answers (
    dataset_id TEXT NOT NULL,
    question TEXT NOT NULL,
    level INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, question)
);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

VIEW_SCHEMA = {"id": pl.Int64, "name": pl.String, "page": pl.String, "query": pl.String, "created_at": pl.String}
NOTE_SCHEMA = {"id": pl.Int64, "dataset_id": pl.String, "segment": pl.String, "text": pl.String,
               "author": pl.String, "created_at": pl.String}


class NotesError(ValueError):
    """Input that cannot be stored; the message tells the user what to fix."""


def now_utc() -> str:
    """Timestamp stored with every row: UTC, to the second, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _clean(value: str | None, label: str, limit: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise NotesError(f"Please enter a {label}.")
    if len(text) > limit:
        raise NotesError(f"The {label} is too long ({len(text)} characters); keep it under {limit}.")
    return text


@dataclass(frozen=True)
class ParsedLink:
    """A pasted link or query string, split into the page and a clean query string."""

    page: str | None
    query: str


def parse_link(text: str) -> ParsedLink:
    """Accept a full app URL, '?a=1&b=2' or 'a=1&b=2'; keep only sane parameters.

    The page is the last path segment of a URL ('' = the default page, None
    when ``text`` has no path). Raises :class:`NotesError` on parameters a
    bound widget could not have written (odd names, very long values).
    """
    text = (text or "").strip()
    page = None
    if "://" in text or text.startswith("/"):
        parts = urlsplit(text)
        page = parts.path.rstrip("/").rsplit("/", 1)[-1] if parts.path.strip("/") else ""
        text = parts.query
    pairs = parse_qsl(text.lstrip("?"), keep_blank_values=True)
    if len(pairs) > MAX_QUERY_PARAMS:
        raise NotesError(f"That link has {len(pairs)} parameters; a view keeps at most {MAX_QUERY_PARAMS}.")
    for name, value in pairs:
        if not _PARAM_NAME.match(name):
            raise NotesError("That link has a parameter this app does not use; copy the link from the address bar again.")
        if len(value) > MAX_QUERY_VALUE:
            raise NotesError(f"The value of '{name}' is too long for a saved view.")
    if page is not None and not _PAGE_NAME.match(page):
        raise NotesError("That link does not point to a page of this app.")
    return ParsedLink(page=page, query=urlencode(pairs))


def query_dict(query: str) -> dict[str, str | list[str]]:
    """'a=1&b=2&b=3' -> {'a': '1', 'b': ['2', '3']} (for st.page_link / st.query_params)."""
    result: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in result:
            previous = result[name]
            result[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            result[name] = value
    return result


def query_string(params: dict[str, str | list[str]]) -> str:
    """Inverse of :func:`query_dict` (repeated names for lists)."""
    return urlencode([(name, item) for name, value in params.items()
                      for item in (value if isinstance(value, list) else [value])])


class NotesStore:
    """The notes database of one workspace folder (created on first use)."""

    def __init__(self, root: Path | str):
        self.path = Path(root) / NOTES_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection, connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _execute(self, sql: str, parameters: tuple = ()) -> tuple[list[tuple], int | None]:
        """Run one statement in its own transaction: (rows, lastrowid)."""
        with closing(self._connect()) as connection, connection:
            cursor = connection.execute(sql, parameters)
            return cursor.fetchall(), cursor.lastrowid

    def _frame(self, sql: str, parameters: tuple, schema: dict) -> pl.DataFrame:
        rows = self._execute(sql, parameters)[0]
        return pl.DataFrame(rows, schema=schema, orient="row")

    # Saved views ------------------------------------------------------------

    def save_view(self, name: str, page: str, query: str) -> int:
        """Save (or overwrite, by name) a view: a page and its query string. Returns its id."""
        name = _clean(name, "name for the view", MAX_NAME)
        page = page or ""
        if not _PAGE_NAME.match(page):
            raise NotesError("Pick one of the app's pages for the view.")
        query = parse_link(query).query
        self._execute(
            "INSERT INTO saved_views (name, page, query, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET page = excluded.page, query = excluded.query, created_at = excluded.created_at",
            (name, page, query, now_utc()),
        )
        return int(self._execute("SELECT id FROM saved_views WHERE name = ?", (name,))[0][0][0])

    def list_views(self) -> pl.DataFrame:
        """Saved views, newest first: id, name, page, query, created_at."""
        return self._frame("SELECT id, name, page, query, created_at FROM saved_views ORDER BY created_at DESC, id DESC", (), VIEW_SCHEMA)

    def delete_view(self, view_id: int) -> None:
        self._execute("DELETE FROM saved_views WHERE id = ?", (int(view_id),))

    # Notes on segments -----------------------------------------------------

    def add_note(self, dataset_id: str, segment: str, text: str, author: str) -> int:
        """Record who decided what about a segment, and when. Returns the note id."""
        values = (
            _clean(dataset_id, "dataset", MAX_NAME),
            _clean(segment, "segment", MAX_SEGMENT),
            _clean(text, "note", MAX_TEXT),
            _clean(author, "name (who wrote this)", MAX_AUTHOR),
            now_utc(),
        )
        _, note_id = self._execute(
            "INSERT INTO segment_notes (dataset_id, segment, text, author, created_at) VALUES (?, ?, ?, ?, ?)", values
        )
        return int(note_id)

    def list_notes(self, dataset_id: str | None = None, segment: str | None = None) -> pl.DataFrame:
        """Notes, newest first, optionally of one dataset and/or segment."""
        clauses, parameters = [], []
        for column, value in (("dataset_id", dataset_id), ("segment", segment)):
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._frame(
            f"SELECT id, dataset_id, segment, text, author, created_at FROM segment_notes{where} ORDER BY created_at DESC, id DESC",
            tuple(parameters), NOTE_SCHEMA,
        )

    def delete_note(self, note_id: int) -> None:
        self._execute("DELETE FROM segment_notes WHERE id = ?", (int(note_id),))

    # Scorecard answers -----------------------------------------------------

    def save_answers(self, dataset_id: str, answers: dict[str, int]) -> None:
        """Upsert self-assessment answers (question key -> level)."""
        stamp = now_utc()
        with closing(self._connect()) as connection, connection:
            connection.executemany(
                "INSERT INTO scorecard_answers (dataset_id, question, level, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(dataset_id, question) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
                [(dataset_id, question, int(level), stamp) for question, level in answers.items()],
            )

    def load_answers(self, dataset_id: str) -> dict[str, int]:
        rows = self._execute("SELECT question, level FROM scorecard_answers WHERE dataset_id = ?", (dataset_id,))[0]
        return {question: int(level) for question, level in rows}

    def answers_updated_at(self, dataset_id: str) -> str | None:
        rows = self._execute("SELECT MAX(updated_at) FROM scorecard_answers WHERE dataset_id = ?", (dataset_id,))[0]
        return rows[0][0]

    # Activity log (evidence for the scorecard) -------------------------------

    def record_activity(self, kind: str, dataset_id: str, detail: str = "") -> None:
        """Log an event such as kind='export' (a customer list exported for an action)."""
        self._execute(
            "INSERT INTO activity (kind, dataset_id, detail, created_at) VALUES (?, ?, ?, ?)",
            (kind, dataset_id, detail[:MAX_TEXT], now_utc()),
        )

    def count_activity(self, kind: str, dataset_id: str | None = None) -> int:
        if dataset_id is None:
            rows = self._execute("SELECT COUNT(*) FROM activity WHERE kind = ?", (kind,))[0]
        else:
            rows = self._execute("SELECT COUNT(*) FROM activity WHERE kind = ? AND dataset_id = ?", (kind, dataset_id))[0]
        return int(rows[0][0])
