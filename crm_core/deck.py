"""The deck a manager builds: slides chosen from the findings and the charts of any page.

A :class:`DeckEntry` is (figure id, title, note, speaker notes, settings
JSON): the figure id names a key finding (:data:`crm_core.findings.REGISTRY`)
or a chart added from a page, whose Plotly JSON is kept with the entry. A
:class:`Deck` is an ordered tuple of entries with the edits the Deck page
offers (move, retitle, annotate, remove). :func:`prepare_slides` computes
every slide's content once (meeting mode, PowerPoint and PDF read it).
:class:`DeckStore` keeps named decks in the workspace's notes database.

Everything typed by a user (titles, notes) is stored and returned as plain
text; showing it safely is the caller's job.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from crm_core.dataset import Dataset
from crm_core.findings import REGISTRY, Finding, FindingSettings, key_findings
from crm_core.notes import NOTES_FILE, NotesError, now_utc

#: A page chart's figure id starts with this; the rest is the chart's widget key.
PAGE_CHART_PREFIX = "chart:"
MAX_ENTRIES = 60
MAX_TITLE = 200
MAX_NOTE = 2000
MAX_SPEAKER_NOTES = 5000
MAX_SETTINGS = 20_000
MAX_FIGURE_JSON = 3_000_000
MAX_DECK_NAME = 80

#: Areas the default deck covers, in presentation order (one finding each, two for tiers).
DEFAULT_KEYS: tuple[str, ...] = tuple(REGISTRY)


class DeckError(ValueError):
    """A deck or entry that cannot be kept; the message says what to fix."""


def _limited(text: str | None, label: str, limit: int) -> str:
    value = (text or "").strip()
    if len(value) > limit:
        raise DeckError(f"The {label} is too long ({len(value):,} characters); keep it under {limit:,}.")
    return value


@dataclass(frozen=True)
class DeckEntry:
    """One slide of a deck.

    Attributes
    ----------
    figure_id
        A finding key ("tiers") or ``"chart:<key>"`` for a chart added from a page.
    title
        The slide title; empty = the finding's headline (or the chart's title).
    note
        A line shown on the slide under the chart.
    speaker_notes
        The presenter's notes (PowerPoint notes page; definitions are added on export).
    settings
        JSON of the settings and filters in force when the slide was added.
    figure_json
        Plotly JSON of a page chart (empty for findings: they are recomputed).
    page
        The page the chart came from (empty for findings).
    """

    figure_id: str
    title: str = ""
    note: str = ""
    speaker_notes: str = ""
    settings: str = "{}"
    figure_json: str = ""
    page: str = ""

    def __post_init__(self) -> None:
        if not self.figure_id or len(self.figure_id) > 200:
            raise DeckError("A slide needs the id of a finding or chart.")
        if not self.is_page_chart and self.figure_id not in REGISTRY:
            raise DeckError(f"There is no finding called '{self.figure_id[:40]}'.")
        if self.is_page_chart and not self.figure_json:
            raise DeckError("A chart added from a page must carry its figure.")
        object.__setattr__(self, "title", _limited(self.title, "title", MAX_TITLE))
        object.__setattr__(self, "note", _limited(self.note, "note", MAX_NOTE))
        object.__setattr__(self, "speaker_notes", _limited(self.speaker_notes, "speaker notes", MAX_SPEAKER_NOTES))
        if len(self.settings) > MAX_SETTINGS or len(self.figure_json) > MAX_FIGURE_JSON:
            raise DeckError("This chart is too large to keep in a deck; filter the page down first.")
        try:
            settings = json.loads(self.settings or "{}")
        except ValueError as error:
            raise DeckError("The settings of a slide must be a JSON object.") from error
        if not isinstance(settings, dict):
            raise DeckError("The settings of a slide must be a JSON object.")

    @property
    def is_page_chart(self) -> bool:
        return self.figure_id.startswith(PAGE_CHART_PREFIX)

    @property
    def settings_dict(self) -> dict[str, Any]:
        return json.loads(self.settings or "{}")


@dataclass(frozen=True)
class Deck:
    """An ordered list of slides (immutable: every edit returns a new deck)."""

    entries: tuple[DeckEntry, ...] = ()

    def __post_init__(self) -> None:
        if len(self.entries) > MAX_ENTRIES:
            raise DeckError(f"A deck holds at most {MAX_ENTRIES} slides; remove some first.")

    def __len__(self) -> int:
        return len(self.entries)

    def added(self, entry: DeckEntry) -> Deck:
        """The deck with ``entry`` at the end."""
        return Deck((*self.entries, entry))

    def moved(self, index: int, delta: int) -> Deck:
        """The deck with slide ``index`` moved ``delta`` places (clamped to the ends)."""
        entries = list(self.entries)
        target = min(max(index + delta, 0), len(entries) - 1)
        entries.insert(target, entries.pop(index))
        return Deck(tuple(entries))

    def removed(self, index: int) -> Deck:
        return Deck(self.entries[:index] + self.entries[index + 1:])

    def edited(self, index: int, **changes: str) -> Deck:
        """The deck with slide ``index``'s title, note or speaker notes changed."""
        unknown = set(changes) - {"title", "note", "speaker_notes"}
        if unknown:
            raise DeckError(f"A slide has no field {min(unknown)!r}.")
        entries = list(self.entries)
        entries[index] = replace(entries[index], **changes)
        return Deck(tuple(entries))

    def to_json(self) -> str:
        return json.dumps({"entries": [asdict(entry) for entry in self.entries]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Deck:
        """A deck from :meth:`to_json` text; raises DeckError on anything else."""
        try:
            body = json.loads(text)
            rows = body["entries"]
            fields = set(DeckEntry.__dataclass_fields__)
            return cls(tuple(DeckEntry(**{k: str(v) for k, v in row.items() if k in fields}) for row in rows))
        except DeckError:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise DeckError("This is not a deck saved by this app.") from error


def default_deck() -> Deck:
    """One slide per key finding: every area from KPIs to service and cost.

    Its entries carry no settings of their own, so they follow the settings the
    deck is played or exported with (the view's period, tiers, filters, ...).
    """
    return Deck(tuple(DeckEntry(key) for key in DEFAULT_KEYS))


# --- Slides: every entry's content, computed once ---------------------------------------------


@dataclass(frozen=True)
class Slide:
    """What a deck entry shows, ready to draw.

    ``chart``/``data`` for findings (drawn by :mod:`crm_core.charts.registry`),
    ``figure_json`` for page charts; ``definition`` and ``period`` go into the
    speaker notes.
    """

    figure_id: str
    title: str
    headline: str
    takeaway: str = ""
    note: str = ""
    speaker_notes: str = ""
    chart: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    figure_json: str = ""
    table: pl.DataFrame | None = None
    definition: str = ""
    period: tuple[dt.date, dt.date] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    area: str = ""
    label: str = ""  # what the slide is about: the finding's title, or the page a chart came from

    @property
    def has_chart(self) -> bool:
        return bool(self.chart or self.figure_json)


def _finding_slide(entry: DeckEntry, finding: Finding, period: tuple[dt.date, dt.date] | None,
                   settings: FindingSettings) -> Slide:
    return Slide(entry.figure_id, entry.title or finding.headline, finding.headline, finding.detail, entry.note,
                 entry.speaker_notes, finding.chart, finding.data, "", finding.table, finding.method, period,
                 settings.to_dict(), finding.area, finding.title)


def _page_slide(entry: DeckEntry) -> Slide:
    settings = entry.settings_dict
    title = entry.title or str(settings.get("chart_title") or "Chart")
    period = None
    if settings.get("start") and settings.get("end"):
        try:
            period = (dt.date.fromisoformat(settings["start"]), dt.date.fromisoformat(settings["end"]))
        except (TypeError, ValueError):
            period = None
    return Slide(entry.figure_id, title, title, str(settings.get("takeaway") or ""), entry.note, entry.speaker_notes,
                 None, {}, entry.figure_json, None, str(settings.get("definition") or ""), period, settings,
                 str(settings.get("page_title") or entry.page), str(settings.get("page_title") or entry.page or title))


def prepare_slides(deck: Deck, dataset: Dataset, summary: pl.DataFrame | None = None,
                   base: FindingSettings | None = None, findings: list[Finding] | None = None) -> list[Slide]:
    """Every slide of ``deck`` with its content (findings computed once per distinct settings).

    Entries whose finding has no result for this data (e.g. too few customers)
    are left out. ``summary`` is the per-customer summary for ``base``
    settings when the caller already has it; ``findings`` every key finding for ``base``
    (:func:`crm_core.findings.key_findings`), likewise.
    """
    from crm_core.findings import FindingContext

    base = base or FindingSettings()
    computed: dict[str, tuple[dict[str, Finding], tuple[dt.date, dt.date] | None]] = {}
    slides = []
    for entry in deck.entries:
        if entry.is_page_chart:
            slides.append(_page_slide(entry))
            continue
        try:
            settings = FindingSettings.from_dict({**base.to_dict(), **entry.settings_dict})
            # the slide keeps its analysis settings; numbers are written in today's locale
            settings = replace(settings, analysis=replace(settings.analysis, locale=base.analysis.locale))
        except (TypeError, ValueError):
            settings = base
        blob = json.dumps(settings.to_dict(), sort_keys=True)
        if blob not in computed:
            keys = tuple(e.figure_id for e in deck.entries if not e.is_page_chart)
            if findings is not None and settings == base:
                found = [finding for finding in findings if finding.key in keys]
            else:
                found = key_findings(dataset, settings, summary if settings == base else None, keys)
            period = FindingContext(dataset, settings).period if found else None
            computed[blob] = ({f.key: f for f in found}, period)
        by_key, period = computed[blob]
        if entry.figure_id in by_key:
            slides.append(_finding_slide(entry, by_key[entry.figure_id], period, settings))
    return slides


# --- Saved decks ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""
DECK_LIST_SCHEMA = {"id": pl.Int64, "name": pl.String, "dataset_id": pl.String, "slides": pl.Int64,
                    "updated_at": pl.String}


class DeckStore:
    """Named decks in the workspace's notes database (``notes.sqlite``, own table)."""

    def __init__(self, root: Path | str):
        self.path = Path(root) / NOTES_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
            connection.executescript(_SCHEMA)

    def _execute(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
            return connection.execute(sql, parameters).fetchall()

    def save(self, name: str, dataset_id: str, deck: Deck) -> int:
        """Save (or overwrite, by name) a deck; returns its id (the ``deck`` URL parameter)."""
        name = (name or "").strip()
        if not name:
            raise NotesError("Please enter a name for the deck.")
        if len(name) > MAX_DECK_NAME:
            raise NotesError(f"The deck name is too long; keep it under {MAX_DECK_NAME} characters.")
        self._execute(
            "INSERT INTO decks (name, dataset_id, body, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE "
            "SET dataset_id = excluded.dataset_id, body = excluded.body, updated_at = excluded.updated_at",
            (name, dataset_id, deck.to_json(), now_utc()))
        return int(self._execute("SELECT id FROM decks WHERE name = ?", (name,))[0][0])

    def load(self, deck_id: int | str) -> tuple[str, Deck] | None:
        """(name, deck) of a saved deck; None when there is no such deck."""
        try:
            number = int(deck_id)
        except (TypeError, ValueError):
            return None
        rows = self._execute("SELECT name, body FROM decks WHERE id = ?", (number,))
        return (rows[0][0], Deck.from_json(rows[0][1])) if rows else None

    def list(self) -> pl.DataFrame:
        """Saved decks, newest first: id, name, dataset_id, slides, updated_at."""
        rows = self._execute("SELECT id, name, dataset_id, body, updated_at FROM decks ORDER BY updated_at DESC, id DESC")
        return pl.DataFrame([(i, n, d, len(json.loads(b).get("entries", [])), u) for i, n, d, b, u in rows],
                            schema=DECK_LIST_SCHEMA, orient="row")

    def delete(self, deck_id: int) -> None:
        self._execute("DELETE FROM decks WHERE id = ?", (int(deck_id),))
