"""The CLI's `summary` runs in a forked child under the ingest limits (crm_core/ingest/supervisor.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _summary(path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crm_core", "summary", str(path), "--json"], cwd=ROOT,
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=120)


def _orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("customer,date,amount\nC1,2024-01-02,5.10\nC2,2024-01-03,7.25\nC2,nope,1\n")
    return path


def test_summary_reads_in_the_supervised_child_and_prints_its_result(tmp_path):
    done = _summary(_orders(tmp_path), CRM_INGEST_INPROCESS_MB="0")  # the sandbox would start a worker
    assert done.returncode == 0, done.stderr
    assert '"rows_read": 3' in done.stdout and '"revenue": 12.35' in done.stdout and done.stderr == ""


def test_memory_limit_kills_the_child_with_one_line(tmp_path):
    done = _summary(_orders(tmp_path), CRM_INGEST_MEMORY_MB="40")  # less than Polars needs to start
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "more memory than the server allows" in done.stderr


def test_timeout_kills_the_child_with_one_line(tmp_path):
    done = _summary(_orders(tmp_path), CRM_INGEST_TIMEOUT_S="0.01")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "took longer than 0.01 s" in done.stderr


def test_the_childs_own_error_is_its_one_line(tmp_path):
    done = _summary(tmp_path / "missing.csv")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "File not found" in done.stderr


def test_a_crash_in_the_child_becomes_one_line(tmp_path):
    script = ("import os, signal, sys; from crm_core.ingest.supervisor import supervised; "
              "sys.exit(supervised(lambda: os.kill(os.getpid(), signal.SIGSEGV)))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "stopped on this file (signal SIGSEGV)" in done.stderr


def test_clv_in_the_supervised_child_gives_the_in_process_result(tmp_path, capsys):
    """`clv` forks like `summary` (files up to SUPERVISED_MAX_BYTES): same JSON and the whole customers file."""
    import json

    import polars  # noqa: F401  (imported: main() runs the command here instead of forking the test process)

    from crm_core.__main__ import main

    data = ROOT / "tests" / "data" / "cdnow_sample.csv"
    child_csv, here_csv = tmp_path / "child.csv", tmp_path / "here.csv"
    done = subprocess.run([sys.executable, "-m", "crm_core", "clv", str(data), "--json", "--customers-out", str(child_csv)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert main(["clv", str(data), "--json", "--customers-out", str(here_csv)]) == 0  # Polars imported: no fork
    assert json.loads(done.stdout) == json.loads(capsys.readouterr().out)
    assert child_csv.read_bytes() == here_csv.read_bytes() and child_csv.stat().st_size > 10_000


def _childs_allocator_setting(path: Path, hand_back_at_once: bool = False, users: str | None = None) -> str:
    """What the supervised child's jemalloc setting is for a command reading ``path``."""
    script = ("import os, sys; from crm_core.ingest.supervisor import supervised; "
              "sys.exit(supervised(lambda: print(os.environ.get('_RJEM_MALLOC_CONF', 'default')) or 0, sys.argv[1], "
              f"hand_back_at_once={hand_back_at_once}))")
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if users is not None:
        env["_RJEM_MALLOC_CONF"] = users
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_small_text_files_get_huge_pages_and_large_or_packed_ones_hand_memory_back(tmp_path):
    from crm_core.ingest.supervisor import DIRTY_AT_ONCE, FRUGAL_FROM_BYTES, HUGE_PAGES, JEMALLOC_CONF, huge_pages_to_spare

    small = _orders(tmp_path)
    large = tmp_path / "large.csv"
    with large.open("wb") as handle:  # sparse: the size is what the supervisor looks at
        handle.truncate(FRUGAL_FROM_BYTES)
    packed = tmp_path / "orders.csv.gz"
    packed.write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    # (huge pages only while the system has free 2 MB blocks to spare: checked apart below)
    assert _childs_allocator_setting(small) == (HUGE_PAGES if huge_pages_to_spare() else "default")
    assert _childs_allocator_setting(small, users="narenas:1") == "narenas:1"  # the user's setting wins
    assert _childs_allocator_setting(large) == JEMALLOC_CONF[1]
    assert _childs_allocator_setting(packed) == JEMALLOC_CONF[1]
    assert _childs_allocator_setting(small, hand_back_at_once=True) == JEMALLOC_CONF[1] + DIRTY_AT_ONCE


