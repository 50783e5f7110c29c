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
