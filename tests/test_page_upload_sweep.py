"""AppTest: files of the second hostile sweep uploaded on the Data page show the report or one error, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import app_path
from hostile import sweep
from streamlit.testing.v1 import AppTest


def _upload(tmp_path: Path, name: str) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=180).run()
    at.switch_page("app_pages/data.py").run()
    content = sweep.SMALL[name](tmp_path / name).read_bytes()
    at.file_uploader(key="data_upload").set_value((name, content, "application/octet-stream")).run()
    assert not at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def _texts(at: AppTest) -> str:
    return " ".join(str(element.value) for kind in (at.warning, at.info, at.caption, at.markdown) for element in kind)


@pytest.mark.parametrize(("name", "read", "kept", "reason"), [
    ("nul_inside.csv", "240", "238", "unreadable customer id"),
    ("header_repeated.csv", "241", "240", "repeated header"),
    ("utf16le_bom.csv", "240", "240", None),
])
def test_upload_shows_the_reconciled_report(tmp_path, name, read, kept, reason):
    at = _upload(tmp_path, name)
    shown = _metrics(at)
    assert (shown["Rows read"], shown["Rows kept"]) == (read, kept)
    if reason:
        rejected = next(frame.value for frame in at.dataframe if "reason" in frame.value.columns)
        assert reason in set(rejected["reason"])


def test_upload_of_future_dates_warns(tmp_path):
    at = _upload(tmp_path, "future_dates.csv")
    assert "dated in the future" in _texts(at)


@pytest.mark.parametrize(("name", "words"), [
    ("formulas.xlsx", "formulas"), ("lying_rows.parquet", "claims"), ("lying_footer.parquet", "damaged"),
    ("wide_20000.csv", "20000 columns"),
])
def test_unusable_upload_shows_one_error_saying_what_to_do(tmp_path, name, words):
    at = _upload(tmp_path, name)
    assert at.error and words in at.error[0].value
    assert "Traceback" not in at.error[0].value