def test_huge_pages_only_while_the_system_has_free_huge_blocks_to_spare(tmp_path):
    """Free blocks per order (4 KB pages: order 9 is 2 MB, order 10 is 4 MB) summed over zones."""
    from crm_core.ingest.supervisor import huge_pages_to_spare

    if os.sysconf("SC_PAGE_SIZE") != 4096 or not Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").exists():
        pytest.skip("4 KB pages and transparent huge pages assumed by the figures below")
    buddyinfo = tmp_path / "buddyinfo"
    buddyinfo.write_text("Node 0, zone    DMA32      0 4 2 2 1 2 0 3 3   10   50\n"
                         "Node 0, zone   Normal  85936 45369 17402 12063 7600 2829 1420 464 158 20 10\n")
    # (10 + 20) 2 MB blocks + (50 + 10) 4 MB blocks = 150 huge pages = 300 MB
    assert huge_pages_to_spare(str(buddyinfo), wanted=300 * 1024**2)
    assert not huge_pages_to_spare(str(buddyinfo), wanted=301 * 1024**2)
    assert not huge_pages_to_spare(str(tmp_path / "missing"))
    buddyinfo.write_text("Node 0, zone   Normal  85936 45369 17402 12063 7600 2829 1420 464 158 0 0\n")  # fragmented
    assert not huge_pages_to_spare(str(buddyinfo), wanted=2 * 1024**2)


# The child forked as the program starts (supervisor.fork_early): it loads Polars while the program reads the
# command line, and is handed it by supervised(), or killed.
RUN_AS_SUBREAPER = (
    "import ctypes, json, os, subprocess, sys\n"
    "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to this process\n"
    "done = subprocess.run([sys.executable, '-m', 'crm_core', *sys.argv[1:]], capture_output=True, text=True)\n"
    "left = []\n"
    "while True:\n"
    "    try:\n"
    "        left.append(os.wait()[0])\n"
    "    except ChildProcessError:\n"
    "        break\n"
    "print(json.dumps([done.returncode, len(left), done.stdout, done.stderr]))\n"
)


def _cli_leaving_nothing(*argv: str) -> tuple[int, int, str, str]:
    """Exit code, descendants left running, stdout and stderr of ``python -m crm_core *argv``."""
    import json

    shown = subprocess.run([sys.executable, "-c", RUN_AS_SUBREAPER, *argv], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, check=True).stdout
    code, left, out, err = json.loads(shown)
    return code, left, out, err


def test_the_early_child_is_killed_when_the_command_line_is_refused(tmp_path):
    code, left, out, err = _cli_leaving_nothing("summary", str(_orders(tmp_path)), "--no-such-option")
    assert (code, left, out) == (2, 0, "") and err.count("\n") == 1 and "unrecognized arguments" in err
    code, left, out, err = _cli_leaving_nothing("summary", "--help")
    assert (code, left, err) == (0, 0, "") and out.startswith("usage:")


def test_the_early_child_runs_the_command_or_makes_way_for_one_set_up_for_the_file(tmp_path):
    """An early child whose allocators would not suit the file (here another word of the command line names a
    large file) is killed and a child is forked for the file as before: the same output."""
    from crm_core.ingest.supervisor import FRUGAL_FROM_BYTES

    orders = _orders(tmp_path)
    large = tmp_path / "large_sheet_name"
    with large.open("wb") as handle:  # sparse
        handle.truncate(FRUGAL_FROM_BYTES)
    code, left, out, err = _cli_leaving_nothing("summary", str(orders), "--json")
    assert (code, left, err) == (0, 0, "") and '"rows_read": 3' in out
    assert _cli_leaving_nothing("summary", str(orders), "--sheet", str(large), "--json") == (code, left, out, err)
