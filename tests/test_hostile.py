"""Hostile files (issue 14): the reader runs in a worker with a memory ceiling and a timeout;
every hostile file gives a correct reading or one line, never a crash of the caller.

The generators are in tests/hostile; sizes are small and the caps are lowered
where a test needs a cap to be reached. The CLI is run as a subprocess on the
corpus: exit 0 or 2, stderr one line, no traceback or Rust panic, bounded RSS.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import hostile
import polars as pl
import pytest

from crm_core.commands.common import fail
from crm_core.ingest import IngestError, read_orders
from crm_core.ingest import source as ingest_source
from crm_core.ingest.messages import MAX_MESSAGE, one_line
from crm_core.engines import operational_message as _operational_message

ROOT = Path(__file__).resolve().parent.parent
#: The worker's address-space ceiling in these tests (below that, Polars itself cannot start).
CEILING_MB = "1536"


@pytest.fixture(autouse=True)
def _sandboxed(monkeypatch):
    """Every read goes through the worker, with a low memory ceiling."""
    monkeypatch.setenv("CRM_INGEST_MEMORY_MB", CEILING_MB)
    monkeypatch.setenv("CRM_INGEST_INPROCESS_MB", "0")


def _one_line(message: str) -> None:
    assert "\n" not in message and len(message) <= MAX_MESSAGE
    assert "panicked" not in message and "Traceback" not in message and "RUST_BACKTRACE" not in message


def _refused(path: Path, match: str) -> str:
    with pytest.raises(IngestError, match=match) as caught:
        read_orders(path)
    _one_line(str(caught.value))
    return str(caught.value)


# ---------------------------------------------------------------- Excel


def test_control_workbook_is_read(tmp_path):
    tx, report = read_orders(hostile.readable_xlsx(tmp_path / "ok.xlsx"))
    frame = tx.collect()
    assert frame["customer_id"].to_list() == ["C1", "C2"] and frame["amount"].to_list() == [10.5, 20.0]
    assert report.detected["format"] == "xlsx"


def test_far_corner_claim_is_read_from_its_real_cells(tmp_path):
    """1.6 KB claiming A1:XFD1048576: the two real orders are read (the claim allocates nothing)."""
    path = hostile.far_corner_xlsx(tmp_path / "far.xlsx")
    assert path.stat().st_size < 4096
    tx, report = read_orders(path)
    assert tx.collect()["customer_id"].to_list() == ["C1", "C2"] and report.rows_read == 2


def test_far_corner_cell_is_refused_before_the_reader_allocates(tmp_path):
    """One value in XFD1048576 makes calamine allocate 17 billion cells and abort: refused beforehand."""
    message = _refused(hostile.far_cell_xlsx(tmp_path / "far_cell.xlsx"), "1,048,576 rows x 16,384 columns")
    assert "save it as CSV" in message


def test_sheet_wider_than_the_column_limit_is_refused_before_loading(tmp_path):
    _refused(hostile.wide_xlsx(tmp_path / "wide.xlsx"), "1,025 columns")


def test_member_size_is_counted_while_inflating_not_taken_from_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_source, "MAX_XLSX_PART_BYTES", 4 * 1024**2)
    monkeypatch.setattr(ingest_source, "MAX_COMPRESSION_RATIO", 10**6)  # only the absolute cap can stop it
    path = hostile.lying_size_xlsx(tmp_path / "lying.xlsx", actual_bytes=12 * 1024**2, declared_bytes=20_000)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 20_000  # the lie
    _refused(path, "sheet1.xml of the Excel file expands to more than 4 MB")


def test_expansion_ratio_is_per_member_so_padding_does_not_dilute_it(tmp_path):
    path = hostile.padded_xlsx(tmp_path / "padded.xlsx", sheet_bytes=24 * 1024**2, padding=2 * 1024**2)
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        overall = sum(m.file_size for m in members) / sum(m.compress_size for m in members)
    assert overall < ingest_source.MAX_COMPRESSION_RATIO  # the whole archive looks normal
    _refused(path, "sheet1.xml of the Excel file expands to more than 100 times")


# ---------------------------------------------------------------- Parquet


def test_hand_written_parquet_is_valid_when_honest(tmp_path):
    path = hostile.hand_parquet(tmp_path / "honest.parquet", [1, 2, 3])
    assert pl.read_parquet(path)["amount"].to_list() == [1, 2, 3]
    _refused(path, "No column looks like a customer id")  # read, then mapped: not a layout error


@pytest.mark.parametrize("claim", [{"claimed_page_bytes": 2_000_000_000}, {"claimed_page_values": 2_000_000_000}])
def test_lying_parquet_page_headers_are_refused_before_reading(tmp_path, claim):
    path = hostile.hand_parquet(tmp_path / "lying.parquet", [1, 2, 3], **claim)
    _refused(path, "Parquet file")


def test_corrupt_parquet_gives_one_line_without_panic_text(tmp_path):
    clean = tmp_path / "clean.parquet"
    pl.DataFrame({
        "customer_id": [f"C{i % 500}" for i in range(20_000)],
        "order_date": [f"2024-01-{i % 28 + 1:02d}" for i in range(20_000)],
        "amount": [float(i % 97) for i in range(20_000)],
    }).write_parquet(clean, compression="uncompressed")
    path = hostile.corrupt_parquet(tmp_path / "corrupt.parquet", clean)
    try:
        tx, _ = read_orders(path)
        tx.collect()
    except IngestError as error:
        _one_line(str(error))


# ---------------------------------------------------------------- compressed, text


def test_gzip_bomb_is_stopped_while_expanding(tmp_path):
    _refused(hostile.gzip_bomb(tmp_path / "bomb.csv.gz", 64 * 1024**2), "100 times its size")


def test_single_long_line_gives_a_short_message(tmp_path):
    message = _refused(hostile.single_line(tmp_path / "line.csv", 3 * 1024**2), "Line 1 of this file is longer than 1 MB")
    assert "export it again" in message  # refused before the reader holds the line whole


def test_huge_amounts_do_not_crash(tmp_path):
    try:
        tx, report = read_orders(hostile.huge_amounts_csv(tmp_path / "huge.csv"))
    except IngestError as error:
        _one_line(str(error))
        return
    assert report.rows_read == report.rows_valid + report.rows_rejected == 8
    tx.collect()


# ---------------------------------------------------------------- rejected rows


def test_rejected_rows_beyond_the_first_thousand_are_spilled_to_a_file(tmp_path):
    junk = 20_000
    tx, report = read_orders(hostile.junk_rows_csv(tmp_path / "junk.csv", junk, valid=5000))
    assert tx.collect().height == report.rows_valid == 5000
    assert report.rows_rejected == junk and sum(report.rejected_by_reason().values()) == junk
    assert report.rejected.height == 1000  # in memory: the first examples only
    everything = report.all_rejected().collect()
    assert everything["line"].to_list() == list(range(5002, 5002 + junk))
    assert everything["raw"][0] == "x,y,z" and everything["reason"].null_count() == 0
    spill = Path(report.rejected_file)
    assert spill.stat().st_mode & 0o777 == 0o600
    del report, tx
    gc.collect()
    assert not spill.exists()


def test_saved_dataset_keeps_every_rejected_row_and_loads_only_the_first(tmp_path):
    from crm_core.dataset import Dataset
    from crm_core.workspace import Workspace

    path = hostile.junk_rows_csv(tmp_path / "junk.csv", 3000, valid=5000)
    tx, report = read_orders(path)
    workspace = Workspace(tmp_path / "ws")
    dataset_id = workspace.save("junk", path.read_bytes(), "junk.csv", Dataset(transactions=tx, name="junk"), report)
    saved = workspace.report(dataset_id)
    assert saved.rejected.height == 1000 and saved.rejected_by_reason() == report.rejected_by_reason()
    assert saved.all_rejected().collect().equals(report.all_rejected().collect())


def test_few_rejected_rows_stay_in_memory(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("customer,date,amount\nC1,2024-01-02,5\nC2,nope,5\n")
    _, report = read_orders(path)
    assert report.rejected_file is None and report.rejected_by_reason() == {"unparseable date": 1}
    assert report.all_rejected().collect().height == 1


# ---------------------------------------------------------------- the worker's limits


def test_worker_crash_becomes_one_line_and_the_caller_carries_on(tmp_path, monkeypatch):
    path = hostile.readable_xlsx(tmp_path / "ok.xlsx")
    monkeypatch.setenv("CRM_INGEST_MEMORY_MB", "40")  # less than Polars needs to start: the worker is stopped
    _refused(path, "more memory than the server allows")
    monkeypatch.setenv("CRM_INGEST_MEMORY_MB", CEILING_MB)
    assert read_orders(path)[1].rows_valid == 2


def test_worker_timeout_becomes_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INGEST_TIMEOUT_S", "0.01")
    _refused(hostile.readable_xlsx(tmp_path / "ok.xlsx"), "took longer than 0.01 s")


def test_small_text_files_are_read_in_process_and_give_the_same_result(tmp_path, monkeypatch):
    path = tmp_path / "small.csv"
    path.write_text("customer,date,amount\nC1,2024-01-02,5.5\nC2,2024-01-03,7\nC2,bad,1\n")
    sandboxed = read_orders(path)
    monkeypatch.setenv("CRM_INGEST_INPROCESS_MB", "8")
    direct = read_orders(path)
    assert sandboxed[0].collect().equals(direct[0].collect())
    assert sandboxed[1].to_dict() == direct[1].to_dict()


# ---------------------------------------------------------------- messages


def test_one_line_shortens_long_words_first():
    message = one_line("No column looks like a customer id. Columns found: " + "A" * 10**6 + ". Pick the column.")
    assert len(message) <= MAX_MESSAGE and message.endswith("Pick the column.")
    assert one_line("two\nlines") == "two lines"


def test_fail_prints_one_line(capsys):
    assert fail("x" * 5000 + "\nsecond line") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err.strip()) <= MAX_MESSAGE


def test_every_output_flag_is_checked_before_any_work(tmp_path):
    import argparse

    from crm_core.commands.common import os_error_message, unwritable_output

    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o500)
    args = argparse.Namespace(path="orders.csv", customers_out=str(tmp_path), out=str(tmp_path / "fine.csv"))
    assert "--customers-out" in unwritable_output(args) and "is a folder" in unwritable_output(args)
    missing = FileNotFoundError(2, "No such file or directory", str(tmp_path / "no" / "x.csv"))
    args = argparse.Namespace(customers_out=str(tmp_path / "no" / "x.csv"))
    message = os_error_message(missing, args)
    assert message.startswith("Cannot write --customers-out") and "\n" not in message
    full = OSError(28, "No space left on device")
    assert "disk" in os_error_message(full, args) and "full" in os_error_message(full, args)
    if os.geteuid() != 0:  # root writes anywhere
        args = argparse.Namespace(out=str(readonly / "x.csv"))
        assert "not writable" in unwritable_output(args)


def test_statement_timeout_is_not_called_unreachable():
    cancelled = SimpleNamespace(orig=SimpleNamespace(sqlstate="57014"))
    assert "took longer" in _operational_message(cancelled, "postgresql://u@h/db")
    refused = SimpleNamespace(orig=SimpleNamespace(sqlstate="08001"))
    assert "Cannot reach" in _operational_message(refused, "postgresql://u@h/db")


# ---------------------------------------------------------------- the CLI on the corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    clean = folder / "clean.parquet"
    pl.DataFrame({"customer_id": ["C1"] * 5000, "order_date": ["2024-01-02"] * 5000,
                  "amount": [float(i) for i in range(5000)]}).write_parquet(clean, compression="uncompressed")
    return {
        "far_corner.xlsx": hostile.far_corner_xlsx(folder / "far_corner.xlsx"),
        "far_cell.xlsx": hostile.far_cell_xlsx(folder / "far_cell.xlsx"),
        "wide.xlsx": hostile.wide_xlsx(folder / "wide.xlsx"),
        "padded.xlsx": hostile.padded_xlsx(folder / "padded.xlsx", 24 * 1024**2, 2 * 1024**2),
        "lying_size.xlsx": hostile.lying_size_xlsx(folder / "lying_size.xlsx", 4 * 1024**2),
        "lying_page.parquet": hostile.hand_parquet(folder / "lying_page.parquet", [1, 2], claimed_page_bytes=2**31 - 1),
        "corrupt.parquet": hostile.corrupt_parquet(folder / "corrupt.parquet", clean),
        "bomb.csv.gz": hostile.gzip_bomb(folder / "bomb.csv.gz", 64 * 1024**2),
        "junk.csv": hostile.junk_rows_csv(folder / "junk.csv", 50_000),
        "huge.csv": hostile.huge_amounts_csv(folder / "huge.csv"),
        "line.csv": hostile.single_line(folder / "line.csv", 3 * 1024**2),
    }


def _cli(*args: str) -> tuple[int, str, str, int]:
    """Run the CLI: (exit code, stdout, stderr, peak RSS in MB of it and its worker)."""
    env = dict(os.environ, CRM_INGEST_MEMORY_MB=CEILING_MB, CRM_INGEST_INPROCESS_MB="0", RUST_BACKTRACE="1")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "crm_core", *args], cwd=ROOT, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)  # the usage includes the worker (a waited-for child)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss // 1024


def _check_contract(code: int, err: str) -> None:
    assert code in (0, 2), err  # never a signal (negative) or a crash (1)
    assert "Traceback" not in err and "panicked" not in err and "backtrace" not in err.lower()
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("error: ") and len(err.strip()) <= MAX_MESSAGE


@pytest.mark.parametrize("name", [
    "far_corner.xlsx", "far_cell.xlsx", "wide.xlsx", "padded.xlsx", "lying_size.xlsx", "lying_page.parquet",
    "corrupt.parquet", "bomb.csv.gz", "junk.csv", "huge.csv", "line.csv",
])
def test_cli_summary_on_the_hostile_corpus(corpus, name):
    code, out, err, peak_mb = _cli("summary", str(corpus[name]), "--json")
    _check_contract(code, err)
    assert 0 < peak_mb < 3000
    if name in ("far_corner.xlsx", "junk.csv"):
        assert code == 0 and '"rows_valid"' in out


@pytest.mark.parametrize("command", [["rfm"], ["clv"], ["portfolio"], ["export", "--segment", "Champions", "--out", "{tmp}/x.csv"],
                                     ["report", "--out", "{tmp}/r.html"]])
def test_every_command_on_a_crashing_workbook(corpus, command, tmp_path):
    args = [part.format(tmp=tmp_path) for part in command]
    code, _, err, _ = _cli(args[0], str(corpus["far_cell.xlsx"]), *args[1:])
    _check_contract(code, err)
    assert code == 2


@pytest.mark.parametrize("command", [["export", "--segment", "Champions", "--out"], ["report", "--out"],
                                     ["clv", "--customers-out"]])
def test_unwritable_output_is_one_line(tmp_path, command):
    """A path under a file (not a folder): unwritable even for root."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    orders = str(ROOT / "tests" / "data" / "cdnow_sample.csv")
    code, _, err, _ = _cli(command[0], orders, *command[1:], str(blocker / "out.html"))
    _check_contract(code, err)
    assert code == 2 and command[-1] in err and "write" in err.lower()


def test_output_that_is_a_folder_is_refused_before_reading(tmp_path):
    code, _, err, _ = _cli("export", str(tmp_path / "not_read.csv"), "--segment", "Champions", "--out", str(tmp_path))
    _check_contract(code, err)
    assert code == 2 and "is a folder" in err


def test_option_errors_are_one_line(tmp_path):
    code, _, err, _ = _cli("summary", str(tmp_path / "x.csv"), "--decimal", ";")
    _check_contract(code, err)
    assert code == 2 and "--decimal" in err
