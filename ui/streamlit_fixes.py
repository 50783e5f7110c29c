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

The same stale timed rerun can also arrive while a switch is still *waiting* to run: Streamlit
merges a rerun request into the pending one, and a full run absorbs a fragment rerun, but the merged
request takes the page and the address of the newer request. A pending switch to the meeting page
(or a sidebar click's full run of another page, pending while its new script thread starts) followed by
a timed rerun of the Overview's fragment became a full run of the Overview: the switch was lost and
the manager stayed on the Overview with the toggle on. :func:`install` makes such a merge keep the
pending run's page, page name and address (:func:`pending_page_kept`).
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


def _full_run(rerun_data: Any) -> bool:
    return not (getattr(rerun_data, "fragment_id", None) or getattr(rerun_data, "fragment_id_queue", None)
                or getattr(rerun_data, "is_fragment_scoped_rerun", False))


def pending_page_kept(pending: Any, incoming: Any) -> Any:
    """``incoming`` itself, or, when it is a fragment rerun about to be merged into a ``pending`` full run
    (which absorbs it), a copy naming the pending run's page, page name and address: the merge takes
    those from the newer request, and a stale timed rerun would otherwise replace a pending page switch."""
    if pending is None or not _full_run(pending) or _full_run(incoming):
        return incoming
    if incoming.page_script_hash == pending.page_script_hash:
        return incoming  # the same page: Streamlit's merge as it is
    return dataclasses.replace(incoming, page_script_hash=pending.page_script_hash, page_name=pending.page_name,
                               query_string=pending.query_string, is_auto_rerun=pending.is_auto_rerun)


def install() -> bool:
    """Wrap Streamlit's script runner and its rerun requests once per process; False when their internals
    are not as expected (another Streamlit version): the app then runs without the workaround."""
    try:
        from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
        from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequests, ScriptRequestType
    except ImportError:
        return False
    run_script = getattr(ScriptRunner, "_run_script", None)
    merge = getattr(ScriptRequests, "_request_rerun_locked", None)
    if run_script is None or merge is None or not hasattr(ScriptRunner, "_get_script_run_ctx"):
        return False
    if not getattr(run_script, _INSTALLED_FLAG, False):
        ScriptRunner._run_script = _on_the_current_page(run_script)  # type: ignore[method-assign, assignment]
    if not getattr(merge, _INSTALLED_FLAG, False):
        ScriptRequests._request_rerun_locked = _keeping_the_pending_page(  # type: ignore[method-assign, assignment]
            merge, ScriptRequestType.RERUN)
    return True


def _keeping_the_pending_page(merge: Callable[[Any, Any], bool], rerun: Any) -> Callable[[Any, Any], bool]:
    @functools.wraps(merge)
    def wrapped(requests: Any, new_data: Any) -> bool:
        pending = requests._rerun_data if getattr(requests, "_state", None) == rerun else None
        return merge(requests, pending_page_kept(pending, new_data))

    setattr(wrapped, _INSTALLED_FLAG, True)
    return wrapped


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
