"""Shared waits of the browser tests (Playwright pages of the running app)."""
from __future__ import annotations

#: True once Streamlit shows no running script: its status widget gone, or not saying "Running".
IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') || "
           "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")


def wait_until_idle(page, timeout: int = 180_000, settle_ms: int = 0) -> None:
    """Wait until the script run is over (no running indicator).

    ``settle_ms`` waits that long before and after: a rerun a click starts can take a moment to show its
    indicator, and the page a moment to draw once it is gone."""
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.wait_for_function(IDLE_JS, timeout=timeout)
    if settle_ms:
        page.wait_for_timeout(settle_ms)
