"""Every help screen of the CLI renders: the main parser's and each command's, exit code 0."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crm_core.__main__ import build_parser
from crm_core.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def _help(*args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "crm_core", *args, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_main_help_lists_every_command_with_its_own_sentence():
    code, out, err = _help()
    assert code == 0, err
    assert "Traceback" not in err and "option_strings" not in out
    flat = " ".join(out.split())  # argparse wraps the help column
    for help_line in COMMANDS.values():
        assert " ".join(help_line.split()) in flat


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_help_renders(command):
    code, out, err = _help(command)
    assert code == 0, err
    assert out.startswith("usage: python -m crm_core " + command) and "Traceback" not in err
    assert " ".join(COMMANDS[command].split()) in " ".join(out.split())


def test_every_option_help_expands_in_process():
    """format_help expands every option's help (a stray `%` would raise or garble here)."""
    parser = build_parser(None)
    subparsers = next(action for action in parser._actions if action.choices)  # noqa: SLF001
    for command, command_parser in subparsers.choices.items():
        text = command_parser.format_help()
        assert "option_strings" not in text, command


def test_every_column_mapping_field_has_its_flag():
    """The parser takes the mapping's fields from a list kept beside it (the program that forks `summary`'s child
    early builds the parser without importing the read options): the list is the dataclass's, in order."""
    from crm_core.commands.common import MAPPING_FIELDS
    from crm_core.ingest.options import ColumnMapping

    assert MAPPING_FIELDS == tuple(ColumnMapping.__dataclass_fields__)


def test_building_a_commands_parser_leaves_dataclasses_pathlib_and_the_read_options_unloaded():
    script = ("import sys; from crm_core.ingest import supervisor; from crm_core.__main__ import build_parser; "
              "build_parser('summary').parse_args(['summary', 'orders.csv', '--json']); "
              "print(sorted(m for m in ('dataclasses', 'pathlib', 'crm_core.ingest.options', 'polars') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=True).stdout.strip()
    assert shown == "[]"
