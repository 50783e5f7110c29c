"""The final table of ``make bench``: every figure that has a target, with the target beside it.

Each bench's output is kept in ``benchmarks/out/<bench>.log`` (:mod:`benchmarks.__main__`
writes it; the first line says when it ran and under what load). The table is read
from those logs, so a long bench skipped in this run (``CRM_BENCH_SKIP``) still shows
its last figures, dated. A figure is any printed line ending in ``(target ...)``;
the browser page table of ``bench_pages`` (one row per page, ``!`` = missed) is
summarised as the slowest page per column.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import OUT

#: The benches whose figures answer issue 18's "Done when", in the table's order (others follow).
ORDER = ("bench_pages", "bench_memory", "bench_warehouse", "bench_load", "bench_cli")
HEADER = "# ran "
_TARGET = re.compile(r"^(?P<figure>.*?)\s*\(target (?P<target>[^()]*(?:\([^()]*\)[^()]*)*)\)(?P<after>.*)$")
_PAGE_ROW = re.compile(r"^(?P<page>.{34}) (?P<cells>(?:\s*(?:[\d.]+[ !]|-)\s*){5})\s*$")
PAGE_COLUMNS = ("first visit", "first visit, second session", "revisit", "period change", "filter change")


@dataclass(frozen=True)
class Row:
    """One line of the table: which bench, what was measured, the figure, its target and when it ran."""

    bench: str
    figure: str
    measured: str
    target: str
    ran: str


def log_path(bench: str, folder: Path = OUT) -> Path:
    return folder / f"{bench}.log"


def _split(text: str) -> tuple[str, str]:
    """A printed line's title and its measurement: the title ends at a gap of 2+ spaces before a number
    or a measuring word (``ours``, ``push``, ``peak``, ``exit``, ``p50``, ``p95``)."""
    parts = re.split(r"\s{2,}(?=ours\b|push\b|peak\b|exit\b|p50\b|p95\b|\d)", text.strip(), maxsplit=1)
    figure, measured = (parts[0], parts[1]) if len(parts) == 2 else (text.strip(), "")
    return " ".join(figure.split()), measured


def _page_rows(bench: str, lines: list[str], ran: str) -> list[Row]:
    """``bench_pages``' demo table: the slowest page of each column, with the column's target."""
    targets: list[str] = []
    columns: list[list[tuple[float, str]]] = [[] for _ in PAGE_COLUMNS]
    for line in lines:
        if line.startswith("target "):
            targets = re.findall(r"[\d.]+s", line)
            continue
        match = _PAGE_ROW.match(line)
        if not match or line.startswith("page "):
            continue
        for column, cell in zip(columns, match["cells"].split()):
            value = cell.rstrip("!")
            if value != "-":
                column.append((float(value), match["page"].strip()))
    rows = []
    for index, (name, column) in enumerate(zip(PAGE_COLUMNS, columns)):
        if not column:
            continue
        worst, page = max(column)
        target = targets[index] if index < len(targets) else "?"
        missed = sum(1 for seconds, _ in column if target != "?" and seconds >= float(target.rstrip("s")))
        rows.append(Row(bench, f"browser, demo: slowest {name} ({len(column)} pages)",
                        f"{worst:.2f} s ({page}); {missed} page(s) over target", f"< {target.replace('s', ' s')}", ran))
    return rows


def _ran(lines: list[str]) -> str:
    return lines[0][len(HEADER):].strip() if lines and lines[0].startswith(HEADER) else "date unknown"


def rows_of(bench: str, text: str) -> list[Row]:
    """The figures of one bench's log."""
    lines = text.splitlines()
    ran = _ran(lines)
    rows = _page_rows(bench, lines, ran) if bench == "bench_pages" else []
    for line in lines:
        match = _TARGET.match(line.strip())
        if match:
            figure, measured = _split(match["figure"])
            row = Row(bench, figure.rstrip(":"), " ".join((measured + match["after"]).split()), match["target"].strip(), ran)
            if row not in rows:  # a bench may repeat its figures in a closing recap
                rows.append(row)
    return rows


def collect(folder: Path = OUT, benches: list[str] | None = None) -> list[Row]:
    """Rows of every bench with a log in ``folder`` (``benches`` without a log get a 'not run' row)."""
    found = {path.stem for path in folder.glob("bench_*.log")}
    names = sorted(found | set(benches or ()), key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))
    rows: list[Row] = []
    for name in names:
        path = log_path(name, folder)
        if not path.exists():
            rows.append(Row(name, "not run yet", "", "", "-"))
            continue
        text = path.read_text(errors="replace")
        rows += rows_of(name, text) or [Row(name, "no figure with a target", f"see out/{path.name}", "",
                                            _ran(text.splitlines()))]
    return rows


def format_table(rows: list[Row]) -> str:
    """A plain-text table: bench, figure, measured, target, when it ran."""
    cells = [["bench", "figure", "measured", "target", "ran"]] + [
        [row.bench.removeprefix("bench_"), row.figure, row.measured, row.target, row.ran] for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(4)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + f" | {line[4]}" for line in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths) + "-+-" + "-" * 16)
    return "\n".join(lines)
