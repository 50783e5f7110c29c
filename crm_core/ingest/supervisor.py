"""Run a whole CLI command under the reader's memory and time limits, at the cost of a fork.

The sandbox (:mod:`crm_core.ingest.sandbox`) protects the server by reading
files in a worker process; starting that worker costs a fresh interpreter,
re-importing Polars and handing the rows back (a third of a second and more
per read). A CLI command has nothing to protect but itself, so
:func:`supervised` forks *before* Polars is imported: the child runs the
command with its address space capped (as the worker is) and reads every file
in-process; the parent, a bare interpreter, watches the child's resident memory
and the clock exactly as the sandbox watches its worker, and turns a kill, an
abort or a crash into the same one-line messages. Nothing is re-imported and no
row crosses a process boundary. ``summary`` forks its child as the program starts (:func:`fork_early`):
the child loads Polars while this process reads the command line.

Only stdlib modules are imported here: forking a process that runs Polars'
thread pool is unsafe, so the caller must not have imported Polars yet
(:func:`supervised` runs the command unsupervised-but-sandboxed otherwise).
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Callable, NamedTuple, cast

from crm_core.ingest import limits, prefetch
from crm_core.ingest.messages import one_line

if TYPE_CHECKING:
    import argparse

#: Set in the supervised child: the sandbox then reads every file in-process.
SUPERVISED_ENV = "CRM_INGEST_SUPERVISED"
_POLL_SECONDS = 0.02
OUT_OF_MEMORY = "The command ran out of memory. Use a smaller file (a shorter period) or a machine with more memory."


#: Address space the child may reserve beyond the memory limit. A whole command (a report, a deck, the
#: model fits) reserves more than a read: measured 2.7 GB of address space at 0.7 GB resident (a report on 3M
#: orders) and 4 GB at 0.8 GB (a deck on 30M), with the allocators below. The resident limit stays the guard.
COMMAND_ADDRESS_HEADROOM = 4 * 1024**3


def supervised(command: Callable[[], int], path: object = None, time_scale: float = 1.0,
               hand_back_at_once: bool = False) -> int:
    """Run ``command`` in a forked child under the ingest limits; its exit code (2 with one line on a limit or crash).

    The child's stderr goes to a temporary file the parent copies out when the
    child exits by itself (its own one-line error), and drops when the child is
    killed or aborts (a Rust allocation failure or panic text), printing its own line.
    ``path`` (the file read) adds its share to the time limit (:func:`limits.timeout_seconds`);
    ``time_scale`` multiplies it for a command whose work after the read takes several times the read;
    ``hand_back_at_once`` gives freed pages back to the system at once (see :data:`DIRTY_AT_ONCE`).
    """
    if "polars" in sys.modules or not hasattr(os, "fork"):
        return command()  # the read still goes through the sandbox's worker
    size = limits.file_bytes(path)
    memory, seconds = limits.memory_limit_bytes(), limits.timeout_seconds(size) * time_scale
    sys.stdout.flush()
    sys.stderr.flush()
    packed = limits.is_packed(path)
    # While the child loads Polars, this process scans the file for bare CRs on the other core (see prefetch).
    scan = not packed and prefetch.worth_it(path)
    frugal = size >= FRUGAL_FROM_BYTES or packed or hand_back_at_once
    early = _take_early(frugal, hand_back_at_once)
    if early is not None:  # forked when the program started, loading Polars already: it gets the command line
        with early.stderr as child_stderr:
            early.hand_over(path if scan else None)
            return _outcome(early.pid, child_stderr, memory, seconds)
    answer_read, answer_write = os.pipe() if scan else (-1, -1)
    with tempfile.TemporaryFile() as child_stderr:
        pid = os.fork()
        if pid == 0:  # the child: run the command and exit, never return into the parent's stack
            if scan:
                os.close(answer_write)
                prefetch.listen(str(path), answer_read)
            os._exit(_child(command, child_stderr.fileno(), memory, frugal, hand_back_at_once))
        if scan:
            os.close(answer_read)
            prefetch.send(str(path), answer_write)
        return _outcome(pid, child_stderr, memory, seconds)


def _outcome(pid: int, child_stderr: IO[bytes], memory: int, seconds: float) -> int:
    """Watch the child under the limits; its exit code and its own stderr, or 2 and this process's one line."""
    code, message = _watch(pid, memory, seconds)
    if message is None:  # exited by itself: its stderr holds its own message, if any
        child_stderr.seek(0)
        sys.stderr.write(child_stderr.read(64 * 1024).decode("utf-8", "replace"))
        return code
    print(one_line(f"error: {message}"), file=sys.stderr)
    return 2


