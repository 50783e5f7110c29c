"""Appending an export to a saved dataset: new, changed and duplicate orders, and undo."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from crm_core.dataset import TRANSACTIONS_FILE, Dataset, save_dataset
from crm_core.reconcile import append_export, reconcile, undo_append, versions
from crm_core.schema import C
from crm_core.workspace import Workspace, WorkspaceError

D = dt.date
ROOT = Path(__file__).resolve().parent.parent


def _tx(rows: list[tuple], with_ids: bool = True) -> pl.DataFrame:
    if with_ids:
        return pl.DataFrame(rows, schema={C.ORDER_ID: pl.String, C.CUSTOMER_ID: pl.String, C.ORDER_DATE: pl.Date,
                                          C.AMOUNT: pl.Float64}, orient="row")
    return pl.DataFrame(rows, schema={C.CUSTOMER_ID: pl.String, C.ORDER_DATE: pl.Date, C.AMOUNT: pl.Float64},
                        orient="row")


SAVED = _tx([
    ("A1", "c1", D(2024, 1, 5), 10.0), ("A1", "c1", D(2024, 1, 5), 5.0),  # one order, two lines
    ("A2", "c2", D(2024, 1, 20), 30.0),
    ("A3", "c3", D(2024, 1, 28), 40.0),
])
NEW = _tx([
    ("A2", "c2", D(2024, 1, 20), 30.0),  # duplicate
    ("A3", "c3", D(2024, 1, 28), 25.0),  # changed: refunded 15 since
    ("A4", "c1", D(2024, 2, 3), 12.0),  # new
])


def test_orders_matched_by_id_new_changed_duplicate():
    merged, result = reconcile(SAVED, NEW)
    assert (result.new_orders, result.changed_orders, result.duplicate_orders) == (1, 1, 1)
    assert (result.orders_before, result.orders_after, result.rows_before, result.rows_after) == (3, 4, 4, 5)
    assert result.matched_by == "order_id"
    assert result.changed == [{"order_id": "A3", "customer_id": "c3", "old_amount": 40.0, "new_amount": 25.0,
                               "old_date": D(2024, 1, 28), "new_date": D(2024, 1, 28)}]
    by_order = merged.group_by(C.ORDER_ID).agg(pl.col(C.AMOUNT).sum()).sort(C.ORDER_ID)
    assert by_order.rows() == [("A1", 15.0), ("A2", 30.0), ("A3", 25.0), ("A4", 12.0)]


def test_orders_without_ids_match_on_customer_date_amount_as_a_multiset():
    saved = _tx([("c1", D(2024, 1, 5), 10.0), ("c1", D(2024, 1, 5), 10.0), ("c2", D(2024, 1, 6), 8.0)], False)
    new = _tx([("c1", D(2024, 1, 5), 10.0), ("c1", D(2024, 1, 5), 10.0), ("c1", D(2024, 1, 5), 10.0),
               ("c2", D(2024, 1, 6), 9.0)], False)
    merged, result = reconcile(saved, new)
    # two identical rows already saved absorb two of the three; c2's 9.0 is another order (no id to tell)
    assert (result.new_orders, result.changed_orders, result.duplicate_orders) == (2, 0, 2)
    assert result.matched_by == "customer, date and amount"
    assert merged.height == 5
    assert sorted(merged[C.AMOUNT].to_list()) == [8.0, 9.0, 10.0, 10.0, 10.0]


def test_append_keeps_the_previous_version_and_undo_restores_it(tmp_path):
    save_dataset(Dataset(transactions=SAVED.lazy()), tmp_path)
    before = (tmp_path / TRANSACTIONS_FILE).read_bytes()
    result = append_export(tmp_path, NEW.lazy(), source=b"raw export bytes", source_filename="march.csv")
    assert result.version == 1 and result.source_filename == "march.csv"
    assert pl.read_parquet(tmp_path / TRANSACTIONS_FILE).height == 5
    assert (tmp_path / "appends" / "1" / "appended.csv").read_bytes() == b"raw export bytes"
    again = append_export(tmp_path, NEW.lazy())  # the same export twice: all duplicates now
    assert (again.version, again.new_orders, again.changed_orders, again.duplicate_orders) == (2, 0, 0, 3)
    assert [v.version for v in versions(tmp_path)] == [1, 2]
    assert undo_append(tmp_path).version == 2
    assert undo_append(tmp_path).version == 1
    assert (tmp_path / TRANSACTIONS_FILE).read_bytes() == before
    with pytest.raises(FileNotFoundError, match="Nothing to undo"):
        undo_append(tmp_path)


def test_workspace_append_and_undo_update_the_catalog(tmp_path):
    from crm_core.ingest import IngestReport

    workspace = Workspace(tmp_path / "ws")
    dataset_id = workspace.save("Shop", b"x", "jan.csv", Dataset(transactions=SAVED.lazy()),
                                IngestReport(rows_read=4, rows_valid=4))
    result = workspace.append_export(dataset_id, b"y", "feb.csv", NEW.lazy())
    assert result.new_orders == 1
    assert workspace.get(dataset_id).rows_valid == 5
    assert [a.source_filename for a in workspace.appends(dataset_id)] == ["feb.csv"]
    assert workspace.load(dataset_id).transactions.collect().height == 5
    workspace.undo_append(dataset_id)
    assert workspace.get(dataset_id).rows_valid == 4
    assert workspace.appends(dataset_id) == []
    with pytest.raises(WorkspaceError, match="Nothing to undo"):
        workspace.undo_append(dataset_id)


SHOPIFY = (
    "Name,Email,Financial Status,Created at,Currency,Subtotal,Total,Refunded Amount,Cancelled at,"
    "Lineitem quantity,Lineitem name,Lineitem price\n"
)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crm_core", "append", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False)


def test_cli_append_shopify_exports_and_undo(tmp_path):
    from crm_core.ingest import read_orders

    january = tmp_path / "jan.csv"
    january.write_text(SHOPIFY + (
        "#1,a@x.com,paid,2024-01-05 10:00:00 +0000,EUR,20.00,24.00,0.00,,1,Tea,20.00\n"
        "#2,b@x.com,paid,2024-01-20 10:00:00 +0000,EUR,40.00,48.00,0.00,,2,Pot,20.00\n"
    ), encoding="utf-8")
    february = tmp_path / "feb.csv"  # overlaps: #1 unchanged, #2 refunded in full since, #3 new
    february.write_text(SHOPIFY + (
        "#1,a@x.com,paid,2024-01-05 10:00:00 +0000,EUR,20.00,24.00,0.00,,1,Tea,20.00\n"
        "#2,b@x.com,refunded,2024-01-20 10:00:00 +0000,EUR,40.00,48.00,48.00,,2,Pot,20.00\n"
        "#3,a@x.com,paid,2024-02-02 10:00:00 +0000,EUR,10.00,12.00,0.00,,1,Cup,10.00\n"
    ), encoding="utf-8")
    folder = tmp_path / "dataset"
    tx, _ = read_orders(january)
    save_dataset(Dataset(transactions=tx), folder)
    done = _cli(str(folder), str(february), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["new_orders"], payload["changed_orders"], payload["duplicate_orders"]) == (1, 1, 1)
    assert payload["changed"][0]["order_id"] == "#2"
    assert (payload["changed"][0]["old_amount"], payload["changed"][0]["new_amount"]) == (40.0, 0.0)
    merged = pl.read_parquet(folder / TRANSACTIONS_FILE).sort(C.ORDER_ID)
    assert merged[C.AMOUNT].to_list() == [20.0, 0.0, 10.0]  # net sales
    assert merged[C.FULLY_REFUNDED].to_list() == [False, True, False]
    undone = _cli(str(folder), "--undo", "--json")
    assert undone.returncode == 0, undone.stderr
    assert json.loads(undone.stdout)["appends_left"] == 0
    assert pl.read_parquet(folder / TRANSACTIONS_FILE).height == 2


def test_cli_append_errors_are_one_line(tmp_path):
    done = _cli(str(tmp_path), str(tmp_path / "x.csv"), "--json")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a saved dataset folder" in done.stderr
    save_dataset(Dataset(transactions=SAVED.lazy()), tmp_path)
    nothing = _cli(str(tmp_path), "--undo")
    assert nothing.returncode == 2 and "Nothing to undo" in nothing.stderr


def test_cli_append_on_a_workspace_folder_updates_the_catalog(tmp_path):
    from crm_core.ingest import IngestReport
    from crm_core.workspace import record_rows_valid

    workspace = Workspace(tmp_path / "ws")
    dataset_id = workspace.save("Shop", b"x", "jan.csv", Dataset(transactions=SAVED.lazy()),
                                IngestReport(rows_read=4, rows_valid=4))
    export = tmp_path / "feb.csv"
    NEW.write_csv(export)
    folder = tmp_path / "ws" / dataset_id
    done = _cli(str(folder), str(export), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_after"] == 5
    assert workspace.get(dataset_id).rows_valid == 5  # the Data page lists what the folder holds
    undone = _cli(str(folder), "--undo")
    assert undone.returncode == 0, undone.stderr
    assert workspace.get(dataset_id).rows_valid == 4
    # a folder outside a workspace has no catalog row to update
    assert not record_rows_valid(tmp_path, 3)
    assert not record_rows_valid(tmp_path / "ws" / ("0" * 32), 3)


def test_streamed_reconciliation_matches_the_whole_one(tmp_path, monkeypatch):
    """Many rows on disk are reconciled without being held: the same counts, changed orders and merged rows
    as the whole comparison, ids counted in several slices, ids and content keys mixed."""
    from crm_core import reconcile as module

    monkeypatch.setattr(module, "IDS_PER_PASS", 3)
    saved = pl.DataFrame(
        [("A1", "c1", D(2024, 1, 5), 10.0), ("A1", "c1", D(2024, 1, 5), 5.0), ("A2", "c2", D(2024, 1, 20), 30.0),
         ("A3", "c3", D(2024, 1, 28), 40.0), (None, "c4", D(2024, 2, 1), 7.5), (None, "c4", D(2024, 2, 1), 7.5),
         (None, "c5", D(2024, 2, 2), 3.0)],
        schema={C.ORDER_ID: pl.String, C.CUSTOMER_ID: pl.String, C.ORDER_DATE: pl.Date, C.AMOUNT: pl.Float64},
        orient="row",
    )
    new = pl.DataFrame(
        [("A2", "c2", D(2024, 1, 20), 30.0), ("A3", "c3", D(2024, 1, 28), 25.0), ("A4", "c1", D(2024, 2, 3), 12.0),
         ("A4", "c1", D(2024, 2, 3), 1.0), ("A9", "c4", D(2024, 2, 1), 7.5),  # an id row in c4's content group
         (None, "c4", D(2024, 2, 1), 7.5), (None, "c4", D(2024, 2, 1), 7.5), (None, "c5", D(2024, 2, 2), 3.5),
         (None, "c6", D(2024, 2, 9), 2.0), ("A1", "c1", D(2024, 1, 5), 15.0), ("A5", "c7", D(2024, 3, 1), 4.0)],
        schema=saved.schema, orient="row",
    )
    for pair in ((saved, new), (saved.drop(C.ORDER_ID), new.drop(C.ORDER_ID)), (saved, new.drop(C.ORDER_ID))):
        whole, expected, _ = module._reconcile(*pair)
        path = tmp_path / "new.parquet"
        pair[1].write_parquet(path)
        streamed = module.reconcile_streamed(pair[0], pl.scan_parquet(path), pair[1].height)
        assert streamed.reconciliation == expected
        assert streamed.merged.collect().equals(whole)
    assert expected.duplicate_orders and expected.new_orders  # the last pair still matches on content
