"""The supervisor's parent scans the command's file for bare CRs while the child loads Polars (ingest/prefetch.py).

The child takes the parent's answer only for that very file, once it has arrived, and scans by itself
otherwise; either way the reader sees what its own scan would have found.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_core.ingest import prefetch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_answer_left(monkeypatch):
    monkeypatch.setattr(prefetch, "_pending", None)
    monkeypatch.setattr(prefetch, "_answer", None)


def _answered(path: Path) -> int:
    """A pipe holding the parent's answer about ``path`` (its read end)."""
    read_end, write_end = os.pipe()
    prefetch.send(path, write_end)
    return read_end


def test_the_child_takes_the_parents_answer_for_the_same_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"a,b\r1,2\n")
    prefetch.listen(path, _answered(path))
    assert prefetch.lone_cr(path) is True
    path.write_bytes(b"a,b\n1,2\n")  # the same path, another file (size, time): no longer the answer
    assert prefetch.lone_cr(path) is None
    assert prefetch.lone_cr(tmp_path / "other.csv") is None


def test_an_answer_about_another_file_is_not_taken(tmp_path):
    scanned, opened = tmp_path / "scanned.csv", tmp_path / "opened.csv"
    scanned.write_bytes(b"a\r")
    opened.write_bytes(b"a\r")
    read_end, write_end = os.pipe()
    identity = list(prefetch._identity(scanned))
    os.write(write_end, json.dumps([identity, False]).encode())  # a wrong answer, for another file
    os.close(write_end)
    prefetch.listen(opened, read_end)
    assert prefetch.lone_cr(opened) is None  # so the reader scans: True


def test_no_answer_yet_means_the_child_scans_itself(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"a,b\n1,2\n")
    read_end, write_end = os.pipe()
    prefetch.listen(path, read_end)
    assert prefetch.lone_cr(path) is None
    os.close(write_end)  # the parent gave up (no answer): still nothing, and no error
    assert prefetch.lone_cr(path) is None


def test_the_cli_reads_bare_cr_lines_apart_with_the_parents_scan(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"customer_id,order_date,amount\rC1,2024-01-05,10.50\rC2,2024-01-06,20.25\r")
    shown = subprocess.run([sys.executable, "-m", "crm_core", "summary", str(path), "--json"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    result = json.loads(shown.stdout)
    assert (result["rows_valid"], result["customers"], result["revenue"]) == (2, 2, 30.75)


def test_the_parent_scans_only_plain_files_of_bounded_size(tmp_path, monkeypatch):
    small = tmp_path / "small.csv"
    small.write_bytes(b"a\n")
    assert prefetch.worth_it(small) and not prefetch.worth_it(tmp_path / "missing.csv")
    assert not prefetch.worth_it(None)
    monkeypatch.setattr(prefetch, "MAX_BYTES", 1)
    assert not prefetch.worth_it(small)


SPY_ON_SCANS = """
import os, sys
from crm_core.ingest import prefetch
scan = prefetch.has_lone_cr
def spy(path):
    os.write(2, f"scan {os.getpid()}\\n".encode())
    return scan(path)
prefetch.has_lone_cr = spy
sys.argv = ["crm_core", "summary", sys.argv[1], "--json"]
os.write(2, f"cli {os.getpid()}\\n".encode())
from crm_core.__main__ import main
main()
"""


def test_the_file_is_scanned_once_by_the_parent_not_again_by_the_child(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_date,amount\nC1,2024-01-05,10.50\n")
    shown = subprocess.run([sys.executable, "-c", SPY_ON_SCANS, str(path)], cwd=ROOT, capture_output=True,
                           text=True, check=True).stderr.split()
    assert shown[:2] == ["cli", shown[1]] and shown[2:] == ["scan", shown[1]]  # one scan, in the parent
