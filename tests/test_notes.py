"""Saved views, notes on segments and scorecard answers in the workspace SQLite file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from crm_core import notes
from crm_core.notes import NOTES_FILE, NotesError, NotesStore, parse_link, query_dict, query_string


@pytest.fixture
def store() -> NotesStore:
    return NotesStore(Path(os.environ["CRM_WORKSPACE"]))


def test_file_lives_in_the_workspace_root(store):
    assert store.path == Path(os.environ["CRM_WORKSPACE"]) / NOTES_FILE
    assert store.path.exists()


def test_views_save_list_overwrite_delete(store, monkeypatch):
    stamps = iter(["2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"])
    monkeypatch.setattr(notes, "now_utc", lambda: next(stamps))
    first = store.save_view("Q1 review", "segments", "ds=demo&bins=5")
    store.save_view("Top tier", "portfolio", "?ds=demo&tier=gold")
    views = store.list_views()
    assert views["name"].to_list() == ["Top tier", "Q1 review"]  # newest first
    assert views["query"].to_list() == ["ds=demo&tier=gold", "ds=demo&bins=5"]
    assert store.save_view("Q1 review", "segments", "ds=demo&bins=4") == first  # same name: overwritten
    views = store.list_views()
    assert views.height == 2 and views["query"][0] == "ds=demo&bins=4"
    store.delete_view(first)
    assert store.list_views()["name"].to_list() == ["Top tier"]


def test_views_reject_bad_input(store):
    with pytest.raises(NotesError, match="name"):
        store.save_view("   ", "segments", "ds=demo")
    with pytest.raises(NotesError, match="page"):
        store.save_view("x", "../etc", "ds=demo")
    with pytest.raises(NotesError, match="parameter"):
        store.save_view("x", "segments", "<script>=1")


def test_parse_link_accepts_urls_and_query_strings():
    assert parse_link("http://localhost:8501/segments?ds=demo&period=2020-01-01&period=2020-12-31") == notes.ParsedLink(
        "segments", "ds=demo&period=2020-01-01&period=2020-12-31"
    )
    assert parse_link("http://localhost:8501/?ds=demo").page == ""
    assert parse_link("?grain=week").page is None
    assert parse_link("grain=week&kpi=revenue").query == "grain=week&kpi=revenue"
    assert parse_link("").query == ""
    with pytest.raises(NotesError, match="too long"):
        parse_link("a=" + "x" * 5000)  # a settings parameter (v) may be a few hundred characters


def test_query_dict_round_trip():
    params = {"ds": "demo", "period": ["2020-01-01", "2020-12-31"], "q": "a b&c"}
    assert query_dict(query_string(params)) == params


def test_notes_are_stored_verbatim_newest_first(store, monkeypatch):
    stamps = iter(["2024-05-01T10:00:00+00:00", "2024-05-02T10:00:00+00:00", "2024-05-03T10:00:00+00:00"])
    monkeypatch.setattr(notes, "now_utc", lambda: next(stamps))
    store.add_note("demo", "Champions", "Invite to the <b>VIP</b> day", "Ana")
    store.add_note("demo", "At risk", "Call before Friday", "Ben")
    store.add_note("other", "Champions", "Different dataset", "Cy")
    demo = store.list_notes("demo")
    assert demo["text"].to_list() == ["Call before Friday", "Invite to the <b>VIP</b> day"]
    assert demo["author"].to_list() == ["Ben", "Ana"]
    assert demo["created_at"].to_list() == ["2024-05-02T10:00:00+00:00", "2024-05-01T10:00:00+00:00"]
    champions = store.list_notes(segment="Champions")
    assert champions["dataset_id"].to_list() == ["other", "demo"]
    store.delete_note(int(champions["id"][0]))
    assert store.list_notes(segment="Champions").height == 1


def test_notes_need_text_and_author(store):
    with pytest.raises(NotesError, match="note"):
        store.add_note("demo", "Champions", " ", "Ana")
    with pytest.raises(NotesError, match="who wrote"):
        store.add_note("demo", "Champions", "text", "")
    with pytest.raises(NotesError, match="too long"):
        store.add_note("demo", "Champions", "x" * 3000, "Ana")


def test_answers_upsert_and_persist(store):
    store.save_answers("demo", {"idic.identify": 2, "idic.interact": 4})
    store.save_answers("demo", {"idic.identify": 3})
    again = NotesStore(store.path.parent)
    assert again.load_answers("demo") == {"idic.identify": 3, "idic.interact": 4}
    assert again.load_answers("other") == {}
    assert again.answers_updated_at("demo") is not None


def test_activity_counts(store):
    store.record_activity("export", "demo", "at-risk list")
    store.record_activity("export", "other")
    assert store.count_activity("export") == 2
    assert store.count_activity("export", "demo") == 1
    assert store.count_activity("report", "demo") == 0
