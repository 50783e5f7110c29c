"""Whole-process CLI timings against the shared baseline scripts (../shared/bench/).

Acceptance measures the CLI as a user runs it: start to exit, imports included, median of
three, in one run on the same machine. This module does the same with the same scripts:

- ``python -m crm_core summary FILE --json`` against ``polars_summary.py`` (target <= 1.3x)
  and ``pandas_summary.py`` (target <= 0.6x);
- ``python -m crm_core clv FILE --json`` against ``lifetimes_clv.py`` (target <= 0.2x).

Runs alternate (ours, baseline, ours, baseline, ...) so a drift in machine speed hits both,
and each ratio is taken pair by pair; the median ratio is printed. Peak RSS and CPU time
(user + system, all threads) come from ``wait4``'s rusage of each child, so they are that
process's own. The CPU ratio is printed beside the wall-clock one: on a loaded machine wall
times measure the other processes as much as ours, CPU time much less so (though both rise).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import OUT

#: ../shared/bench from the repository (the nearest folder above holding shared/bench: a git worktree is deeper).
SHARED_BENCH = next((folder / "shared" / "bench" for folder in Path(__file__).resolve().parents
                     if (folder / "shared" / "bench").is_dir()), Path(__file__).resolve().parents[2] / "shared" / "bench")
ROWS = 1_000_000
RUNS = 3


def _run(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one whole process.

    Wall time ends when the process exits, as a user's shell sees it. The CLI's supervisor returns only after its
    supervised child (which waits for the clv worker) has exited, so the process's rusage covers the whole tree.
    As a child subreaper this process would also inherit any descendant left running, and waits for it before the
    next run, its CPU time counted (a guard: none is expected)."""
    _become_subreaper()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-300:] if process.stderr else ''}")
    cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    while True:  # descendants left behind (reparented here), until none is left
        try:
            _, _, left = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu, peak = cpu + left.ru_utime + left.ru_stime, max(peak, left.ru_maxrss)
    return elapsed, peak / 1024, cpu


def _become_subreaper() -> None:
    """Orphaned descendants of the commands run here are reparented to this process (Linux; elsewhere a no-op)."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError, TypeError):
        pass


def _pairs(ours: list[str], baseline: list[str]) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternating runs: our seconds, the baseline's, the pairwise ratios and the pairwise CPU-time ratios."""
    _run(ours), _run(baseline)  # warm-up: page cache, .pyc files
    ours_s, base_s, ratios, cpu_ratios = [], [], [], []
    for _ in range(RUNS):
        mine, _, mine_cpu = _run(ours)
        theirs, _, their_cpu = _run(baseline)
        ours_s.append(mine)
        base_s.append(theirs)
        ratios.append(mine / theirs)
        cpu_ratios.append(mine_cpu / their_cpu)
    return ours_s, base_s, ratios, cpu_ratios


def _line(title: str, runs: tuple[list[float], list[float], list[float], list[float]], target: str) -> None:
    ours, base, ratios, cpu_ratios = runs
    print(f"{title:<44} ours {statistics.median(ours):6.2f}s | baseline {statistics.median(base):6.2f}s"
          f" | ratio median {statistics.median(ratios):4.2f}x (min {min(ratios):4.2f}, max {max(ratios):4.2f}),"
          f" CPU time {statistics.median(cpu_ratios):4.2f}x (target {target})", flush=True)


def _orders_file() -> Path:
    """The shared generator's 1M-order CSV, made once into benchmarks/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"shared_orders_{ROWS}.csv"
    if not path.exists():
        partial = path.with_suffix(".partial")
        subprocess.run([sys.executable, str(SHARED_BENCH / "gen_orders.py"), str(ROWS), str(partial)], check=True)
        partial.rename(path)
    return path


def _compile_package() -> None:
    """Write crm_core's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set
    (as in some containers) every run would otherwise compile our modules from source (~0.1 s),
    while the baselines' libraries come compiled."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "crm_core")],
                   check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    if not SHARED_BENCH.is_dir():
        print(f"skipped: the shared baselines are not at {SHARED_BENCH}")
        return
    path = str(_orders_file())
    _compile_package()
    _load("before")
    python = sys.executable
    summary = [python, "-m", "crm_core", "summary", path, "--json"]
    for script, target in (("polars_summary.py", "<= 1.3x"), ("pandas_summary.py", "<= 0.6x")):
        _line(f"summary vs {script}, 1M orders", _pairs(summary, [python, str(SHARED_BENCH / script), path]), target)
    try:
        import lifetimes  # noqa: F401  (installed by requirements-bench.txt)
    except ImportError:
        print("clv vs lifetimes_clv.py: skipped (pip install -r requirements-bench.txt)")
        _load("after")
        return
    clv = [python, "-m", "crm_core", "clv", path, "--json"]
    _line("clv vs lifetimes_clv.py, 1M orders", _pairs(clv, [python, str(SHARED_BENCH / "lifetimes_clv.py"), path]), "<= 0.2x")
    _load("after")


def _load(when: str) -> None:
    """The machine's load average: ratios are only comparable with the load they were measured under."""
    one, five, fifteen = os.getloadavg()
    print(f"load average {when}: {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)", flush=True)


if __name__ == "__main__":
    main()
