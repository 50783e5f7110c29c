"""Sixth hostile sweep (session 14; generators in tests/hostile/sweep6.py): what still misread or misled.

Every read checks the trust rules (rows read = kept + rejected, each rejected row with its line and a known
reason); each test names what was wrong before its fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hostile import sweep6
from ingest_helpers import read_checked

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def made(tmp_path):
    return lambda name: sweep6.FILES[name](tmp_path / name)


def _batched(monkeypatch, rows: int) -> None:
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")  # every text file is "large"
    monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", str(rows))


def _without_batch_keys(detected: dict) -> dict:
    return {k: v for k, v in detected.items() if k not in ("fast_path", "read_in_batches")}


# ---------------------------------------------------------------- order lines filled from their order, in batches


@pytest.mark.parametrize("rows", [1, 7, 1000])
def test_a_batched_read_fills_order_lines_from_their_order_as_a_whole_read(made, monkeypatch, rows):
    """Read in batches, lines carrying the customer on their order's first line only were 'missing customer id'
    (their amounts left out of revenue) where a whole read fills them: now the same rows, report and warnings,
    also for an order whose lines straddle batches or come before its first line."""
    path = made("order_lines_batches.csv")
    whole_rows, whole = read_checked(path)
    assert whole.detected["filled_from_order"] == 40
    assert whole.rejected_by_reason() == {"missing customer id": 4, "unparseable amount": 2}
    _batched(monkeypatch, rows)
    batched_rows, batched = read_checked(path)
    assert batched.detected["read_in_batches"] == -(-whole.rows_read // rows)
    assert batched_rows.equals(whole_rows)
    expected, got = whole.to_dict(), batched.to_dict()
    assert _without_batch_keys(got.pop("detected")) == _without_batch_keys(expected.pop("detected"))
    assert got == expected  # warnings (the filled lines' one included), rejected rows with their raw text
    assert batched.all_rejected().collect().equals(whole.all_rejected().collect())
    early = batched_rows.filter(pl.col("order_id") == "9041")
    assert early.get_column("customer_id").to_list() == ["K1"]  # line 4, filled from the file's last lines


def test_the_cli_figures_are_the_same_when_order_lines_are_filled_in_batches(made, monkeypatch, capsys):
    from crm_core.__main__ import main

    path = made("order_lines_batches.csv")
    outputs = []
    for batched in (False, True):
        if batched:
            _batched(monkeypatch, 5)
        for command in (["summary"], ["rfm", "--as-of", "2024-07-01"], ["portfolio"]):
            assert main([command[0], str(path), *command[1:], "--json"]) == 0
            payload = json.loads(capsys.readouterr().out)
            payload.pop("detected", None)
            outputs.append(payload)
    assert outputs[:3] == outputs[3:]
    assert outputs[0]["rows_rejected"] == 6


# ---------------------------------------------------------------- currencies without decimals


def test_a_stated_currency_without_decimals_reads_1_234_as_a_whole_number(made):
    """``1,234`` beside ``12.99`` amounts could be 1.234 or 1,234: set aside as ambiguous, also when the row
    says JPY or KRW, which have no fractions (only 1,234 can be meant). Now read whole; ``2,000`` yen (2,000 or
    2, both whole), ``1,234`` KWD (1.234 dinars exist), USD and a row without currency stay ambiguous."""
    frame, report = read_checked(made("zero_decimal.csv"))
    assert report.rejected_by_reason() == {"ambiguous amount": 4}
    assert sorted(report.rejected.get_column("line").to_list()) == [32, 33, 34, 35]
    assert report.detected["whole_amounts"] == 20
    assert any(w.startswith("20 amounts in a currency without decimals") for w in report.warnings)
    yen = frame.filter(pl.col("order_date") == pl.date(2024, 3, 2)).get_column("amount").to_list()
    assert yen == [2037.0, 6537.0]  # "2,037" JPY (index 1), "6,537" KRW (index 29)
    assert frame.filter(pl.col("amount") < 100).height == 10  # the USD amounts, as written
    assert frame.filter(pl.col("amount") >= 1000).height == 20


def test_without_a_currency_without_decimals_1_234_stays_ambiguous(made, tmp_path):
    """The other way: the same amounts stated as USD are never read whole."""
    path = made("zero_decimal.csv")
    usd = tmp_path / "usd.csv"
    usd.write_text(path.read_text().replace("JPY", "USD").replace("KRW", "USD"))
    _, report = read_checked(usd)
    assert report.rejected_by_reason() == {"ambiguous amount": 24}
    assert "whole_amounts" not in report.detected


def test_a_column_named_in_yen_is_read_whole_when_no_value_decides_the_notation(made):
    """Only yen, no value deciding the decimal mark: the file's style (decimal comma) read ``2,043`` as 2.043
    yen; the column's name says JPY, so it is 2,043 (``4.123`` was 1,041 already, ``1.000`` stays 1,000)."""
    frame, report = read_checked(made("zero_decimal_style.csv"))
    assert report.rows_valid == 20 and report.detected["currencies"] == ["JPY"]
    assert report.detected["whole_amounts"] == 7
    assert frame.get_column("amount").to_list()[:4] == [1000.0, 2043.0, 980.0, 4123.0]
    assert frame.filter(pl.col("amount") < 100).height == 0


