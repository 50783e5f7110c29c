"""Browser page timings: the real server, driven in Chromium like a manager clicks through it.

Starts ``streamlit run app.py`` (headless, no file watcher, as in production) on a free
loopback port and opens it in Debian's chromium through playwright. A timing runs from the
click (in the sidebar's page list, or on a sidebar widget) to the moment the page is done:
the app's script state is back to "not running", no element is stale and every Plotly
chart on the page has drawn its SVG.

On the demo (fresh server): every page's first visit, its first visit from a second
browser session (results shared across sessions), a revisit, and a period change and a
filter change on the heavier pages. At 1M orders (``/tmp/bench/orders1m.csv`` or the
shared generator): the upload to the Overview, then each page's first visit; a page that
answers with what is ready and a progress note (its background jobs still running) is
timed to that answer, and to complete (the note gone) on the same line.
``python -m benchmarks.bench_pages overview [ROUNDS]`` times only the Overview's period and filter changes,
ROUNDS times each (default 10), with the browser's and the server's CPU seconds per change.
Targets (issue 18): first visit < 1.5 s, revisit < 0.5 s, period/filter change < 1 s;
at 1M orders upload to Overview < 5 s, first visit < 3 s.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from st_client import streamlit_server  # noqa: E402  (the tests' server fixture, shared)

from benchmarks.common import cpu_seconds, process_tree  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")
SHARED_BENCH = ROOT.parent / "shared" / "bench"
ORDERS_1M = Path("/tmp/bench/orders1m.csv")

PAGES = ("Overview", "Data", "Portfolio", "Segments", "What brings the best customers", "Lifetime value & retention",
         "Customer 360", "Interactions", "Actions", "Meeting mode", "Deck", "CRM scorecard", "Saved views & notes")
CHANGE_PAGES = ("Overview", "Portfolio", "Segments", "Lifetime value & retention")  # period and filter changes here
FIRST_S, REVISIT_S, CHANGE_S = 1.5, 0.5, 1.0
UPLOAD_1M_S, FIRST_1M_S = 5.0, 3.0
WAIT_MS = 180_000

# Done: the script run is over, nothing stale is left and every chart has drawn. A new browser tab loads each
# kind of element's code on first use and shows a skeleton meanwhile: a chart whose Plotly bundle is still loading
# is not in the page yet, so a skeleton left means not done (else the next click waited for the Overview's charts);
# the cards' small bars count as charts too (st.metric's Vega charts, or pictures: crm_core.charts.sparkline).
_DONE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')) return false;
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    if (!chart.querySelector('.main-svg')) return false;
  for (const bars of document.querySelectorAll('[data-testid="stMetricChart"]'))
    if (!bars.querySelector('svg, canvas')) return false;
  for (const image of document.querySelectorAll('[data-testid="stImage"] img'))
    if (!image.complete) return false;
  return true;
}"""
# Counts script runs (the app's state leaving "notRunning", or "initial" for a page's first run), seen even when
# a run is over between two polls.
_COUNT_RUNS_JS = """() => {
  if (window.__benchRuns !== undefined) return;
  window.__benchRuns = 0;
  new MutationObserver(records => {
    for (const record of records)
      if ((record.oldValue === 'notRunning' || record.oldValue === 'initial')
          && record.target.getAttribute('data-test-script-state') !== 'notRunning')
        window.__benchRuns += 1;
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
}"""


def _runs(page) -> int:
    """Script runs seen so far on ``page`` (call before an action; :func:`_settle` waits for one more)."""
    page.evaluate(_COUNT_RUNS_JS)
    return page.evaluate("() => window.__benchRuns")


def _settle(page, started: float, runs_before: int | None = None) -> float:
    """Seconds from ``started`` until the run the last action triggered is done.

    With ``runs_before`` (:func:`_runs` before the action) it first waits for that run to have started
    (up to 3 s: an action may trigger none); a run over before the first look is counted all the same.
    """
    if runs_before is not None:
        try:
            page.wait_for_function(f"() => window.__benchRuns > {runs_before}", polling="raf", timeout=3_000)
        except Exception:  # noqa: BLE001  (playwright's TimeoutError: the action started no run)
            pass
    page.wait_for_function(_DONE_JS, polling="raf", timeout=WAIT_MS)
    elapsed = time.perf_counter() - started
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        raise RuntimeError(f"an exception is shown on {page.url}: {errors.first.inner_text()[:500]}")
    failed = page.locator('[data-testid="stAlert"]').filter(has_text="could not be shown (incident")
    if failed.count():  # production's plain message for a page that failed (ui/errors.py)
        raise RuntimeError(f"the page failed on {page.url}: {failed.first.inner_text()[:300]}")
    return elapsed


