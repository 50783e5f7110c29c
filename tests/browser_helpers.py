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


def page_state(page) -> str:
    """One line on what the page shows (address, running or not, start of the text, errors): a timed-out
    wait in CI prints only its message, so the message must tell what the browser saw."""
    try:
        running = not page.evaluate(IDLE_JS)
        main = page.locator('[data-testid="stMain"]')
        shown = main if main.count() else page.locator("body")
        text = " ".join(shown.first.inner_text(timeout=5_000).split())[:400]
        errors = page.locator('[data-testid="stException"]').count()
    except Exception as error:  # noqa: BLE001 - a page that cannot be read is itself the news
        return f"address {page.url}; page not readable: {error}"
    return f"address {page.url}; script {'running' if running else 'idle'}; {errors} error box(es); text: {text}"
