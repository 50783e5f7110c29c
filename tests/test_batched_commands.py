"""Every file command gives the same answer when a large file is read in batches (rows on disk).

The batched read is forced on a small file (``CRM_INGEST_BATCH_MB=0``, a few hundred rows per
batch, see docs/deployment.md) and per-customer tables are built in slices of customers
(``common.ROWS_PER_SLICE`` lowered); the whole-file, in-memory run of the same command is the
reference, compared exactly.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_core.__main__ import main
from crm_core.commands import common

ROWS = 4000
#: Distinct customers among the first ROWS orders of the CDNOW sample.
CUSTOMERS = 1359
CDNOW = Path(__file__).parent / "data" / "cdnow_sample.csv"


@pytest.fixture(scope="module")
def orders(tmp_path_factory) -> Path:
    """The first 4000 orders of the CDNOW sample moved 26 years on (2023-01 to 2024-06), with order ids, a channel,
    some returns and one bad row.

    Real purchase histories: the CLV fits have an interior optimum, so that they compare on every machine (a
    synthetic file of identical customers drives the models to their parameter bounds, where the end point
    depends on the last bits of the machine's arithmetic)."""
    frame = pl.read_csv(CDNOW, schema_overrides={"customer_id": pl.String}, n_rows=ROWS).with_row_index("i").select(
        order_id=pl.format("O{}", pl.col("i")),
        customer=pl.format("C{}", pl.col("customer_id")),
        date=pl.col("order_date").str.to_date().dt.offset_by("26y").cast(pl.String),
        amount=pl.when(pl.col("i") % 53 == 0).then(pl.lit("-12.30")).otherwise(pl.col("amount").cast(pl.String)),
        channel=pl.when(pl.col("i") % 3 == 0).then(pl.lit("web")).otherwise(pl.lit("store")),
    )
    assert frame["customer"].n_unique() == CUSTOMERS
    path = tmp_path_factory.mktemp("batched") / "orders.csv"
    frame.write_csv(path)
    with path.open("a") as handle:
        handle.write("O-bad,C1,not a date,10.00,web\n")
    return path


def _run(arguments: list[str], capsys) -> dict:
    assert main(arguments) == 0, capsys.readouterr().err
    return _shares_to_12_places(json.loads(capsys.readouterr().out))


def _shares_to_12_places(value: Any) -> Any:
    """Floats to 12 decimal places (money is already to the cent): a share sums customers in the order a
    multi-threaded group-by gives them, which differs in the last bit from one run of the same path to the next."""
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {key: _shares_to_12_places(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shares_to_12_places(item) for item in value]
    return value


def _batched(monkeypatch) -> None:
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")  # every text file is "large"
    monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", "700")
    monkeypatch.setattr(common, "ROWS_PER_SLICE", 900)  # 4000 rows: five slices of customers


def _both(arguments: list[str], monkeypatch, capsys) -> tuple[dict, dict]:
    """(whole read, batched read and sliced summaries) of the same command."""
    whole = _run(arguments, capsys)
    _batched(monkeypatch)
    return whole, _run(arguments, capsys)


def test_rfm_is_the_same_when_read_in_batches(orders, monkeypatch, capsys):
    whole, batched = _both(["rfm", str(orders), "--json"], monkeypatch, capsys)
    assert batched == whole and whole["customers"] == CUSTOMERS


def test_portfolio_is_the_same_when_read_in_batches(orders, monkeypatch, capsys):
    whole, batched = _both(["portfolio", str(orders), "--json"], monkeypatch, capsys)
    assert batched == whole and whole["customers"] == CUSTOMERS


def test_portfolio_with_a_view_period_is_the_same_when_read_in_batches(orders, tmp_path, monkeypatch, capsys):
    view = tmp_path / "view.json"
    view.write_text(json.dumps({"period": {"start": "2023-03-01", "end": "2024-06-30"}}))
    whole, batched = _both(["portfolio", str(orders), "--view", str(view), "--json"], monkeypatch, capsys)
    assert batched == whole and whole["period"] == {"start": "2023-03-01", "end": "2024-06-30"}


def test_clv_is_the_same_when_read_in_batches(orders, monkeypatch, capsys):
    whole, batched = _both(["clv", str(orders), "--json"], monkeypatch, capsys)
    # The sufficient statistics are the same; the fits see the customers in another order (sorted by id
    # instead of first appearance), so the optimiser's estimates may differ in the last digits.
    assert batched.keys() == whole.keys() and whole["customers"] == batched["customers"] > 1300  # buyers: net spend > 0
    for key in ("history_days", "repeat_share", "customers_without_purchase", "model", "calibration_end"):
        assert batched[key] == whole[key], key
    assert batched["bgnbd"]["unique_rows"] == whole["bgnbd"]["unique_rows"]
    assert batched["gamma_gamma"]["customers"] == whole["gamma_gamma"]["customers"]
    for name in ("r", "alpha", "a", "b"):
        assert batched["bgnbd"][name] == pytest.approx(whole["bgnbd"][name], rel=1e-6)
    assert batched["clv"]["total"] == pytest.approx(whole["clv"]["total"], rel=1e-6)


def test_clv_customers_out_in_slices_is_the_same(orders, tmp_path, monkeypatch, capsys):
    """30M orders: customers in five slices, --customers-out written 70 customers at a time. The same
    forecast for every customer as one slice written at once, and the file written in pieces is the same
    bytes as written whole."""
    from crm_core.commands import clv

    out = tmp_path / "forecasts.csv"
    arguments = ["clv", str(orders), "--json", "--customers-out", str(out)]
    _batched(monkeypatch)
    monkeypatch.setattr(common, "ROWS_PER_SLICE", 10**9)  # one slice of customers
    one_slice, one_slice_file = _run(arguments, capsys), pl.read_csv(out)
    monkeypatch.setattr(common, "ROWS_PER_SLICE", 900)  # five slices
    sliced, sliced_bytes = _run(arguments, capsys), out.read_bytes()
    monkeypatch.setattr(clv, "FORECAST_ROWS_PER_WRITE", 70)
    assert _run(arguments, capsys) == sliced and out.read_bytes() == sliced_bytes
    assert sliced["customers"] == one_slice["customers"] > 1300
    assert sliced_bytes.count(b"customer_id") == 1 and sliced_bytes.count(b"\n") == sliced["customers"] + 1
    assert sliced["bgnbd"]["unique_rows"] == one_slice["bgnbd"]["unique_rows"]
    assert sliced["clv"]["total"] == pytest.approx(one_slice["clv"]["total"], rel=1e-9)
    assert sliced["intervals"] == pytest.approx(one_slice["intervals"], rel=1e-9)
    # Slices come out sorted by customer id, one slice in order of first appearance: the same rows.
    sliced_file = pl.read_csv(out)
    assert sliced_file["customer_id"].to_list() == sorted(one_slice_file["customer_id"].to_list())
    expected = one_slice_file.sort("customer_id")
    for name in ("customer_id", "purchases_low", "purchases_high", "next_order_date"):
        assert sliced_file[name].to_list() == expected[name].to_list(), name
    for name in ("p_alive", "expected_purchases", "predicted_value", "value_low", "value_high"):
        assert sliced_file[name].to_list() == pytest.approx(expected[name].to_list(), rel=1e-9), name


def test_export_is_the_same_when_read_in_batches(orders, tmp_path, monkeypatch, capsys):
    out = tmp_path / "targets.csv"
    arguments = ["export", str(orders), "--segment", "Champions", "--segment", "At Risk", "--out", str(out), "--json"]
    whole = _run(arguments, capsys)
    whole_file = out.read_bytes()
    _batched(monkeypatch)
    batched = _run(arguments, capsys)
    assert batched == whole and whole["customers"] > 0
    assert out.read_bytes() == whole_file


def test_constants_kept_in_the_light_command_modules_match_the_engines():
    from crm_core.actions import ValueSettings
    from crm_core.commands import export, rfm as rfm_command
    from crm_core.rfm import ALLOWED_BINS

    assert rfm_command.ALLOWED_BINS == ALLOWED_BINS
    assert export.HIGH_VALUE_SHARE == ValueSettings().high_value_share


def test_append_is_the_same_when_read_in_batches(orders, tmp_path, monkeypatch, capsys):
    """The dataset a batched append writes (rows reconciled and written without being held) holds the same
    rows in the same order, and the counts are the same, as when the file is read whole; appended twice,
    every order of the second time is a duplicate."""
    from crm_core import reconcile
    from crm_core.dataset import TRANSACTIONS_FILE

    def appended(folder: Path) -> list[tuple[dict, pl.DataFrame]]:
        assert main(["demo", "--out", str(folder)]) == 0
        capsys.readouterr()
        results = []
        for _ in range(2):
            assert main(["append", str(folder), str(orders), "--json"]) == 0, capsys.readouterr().err
            payload = json.loads(capsys.readouterr().out)
            payload.pop("appended_at")
            results.append((payload, pl.read_parquet(folder / TRANSACTIONS_FILE)))
        return results

    whole = appended(tmp_path / "whole")
    _batched(monkeypatch)
    streamed, original = [], reconcile.reconcile_streamed
    monkeypatch.setattr(reconcile, "reconcile_streamed", lambda *args: streamed.append(1) or original(*args))
    batched = appended(tmp_path / "batched")
    assert len(streamed) == 2
    for (whole_payload, whole_rows), (batched_payload, batched_rows) in zip(whole, batched):
        assert batched_payload == whole_payload and whole_payload["rows_rejected"] == 1
        assert batched_rows.equals(whole_rows)
    assert whole[0][0]["new_orders"] == ROWS and whole[1][0]["duplicate_orders"] == ROWS


def _significant(text: str) -> str:
    """Long decimals (chart data, shares) to 9 significant digits: sums over customers come in another order."""
    return re.sub(r"-?\d+\.\d{6,}(?:[eE]-?\d+)?", lambda match: f"{float(match.group()):.9g}", text)


def _report_parts(out: Path) -> tuple[str, str]:
    """The report's headline figures (JSON) and its findings' pages (headlines, charts, tables)."""
    text = out.read_text("utf-8")
    figures = re.search(r'id="figures">(.*?)</script>', text, re.S)
    pages = text[text.index('<section class="finding"'):text.index('<section id="data-quality"')]
    assert figures is not None
    return _significant(figures.group(1)), _significant(pages)


def test_report_is_the_same_when_read_in_batches(orders, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.html"
    arguments = ["report", str(orders), "--out", str(out), "--json"]
    whole = _run(arguments, capsys)
    whole_parts = _report_parts(out)
    _batched(monkeypatch)
    batched = _run(arguments, capsys)
    assert batched["findings"] == whole["findings"] and batched["charts"] == whole["charts"] >= 5
    assert _report_parts(out) == whole_parts
    assert "customers" in whole["findings"]["kpis"]


def _slides(path: Path) -> dict[str, str]:
    """The deck's slides and charts as XML (no file dates, no embedded workbooks)."""
    with zipfile.ZipFile(path) as deck:
        return {name: _significant(deck.read(name).decode("utf-8")) for name in deck.namelist()
                if name.startswith(("ppt/slides/", "ppt/charts/", "ppt/notesSlides/")) and name.endswith(".xml")}


def test_deck_is_the_same_when_read_in_batches(orders, tmp_path, monkeypatch, capsys):
    out = tmp_path / "deck.pptx"
    arguments = ["deck", str(orders), "--out", str(out), "--json"]
    monkeypatch.setenv("CRM_CHROMIUM", str(tmp_path / "no-chromium"))  # tables instead of pictures: quicker
    whole = _run(arguments, capsys)
    whole_slides = _slides(out)
    _batched(monkeypatch)
    batched = _run(arguments, capsys)
    assert {**batched, "pptx": ""} == {**whole, "pptx": ""} and whole["customers"] == CUSTOMERS
    assert _slides(out) == whole_slides and len(whole_slides) > 10


def test_drivers_is_the_same_when_read_in_batches(orders, monkeypatch, capsys):
    whole, batched = _both(["drivers", str(orders), "--json"], monkeypatch, capsys)
    assert batched == whole and whole["customers"] > 1300 and whole["by"] == "channel"


def test_totals_counted_in_slices_of_customers_equal_one_pass(orders):
    """KPIs and retention counted slice by slice of customers (rows on disk) add up to the one-pass figures."""
    import datetime as dt

    from polars.testing import assert_frame_equal

    from crm_core.ingest import read_orders
    from crm_core.kpis import kpi_comparison, kpi_trend
    from crm_core.retention import cohort_retention, retention_curves

    tx = read_orders(orders)[0].collect().lazy()
    start, end = dt.date(2023, 1, 1), dt.date(2024, 12, 30)
    for query in (lambda slices: kpi_comparison(tx, dt.date(2024, 1, 1), end, slices=slices),
                  lambda slices: kpi_trend(tx, start, end, "month", slices=slices),
                  lambda slices: cohort_retention(tx, start, end, max_months=12, slices=slices),
                  lambda slices: retention_curves(tx, None, start, end, max_months=12, slices=slices)):
        one_pass, sliced = query(1), query(7)
        assert one_pass.height > 1
        # counts exact; sums of amounts added in another order may differ in the last bit
        assert_frame_equal(sliced, one_pass, check_exact=False, rel_tol=1e-12, abs_tol=1e-9)
