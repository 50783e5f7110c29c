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


def test_spark_stage_totals_sum_each_figures_stages_from_the_event_log(tmp_path):
    import json

    from benchmarks.bench_warehouse import _stage_note, spark_stage_totals

    def stage(stage_id: int, cpu_ns: int, rows: int) -> dict:
        metrics = {"internal.metrics.executorCpuTime": cpu_ns, "internal.metrics.jvmGCTime": 500,
                   "internal.metrics.shuffle.write.recordsWritten": rows,
                   "internal.metrics.shuffle.write.bytesWritten": rows * 25}
        return {"Event": "SparkListenerStageCompleted",
                "Stage Info": {"Stage ID": stage_id, "Accumulables": [{"Name": k, "Value": v} for k, v in metrics.items()]}}

    events = [
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0], "Properties": {}},  # the warm-up query
        stage(0, 1_000_000_000, 0),
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Stage IDs": [1, 2], "Properties": {"spark.job.description": "clv"}},
        {"Event": "SparkListenerJobStart", "Job ID": 2, "Stage IDs": [3], "Properties": {"spark.job.description": "clv"}},
        stage(1, 3_000_000_000, 7_500_000), stage(2, 22_000_000_000, 0), stage(3, 1_500_000_000, 0),
        {"Event": "SparkListenerTaskEnd"},
    ]
    rolled = tmp_path / "eventlog_v2_local-1"  # Spark 4's rolling event log folder
    rolled.mkdir()
    (rolled / "events_1_local-1").write_text("\n".join(json.dumps(event) for event in events) + '\n{"Event": "Spark')
    (tmp_path / ".local-1.crc").write_text("not json")  # Spark's checksum files are skipped
    totals = spark_stage_totals(tmp_path)
    assert totals["clv"] == {"stages": 3, "cpu_s": 26.5, "gc_s": 1.5, "shuffle_rows": 7_500_000, "shuffle_mb": 187.5}
    assert totals[""]["stages"] == 1
    assert _stage_note(totals["clv"]) == "3 stages, executors 26.5 CPU-s (GC 1.5 s), shuffle 7.50M rows / 188 MB"
    assert _stage_note(None) == "no Spark stage"
