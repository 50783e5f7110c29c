"""deck: write the default deck of an order export as an editable PowerPoint file."""
from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
from pathlib import Path

# Nothing here imports Polars at import time: the command forks under the ingest limits first (run_supervised).
from crm_core.commands.common import (
    ANALYSIS_TIME_SCALE,
    add_source_arguments, emit, fail, finding_context, forecast_first, load_view, read_facts, read_once, run_supervised,
    streaming_when_on_disk,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)  # PATH, mapping overrides, --view FILE.json, --json
    parser.add_argument("--out", required=True, metavar="FILE.pptx", help="where to write the PowerPoint deck")
    parser.add_argument("--title", default="Customer portfolio review", help="title of the opening slide")


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written (one line), or None."""
    if path.suffix.lower() != ".pptx":
        return "--out must name a .pptx file, e.g. --out deck.pptx"
    if path.is_dir():
        return f"--out {str(path)[:120]} is a folder; name a .pptx file inside it."
    folder = path.parent
    if not folder.is_dir():
        return f"cannot write {str(path)[:120]}: the folder does not exist."
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"cannot write {str(path)[:120]}: permission denied; choose another --out."
    return None


def _currency_prefix(code: str) -> str:
    from crm_core import format as fmt

    return fmt.SYMBOLS.get(code, f"{code} ") if isinstance(code, str) and len(code) == 3 else ""


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``; large
    files in batches, their rows on disk). The charts drawn as pictures are printed by Chromium afterwards,
    from this process: its 7-10 processes never run beside the child's tables of millions of customers."""
    out = Path(args.out)
    problem = _unwritable(out)
    if problem:
        return fail(problem)
    with tempfile.TemporaryDirectory(prefix="crm-deck-") as folder:
        handoff = Path(folder) / "payload.json"
        code = run_supervised(lambda: _deck(args, out, Path(folder)), args, ANALYSIS_TIME_SCALE)
        if code != 0:
            return code
        payload = json.loads(handoff.read_text("utf-8"))
        from crm_core.deck_pictures import PendingPicture, draw_pictures  # python-pptx: not before the fork

        pending = [PendingPicture(slide, page) for slide, page in payload.pop("pending")]
        chromium = payload.pop("chromium")
        if pending:
            try:
                drawn = draw_pictures(out, pending, chromium)
            except OSError as error:
                return fail(f"cannot write {str(out)[:120]}: {error.strerror or error}")
            payload["pictures"] += drawn
            payload["tables"] -= drawn
    emit(payload, args.json)
    return 0


def _deck(args: argparse.Namespace, out: Path, folder: Path) -> int:
    """Write the deck, each chart drawn as a picture left to ``run`` (its page in ``folder``, its table on the
    slide meanwhile); what ``run`` prints goes to ``folder``/payload.json."""
    from crm_core.dataset import Dataset
    from crm_core.deck import default_deck, prepare_slides
    from crm_core.deck_pptx import DeckMeta, write_pptx
    from crm_core.findings import FindingSettings, key_findings

    view, analysis, ingest_report = load_view(args, count_duplicates=False)  # it shows no duplicate count
    if view.end is None:
        return fail("no valid orders in the file (or none left by the view's filters and period): "
                    "check the column mapping with `python -m crm_core summary PATH`.")
    code = analysis.currency or (getattr(ingest_report, "detected", {}) or {}).get("currency") or ""
    settings = FindingSettings.from_analysis(analysis, view.start, view.end, _currency_prefix(code))
    # Read once and reused by every slide; rows read in batches stay on disk instead (queries over them stream).
    dataset = Dataset(transactions=read_once(view.transactions, ingest_report), name=Path(args.path).name)
    deck = default_deck()
    from crm_core.sliced_rows import sliced_dataset

    # Rows on disk: split once into the slices of customers the findings count in (each slice's queries then
    # read that slice alone, not every row).
    with streaming_when_on_disk(ingest_report), sliced_dataset(dataset, ingest_report) as dataset:
        context = finding_context(dataset, settings, ingest_report)
        forecast_first(context, ingest_report)
        customers = context.customers  # the customers every slide counts
        keys = tuple(entry.figure_id for entry in deck.entries if not entry.is_page_chart)
        # The findings drop the per-customer tables once read when the rows are on disk (key_findings): the
        # slides are prepared from the findings alone, not from a summary held here.
        findings = key_findings(dataset, settings, keys=keys, context=context)
        slides = prepare_slides(deck, dataset, None, settings, findings=findings)
    # The slides hold what they draw; the per-customer tables are dropped before the deck is written (the charts
    # drawn as pictures are printed by Chromium in ``run``, after this process has exited).
    del context, findings
    gc.collect()
    period = (view.start, view.end) if view.start is not None else None
    meta = DeckMeta(dataset.name, period, customers, settings.currency or code,
                    filters=settings.filters_text(), title=args.title, locale=analysis.locale)
    try:
        result = write_pptx(slides, meta, out, pictures_later=folder)
    except OSError as error:
        return fail(f"cannot write {str(out)[:120]}: {error.strerror or error}")
    from crm_core.chromium import chromium_path

    payload = {"pptx": str(result.path), "slides": result.slides, "native_charts": result.native_charts,
               "pictures": result.pictures, "tables": result.tables, "customers": customers,
               "pending": [(item.slide, item.page) for item in result.pending], "chromium": chromium_path(),
               **read_facts(ingest_report)}
    (folder / "payload.json").write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
    return 0
