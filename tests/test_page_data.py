"""AppTest: upload an export on the Data page, check the report, save it, see it on the Overview."""
from __future__ import annotations

from conftest import app_path
from streamlit.testing.v1 import AppTest

CSV = (
    "Kundennummer;Rechnungsdatum;Betrag;Währung\n"
    "00123;01.02.2024;1.234,56;EUR\n"
    "00124;15.03.2024;12,50;EUR\n"
    "00123;28.03.2024;-5,00;EUR\n"
    ";01.04.2024;3,00;EUR\n"
    "00125;31.02.2024;4,00;EUR\n"
).encode("cp1252")


def _upload(at: AppTest, content: bytes = CSV, name: str = "erp.csv") -> AppTest:
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv")).run()
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_upload_shows_reconciled_report_and_rejected_rows():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run())
    assert not at.exception
    shown = _metrics(at)
    assert (shown["Rows read"], shown["Rows kept"], shown["Rows rejected"]) == ("5", "3", "2")
    assert shown["Returns (negative amounts)"] == "1"
    detected = at.dataframe[0].value
    settings = dict(zip(detected["setting"], detected["detected"]))
    assert settings["delimiter"] == ";" and settings["encoding"] == "cp1252"
    rejected = at.dataframe[2].value
    assert sorted(rejected["line"].tolist()) == [5, 6]
    assert set(rejected["reason"]) == {"missing customer id", "unparseable date"}
    preview = at.dataframe[3].value
    assert "00123" in preview["customer_id"].tolist()  # leading zeros survive


def test_override_the_delimiter_changes_what_is_read():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run())
    at.selectbox(key="ov_delimiter").set_value("Comma ,").run()
    assert not at.exception
    assert any("column" in error.value.lower() for error in at.error)  # nothing recognisable with ','


def test_unusable_file_says_what_to_do():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run(), b"", "empty.csv")
    assert not at.exception
    assert "empty" in at.error[0].value.lower()


def test_saved_upload_becomes_the_overview_dataset():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run())
    at.text_input(key="upload_name").set_value("ERP export").run()
    at.button(key="upload_save").click().run()
    assert not at.exception
    at.switch_page("app_pages/overview.py").run()
    at.segmented_control(key="cards").set_value("whole_period").run()
    shown = _metrics(at)
    assert shown["Revenue (net)"] == "€1,242"  # 1234.56 + 12.50 - 5.00, in the currency its Währung column names
    assert shown["Active customers"] == "2"
    assert shown["Orders"] == "2"


def test_two_uploads_with_the_same_name_get_distinct_labels():
    at = AppTest.from_file(app_path(), default_timeout=120).run()
    for _ in range(2):
        _upload(at)
        at.text_input(key="upload_name").set_value("Same name").run()
        at.button(key="upload_save").click().run()
    at = AppTest.from_file(app_path(), default_timeout=120).run()  # a fresh session lists both
    labels = [at.sidebar.selectbox(key="ds").format_func(option) for option in at.sidebar.selectbox(key="ds").options]
    assert labels[0] == "Demo portfolio" and len(labels) == 3 and len(set(labels)) == 3
