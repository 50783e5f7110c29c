"""Mixed currencies converted with the user's rates table (crm_core.currency, ReadOptions.rates, --rates)."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from crm_core.__main__ import main
from crm_core.currency import NO_RATE, RatesError, convert_orders, read_rates
from crm_core.ingest import IngestError, ReadOptions
from crm_core.ingest.reader import read_orders
from crm_core.ingest.report import REASON_PATTERNS, REASONS

# Rates in EUR per 1 unit: USD 0.90 from Jan 1, 0.80 from Jan 10; GBP 1.20 from Jan 5.
RATES = b"date,currency,rate\n2024-01-01,USD,0.9\n2024-01-10,USD,0.8\n2024-01-05,GBP,1.2\n"
ORDERS = (
    "customer,date,amount,currency\n"
    "a,2024-01-02,10.05,USD\n"   # line 2: 10.05 x 0.9 = 9.045 -> 9.05 (half away from zero)
    "b,2024-01-10,100,USD\n"     # line 3: on the day of the new rate: 100 x 0.8 = 80
    "c,2024-01-04,50,GBP\n"      # line 4: before the first GBP rate -> rejected
    "d,2024-01-06,50,GBP\n"      # line 5: 50 x 1.2 = 60
    "e,2024-01-03,7.5,EUR\n"     # line 6: reporting currency, kept as written
    "f,2023-12-31,3,USD\n"       # line 7: before the first USD rate -> rejected
    "g,2024-03-01,0.1,USD\n"     # line 8: long after Jan 10: 0.1 x 0.8 = 0.08
)


def _read(orders: str = ORDERS, rates: bytes = RATES, **options):
    table = read_rates(rates)
    return read_orders(orders.encode(), None, ReadOptions(rates=table, **options), filename="orders.csv")


def test_as_of_conversion_by_hand():
    tx, report = _read()
    amounts = dict(tx.select("customer_id", "amount").collect().iter_rows())
    assert amounts == {"a": 9.05, "b": 80.0, "d": 60.0, "e": 7.5, "g": 0.08}
    rejected = dict(report.rejected.select("line", "reason").iter_rows())
    assert rejected == {4: "no exchange rate for GBP on 2024-01-04", 7: "no exchange rate for USD on 2023-12-31"}
    assert report.rows_read == report.rows_valid + report.rows_rejected == 7
    assert report.detected["currency"] == "EUR"
    assert report.detected["converted_currencies"] == {"USD": 3, "GBP": 1}
    assert report.detected["exchange_rates"]["USD"] == {
        "orders": 3, "rate_dates": 2, "first_rate_date": "2024-01-01", "last_rate_date": "2024-01-10"}
    assert "Amounts converted to EUR with your rates table (3 orders in USD, 1 in GBP)." in report.warnings
    # the dynamic reason is a documented pattern, the fixed ones are listed
    import re
    assert all(re.match(REASON_PATTERNS[0], reason) for reason in rejected.values())
    assert "missing currency" in REASONS


def test_convert_orders_keeps_order_and_flags_missing_rates():
    frame = pl.DataFrame({
        "__currency": ["USD", "EUR", None, "USD", "GBP"],
        "order_date": [dt.date(2024, 1, 9), dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 10), None],
        "amount": [2.5, 1.0, 5.0, 1.0, 4.0],
        "cost": [1.0, 0.3, None, None, 1.0],
    })
    out = convert_orders(frame, read_rates(RATES), "EUR")
    assert out["amount"].to_list() == [2.25, 1.0, 5.0, 0.8, 4.0]  # 2.5 x 0.9 = 2.25; day 10: 0.8
    assert out["cost"].to_list() == [0.9, 0.3, None, None, 1.0]
    # the unknown currency and the undated order are not flagged here (the checks reject them on their own)
    assert out[NO_RATE].to_list() == [False, False, False, False, False]
    assert out.columns[:4] == frame.columns


def test_exact_to_the_cent_where_floats_are_not():
    rates = b"date,currency,rate\n2024-01-01,USD,1.1\n"
    orders = "customer,date,amount,currency\na,2024-01-01,15115.87,USD\nb,2024-01-01,1.15,USD\nc,2024-01-01,1,EUR\n"
    tx, _ = _read(orders, rates)
    # floats: 15115.87 * 1.1 = 16627.457000000002 and 1.15 * 1.1 = 1.2650000000000001; decimals: 16627.46, 1.27
    assert tx.collect()["amount"].to_list() == [16627.46, 1.27, 1.0]


def test_rejected_orders_are_counted_and_total_holds():
    codes = ("USD", "JPY", "EUR")
    orders = "customer,date,amount,currency\n" + "".join(
        f"c{i},2024-01-{1 + i % 28:02d},{i},{codes[i % 3]}\n" for i in range(45))
    with pytest.raises(IngestError, match="Say which currency to report in"):  # EUR or JPY: not guessed
        _read(orders)
    tx, report = _read(orders, currency="EUR")
    assert report.rows_read == 45 == report.rows_valid + report.rows_rejected
    assert report.rows_rejected == 15  # every JPY order: no JPY rate
    assert set(report.rejected["reason"].str.slice(0, 28)) == {"no exchange rate for JPY on "}
    assert tx.collect().height == 30
    summary = next(w for w in report.warnings if "were set aside" in w)
    assert "other reasons" in summary  # 15 dates: 8 named, the rest counted


def test_missing_currency_is_rejected_when_converting():
    orders = "customer,date,amount,currency\na,2024-01-02,10,USD\nb,2024-01-02,10,\nc,2024-01-02,10,EUR\n"
    tx, report = _read(orders)
    assert dict(report.rejected.select("line", "reason").iter_rows()) == {3: "missing currency"}


def test_reporting_currency_must_be_known():
    only_foreign = "customer,date,amount,currency\na,2024-01-02,10,USD\nb,2024-01-06,10,GBP\n"
    with pytest.raises(IngestError, match="Say which currency to report in"):
        _read(only_foreign)
    tx, report = _read(only_foreign, currency="EUR")
    assert tx.collect()["amount"].to_list() == [9.0, 12.0]
    assert report.detected["currency"] == "EUR"


def test_without_rates_mixed_currencies_say_how_to_convert():
    _, report = read_orders(ORDERS.encode(), None, ReadOptions(), filename="o.csv")
    warning = next(w for w in report.warnings if "currencies" in w)
    assert "or supply a rates table (date, currency, rate)" in warning and "--rates" in warning


def test_line_items_converted_with_their_order():
    orders = "customer,date,amount,currency,product\na,2024-01-02,10,USD,Mug\nb,2024-01-03,5,EUR,Cap\n"
    _, report = _read(orders)
    assert report.lines is not None
    assert report.lines["line_amount"].to_list() == [9.0, 5.0]


@pytest.mark.parametrize("text", [
    b"Date;Currency;Exchange rate\n2024-01-01;USD;0,9\n",
    b"\xef\xbb\xbfRate date,CCY,FX rate,source\n2024-01-01,usd,0.900,ECB\n",
    b"valid_from\tcurrency_code\tconversion_rate\n2024/1/1\tUSD\t+0.9\n\n",
])
def test_header_variants(text):
    table = read_rates(text)
    assert (table.dates, table.currencies) == ((dt.date(2024, 1, 1),), ("USD",))
    assert float(table.rates[0]) == 0.9


@pytest.mark.parametrize("text, message", [
    (b"date,currency,rate\n2024-01-01,USD,0.9\n2024-13-01,USD,0.9\n", "rates row 3: unknown date '2024-13-01'"),
    (b"date,currency,rate\nyesterday,USD,0.9\n", "rates row 2: unknown date 'yesterday'"),
    (b"date,currency,rate\n2024-01-01,USD,0\n", "rates row 2: rate '0' is not positive"),
    (b"date,currency,rate\n2024-01-01,USD,-0.5\n", "rates row 2: rate '-0.5' is not positive"),
    (b"date,currency,rate\n2024-01-01,USD,abc\n", "rates row 2: rate 'abc' is not a number"),
    (b"date,currency,rate\n2024-01-01,USD,1e5\n", "rates row 2: rate '1e5' is not a number"),
    (b"date,currency,rate\n2024-01-01,USD,99999999999\n", "rates row 2: rate '99999999999' is larger"),
    (b"date,currency,rate\n2024-01-01,USD,0.00000000001\n", "is not positive"),
    (b"date,currency,rate\n2024-01-01,US Dollar,0.9\n", "rates row 2: currency 'US DOLLAR' is not a 3-letter code"),
    (b"date,currency,rate\n2024-01-01,USD,0.9\n2024-01-02,USD,0.9\n2024-01-01,usd,0.8\n",
     "rates row 4: a second rate for USD on 2024-01-01"),
    (b"day,value\n2024-01-01,0.9\n", "needs columns date, currency and rate (found: day, value)"),
    (b"date,currency,rate\n", "has no rows"),
    (b"\x00\x01\x02PK", "not a text (CSV) file"),
])
def test_hostile_rates_one_line(text, message):
    with pytest.raises(RatesError) as error:
        read_rates(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value) and len(str(error.value)) <= 200


def test_huge_rates_file_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as out:
        out.write(b"date,currency,rate\n")
        out.write(b"2024-01-01,USD,0.9\n" * 1_200_000)  # about 23 MB
    with pytest.raises(RatesError, match="larger than 20 MB"):
        read_rates(path)


@pytest.fixture
def files(tmp_path):
    orders, rates = tmp_path / "orders.csv", tmp_path / "rates.csv"
    orders.write_text(ORDERS)
    rates.write_bytes(RATES)
    return orders, rates


def test_cli_summary_round_trip(files, capsys):
    orders, rates = files
    assert main(["summary", str(orders), "--rates", str(rates), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["converted_currencies"] == {"USD": 3, "GBP": 1}
    assert payload["currency"] == "EUR"
    assert payload["revenue"] == round(9.05 + 80 + 60 + 7.5 + 0.08, 2)
    assert payload["rows_read"] == payload["rows_valid"] + payload["rows_rejected"] == 7
    assert payload["rejected_by_reason"] == {"no exchange rate for GBP on 2024-01-04": 1,
                                             "no exchange rate for USD on 2023-12-31": 1}
    # without --rates: no conversion key, the amounts are added as written (with the warning)
    assert main(["summary", str(orders), "--json"]) == 0
    assert "converted_currencies" not in json.loads(capsys.readouterr().out)


def test_cli_view_currency_is_the_reporting_currency(files, tmp_path, capsys):
    orders, rates = files
    view = tmp_path / "view.json"
    view.write_text(json.dumps({"currency": "EUR"}))
    assert main(["portfolio", str(orders), "--rates", str(rates), "--view", str(view), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert sum(tier["revenue"] for tier in payload["tiers"].values()) == pytest.approx(156.63)


@pytest.mark.parametrize("content", [
    b"date,currency,rate\n2024-01-01,USD,NaN\n",
    b"date,currency,rate\n2024-01-01,USD,1" + b"0" * 400 + b"\n",
    b"=cmd|' /C calc'!A0,USD,0.9\n2024-01-01,USD,0.9\n",
    "date,currency,rate\n2024-01-01,USD,\u202e0.9\n".encode(),
])
def test_cli_hostile_rates_exit_2_one_line(files, tmp_path, capsys, content):
    orders, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    for command in ("summary", "rfm", "export"):
        extra = ["--segment", "Champions", "--out", str(tmp_path / "x.csv")] if command == "export" else []
        assert main([command, str(orders), "--rates", str(bad), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --rates bad.csv: ") and err.count("\n") == 1 and len(err) <= 201


def test_cli_missing_rates_file(files, capsys):
    orders, _ = files
    assert main(["summary", str(orders), "--rates", "/nonexistent/rates.csv"]) == 2
    assert "cannot read the rates table" in capsys.readouterr().err


def test_data_page_converts_with_an_uploaded_rates_table():
    from conftest import app_path
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app_path(), default_timeout=120).run()
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="data_upload").set_value(("orders.csv", ORDERS.encode(), "text/csv")).run()
    assert not at.exception
    assert any("or supply a rates table" in warning.value.replace("\\", "") for warning in at.warning)
    assert at.selectbox(key="data_report_currency").options == ["EUR", "GBP", "USD"]
    at.selectbox(key="data_report_currency").set_value("EUR")
    at.file_uploader(key="data_rates_upload").set_value(("rates.csv", RATES, "text/csv")).run()
    assert not at.exception
    shown = {metric.label: metric.value for metric in at.metric}
    assert (shown["Rows read"], shown["Rows kept"], shown["Rows rejected"]) == ("7", "5", "2")
    assert any("Amounts converted to EUR with your rates table (3 orders in USD, 1 in GBP)" in w.value.replace("\\", "")
               for w in at.warning)
    preview = at.dataframe[-1].value
    assert sorted(preview["amount"].tolist()) == [0.08, 7.5, 9.05, 60.0, 80.0]
    # a bad rates table: one plain error, and the file is still read as before
    at.file_uploader(key="data_rates_upload").set_value(("rates.csv", b"date,currency,rate\n2024-01-01,USD,x\n", "text/csv")).run()
    assert not at.exception
    assert any("rates row 2: rate 'x' is not a number" in error.value.replace("\\", "") for error in at.error)


def test_report_says_amounts_were_converted(files, tmp_path, capsys):
    orders, rates = files
    out = tmp_path / "r.html"
    assert main(["report", str(orders), "--rates", str(rates), "--out", str(out)]) == 0
    html = out.read_text()
    start = html.index("How the upload was read")
    assert "Amounts converted to EUR with your rates table (3 orders in USD, 1 in GBP)." in html[start:start + 3000]


SAVED_EUR = b"order,customer,date,amount,currency\n1,a,2024-01-02,10,EUR\n2,b,2024-01-03,20,EUR\n"
APPENDED_MIXED = b"order,customer,date,amount,currency\n2,b,2024-01-03,20,EUR\n3,c,2024-01-12,100,USD\n4,d,2024-01-13,5,EUR\n"


def _saved_eur_dataset_with_mixed_export(tmp_path):
    """The Data page with a saved EUR dataset and a mixed EUR/USD export chosen for "Append export"."""
    from conftest import app_path
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app_path(), default_timeout=120).run()
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="data_upload").set_value(("jan.csv", SAVED_EUR, "text/csv")).run()
    at.text_input(key="upload_name").set_value("Shop").run()
    at.button(key="upload_save").click().run()
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="append_upload").set_value(("feb.csv", APPENDED_MIXED, "text/csv")).run()
    assert not at.exception
    return at


def _saved_amounts(tmp_path) -> dict[str, float]:
    (path,) = (tmp_path / "workspace").rglob("transactions.parquet")
    return dict(pl.read_parquet(path).select("customer_id", "amount").iter_rows())


def test_append_refuses_mixed_currencies_without_rates(tmp_path):
    at = _saved_eur_dataset_with_mixed_export(tmp_path)
    at.button(key="append_button").click().run()
    assert not at.exception
    refusal = " ".join(error.value.replace("\\", "") for error in at.error)
    assert "Nothing was appended: The export's amounts are in 2 currencies (EUR, USD)" in refusal
    assert "Upload an exchange-rates table (date, currency, rate)" in refusal
    assert _saved_amounts(tmp_path) == {"a": 10.0, "b": 20.0}
    assert not [m for m in at.metric if m.label == "New orders added"]


def test_append_converts_mixed_currencies_with_an_uploaded_rates_table(tmp_path):
    at = _saved_eur_dataset_with_mixed_export(tmp_path)
    at.button(key="append_button").click().run()  # refused: the Exchange rates box appears
    assert at.selectbox(key="append_report_currency").value == "EUR"  # the dataset's currency
    at.file_uploader(key="append_rates_upload").set_value(("rates.csv", RATES, "text/csv")).run()
    at.button(key="append_button").click().run()
    assert not at.exception and not at.error, [error.value for error in at.error]
    shown = {m.label: m.value for m in at.metric}
    assert (shown["New orders added"], shown["Duplicate orders (skipped)"]) == ("2", "1")
    assert any("Amounts converted to EUR with your rates table" in w.value.replace("\\", "")
               for w in at.warning)
    assert _saved_amounts(tmp_path) == {"a": 10.0, "b": 20.0, "c": 80.0, "d": 5.0}  # 100 USD x 0.8 on Jan 12


def test_append_refuses_an_export_in_another_currency_than_the_dataset(tmp_path):
    at = _saved_eur_dataset_with_mixed_export(tmp_path)
    only_usd = b"order,customer,date,amount,currency\n3,c,2024-01-12,100,USD\n"
    at.file_uploader(key="append_upload").set_value(("feb_usd.csv", only_usd, "text/csv")).run()
    at.button(key="append_button").click().run()
    assert not at.exception
    assert any("The export's amounts are in USD and the dataset's in EUR" in e.value.replace("\\", "") for e in at.error)
    assert at.selectbox(key="append_report_currency").options == ["EUR", "USD"]
    assert _saved_amounts(tmp_path) == {"a": 10.0, "b": 20.0}
