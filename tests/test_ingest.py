"""Ingest: sniffing, mapping, parsing, rejected rows, unusable files.

Every fixture is written inside the test (tmp_path); expected values are
worked out by hand from the few rows written.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from crm_core.ingest import source as ingest_source
from crm_core.ingest import ColumnMapping, IngestError, IngestReport, ReadOptions, read_orders, read_side_table

D = dt.date


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read(source, mapping: ColumnMapping | None = None, **options) -> tuple[pl.DataFrame, IngestReport]:
    tx, report = read_orders(source, mapping, ReadOptions(**options) if options else None)
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected
    assert report.rows_valid == frame.height
    assert report.rejected.height == report.rows_rejected
    return frame, report


def column(frame: pl.DataFrame, name: str) -> list:
    return frame.get_column(name).to_list()


BASIC = "customer,date,amount\nA,2024-01-05,10.50\nB,2024-02-06,3\n"


# ---------------------------------------------------------------- encodings


def test_utf8_with_bom(tmp_path):
    frame, report = read(write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + BASIC.encode()))
    assert report.detected["encoding"] == "utf-8-sig"
    assert report.detected["columns"]["customer_id"] == "customer"  # BOM not glued to the name
    assert column(frame, "customer_id") == ["A", "B"]


def test_utf8_without_bom(tmp_path):
    frame, report = read(write(tmp_path, "plain.csv", "customer,date,amount\nZoë,2024-01-05,1\n"))
    assert report.detected["encoding"] == "utf-8"
    assert column(frame, "customer_id") == ["Zoë"]


def test_utf16_with_bom_tab_separated(tmp_path):
    text = "Customer\tDate\tAmount\nJosé\t2024-01-02\t3.5\nRenée\t2024-01-03\t4\n"
    frame, report = read(write(tmp_path, "unicode.txt", text, encoding="utf-16"))
    assert report.detected["encoding"] == "utf-16"
    assert report.detected["delimiter"] == "\t"
    assert column(frame, "customer_id") == ["José", "Renée"]
    assert column(frame, "amount") == [3.5, 4.0]


def test_cp1252_fallback(tmp_path):
    text = "customer,date,amount\nJosé,2024-01-02,3.5\nMüller – GmbH,2024-01-03,4\n"
    frame, report = read(write(tmp_path, "windows.csv", text, encoding="cp1252"))
    assert report.detected["encoding"] == "cp1252"
    assert column(frame, "customer_id") == ["José", "Müller – GmbH"]
    assert any("not UTF-8" in w for w in report.warnings)


def test_latin1_fallback_when_cp1252_cannot_decode(tmp_path):
    data = "customer,date,amount\nJosé,2024-01-02,3.5\n".encode("latin-1") + b"X\x81,2024-01-03,4\n"
    frame, report = read(write(tmp_path, "latin.csv", data))
    assert report.detected["encoding"] == "latin-1"
    assert column(frame, "customer_id") == ["José", "X\x81"]


def test_encoding_override(tmp_path):
    path = write(tmp_path, "x.csv", "customer,date,amount\nJosé,2024-01-02,3.5\n", encoding="latin-1")
    frame, report = read(path, encoding="latin-1")
    assert column(frame, "customer_id") == ["José"]
    with pytest.raises(IngestError, match="Unknown encoding"):
        read(path, encoding="klingon")


# ---------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, delimiter):
    text = BASIC.replace(",", delimiter)
    frame, report = read(write(tmp_path, "d.txt", text))
    assert report.detected["delimiter"] == delimiter
    assert column(frame, "amount") == [10.5, 3.0]


def test_quoted_delimiter_inside_values(tmp_path):
    text = 'customer,date,amount,note\n"Smith, John",2024-01-05,10,"a, b, c"\nLee,2024-01-06,2,x\n'
    frame, report = read(write(tmp_path, "q.csv", text))
    assert report.detected["delimiter"] == ","
    assert column(frame, "customer_id") == ["Smith, John", "Lee"]


def test_whitespace_separated_cdnow_raw(tmp_path):
    text = "00001 19970101  1   11.77\n00002 19970112  1   12.00\n00002 19970112  5   77.00\n00003 19970102  2   20.76\n"
    frame, report = read(write(tmp_path, "CDNOW_sample.txt", text))
    assert report.detected["delimiter"] == "whitespace"
    assert report.detected["preset"] == "cdnow"
    assert report.detected["header"] is False
    assert column(frame, "customer_id") == ["00001", "00002", "00002", "00003"]
    assert column(frame, "order_date") == [D(1997, 1, 1), D(1997, 1, 12), D(1997, 1, 12), D(1997, 1, 2)]
    assert column(frame, "quantity") == [1, 1, 5, 2]
    assert sum(column(frame, "amount")) == pytest.approx(121.53)


def test_excel_sep_line_declares_the_delimiter(tmp_path):
    frame, report = read(write(tmp_path, "x.csv", "sep=;\ncustomer;date;amount\nA;2024-01-05;1,5\nB;2024-01-06;2\n"))
    assert report.detected["delimiter"] == ";"
    assert column(frame, "amount") == [1.5, 2.0]


def test_delimiter_override(tmp_path):
    path = write(tmp_path, "x.csv", "customer;date;amount\nA;2024-01-05;1,5\n")
    frame, report = read(path, delimiter=";", decimal=",")
    assert column(frame, "amount") == [1.5]


# ---------------------------------------------------------------- numbers


def test_decimal_comma_thousands_dot(tmp_path):
    text = "Kunde;Datum;Betrag\n1;01.02.2024;1.234,56\n2;02.02.2024;12,50\n"
    frame, report = read(write(tmp_path, "de.csv", text))
    assert (report.detected["decimal"], report.detected["thousands"]) == (",", ".")
    assert column(frame, "amount") == [1234.56, 12.5]


def test_decimal_point_thousands_comma(tmp_path):
    text = 'customer,date,amount\nA,2024-01-05,"1,234.56"\nB,2024-01-06,"12,000.00"\n'
    frame, report = read(write(tmp_path, "us.csv", text))
    assert (report.detected["decimal"], report.detected["thousands"]) == (".", ",")
    assert column(frame, "amount") == [1234.56, 12000.0]


def test_ambiguous_separators_follow_the_file_style(tmp_path):
    frame, report = read(write(tmp_path, "de.csv", "Kunde;Datum;Betrag\n1;01.02.2024;1.234\n2;13.02.2024;12.500\n"))
    assert column(frame, "amount") == [1234.0, 12500.0]
    assert any("decimal mark" in w for w in report.warnings)
    frame, report = read(write(tmp_path, "us.csv", 'customer,date,amount\n1,02/13/2024,"1,234"\n2,02/14/2024,"12,500"\n'))
    assert column(frame, "amount") == [1234.0, 12500.0]
    assert report.detected["thousands"] == ","


def test_currency_symbols_and_parentheses(tmp_path):
    text = 'customer,date,amount\nA,2024-01-05,"$1,200.00"\nB,2024-01-06,(12.00)\nC,2024-01-07,-$3.50\n'
    frame, report = read(write(tmp_path, "usd.csv", text))
    assert column(frame, "amount") == [1200.0, -12.0, -3.5]
    assert report.negative_amount_rows == 2
    assert report.detected["currency"] == "USD"


def test_currency_codes_with_decimal_comma(tmp_path):
    text = "client;date;montant\n1;2024-01-05;EUR 12,50\n2;2024-01-06;12,50 €\n3;2024-01-07;1 234,00 EUR\n"
    frame, report = read(write(tmp_path, "eur.csv", text))
    assert column(frame, "amount") == [12.5, 12.5, 1234.0]
    assert report.detected["currency"] == "EUR"


def test_unparseable_amount_later_in_a_plain_file_gets_a_second_chance(tmp_path):
    rows = "".join(f"C{i},2024-01-05,{i}.25\n" for i in range(10))
    text = "customer,date,amount\n" + rows + 'Z,2024-01-05," 7.5 "\nY,2024-01-05,abc\n'
    frame, report = read(write(tmp_path, "late.csv", text))
    assert frame.filter(pl.col("customer_id") == "Z")["amount"].to_list() == [7.5]
    assert report.rejected_by_reason() == {"unparseable amount": 1}


def test_clean_sample_then_unusual_values_later_still_parse(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_source, "SAMPLE_ROWS", 5)
    rows = "".join(f"C{i},2024-01-{i + 1:02d},{i}.25\n" for i in range(8))
    late = 'Z,2024-02-01 10:00,"$1,200.00"\nY, 2024-02-02 , 7.5 \nX,2024-02-03,oops\n'
    frame, report = read(write(tmp_path, "late.csv", "customer,date,amount\n" + rows + late))
    assert "fast_path" not in report.detected  # the strict fast read failed, the text path took over
    tail = frame.filter(pl.col("customer_id").is_in(["Z", "Y"])).sort("customer_id")
    assert tail["amount"].to_list() == [7.5, 1200.0]
    assert tail["order_date"].to_list() == [D(2024, 2, 2), D(2024, 2, 1)]
    assert report.rejected_by_reason() == {"unparseable amount": 1}
    assert report.rejected["line"].to_list() == [12]


def test_clean_file_uses_the_fast_path(tmp_path):
    _, report = read(write(tmp_path, "clean.csv", BASIC))
    assert report.detected["fast_path"] is True


# ---------------------------------------------------------------- dates


def _dates(tmp_path, values: list[str], **options) -> tuple[list, IngestReport]:
    text = "customer,date,amount\n" + "".join(f'C{i},"{v}",1\n' for i, v in enumerate(values))
    frame, report = read(write(tmp_path, "dates.csv", text), **options)
    return column(frame, "order_date"), report


def test_iso_dates(tmp_path):
    dates, report = _dates(tmp_path, ["2024-03-01", "2024-12-31"])
    assert dates == [D(2024, 3, 1), D(2024, 12, 31)]
    assert report.detected["date_format"] == "%Y-%m-%d"


def test_day_first_dotted_dates(tmp_path):
    dates, report = _dates(tmp_path, ["01.03.2024", "31.12.2024"])
    assert dates == [D(2024, 3, 1), D(2024, 12, 31)]
    assert report.detected["date_format_label"] == "DD.MM.YYYY"


def test_month_first_decided_by_a_day_above_12(tmp_path):
    dates, report = _dates(tmp_path, ["03/01/2024", "12/13/2024"])
    assert dates == [D(2024, 3, 1), D(2024, 12, 13)]
    assert report.detected["date_format"] == "%m/%d/%Y"
    assert report.detected["date_ambiguous"] is False


def test_day_first_decided_by_a_day_above_12(tmp_path):
    dates, report = _dates(tmp_path, ["03/01/2024", "13/12/2024"])
    assert dates == [D(2024, 1, 3), D(2024, 12, 13)]
    assert report.detected["date_format"] == "%d/%m/%Y"
    assert report.detected["date_ambiguous"] is False


def test_ambiguous_dates_default_to_month_first_with_a_warning(tmp_path):
    dates, report = _dates(tmp_path, ["03/01/2024", "04/02/2024"])
    assert dates == [D(2024, 3, 1), D(2024, 4, 2)]
    assert report.detected["date_ambiguous"] is True
    assert any("month-first" in w and "--date-format %d/%m/%Y" in w for w in report.warnings)


def test_ambiguous_dates_in_a_european_file_default_to_day_first(tmp_path):
    text = "Kunde;Datum;Betrag\n1;03/01/2024;1,50\n2;04/02/2024;2,50\n"
    frame, report = read(write(tmp_path, "eu.csv", text))
    assert column(frame, "order_date") == [D(2024, 1, 3), D(2024, 2, 4)]
    assert report.detected["date_ambiguous"] is True
    assert any("day-first" in w for w in report.warnings)


def test_ambiguity_settled_beyond_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_source, "SAMPLE_ROWS", 5)
    values = ["03/01/2024"] * 8 + ["04/25/2024"]  # only the last row decides: month first
    dates, report = _dates(tmp_path, values)
    assert report.detected["date_ambiguous"] is False
    assert dates[-1] == D(2024, 4, 25) and dates[0] == D(2024, 3, 1)


def test_yyyymmdd_integers(tmp_path):
    dates, report = _dates(tmp_path, ["19970101", "19980630"])
    assert dates == [D(1997, 1, 1), D(1998, 6, 30)]
    assert report.detected["date_format"] == "%Y%m%d"


def test_timestamps_with_time_zones_keep_the_local_date_as_written(tmp_path):
    values = ["2024-03-01 23:30:00 -0500", "2024-03-01T23:59:59Z", "2024-03-01 00:10:00 +0100", "2024-03-02T01:00:00.123+02:00"]
    dates, _ = _dates(tmp_path, values)
    assert dates == [D(2024, 3, 1), D(2024, 3, 1), D(2024, 3, 1), D(2024, 3, 2)]


def test_us_date_with_time(tmp_path):
    dates, report = _dates(tmp_path, ["12/1/2010 8:26", "12/13/2010 17:05"])
    assert dates == [D(2010, 12, 1), D(2010, 12, 13)]
    assert report.detected["date_format"] == "%m/%d/%Y"


def test_named_months(tmp_path):
    dates, _ = _dates(tmp_path, ["Mar 1, 2024", "Dec 13, 2024"])
    assert dates == [D(2024, 3, 1), D(2024, 12, 13)]


def test_date_format_override_accepts_labels(tmp_path):
    dates, report = _dates(tmp_path, ["03/01/2024", "04/02/2024"], date_format="DD/MM/YYYY")
    assert dates == [D(2024, 1, 3), D(2024, 2, 4)]
    assert report.detected["date_format"] == "%d/%m/%Y"
    assert report.detected["date_ambiguous"] is False


def test_unparseable_and_missing_dates_are_rejected(tmp_path):
    text = "customer,date,amount\nA,2024-01-05,1\nB,not a date,2\nC,,3\nD,9999-12-31,4\n"
    frame, report = read(write(tmp_path, "bad.csv", text))
    assert column(frame, "customer_id") == ["A"]
    assert report.rejected_by_reason() == {"unparseable date": 2, "missing date": 1}


# ---------------------------------------------------------------- ids


def test_leading_zeros_and_excel_float_ids(tmp_path):
    text = "Customer ID,Order Date,Sales\n00042,2024-01-05,1\n12346.0,2024-01-05,2\n  7 ,2024-01-05,3\nBob@Example.com,2024-01-05,4\n"
    frame, _ = read(write(tmp_path, "ids.csv", text))
    assert column(frame, "customer_id") == ["00042", "12346", "7", "bob@example.com"]


def test_missing_customer_ids_are_rejected_not_crashing(tmp_path):
    text = "customer,date,amount\nA,2024-01-05,1\n,2024-01-05,2\nnan,2024-01-05,3\n"
    frame, report = read(write(tmp_path, "ids.csv", text))
    assert report.rejected_by_reason() == {"missing customer id": 2}


# ---------------------------------------------------------------- rejected rows


def test_rejected_rows_carry_line_number_raw_text_and_reason(tmp_path):
    text = (
        "customer;date;amount\n"  # line 1
        "007;01.02.2024;1.234,56\n"  # 2 ok
        ";14.02.2024;3\n"  # 3 missing customer
        "009;xx;5\n"  # 4 unparseable date
        "010;15.02.2024;\n"  # 5 missing amount
        "011;15.02.2024;abc\n"  # 6 unparseable amount
        "\n"  # 7 empty
        "012;16.02.2024;7\n"  # 8 ok
    )
    frame, report = read(write(tmp_path, "rej.csv", text))
    assert column(frame, "customer_id") == ["007", "012"]
    rejected = report.rejected.sort("line")
    assert rejected["line"].to_list() == [3, 4, 5, 6, 7]
    assert rejected["reason"].to_list() == [
        "missing customer id", "unparseable date", "missing amount", "unparseable amount", "empty row",
    ]
    assert rejected["raw"].to_list()[:4] == [";14.02.2024;3", "009;xx;5", "010;15.02.2024;", "011;15.02.2024;abc"]
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (7, 2, 5)


def test_title_rows_above_the_header_are_skipped_and_lines_still_count(tmp_path):
    text = "Sales report 2024\nGenerated by ERP\n\nCustomer ID,Invoice Date,Amount\nA,2024-01-01,1\nB,2024-01-02,oops\n"
    frame, report = read(write(tmp_path, "pre.csv", text))
    assert report.detected["skipped_lines"] == 3
    assert report.rejected["line"].to_list() == [6]
    assert report.rejected["raw"].to_list() == ["B,2024-01-02,oops"]


def test_duplicates_and_negatives_are_kept_and_counted(tmp_path):
    text = "customer,date,amount\nA,2024-01-05,10\nA,2024-01-05,10\nA,2024-01-05,10\nB,2024-01-06,-4\n"
    frame, report = read(write(tmp_path, "dup.csv", text))
    assert frame.height == 4
    assert report.duplicate_rows == 2
    assert report.negative_amount_rows == 1


def test_duplicates_are_not_counted_when_the_caller_never_shows_them(tmp_path):
    text = "customer,date,amount\nA,2024-01-05,10\nA,2024-01-05,10\nB,2024-01-06,-4\n"
    frame, report = read_orders(write(tmp_path, "dup.csv", text), count_duplicates=False)
    assert report.duplicate_rows is None  # not 0: nobody counted
    assert not any("exact copies" in warning for warning in report.warnings)
    assert (frame.collect().height, report.negative_amount_rows) == (3, 1)


def test_report_round_trips_through_a_dict(tmp_path):
    _, report = read(write(tmp_path, "x.csv", "customer,date,amount\nA,2024-01-05,1\n,2024-01-05,1\n"))
    again = IngestReport.from_dict(report.to_dict(), report.rejected)
    assert again.to_dict() == report.to_dict()
    assert report.to_dict()["rejected_by_reason"] == {"missing customer id": 1}


# ---------------------------------------------------------------- mapping


def test_common_column_names_are_recognised(tmp_path):
    text = "Client ID,Invoice Date,Order Total,Order Number,Qty,Sales Channel,Country,Product Category,COGS,Days Late\n"
    text += "C1,2024-01-05,100,O-1,2,web,FR,books,60,1\n"
    frame, report = read(write(tmp_path, "rich.csv", text))
    assert report.detected["columns"] == {
        "customer_id": "Client ID", "order_date": "Invoice Date", "amount": "Order Total", "quantity": "Qty",
        "order_id": "Order Number", "channel": "Sales Channel", "region": "Country", "category": "Product Category",
        "cost": "COGS", "days_late": "Days Late",
    }
    assert frame.row(0, named=True) == {
        "customer_id": "C1", "order_date": D(2024, 1, 5), "amount": 100.0, "order_id": "O-1", "quantity": 2.0,
        "channel": "web", "region": "FR", "category": "books", "cost": 60.0, "days_late": 1.0,
    }


def test_short_header_names_of_small_exports_are_recognised(tmp_path):
    text = "cust,orderdate,total\nC1,2024-01-05,100\n"
    _, report = read(write(tmp_path, "short.csv", text))
    assert report.detected["columns"] == {"customer_id": "cust", "order_date": "orderdate", "amount": "total"}


def test_quantity_times_unit_price(tmp_path):
    text = "customer_id,order_date,quantity,unit_price\nA,2024-01-05,3,2.50\nB,2024-01-05,2,\n"
    frame, report = read(write(tmp_path, "qp.csv", text))
    assert column(frame, "amount") == [7.5]
    assert report.rejected_by_reason() == {"missing amount": 1}
    assert report.detected["columns"]["amount"] == "quantity x unit_price"


def test_user_mapping_overrides_detection(tmp_path):
    text = "id,email,when,gross,net\n1,a@x.com,2024-01-05,10,8\n2,b@x.com,2024-01-06,20,15\n"
    mapping = ColumnMapping(customer_id="EMAIL", order_date="when", amount="net")
    frame, report = read(write(tmp_path, "m.csv", text), mapping)
    assert column(frame, "customer_id") == ["a@x.com", "b@x.com"]
    assert column(frame, "amount") == [8.0, 15.0]
    assert report.detected["columns"]["amount"] == "net"


def test_mapping_to_a_missing_column_says_which(tmp_path):
    path = write(tmp_path, "m.csv", BASIC)
    with pytest.raises(IngestError, match="Column 'Revenue' .*order amount.* not in the file"):
        read(path, ColumnMapping(amount="Revenue"))


def test_no_date_column_message_lists_columns_and_the_fix(tmp_path):
    path = write(tmp_path, "nodate.csv", "customer,amount,note\nA,1,x\n")
    with pytest.raises(IngestError) as error:
        read(path)
    message = str(error.value)
    assert "No column looks like an order date" in message
    assert "Columns found: customer, amount, note" in message
    assert "--date COL" in message


def test_headerless_file_is_mapped_from_values(tmp_path):
    text = "C1,2024-01-05,3,19.99\nC2,2024-01-06,1,5.00\n"
    frame, report = read(write(tmp_path, "nohead.csv", text))
    assert report.detected["header"] is False
    assert column(frame, "customer_id") == ["C1", "C2"]
    assert column(frame, "amount") == [19.99, 5.0]
    assert any("no header row" in w for w in report.warnings)


# ---------------------------------------------------------------- currencies


def test_several_currencies_warn(tmp_path):
    text = "customer,date,amount,currency\nA,2024-01-05,5,EUR\nB,2024-01-05,6,usd\n"
    frame, report = read(write(tmp_path, "cur.csv", text))
    assert frame.height == 2
    assert report.detected["currencies"] == ["EUR", "USD"]
    assert any("2 currencies" in w for w in report.warnings)


def test_keeping_one_currency_rejects_the_others(tmp_path):
    text = "customer,date,amount,currency\nA,2024-01-05,5,EUR\nB,2024-01-05,6,USD\nC,2024-01-05,7,eur\n"
    frame, report = read(write(tmp_path, "cur.csv", text), currency="eur")
    assert column(frame, "customer_id") == ["A", "C"]
    assert report.rejected_by_reason() == {"other currency": 1}
    assert not any("currencies" in w and "totals" in w for w in report.warnings)


# ---------------------------------------------------------------- sources and formats


def test_bytes_and_file_like_sources(tmp_path):
    frame, _ = read(BASIC.encode())
    assert frame.height == 2
    upload = io.BytesIO(BASIC.replace(",", "\t").encode())
    upload.name = "orders.tsv"
    frame, report = read(upload)
    assert report.detected["delimiter"] == "\t"
    assert frame.height == 2


def test_gzip_csv(tmp_path):
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(BASIC.encode()))
    frame, report = read(path)
    assert report.detected["compression"] == "gzip"
    assert column(frame, "amount") == [10.5, 3.0]


def test_zip_with_one_csv(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders.csv", BASIC)
    frame, report = read(buffer.getvalue())
    assert report.detected["compression"] == "zip"
    assert frame.height == 2


def test_gzip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"customer,date,amount\n" + b"0" * (40 * 1024**2), compresslevel=9))
    with pytest.raises(IngestError, match="zip bomb"):
        read(path)


def test_decompressed_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_source, "MAX_DECOMPRESSED_BYTES", 1000)
    rows = "".join(f"C{i},2024-01-05,{i}\n" for i in range(200))
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(("customer,date,amount\n" + rows).encode()))
    with pytest.raises(IngestError, match="more than"):
        read(path)


def test_truncated_gzip(tmp_path):
    data = gzip.compress(("customer,date,amount\n" + "A,2024-01-05,1\n" * 1000).encode())
    with pytest.raises(IngestError, match="incomplete|damaged"):
        read(data[: len(data) // 2])


def test_parquet(tmp_path):
    path = tmp_path / "orders.parquet"
    pl.DataFrame({
        "CustomerID": [12346.0, 7.0, None],
        "InvoiceDate": [dt.datetime(2010, 12, 1, 8, 26), dt.datetime(2010, 12, 2), dt.datetime(2010, 12, 3)],
        "Revenue": [10.0, -2.5, 1.0],
    }).write_parquet(path)
    frame, report = read(path)
    assert report.detected["format"] == "parquet"
    assert column(frame, "customer_id") == ["12346", "7"]
    assert column(frame, "order_date") == [D(2010, 12, 1), D(2010, 12, 2)]
    assert report.rejected["line"].to_list() == [4]
    assert report.rejected_by_reason() == {"missing customer id": 1}


def test_excel_with_title_rows_and_two_sheets(tmp_path):
    import xlsxwriter

    path = tmp_path / "orders.xlsx"
    workbook = xlsxwriter.Workbook(path)
    notes = workbook.add_worksheet("Notes")
    notes.write(0, 0, "read me")
    sheet = workbook.add_worksheet("Orders")
    sheet.write(0, 0, "Orders export")
    sheet.write_row(2, 0, ["Customer ID", "Order Date", "Amount"])
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_number(3, 0, 12346)
    sheet.write_datetime(3, 1, dt.datetime(2011, 1, 18, 10, 1), stamp)
    sheet.write_number(3, 2, 77183.6)
    sheet.write_string(4, 0, "00042")
    sheet.write_datetime(4, 1, dt.datetime(2011, 1, 19), stamp)
    sheet.write_string(4, 2, "$1,200.00")
    workbook.close()
    frame, report = read(path)
    assert report.detected["format"] == "xlsx"
    assert report.detected["sheet"] == "Orders"
    assert column(frame, "customer_id") == ["12346", "00042"]
    assert column(frame, "order_date") == [D(2011, 1, 18), D(2011, 1, 19)]
    assert column(frame, "amount") == [77183.6, 1200.0]


def test_excel_sheets_with_the_same_columns_are_read_as_one_table(tmp_path):
    import xlsxwriter

    path = tmp_path / "online_retail_II.xlsx"
    workbook = xlsxwriter.Workbook(path)
    header = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
    rows = {
        "Year 2009-2010": [["489434", "85048", "BALL", 12, "2009-12-01 07:45:00", 6.95, 13085, "United Kingdom"]],
        "Year 2010-2011": [["536365", "85123A", "HOLDER", 6, "2010-12-01 08:26:00", 2.55, 17850, "United Kingdom"],
                           ["536366", "22633", "WARMER", 6, "2010-12-01 08:28:00", 1.85, None, "United Kingdom"]],
    }
    for name, data in rows.items():
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, header)
        for index, row in enumerate(data, start=1):
            sheet.write_row(index, 0, row)
    workbook.close()
    frame, report = read(path)
    assert report.detected["preset"] == "online_retail"
    assert report.detected["sheet"] == ["Year 2009-2010", "Year 2010-2011"]
    assert column(frame, "customer_id") == ["13085", "17850"]
    assert column(frame, "amount") == pytest.approx([83.4, 15.3])
    assert report.rejected["line"].to_list() == [4]
    assert report.rejected["raw"][0].startswith("[Year 2010-2011] 536366,22633")


def test_report_footers_are_empty_rows(tmp_path):
    text = 'Opportunity Name,Account Name,Amount,Close Date,Won\nDeal,Acme,100,3/15/2024,1\n""\n"Copyright (c) 2000-2024 salesforce.com, inc."\n'
    frame, report = read(write(tmp_path, "report.csv", text))
    assert frame.height == 1
    assert report.rejected_by_reason() == {"empty row": 2}


# ---------------------------------------------------------------- unusable files


def test_empty_file(tmp_path):
    with pytest.raises(IngestError, match="empty"):
        read(write(tmp_path, "empty.csv", b""))
    with pytest.raises(IngestError, match="empty"):
        read(write(tmp_path, "blank.csv", "\n\n  \n"))


def test_binary_file(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    with pytest.raises(IngestError, match="does not look like a table"):
        read(write(tmp_path, "image.csv", png))
    with pytest.raises(IngestError, match="does not look like a table"):
        read(bytes(range(256)) * 50)


def test_header_without_rows(tmp_path):
    with pytest.raises(IngestError, match="no rows of data"):
        read(write(tmp_path, "h.csv", "customer,date,amount\n"))


def test_too_many_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_source, "MAX_COLUMNS", 10)
    header = ",".join(f"c{i}" for i in range(11))
    with pytest.raises(IngestError, match="11 columns"):
        read(write(tmp_path, "wide.csv", header + "\n" + ",".join("1" * 11) + "\n"))


def test_no_usable_row_keeps_the_report_on_the_error(tmp_path):
    path = write(tmp_path, "x.csv", "customer,date,amount\n,2024-01-05,1\n,2024-01-06,2\n")
    with pytest.raises(IngestError, match="None of the 2 rows") as error:
        read(path)
    assert error.value.report.rejected_by_reason() == {"missing customer id": 2}


def test_missing_file():
    with pytest.raises(IngestError, match="File not found"):
        read_orders("/no/such/file.csv")


# ---------------------------------------------------------------- side tables


def test_side_table_customers():
    text = (
        "Customer ID,Email,Name,Signup Date,Acquisition Channel,Region\n"
        "001,A@x.com,Ann,05/01/2023,ads,EU\n,b@x.com,Bob,06/15/2023,seo,US\n002,c@x.com,Cy,,referral,US\n"
        "003,d@x.com,Di,soon,ads,EU\n"
    )
    frame, report = read_side_table(text.encode(), "customers")
    frame = frame.collect()
    assert frame.columns == ["customer_id", "email", "name", "signup_date", "acquisition_channel", "region"]
    assert column(frame, "customer_id") == ["001", "002", "003"]
    assert column(frame, "signup_date") == [D(2023, 5, 1), None, None]
    assert report.rejected_by_reason() == {"missing customer id": 1}
    assert report.rejected["line"].to_list() == [3]
    assert any("'Signup Date' that could not be read as a date (e.g. 'soon')" in w for w in report.warnings)


def test_side_table_interactions_with_csat_outside_1_to_5():
    text = "customer_id,date,channel,reason,csat,cost\n001,2024-01-05,phone,billing,4,3.5\n002,2024-01-06,email,delivery,6,1\n003,,chat,other,,\n"
    frame, report = read_side_table(text.encode(), "interactions")
    frame = frame.collect()
    assert frame.schema["interaction_date"] == pl.Date
    assert column(frame, "csat") == [4.0, None]
    assert column(frame, "cost") == [3.5, 1.0]
    assert report.rejected_by_reason() == {"missing date": 1}
    assert any("1 satisfaction score is outside 1-5" in w for w in report.warnings)


@pytest.mark.parametrize(
    "text",
    [
        'Month,Channel,Spend\n2024-03,ads,"$1,200.50"\n2024-04,seo,300\n',
        "month;channel;spend\nMar 2024;ads;1.200,50\nApr 2024;seo;300\n",
        "Date,Channel,Amount\n03/01/2024,ads,1200.5\n04/15/2024,seo,300\n",
    ],
)
def test_side_table_marketing_spend_months(text):
    frame, report = read_side_table(text.encode(), "marketing_spend")
    frame = frame.collect()
    assert column(frame, "month") == [D(2024, 3, 1), D(2024, 4, 1)]
    assert column(frame, "spend") == [1200.5, 300.0]
    assert column(frame, "channel") == ["ads", "seo"]


def test_side_table_without_required_column():
    with pytest.raises(IngestError, match="No column looks like a spend"):
        read_side_table(b"month,channel\n2024-03,ads\n", "marketing_spend")
    with pytest.raises(IngestError, match="Unknown table kind"):
        read_side_table(b"a\n1\n", "suppliers")


# ---------------------------------------------------------------- CLI


def test_cli_summary_on_the_cdnow_sample(capsys, cdnow_path):
    from crm_core.__main__ import main

    assert main(["summary", str(cdnow_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["rows_read"], payload["rows_valid"], payload["rows_rejected"]) == (6919, 6919, 0)
    # transactions: orders with positive net revenue; the sample has 8 orders of $0 (purchases for the models)
    assert (payload["customers"], payload["transactions"], payload["duplicate_rows"]) == (2357, 6911, 21)
    assert payload["revenue"] == 244091.94
    assert (payload["first_date"], payload["last_date"]) == ("1997-01-01", "1998-06-30")
    assert payload["detected"]["columns"]["customer_id"] == "customer_id"
    assert payload["rejected_by_reason"] == {}


def test_cli_summary_with_overrides(tmp_path, capsys):
    from crm_core.__main__ import main

    path = write(tmp_path, "x.csv", "who;when;net;gross\nA;03/01/2024;1,5;2\nB;04/01/2024;x;3\n")
    code = main(["summary", str(path), "--customer", "who", "--date", "when", "--amount", "net",
                 "--date-format", "%d/%m/%Y", "--delimiter", ";", "--decimal", ",", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["revenue"] == 1.5
    assert payload["first_date"] == "2024-01-03"
    assert payload["rejected_by_reason"] == {"unparseable amount": 1}
    assert payload["detected"]["delimiter"] == ";"


def test_cli_unusable_file_exits_non_zero_with_one_line(tmp_path):
    path = write(tmp_path, "bad.csv", "a,b,c\n1,2,3\n")
    result = subprocess.run(
        [sys.executable, "-m", "crm_core", "summary", str(path), "--json"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No column looks like a customer id" in lines[0]


def test_the_report_knows_the_kept_rows_first_and_last_order_date_and_their_facts(tmp_path):
    """One pass over the kept rows gives the negative amounts, the future-dated orders and the date range
    (the rejected row's date is not in it); a whole-file view takes its period from there."""
    future = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    path = write(tmp_path, "o.csv", "customer_id,order_date,amount\nA,2024-03-01,10\nB,2023-12-31,-5\n"
                                    f"C,{future},7\n,2020-01-01,3\n")
    frame, report = read(path)
    assert report.order_dates == (dt.date(2023, 12, 31), dt.date.fromisoformat(future))
    assert report.negative_amount_rows == 1 and report.rows_rejected == 1
    assert any("dated in the future" in warning for warning in report.warnings)
    assert "order_dates" not in report.to_dict()


@pytest.mark.parametrize("rows", [0, 1, 2, 50, 20_000])
def test_duplicate_rows_count_rows_minus_distinct_row_hashes(rows):
    """The count sorts the row hashes on one thread and counts distinct values along the sorted run: the same
    number as the rows minus their distinct hashes, and as the rows minus their distinct tuples."""
    import random

    from crm_core.ingest.report import duplicate_rows

    rng = random.Random(rows)
    frame = pl.DataFrame({
        "customer_id": [rng.choice(["A", "B", None, "C"]) for _ in range(rows)],
        "order_date": [dt.date(2024, 1, rng.randint(1, 3)) for _ in range(rows)],
        "amount": [rng.choice([1.5, 2.0, None]) for _ in range(rows)],
    }, schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})
    expected = rows - len(set(frame.iter_rows()))
    assert duplicate_rows(frame) == rows - frame.hash_rows().n_unique() == expected
