"""`python -m crm_core COMMAND ...`: the CLI over the same functions as the app."""
from __future__ import annotations

import argparse
import importlib
import sys

from crm_core.commands import COMMANDS
from crm_core.commands.common import fail, os_error_message, unwritable_output
from crm_core.ingest import IngestError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm_core", description="Customer analytics from order exports.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"crm_core.commands.{name}")
        command_parser = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0])
        module.add_arguments(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unwritable = unwritable_output(args)
    if unwritable:
        return fail(unwritable)
    try:
        return args.run(args)
    except IngestError as error:
        return fail(str(error))
    except OSError as error:
        return fail(os_error_message(error, args))
    except MemoryError:
        return fail("The command ran out of memory. Use a smaller file (a shorter period) or a machine with more memory.")
    except Exception as error:  # noqa: BLE001 - the CLI contract: one line, never a traceback
        return fail(f"Unexpected error ({type(error).__name__}: {error}). Please report it with the command you ran.")


if __name__ == "__main__":
    sys.exit(main())
