"""A second process for the model fits of a single-purpose program: the CLI's second core.

Threads share one interpreter lock. The purchase models' fits are numpy operations on arrays
of 10^4-10^5 values with Python between them, so two fits on two threads take turns holding
the lock and use about one core between them (measured: Pareto/NBD on a thread beside BG/NBD
and MBG/NBD took as long as all three one after the other). A process has its own interpreter.

:func:`worker` forks one at the start of a command, *before* Polars is loaded (forking a
process that runs Polars' threads is unsafe): a small process that loads numpy and the model
modules only, while the command loads Polars and reads its file, and then waits for calls.
A call (:func:`submit`) sends a module-level function and its arguments, pickled (compressed
histories: tens of thousands of rows, a few hundred kB), and gets the result back the same way
(a fitted model: a few hundred bytes). A process forked later, once the data is loaded, would
need nothing sent, but measured worse: the fork itself takes ~8 ms with the file in memory, and
the copy-on-write faults made the same Pareto/NBD fit a third slower.

Without a worker (a server, a notebook, tests calling the functions), or while it is busy,
:func:`submit` uses the thread pool or the calling thread, and if the worker fails (it died,
its answer is not whole) the call is made here. The same function on the same arguments gives
the same result bit for bit in either process, so the figures never depend on where they ran.
"""
from __future__ import annotations

# Light imports only: this module is loaded in the command's process before the worker is forked, and
# that process loads Polars only after the fork (the CLI's critical path). pickle, concurrent.futures (with
# logging) and crm_core.parallel, ~15 ms between them, are imported where they are used: by then they load
# on the import thread during the file's parse (numpy brings pickle) or in the worker itself.
import contextlib
import itertools
import os
import struct
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

    import numpy as np

T = TypeVar("T")

#: Distinct (x, t_x, T) rows up to which a fit is sent to the worker (the 1M-order bench file: 20k). Larger
#: ones stay in the command's process, whose memory the reader's limit watches (30M orders: 1M rows, a
#: Pareto/NBD fit of several hundred MB).
MAX_ROWS = 200_000
_HEADER = struct.Struct("<Q")  # a message's length in bytes, before the pickled message
#: What the worker loads while it waits (the fits and the intervals), without crm_core.clv's __init__,
#: which loads the whole package and Polars with it.
_WORKER_MODULES = ("crm_core.clv.models", "crm_core.clv.intervals")


class Pending(Generic[T]):
    """A call the worker runs; :meth:`result` waits for it (``concurrent.futures.Future``'s method).

    ``after``: the call whose result is this call's first argument (:func:`submit_chain`)."""

    def __init__(self, worker: _Worker, func: Callable[..., T], args: tuple, number: int,
                 after: Pending | None = None) -> None:
        self._worker, self._func, self._args, self.number, self._after = worker, func, args, number, after
        self._value: tuple[T] | None = None

    def result(self) -> T:
        if self._value is None:
            answer = self._worker.answer(self)
            if answer is not None and answer[0]:
                self._value = (answer[1],)
            else:  # the worker failed: made here, on the same arguments
                args = self._args if self._after is None else (self._after.result(), *self._args)
                self._value = (self._func(*args),)
        return self._value[0]


