"""Slow work in the background (ui.background): run once for every session, pages do not wait for it."""
from __future__ import annotations

import threading

import pytest
from pages_helpers import metrics, open_page

import crm_core.clusters as cl
from ui import background
from ui.state import Keys


def test_a_job_runs_once_for_every_asker():
    calls = []
    first = background.submit("test_once", ("dataset", 1), lambda: calls.append(1) or "result")
    again = background.submit("test_once", ("dataset", 1), lambda: calls.append(2) or "other")
    assert first is again
    assert first.future.result(timeout=30) == "result"
    assert calls == [1]
    other = background.submit("test_once", ("dataset", 2), lambda: "version 2")  # another key: its own job
    assert other is not first and other.future.result(timeout=30) == "version 2"


def test_a_failed_job_keeps_its_error_for_the_page():
    def fail():
        raise ValueError("too few customers")

    job = background.submit("test_fail", ("dataset",), fail)
    assert background.ready(job)  # outside a server: waits for the job
    with pytest.raises(ValueError, match="too few customers"):
        job.result()


def test_jobs_run_in_order_on_one_worker_thread():
    names = []
    jobs = [background.submit("test_order", (i,), lambda i=i: names.append(threading.current_thread().name) or i)
            for i in range(3)]
    assert [job.future.result(timeout=30) for job in jobs] == [0, 1, 2]
    assert set(names) == {"crm-slow-work"}


def test_a_page_that_needs_a_result_now_does_not_wait_behind_other_jobs():
    release = threading.Event()
    blocker = background.submit("test_block", ("busy",), lambda: release.wait(30))
    queued = background.submit("test_steal", ("needed",), lambda: threading.current_thread().name)
    try:
        assert queued.result() == threading.current_thread().name  # run here, not after the blocker
        assert not blocker.done()
    finally:
        release.set()
    assert blocker.future.result(timeout=30) is True


def test_segments_shows_the_rfm_tab_while_clusters_are_found_then_the_clusters(monkeypatch):
    """On a server the page does not wait: a progress note stands in for the clusters until the fit is done."""
    release = threading.Event()
    original = cl.fit_clusters

    def slow_fit(summary, settings=cl.ClusterSettings()):
        release.wait(60)
        return original(summary, settings)

    monkeypatch.setattr(cl, "fit_clusters", slow_fit)
    monkeypatch.setattr(background, "_served", lambda: True)
    # another dataset version than the other tests: a job of its own, not a cached result
    monkeypatch.setattr("ui.data.dataset_version", lambda dataset_id: "test-background")
    at = open_page("app_pages/segments.py")
    assert metrics(at)["Customers"] == "5,000"  # the RFM tab is there
    at.session_state[Keys.SEG_TAB] = "Behavioural clusters"
    at.run()
    assert any("Finding behavioural clusters" in info.value for info in at.info)
    assert not [box for box in at.selectbox if box.key == "clu_k"]
    release.set()
    for _ in range(100):
        at.run()
        if [box for box in at.selectbox if box.key == "clu_k"]:
            break
        threading.Event().wait(0.2)
    assert not at.exception
    assert [box for box in at.selectbox if box.key == "clu_k"], "the clusters never appeared"
    assert not any("Finding behavioural clusters" in info.value for info in at.info)



def test_a_views_jobs_are_asked_for_once_not_on_every_run(monkeypatch):
    """start_for_view runs on every script run of every session; the view's jobs are submitted on its first."""
    import ui.segments

    asked: list[tuple] = []
    original = ui.segments.start_default_fit

    def counted(key, start, end):  # asked for by start_for_view alone
        asked.append((key.version, start, end))
        original(key, start, end)

    monkeypatch.setattr(ui.segments, "start_default_fit", counted)
    monkeypatch.setattr(background, "_served", lambda: True)
    monkeypatch.setattr("ui.data.dataset_version", lambda dataset_id: "test-start-once")
    first = open_page("app_pages/portfolio.py")
    open_page("app_pages/portfolio.py")  # another session, same view
    first.run()  # a rerun
    assert len(asked) == 1
    first.sidebar.selectbox(key=Keys.PERIOD_PRESET).set_value("last_12_months").run()  # another view: its jobs too
    first.run()
    assert not first.exception
    assert len(asked) == 2 and asked[0][1:] != asked[1][1:]


def test_the_first_run_of_a_server_starts_importing_pandas_at_once(monkeypatch):
    """Every session's first table waits for pandas (st.dataframe converts through it): imported on its own
    thread from the server's first script run, not behind the worker's jobs."""
    imported = threading.Event()
    monkeypatch.setattr(background, "_import_pandas", imported.set)
    monkeypatch.setattr(background, "_served", lambda: True)
    monkeypatch.setattr(background, "_WARM", threading.Event())  # this server's first run
    background.warm_imports()
    assert imported.wait(30)
