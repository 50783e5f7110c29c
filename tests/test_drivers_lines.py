"""Line items saved with workspace datasets: product revenue counts each item after a save, a reload and an append.

The Shopify export of :mod:`test_offers_depth` (net sales = Subtotal) split back into its items, each taking
its share (line price x quantity over the order's) of the order's revenue:

- #1001 (90): Jacket 80 and Hat 20 -> 72 and 18; #1007 (30): Socks 10 and Hat 20 -> 10 and 20.
- Single-item orders keep their revenue: Jacket 100 and 80, Boots 70, Hat 45 and 60, Scarf 95 and 50, Socks 40 and 40.

Revenue by product: Jacket 252, Scarf 145, Hat 143, Socks 90, Boots 70 (700 in all, the orders' total).
Merged into orders instead, Jacket would get 270 and Hat 135 (each order under its largest line).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from crm_core import products
from crm_core.__main__ import main
from crm_core.dataset import LINES_FILE, Dataset, load_dataset, save_dataset
from crm_core.ingest import read_orders
from crm_core.reconcile import append_export, undo_append
from crm_core.workspace import Workspace
from test_offers_depth import ORDERS, _order, _shopify

BY_HAND = {"Jacket": 252.0, "Scarf": 145.0, "Hat": 143.0, "Socks": 90.0, "Boots": 70.0}


def _revenue(table: pl.DataFrame) -> dict[str, float]:
    return {name: pytest.approx(value) for name, value in zip(table["name"], table["revenue"], strict=True)}


@pytest.fixture
def upload(tmp_path):
    path = _shopify(tmp_path)
    tx, report = read_orders(path)
    return path, tx.collect(), report


def test_items_split_each_order_by_hand(upload):
    _, tx, report = upload
    items = products.sold_items(tx.lazy(), report.lines.lazy()).collect()
    assert items.height == 13 and items["amount"].sum() == pytest.approx(tx["amount"].sum())
    assert _revenue(products.product_table(items.lazy(), "product")) == BY_HAND
    merged = products.product_table(tx.lazy(), "product")
    assert dict(zip(merged["name"], merged["revenue"], strict=True))["Jacket"] == 270.0
    first = items.filter(pl.col("order_id") == "#1001").sort("amount", descending=True)
    assert first["product"].to_list() == ["Jacket", "Hat"] and first["discount_amount"].to_list() == [8.0, 2.0]
    assert not products.one_item_per_order(items.lazy(), "product")


def test_lines_without_prices_share_the_order_equally():
    tx = pl.LazyFrame({"customer_id": ["c"], "order_date": [dt.date(2024, 1, 1)], "amount": [30.0],
                       "order_id": ["A"], "product": ["Tea"]})
    lines = pl.LazyFrame({"order_id": ["A", "A", "B"], "customer_id": ["c", "c", "c"], "product": ["Tea", "Pot", "X"],
                          "line_amount": [None, None, 5.0]}, schema_overrides={"line_amount": pl.Float64})
    items = products.sold_items(tx, lines).collect()
    assert items["product"].to_list() == ["Tea", "Pot"] and items["amount"].to_list() == [15.0, 15.0]


def test_saved_then_reloaded_dataset_gives_the_fresh_upload_figures(upload, tmp_path):
    path, tx, report = upload
    fresh = products.product_table(products.sold_items(tx.lazy(), report.lines.lazy()), "product")
    workspace = Workspace(tmp_path / "ws")
    dataset_id = workspace.save("Shop", path.read_bytes(), path.name, Dataset(tx.lazy()), report)
    assert (tmp_path / "ws" / dataset_id / LINES_FILE).exists()
    saved = workspace.load(dataset_id)
    again = products.product_table(products.sold_items(saved.transactions, saved.lines), "product")
    assert again.equals(fresh)
    assert _revenue(again) == BY_HAND


def test_exports_without_merged_items_store_no_lines(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("order_id,customer,date,product,amount\nA1,c1,2024-01-05,Tea,10\nA1,c1,2024-01-05,Pot,25\n")
    tx, report = read_orders(path)
    assert report.lines is not None  # every row is its own line: the transactions already have the items
    dataset_id = Workspace(tmp_path / "ws").save("Lines", path.read_bytes(), path.name, Dataset(tx), report)
    assert not (tmp_path / "ws" / dataset_id / LINES_FILE).exists()
    assert Workspace(tmp_path / "ws").load(dataset_id).lines is None


NEWER = [
    # #1007 changed since (Socks refunded: now 20, Hat only) and #1012 is new (Boots 50, Hat 25 -> 40 and 20).
    _order("#1007", "g@x.com", "2023-02-20", 20, "0.00", "", [("Hat", 1, 20.0)]),
    _order("#1012", "b@x.com", "2024-03-05", 60, "15.00", "AGAIN", [("Boots", 1, 50.0), ("Hat", 1, 25.0)]),
    ORDERS[0],  # #1001 again, unchanged: a duplicate
]


def _saved(tmp_path, upload) -> Path:
    path, tx, report = upload
    dataset_id = Workspace(tmp_path / "ws").save("Shop", path.read_bytes(), path.name, Dataset(tx.lazy()), report)
    return tmp_path / "ws" / dataset_id


def test_append_brings_the_new_orders_lines_and_undo_restores(tmp_path, upload):
    folder = _saved(tmp_path, upload)
    before = pl.read_parquet(folder / LINES_FILE)
    newer = _shopify(tmp_path, NEWER, name="newer.csv")
    tx, report = read_orders(newer)
    result = append_export(folder, tx, source=newer, source_filename=newer.name, lines=report.lines)
    assert (result.new_orders, result.changed_orders, result.duplicate_orders) == (1, 1, 1)
    lines = pl.read_parquet(folder / LINES_FILE)
    assert lines.filter(pl.col("order_id") == "#1012")["product"].to_list() == ["Boots", "Hat"]
    assert lines.filter(pl.col("order_id") == "#1007")["product"].to_list() == ["Hat"]  # replaced with the order
    assert lines.filter(pl.col("order_id") == "#1001").height == 2  # the saved lines of a duplicate stay
    dataset = load_dataset(folder)
    revenue = products.product_table(products.sold_items(dataset.transactions, dataset.lines), "product")
    assert dict(zip(revenue["name"], revenue["revenue"], strict=True)) == pytest.approx(
        {**BY_HAND, "Socks": 80.0, "Boots": 110.0, "Hat": 143.0 + 20.0})  # #1007: Hat 20 only; #1012: 40 + 20
    undo_append(folder)
    assert pl.read_parquet(folder / LINES_FILE).equals(before)


def test_append_of_merged_items_to_a_dataset_without_lines_and_undo_removes_them(tmp_path):
    folder = tmp_path / "plain"
    tx = pl.DataFrame({"customer_id": ["g@x.com"], "order_date": [dt.date(2023, 1, 1)], "amount": [10.0],
                       "order_id": ["#900"]})
    save_dataset(Dataset(tx.lazy()), folder)
    newer = _shopify(tmp_path, NEWER[1:2], name="newer.csv")
    new_tx, report = read_orders(newer)
    append_export(folder, new_tx, source=newer, source_filename=newer.name, lines=report.lines)
    assert pl.read_parquet(folder / LINES_FILE)["order_id"].to_list() == ["#1012", "#1012"]
    undo_append(folder)
    assert not (folder / LINES_FILE).exists()


def test_cli_append_keeps_the_lines(tmp_path, upload, capsys):
    folder = _saved(tmp_path, upload)
    newer = _shopify(tmp_path, NEWER, name="newer.csv")
    assert main(["append", str(folder), str(newer), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["new_orders"] == 1
    assert "#1012" in pl.read_parquet(folder / LINES_FILE)["order_id"].to_list()


def test_workspace_append_takes_lines(tmp_path, upload):
    folder = _saved(tmp_path, upload)
    workspace = Workspace(tmp_path / "ws")
    newer = _shopify(tmp_path, NEWER, name="newer.csv")
    tx, report = read_orders(newer)
    workspace.append_export(folder.name, newer.read_bytes(), newer.name, tx, lines=report.lines)
    assert "#1012" in workspace.load(folder.name).lines.collect()["order_id"].to_list()
    assert os.stat(folder / LINES_FILE).st_mode & 0o777 == 0o600


def test_a_failed_append_leaves_transactions_and_lines_as_they_were(tmp_path, upload, monkeypatch):
    from crm_core import reconcile

    folder = _saved(tmp_path, upload)
    lines, transactions = (pl.read_parquet(folder / name) for name in (LINES_FILE, "transactions.parquet"))
    newer = _shopify(tmp_path, NEWER, name="newer.csv")
    tx, report = read_orders(newer)
    real_replace = Path.replace

    def failing_replace(self, target):  # the lines are already in place when the transactions fail to move
        if Path(target).name == "transactions.parquet":
            raise OSError("disk full")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", failing_replace)
    with pytest.raises(OSError):
        reconcile.append_export(folder, tx, source=newer, source_filename=newer.name, lines=report.lines)
    monkeypatch.undo()
    assert pl.read_parquet(folder / LINES_FILE).equals(lines)
    assert pl.read_parquet(folder / "transactions.parquet").equals(transactions)
    assert not list((folder / "appends").glob("*"))
