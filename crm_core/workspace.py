"""Workspace: uploaded datasets that persist between runs.

Layout under the workspace root (``$CRM_WORKSPACE``)::

    catalog.sqlite              one row per dataset (id, owner, name, counts, ...)
    <id>/                       one folder per dataset; id = uuid4 hex (32 chars)
        source<.ext>            the raw upload, byte for byte
        transactions.parquet    canonical tables (crm_core.dataset.save_dataset)
        lines.parquet           line items of merged orders (Shopify, WooCommerce), when the export had them
        customers.parquet ...   side tables, when supplied
        report.json             IngestReport.to_dict()
        rejected.parquet        the rejected rows of the report

Every query filters on the owner, so an owner can never see, load, change
or delete another owner's dataset. Ids are checked to be 32 hex characters
before any path is built from them, so they cannot reach outside the root.

Stored files are private to the server's user (files 0600, folders 0700).
A save holds a lock on its staging folder until it is catalogued; what a
killed save or delete leaves behind (unlocked ``.staging-*`` folders, dataset
folders without a catalog row) is removed by :meth:`Workspace.tidy`, run the
first time a process opens the root.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from crm_core.dataset import Dataset, load_dataset, save_dataset
from crm_core.ingest import IngestReport
from crm_core.schema import SIDE_TABLE_SCHEMAS, conform

if TYPE_CHECKING:
    from crm_core.reconcile import Reconciliation

CATALOG_FILE = "catalog.sqlite"
REPORT_FILE = "report.json"
REJECTED_FILE = "rejected.parquet"
SOURCE_STEM = "source"
MAX_NAME_LENGTH = 120

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_SUFFIX_PATTERN = re.compile(r"\.[A-Za-z0-9]{1,5}")
STAGING_PREFIX = ".staging-"
#: Other stored data in the root, made private by tidy() too (nothing else in the root is touched):
#: saved views and notes (crm_core.notes) and the signed-in users' folders of them (ui.auth.owner_folder).
NOTES_FILE = "notes.sqlite"
USERS_FOLDER = "users"
PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700
#: An empty staging folder is left alone this long: a save creates it a moment before it locks it.
STAGING_GRACE_SECONDS = 60
#: Roots this process has tidied (tidying once per process is enough: a save is only left
#: half done when its process dies, and the next process tidies at its first open).
_TIDIED: set[Path] = set()
_TIDIED_LOCK = threading.Lock()
_COLUMNS = ("id", "name", "created_at", "source_filename", "rows_read", "rows_valid", "rows_rejected", "owner")

_CREATE = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source_filename TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_valid INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_owner ON datasets (owner, created_at);
"""


class WorkspaceError(Exception):
    """A workspace operation cannot be done; the message says what to do."""