def _click_page(page, title: str) -> float:
    # The whole label: "Actions" must not pick "Interactions" (the icon's ligature text comes before it).
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=re.compile(re.escape(title) + "$")).first
    path = urlparse(link.get_attribute("href")).path
    started = time.perf_counter()
    link.click()
    # A fast page (Customer 360: 70 ms) can go from "not running" to "not running" in one browser frame, its
    # state never seen to change: the new address, set once the page's run is under way, says it started.
    page.wait_for_function("path => location.pathname === path", arg=path, polling="raf", timeout=WAIT_MS)
    return _settle(page, started)


def _pick_period(page, label: str) -> float:
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Period").first
    box.click()
    option = page.get_by_role("option", name=label, exact=True)
    runs = _runs(page)
    started = time.perf_counter()
    option.click()
    return _settle(page, started, runs)


def _toggle_channel(page) -> float:
    """Add the first channel to the filter, or remove it again with its chip above the page."""
    # st.pills is a stButtonGroup in Streamlit 1.67 (stPills before): without it every call added one more channel.
    chip = page.locator('[data-testid="stButtonGroup"] button, [data-testid="stPills"] button').filter(has_text="Channel:")
    if chip.count():
        runs = _runs(page)
        started = time.perf_counter()
        chip.first.click()
        return _settle(page, started, runs)
    expander = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]').filter(has_text="Filters").first
    if not expander.locator('[data-testid="stMultiSelect"]').first.is_visible():
        # The panel draws its widgets once opened (ui.sections.lazy_expander): its rerun is over before the pick.
        runs = _runs(page)
        expander.locator("summary").click()
        _settle(page, time.perf_counter(), runs)
    expander.locator('[data-testid="stMultiSelect"]').filter(has_text="Channel").first.locator("input").click()
    option = page.locator('[role="option"]:not([data-key="__select_all__"])').first
    runs = _runs(page)
    started = time.perf_counter()
    option.click()
    elapsed = _settle(page, started, runs)
    page.keyboard.press("Escape")
    return elapsed


def _attempt(step, page, *args) -> float | None:
    """A widget step, tried twice (a drop-down can close under a rerun); None when it fails both times."""
    for _ in range(2):
        try:
            return step(page, *args)
        except Exception as error:  # noqa: BLE001  (playwright's TimeoutError; reported, the run goes on)
            print(f"  ({step.__name__} failed on {page.url}: {str(error).splitlines()[0][:120]})", flush=True)
            page.keyboard.press("Escape")
            page.wait_for_function(_DONE_JS, polling="raf", timeout=WAIT_MS)
    return None


@contextlib.contextmanager
def _browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(f"({_COUNT_RUNS_JS})()")  # runs counted from the first one
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=WAIT_MS)
    return page, _settle(page, started, 0)


def _mark(seconds: float | None, target: float) -> str:
    if seconds is None:
        return "      -  "
    return f"{seconds:6.2f}{' ' if seconds < target else '!'}"


def _server_cpu(times: dict[str, float | None], name: str, pid: int, step, *args) -> None:
    """Time ``step`` into ``times[name]`` and the server's CPU seconds during it into ``times[name + '_cpu']``."""
    before = cpu_seconds(pid)
    times[name] = step(*args)
    times[f"{name}_cpu"] = cpu_seconds(pid) - before


