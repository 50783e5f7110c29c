"""The supervisor returns the child's exit code once the child says it is done, without waiting for
its exit (crm_core/ingest/supervisor.py: the done pipe); a child that ends without saying is judged
by its exit status as before."""
from __future__ import annotations

import os
import signal
import time

from crm_core.ingest.supervisor import _say_done, _watch


def _child_that(says: int | None, then_lives: bool) -> tuple[int, int]:
    """A forked child that writes ``says`` on the done pipe (or nothing) and then lives on or exits 3."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        if says is not None:
            _say_done(writer, says)
        if then_lives:
            time.sleep(60)  # killed by the test
        os._exit(3)
    os.close(writer)
    return pid, reader


def test_the_parent_returns_what_the_child_said_while_the_child_still_exits():
    pid, reader = _child_that(says=0, then_lives=True)
    try:
        assert _watch(pid, memory=0, seconds=60, done_pipe=reader) == (0, None)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still running: its exit was not waited for
    finally:
        os.kill(pid, signal.SIGKILL)
        os.close(reader)


def test_a_child_that_ends_without_saying_is_judged_by_its_exit_status():
    pid, reader = _child_that(says=None, then_lives=False)
    try:
        assert _watch(pid, memory=0, seconds=60, done_pipe=reader) == (3, None)
    finally:
        os.close(reader)
