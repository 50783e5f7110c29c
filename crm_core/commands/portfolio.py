"""portfolio (not implemented yet)."""
from __future__ import annotations

import argparse

from crm_core.commands.common import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*")


def run(args: argparse.Namespace) -> int:
    return fail("the 'portfolio' command is not available yet")
