"""Workspace hygiene: what killed saves leave behind is removed, and stored data is private to the server's user."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import polars as pl
import pytest

from crm_core.schema import C
from crm_core.workspace import STAGING_GRACE_SECONDS, Workspace
from tests.test_workspace import RAW, _save

REPO = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): _mode(path) for path in [root, *root.rglob("*")]}


def _private(root: Path) -> None:
    for name, mode in _modes(root).items():
        expected = 0o700 if (root / name).is_dir() else 0o600
        assert mode == expected, f"{name} is {mode:o}, expected {expected:o}"


def test_stored_files_are_0600_and_folders_0700(tmp_path):
    previous = os.umask(0o022)  # the usual umask: files would be 0644 without care
    try:
        root = tmp_path / "ws"
        workspace = Workspace(root)
        dataset_id = _save(workspace)
        workspace.add_side_table(dataset_id, "interactions", pl.LazyFrame({C.CUSTOMER_ID: ["A"], "csat": [4.0]}))
    finally:
        os.umask(previous)
    names = set(_modes(root))
    assert {"catalog.sqlite", f"{dataset_id}/source.csv", f"{dataset_id}/transactions.parquet",
            f"{dataset_id}/interactions.parquet", f"{dataset_id}/report.json"} <= names
    _private(root)


def test_opening_an_old_workspace_makes_it_private(tmp_path):
    root = tmp_path / "ws"
    dataset_id = _save(Workspace(root))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # as stored before this rule
    Workspace(root).tidy()
    _private(root)
    assert Workspace(root).load(dataset_id).transactions.collect().height == 2


def test_notes_and_users_folders_are_private_too(tmp_path):
    from crm_core import notes, workspace
    from ui.auth import USERS_FOLDER, owner_folder

    assert (workspace.NOTES_FILE, workspace.USERS_FOLDER) == (notes.NOTES_FILE, USERS_FOLDER)
    root = tmp_path / "ws"
    folder = owner_folder(root, "alice@example.com")
    notes.NotesStore(folder).save_view("Mine", "overview", "period=2024-01-01")
    notes.NotesStore(root).save_view("Local", "overview", "period=2024-01-01")
    assert _mode(folder) == 0o700 and _mode(root / USERS_FOLDER) == 0o700
    (folder / notes.NOTES_FILE).chmod(0o644)
    (root / notes.NOTES_FILE).chmod(0o644)
    (root / "unrelated.txt").write_text("not ours")
    (root / "unrelated.txt").chmod(0o755)
    Workspace(root)
    assert _mode(folder / notes.NOTES_FILE) == 0o600 and _mode(root / notes.NOTES_FILE) == 0o600
    assert _mode(root / "unrelated.txt") == 0o755  # only what the app stores is changed


def _leftovers(root: Path) -> tuple[Path, Path]:
    """A staging folder as a killed save leaves it, and a dataset folder whose save died before its catalog row."""
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    (staging / "source.csv").write_bytes(RAW * 1000)
    orphan = root / uuid.uuid4().hex
    orphan.mkdir()
    (orphan / "transactions.parquet").write_bytes(b"PAR1")
    return staging, orphan


def test_leftovers_of_killed_saves_are_removed_at_start(tmp_path):
    root = tmp_path / "ws"
    staging, orphan = _leftovers(root)
    workspace = Workspace(root)  # the first open of this root in the process tidies it
    assert not staging.exists() and not orphan.exists()
    kept = _save(workspace)
    assert Workspace(root).tidy() == []  # catalogued datasets are never touched
    assert workspace.load(kept).transactions.collect().height == 2


def test_a_new_empty_staging_folder_is_left_to_its_save(tmp_path):
    workspace = Workspace(tmp_path)
    newborn = tmp_path / f".staging-{uuid.uuid4().hex}"
    newborn.mkdir()  # a save creates its folder a moment before it locks it
    assert workspace.tidy() == [] and newborn.exists()
    old = time.time() - STAGING_GRACE_SECONDS - 5
    os.utime(newborn, (old, old))
    assert workspace.tidy() == [newborn.name]


def test_a_failed_save_leaves_nothing_even_after_the_move(tmp_path, monkeypatch):
    workspace = Workspace(tmp_path)

    def catalog_down(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(workspace, "_insert", catalog_down)
    with pytest.raises(OSError):
        _save(workspace)
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.sqlite"]


_SLOW_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import crm_core.workspace as ws
    from tests.test_workspace import _save

    def stuck(dataset, folder):  # the save is killed while writing its tables
        (Path(folder) / "transactions.parquet").write_bytes(b"PAR1")
        print("writing", flush=True)
        time.sleep(600)

    ws.save_dataset = stuck
    _save(ws.Workspace(Path(sys.argv[1])))
""")


def test_a_save_in_progress_is_kept_and_its_leftovers_go_once_it_is_killed(tmp_path):
    root = tmp_path / "ws"
    Workspace(root)
    saver = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert saver.stdout.readline().strip() == "writing"
        staging = [p for p in root.iterdir() if p.name.startswith(".staging-")]
        assert len(staging) == 1 and any(staging[0].iterdir())
        assert Workspace(root).tidy() == []  # another session tidying now must not break the save
        assert staging[0].exists()
        saver.send_signal(signal.SIGKILL)
        saver.wait(timeout=30)
        assert Workspace(root).tidy() == [staging[0].name]  # the kernel dropped the dead save's lock
        assert [p.name for p in root.iterdir()] == ["catalog.sqlite"]
    finally:
        saver.kill()
        saver.stdout.close()

