"""Run every ``benchmarks/bench_*.py`` module's ``main()`` in name order."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def main(only: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    for name in names:
        if only and not any(word in name for word in only):
            continue
        print(f"\n== {name} ==", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