def test_a_preset_s_amounts_are_not_read_whole(tmp_path):
    """A preset's amount is computed (WooCommerce: total - refund): its parts are never re-read here."""
    path = tmp_path / "woo.csv"
    rows = ["order_id,customer_id,order_date,order_total,order_refund,status,order_currency"]
    rows += [f"{n},{n % 3},2024-01-{n:02d},{n}.50,0,completed,USD" for n in range(1, 11)]
    rows += ["11,1,2024-01-11,\"1,234\",0,completed,JPY"]
    path.write_text("\n".join(rows) + "\n")
    _, report = read_checked(path)
    assert report.detected["preset"] == "woocommerce"
    assert report.rejected_by_reason() == {"ambiguous amount": 1} and "whole_amounts" not in report.detected


def test_batched_and_whole_reads_agree_on_amounts_read_whole(made, monkeypatch):
    path = made("zero_decimal.csv")
    whole_rows, whole = read_checked(path)
    _batched(monkeypatch, 6)
    batched_rows, batched = read_checked(path)
    assert batched_rows.equals(whole_rows) and batched.warnings == whole.warnings
    assert _without_batch_keys(batched.detected) == _without_batch_keys(whole.detected)


# ---------------------------------------------------------------- notations, currencies and footers


def test_a_dash_for_no_cents_is_a_whole_amount_not_a_minus(made):
    """``12,–`` (Swiss and German prices: no cents) was read as -12 without a word; now 12. ``12,-`` with a
    hyphen could be that or a trailing minus: unreadable. SAP's ``1.234,56-`` stays negative."""
    frame, report = read_checked(made("swiss_no_cents.csv"))
    assert report.rejected_by_reason() == {"unparseable amount": 3}  # the three "12,-"
    assert frame.get_column("amount").to_list()[:8] == [12.0, 1234.0, -5.0, 7.5, -1234.56, 3.0, 12.0, 12.0]


def test_an_amount_written_in_another_currency_than_its_column_is_set_aside(made):
    """``12.50 USD`` in a row whose currency column says EUR was read as 12.50 EUR (the column won, silently)."""
    frame, report = read_checked(made("currency_twice.csv"))
    assert report.rejected_by_reason() == {"conflicting currency": 8}  # "12.50 USD" and "£9.00" beside EUR
    assert sorted(set(frame.get_column("amount").to_list())) == [13.0, 14.0, 15.0, 980.0]  # "$14.00" CAD, "¥980" CNY
    assert report.detected["currencies"] == ["CAD", "CNY", "EUR"]


def test_total_rows_with_a_date_are_set_aside_and_a_customer_called_total_is_kept(made, monkeypatch):
    """A grand total and subtotals in the customer column, each with a date, were three customers and doubled the
    revenue; they are set aside as 'total row' (their amount is the sum of the rows above), in batches too."""
    frame, report = read_checked(made("dated_totals.csv"))
    assert report.rejected_by_reason() == {"total row": 3}
    assert sorted(report.rejected.get_column("line").to_list()) == [9, 17, 24]
    assert round(frame.get_column("amount").sum(), 2) == round(391.9 + 12, 2)
    assert frame.filter(pl.col("customer_id") == "Total").height == 1
    _batched(monkeypatch, 3)
    batched_rows, batched = read_checked(made("dated_totals.csv"))
    assert batched.detected["read_in_batches"] == 8
    assert batched_rows.equals(frame) and batched.rejected_by_reason() == report.rejected_by_reason()


@pytest.mark.parametrize("name", ["two_row_header.xlsx", "two_row_header.csv"])
def test_a_header_over_two_rows_names_the_columns(made, name):
    """``Amount`` merged over ``net`` and ``gross``: no header was found, the columns were guessed from the
    values (the net amount read as a quantity, the gross one as the amount). Now 'Amount net' is the amount."""
    frame, report = read_checked(made(name))
    assert report.detected["header"] is True and report.rows_read == 20
    assert report.detected["columns"]["amount"] == "Amount net"
    assert report.detected["columns"]["customer_id"] == "Customer"
    assert "quantity" not in report.detected["columns"]
    assert frame.get_column("amount").sum() == 220.0


def test_a_minus_before_and_after_the_number_is_unreadable(tmp_path):
    """``-1.234,56-`` (SAP's trailing minus on a value already signed) negates twice, as ``(-12.50)`` does: it was
    read as -1,234.56; ``--12`` as -12. Both are now unreadable; one minus either side stays negative."""
    path = tmp_path / "signs.csv"
    rows = ["Kunde;Datum;Betrag"] + [f"K{n % 3};{n + 1:02d}.04.2024;{v}" for n, v in
                                     enumerate(["-1.234,56-", "--12", "1.234,56-", "-7,50", "12,50"] * 4)]
    path.write_text("\n".join(rows) + "\n")
    frame, report = read_checked(path)
    assert report.rejected_by_reason() == {"unparseable amount": 8}
    assert sorted(set(frame.get_column("amount").to_list())) == [-1234.56, -7.5, 12.5]


def test_an_unread_refunds_column_is_named(made, tmp_path):
    """Square's ``Partial Refunds`` beside ``Net Sales``: nothing subtracts them and nothing said so. Now a
    warning names the column (and ``Event Type`` Refund rows are named as unread status); all-zero refunds
    stay quiet."""
    _, report = read_checked(made("square.csv"))
    assert report.detected["columns"]["amount"] == "Net Sales"
    assert any(w.startswith("Column 'Partial Refunds' holds refunds (4 of the first 30 rows, e.g. '-$5.00')")
               for w in report.warnings)
    assert any(w.startswith("Column 'Event Type' is not read") for w in report.warnings)
    quiet = tmp_path / "quiet.csv"
    quiet.write_text(made("square.csv").read_text().replace("-$5.00", "$0.00"))
    _, report = read_checked(quiet)
    assert not any("Partial Refunds" in w for w in report.warnings)
