"""Slow work (model fits, clusters) run once per dataset version, in the background, for every session.

A job is named by what it computes and a key of everything its result depends on
(:class:`ui.data.DatasetKey`, period, settings). The first session that asks
submits it to one worker thread; every later ask, from any session, gets the same
:class:`~concurrent.futures.Future` (held by ``st.cache_resource``). Pages show
what is ready and, for a job still running, a progress note that polls (a
fragment with ``run_every``) and reruns the page once the result is there.

Without a server (AppTest, bare mode) nobody would rerun the page, so
:func:`ready` waits for the job there: the tests see the same finished page.
"""
from __future__ import annotations

import contextlib
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

class _Worker:
    """One daemon thread running jobs in order, at a lower CPU priority than the pages.

    A daemon (unlike ThreadPoolExecutor's workers) never holds up the server's
    shutdown; the lower priority and single BLAS/OpenMP thread keep a core free
    for the sessions' page runs while a fit is under way.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._jobs.put((future, work))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crm-slow-work", daemon=True)
                self._thread.start()
        return future

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # nice the thread only (Linux: a thread is a task)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        while True:
            future, work = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with _one_thread():
                    future.set_result(work())
            except BaseException as error:  # noqa: BLE001  (the page that reads the result shows it)
                future.set_exception(error)


def _one_thread() -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


#: Added to the worker thread's nice value: page runs come first.
NICENESS = 10
_EXECUTOR = _Worker()
#: Seconds between two looks at a running job.
POLL_S = 0.5
_WARM = threading.Event()


def _served() -> bool:
    """True under ``streamlit run``; AppTest installs a mock runtime, bare mode has none."""
    return runtime.exists() and type(runtime.get_instance()) is runtime.Runtime


@st.cache_resource(max_entries=64, show_spinner=False)
def _future(name: str, key: Hashable, _work: Callable[[], Any]) -> Future:
    def logged() -> Any:
        with timed(get_logger("background"), name):  # timings only, no customer data
            return _work()

    return _EXECUTOR.submit(logged)


def submit(name: str, key: Hashable, work: Callable[[], T]) -> Future:
    """The shared job computing ``work()`` for ``key``; started now unless a session already did."""
    return _future(name, key, work)


def ready(future: Future) -> bool:
    """True once the job is done (failed jobs are done too: :meth:`Future.result` raises their error)."""
    if not future.done() and not _served():
        wait([future])  # no server to rerun the page later: wait (AppTest, bare mode)
    return future.done()


def progress_note(message: str, *futures: Future) -> None:
    """An info line with a spinner while ``futures`` run; reruns the whole page once all are done."""
    pending = [future for future in futures if not future.done()]
    if not pending:
        return

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        if all(future.done() for future in pending):
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
    summary = customer_summary()
    if summary.height:
        view_fit_job()
        start_default_fit(dataset_key(), *selected_period(), summary)
