"""Load test: 30 concurrent sessions on the demo against the real server; p50/p95/max per page.

Starts ``streamlit run app.py`` (headless, no file watcher) on a free loopback port and
opens 30 sessions at once with the websocket client of ``tests/st_client.py`` (Streamlit's
own protocol, as the browser speaks it). Each session opens the app (Overview) and then
runs every page; session *i* starts its tour at page *i*, so every page is asked for by
several sessions at the same moment. Three runs, each on a fresh server: back to back (no pause
between clicks) on a server nobody has visited (the worst case: the first sessions also pay for
loading the demo and starting the model fits), back to back after one session has toured every
page (a server that has been running), and paced on such a server (sessions arrive spread over
5 s and read each page for 5 s before the next click). A page time runs from the request to the
server's ``script_finished``. Target (issue 18): p95 under 5 s on 2 cores.
"""
from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from st_client import APP_PAGES, Visits, streamlit_server, visit_pages  # noqa: E402

from benchmarks.common import cpu_seconds  # noqa: E402

#: Concurrent sessions (``CRM_BENCH_LOAD_SESSIONS``: fewer while developing on a shared machine).
SESSIONS = int(os.environ.get("CRM_BENCH_LOAD_SESSIONS") or 30)
#: The runs, each on a fresh server: seconds a manager reads a page before the next click (0 = back to
#: back, every session at once) and whether one session has toured every page first (a server that
#: has been running: shared results cached, background fits done) or not (the first visitors pay
#: for loading the demo and starting the fits). ``CRM_BENCH_LOAD_RUNS``, e.g. "5 warm" or "0 fresh,5 warm".
RUNS = tuple((float(think), pace.strip() == "warm") for think, pace in
             (run.split() for run in (os.environ.get("CRM_BENCH_LOAD_RUNS") or "0 fresh,0 warm,5 warm").split(",")))
P95_TARGET_S = 5.0
SERVER_FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")


def tour(index: int) -> tuple[str, ...]:
    """Every page once, starting at page ``index`` (the Overview is opened first anyway)."""
    shift = index % len(APP_PAGES)
    return APP_PAGES[shift:] + APP_PAGES[:shift]


async def _load(port: int, sessions: int, think_s: float) -> tuple[list[Visits], float]:
    """All sessions at once (back to back), or arriving spread over one reading time (paced)."""
    async def session(index: int) -> Visits:
        await asyncio.sleep(index * think_s / sessions)
        return await visit_pages(port, tour(index), think_s)

    started = time.perf_counter()
    visits = await asyncio.gather(*(session(i) for i in range(sessions)))
    return list(visits), time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 30 values is the 29th smallest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


async def _warm_up(port: int) -> None:
    """One session tours every page; then the background fits it started get time to finish."""
    visit = await visit_pages(port, APP_PAGES)
    if visit.problems:
        print(f"  warm-up problem: {visit.problems[0]}")
    await asyncio.sleep(10)


def print_table(visits: list[Visits], elapsed: float, think_s: float, warm: bool = False,
                server_cpu_s: float | None = None) -> None:
    by_page: dict[str, list[float]] = {}
    for visit in visits:
        for path, seconds in visit.runs:
            by_page.setdefault(path or "overview", []).append(seconds)
    pace = (f"{think_s:g} s on each page" if think_s else "back to back") + (", warmed server" if warm else
                                                                              ", fresh server")
    failed = sum(1 for visit in visits if visit.problems)
    print(f"{len(visits)} concurrent sessions x {len(APP_PAGES)} pages ({pace}) in {elapsed:.1f} s; "
          f"failed sessions: {failed}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'page':<14} {'runs':>5} {'p50':>7} {'p95':>7} {'max':>7}   target p95 < {P95_TARGET_S:.0f} s")
    every = [seconds for times in by_page.values() for seconds in times]
    for page, times in by_page.items():
        p95 = percentile(times, 0.95)
        print(f"{page:<14} {len(times):>5} {statistics.median(times):7.2f} {p95:7.2f}{' ' if p95 < P95_TARGET_S else '!'}"
              f"{max(times):7.2f}")
    for visit in visits:
        for problem in visit.problems[:3]:
            print(f"  problem: {problem}")
    if server_cpu_s is not None and every:
        print(f"server CPU {server_cpu_s:.1f} s for {len(every)} page runs ({server_cpu_s / len(every):.3f} s each) "
              f"in {elapsed:.1f} s: {server_cpu_s / elapsed:.2f} cores busy on average")
    if not every:
        return
    p95 = percentile(every, 0.95)
    worst = max(by_page, key=lambda page: percentile(by_page[page], 0.95))
    title = f"load, {len(visits)} sessions, {pace}"
    # Lines ending in "(target ...)": the final table of `make bench` (benchmarks/summary.py) shows them.
    print(f"{title + ': every page':<48}  p50 {statistics.median(every):.2f} s, p95 {p95:.2f} s, "
          f"max {max(every):.2f} s over {len(every)} runs, {failed} failed sessions (target p95 < {P95_TARGET_S:g} s)")
    print(f"{title + ': slowest page':<48}  p95 {percentile(by_page[worst], 0.95):.2f} s ({worst}) "
          f"(target p95 < {P95_TARGET_S:g} s)")


def main() -> None:
    for think_s, warm in RUNS:
        with tempfile.TemporaryDirectory(prefix="bench_load_") as folder:
            with streamlit_server(Path(folder), {"CRM_LOG_LEVEL": "WARNING"}, flags=SERVER_FLAGS) as (port, pid):
                if warm:
                    asyncio.run(_warm_up(port))
                cpu_before = cpu_seconds(pid)
                visits, elapsed = asyncio.run(_load(port, SESSIONS, think_s))
                print_table(visits, elapsed, think_s, warm, cpu_seconds(pid) - cpu_before)  # before the server stops


if __name__ == "__main__":
    main()