class UnknownDataset(WorkspaceError, KeyError):
    """No dataset with this id belongs to this owner (or the id is malformed)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else "unknown dataset"


@dataclass(frozen=True)
class DatasetEntry:
    """One saved dataset as listed in the catalog."""

    id: str
    name: str
    created_at: str
    source_filename: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    owner: str


class Workspace:
    """The saved datasets of one owner, under ``root``.

    Parameters
    ----------
    root
        Workspace folder (created if missing), normally ``$CRM_WORKSPACE``.
    owner
        Whose datasets this object sees; ``"local"`` when there is no sign-in.
    """

    def __init__(self, root: Path, owner: str = "local") -> None:
        if not owner:
            raise WorkspaceError("A workspace needs an owner name.")
        self.root = Path(root)
        self.owner = owner
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER_MODE)
        with closing(self._connect()) as connection, connection:
            connection.executescript(_CREATE)
        with _TIDIED_LOCK:
            first_open = self.root.resolve() not in _TIDIED
            _TIDIED.add(self.root.resolve())
        if first_open:
            self.tidy()

    # --- catalog ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.root / CATALOG_FILE, timeout=30)

    def list_datasets(self) -> list[DatasetEntry]:
        """This owner's datasets, newest first."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM datasets WHERE owner = ? ORDER BY created_at DESC, rowid DESC"
        with closing(self._connect()) as connection:
            rows = connection.execute(query, (self.owner,)).fetchall()
        return [DatasetEntry(*row) for row in rows]

    def get(self, dataset_id: str) -> DatasetEntry:
        """The catalog entry of ``dataset_id``; raises :class:`UnknownDataset`."""
        _check_id(dataset_id)
        query = f"SELECT {', '.join(_COLUMNS)} FROM datasets WHERE id = ? AND owner = ?"
        with closing(self._connect()) as connection:
            row = connection.execute(query, (dataset_id, self.owner)).fetchone()
        if row is None:
            raise UnknownDataset("This dataset does not exist (it may have been deleted). Pick another one.")
        return DatasetEntry(*row)

    # --- writing ---------------------------------------------------------------------

    def save(self, name: str, raw: bytes, filename: str, dataset: Dataset, report: IngestReport) -> str:
        """Store an upload: raw bytes, canonical Parquet tables and the ingest report.

        The report's line items are stored with the transactions when ingest
        merged them into orders (:func:`crm_core.products.lines_add_items`), so
        product analytics of the saved dataset count each item.
        Files are written to a staging folder first and only moved into place
        (and catalogued) once everything is written, so a failure leaves nothing
        behind. Returns the new dataset id.
        """
        name = _clean_name(name)
        dataset = with_report_lines(dataset, report)
        dataset_id = uuid.uuid4().hex
        staging = self.root / f"{STAGING_PREFIX}{dataset_id}"
        folder = self._folder(dataset_id)
        try:
            staging.mkdir(mode=PRIVATE_FOLDER_MODE)
            with _locked(staging, wait=True):  # tidy() leaves a locked folder alone, even once renamed
                (staging / f"{SOURCE_STEM}{_safe_suffix(filename)}").write_bytes(raw)
                save_dataset(dataset, staging)
                (staging / REPORT_FILE).write_text(json.dumps(report.to_dict(), default=str, ensure_ascii=False), "utf-8")
                report.all_rejected().sink_parquet(staging / REJECTED_FILE)  # all of them, not only those in memory
                _make_private(staging)
                staging.rename(folder)
                self._insert(dataset_id, name, Path(filename or "").name, report)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return dataset_id

    def _insert(self, dataset_id: str, name: str, source_filename: str, report: IngestReport) -> None:
        created_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        with closing(self._connect()) as connection, connection:
            connection.execute(
                "INSERT INTO datasets (id, owner, name, created_at, source_filename, rows_read, rows_valid, rows_rejected)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dataset_id, self.owner, name, created_at, source_filename,
                 int(report.rows_read), int(report.rows_valid), int(report.rows_rejected)),
            )

    def add_side_table(self, dataset_id: str, kind: str, frame: pl.LazyFrame) -> None:
        """Add or replace a side table ('customers', 'interactions', 'marketing_spend').

        The frame is conformed to the side table's schema. It is written to a
        temporary file first, so ``frame`` may even read the file it replaces.
        """
        if kind not in SIDE_TABLE_SCHEMAS:
            raise WorkspaceError(f"Unknown table {kind!r}: use one of {', '.join(SIDE_TABLE_SCHEMAS)}.")
        self.get(dataset_id)
        target = self._folder(dataset_id) / f"{kind}.parquet"
        temporary = target.with_name(f".{kind}.{uuid.uuid4().hex}.parquet")
        try:
            conform(frame.lazy(), SIDE_TABLE_SCHEMAS[kind]).sink_parquet(temporary)
            temporary.chmod(PRIVATE_FILE_MODE)
            temporary.replace(target)
        finally:
            temporary.unlink(missing_ok=True)

    def rename(self, dataset_id: str, name: str) -> None:
        """Give a dataset a new display name."""
        name = _clean_name(name)
        self.get(dataset_id)
        with closing(self._connect()) as connection, connection:
            connection.execute("UPDATE datasets SET name = ? WHERE id = ? AND owner = ?", (name, dataset_id, self.owner))

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset: its catalog row, then its folder."""
        self.get(dataset_id)
        with closing(self._connect()) as connection, connection:
            connection.execute("DELETE FROM datasets WHERE id = ? AND owner = ?", (dataset_id, self.owner))
        shutil.rmtree(self._folder(dataset_id), ignore_errors=True)

    # --- hygiene ---------------------------------------------------------------------

    def tidy(self) -> list[str]:
        """Remove what killed saves and deletes left behind, and make every stored file private.

        Removed: ``.staging-*`` folders and dataset folders without a catalog
        row, unless a save in progress (in any process) holds their lock.
        Folders become 0700 and files 0600 (older workspaces were readable by
        every local user). Runs at the first open of a root in each process;
        returns the names of the folders removed.
        """
        catalogued = self._catalogued_ids()
        removed = []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or path.is_symlink():
                continue
            if _ID_PATTERN.fullmatch(path.name) and path.name in catalogued:
                _make_private(path)
            elif path.name.startswith(STAGING_PREFIX) or _ID_PATTERN.fullmatch(path.name):
                with _locked(path, wait=False) as free:
                    if free and self._left_behind(path):
                        shutil.rmtree(path, ignore_errors=True)
                        removed.append(path.name)
        _restrict(self.root, PRIVATE_FOLDER_MODE)
        stored = [*self.root.glob(f"{CATALOG_FILE}*"), *self.root.glob(f"{NOTES_FILE}*"), self.root / USERS_FOLDER]
        for path in stored:  # databases with their journals, if any, and the users' folders
            if path.is_dir() and not path.is_symlink():
                _make_private(path)
            elif path.is_file():
                _restrict(path, PRIVATE_FILE_MODE)
        return removed

    def _left_behind(self, path: Path) -> bool:
        """Whether ``path``, whose lock we hold, belongs to no save (call only while holding it)."""
        try:
            if path.name.startswith(STAGING_PREFIX):
                # Empty and new: a save may be about to lock it. Written to: its save died (a live
                # save would hold the lock) or finished (then the folder was renamed away).
                return any(path.iterdir()) or time.time() - path.stat().st_mtime > STAGING_GRACE_SECONDS
            # Re-read the catalog: a save may have catalogued this folder and let go of it meanwhile.
            return path.name not in self._catalogued_ids()
        except FileNotFoundError:
            return False

    def _catalogued_ids(self) -> set[str]:
        with closing(self._connect()) as connection:
            return {row[0] for row in connection.execute("SELECT id FROM datasets")}

    # --- reading ---------------------------------------------------------------------

    def load(self, dataset_id: str) -> Dataset:
        """The dataset's tables as lazy scans (nothing is read yet)."""
        entry = self.get(dataset_id)
        folder = self._folder(dataset_id)
        if not (folder / "transactions.parquet").exists():
            raise WorkspaceError(f"The files of '{entry.name}' are missing. Delete it and upload the file again.")
        return load_dataset(folder, name=entry.name)

    def report(self, dataset_id: str) -> IngestReport:
        """The ingest report saved with the dataset, rejected rows included."""
        self.get(dataset_id)
        folder = self._folder(dataset_id)
        data = json.loads((folder / REPORT_FILE).read_text("utf-8"))
        rejected_path = folder / REJECTED_FILE
        return IngestReport.from_dict(data, rejected_path if rejected_path.exists() else None)

    def source_path(self, dataset_id: str) -> Path:
        """Path of the raw upload as it was received."""
        self.get(dataset_id)
        matches = sorted(self._folder(dataset_id).glob(f"{SOURCE_STEM}*"))
        if not matches:
            raise WorkspaceError("The original upload of this dataset is missing.")
        return matches[0]

    # --- appending exports (see crm_core.reconcile) -----------------------------------------

    def append_export(self, dataset_id: str, raw: bytes, filename: str, transactions: pl.LazyFrame,
                      lines: pl.LazyFrame | pl.DataFrame | None = None) -> Reconciliation:
        """Append a new export's transactions (and its line items, ``IngestReport.lines``) to a saved
        dataset; the previous version is kept (undo)."""
        from crm_core.reconcile import append_export

        self.get(dataset_id)
        folder = self._folder(dataset_id)
        with _locked(folder, wait=True):
            result = append_export(folder, transactions, source=raw, source_filename=filename, lines=lines)
            _make_private(folder)
        self._set_rows_valid(dataset_id, result.rows_after)
        return result

    def undo_append(self, dataset_id: str) -> Reconciliation:
        """Restore the dataset as it was before its last append; returns that append's reconciliation."""
        from crm_core.reconcile import undo_append

        self.get(dataset_id)
        with _locked(self._folder(dataset_id), wait=True):
            try:
                undone = undo_append(self._folder(dataset_id))
            except FileNotFoundError as error:
                raise WorkspaceError(str(error)) from None
        self._set_rows_valid(dataset_id, undone.rows_before)
        return undone

    def appends(self, dataset_id: str) -> list[Reconciliation]:
        """The exports appended to a dataset that can still be undone, oldest first."""
        from crm_core.reconcile import versions

        self.get(dataset_id)
        return versions(self._folder(dataset_id))

    def _set_rows_valid(self, dataset_id: str, rows: int) -> None:
        with closing(self._connect()) as connection, connection:
            connection.execute("UPDATE datasets SET rows_valid = ? WHERE id = ? AND owner = ?",
                               (int(rows), dataset_id, self.owner))

    def _folder(self, dataset_id: str) -> Path:
        _check_id(dataset_id)
        return self.root / dataset_id


