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
import heapq
import itertools
import os
import sys
import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, wait
from typing import Any, TypeVar

import streamlit as st
from streamlit import runtime

from crm_core.logging_setup import get_logger
from ui.background_jobs import timed_call
from ui.background_worker import RemoteWorker, WorkerGone

T = TypeVar("T")

class Job:
    """One piece of slow work and its :class:`Future`; run once, by the worker or by a page that needs it now.

    A page that must have the result (:meth:`result`) runs the work itself when
    the worker has not started it yet, instead of waiting behind other jobs.
    """

    def __init__(self, function: Callable[..., Any], args: tuple, remote: bool = False) -> None:
        self.future: Future = Future()
        self.function, self.args = function, args
        self.remote = remote  # run in the worker process (a function of ui.background_jobs, under a server)
        self._lock = threading.Lock()
        self._claimed = False

    def claim(self) -> bool:
        """True for the one caller that gets to run the work (the worker or a page)."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
        self.future.set_running_or_notify_cancel()
        return True

    def finish(self, compute: Callable[[], Any]) -> None:
        """Set the result of ``compute()`` (or its error) once :meth:`claim` returned True."""
        try:
            self.future.set_result(compute())
        except BaseException as error:  # noqa: BLE001  (the page that reads the result shows it)
            self.future.set_exception(error)

    def run(self) -> None:
        """Do the work here unless someone already took it."""
        if self.claim():
            self.finish(lambda: self.function(*self.ready_args()))

    def ready_args(self) -> tuple:
        """The arguments, a :class:`Job` among them replaced by its result (computed here if need be)."""
        return tuple(arg.result() if isinstance(arg, Job) else arg for arg in self.args)

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """The result: computed here if the worker has not started, else waited for; raises the job's error."""
        self.run()
        return self.future.result()


class _Worker:
    """One daemon thread handing jobs to the worker process (:mod:`ui.background_worker`), newest view first.

    Jobs are taken by generation (:meth:`new_generation`, once per script run), newest first, and in
    order of submission within one: after an upload the new dataset's jobs run before the ones the
    previous dataset still had queued. A job's :class:`Job` arguments run before it. A job starts once
    no page run is under way (or after :data:`QUIET_WAIT_S`): an upload's Overview draws before the
    fits start. Without the worker process (tests) the thread runs the job itself, niced, with one
    BLAS/OpenMP thread. A daemon (unlike ThreadPoolExecutor's workers) never holds up the server's shutdown.
    """

    def __init__(self) -> None:
        self._queued: list[tuple[int, int, Job]] = []  # a heap of (-generation, sequence, job)
        self._ready = threading.Condition()
        self._sequence = itertools.count()
        self.generation = 0
        self._thread: threading.Thread | None = None
        self._remote = RemoteWorker()

    def submit(self, job: Job, first: bool = False) -> Job:
        """Queue ``job`` with the current generation (``first``: before every other, for the server's warm-up)."""
        with self._ready:
            heapq.heappush(self._queued, (-sys.maxsize if first else -self.generation, next(self._sequence), job))
            self._ready.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crm-slow-work", daemon=True)
                self._thread.start()
        return job

    def _next(self) -> Job:
        with self._ready:
            self._ready.wait_for(lambda: bool(self._queued))
            return heapq.heappop(self._queued)[2]

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # nice the thread only (Linux: a thread is a task)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        while True:
            job = self._next()
            _PAGES.wait_quiet(QUIET_WAIT_S)
            self._dispatch(job)

    def _dispatch(self, job: Job) -> None:
        """Run ``job`` here or in the worker process, its job arguments first; unless a page took it."""
        for argument in job.args:
            if isinstance(argument, Job):
                self._dispatch(argument)
        if not job.claim():
            return  # a page needed it first and ran it (or runs it)
        if job.remote:
            job.finish(lambda: self._in_process(job))
        else:
            with _one_thread():
                job.finish(lambda: job.function(*job.ready_args()))

    def _in_process(self, job: Job) -> Any:
        args = job.ready_args()
        try:
            return self._remote.call(job.function, args)
        except WorkerGone:
            get_logger("background").warning("worker_process_stopped")
            with _one_thread():
                return job.function(*args)

    def new_generation(self) -> None:
        """Jobs submitted from now on run before those queued earlier."""
        with self._ready:
            self.generation += 1

    def start_process(self) -> None:
        """Start the worker process from the worker thread (it lives as long as that thread)."""
        self.submit(Job(self._remote.start, ()), first=True)


class _PageRuns:
    """How many page runs are under way, server-wide; the worker waits for none before it starts a job."""

    def __init__(self) -> None:
        self._count = 0
        self._quiet = threading.Condition()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._quiet:
            self._count += 1
        try:
            yield
        finally:
            with self._quiet:
                self._count -= 1
                self._quiet.notify_all()

    def wait_quiet(self, timeout: float) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: self._count == 0, timeout=timeout)


def _one_thread() -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


#: Added to the worker thread's nice value (jobs run there only without the worker process).
NICENESS = 5
#: Longest wait of a job for page runs to end (with many sessions there is always one under way).
QUIET_WAIT_S = 3.0
_PAGES = _PageRuns()
_EXECUTOR = _Worker()
#: Seconds between two looks at a running job.
POLL_S = 0.5
_WARM = threading.Event()


def page_run() -> contextlib.AbstractContextManager:
    """Wrap a page's run (app.py): background jobs wait until no page is running before they start."""
    return _PAGES.running()


def _real_server() -> bool:
    """A real ``streamlit run`` (not AppTest's mock runtime): jobs go to the worker process."""
    return runtime.exists() and type(runtime.get_instance()) is runtime.Runtime