def demo_timings(url: str, server_pid: int) -> dict[str, dict[str, float | None]]:
    """Per page: first (fresh server), new_session (second browser), revisit, period, filter seconds.

    ``first_cpu`` and ``revisit_cpu``: the server's CPU seconds during that visit (background work
    included); the rest of a slow visit is the browser drawing the page, or waiting for a core.
    """
    times: dict[str, dict[str, float | None]] = {title: {} for title in PAGES}
    with _browser() as browser:
        page, opened = _open(browser, url)
        times["Overview"]["open_link"] = opened
        for title in PAGES[1:]:
            _server_cpu(times[title], "first", server_pid, _click_page, page, title)
        # after a visit elsewhere: the click path
        _server_cpu(times["Overview"], "first", server_pid, _click_page, page, "Overview")
        for title in PAGES:
            _server_cpu(times[title], "revisit", server_pid, _click_page, page, title)
        second, _ = _open(browser, url)
        for title in PAGES[1:]:
            times[title]["new_session"] = _click_page(second, title)
        for index, title in enumerate(CHANGE_PAGES):
            _click_page(page, title)
            times[title]["period"] = _attempt(_pick_period, page, "Last 12 months" if index % 2 == 0 else "Whole history")
            times[title]["filter"] = _attempt(_toggle_channel, page)
    return times


def print_demo(times: dict[str, dict[str, float | None]]) -> None:
    print(f"{'page (demo, 5,000 customers)':<34} {'first':>8} {'new sess':>8} {'revisit':>8} {'period':>8} {'filter':>8}")
    for title, row in times.items():
        print(f"{title[:34]:<34} {_mark(row.get('first'), FIRST_S)} {_mark(row.get('new_session'), FIRST_S)} "
              f"{_mark(row.get('revisit'), REVISIT_S)} {_mark(row.get('period'), CHANGE_S)} {_mark(row.get('filter'), CHANGE_S)}")
    print(f"{'target':<34} {FIRST_S:6.2f}s  {FIRST_S:6.2f}s  {REVISIT_S:6.2f}s  {CHANGE_S:6.2f}s  {CHANGE_S:6.2f}s   "
          "(! = missed)")
    print(f"Overview opened from a link (new browser tab, cold server; most of it is the browser loading Streamlit's "
          f"and Plotly's JavaScript): {times['Overview']['open_link'] or 0:.2f} s")
    print("server CPU seconds during the first visit / revisit (the rest is the browser, or a wait for a core):")
    print("  " + "; ".join(f"{title.split()[0]} {row.get('first_cpu') or 0:.2f}/{row.get('revisit_cpu') or 0:.2f}"
                           for title, row in times.items()))


def _browser_cpu_seconds() -> float:
    """CPU seconds used so far by this bench's Chromium (every process: page, browser, compositor): unlike the
    time to done, a figure the machine's load does not stretch."""
    total = 0.0
    for pid in process_tree(os.getpid()):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().startswith("chrom"):
                total += cpu_seconds(pid)
    return total


def overview_changes(url: str, server_pid: int, rounds: int) -> dict[str, list[float]]:
    """The Overview's period change and filter change, ``rounds`` times each, alternating (period: the last 12
    months / the whole history; filter: the first channel added / removed with its chip). Per change: seconds
    to done, and the CPU seconds of the browser and of the server in that time."""
    times: dict[str, list[float]] = {}
    with _browser() as browser:
        page, _ = _open(browser, url)
        for index in range(rounds):
            for kind, step, args in (("period", _pick_period, ("Last 12 months" if index % 2 == 0 else "Whole history",)),
                                     ("filter", _toggle_channel, ())):
                browser_cpu, cpu = _browser_cpu_seconds(), cpu_seconds(server_pid)
                seconds = _attempt(step, page, *args)
                if seconds is None:
                    continue
                times.setdefault(kind, []).append(seconds)
                times.setdefault(f"{kind}_browser", []).append(_browser_cpu_seconds() - browser_cpu)
                times.setdefault(f"{kind}_server", []).append(cpu_seconds(server_pid) - cpu)
    return times


def print_overview(times: dict[str, list[float]]) -> None:
    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f}, n={len(values)})"

    for kind in ("period", "filter"):
        values = times.get(kind, [])
        if not values:
            print(f"Overview {kind} change: every attempt failed")
            continue
        print(f"Overview {kind} change {spread(values)} (target {CHANGE_S:.0f} s); browser CPU "
              f"{spread(times[kind + '_browser'])}; server CPU {spread(times[kind + '_server'])}")


