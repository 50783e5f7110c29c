"""Fourth hostile sweep (session 13, generators in tests/hostile/sweep4.py): what still misread or misled.

Every read checks the trust rules (rows read = kept + rejected, each rejected row with its line and a known
reason); each test names what was wrong before its fix.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import sweep4
from ingest_helpers import read_checked, summary_cli


ROOT = Path(__file__).resolve().parents[1]
EPOCH = dt.date(1899, 12, 30)




@pytest.fixture
def made(tmp_path):
    return lambda name: sweep4.FILES[name](tmp_path / name)


# ---------------------------------------------------------------- leftovers of session 12


def test_number_and_date_cells_among_text_dates_are_read_as_the_workbook_types_them(made):
    """Serial-number cells (and a date cell) in a column of text dates were 'unparseable date' (16 of 41 rows)."""
    frame, report = read_checked(made("serials_among_text.xlsx"))
    assert report.rejected_by_reason() == {"unparseable date": 1}  # "45000" typed as text: not a DD.MM.YYYY date
    assert report.rejected.row(0, named=True)["line"] == 42
    assert frame.get_column("order_date").to_list() == sweep4._days(40)  # noqa: SLF001 (the 18:30 and 0.75 stay on their day)
    assert report.detected["date_format"] == "%d.%m.%Y" and report.detected["date_cells"] == 15
    assert any("number cells were read as Excel serial day numbers" in w for w in report.warnings)


def test_text_dates_among_serial_cells_are_read_in_their_own_notation(made):
    """Mostly serial cells: the column was read as excel-serial and its text dates (13/01/2024) were rejected."""
    frame, report = read_checked(made("text_among_serials.xlsx"))
    assert report.rows_rejected == 0
    assert frame.get_column("order_date").to_list() == sweep4._days(40)  # noqa: SLF001
    assert report.detected["date_format"] == "%d/%m/%Y"


def test_a_text_date_column_of_one_notation_reads_no_cells_again(made, monkeypatch):
    """Only a column mixing typed and text cells costs the second look at the workbook."""
    from crm_core.ingest import source

    def refuse(*args, **kwargs):
        raise AssertionError("read again")

    monkeypatch.setattr(source, "_cell_dates", refuse)
    from hostile import sweep

    frame, report = read_checked(sweep.SMALL["text_dates_float_ids.xlsx"](made("serials_among_text.xlsx").with_name("t.xlsx")))
    assert "date_cells" not in report.detected and frame.height == 239


@pytest.mark.parametrize("batched", [False, True])
def test_a_status_column_marking_refunds_only_after_the_sample_is_named(made, monkeypatch, batched):
    """The first 5,997 rows say 'completed', the last three 'refunded': the warning looked at the sample only."""
    if batched:
        monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")
        monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", "1000")
    _, report = read_checked(made("status_refunds_late.csv"))
    assert report.detected.get("read_in_batches", 0) == (6 if batched else 0)
    named = [w for w in report.warnings if "Column 'status' is not read" in w]
    assert len(named) == 1 and "('refunded')" in named[0], report.warnings


def test_a_status_column_of_plain_sales_beyond_the_sample_stays_quiet(made, tmp_path):
    path = made("status_refunds_late.csv")
    path.write_text(path.read_text().replace("refunded", "completed"))
    _, report = read_checked(path)
    assert not [w for w in report.warnings if "is not read" in w]


def test_the_cli_names_the_late_refunds(made):
    done = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(made("status_refunds_late.csv")), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert any("Column 'status' is not read" in w for w in json.loads(done.stdout)["warnings"])


# ---------------------------------------------------------------- vendor-shaped exports


def test_a_woocommerce_export_with_only_the_customer_email_reads_its_customers(made):
    """No customer id column, only Customer Email: "No column looks like a customer id" though it was there."""
    frame, report = read_checked(made("woo_refund_rows.csv"))
    assert report.detected["preset"] == "woocommerce" and report.detected["columns"]["customer_id"] == "Customer Email"
    assert report.rows_read == 43 and report.rows_rejected == 0
    assert frame.get_column("customer_id").n_unique() == 11 and frame.get_column("customer_id").str.contains("@").all()
    assert round(frame.get_column("amount").sum(), 2) == 2020 - 79  # refund rows reference their order: returns
    assert report.negative_amount_rows == 3


def test_a_refund_type_column_beside_a_preset_is_named(made, tmp_path):
    """Refund rows written with positive totals: the preset does not read "Type", so it must say so."""
    path = made("woo_refund_rows.csv")
    path.write_text(path.read_text().replace(",-", ","))
    _, report = read_checked(path)
    named = [w for w in report.warnings if "Column 'Type' is not read" in w]
    assert len(named) == 1 and "'shop_order_refund'" in named[0] and "--preset" not in named[0]


def test_a_negative_quantity_at_a_negative_price_is_not_a_sale(made):
    """-2 x -12.00 was read as a sale of 24.00: the row could mean +24 or -24, so it is set aside."""
    frame, report = read_checked(made("negative_qty_price.csv"))
    assert report.rejected_by_reason() == {"ambiguous amount": 3}
    assert report.rejected.get_column("raw").to_list()[0] == "Q3,2024-08-08,-2,-12.00"
    assert report.negative_amount_rows == 6 and (frame.get_column("amount") < 0).sum() == 6


def test_dates_led_by_the_day_of_the_week_are_read(made, tmp_path):
    """``Fri, 01 Mar 2024 23:59:59 +0100`` (e-mail style): the file was refused as having no date column."""
    frame, report = read_checked(made("rfc2822_dst.csv"))
    assert report.rows_rejected == 0 and report.detected["date_format"] == "%d %b %Y"
    assert frame.get_column("order_date").to_list() == [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(30)]
    long = tmp_path / "long.csv"
    long.write_text("customer_id,order_date,amount\nA,\"Friday, March 1, 2024\",1\nB,\"Monday, March 4, 2024\",2\n")
    assert read_checked(long)[0].get_column("order_date").to_list() == [dt.date(2024, 3, 1), dt.date(2024, 3, 4)]


def test_an_order_total_repeated_on_every_line_is_named_with_both_sums(made, tmp_path):
    """Each line counted the whole order's total (revenue 1,254 instead of 610) without a word."""
    frame, report = read_checked(made("order_total_lines.csv"))
    assert round(frame.get_column("amount").sum(), 2) == 1254.0  # as written, one row per line
    named = [w for w in report.warnings if "Column 'Order Total' repeats one value" in w]
    assert len(named) == 1 and "(1,254.00; once per order it would be 610.00)" in named[0], report.warnings
    lines = tmp_path / "lines.csv"  # line amounts that differ within an order: nothing to say
    lines.write_text(made("order_total_lines.csv").read_text().replace(",Cup,", ",Cup,").replace(".00,Cup", ".50,Cup"))
    assert not [w for w in read_checked(lines)[1].warnings if "repeats one value" in w]


