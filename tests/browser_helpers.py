"""Shared waits of the browser tests (Playwright pages of the running app), and what to print when one times out.

Every wait here waits on a state of the page, never on the clock alone, and a wait that times out fails the
test with :func:`page_state` (what the browser showed) and the server log's errors: a timed-out wait on a CI
machine prints only its message, so the message must say what happened.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

#: True once the browser knows of no script run under way: Streamlit's own marker on the app's root element
#: ("initial" before the first run, "running", "rerunRequested", "notRunning") and a live connection.
#: (The status widget, which this used to look for, is never drawn here: with toolbarMode "minimal" the
#: wait for its absence returned at once, before and during every run.)
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED';
}"""

#: Server logs of the running test servers, by "host:port" (registered by the fixtures that start them).
SERVER_LOGS: dict[str, Path] = {}


def wait_until_idle(page, timeout: int = 180_000, settle_ms: int = 0) -> None:
    """Wait until the script run is over (no run under way, connected).

    ``settle_ms`` waits that long before and after: a rerun a click starts reaches the page's marker a
    moment later (the marker still says "notRunning" meanwhile), and the page a moment to draw once it is over."""
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    wait_for(page, IDLE_JS, what="the script run to end", timeout=timeout)
    if settle_ms:
        page.wait_for_timeout(settle_ms)


def wait_for(page, expression: str, arg=None, what: str = "the page", timeout: int = 120_000) -> None:
    """``page.wait_for_function(expression, arg)``; on a timeout the test fails saying what the page showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(expression, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"waited {timeout / 1000:.0f} s for {what}: {page_state(page)}")


def wait_for_selector(page, selector: str, state: str = "visible", timeout: int = 120_000) -> None:
    """``page.wait_for_selector``; on a timeout the test fails saying what the page showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, state=state, timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"waited {timeout / 1000:.0f} s for {selector} to be {state}: {page_state(page)}")


def wait_for_view(page, check, timeout_s: float = 120):
    """Wait until the view in the address bar (``?v=``, :class:`crm_core.settings.AnalysisSettings`) passes
    ``check``; that view. An edit reaches the address at the end of the run it starts."""
    from urllib.parse import parse_qs

    from crm_core.settings import AnalysisSettings

    settings = None
    for _ in range(int(timeout_s * 4)):  # a look every 250 ms
        query = parse_qs(urlsplit(page.url).query)
        settings = AnalysisSettings.from_url(query["v"][0]) if "v" in query else None
        if settings is not None and check(settings):
            return settings
        page.wait_for_timeout(250)
    pytest.fail(f"the address never carried the expected view (last: {settings}): {page_state(page)}")


def page_state(page) -> str:
    """One line on what the page shows (address, run and connection state, error boxes, start of the text) and
    the errors its server logged."""
    try:
        app = page.locator('[data-testid="stApp"]')
        run = app.first.get_attribute("data-test-script-state", timeout=5_000) if app.count() else "no app"
        connection = app.first.get_attribute("data-test-connection-state", timeout=5_000) if app.count() else ""
        main = page.locator('[data-testid="stMain"]')
        shown = main if main.count() else page.locator("body")
        text = " ".join(shown.first.inner_text(timeout=5_000).split())[:400]
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
    except Exception as error:  # noqa: BLE001 - a page that cannot be read is itself the news
        return f"address {page.url}; page not readable: {error}{server_errors(page.url)}"
    return (f"address {page.url}; script {run}, connection {connection}; {errors} error box(es); "
            f"text: {text}{server_errors(page.url)}")


def server_errors(url: str, lines: int = 8) -> str:
    """The last errors and warnings the server of ``url`` logged ('' when none or no log is known)."""
    log = SERVER_LOGS.get(urlsplit(url).netloc)
    if log is None or not log.exists():
        return ""
    marks = ('"level": "ERROR"', '"level": "WARNING"', "Traceback", "Error", "Exception")
    found = [line.strip()[:300] for line in log.read_text(errors="replace").splitlines()
             if any(mark in line for mark in marks)]
    return f"; server log ({log}): " + " | ".join(found[-lines:]) if found else f"; server log {log}: no errors"
