"""`python -m crm_core COMMAND ...`: the CLI over the same functions as the app."""
from __future__ import annotations

import gc

# A command's imports (Polars, numpy, our modules) create a few hundred thousand objects and almost no
# garbage, and the collector's default thresholds walk them again and again: a twentieth of `clv`'s time.
# Collections every 100,000 allocations (of the oldest objects every 20,000,000) still free the cycles a long command
# leaves. Only when run as the program: a process that imports this module keeps its own settings.
if __name__ == "__main__":
    gc.set_threshold(100_000, 20, 10)

import os  # noqa: E402
import sys  # noqa: E402

# The CLI keeps the bytecode cache of the modules it imports even where PYTHONDONTWRITEBYTECODE is set
# (as in some containers): otherwise every run compiles crm_core from source, a tenth of a second of a
# command that takes a few tenths, while the libraries it imports come compiled. Only missing or stale
# caches are written (next to the sources, in __pycache__); Python skips them silently where it cannot.
sys.dont_write_bytecode = False
# One BLAS thread unless the user says otherwise: the models' linear algebra is on vectors and 4x4
# matrices, run single-threaded anyway (crm_core.clv.fitting.serial_blas, which then has nothing to
# limit). OpenBLAS otherwise starts a thread per core when numpy is imported, and they spin for a while
# waiting for work, taking the cores from Polars' file read: a quarter of `clv`'s CPU time on 1M orders,
# for the same numbers.
if "numpy" not in sys.modules:  # (a program that imports this module later keeps its BLAS as it is)
    for _blas_threads in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # numpy brings one or the other
        os.environ.setdefault(_blas_threads, "1")

if __name__ == "__main__":
    # Polars' import brings importlib.metadata, which no command uses: loaded on first use instead (~15 ms).
    from crm_core.deferred_import import defer_importlib_metadata

    defer_importlib_metadata()
    # A supervised command's child is forked before anything else (supervisor.fork_early): it loads Polars
    # while this process reads the command line. (After the settings above: the child inherits them.)
    from crm_core.ingest.supervisor import fork_early

    fork_early(sys.argv[1:])

import argparse  # noqa: E402
import importlib  # noqa: E402
from typing import NoReturn  # noqa: E402

from crm_core.commands import COMMANDS  # noqa: E402  (after the switch above: its imports are cached too)


def _chosen_command(argv: list[str]) -> str | None:
    """The command named on the command line, if any (the first word that is one)."""
    return next((word for word in argv if word in COMMANDS), None)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        from crm_core.ingest.messages import one_line

        print(one_line(f"error: {message} (see: {self.prog} --help)"), file=sys.stderr)
        sys.exit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; only ``command``'s module is imported (all when None, for tests and docs)."""
    parser = _Parser(prog="python -m crm_core", description="Customer analytics from order exports.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_line in COMMANDS.items():
        # argparse expands `%` in help texts (`%(prog)s`); ours are plain sentences ("top 20% share").
        command_parser = sub.add_parser(name, help=help_line.replace("%", "%%"), description=help_line)
        if command is None or name == command:
            module = importlib.import_module(f"crm_core.commands.{name}")
            module.add_arguments(command_parser)
            command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early = sys.modules.get("crm_core.ingest.supervisor")  # its early child, if it forked one (fork_early)
    try:
        command = _chosen_command(argv)
        # Top-level help needs no command module; a named command imports only its own.
        args = build_parser(command or "").parse_args(argv)
        from crm_core.commands.common import fail, run_reporting_errors, unwritable_output

        unwritable = unwritable_output(args)
        if unwritable:
            return fail(unwritable)
        if early is not None:
            early.note_args(args)
        return run_reporting_errors(lambda: args.run(args), args)
    finally:
        if early is not None:
            early.discard_early()  # not handed a command: killed

def exit_at_once(code: int) -> NoReturn:
    """End the program with ``code`` once its output is flushed, skipping the interpreter's teardown.

    Teardown frees every module and object one by one: a few milliseconds of a command that takes a few
    tenths, spent after the work is done and written (a supervised command's child exits the same way).
    Only for the program itself: everything it started has finished when :func:`main` returns.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`... | head`): nothing more can reach the reader
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_at_once(main())
