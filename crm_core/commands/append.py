"""append: add a new export to a saved dataset folder, reconciling overlapping orders."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from crm_core.commands.common import (
    add_source_arguments,
    emit,
    mapping_from_args,
    on_disk,
    options_from_args,
    read_facts,
    run_supervised,
    view_settings,
)
from crm_core.ingest import IngestError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset_dir", metavar="DATASET_DIR",
                        help="folder of a saved dataset (holds transactions.parquet), e.g. a workspace dataset folder")
    add_source_arguments(parser, optional_path=True)
    parser.add_argument("--undo", action="store_true",
                        help="restore the dataset as it was before the last append (no NEWFILE)")


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child that reads the file itself (see ``run_supervised``):
    a large file is read in batches and its rows stay on disk until they are written to the dataset."""
    return run_supervised(lambda: _append(args), args)


def _append(args: argparse.Namespace) -> int:
    from crm_core.ingest import read_orders
    from crm_core.reconcile import append_export, undo_append, versions
    from crm_core.workspace import locked_folder, record_rows_valid

    view_settings(args)  # a bad --view fails like everywhere; its filters are for analyses: an append keeps every row
    folder = Path(args.dataset_dir)
    if not (folder / "transactions.parquet").is_file():
        raise IngestError(f"'{folder.name[:60]}' is not a saved dataset folder (no transactions.parquet). "
                          "Give the folder the app or 'demo --out' wrote.")
    if args.undo:
        if args.path:
            raise IngestError("--undo takes no file: run 'append DATASET_DIR --undo'.")
        try:
            with locked_folder(folder):
                undone = undo_append(folder)
        except FileNotFoundError as error:
            raise IngestError(str(error)) from None
        record_rows_valid(folder, undone.rows_before)  # a workspace dataset: the catalog lists its rows
        emit({"undone": undone.to_dict(), "appends_left": len(versions(folder))}, args.json)
        return 0
    if not args.path:
        raise IngestError("Give the new export to append: append DATASET_DIR NEWFILE (or --undo).")
    options = options_from_args(args)
    if options.revenue_definition is None:  # read the new export as the dataset was read
        options = replace(options, revenue_definition=_saved_revenue_definition(folder))
    tx, report = read_orders(args.path, mapping_from_args(args), options)
    with locked_folder(folder):  # the app may be appending to the same dataset
        result = append_export(folder, tx, source=Path(args.path), source_filename=str(args.path), lines=report.lines,
                               streamed_rows=report.rows_valid if on_disk(report) else None)
    record_rows_valid(folder, result.rows_after)
    payload = {
        **result.to_dict(),
        "summary": result.sentence(),
        **read_facts(report),
        "revenue_definition": report.detected.get("revenue_definition"),
        "appends": len(versions(folder)),
    }
    emit(payload, args.json)
    return 0


def _saved_revenue_definition(folder: Path) -> str | None:
    """The revenue definition the dataset was read with (from its saved report), if it has a choice."""
    path = folder / "report.json"
    try:
        value = json.loads(path.read_text("utf-8")).get("detected", {}).get("revenue_definition")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in ("net_sales", "total") else None
