"""Workspace: saved uploads persist, stay private to their owner, and ids cannot escape the root."""
from __future__ import annotations

import datetime as dt
import sqlite3

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crm_core.dataset import Dataset
from crm_core.ingest import IngestReport
from crm_core.schema import C
from crm_core.workspace import DatasetEntry, UnknownDataset, Workspace, WorkspaceError

RAW = b"customer_id,order_date,amount\nA,2024-01-02,10.5\nB,2024-01-03,-2\nC,not a date,3\n"


def _transactions() -> pl.DataFrame:
    return pl.DataFrame({
        C.CUSTOMER_ID: ["A", "B"],
        C.ORDER_DATE: [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        C.AMOUNT: [10.5, -2.0],
    })


def _report() -> IngestReport:
    rejected = pl.DataFrame({"line": [4], "raw": ["C,not a date,3"], "reason": ["unreadable date"]})
    return IngestReport(rows_read=3, rows_valid=2, rows_rejected=1, rejected=rejected, negative_amount_rows=1,
                        detected={"delimiter": ",", "encoding": "utf-8"}, warnings=["1 row had an unreadable date"])


def _save(workspace: Workspace, name: str = "Shop export", filename: str = "orders.csv") -> str:
    return workspace.save(name, RAW, filename, Dataset(transactions=_transactions().lazy()), _report())


def test_init_creates_root_and_catalog(tmp_path):
    root = tmp_path / "ws" / "nested"
    Workspace(root)
    assert (root / "catalog.sqlite").is_file()


def test_save_then_list_and_load_round_trip(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    assert len(dataset_id) == 32 and int(dataset_id, 16) >= 0
    [entry] = workspace.list_datasets()
    assert entry == DatasetEntry(dataset_id, "Shop export", entry.created_at, "orders.csv", 3, 2, 1, "local")
    assert dt.datetime.fromisoformat(entry.created_at).tzinfo is not None
    loaded = workspace.load(dataset_id)
    assert loaded.name == "Shop export"
    assert loaded.customers is None and loaded.interactions is None and loaded.marketing_spend is None
    assert_frame_equal(loaded.transactions.collect(), _transactions())


def test_raw_upload_is_kept_byte_for_byte(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace, filename="Orders 2024.CSV.GZ")
    path = workspace.source_path(dataset_id)
    assert path.read_bytes() == RAW
    assert path.name == "source.csv.gz" and path.parent == tmp_path / dataset_id


def test_report_round_trips_with_rejected_rows(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    report = workspace.report(dataset_id)
    original = _report()
    assert report.to_dict() == original.to_dict()
    assert_frame_equal(report.rejected, original.rejected)
    assert report.rejected_by_reason() == {"unreadable date": 1}


def test_catalog_persists_across_instances_newest_first(tmp_path):
    first = _save(Workspace(tmp_path), name="first")
    second = _save(Workspace(tmp_path), name="second")
    third = _save(Workspace(tmp_path), name="third")
    assert [entry.id for entry in Workspace(tmp_path).list_datasets()] == [third, second, first]


def test_the_ui_finds_saved_files_where_it_expects_them(tmp_path):
    dataset_id = _save(Workspace(tmp_path))
    assert (tmp_path / dataset_id / "transactions.parquet").is_file()


def test_rename(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    workspace.rename(dataset_id, "  Spring   campaign ")
    assert workspace.list_datasets()[0].name == "Spring campaign"
    assert workspace.load(dataset_id).name == "Spring campaign"


@pytest.mark.parametrize("bad_name", ["", "   ", "x" * 121])
def test_bad_names_are_refused_with_advice(tmp_path, bad_name):
    workspace = Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="name"):
        _save(workspace, name=bad_name)
    dataset_id = _save(workspace)
    with pytest.raises(WorkspaceError, match="name"):
        workspace.rename(dataset_id, bad_name)
    assert workspace.list_datasets()[0].name == "Shop export"


def test_delete_removes_files_and_row(tmp_path):
    workspace = Workspace(tmp_path)
    keep = _save(workspace, name="keep")
    gone = _save(workspace, name="gone")
    workspace.delete(gone)
    assert [entry.id for entry in workspace.list_datasets()] == [keep]
    assert not (tmp_path / gone).exists()
    assert (tmp_path / keep / "transactions.parquet").exists()
    with pytest.raises(KeyError):
        workspace.load(gone)


def test_owners_cannot_see_or_touch_each_others_datasets(tmp_path):
    alice, bob = Workspace(tmp_path, owner="alice"), Workspace(tmp_path, owner="bob")
    alices = _save(alice, name="alice data")
    bobs = _save(bob, name="bob data")
    assert [entry.id for entry in alice.list_datasets()] == [alices]
    assert [entry.id for entry in bob.list_datasets()] == [bobs]
    attempts = [
        lambda: bob.load(alices),
        lambda: bob.report(alices),
        lambda: bob.delete(alices),
        lambda: bob.rename(alices, "mine now"),
        lambda: bob.add_side_table(alices, "customers", pl.LazyFrame({"customer_id": ["A"]})),
        lambda: bob.source_path(alices),
    ]
    for attempt in attempts:
        with pytest.raises(KeyError):
            attempt()
    assert alice.list_datasets()[0].name == "alice data"
    assert alice.load(alices).customers is None
    assert (tmp_path / alices / "transactions.parquet").exists()


@pytest.mark.parametrize("bad_id", ["", "..", "../catalog.sqlite", "/etc", "A" * 32, "g" * 32, "0" * 31, "0" * 33,
                                    "0" * 31 + "/", None])
def test_malformed_ids_are_unknown_and_never_touch_the_disk(tmp_path, bad_id):
    workspace = Workspace(tmp_path)
    _save(workspace)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for operation in (workspace.load, workspace.report, workspace.delete, workspace.source_path):
        with pytest.raises(UnknownDataset):
            operation(bad_id)
    with pytest.raises(KeyError):
        workspace.rename(bad_id, "x")
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_unknown_but_well_formed_id_is_a_key_error_with_advice(tmp_path):
    workspace = Workspace(tmp_path)
    with pytest.raises(KeyError) as error:
        workspace.load("0" * 32)
    assert "Pick another one" in str(error.value)


def test_names_are_stored_verbatim_not_executed(tmp_path):
    workspace = Workspace(tmp_path)
    name = "x'); DROP TABLE datasets; --"
    dataset_id = _save(workspace, name=name, filename="../../etc/passwd")
    [entry] = workspace.list_datasets()
    assert entry.name == name and entry.source_filename == "passwd"
    assert workspace.source_path(dataset_id).name == "source"
    with sqlite3.connect(tmp_path / "catalog.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM datasets").fetchone() == (1,)


def test_add_side_table_conforms_and_is_loaded(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    customers = pl.LazyFrame({
        "customer_id": ["A", "B"], "signup_date": [dt.date(2023, 5, 1), None], "region": ["North", "South"],
        "favourite_colour": ["red", "blue"],
    })
    workspace.add_side_table(dataset_id, "customers", customers)
    loaded = workspace.load(dataset_id).customers.collect()
    assert loaded.columns == ["customer_id", "signup_date", "region"]
    assert loaded["region"].to_list() == ["North", "South"]
    assert sorted(p.name for p in (tmp_path / dataset_id).iterdir() if p.name.startswith(".")) == []


def test_add_side_table_may_replace_itself_from_its_own_file(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    spend = pl.LazyFrame({"month": [dt.date(2024, 1, 1)] * 2, "channel": ["Social", "Email"], "spend": [100.0, 20.0]})
    workspace.add_side_table(dataset_id, "marketing_spend", spend)
    current = workspace.load(dataset_id).marketing_spend
    workspace.add_side_table(dataset_id, "marketing_spend", current.filter(pl.col("spend") > 50))
    assert workspace.load(dataset_id).marketing_spend.collect()["channel"].to_list() == ["Social"]


def test_add_side_table_refuses_unknown_kinds(tmp_path):
    workspace = Workspace(tmp_path)
    dataset_id = _save(workspace)
    with pytest.raises(WorkspaceError, match="customers, interactions, marketing_spend"):
        workspace.add_side_table(dataset_id, "../transactions", pl.LazyFrame({"customer_id": ["A"]}))


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    workspace = Workspace(tmp_path)
    broken = pl.LazyFrame({C.CUSTOMER_ID: ["A"], C.ORDER_DATE: ["x"], C.AMOUNT: ["not a number"]}).with_columns(
        pl.col(C.AMOUNT).cast(pl.Float64, strict=True)
    )
    with pytest.raises(Exception):
        workspace.save("broken", RAW, "orders.csv", Dataset(transactions=broken), _report())
    assert workspace.list_datasets() == []
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.sqlite"]


def test_saves_side_tables_given_with_the_upload(tmp_path):
    workspace = Workspace(tmp_path)
    interactions = pl.LazyFrame({"customer_id": ["A"], "interaction_date": [dt.date(2024, 2, 1)], "csat": [4.0]})
    dataset = Dataset(transactions=_transactions().lazy(), interactions=interactions)
    dataset_id = workspace.save("with contacts", RAW, "orders.csv", dataset, _report())
    assert workspace.load(dataset_id).interactions.collect()["csat"].to_list() == [4.0]


def test_ids_are_validated_even_if_the_catalog_holds_a_crafted_row(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    outside = tmp_path / "outside"
    outside.mkdir()
    pl.DataFrame({C.CUSTOMER_ID: ["X"], C.ORDER_DATE: [dt.date(2024, 1, 1)], C.AMOUNT: [1.0]}).write_parquet(
        outside / "transactions.parquet"
    )
    with sqlite3.connect(tmp_path / "ws" / "catalog.sqlite") as connection:
        connection.execute("INSERT INTO datasets VALUES ('../outside', 'local', 'evil', '2099', 'x', 1, 1, 0)")
    for operation in (workspace.load, workspace.delete):
        with pytest.raises(UnknownDataset):
            operation("../outside")
    assert (outside / "transactions.parquet").exists()
