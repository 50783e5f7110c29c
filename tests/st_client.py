"""Test helpers: start the real Streamlit server, and talk to it like a browser does.

The client speaks Streamlit's own protocol on ``/_stcore/stream``: it sends a
``BackMsg`` asking for a script run (of a page, by its script hash) and reads
``ForwardMsg`` protobufs until ``script_finished``, noting exception
elements, alerts and the page list. No browser needed, so many sessions fit
in one test process.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 150  # longest wait for one message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(folder: Path, env: dict[str, str] | None = None, cwd: Path = ROOT,
                     flags: tuple[str, ...] = ()) -> Iterator[tuple[int, int]]:
    """Run ``streamlit run app.py`` on a free loopback port; yields (port, pid).

    The server log goes to ``folder/server.log`` (never an unread pipe); with ``CRM_TEST_SERVER_DEBUG=1`` in the
    environment it holds Streamlit's debug log too (script runs, reruns; to see why a browser test waited in vain).
    ``cwd`` decides which ``.streamlit/config.toml`` applies.
    """
    port = free_port()
    if os.environ.get("CRM_TEST_SERVER_DEBUG"):
        flags = (*flags, "--logger.level", "debug")
    environment = {**os.environ, "CRM_WORKSPACE": str(folder / "workspace"), **(env or {})}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
               *flags]
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                        break
                except OSError:
                    if process.poll() is not None:
                        raise RuntimeError(f"the server exited: {(folder / 'server.log').read_text()[-2000:]}") from None
                    time.sleep(0.5)
            else:
                raise RuntimeError("the Streamlit server did not start within 60 s")
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a busy machine: do not leave the server behind
                process.kill()
                process.wait(timeout=20)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Run:
    """What one script run sent: pages by url path, problems, alert texts."""

    pages: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


async def run_script(ws, page_hash: str = "") -> Run:
    """Ask for one script run (``page_hash`` "" = the default page) and read until it finishes."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_script_hash = page_hash
    await ws.send(back.SerializeToString())
    run = Run()
    while True:
        message = ForwardMsg()
        message.ParseFromString(await asyncio.wait_for(ws.recv(), WAIT_S))
        kind = message.WhichOneof("type")
        element = message.delta.new_element if kind == "delta" else None
        if kind == "navigation":
            run.pages = {page.url_pathname: page.page_script_hash for page in message.navigation.app_pages}
        elif element is not None and element.WhichOneof("type") == "exception":
            run.problems.append(f"exception {element.exception.type}: {element.exception.message[:200]}")
        elif element is not None and element.WhichOneof("type") == "alert":
            run.alerts.append(element.alert.body)
        elif kind == "page_not_found":
            run.problems.append("page not found")
        elif kind == "script_finished":
            if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                continue  # the app reran itself (a background result arrived): the page is done when the rerun is
            if message.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                run.problems.append(f"script finished with status {message.script_finished}")
            return run


def connect(port: int):
    """A websocket to the server, with the subprotocol and Origin a browser sends."""
    from websockets.asyncio.client import connect as ws_connect

    return ws_connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                      origin=f"http://127.0.0.1:{port}", max_size=None, open_timeout=WAIT_S,
                      ping_interval=None)  # like a browser: no client pings, so a busy server is not dropped


#: Every page of the app by url path ("" = the Overview, the default page).
APP_PAGES = ("", "data", "portfolio", "segments", "drivers", "lifetime", "customer360", "interactions", "actions",
             "meeting", "deck", "scorecard", "views")


@dataclass
class Visits:
    """One session's page runs: (url path, seconds from request to script_finished), and problems."""

    runs: list[tuple[str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def visit_pages(port: int, paths: tuple[str, ...], think_s: float = 0.0) -> Visits:
    """One session: open the app (the default page), then run each page of ``paths`` in turn.

    ``think_s``: seconds spent "reading" each page before the next click (0 = back to back).
    """
    visits = Visits()
    try:
        async with connect(port) as ws:
            started = time.perf_counter()
            first = await run_script(ws, "")
            pages = first.pages
            visits.runs.append(("", time.perf_counter() - started))
            visits.problems += first.problems
            for path in paths:
                if path not in pages:
                    visits.problems.append(f"no page '{path}' in the navigation")
                    continue
                await asyncio.sleep(think_s)
                started = time.perf_counter()
                run = await run_script(ws, pages[path])
                visits.runs.append((path, time.perf_counter() - started))
                visits.problems += [f"{path or 'overview'}: {problem}" for problem in run.problems]
    except Exception as error:  # a dropped connection or a timeout is a failed session
        visits.problems.append(f"{type(error).__name__}: {error}")
    return visits