def _orders_1m() -> Path:
    chosen = os.environ.get("BENCH_PAGES_ORDERS_1M")  # a file generated beforehand with the shared generator
    if chosen:
        return Path(chosen)
    if ORDERS_1M.exists():
        return ORDERS_1M
    out = Path(tempfile.gettempdir()) / "bench_pages_orders1m.csv"
    if not out.exists():
        subprocess.run([sys.executable, str(SHARED_BENCH / "gen_orders.py"), "1000000", str(out)], check=True)
    return out


def million_timings(url: str, csv: Path) -> dict[str, float]:
    """Upload to the Overview, then each page's first visit, on 1M orders."""
    times: dict[str, float] = {}
    with _browser() as browser:
        page, _ = _open(browser, url)
        _click_page(page, "Data")
        runs = _runs(page)
        started = time.perf_counter()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(csv))
        save = page.get_by_role("button", name="Save and analyse")
        save.wait_for(timeout=WAIT_MS)
        _settle(page, started, runs)
        times["upload_read"] = time.perf_counter() - started
        runs = _runs(page)
        save_started = time.perf_counter()
        save.click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"] h1')?.textContent.includes('Overview')",
                               timeout=WAIT_MS)
        _settle(page, save_started, runs)
        times["save_to_overview"] = time.perf_counter() - save_started
        times["upload_to_overview"] = time.perf_counter() - started
        for title in PAGES[1:]:
            started = time.perf_counter()
            times[title] = _click_page(page, title)
            if page.evaluate(_PROGRESS_JS):  # the page answered with what is ready and a progress note
                page.wait_for_function(f"() => !({_PROGRESS_JS})() && ({_DONE_JS})()", polling=100, timeout=WAIT_MS)
                times[f"{title} complete"] = time.perf_counter() - started
    return times


#: A progress note (ui.background.progress_note, an hourglass icon) is shown: work still runs in the background.
_PROGRESS_JS = """() => [...document.querySelectorAll('[data-testid="stAlert"]')]
  .some(alert => alert.textContent.includes('hourglass_top'))"""


def print_million(times: dict[str, float]) -> None:
    # The split comes before "(target ...)": make bench's table reads the target from the line's end.
    print(f"1M orders: upload to Overview {_mark(times['upload_to_overview'], UPLOAD_1M_S)} s "
          f"(read {times['upload_read']:.2f} s + save and Overview {times['save_to_overview']:.2f} s) "
          f"(target {UPLOAD_1M_S:.0f} s)")
    for title in PAGES[1:]:
        complete = times.get(f"{title} complete")
        note = f"; answered with a progress note, complete after {complete:.2f} s" if complete is not None else ""
        print(f"  1M orders, first visit {title[:34]:<34} {_mark(times[title], FIRST_1M_S)} s (target {FIRST_1M_S:.0f} s){note}")


def main() -> None:
    if not Path(CHROMIUM).exists():
        print("skipped: Debian chromium is not installed")
        return
    env = {"CRM_LOG_LEVEL": "WARNING"}
    if sys.argv[1:2] == ["overview"]:  # python -m benchmarks.bench_pages overview [ROUNDS]: the Overview's changes only
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
        with tempfile.TemporaryDirectory(prefix="bench_pages_") as folder:
            print(f"load average before: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
            with streamlit_server(Path(folder), env, flags=SERVER_FLAGS) as (port, pid):
                print_overview(overview_changes(f"http://127.0.0.1:{port}", pid, rounds))
            print(f"load average after: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
        return
    with tempfile.TemporaryDirectory(prefix="bench_pages_") as folder:
        if not os.environ.get("BENCH_PAGES_ONLY_1M"):
            print(f"load average before: {' '.join(f'{load:.1f}' for load in os.getloadavg())} "
                  f"({os.cpu_count()} cores; timings stretch with it)")
            with streamlit_server(Path(folder), env, flags=SERVER_FLAGS) as (port, pid):
                print_demo(demo_timings(f"http://127.0.0.1:{port}", pid))  # printed before the server stops
            print(f"load average after: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
        if os.environ.get("BENCH_PAGES_SKIP_1M"):
            return
        csv = _orders_1m()
        with tempfile.TemporaryDirectory(prefix="bench_pages_1m_") as big:
            with streamlit_server(Path(big), env, flags=SERVER_FLAGS) as (port, _):
                print_million(million_timings(f"http://127.0.0.1:{port}", csv))


if __name__ == "__main__":
    main()