def record_rows_valid(folder: Path, rows_valid: int) -> bool:
    """Set the catalog's row count of the dataset saved in ``folder`` (after ``append`` run on the folder).

    ``folder`` is a workspace dataset folder when its name is a dataset id and
    its parent holds the catalog; returns False (nothing to update) otherwise.
    The row is found by id alone: whoever can write the folder owns it.
    """
    folder = Path(folder).resolve()
    catalog = folder.parent / CATALOG_FILE
    if not _ID_PATTERN.fullmatch(folder.name) or not catalog.is_file():
        return False
    with closing(sqlite3.connect(catalog, timeout=30)) as connection, connection:
        cursor = connection.execute("UPDATE datasets SET rows_valid = ? WHERE id = ?", (int(rows_valid), folder.name))
    return cursor.rowcount > 0


@contextmanager
def locked_folder(folder: Path) -> Iterator[bool]:
    """Hold the lock an app append or save of ``folder`` holds (waits for it)."""
    with _locked(Path(folder), wait=True) as held:
        yield held


def with_report_lines(dataset: Dataset, report: IngestReport) -> Dataset:
    """``dataset`` with the report's line items when they add items its transactions merged."""
    from dataclasses import replace

    from crm_core.products import lines_add_items

    lines = report.lines
    if dataset.lines is not None or lines is None or not lines_add_items(lines, dataset.transactions):
        return dataset
    return replace(dataset, lines=lines.lazy())