#: Polars' allocator (jemalloc, read when Polars is first imported): address space handed back to the system
#: with the memory instead of kept for reuse. Kept, it grew to 5 GB of address space around 1.2 GB resident
#: (a report on 3M orders), past the child's cap while far under the memory limit. A user's setting wins.
JEMALLOC_CONF = ("_RJEM_MALLOC_CONF", "retain:false,muzzy_decay_ms:0")
#: Added for a command that builds and drops tables of millions of customers one after the other (rows read in
#: batches): freed pages handed back at once rather than after ten seconds. Kept ten seconds, one step's freed
#: pages stayed resident under the next (a report on 3M orders read in batches: 600-670 MB between findings,
#: 360-400 MB without them).
DIRTY_AT_ONCE = ",dirty_decay_ms:0"
#: Smaller files (the ones not read frugally): Polars' memory in transparent huge pages where the system offers
#: them on request (``madvise``, as on most Linux distributions). A command on 1M orders touches some 150 MB afresh
#: (the file's bytes, the parsed columns, the totals' intermediates); in 4 KB pages that is about 40,000 page faults,
#: and on a virtual machine each costs microseconds of system time: a tenth of the command. In 2 MB pages the faults
#: are a few hundred, for about 20 MB more resident memory. A user's setting wins; where the system has no
#: transparent huge pages jemalloc ignores it. Only while the system has free 2 MB blocks to spare
#: (:func:`huge_pages_to_spare`): a huge page asked for when there is none makes the kernel compact memory
#: first (the ``defrag=madvise`` default), and such stalls were seen to cost 0.3 s (docs/clv.md, session 7).
HUGE_PAGES = "thp:always"
#: Memory the system must have free in huge-page blocks for :data:`HUGE_PAGES` (a command on a file under
#: :data:`FRUGAL_FROM_BYTES` touches 150-250 MB).
SPARE_HUGE_BYTES = 512 * 1024**2
_HUGE_PAGE_SIZE = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
#: glibc's malloc arenas (numpy, scipy, Python): two, as for the sandbox's worker (MALLOC_ARENA_MAX=2), not
#: one per thread, each reserving 64 MB of address space.
M_ARENA_MAX, ARENAS = -8, 2


def huge_pages_to_spare(buddyinfo: str = "/proc/buddyinfo", wanted: int = SPARE_HUGE_BYTES) -> bool:
    """Whether the kernel has at least ``wanted`` bytes free in blocks of a huge page or more, so that huge pages
    come without compacting memory (``/proc/buddyinfo``: per zone, the free blocks of 2^order pages). False where
    it cannot tell."""
    try:
        with open(_HUGE_PAGE_SIZE) as handle:
            huge = int(handle.read())
        with open(buddyinfo) as handle:
            lines = handle.read().splitlines()
        page = os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return False
    huge_order = max(0, (huge // page).bit_length() - 1)  # 2 MB of 4 KB pages: order 9
    found = 0
    for line in lines:
        counts = line.split()[4:]  # "Node 0, zone Normal" then the free blocks of order 0, 1, ...
        with contextlib.suppress(ValueError):
            found += sum(int(count) << (order - huge_order) for order, count in enumerate(counts) if order >= huge_order)
    return found * huge >= wanted


def _frugal_allocators(hand_back_at_once: bool = False) -> None:
    """Allocators that keep little address space beyond what they use (see :data:`JEMALLOC_CONF`)."""
    name, setting = JEMALLOC_CONF
    os.environ.setdefault(name, setting + (DIRTY_AT_ONCE if hand_back_at_once else ""))
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).mallopt(M_ARENA_MAX, ARENAS)


#: Files from this size, and compressed or binary ones of any size, get the frugal allocators (a report on 2M
#: orders, 59 MB, needs them). Smaller text files keep the allocators' defaults: memory kept for reuse is not
#: faulted in again, and 1M orders (25 MB) stay as fast.
FRUGAL_FROM_BYTES = 32 * 1024**2


def _child(command: Callable[[], int], stderr_fd: int, memory: int, frugal: bool = True,
           hand_back_at_once: bool = False) -> int:
    _child_settings(stderr_fd, memory, frugal, hand_back_at_once)
    return _child_runs(command)


def _child_settings(stderr_fd: int, memory: int, frugal: bool, hand_back_at_once: bool = False) -> None:
    """The child's stderr, allocators and address-space cap: set before it imports Polars."""
    os.dup2(stderr_fd, 2)
    os.environ[SUPERVISED_ENV] = "1"
    if frugal:
        _frugal_allocators(hand_back_at_once)
    elif huge_pages_to_spare():
        os.environ.setdefault(JEMALLOC_CONF[0], HUGE_PAGES)
    if memory:
        cap = memory + COMMAND_ADDRESS_HEADROOM
        # The soft limit caps the command; the hard one stays, so that a program the command starts
        # (Chromium printing a deck's chart, see :func:`uncapped`) can lift the cap it would inherit.
        resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))