class _Worker:
    """The forked process and the pipes to it; calls are answered in the order sent."""

    def __init__(self) -> None:
        to_child, self._requests = os.pipe()
        self._answers, from_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(self._requests)
            os.close(self._answers)
            _serve(to_child, from_child)
        os.close(to_child)
        os.close(from_child)
        self._sent: list[Pending] = []  # calls not answered yet, oldest first
        self._kept: dict[int, tuple[int, Any]] = {}  # objects the worker keeps (by id here): (key, the object)
        self._answered: dict[int, tuple[bool, Any] | None] = {}  # by the call's number
        self._numbers = itertools.count()
        self._broken = False
        self.released = False
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None  # the last message's writer

    @property
    def busy(self) -> bool:
        return bool(self._sent)

    def send(self, func: Callable[..., T], args: tuple, after: Pending | None = None) -> Pending[T]:
        """The call sent (pickle raises for what cannot be sent: a lambda, a local function). ``after``: the call
        sent just before, whose result the worker passes as this call's first argument."""
        pending: Pending[T] = Pending(self, func, args, next(self._numbers), after)
        message = self._message(func, args, after is not None)
        self._sent.append(pending)
        # Written by a thread: a message larger than the pipe would otherwise block this one until the
        # worker reads it, and the worker may be writing an answer that waits for this one to read. Each
        # writer waits for the one before it: calls queued back to back reach the worker in the order sent.
        writer = threading.Thread(target=self._write, args=(message, self._writer), daemon=True)
        self._writer = writer
        writer.start()
        return pending

    def _message(self, func: Callable[..., Any], args: tuple, chained: bool) -> bytes:
        """``(new kept objects, func, args, chained)`` pickled, with the kept objects sent before named by their key
        (:func:`_kept_by_worker`: the customers' compressed histories, sent with the fits and again with the
        intervals, a megabyte each time at 1M orders)."""
        import io
        import pickle

        new: dict[int, Any] = {}
        for value in args:
            if _kept_by_worker(value) and id(value) not in self._kept:
                new[len(self._kept) + len(new)] = value
        kept = self._kept

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: Any) -> int | None:
                entry = kept.get(id(obj)) if _kept_by_worker(obj) else None
                return entry[0] if entry is not None and entry[1] is obj else None

        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((new, func, args, chained))
        for key, value in new.items():  # the worker keeps them from this message on (their id stays valid here)
            self._kept[id(value)] = (key, value)
        return buffer.getvalue()

    def _write(self, message: bytes, before: threading.Thread | None) -> None:
        if before is not None:
            before.join()
        with self._lock:  # not while the requests are being closed
            try:
                _write_message(self._requests, message)
            except OSError:
                self._broken = True

    def answer(self, pending: Pending) -> tuple[bool, Any] | None:
        """(ok, result) for ``pending``, reading the answers before it; None when the worker failed."""
        while pending.number not in self._answered:
            oldest = self._sent.pop(0)
            payload = None if self._broken else _read_message(self._answers)
            if payload is None:
                self._broken = True
            self._answered[oldest.number] = None if payload is None else _unpickled(payload)
        return self._answered.pop(pending.number)

    def release(self) -> None:
        """No more calls: the worker ends once it has answered those sent (it exits when its requests end)."""
        if self._writer is not None:  # every message written first
            self._writer.join()
        with self._lock:
            if not self.released:
                self.released = True
                os.close(self._requests)
        self._kept.clear()

    def close(self) -> None:
        """Let the worker end and wait for it: the command's own time and memory then include the worker's
        (what ``/usr/bin/time`` reports of the command)."""
        self.release()
        os.close(self._answers)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


_worker: _Worker | None = None
_in_worker = False  # this process is a worker


