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
row crosses a process boundary.

Only stdlib modules are imported here: forking a process that runs Polars'
thread pool is unsafe, so the caller must not have imported Polars yet
(:func:`supervised` runs the command unsupervised-but-sandboxed otherwise).
"""
from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Callable

from crm_core.ingest import limits, prefetch
from crm_core.ingest.messages import one_line

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
    answer_read, answer_write = os.pipe() if scan else (-1, -1)
    with tempfile.TemporaryFile() as child_stderr:
        pid = os.fork()
        if pid == 0:  # the child: run the command and exit, never return into the parent's stack
            if scan:
                os.close(answer_write)
                prefetch.listen(str(path), answer_read)
            frugal = size >= FRUGAL_FROM_BYTES or packed or hand_back_at_once
            os._exit(_child(command, child_stderr.fileno(), memory, frugal, hand_back_at_once))
        if scan:
            os.close(answer_read)
            prefetch.send(str(path), answer_write)
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
