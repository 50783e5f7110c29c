"""Benchmark harness: each measured step runs in a fresh process.

A fresh process per step gives an honest peak RSS (``ru_maxrss`` of the
child) and keeps one step's caches from helping another. Figures are printed
as ratios against the baseline measured in the same run.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from pathlib import Path
from typing import Any, Callable

OUT = Path(__file__).resolve().parent / "out"


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces): field 0 is the state, 1 the parent's id
    (Linux; OSError when the process has ended or there is no /proc)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds a process has used so far, every thread; with ``children``, also those of
    the children it has waited for: a figure the machine's load does not inflate."""
    fields = stat_fields(pid)
    return sum(int(value) for value in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> set[int]:
    """``root`` and every process descending from it (Linux /proc; empty when ``root`` is not running)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(stat_fields(int(entry))[1])
            except (OSError, ValueError, IndexError):  # ended meanwhile
                continue
    if root not in parents:
        return set()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return tree


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM belongs to the process's own address space, so unlike ``ru_maxrss``
    (which Linux carries over fork and exec) it does not include the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(func: Callable[..., Any], args: tuple, queue: mp.Queue) -> None:
    start = time.perf_counter()
    result = func(*args)
    elapsed = time.perf_counter() - start
    queue.put((elapsed, peak_rss_mb(), result))


def measure(func: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """Run ``func(*args)`` in a fresh process; return (seconds, peak RSS MB, result).

    ``func`` must be a module-level function; its result must be picklable
    (return something small, e.g. a checksum or a dict of parameters).
    """
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(func, args, queue))
    process.start()
    elapsed, peak_mb, result = queue.get()
    process.join()
    return elapsed, peak_mb, result


def report(title: str, ours: tuple[float, float], baseline: tuple[float, float] | None, baseline_name: str = "pandas", target: str = "") -> str:
    """One printed line: our time and RSS, the baseline's, and the ratio."""
    ours_s, ours_mb = ours
    line = f"{title:<48} ours {ours_s:8.2f}s {ours_mb:7.0f} MB"
    if baseline is not None:
        base_s, base_mb = baseline
        line += f" | {baseline_name} {base_s:8.2f}s {base_mb:7.0f} MB | time ratio {ours_s / base_s:5.2f}x"
    if target:
        line += f" (target {target})"
    print(line, flush=True)
    return line


def orders_csv(rows: int) -> Path:
    """An order CSV of about ``rows`` demo lines, generated once into benchmarks/out/ and shared."""
    from crm_core.demo import write_orders_csv

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"orders_{rows}.csv"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_orders_csv(partial, rows)
        partial.rename(path)  # an interrupted run leaves no half-written file behind
    return path
