"""The stale-fragment-rerun workaround (ui/streamlit_fixes.py): what it rewrites, and that it is installed."""
from __future__ import annotations

from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

from ui.streamlit_fixes import _on_the_current_page, current_page_rerun, install

OVERVIEW, MEETING = "hash-of-overview", "hash-of-meeting"


def test_a_fragment_rerun_naming_the_previous_page_runs_on_the_current_one():
    stale = RerunData(page_script_hash=OVERVIEW, page_name="overview", fragment_id_queue=["poll"], is_auto_rerun=True)
    rerun = current_page_rerun(stale, MEETING)
    assert rerun.page_script_hash == MEETING and rerun.page_name == ""
    assert rerun.fragment_id_queue == ["poll"] and rerun.is_auto_rerun  # the rest as asked


def test_full_runs_and_fragment_runs_of_the_current_page_are_left_alone():
    switch = RerunData(page_script_hash=MEETING, page_name="meeting")  # a page switch: a full run
    assert current_page_rerun(switch, OVERVIEW) is switch
    same_page = RerunData(page_script_hash=MEETING, fragment_id_queue=["controls"])
    assert current_page_rerun(same_page, MEETING) is same_page
    unnamed = RerunData(fragment_id_queue=["controls"])  # no page named: Streamlit's default
    assert current_page_rerun(unnamed, MEETING) is unnamed
    first = RerunData(page_script_hash=OVERVIEW, fragment_id_queue=["poll"])
    assert current_page_rerun(first, "") is first  # no run yet: nothing to compare with


def test_install_wraps_the_script_runner_once(monkeypatch):
    # The unwrapped method (an AppTest earlier in the run may have run app.py, which installs the fix).
    original = getattr(ScriptRunner._run_script, "__wrapped__", ScriptRunner._run_script)
    monkeypatch.setattr(ScriptRunner, "_run_script", original)  # the installed state is put back after the test
    assert install() and install()
    assert ScriptRunner._run_script.__wrapped__ is original  # type: ignore[attr-defined]  # wrapped once, not twice


def test_the_wrapper_hands_the_runner_the_request_on_the_current_page():
    seen: list[str] = []

    class Runner:
        def _get_script_run_ctx(self):
            return type("Context", (), {"page_script_hash": MEETING})()

    wrapped = _on_the_current_page(lambda runner, data: seen.append(data.page_script_hash))
    wrapped(Runner(), RerunData(page_script_hash=OVERVIEW, fragment_id_queue=["poll"], is_auto_rerun=True))
    wrapped(Runner(), RerunData(page_script_hash=OVERVIEW))  # a switch to the Overview: as asked
    assert seen == [MEETING, OVERVIEW]


def test_the_app_installs_it():
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "app.py").read_text()
    assert "install_streamlit_fixes()" in source


def _merged(*requests: RerunData) -> RerunData:
    """The request a script runner gets after ``requests`` arrived in this order (Streamlit's own merge)."""
    from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequests

    install()  # as app.py does
    pending = ScriptRequests()
    for request in requests:
        assert pending.request_rerun(request)
    return pending.on_scriptrunner_ready().rerun_data


def test_a_stale_fragment_rerun_does_not_turn_a_pending_switch_into_a_run_of_the_previous_page():
    """The meeting toggle's switch_page waits as a full run of the meeting page; the Overview's progress note
    sends a timed rerun of its fragment just then. Streamlit's merge ran the Overview (the newer request's page
    and address): the switch was lost and the manager stayed on the Overview with the toggle on."""
    switch = RerunData(page_script_hash=MEETING, query_string="meeting=true")
    stale = RerunData(page_script_hash=OVERVIEW, page_name="overview", fragment_id="poll", is_auto_rerun=True,
                      query_string="")
    merged = _merged(switch, stale)
    assert (merged.page_script_hash, merged.query_string) == (MEETING, "meeting=true")
    assert merged.fragment_id_queue == [] and not merged.is_auto_rerun  # one full run, absorbing the fragment's


def test_merges_that_name_no_other_page_are_streamlits():
    stale = RerunData(page_script_hash=OVERVIEW, fragment_id="poll", is_auto_rerun=True)
    switch = RerunData(page_script_hash=MEETING, query_string="meeting=true")
    assert _merged(stale, switch).page_script_hash == MEETING  # the newer full run wins anyway
    same_page = RerunData(page_script_hash=MEETING, fragment_id="controls", query_string="meeting=true&step=2")
    assert _merged(switch, same_page).query_string == "meeting=true&step=2"  # same page: the newer address
    ticks = _merged(RerunData(page_script_hash=OVERVIEW, fragment_id="a"), RerunData(page_script_hash=MEETING,
                                                                                    fragment_id="b"))
    assert ticks.page_script_hash == MEETING and ticks.fragment_id_queue == ["a", "b"]  # fragments only: as before
