"""`python -m crm_core COMMAND ...`: the CLI over the same functions as the app."""
from __future__ import annotations

import argparse
import importlib
import sys

from crm_core.commands import COMMANDS
from crm_core.commands.common import fail
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
    try:
        return args.run(args)
    except IngestError as error:
        return fail(str(error))


if __name__ == "__main__":
    sys.exit(main())