def _child_runs(command: Callable[[], int]) -> int:
    """``command``'s exit code, with the CLI's contract: one line on stderr for anything unexpected."""
    code = 2
    try:
        code = command()
    except MemoryError:
        print(one_line(f"error: {OUT_OF_MEMORY}"), file=sys.stderr)
    except BaseException as error:  # noqa: BLE001 - the CLI contract: one line, never a traceback
        print(one_line(f"error: Unexpected error ({type(error).__name__}). Please report it with the command you ran."),
              file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


@contextlib.contextmanager
def uncapped() -> Iterator[None]:
    """The address-space cap lifted (to the hard limit) while a supervised command starts a program that
    inherits it (Chromium printing a deck's chart): Chromium reserves tens of GB of address space it never
    touches, so it cannot start under the cap. The command only waits for it meanwhile. (A ``preexec_fn``
    would do it in the program alone, but is unsafe in a process running Polars' threads.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _watch(pid: int, memory: int, seconds: float) -> tuple[int, str | None]:
    """Wait for the child, killing it beyond the limits: (its exit code, None) when it exited
    by itself, else (2, the message for the user)."""
    deadline = time.monotonic() + seconds
    with _exit_signal(pid) as wait_a_moment:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                return (code, None) if code >= 0 else (2, limits.crash_message(code))
            message = None
            if memory and limits.resident_bytes(pid) > memory:
                message = limits.TOO_BIG.format(limit=limits.gigabytes(memory))
            elif time.monotonic() > deadline:
                message = limits.TOO_SLOW.format(seconds=limits.seconds_label(seconds))
            if message:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return 2, message
            wait_a_moment()


@contextlib.contextmanager
def _exit_signal(pid: int) -> Iterator[Callable[[], None]]:
    """A pause of at most one poll interval that ends as soon as the child exits (a pidfd
    becomes readable then), so a command's result is not held back by the polling; a plain
    sleep where pidfds are not available."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield lambda: time.sleep(_POLL_SECONDS)
        return

    def until_exit_or_poll() -> None:
        select.select([pidfd], [], [], _POLL_SECONDS)

    try:
        yield until_exit_or_poll
    finally:
        os.close(pidfd)


# ---------------------------------------------------------------- the child forked when the program starts

#: Commands whose ``run`` is ``supervised(command, args.path)`` alone: the CLI forks their child as the program
#: starts (:func:`fork_early`), so that the child loads Polars while this process reads the command line.
EARLY_COMMANDS = ("summary",)


class _Early(NamedTuple):
    """The child forked by :func:`fork_early`, waiting for its command line."""

    pid: int
    command: str
    arguments: int  # pipe: the parsed command line, as JSON (closed without a word: not needed)
    answer: int  # pipe: the bare-CR scan's answer (see prefetch)
    stderr: IO[bytes]
    frugal: bool

    def hand_over(self, scanned: object) -> None:
        """Send the command line (noted by :func:`note_args`), then the scan of ``scanned`` (None: no scan)."""
        payload = _noted_args or b""
        with contextlib.suppress(OSError):
            _write_all(self.arguments, payload)
        with contextlib.suppress(OSError):
            os.close(self.arguments)
        if scanned is not None:
            prefetch.send(str(scanned), self.answer)
        else:
            with contextlib.suppress(OSError):
                os.close(self.answer)


_early: _Early | None = None
_noted_args: bytes | None = None


def fork_early(argv: list[str]) -> None:
    """Fork the supervised child of ``argv``'s command at once, when it is one of :data:`EARLY_COMMANDS`.

    A command's child imports Polars, a tenth of a second on one core, and until now it was forked after this
    process had imported argparse, built the command's parser and read the command line: 10-20 ms the child waited
    for (1M orders). Forked first, the child loads Polars and the command's module meanwhile, then waits for the parsed command
    line; :func:`supervised` hands it over and watches the child as it watches one it forks itself (same limits,
    same messages). Nothing the child does before that depends on the file, except its allocators' setting, which
    :func:`supervised` checks: a child set up otherwise than it would set one up is killed and a new one forked.
    Help (``-h``), a command line argparse refuses, or a command that does not reach :func:`supervised`:
    :func:`discard_early` kills the waiting child (it never writes a byte to stdout)."""
    global _early
    command = argv[0] if argv else None
    if (command not in EARLY_COMMANDS or "-h" in argv or "--help" in argv or _early is not None
            or "polars" in sys.modules or not hasattr(os, "fork")):
        return
    # The file's size decides the allocators (see _child): any word of the command line naming a file that would
    # make them frugal makes the child frugal; supervised() compares with the real path's.
    frugal = any(limits.file_bytes(word) >= FRUGAL_FROM_BYTES or limits.is_packed(word)
                 for word in argv[1:] if not word.startswith("-"))
    memory = limits.memory_limit_bytes()
    sys.stdout.flush()
    sys.stderr.flush()
    arguments_read, arguments_write = os.pipe()
    answer_read, answer_write = os.pipe()
    child_stderr = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # never returns into the program
        os.close(arguments_write)
        os.close(answer_write)
        os._exit(_early_child(command, arguments_read, answer_read, child_stderr.fileno(), memory, frugal))
    os.close(arguments_read)
    os.close(answer_read)
    _early = _Early(pid, command, arguments_write, answer_write, child_stderr, frugal)


def note_args(args: object) -> None:
    """The parsed command line, for the early child (kept until :func:`supervised` hands it over)."""
    global _noted_args
    if _early is None:
        return
    values = {key: value for key, value in vars(args).items() if key != "run"}
    try:
        _noted_args = json.dumps(values).encode()
    except (TypeError, ValueError):  # not plain values: the child is not used
        _noted_args = None


def _take_early(frugal: bool, hand_back_at_once: bool) -> _Early | None:
    """The early child, when it can run this command: set up as :func:`supervised` would set up its child, and
    given a command line; otherwise it is killed (and None)."""
    global _early
    early = _early
    if early is None:
        return None
    if _noted_args is None or early.frugal != frugal or hand_back_at_once:
        discard_early()
        return None
    _early = None
    return early


def discard_early() -> None:
    """Kill the early child when it was not handed a command (help, an error, another way to run the command)."""
    global _early, _noted_args
    early, _early, _noted_args = _early, None, None
    if early is None:
        return
    with contextlib.suppress(OSError):
        os.kill(early.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(early.pid, 0)
    for fd in (early.arguments, early.answer):
        with contextlib.suppress(OSError):
            os.close(fd)
    early.stderr.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _early_child(command: str, arguments: int, answer: int, stderr_fd: int, memory: int, frugal: bool) -> int:
    """The early child: set up as :func:`_child`, load the command's module and Polars, wait for the command line
    and run the command as the program would (in this process: it is the supervised one). Exits quietly when the
    program closes the pipe without a word."""
    _child_settings(stderr_fd, memory, frugal)
    import importlib

    try:  # what the command imports first; should it fail, the command's own import raises it where it is used
        module = importlib.import_module(f"crm_core.commands.{command}")
        import polars  # noqa: F401
    except BaseException:  # noqa: BLE001
        module = None
    try:
        payload = _read_all(arguments)
    except OSError:
        payload = b""
    if not payload:  # the program runs the command another way (or not at all)
        return 0
    from types import SimpleNamespace

    def run() -> int:
        loaded = module or importlib.import_module(f"crm_core.commands.{command}")
        # The parsed values as attributes, as argparse gives them (argparse itself is not needed here).
        args = cast("argparse.Namespace", SimpleNamespace(**json.loads(payload), run=loaded.run))
        if isinstance(getattr(args, "path", None), str):
            prefetch.listen(args.path, answer)
        from crm_core.commands.common import run_reporting_errors

        return run_reporting_errors(lambda: args.run(args), args)

    return _child_runs(run)