@contextmanager
def _locked(folder: Path, wait: bool) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder`` (yields False if ``wait`` is off and someone else holds it).

    The lock is ``flock`` on the folder itself: the kernel drops it when its
    holder dies, so a folder whose lock is free belongs to no running save.
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:  # removed meanwhile (a save that failed, a delete)
        yield False
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock


def _make_private(folder: Path) -> None:
    """Folders 0700 and files 0600 from ``folder`` down (symlinks are left alone, never followed)."""
    _restrict(folder, PRIVATE_FOLDER_MODE)
    for parent, folders, files in os.walk(folder):
        for name in folders:
            _restrict(Path(parent, name), PRIVATE_FOLDER_MODE)
        for name in files:
            _restrict(Path(parent, name), PRIVATE_FILE_MODE)


def _restrict(path: Path, mode: int) -> None:
    """chmod ``path`` unless it is a symlink; a root owned by someone else keeps its mode (its dataset folders are 0700)."""
    if path.is_symlink():
        return
    try:
        path.chmod(mode)
    except PermissionError:
        pass


def _check_id(dataset_id: str) -> None:
    """Only 32 lowercase hex characters are ids: nothing else may become a path."""
    if not isinstance(dataset_id, str) or not _ID_PATTERN.fullmatch(dataset_id):
        raise UnknownDataset("This dataset id is not valid. Pick a dataset from the list.")


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise WorkspaceError("Give the dataset a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise WorkspaceError(f"Dataset names are limited to {MAX_NAME_LENGTH} characters; shorten the name.")
    return name


def _safe_suffix(filename: str) -> str:
    """The upload's extensions (e.g. '.csv.gz') when they are plain, else none."""
    suffixes = Path(filename or "").suffixes[-2:]
    return "".join(s.lower() for s in suffixes if _SUFFIX_PATTERN.fullmatch(s))