def _served() -> bool:
    """True when a server reruns pages (AppTest installs a mock runtime, bare mode has none). Tests stand a
    server in by patching this alone; jobs then run on the worker thread, as :func:`_real_server` is False."""
    return _real_server()


@st.cache_resource(max_entries=64, show_spinner=False)
def _job(name: str, key: Hashable, _function: Callable[..., Any], _args: tuple) -> Job:
    return _EXECUTOR.submit(Job(timed_call, (name, _function, *_args), remote=_real_server() and _is_remote(_function)))


def _is_remote(function: Callable[..., Any]) -> bool:
    """Only the functions of :mod:`ui.background_jobs` go to the worker process (it imports no Streamlit)."""
    return getattr(function, "__module__", "") == "ui.background_jobs"


def submit(name: str, key: Hashable, function: Callable[..., T], *args: Any) -> Job:
    """The shared job computing ``function(*args)`` for ``key``; started now unless a session already did.

    ``key`` names everything the result depends on (``args`` are not hashed). Functions of
    :mod:`ui.background_jobs` run in the worker process under a server, others on the worker thread.
    """
    return _job(name, key, function, args)


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

    SciPy's optimisers and pandas take seconds to import on a busy machine; the first visit of Lifetime
    (and every session's first table) would otherwise wait for them. scikit-learn (seconds more, with SciPy's stats and pandas) is needed in the
    server only to describe clusters once their fit is done (the Segments page's clusters tab): it is
    imported after the view's other jobs (:func:`_warm_cluster_imports`), not while the first visitors'
    pages run, and no page waits for it at import time (:mod:`crm_core.clusters` imports it lazily).
    """
    if _WARM.is_set() or not _served():
        return
    _WARM.set()

    def imports() -> None:
        import crm_core.clusters  # noqa: F401  (NumPy and Polars; scikit-learn when a fit is described)
        import crm_core.clv  # noqa: F401  (SciPy optimisers)
        import crm_core.retention  # noqa: F401

        # The libraries' objects live as long as the server: a full collection need not walk them
        # again (Python's collector holds the GIL, and every session's page waits for it).
        gc.freeze()

    # Now, not behind the worker's wait for a quiet moment: every session's first table (st.dataframe
    # converts through pandas) waits for the one import of pandas, under its module lock.
    threading.Thread(target=_import_pandas, name="crm-warm-pandas", daemon=True).start()
    if _real_server():  # not under a test's stand-in server (its jobs run on the thread)
        _EXECUTOR.start_process()  # the worker process imports the same libraries meanwhile
    _EXECUTOR.submit(Job(imports, ()), first=True)  # unpickling a fit's result needs them too


def _import_pandas() -> None:
    """pandas, for Streamlit's tables (started by :func:`warm_imports` on the server's first script run)."""
    import pandas  # noqa: F401


def _cluster_imports() -> None:
    """scikit-learn's estimators, for :func:`crm_core.clusters.describe_clusters` in the server."""
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics  # noqa: F401

    gc.freeze()


_CLUSTER_WARM = threading.Event()


def _warm_cluster_imports() -> None:
    """Queue :func:`_cluster_imports` once per server, behind the jobs already queued."""
    if _CLUSTER_WARM.is_set():
        return
    _CLUSTER_WARM.set()
    _EXECUTOR.submit(Job(_cluster_imports, ()))


def start_for_view() -> None:
    """Start the slow work of the sidebar's dataset and period; no wait.

    In the order pages need it: customer summary, CLV fit, default clusters, driver profiles and
    predictions, key findings.

    Called on every script run (app.py): a job already submitted, by any session, is not started again.
    The jobs get the frames they need (lazily: the worker collects them), not the customer summary:
    the worker process computes that itself, so the page's run does not wait for it.
    """
    if not _served():
        return  # AppTest / bare mode: pages compute what they show when they need it
    from ui.data import dataset_key, selected_period
    from ui.present import finding_settings

    warm_imports()
    try:  # nothing is computed here: the jobs wait until the page has run (an upload's Overview first)
        key, (start, end) = dataset_key(), selected_period()
        settings = finding_settings()
        # Text only, so Streamlit hashes the view's name cheaply on every run (a dataclass is deep-copied).
        view = (key.dataset_id, key.version, key.rows, start.isoformat(), end.isoformat(), repr(settings))
        _start_view(view, key, start, end, settings)
    except Exception:  # a dataset that cannot be read: the page says so (ui.errors.run_page), not app.py
        get_logger("background").warning("slow_work_not_started", exc_info=True)


@st.cache_resource(max_entries=64, show_spinner=False)
def _start_view(view: tuple[str, ...], _key: Any, _start: Any, _end: Any, _settings: Any) -> bool:
    """Submit the jobs of one view (``view`` names it: dataset, period, settings), once per server.

    Every script run of every session calls :func:`start_for_view`; asking each job's cache for its
    job again cost every page run a dozen key hashes. A view's jobs are submitted on its first run
    (a page asks for a job it needs itself if it is no longer held); an error is not kept (Streamlit
    does not cache exceptions), so the next run tries again.
    """
    from ui.data import summary_job
    from ui.drivers import predictions_job, profiles_job
    from ui.models import view_fit_job
    from ui.present import findings_job
    from ui.segments import start_default_fit

    _EXECUTOR.new_generation()  # this view's jobs before those another dataset or period still has queued
    summary_job(_key, _start, _end)  # most pages read it: first in the queue
    view_fit_job()
    start_default_fit(_key, _start, _end)
    profiles_job(_key, _start, _end)
    predictions_job(_key, _start, _end)
    findings_job(_key, _settings)  # Meeting mode and Deck
    _warm_cluster_imports()  # last: only the clusters tab needs it, once its fit is done
    return True
