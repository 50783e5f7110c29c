"""The worker process that runs slow work (model fits, clusters) away from the server's pages.

A fit run on a thread of the server competes with every session's page run for
the interpreter lock: at 1M orders the Overview took seconds longer while the CLV
fit and the k-means curve ran beside it. Here the work runs in one child process
(``python -m ui.background_worker``) at a lower CPU priority, with one BLAS
thread; the server's worker thread (:mod:`ui.background`) sends it one call at a
time and waits for the answer. The child imports no Streamlit: a call names a
module-level function (pickled by reference) and picklable arguments, and
returns its result or raises its error in the server, as if run there.

The same function on the same frames gives the same numbers in either process;
a child that dies (out of memory, killed) is restarted for the next call, and
the server runs the failed call itself.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import pickle
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

#: Added to the child's nice value: page runs come first, mildly. The process already keeps the fits
#: off the pages' interpreter lock; on a busy machine a larger value starved the fits that a page
#: was waiting for (with 5, a meeting-mode browser test timed out waiting for its slides at load 22).
NICENESS = 2
#: One BLAS/OpenMP thread, as the fits run on the server's worker thread (threadpoolctl) and in the CLI.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_ROOT = Path(__file__).resolve().parent.parent


class WorkerGone(RuntimeError):
    """The child process stopped (killed, out of memory) before it answered."""


class RemoteWorker:
    """The server's handle on the child: started on first use, restarted after it dies; one call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._receive: Connection | None = None

    def start(self) -> None:
        """Start the child now (it imports the model libraries while the pages start)."""
        with self._lock:
            self._ensure()

    def call(self, function: Callable[..., Any], args: tuple) -> Any:
        """``function(*args)`` in the child; its result, or its exception raised here.

        Raises :class:`WorkerGone` when the child dies during the call (it is restarted next time).
        """
        with self._lock:
            self._ensure()
            assert self._send is not None and self._receive is not None
            try:
                self._send.send((function, to_wire(args)))
                ok, value = self._receive.recv()
            except (EOFError, OSError) as error:
                self._stop()
                raise WorkerGone("the background worker process stopped") from error
        if not ok:
            raise value
        return value

    def _ensure(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._stop()
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ui.background_worker", str(to_child_read), str(from_child_write)],
            pass_fds=(to_child_read, from_child_write), stdin=subprocess.DEVNULL, env=env, cwd=_ROOT,
        )
        os.close(to_child_read)
        os.close(from_child_write)
        self._send = Connection(to_child_write, readable=False)
        self._receive = Connection(from_child_read, writable=False)

    def _stop(self) -> None:
        for connection in (self._send, self._receive):
            if connection is not None:
                connection.close()
        self._send = self._receive = None
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


class _Frame:
    """A LazyFrame's rows on the wire, as Arrow IPC bytes.

    Polars writes IPC without the interpreter lock, while pickling a frame holds it throughout:
    with a million rows, every session's page run would stall for a fraction of a second per job.
    """

    def __init__(self, frame: Any, lazy: bool) -> None:
        buffer = io.BytesIO()
        frame.write_ipc(buffer)
        self.ipc, self.was_lazy = buffer.getvalue(), lazy

    def frame(self) -> Any:
        """The frame again: a LazyFrame if one was sent, else a DataFrame."""
        import polars as pl

        frame = pl.read_ipc(io.BytesIO(self.ipc))
        return frame.lazy() if self.was_lazy else frame


def to_wire(args: tuple) -> tuple:
    """``args`` with every frame, also the tables of a Dataset, collected into Arrow IPC for the trip to the child."""
    import dataclasses

    import polars as pl

    from crm_core.dataset import Dataset

    def wire(value: Any) -> Any:
        if isinstance(value, pl.LazyFrame):
            return _Frame(value.collect(), lazy=True)
        if isinstance(value, pl.DataFrame):
            return _Frame(value, lazy=False)
        if isinstance(value, Dataset):
            return dataclasses.replace(value, **{f.name: wire(getattr(value, f.name)) for f in dataclasses.fields(value)
                                                  if isinstance(getattr(value, f.name), pl.LazyFrame)})
        return value

    return tuple(wire(arg) for arg in args)


def from_wire(args: tuple) -> tuple:
    """The child's side of :func:`to_wire`: the frames again, over the received rows."""
    import dataclasses

    from crm_core.dataset import Dataset

    def unwire(value: Any) -> Any:
        if isinstance(value, _Frame):
            return value.frame()
        if isinstance(value, Dataset):
            return dataclasses.replace(value, **{f.name: unwire(getattr(value, f.name)) for f in dataclasses.fields(value)
                                                  if isinstance(getattr(value, f.name), _Frame)})
        return value

    return tuple(unwire(arg) for arg in args)


def _die_with_parent() -> None:
    """Ask Linux to stop this process when the server stops (PR_SET_PDEATHSIG); elsewhere a no-op."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _warm() -> None:
    """Import what the jobs use, before the first call waits for it."""
    import crm_core.clusters  # noqa: F401  (scikit-learn)
    import crm_core.clv  # noqa: F401  (SciPy optimisers)
    import crm_core.customers  # noqa: F401


def serve(receive: Connection, send: Connection) -> None:
    """Answer calls until the server closes the pipe."""
    while True:
        try:
            message = receive.recv_bytes()
        except EOFError:
            return
        try:
            function, args = pickle.loads(message)
            answer = (True, function(*from_wire(args)))
        except Exception as error:  # noqa: BLE001  (handed to the page that reads the result)
            answer = (False, error)
        try:
            send.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as error:  # an unpicklable result or error
            send.send((False, RuntimeError(f"{type(error).__name__} while returning a background result")))


def main(arguments: list[str]) -> None:
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    from crm_core.logging_setup import configure_logging

    configure_logging()  # job timings on stderr, into the server's log
    _warm()
    serve(Connection(int(arguments[0]), writable=False), Connection(int(arguments[1]), readable=False))


if __name__ == "__main__":  # run as ui.background_worker, so pickled classes (_Frame) are this module's
    from ui.background_worker import main as module_main

    module_main(sys.argv[1:])