@contextlib.contextmanager
def worker() -> Iterator[None]:
    """A worker process for :func:`submit` meanwhile, when this process can fork safely: on a system with
    ``fork``, from the main thread of a process that has not loaded Polars (its threads would be lost in the
    copy); otherwise none (:func:`submit` then uses threads)."""
    global _worker
    if (_worker is not None or "polars" in sys.modules or not hasattr(os, "fork")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    try:
        _worker = _Worker()
    except OSError:  # no process or pipe to spare: threads do it
        yield
        return
    try:
        yield
    finally:
        _worker.close()
        _worker = None


def available() -> bool:
    """Whether a worker process takes calls (inside :func:`worker`, until :func:`release`)."""
    return _worker is not None and not _worker.released


def shares_cores() -> bool:
    """Whether this process and a worker process compute side by side (either of the two, while the worker
    takes calls): each then has about one core, and splitting numpy work over threads only oversubscribes them."""
    return _in_worker or available()


def idle() -> bool:
    """Whether a worker process takes calls (:func:`available`) and has none to answer now."""
    return available() and _worker is not None and not _worker.busy


def release() -> None:
    """Let the worker end now, for a command whose last call to it has been answered: it exits (~5 ms of
    handing back its memory) while the command finishes its output, instead of after it. Later calls
    (:func:`submit`) run on threads, as without a worker; :func:`worker` still waits for the process at its end."""
    if _worker is not None:
        _worker.release()


def submit(func: Callable[..., T], *args: Any) -> Pending[T] | Future[T]:
    """``func(*args)`` on the worker when there is one and it is idle (``func`` is sent by name: a module-level
    function or a bound method); here and now when it is busy or ``func`` cannot be sent (a thread would only
    take turns with this one); without a worker, on the thread pool. All have ``.result()``."""
    import pickle
    from concurrent.futures import Future

    if _worker is None or _worker.released:
        from crm_core import parallel

        return parallel.submit(func, *args)
    if not _worker.busy:
        try:
            return _worker.send(func, args)
        except (pickle.PicklingError, TypeError, AttributeError):  # cannot be sent: computed here
            pass
    done: Future[T] = Future()
    done.set_result(func(*args))
    return done


def submit_chain(first: Callable[..., Any], first_args: tuple, then: Callable[..., T],
                 then_args: tuple) -> tuple[Pending[Any], Pending[T]] | None:
    """``first(*first_args)`` and then ``then(that result, *then_args)``, both on the worker, queued behind the
    calls it is answering: the second call needs no round trip through this process, which meanwhile makes
    other calls of its own. None without a worker, or when the calls cannot be sent (the caller makes them
    as it would without one)."""
    import pickle

    if _worker is None or _worker.released:
        return None
    try:
        before = _worker.send(first, first_args)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    try:
        return before, _worker.send(then, then_args, after=before)
    except (pickle.PicklingError, TypeError, AttributeError):  # the first is on its way: the second is made here
        done: Future[T] = _here_after(before, then, then_args)
        return before, done  # type: ignore[return-value]


def _here_after(before: Pending[Any], then: Callable[..., T], args: tuple) -> Future[T]:
    from concurrent.futures import Future

    done: Future[T] = Future()
    done.set_result(then(before.result(), *args))
    return done


def _kept_by_worker(value: object) -> bool:
    """Whether ``value`` is sent to the worker once and then named by a key: objects of a class that says it is
    never changed once made (``WORKER_KEEPS``, as :class:`crm_core.clv.fitting.Compressed`)."""
    return bool(getattr(type(value), "WORKER_KEEPS", False))


def _unpickled(payload: bytes) -> tuple[bool, Any] | None:
    """The worker's answer, or None when it cannot be read back (the call is then made here)."""
    import pickle

    try:
        return pickle.loads(payload)  # noqa: S301 - our own child's bytes
    except Exception:  # noqa: BLE001
        return None


def _serve(requests: int, answers: int) -> None:
    """The worker: load the model modules, then answer each request until the requests end."""
    import gc
    import importlib
    import io
    import pickle
    import warnings

    global _in_worker
    _in_worker = True
    code = 0
    try:
        # Nothing from here reaches the user's terminal, and the command's output ends when the command ends
        # (a caller reading it to its end does not wait for this process).
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        warnings.simplefilter("ignore")
        gc.freeze()  # what the parent had loaded stays put: collections skip it
        _load_without_package_init()
        for name in _WORKER_MODULES:
            importlib.import_module(name)
        _warm_heap()
        answer: tuple[bool, Any] = (False, None)
        kept: dict[int, Any] = {}  # objects sent once and named by their key in later calls (_Worker._message)

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, key: Any) -> Any:
                return kept[key]

        while True:
            payload = _read_message(requests)
            if payload is None:  # the command closed its end: done
                break
            try:
                new, func, args, chained = _Unpickler(io.BytesIO(payload)).load()  # noqa: S301 - our own parent's
                kept.update(new)
                if chained and not answer[0]:
                    raise ValueError("the call before failed")  # the parent makes both
                answer = (True, func(answer[1], *args) if chained else func(*args))
            except Exception:  # noqa: BLE001 - the parent computes it instead
                answer = (False, None)
            _write_message(answers, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # noqa: BLE001 - the parent sees the pipe end and computes everything itself
        code = 1
    finally:
        os._exit(code)


#: glibc's malloc options (mallopt): numpy's arrays of a fit (up to a few MB each) come from the heap, and the
#: heap is not given back to the system between them.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_WARM_BYTES = 48 * 1024**2  # what a fit of ~20k distinct rows allocates at once, about


def _warm_heap() -> None:
    """Memory for the fits, mapped in while the worker waits anyway.

    A fresh process gives each large array fresh pages and hands them back when the array is freed
    (glibc's defaults for a small heap), so every evaluation of a likelihood faults its memory in
    again: measured, the same Pareto/NBD fit took two and a half times as long in the worker as in
    the command's process, whose heap has grown. Arrays then come from the heap, the heap is kept,
    and its first megabytes are touched once, here."""
    import numpy as np

    keep_heap()
    blocks = [np.ones(_WARM_BYTES // 8 // 8) for _ in range(8)]  # 8 arrays: each under the mmap threshold
    del blocks
    _warm_up_fit()


def keep_heap() -> None:
    """glibc's malloc keeps freed memory for the next arrays (see :func:`_warm_heap`): arrays up to 32 MB come
    from the heap, which keeps up to 512 MB freed. For a process whose data is small (the CLI's worker, and
    ``clv`` when it starts one); elsewhere :func:`hand_back_memory` trims it."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: its own defaults
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024**2)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 1024**2)
        libc.mallopt(_M_TOP_PAD, 16 * 1024**2)


def hand_back_memory() -> None:
    """Give the C heap's freed pages back to the system (glibc's ``malloc_trim``; nothing elsewhere). NumPy's arrays
    under 32 MB live on that heap, which keeps them for reuse once freed (see :func:`keep_heap`): after the
    lifetime-value fit of 300k customers, 0.1 GB stayed resident that the report's findings never used again."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):  # no such function, or no C library by name
        ctypes.CDLL(None).malloc_trim(0)


def _warm_up_fit() -> None:
    """One small Pareto/NBD fit (:func:`warm_up_histories`): the first real fit was still a third slower than
    the next ones without it (measured 62 against 48 ms)."""
    from crm_core.clv.fitting import compress_rows
    from crm_core.clv.pareto_nbd import ParetoNBDModel

    ParetoNBDModel().fit_compressed(compress_rows(*warm_up_histories(), inverse=False))


def warm_up_histories(customers: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) of customers simulated from Pareto/NBD (r 0.5, alpha 5, s 0.8, beta 20; whole days): with
    the defaults a fit converges by Newton, without the L-BFGS fallback and its import."""
    import numpy as np

    rng = np.random.default_rng(seed)
    age = np.round(rng.uniform(30.0, 80.0, customers) * 7.0) / 7.0
    rate, leaves = rng.gamma(0.5, 1 / 5, customers), rng.exponential(1.0 / rng.gamma(0.8, 1 / 20, customers))
    active = np.minimum(leaves, age)
    x = rng.poisson(rate * active).astype(float)
    recency = np.where(x > 0, np.round(active * rng.beta(np.maximum(x, 1.0), 1.0) * 7.0) / 7.0, 0.0)
    return x, recency, age


def _load_without_package_init() -> None:
    """Make ``crm_core.clv`` importable in the worker without running its ``__init__`` (which loads every
    module of the package and Polars): a bare package module with the same path. The worker only ever
    imports the model modules from it; unpickled results name the same modules in the parent."""
    if "crm_core.clv" in sys.modules:
        return
    package = types.ModuleType("crm_core.clv")
    package.__path__ = [str(Path(__file__).resolve().parent / "clv")]
    sys.modules["crm_core.clv"] = package


def _write_message(fd: int, payload: bytes) -> None:
    message = memoryview(_HEADER.pack(len(payload)) + payload)
    while message:
        message = message[os.write(fd, message):]


def _read_message(fd: int) -> bytes | None:
    """A whole message, or None when the pipe ended first."""
    header = _read_exactly(fd, _HEADER.size)
    return None if header is None else _read_exactly(fd, _HEADER.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        try:
            part = os.read(fd, min(left, 1 << 20))
        except OSError:
            return None
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)

