"""AppTest: the Data page shows and switches the revenue definition, and appends an export with Undo."""
from __future__ import annotations

from conftest import app_path
from streamlit.testing.v1 import AppTest

HEADER = (
    "Name,Email,Financial Status,Created at,Currency,Subtotal,Total,Refunded Amount,Cancelled at,"
    "Lineitem quantity,Lineitem name,Lineitem price\n"
)
# #1: two lines, net sales 40 (Total 48); #2: refunded in full; #3: cancelled
JANUARY = (HEADER + (
    "#1,a@x.com,paid,2024-01-05 10:00:00 +0000,EUR,40.00,48.00,0.00,,1,Tea,10.00\n"
    "#1,,,,,,,,,1,Pot,30.00\n"
    "#2,b@x.com,refunded,2024-01-20 10:00:00 +0000,EUR,20.00,24.00,24.00,,1,Cup,20.00\n"
    "#3,c@x.com,voided,2024-01-21 10:00:00 +0000,EUR,9.00,9.00,0.00,2024-01-21 11:00:00 +0000,1,Cup,9.00\n"
)).encode()
# February's export overlaps: #1 unchanged, #4 new
FEBRUARY = (HEADER + (
    "#1,a@x.com,paid,2024-01-05 10:00:00 +0000,EUR,40.00,48.00,0.00,,1,Tea,10.00\n"
    "#1,,,,,,,,,1,Pot,30.00\n"
    "#4,d@x.com,paid,2024-02-02 10:00:00 +0000,EUR,15.00,18.00,0.00,,1,Tea,15.00\n"
)).encode()


def _upload(at: AppTest, content: bytes, name: str) -> AppTest:
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv")).run()
    return at


def _preview_revenue(at: AppTest) -> float:
    return float(at.dataframe[-1].value["amount"].sum())


def test_revenue_definition_is_shown_and_switchable():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run(), JANUARY, "orders_export_1.csv")
    assert not at.exception
    switch = at.radio(key="ov_revenue")
    assert switch.value == "net_sales"
    assert any("net sales: Subtotal" in caption.value for caption in at.caption)
    assert {m.label: m.value for m in at.metric}["Lines in the file"] == "4"
    assert any("4 lines, 3 orders" in caption.value for caption in at.caption)
    assert _preview_revenue(at) == 40.0  # #1 net sales; #2 refunded in full: 0
    switch.set_value("total").run()
    assert not at.exception
    assert at.radio(key="ov_revenue").value == "total"
    assert _preview_revenue(at) == 48.0  # #1 Total with shipping and taxes


def test_append_export_to_a_saved_dataset_and_undo():
    at = _upload(AppTest.from_file(app_path(), default_timeout=120).run(), JANUARY, "jan.csv")
    at.text_input(key="upload_name").set_value("Shop").run()
    at.button(key="upload_save").click().run()
    at.switch_page("app_pages/data.py").run()
    at.file_uploader(key="append_upload").set_value(("feb.csv", FEBRUARY, "text/csv")).run()
    at.button(key="append_button").click().run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert (shown["New orders added"], shown["Changed orders"], shown["Duplicate orders (skipped)"]) == ("1", "0", "1")
    assert any("now has 3 orders (was 2)" in message.value for message in at.success)
    at.button(key="append_undo").click().run()
    assert not at.exception
    assert any("back to 2 orders" in message.value for message in at.success)
    assert not [b for b in at.button if b.key == "append_undo"]  # nothing left to undo
