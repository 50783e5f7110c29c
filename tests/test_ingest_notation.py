"""Ingest notation rules: numbers checked value by value, line endings, suffixes,
Unix timestamps and month names (issue 13).

Each fixture is a small hand-made file; the expected values are worked out
by hand from the rows written.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.ingest import REASONS, IngestReport, ReadOptions, read_orders
from crm_core.ingest import source as ingest_source

D = dt.date


def read(text: str | bytes, **options) -> tuple[pl.DataFrame, IngestReport]:
    data = text.encode() if isinstance(text, str) else text
    tx, report = read_orders(data, None, ReadOptions(**options) if options else None, filename="orders.csv")
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected
    assert report.rows_valid == frame.height
    return frame, report


def amounts(frame: pl.DataFrame) -> list[float]:
    return frame.get_column("amount").to_list()


def reasons(report: IngestReport) -> dict[str, int]:
    return report.rejected_by_reason()


# ---------------------------------------------------------------- the misreadings the testers found


def test_comma_amount_in_a_point_decimal_export_is_read_and_counted():
    text = (
        'Order,Email,Created at,Total\n#1,a@x.com,2024-01-05,€12.50\n#2,b@x.com,2024-01-06,"€49,90"\n'
        "#3,c@x.com,2024-01-07,€3.99\n"
    )
    frame, report = read(text)
    assert amounts(frame) == [12.5, 49.9, 3.99]  # not 4,990
    assert report.corrected_values == 1
    assert report.corrected_by_column == {"Total": 1}
    assert report.to_dict()["corrected_values"] == 1
    assert any("another notation" in w for w in report.warnings)


def test_decimal_commas_with_thousands_points_in_a_comma_separated_file():
    text = 'customer,date,amount\nA,2024-01-05,"12,50"\nB,2024-01-06,"1.234,56"\nC,2024-01-07,7\n'
    frame, report = read(text)
    assert amounts(frame) == [12.5, 1234.56, 7.0]  # not 1250 and 1.23
    assert report.corrected_values == 0
    assert report.detected["decimal"] == ","


def test_one_european_value_in_a_us_file_is_read_as_written():
    text = 'customer,date,amount\nA,2024-01-05,"1,234.56"\nB,2024-01-06,"9.876,54"\nC,2024-01-07,"2,000.00"\n'
    frame, report = read(text)
    assert amounts(frame) == [1234.56, 9876.54, 2000.0]  # not 9.88
    assert report.corrected_values == 1


def test_point_decimal_value_in_a_semicolon_file():
    text = "Kunde;Datum;Betrag\nA;05.01.2024;12,50\nB;06.01.2024;12.50\nC;07.01.2024;3,99\n"
    frame, report = read(text)
    assert amounts(frame) == [12.5, 12.5, 3.99]  # not 1250
    assert report.corrected_values == 1


# ---------------------------------------------------------------- ambiguous values


def test_three_digits_after_the_decimal_mark_alone_is_ambiguous():
    text = "Kunde;Datum;Betrag\nA;05.01.2024;12,50\nB;06.01.2024;1,234\nC;07.01.2024;1.234\n"
    frame, report = read(text)
    assert amounts(frame) == [12.5]
    assert reasons(report) == {"ambiguous amount": 2}
    assert sorted(report.rejected["line"].to_list()) == [3, 4]


def test_thousands_evidence_settles_the_ambiguity():
    text = "Kunde;Datum;Betrag\nA;05.01.2024;1.234,50\nB;06.01.2024;1.234\nC;07.01.2024;1,234\n"
    frame, report = read(text)
    assert amounts(frame) == [1234.5, 1234.0]  # "1.234" groups thousands like "1.234,50"
    assert reasons(report) == {"ambiguous amount": 1}  # "1,234": 1.234 or 1234?


def test_three_decimal_evidence_settles_the_ambiguity():
    text = "customer,date,amount\nA,2024-01-05,0.125\nB,2024-01-06,1.234\nC,2024-01-07,12.5\n"
    frame, report = read(text)
    assert amounts(frame) == [0.125, 1.234, 12.5]
    assert reasons(report) == {}


def test_plain_file_with_one_ambiguous_value():
    rows = "".join(f"C{i},2024-01-05,{i}.25\n" for i in range(20))
    frame, report = read("customer,date,amount\n" + rows + "Z,2024-01-06,1.200\n")
    assert frame.height == 20
    assert reasons(report) == {"ambiguous amount": 1}  # 1.2 or 1200?


def test_values_after_a_plain_sample_are_checked_too(monkeypatch):
    monkeypatch.setattr(ingest_source, "SAMPLE_ROWS", 5)
    rows = "".join(f"C{i},2024-01-05,{i}.25\n" for i in range(8))
    late = 'X,2024-01-06,"€49,90"\nY,2024-01-06,"1,234"\nZ,2024-01-06,"1.234,56"\nW,2024-01-06,2.000\n'
    frame, report = read("customer,date,amount\n" + rows + late)
    tail = dict(zip(frame["customer_id"].to_list(), amounts(frame)))
    assert (tail["X"], tail["Z"]) == (49.9, 1234.56)
    assert report.corrected_values == 2
    assert reasons(report) == {"ambiguous amount": 2}  # "1,234" and "2.000": no value settles them


def test_users_decimal_mark_settles_every_ambiguity():
    text = "Kunde;Datum;Betrag\nA;05.01.2024;12,50\nB;06.01.2024;1,234\nC;07.01.2024;1.234\n"
    frame, report = read(text, decimal=",")
    assert amounts(frame) == [12.5, 1.234, 1234.0]


def test_ambiguous_unit_price_makes_an_ambiguous_amount():
    text = "customer;date;qty;unit price\nA;05.01.2024;2;12,50\nB;06.01.2024;1;1,250\n"
    frame, report = read(text)
    assert amounts(frame) == [25.0]
    assert reasons(report) == {"ambiguous amount": 1}


def test_no_deciding_value_follows_the_file_style_with_a_warning():
    frame, report = read('customer,date,amount\n1,02/13/2024,"1,234"\n2,02/14/2024,"12,500"\n')
    assert amounts(frame) == [1234.0, 12500.0]
    assert any("decimal mark" in w for w in report.warnings)


# ---------------------------------------------------------------- ranges, suffixes, notations


def test_absurd_and_infinite_amounts_are_rejected():
    text = (
        "customer,date,amount\nA,2024-01-05,10\nB,2024-01-06,1e13\nC,2024-01-07,inf\nD,2024-01-08,nan\n"
        "E,2024-01-09,-2e12\n"
    )
    frame, report = read(text)
    assert amounts(frame) == [10.0]
    assert reasons(report) == {"amount out of range": 3, "unparseable amount": 1}
    assert report.detected.get("currency") is None  # "inf" and "nan" are not currency codes


def test_absurd_amounts_in_parquet_are_rejected(tmp_path):
    path = tmp_path / "orders.parquet"
    pl.DataFrame({"customer": ["A", "B"], "date": [D(2024, 1, 5)] * 2, "amount": [5.0, 3e12]}).write_parquet(path)
    tx, report = read_orders(path)
    assert tx.collect()["amount"].to_list() == [5.0]
    assert reasons(report) == {"amount out of range": 1}


def test_k_and_m_suffixes():
    text = 'customer,date,amount\nA,2024-01-05,1.2k\nB,2024-01-06,3M\nC,2024-01-07,"€1,5k"\nD,2024-01-08,2 K\nE,2024-01-09,0.5m USD\n'
    frame, _ = read(text)
    assert amounts(frame) == [1200.0, 3_000_000.0, 1500.0, 2000.0, 500_000.0]


def test_unsupported_scale_words_are_not_read_as_currencies():
    frame, report = read('customer,date,amount\nA,2024-01-05,"1,5 Mio"\nB,2024-01-06,2\n')
    assert amounts(frame) == [2.0]
    assert reasons(report) == {"unparseable amount": 1}


def test_currency_symbols_codes_signs_and_grouping():
    text = (
        "customer;date;amount\n"
        "A;05.01.2024;EUR 1.234,50\nB;06.01.2024;-1 234,50 €\nC;07.01.2024;(12,00)\nD;08.01.2024;12,00-\n"
        "E;09.01.2024;R$ 3,10\nF;10.01.2024;1'234,00\n"
    )
    frame, _ = read(text)
    assert amounts(frame) == [1234.5, -1234.5, -12.0, -12.0, 3.1, 1234.0]


def test_garbage_amounts_name_no_currency():
    """`abc` is rejected as an amount; it is not the currency "ABC" (nor is `xyz`, nor `EUR` without a number)."""
    frame, report = read("customer,date,amount\nA,2024-01-05,abc\nB,2024-01-06,12.50\nC,2024-01-07,xyz\n"
                         "D,2024-01-08,EUR\n")
    assert amounts(frame) == [12.5]
    assert reasons(report) == {"unparseable amount": 3}
    assert not report.detected.get("currencies") and report.detected.get("currency") is None
    assert not any("currenc" in warning for warning in report.warnings)


def test_a_three_letter_word_that_is_not_an_iso_code_makes_the_amount_unreadable():
    frame, report = read("customer,date,amount\nA,2024-01-05,12.50 pcs\nB,2024-01-06,3.00 XYZ\nC,2024-01-07,4.00 USD\n")
    assert amounts(frame) == [4.0]
    assert reasons(report) == {"unparseable amount": 2}
    assert report.detected["currencies"] == ["USD"]


@pytest.mark.parametrize("amount", ["EUR 12.50", "12.50 EUR", "12.50 eur", "€12.50", "(EUR 12.50)"])
def test_an_iso_code_beside_the_number_is_the_currency(amount):
    frame, report = read(f'customer,date,amount\nA,2024-01-05,"{amount}"\nB,2024-01-06,"{amount}"\n')
    assert [abs(value) for value in amounts(frame)] == [12.5, 12.5]
    assert report.detected["currencies"] == ["EUR"] and report.detected["currency"] == "EUR"


def test_prefixed_dollar_signs_are_their_own_currency():
    _, report = read('customer,date,amount\nA,2024-01-05,"R$ 3,10"\nB,2024-01-06,"$4.00"\n')
    assert report.detected["currencies"] == ["BRL", "USD"]  # R$ is reais, not US dollars


# ---------------------------------------------------------------- line endings


def test_cr_lf_and_crlf_mixed_each_end_a_row():
    data = b"customer,date,amount\r\nA,2024-01-05,1\rB,2024-01-06,2\rC,2024-01-07,3\r\nD,2024-01-08,4\nE,2024-01-09,5\r\n"
    frame, report = read(data)
    assert frame["customer_id"].to_list() == ["A", "B", "C", "D", "E"]
    assert report.rows_rejected == 0


def test_quoted_line_breaks_stay_inside_their_field():
    data = b'customer,date,amount,note\r\nA,2024-01-05,1,"two\rlines"\rB,2024-01-06,2,"x\r\ny"\nC,2024-01-07,3,z\r'
    frame, report = read(data)
    assert frame["customer_id"].to_list() == ["A", "B", "C"]
    assert amounts(frame) == [1.0, 2.0, 3.0]


def test_mixed_line_endings_in_utf16():
    data = "customer,date,amount\r\nA,2024-01-05,1\rB,2024-01-06,2\nC,2024-01-07,3\r\n".encode("utf-16")
    frame, _ = read(data)
    assert frame["customer_id"].to_list() == ["A", "B", "C"]


# ---------------------------------------------------------------- dates


def _dates(values: list[str]) -> tuple[list, IngestReport]:
    text = "customer,date,amount\n" + "".join(f'C{i},"{v}",1\n' for i, v in enumerate(values))
    frame, report = read(text)
    return frame["order_date"].to_list(), report


def test_unix_timestamps_in_seconds_and_milliseconds():
    dates, report = _dates(["1704067200", "1717200000", "1704153600.5"])
    assert dates == [D(2024, 1, 1), D(2024, 6, 1), D(2024, 1, 2)]
    assert report.detected["date_format"] == "unix-seconds"
    dates, report = _dates(["1704067200000", "1717243199999"])
    assert dates == [D(2024, 1, 1), D(2024, 6, 1)]
    assert report.detected["date_format"] == "unix-milliseconds"


@pytest.mark.parametrize("values, expected", [
    (["3. März 2024", "12. Dezember 2023", "1. Mai 2024"], [D(2024, 3, 3), D(2023, 12, 12), D(2024, 5, 1)]),
    (["12 janv. 2024", "3 févr. 2024", "1 août 2024", "25 decembre 2024"],
     [D(2024, 1, 12), D(2024, 2, 3), D(2024, 8, 1), D(2024, 12, 25)]),
    (["5 de mayo de 2024", "1 de enero de 2023", "9 sept. 2024"], [D(2024, 5, 5), D(2023, 1, 1), D(2024, 9, 9)]),
    (["3 gennaio 2024", "12 giu 2024", "1 dicembre 2024"], [D(2024, 1, 3), D(2024, 6, 12), D(2024, 12, 1)]),
    (["3 mei 2024", "12 maart 2024", "1 okt 2024"], [D(2024, 5, 3), D(2024, 3, 12), D(2024, 10, 1)]),
    (["3 fevereiro 2024", "12 de março de 2024", "1 dez 2024"], [D(2024, 2, 3), D(2024, 3, 12), D(2024, 12, 1)]),
])
def test_month_names_in_six_languages(values, expected):
    dates, report = _dates(values)
    assert dates == expected
    assert report.rows_rejected == 0


# ---------------------------------------------------------------- property: never off by a power of ten

SYMBOLS = ["", "€", "$", "£", "EUR ", "USD", " €", " CHF"]


@st.composite
def written_amount(draw, decimal: str) -> tuple[int, str]:
    """(cents, the amount as someone might write it), in any supported notation."""
    cents = draw(st.one_of(
        st.integers(-10**5, 10**5),
        st.integers(-999_999, 999_999).map(lambda whole: whole * 100),  # whole amounts: "1,234" and the like
        st.integers(-10**10, 10**10),
    ))
    mark = draw(st.sampled_from([decimal, "," if decimal == "." else "."]))  # the file's, or the other one
    group = draw(st.sampled_from(["", " ", "'", "." if mark == "," else ","]))
    whole, fraction = divmod(abs(cents), 100)
    digits = f"{whole:,}".replace(",", "\0") if group else str(whole)
    digits = digits.replace("\0", group)
    decimals = draw(st.sampled_from([0, 1, 2] if fraction == 0 else [1, 2] if fraction % 10 == 0 else [2]))
    text = digits + (mark + f"{fraction:02d}"[:decimals] if decimals else "")
    symbol = draw(st.sampled_from(SYMBOLS))
    text = draw(st.sampled_from([symbol + text, text + symbol.strip()]))
    if cents < 0:
        text = draw(st.sampled_from([f"-{text}", f"({text})", f"{text}-"]))
    return cents, text


@st.composite
def convention_file(draw) -> tuple[str, list[int]]:
    """A file whose first rows set a convention, then amounts written any way."""
    decimal = draw(st.sampled_from([".", ","]))
    delimiter = ";" if decimal == "," else draw(st.sampled_from([",", ";"]))
    background = ["1.234,50", "12,50", "3,99"] if decimal == "," else ["1,234.50", "12.50", "3.99"]
    written = draw(st.lists(written_amount(decimal), min_size=1, max_size=8))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["customer", "date", "amount"])
    for i, value in enumerate(background):
        writer.writerow([f"B{i}", "2024-01-05", value])
    for i, (_, text) in enumerate(written):
        writer.writerow([f"W{i}", "2024-01-06", text])
    return out.getvalue(), [cents for cents, _ in written]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(convention_file())
def test_any_notation_is_read_to_the_cent_or_rejected_with_a_reason(case):
    text, cents = case
    frame, report = read(text)
    kept = dict(zip(frame["customer_id"].to_list(), frame["amount"].to_list()))
    rejected = dict(zip(report.rejected["line"].to_list(), report.rejected["reason"].to_list()))
    for i, expected in enumerate(cents):
        line = 5 + i  # header, three background rows, then these
        if f"W{i}" in kept:
            assert round(kept[f"W{i}"] * 100) == expected, (text, i)
        else:
            assert rejected[line] in REASONS
            assert rejected[line] in ("ambiguous amount", "amount out of range")


def test_values_that_could_mean_two_numbers_in_a_point_column_with_one_cast_each():
    """The simple parse's flag: 1-3 integer digits, a point, 3 decimals, either sign; nothing else (NaN,
    infinities, 1000 and above, below 1), null for an unreadable value; and the text is cast once."""
    from crm_core.ingest.numbers import simple_columns

    texts = ["12.500", "-12.500", "1.234", "-999.999", "999.999", "1000.000", "0.500", "-0.500", "12.50", "12.5000",
             "1e3", "nan", "inf", "-inf", "1.2e3", "abc", None]
    flags = [True, True, True, True, True, False, False, False, False, False, False, False, False, False, False, None, None]
    query = pl.LazyFrame({"t": texts}).select(simple_columns(pl.col("t"), "a", False, False))
    assert query.collect().get_column("a__two").to_list() == flags
    assert query.explain().count(".cast(Float64)") + query.explain().count("strict_cast(Float64)") == 1


def test_the_decimal_mark_warning_quotes_a_value_that_reads_two_ways():
    # The first sampled amount is junk (rejected); the warning must name the amount that can be read two ways.
    _, report = read("customer,date,amount\nA,2024-01-01,=1+2\nB,2024-01-02,10.005\n")
    assert any("Amounts like '10.005'" in w for w in report.warnings), report.warnings
