"""The warehouse benchmark's CPU accounting (what each side of push-down vs pull costs, besides wall time)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.bench_warehouse import _cpu_note, tree_cpu_seconds

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_cpu_of_a_child_process_is_counted_in_the_tree():
    before = tree_cpu_seconds()
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"],
                   check=True)
    after = tree_cpu_seconds()
    assert before is not None and after is not None
    assert after - before >= 0.3  # the child's 0.4 s of CPU, counted once it has been waited for


def test_a_process_that_does_not_exist_has_no_cpu_figure():
    assert tree_cpu_seconds(root=2**22 + 12345) is None  # above Linux's largest process id


def test_cpu_note_sums_the_pull_read_and_compute_and_leaves_out_postgresql():
    pushed = {"clv_cpu": 24.25}
    pulled = {"read_cpu": 6.0, "clv_cpu": 1.5}
    assert _cpu_note("spark", pushed, pulled, "clv") == " | CPU-s push 24.2 / pull 7.5"
    assert _cpu_note("postgresql", pushed, pulled, "clv") == ""  # its server is not a child of the bench
    assert _cpu_note("duckdb", {"clv_cpu": None}, pulled, "clv") == ""
