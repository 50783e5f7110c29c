"""A small shared thread pool for numpy work on large arrays.

NumPy and SciPy ufuncs release the GIL while they loop, so independent chunks
of one computation (groups of customers, slices of a vector) run in parallel
on threads without copying data to other processes.
"""
from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

if TYPE_CHECKING:  # concurrent.futures (with logging, ~7 ms) loads with the pool: the CLI starts it during the read
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")

WORKERS = min(4, os.cpu_count() or 1)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="crm-core")


# A forked child has none of the pool's threads (crm_core.clv.forked): it starts a pool of its own if it needs one.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.cache_clear)


def submit(func: Callable[..., T], *args) -> Future[T]:
    """Run ``func(*args)`` on the shared pool."""
    return _pool().submit(func, *args)


def map_calls(func: Callable[..., T], argument_tuples: Iterable[tuple]) -> list[T]:
    """``[func(*args) for args in argument_tuples]``, on the pool when there is more than one call."""
    calls = list(argument_tuples)
    if len(calls) <= 1:
        return [func(*args) for args in calls]
    return list(_pool().map(lambda args: func(*args), calls))
