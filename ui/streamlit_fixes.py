"""A workaround for a Streamlit race that blanks a page after a server-side page switch.

A page that waits for a background job shows a progress note in a fragment that reruns itself
every half second (``st.fragment(run_every=...)``, :func:`ui.background.progress_note`). When the
page itself switches to another one (``st.switch_page``: the sidebar's meeting-mode toggle, a
chart's drill-down to Customer 360, an upload's jump to the Overview), the browser keeps sending
the old fragment's timed reruns until the new page's first message reaches it, each naming the
*old* page. Streamlit (1.67) queues such a rerun behind the new page's run and then starts it as
a run of the old page: the fragment no longer exists, so nothing is drawn, but the browser is
told the old page is now shown and drops every element of the new one. Seen in the meeting-mode
browser test at about one run in three on a busy machine: the slides appeared, then the page
went blank with the sidebar back.

A fragment belongs to the page whose run registered it, and every full run of another page
clears it; so a fragment-only rerun that names another page than the session's last run is
stale. :func:`install` makes the script runner start such a rerun on the current page instead:
the missing fragment is skipped as before, and the page stays as it is.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

_INSTALLED_FLAG = "_crm_stale_fragment_rerun_fix"


def current_page_rerun(rerun_data: Any, current_page_hash: str | None) -> Any:
    """``rerun_data`` itself, or a copy naming ``current_page_hash`` when it is a fragment-only rerun
    that names another page (a stale timed rerun of the previous page's fragment)."""
    fragments = getattr(rerun_data, "fragment_id_queue", None)
    named = getattr(rerun_data, "page_script_hash", "")
    if not fragments or not current_page_hash or not named or named == current_page_hash:
        return rerun_data
    return dataclasses.replace(rerun_data, page_script_hash=current_page_hash, page_name="")


def install() -> bool:
    """Wrap Streamlit's script runner once per process; False when its internals are not as expected
    (another Streamlit version): the app then runs without the workaround."""
    try:
        from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
    except ImportError:
        return False
    run_script = getattr(ScriptRunner, "_run_script", None)
    if run_script is None or not hasattr(ScriptRunner, "_get_script_run_ctx"):
        return False
    if getattr(run_script, _INSTALLED_FLAG, False):
        return True
    ScriptRunner._run_script = _on_the_current_page(run_script)  # type: ignore[method-assign, assignment]
    return True


def _on_the_current_page(run_script: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    @functools.wraps(run_script)
    def wrapped(runner: Any, rerun_data: Any) -> None:
        try:
            current = getattr(runner._get_script_run_ctx(), "page_script_hash", None)
        except Exception:  # noqa: BLE001 - no context yet: nothing to compare with
            current = None
        run_script(runner, current_page_rerun(rerun_data, current))

    setattr(wrapped, _INSTALLED_FLAG, True)
    return wrapped
