"""``make bench``: run every ``benchmarks/bench_*.py`` in name order, then print one table of figures and targets.

Usage::

    python -m benchmarks                 # every bench, then the table
    python -m benchmarks load cli        # only the benches whose name contains a word; the table shows all
    python -m benchmarks --summary       # run nothing: the table from the last runs' logs

Each bench runs in its own process; what it prints is shown and kept in
``benchmarks/out/<bench>.log`` (first line: when, and the load average). The final
table (:mod:`benchmarks.summary`) reads those logs, so a bench not run this time shows
its last figures with their date.

``CRM_BENCH_SKIP``: comma-separated words; benches whose name contains one are not run
(e.g. ``CRM_BENCH_SKIP=memory,warehouse,load,pages`` skips the long ones: 30M/50M-row files,
10M orders on three engines, 30 concurrent sessions, Chromium with a 1M-order upload).
"""
from __future__ import annotations

import datetime as dt
import os
import pkgutil
import subprocess
import sys

import benchmarks
from benchmarks.common import OUT
from benchmarks.summary import HEADER, collect, format_table, log_path


def bench_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def selected(names: list[str], only: list[str], skip: list[str]) -> list[str]:
    """``names`` containing a word of ``only`` (all when empty) and none of ``skip``."""
    return [name for name in names
            if (not only or any(word in name for word in only)) and not any(word and word in name for word in skip)]


def run(name: str) -> int:
    """Run one bench in a fresh process; its output goes to the terminal and to its log."""
    OUT.mkdir(parents=True, exist_ok=True)
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n== {name} ==", flush=True)
    with open(log_path(name), "w") as log:
        log.write(f"{HEADER}{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {load}\n")
        process = subprocess.Popen([sys.executable, "-u", "-m", f"benchmarks.{name}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
        code = process.wait()
        if code:
            log.write(f"(exit {code})\n")
            print(f"{name} exited with {code}", flush=True)
    return code


def main(arguments: list[str]) -> int:
    names = bench_names()
    failed = []
    if "--summary" not in arguments:
        skip = os.environ.get("CRM_BENCH_SKIP", "").split(",")
        failed = [name for name in selected(names, arguments, skip) if run(name)]
    print("\n== every figure with its target (benchmarks/out/*.log) ==")
    print(format_table(collect(OUT, names)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
