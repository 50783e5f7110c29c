"""Slow work (model fits, clusters) run once per dataset version, in the background, for every session.

A job is named by what it computes and a key of everything its result depends on
(:class:`ui.data.DatasetKey`, period, settings). The first session that asks
submits it to one worker thread; every later ask, from any session, gets the same
:class:`Job` (held by ``st.cache_resource``). Pages show
what is ready and, for a job still running, a progress note that polls (a
fragment with ``run_every``) and reruns the page once the result is there.

Without a server (AppTest, bare mode) nobody would rerun the page, so
:func:`ready` waits for the job there: the tests see the same finished page.
"""
from __future__ import annotations

import contextlib
import gc
import os
import queue
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, wait
from typing import Any, TypeVar

import streamlit as st
from streamlit import runtime

from crm_core.logging_setup import get_logger, timed

T = TypeVar("T")

class Job:
    """One piece of slow work and its :class:`Future`; run once, by the worker or by a page that needs it now.

    A page that must have the result (:meth:`result`) runs the work itself when
    the worker has not started it yet, instead of waiting behind other jobs.
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        self.future: Future = Future()
        self._work = work
        self._lock = threading.Lock()
        self._claimed = False

    def run(self) -> None:
        """Do the work here unless someone already took it."""
        with self._lock:
            if self._claimed:
                return
            self._claimed = True
        self.future.set_running_or_notify_cancel()
        try:
            self.future.set_result(self._work())
        except BaseException as error:  # noqa: BLE001  (the page that reads the result shows it)
            self.future.set_exception(error)

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """The result: computed here if the worker has not started, else waited for; raises the job's error."""
        self.run()
        return self.future.result()


class _Worker:
    """One daemon thread running jobs in order, at a slightly lower CPU priority than the pages.

    A daemon (unlike ThreadPoolExecutor's workers) never holds up the server's
    shutdown; the lower priority and single BLAS/OpenMP thread keep a core free
    for the sessions' page runs while a fit is under way.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], Any]) -> Job:
        job = Job(work)
        self._jobs.put(job)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crm-slow-work", daemon=True)
                self._thread.start()
        return job

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # nice the thread only (Linux: a thread is a task)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        while True:
            job = self._jobs.get()
            with _one_thread():
                job.run()


def _one_thread() -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


#: Added to the worker thread's nice value: page runs come first (mildly: on a busy machine a
#: large value starves the worker, and pages waiting for a result with it).
NICENESS = 5
_EXECUTOR = _Worker()
#: Seconds between two looks at a running job.
POLL_S = 0.5
_WARM = threading.Event()


def _served() -> bool:
    """True under ``streamlit run``; AppTest installs a mock runtime, bare mode has none."""
    return runtime.exists() and type(runtime.get_instance()) is runtime.Runtime


@st.cache_resource(max_entries=64, show_spinner=False)
def _job(name: str, key: Hashable, _work: Callable[[], Any]) -> Job:
    def logged() -> Any:
        with timed(get_logger("background"), name):  # timings only, no customer data
            return _work()

    return _EXECUTOR.submit(logged)


def submit(name: str, key: Hashable, work: Callable[[], T]) -> Job:
    """The shared job computing ``work()`` for ``key``; started now unless a session already did."""
    return _job(name, key, work)


def ready(job: Job) -> bool:
    """True once the job is done (failed jobs are done too: :meth:`Job.result` raises their error)."""
    if not job.done() and not _served():
        job.run()  # no server to rerun the page later: compute it now (AppTest, bare mode)
        wait([job.future])
    return job.done()


def progress_note(message: str, *jobs: Job) -> None:
    """An info line with a spinner while ``jobs`` run; reruns the whole page once all are done."""
    pending = [job for job in jobs if not job.done()]
    if not pending:
        return

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        if all(job.done() for job in pending):
            st.rerun(scope="app")
        st.info(message, icon=":material/hourglass_top:")

    poll()


def warm_imports() -> None:
    """Import the model libraries once per server, in the background, before a page needs them.

    scikit-learn, SciPy's optimisers and stats take seconds to import on a busy
    machine; the first visit of Segments or Lifetime would otherwise pay for it.
    """
    if _WARM.is_set() or not _served():
        return
    _WARM.set()

    def imports() -> None:
        import crm_core.clusters  # noqa: F401  (scikit-learn)
        import crm_core.clv  # noqa: F401  (SciPy optimisers)
        import crm_core.retention  # noqa: F401

        # The libraries' objects live as long as the server: a full collection need not walk them
        # again (Python's collector holds the GIL, and every session's page waits for it).
        gc.freeze()

    _EXECUTOR.submit(imports)


def start_for_view() -> None:
    """Start the slow work of the sidebar's dataset and period (CLV fit, default clusters); no wait.

    Called on every script run (app.py): a job already submitted, by any session, is not started again.
    """
    if not _served():
        return  # AppTest / bare mode: pages compute what they show when they need it
    from ui.data import customer_summary, dataset_key, selected_period
    from ui.models import view_fit_job
    from ui.segments import start_default_fit

    warm_imports()
    try:
        summary = customer_summary()
        if summary.height:
            view_fit_job()
            start_default_fit(dataset_key(), *selected_period(), summary)
    except Exception:  # a dataset that cannot be read: the page says so (ui.errors.run_page), not app.py
        get_logger("background").warning("slow_work_not_started", exc_info=True)
