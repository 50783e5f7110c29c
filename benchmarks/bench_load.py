"""Load test: 30 concurrent sessions on the demo against the real server; p50/p95/max per page.

Starts ``streamlit run app.py`` (headless, no file watcher) on a free loopback port and
opens 30 sessions at once with the websocket client of ``tests/st_client.py`` (Streamlit's
own protocol, as the browser speaks it). Each session opens the app (Overview) and then
runs every page; session *i* starts its tour at page *i*, so every page is asked for by
several sessions at the same moment. A page time runs from the request to the server's
``script_finished``. Target (issue 18): p95 under 5 s on 2 cores. The server is fresh:
the first sessions also pay for loading the demo and starting the model fits.
"""
from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from st_client import APP_PAGES, Visits, streamlit_server, visit_pages  # noqa: E402

SESSIONS = 30
P95_TARGET_S = 5.0
SERVER_FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")


def tour(index: int) -> tuple[str, ...]:
    """Every page once, starting at page ``index`` (the Overview is opened first anyway)."""
    shift = index % len(APP_PAGES)
    return APP_PAGES[shift:] + APP_PAGES[:shift]


async def _load(port: int, sessions: int) -> tuple[list[Visits], float]:
    started = time.perf_counter()
    visits = await asyncio.gather(*(visit_pages(port, tour(i)) for i in range(sessions)))
    return list(visits), time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 30 values is the 29th smallest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


def print_table(visits: list[Visits], elapsed: float) -> None:
    by_page: dict[str, list[float]] = {}
    for visit in visits:
        for path, seconds in visit.runs:
            by_page.setdefault(path or "overview", []).append(seconds)
    print(f"{SESSIONS} concurrent sessions x {len(APP_PAGES)} pages in {elapsed:.1f} s; "
          f"failed sessions: {sum(1 for visit in visits if visit.problems)}")
    print(f"{'page':<14} {'runs':>5} {'p50':>7} {'p95':>7} {'max':>7}   target p95 < {P95_TARGET_S:.0f} s")
    every = []
    for page, times in by_page.items():
        every += times
        p95 = percentile(times, 0.95)
        print(f"{page:<14} {len(times):>5} {statistics.median(times):7.2f} {p95:7.2f}{' ' if p95 < P95_TARGET_S else '!'}"
              f"{max(times):7.2f}")
    p95 = percentile(every, 0.95)
    print(f"{'all pages':<14} {len(every):>5} {statistics.median(every):7.2f} {p95:7.2f}{' ' if p95 < P95_TARGET_S else '!'}"
          f"{max(every):7.2f}   (! = missed)")
    for visit in visits:
        for problem in visit.problems[:3]:
            print(f"  problem: {problem}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench_load_") as folder:
        with streamlit_server(Path(folder), {"CRM_LOG_LEVEL": "WARNING"}, flags=SERVER_FLAGS) as (port, _):
            visits, elapsed = asyncio.run(_load(port, SESSIONS))
    print_table(visits, elapsed)


if __name__ == "__main__":
    main()
