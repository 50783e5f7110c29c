"""Load test: 50 concurrent sessions against the real server, on loopback.

Starts ``streamlit run app.py`` on a free 127.0.0.1 port and drives 50
sessions at once with a small websocket client that speaks Streamlit's own
protocol (BackMsg / ForwardMsg protobufs on ``/_stcore/stream``, the way the
browser does; no browser needed). Each session loads the demo on the
Overview, then switches to the Data page and the Portfolio page.

Asserts that every script run finishes successfully with no exception
element, and that the server's resident memory (VmRSS) grows by less than
``RSS_PEAK_BOUND_MB`` over its warmed-up baseline while they run and by less
than ``RSS_RETAINED_BOUND_MB`` after they have closed: frames are cached once
per dataset, not per session. Bounded: 50 sessions x 3 pages, each wait capped; the whole test is
killed after 180 s. Prints its figures (``pytest -s tests/test_load.py``).
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 50
PAGES = ("", "data", "portfolio")         # url paths: Overview (default, loads the demo), Data, Portfolio
# Server RSS growth over its warmed-up baseline (measured here: peak +190..240 MB, after close +45..65 MB).
RSS_PEAK_BOUND_MB = 350                   # while 50 sessions run at once: < 7 MB per session
RSS_RETAINED_BOUND_MB = 150               # once they have closed: no per-session leak
WAIT_S = 150                              # longest wait for one script run

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc to read the server's memory")
    port = _free_port()
    folder = tmp_path_factory.mktemp("load")
    env = {**os.environ, "CRM_WORKSPACE": str(folder / "workspace"), "CRM_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               # As in production: other engineers edit files under a dev server; a reload mid-import is not load.
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Streamlit server did not start within 60 s")
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@dataclass
class SessionResult:
    runs: list[tuple[str, float]] = field(default_factory=list)   # (page, seconds)
    problems: list[str] = field(default_factory=list)


async def _run_script(ws, page_hash: str) -> tuple[dict[str, str], list[str]]:
    """Ask for one script run; read until it finishes. Returns (pages by url path, problems)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_script_hash = page_hash
    await ws.send(back.SerializeToString())
    pages: dict[str, str] = {}
    problems: list[str] = []
    while True:
        message = ForwardMsg()
        message.ParseFromString(await asyncio.wait_for(ws.recv(), WAIT_S))
        kind = message.WhichOneof("type")
        if kind == "navigation":
            pages = {page.url_pathname: page.page_script_hash for page in message.navigation.app_pages}
        elif kind == "delta" and message.delta.new_element.WhichOneof("type") == "exception":
            exception = message.delta.new_element.exception
            problems.append(f"exception: {exception.type}: {exception.message} {list(exception.stack_trace)[-4:]}")
        elif kind == "page_not_found":
            problems.append("page not found")
        elif kind == "script_finished":
            if message.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                problems.append(f"script finished with status {message.script_finished}")
            return pages, problems


async def _session(port: int) -> SessionResult:
    from websockets.asyncio.client import connect

    result = SessionResult()
    try:
        async with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                           origin=f"http://127.0.0.1:{port}", max_size=None, open_timeout=WAIT_S) as ws:
            pages: dict[str, str] = {}
            for path in PAGES:
                start = time.perf_counter()
                navigation, problems = await _run_script(ws, pages.get(path, ""))
                pages = navigation or pages
                result.runs.append((path or "overview", time.perf_counter() - start))
                result.problems += problems
                if path not in pages:
                    result.problems.append(f"no page '{path}' in the navigation")
    except Exception as error:  # a dropped connection or a timeout is a failed session
        result.problems.append(f"{type(error).__name__}: {error}")
    return result


async def _load(port: int, pid: int, sessions: int) -> tuple[list[SessionResult], float, float]:
    """Run the sessions concurrently while sampling RSS; (results, peak RSS MB, seconds)."""
    peak = rss_mb(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    results = await asyncio.gather(*(_session(port) for _ in range(sessions)))
    elapsed = time.perf_counter() - start
    done.set()
    await sampler
    return results, max(peak, rss_mb(pid)), elapsed


def test_fifty_concurrent_sessions(server):
    port, pid = server
    warm_up, _, _ = asyncio.run(_load(port, pid, 1))  # fills the shared caches (demo, summaries)
    assert not warm_up[0].problems, warm_up[0].problems
    time.sleep(1)
    baseline = rss_mb(pid)
    results, peak, elapsed = asyncio.run(_load(port, pid, SESSIONS))
    time.sleep(3)  # let closed sessions be cleaned up
    after = rss_mb(pid)
    failed = [result.problems for result in results if result.problems]
    runs = sorted(seconds for result in results for _, seconds in result.runs)
    print(f"\nload test: {SESSIONS} concurrent sessions x {len(PAGES)} pages in {elapsed:.1f} s; "
          f"script runs: median {runs[len(runs) // 2]:.2f} s, slowest {runs[-1]:.2f} s; "
          f"server RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB (+{peak - baseline:.0f}), "
          f"after close {after:.0f} MB (+{after - baseline:.0f}); failed sessions: {len(failed)}")
    assert not failed, failed[:5]
    assert len(runs) == SESSIONS * len(PAGES)
    assert peak - baseline < RSS_PEAK_BOUND_MB
    assert after - baseline < RSS_RETAINED_BOUND_MB
