"""The background worker process (ui.background_worker) and the job queue's order (ui.background)."""
from __future__ import annotations

import datetime as dt
import operator
import os
import signal
import threading

import polars as pl
import pytest

from crm_core.dataset import Dataset
from ui import background
from ui.background_worker import RemoteWorker, WorkerGone


@pytest.fixture
def worker():
    remote = RemoteWorker()
    yield remote
    remote._stop()


def test_a_call_runs_in_the_child_and_frames_travel(worker):
    lazy = pl.LazyFrame({"a": [1, 2, 3]}).filter(pl.col("a") > 1)
    assert worker.call(pl.LazyFrame.collect, (lazy,)).equals(pl.DataFrame({"a": [2, 3]}))
    dataset = Dataset(transactions=lazy, customers=pl.LazyFrame({"b": [1]}))
    travelled = worker.call(operator.attrgetter("transactions", "customers", "interactions"), (dataset,))
    assert travelled[0].collect().equals(pl.DataFrame({"a": [2, 3]})) and travelled[2] is None
    assert worker.call(os.getpid, ()) != os.getpid()
    eager = pl.DataFrame({"day": [dt.date(2024, 1, 2)], "amount": [1.25]})
    assert worker.call(operator.methodcaller("to_dicts"), (eager,)) == eager.to_dicts()  # still a DataFrame


def test_a_call_the_child_cannot_read_is_an_error_not_a_dead_child(worker):
    child = worker.call(os.getpid, ())
    with pytest.raises(ModuleNotFoundError):
        worker.call(_defined_here, ())  # this test module is not importable in the child
    assert worker.call(os.getpid, ()) == child


def _defined_here() -> None:
    """A function the child cannot import."""


def test_the_jobs_error_is_raised_in_the_server_with_its_type(worker):
    with pytest.raises(ZeroDivisionError):
        worker.call(divmod, (1, 0))


def test_a_killed_child_is_reported_then_restarted(worker):
    first = worker.call(os.getpid, ())
    os.kill(first, signal.SIGKILL)
    with pytest.raises(WorkerGone):
        worker.call(os.getpid, ())
    assert worker.call(os.getpid, ()) not in (first, os.getpid())


def test_the_newest_views_jobs_run_first_and_a_jobs_job_arguments_before_it():
    release, order = threading.Event(), []
    executor = background._Worker()
    executor.submit(background.Job(release.wait, (30,)))  # keeps the thread busy while the queue fills
    executor.submit(background.Job(order.append, ("old view",)))
    executor.new_generation()
    summary = background.Job(lambda: order.append("summary") or "summary", ())
    fit = executor.submit(background.Job(lambda value: order.append(f"fit of {value}"), (summary,)))
    executor.submit(summary)
    release.set()
    fit.future.result(timeout=30)
    for _ in range(100):
        if len(order) == 3:
            break
        threading.Event().wait(0.05)
    assert order == ["summary", "fit of summary", "old view"]


def test_a_job_waits_for_the_page_run_to_end():
    started = threading.Event()
    with background.page_run():
        job = background.submit("test_quiet", (dt.date(2024, 1, 1),), started.set)
        assert not started.wait(0.5)  # the page is still running
    job.future.result(timeout=30)
    assert started.is_set()
