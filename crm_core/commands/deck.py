"""deck: write the default deck of an order export as an editable PowerPoint file."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from crm_core.commands.common import add_source_arguments, emit, fail, load_orders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--view", metavar="FILE.json",
                        help="settings of a saved view (period start/end, currency, horizon_months, ...)")
    parser.add_argument("--out", required=True, metavar="FILE.pptx", help="where to write the PowerPoint deck")
    parser.add_argument("--title", default="Customer portfolio review", help="title of the opening slide")


def _writable(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None."""
    if path.suffix.lower() != ".pptx":
        return "--out must name a .pptx file, e.g. --out deck.pptx"
    if path.is_dir():
        return f"--out {path} is a folder; name a .pptx file inside it."
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"cannot write {path}: the folder {folder} does not exist."
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"cannot write {path}: permission denied; choose another --out."
    return None


def _view_settings(text: str):
    """FindingSettings from a view file: flat keys, or a 'settings' object, or 'period': [start, end]."""
    from crm_core.findings import FindingSettings

    values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError("the view must be a JSON object")
    values = {**values, **(values.get("settings") if isinstance(values.get("settings"), dict) else {})}
    period = values.get("period")
    if isinstance(period, (list, tuple)) and len(period) == 2:
        values.setdefault("start", period[0])
        values.setdefault("end", period[1])
    if "horizon" in values and "horizon_months" not in values:
        values["horizon_months"] = values["horizon"]
    return FindingSettings.from_dict(values)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    problem = _writable(out)
    if problem:
        return fail(problem)
    settings = None
    if args.view:
        try:
            settings = _view_settings(Path(args.view).read_text(encoding="utf-8"))
        except OSError as error:
            return fail(f"cannot read --view {args.view}: {error.strerror or error}")
        except (ValueError, TypeError) as error:
            return fail(f"--view {args.view} is not a valid view file ({str(error)[:120]})")
    from crm_core.customers import summarize
    from crm_core.dataset import Dataset
    from crm_core.deck import default_deck, prepare_slides
    from crm_core.deck_pptx import DeckMeta, write_pptx
    from crm_core.findings import FindingContext, FindingSettings

    tx, _ = load_orders(args)
    if tx.head(1).collect().height == 0:
        return fail("the file has no valid orders: check the column mapping with `python -m crm_core summary PATH`.")
    dataset = Dataset(transactions=tx.collect().lazy(), name=Path(args.path).name)
    settings = settings or FindingSettings()
    context = FindingContext(dataset, settings)
    summary = summarize(context.transactions, as_of=context.period[1]).collect()
    if summary.height == 0:
        return fail("there are no orders in the chosen period; widen the period of the view.")
    slides = prepare_slides(default_deck(settings), dataset, summary, settings)
    meta = DeckMeta(dataset.name, context.period, summary.height, settings.currency, title=args.title)
    try:
        result = write_pptx(slides, meta, out)
    except OSError as error:
        return fail(f"cannot write {out}: {error.strerror or error}")
    emit({"pptx": str(result.path), "slides": result.slides, "native_charts": result.native_charts,
          "pictures": result.pictures, "tables": result.tables, "customers": summary.height}, args.json)
    return 0