def test_two_amount_columns_differing_in_case_are_named(made):
    """``amount`` and ``Amount``: the first was read, and nothing said there was another."""
    frame, report = read_checked(made("case_twins.csv"))
    assert round(frame.get_column("amount").sum(), 2) == 735.0  # the first, as before
    named = [w for w in report.warnings if "Columns 'amount' and 'Amount' have the same name" in w]
    assert len(named) == 1 and "--amount COL" in named[0], report.warnings


def test_a_hidden_sheet_with_the_same_columns_is_not_added(made):
    """A hidden copy of the orders was stacked onto the visible sheet: every order counted twice."""
    path = made("hidden_copy.xlsx")
    frame, report = read_checked(path)
    assert report.rows_read == 10 and frame.get_column("amount").sum() == 145.0 and report.detected["sheet"] == "Orders"
    assert any("hidden sheets ('Backup & old') were not read" in w for w in report.warnings), report.warnings
    chosen, _ = read_checked(path, sheet="Backup & old")  # still readable when asked for
    assert chosen.height == 10


def test_accounting_credits_with_the_currency_outside_the_parentheses_are_negative(made):
    """``$(12.50)`` and ``USD (1,234.00)`` were 'unparseable amount' while ``($12.50)`` was read."""
    frame, report = read_checked(made("accounting_negatives.csv"))
    assert report.rows_rejected == 0 and report.detected["currency"] == "USD"
    assert frame.get_column("amount").head(6).to_list() == [-12.5, -1234.0, -7.25, 40.0, 1000.0, -3.0]


