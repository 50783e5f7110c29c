"""Fuzzing: whatever the bytes, ingest returns a consistent report or raises IngestError."""
from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.ingest import IngestError, read_orders

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    try:
        tx, report = read_orders(data)
    except IngestError:
        return
    frame = tx.collect()
    assert report.rows_read == report.rows_valid + report.rows_rejected
    assert frame.height == report.rows_valid
    assert report.rejected.height == report.rows_rejected
    assert frame.schema["customer_id"] == pl.String
    assert frame.schema["order_date"] == pl.Date
    assert frame.schema["amount"] == pl.Float64


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    check(data)


HEADERS = st.sampled_from([
    "customer,date,amount", "Customer ID,Order Date,Total", "email,created_at,total", "id,when,sales",
    "client,invoice date,revenue", "", "a,b,c",
])
NOISE = st.text(alphabet='0123456789.,-/ :$€()"\';\t|abcXYZTé\n', max_size=14)
IDS = st.one_of(st.sampled_from(["00042", "12346.0", "A-1", "bob@x.com", "", "nan", " 7 "]), NOISE)
DATES = st.one_of(
    st.sampled_from(["2024-03-01", "03/04/2024", "13/02/2024", "02/13/2024", "13.02.2024", "19970101",
                     "12/1/2010 8:26", "2024-03-01T10:00:00Z", "2024-03-01 10:00:00 -0500", "", "9999-12-31"]),
    NOISE,
)
AMOUNTS = st.one_of(
    st.sampled_from(["12.50", "1.234,56", "1,234.56", "$1,200.00", "(12.00)", "EUR 12,50", "12,50 €", "-3",
                     "", "nan", "inf", "1e5"]),
    NOISE,
)


@st.composite
def csv_like(draw) -> bytes:
    header = draw(HEADERS)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    rows = draw(st.lists(st.tuples(IDS, DATES, AMOUNTS, st.lists(NOISE, max_size=2)), max_size=12))
    lines = [header.replace(",", delimiter)] + [delimiter.join([c, d, a, *extra]) for c, d, a, extra in rows]
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@FUZZ
@given(csv_like())
def test_csv_like_text(data):
    check(data)
