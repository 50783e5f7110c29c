"""Second hostile sweep (tests/hostile/sweep.py): each generated file is read exactly or refused in one line.

Every read checks the trust rules: rows read = kept + rejected, each rejected row with its line and a known
reason; an unusable file raises one short IngestError saying what to do. The figures are worked out from
the generator's rows (``sweep.base_rows``).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hostile import sweep
from ingest_helpers import read_checked, summary_cli

from crm_core.ingest import IngestError
from crm_core.ingest.messages import MAX_MESSAGE

ROOT = Path(__file__).resolve().parents[1]
BASE = sweep.base_rows()
BASE_REVENUE = round(sum(float(amount) for _, _, amount in BASE), 2)
BASE_DATES = [dt.date.fromisoformat(day) for _, day, _ in BASE]




def _refused(path: Path, match: str) -> str:
    with pytest.raises(IngestError, match=match) as error:
        read_checked(path)
    message = str(error.value)
    assert "\n" not in message and len(message) <= MAX_MESSAGE
    return message


@pytest.fixture
def made(tmp_path):
    return lambda name: sweep.SMALL[name](tmp_path / name)


@pytest.mark.parametrize("name", ["utf16le_bom.csv", "utf16be_bom.csv", "utf8bom_semicolon.csv", "quoted_newlines.csv",
                                  "two_digit_years.csv", "really_xlsx.csv", "serial_dates.xlsx", "lying_dimension.xlsx"])
def test_honest_files_in_unusual_clothes_read_every_row_exactly(made, name):
    frame, report = read_checked(made(name))
    assert report.rows_rejected == 0
    assert round(frame.get_column("amount").sum(), 2) == BASE_REVENUE
    assert frame.get_column("order_date").to_list() == BASE_DATES
    assert frame.get_column("customer_id").to_list() == [customer for customer, _, _ in BASE]


def test_nul_bytes_inside_a_line_reject_that_row_not_the_file(made):
    frame, report = read_checked(made("nul_inside.csv"))
    assert report.rejected_by_reason() == {"unreadable customer id": 1, "unparseable amount": 1}
    assert report.rejected.get_column("line").to_list() == [3, 5]
    assert not frame.get_column("customer_id").str.contains("\x00", literal=True).any()  # never a customer of its own


def test_a_data_line_longer_than_the_sample_is_refused_before_reading(tmp_path):
    """The 200 MB version (sweep.LARGE) needed more than 2.5 GB before; it is refused at once."""
    message = _refused(sweep.long_line(tmp_path / "long.csv", 2 * 1024**2), "Line 2 of this file is longer than 1 MB")
    assert "export it again as CSV" in message


def test_old_mac_line_ends_are_not_a_long_line(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(sweep._csv_text(sweep.base_rows() * 125).replace("\n", "\r").encode())  # > 1 MB, CR only
    _, report = read_checked(path)
    assert report.rows_read == 30_000


@pytest.mark.parametrize("content", [b"sep=;\n", b"\xef\xbb\xbfsep=,\r\n", b"sep=;"])
def test_a_file_with_only_excels_separator_line_is_empty(tmp_path, content):
    path = tmp_path / "sep.csv"
    path.write_bytes(content)
    _refused(path, "The file is empty")


def test_a_binary_file_is_still_refused(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 100)
    _refused(path, "does not look like a table")


def test_twenty_thousand_columns_are_refused_in_one_line(made):
    _refused(made("wide_20000.csv"), "20000 columns")


def test_a_header_repeated_mid_file_is_rejected_as_such(made):
    frame, report = read_checked(made("header_repeated.csv"))
    assert report.rejected_by_reason() == {"repeated header": 1}
    assert report.rejected.row(0, named=True) == {"line": 122, "raw": "customer_id,order_date,amount",
                                                  "reason": "repeated header"}
    assert round(frame.get_column("amount").sum(), 2) == BASE_REVENUE


def test_a_repeated_header_with_a_byte_order_mark_is_rejected_as_such(tmp_path):
    """`cat a.csv b.csv` of two UTF-8 exports with BOM: the second header starts with one."""
    path = tmp_path / "concat.csv"
    path.write_bytes(b"\xef\xbb\xbf" + sweep._csv_text(BASE[:120]).encode() + b"\xef\xbb\xbf"
                     + sweep._csv_text(BASE[120:]).encode())
    _, report = read_checked(path)
    assert report.rejected_by_reason() == {"repeated header": 1}


def test_two_columns_with_one_name_are_named_in_a_warning(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(sweep._csv_text([[c, d, a, "0"] for c, d, a in BASE], ["customer_id", "order_date", "amount", "amount"]))
    frame, report = read_checked(path)
    assert round(frame.get_column("amount").sum(), 2) == BASE_REVENUE  # the first one
    assert any("Several columns have the same name ('amount')" in warning for warning in report.warnings)


def test_every_amount_notation_is_read_exactly_or_rejected(made):
    frame, report = read_checked(made("mixed_notations.csv"))
    by_customer = dict(zip(frame.get_column("customer_id"), frame.get_column("amount")))
    expected = dict(sweep.NOTATIONS, **{'"1.234,56"': 1234.56})  # unambiguous decimal comma: read as written
    for index, value in enumerate(expected.values()):
        assert by_customer.get(f"N{index:02d}") == value
    # NaN 0x10 12.5.3; inf; "-" is a spelling of "no value" (sweep 5: missing, as NULL or N/A)
    assert report.rejected_by_reason() == {"unparseable amount": 3, "missing amount": 1, "amount out of range": 1}
    assert report.corrected_values == 2


def test_mixed_date_notations_say_which_format_was_used(made):
    _, report = read_checked(made("mixed_dates.csv"))
    assert report.rejected_by_reason() == {"unparseable date": 180}
    assert any("180 dates in column 'order_date' could not be read as YYYY-MM-DD" in w for w in report.warnings)


def test_time_zones_and_dst_gaps_keep_the_date_as_written(made):
    frame, report = read_checked(made("timezones_dst.csv"))
    assert report.rows_rejected == 0
    assert frame.get_column("order_date").head(6).to_list() == [
        dt.date(2024, 3, 10), dt.date(2024, 3, 31), dt.date(2024, 11, 3), dt.date(2024, 3, 1), dt.date(2024, 6, 1),
        dt.date(2024, 10, 27)]


def test_negative_quantities_are_returns(made):
    frame, report = read_checked(made("negative_qty.csv"))
    assert report.negative_amount_rows == 24 and report.rows_rejected == 0
    assert frame.get_column("amount").head(1).to_list() == [-float(BASE[0][2])]


def test_future_dates_are_kept_and_named(made):
    frame, report = read_checked(made("future_dates.csv"))
    assert frame.get_column("order_date").max() == dt.date(2099, 12, 31)
    assert any("2 orders are dated in the future (latest 2099-12-31)" in warning for warning in report.warnings)


def test_ids_keep_leading_zeros_and_blank_ids_are_missing(made):
    frame, report = read_checked(made("id_quirks.csv"))
    ids = set(frame.get_column("customer_id"))
    assert "00123" in ids and "0001" in ids and "123" not in ids
    assert report.rejected_by_reason() == {"missing customer id": 7}


def test_excel_float_ids_lose_their_dot_zero_and_text_dates_are_read(made):
    frame, report = read_checked(made("text_dates_float_ids.xlsx"))
    ids = frame.get_column("customer_id").to_list()
    assert "101" in ids and "00001" in ids and not any(i.endswith(".0") for i in ids)
    assert report.rejected_by_reason() == {"missing customer id": 1}  # the whitespace-only id
    assert frame.get_column("order_date").to_list() == BASE_DATES[:7] + BASE_DATES[8:]


def test_excel_formulas_with_results_and_date_cells_are_read(made):
    frame, report = read_checked(made("cached_formulas.xlsx"))
    assert report.rows_rejected == 0 and not any("could not be read" in w for w in report.warnings)
    assert round(frame.get_column("amount").sum(), 2) == BASE_REVENUE
    assert frame.get_column("order_date").to_list() == BASE_DATES


def test_excel_number_cells_with_three_decimals_are_not_ambiguous(tmp_path):
    """A number cell is a number: 1.234 in a workbook is 1.234 (as text in a CSV it could mean 1234)."""
    rows = [["A", "2024-01-05", 1.234], ["B", "2024-01-06", 12.5], ["C", "2024-01-07", 2.125]]
    frame, report = read_checked(sweep._openpyxl_book(tmp_path / "three.xlsx", [sweep.HEADER, *rows]))  # noqa: SLF001
    assert frame.get_column("amount").to_list() == [1.234, 12.5, 2.125] and report.rows_rejected == 0


@pytest.mark.parametrize(("name", "match"), [
    ("several.zip", "holds 2 files"),
    ("formulas.xlsx", "formulas"),
    ("lying_rows.parquet", "claims 1,099,511,627,776 rows"),
    ("lying_footer.parquet", "damaged"),
])
def test_unusable_files_say_what_to_do_in_one_line(made, name, match):
    _refused(made(name), match)


def test_cli_summary_contract_on_every_sweep_file(tmp_path):
    """Exit 0 with the counts, or exit 2 with one line; never a traceback (the CLI path, supervised)."""
    env = dict(os.environ, RUST_BACKTRACE="1")
    for name, writer in sweep.SMALL.items():
        done = summary_cli(writer(tmp_path / name), env)
        if done.returncode == 0:
            assert '"rows_read"' in done.stdout, name


def test_batched_reads_give_the_same_new_warnings_and_reasons(made, monkeypatch):
    """Large files are read in batches (CRM_INGEST_BATCH_MB): future dates, repeated headers and NUL bytes alike."""
    whole = {name: read_checked(made(name))[1] for name in ("future_dates.csv", "header_repeated.csv", "nul_inside.csv")}
    monkeypatch.setenv("CRM_INGEST_BATCH_MB", "0")
    monkeypatch.setenv("CRM_INGEST_BATCH_ROWS", "50")
    for name, report in whole.items():
        _, batched = read_checked(made(name))
        assert batched.detected.get("read_in_batches", 0) > 1, name
        assert batched.rejected_by_reason() == report.rejected_by_reason(), name
        assert [w for w in batched.warnings if "future" in w] == [w for w in report.warnings if "future" in w], name