def test_timestamps_with_zone_names_keep_their_date_as_written(made):
    """``+0000 UTC`` (Go), ``America/New_York``, ``[Asia/Kolkata]`` (Java): the file was refused as dateless."""
    frame, report = read_checked(made("zone_names.csv"))
    assert report.rows_rejected == 0
    assert frame.get_column("order_date").to_list() == [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(30)]


def test_a_separator_line_that_lies_is_not_followed(made):
    """``sep=;`` above comma-separated rows: "No column looks like a customer id" (the header one column)."""
    from hostile import sweep

    frame, report = read_checked(made("sep_line_lies.csv"))
    assert report.detected["delimiter"] == "," and report.rows_read == 30 and report.rows_rejected == 0
    assert round(frame.get_column("amount").sum(), 2) == round(sum(float(a) for _, _, a in sweep.base_rows()[:30]), 2)
    assert any("says sep=; but no row holds a ';'" in w for w in report.warnings), report.warnings
    assert report.rejected.get_column("line").to_list() == []


def test_a_utf8_mark_on_a_cp1252_file_does_not_merge_customers(made):
    """Read as UTF-8 because of the mark, 'Clé0' and 'Clè0' both became 'Cl\ufffd0': one customer of two."""
    frame, report = read_checked(made("utf8_bom_on_cp1252.csv"))
    assert report.detected["encoding"] == "cp1252" and report.detected["ignored_bom"] == "UTF-8"
    assert set(frame.get_column("customer_id")) == {"Clé0", "Clé1", "Clè0", "Clè1", "Cle0", "Cle1"}
    assert any("byte-order mark, but its text is cp1252" in w for w in report.warnings)


def test_a_utf16_mark_on_a_utf8_file_is_ignored(made):
    """Read as UTF-16 because of the mark: "No column looks like a customer id. Columns found: 畣瑳浯..."."""
    frame, report = read_checked(made("utf16_bom_on_utf8.csv"))
    assert report.detected["encoding"] == "utf-8" and report.rows_read == 30 and report.rows_rejected == 0
    assert frame.get_column("customer_id").head(1).to_list() == ["C000"]


def test_cli_summary_contract_on_every_sweep4_file(tmp_path):
    """Exit 0 with rows read = kept + set aside, or exit 2 with one line; never a traceback (the CLI, supervised).
    ``python tests/hostile/sweep4.py DIR`` runs every command (and ``append``) on each file by hand."""
    for name, writer in sweep4.FILES.items():
        done = summary_cli(writer(tmp_path / name))
        if done.returncode == 0:
            payload = json.loads(done.stdout)
            assert payload["rows_read"] == payload["rows_valid"] + payload["rows_rejected"], name
            assert payload["rows_rejected"] == sum(payload["rejected_by_reason"].values()), name


def test_parentheses_and_a_minus_together_are_not_read(tmp_path):
    """``(-12.50)`` negates twice: it was read as -12.50 while ``-(12.50)`` was unreadable."""
    path = tmp_path / "twice.csv"
    path.write_text("customer_id,order_date,amount\nA,2024-01-01,(-12.50)\nB,2024-01-02,$(-3.00)\n"
                    "C,2024-01-03,(12.50)\nD,2024-01-04,-4.00\nE,2024-01-05,5.00\n")
    frame, report = read_checked(path)
    assert report.rejected_by_reason() == {"unparseable amount": 2}
    assert frame.get_column("amount").to_list() == [-12.5, -4.0, 5.0]
