"""Options shared by every CLI command that reads an order file."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import polars as pl

from crm_core.ingest import ColumnMapping, IngestReport, ReadOptions, read_orders


#: CLI flag names of ColumnMapping fields that differ from the field name.
MAPPING_FLAGS = {"customer_id": "customer", "order_date": "date", "currency": "currency-column"}


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """PATH plus the column-mapping and read overrides."""
    parser.add_argument("path", help="order export: CSV/TSV/TXT (.gz), Parquet or .xlsx")
    group = parser.add_argument_group("mapping and read overrides (default: detect)")
    for field_name in ColumnMapping.__dataclass_fields__:
        flag = "--" + MAPPING_FLAGS.get(field_name, field_name).replace("_", "-")
        group.add_argument(flag, dest=f"map_{field_name}", metavar="COL", help=f"column holding {field_name}")
    group.add_argument("--date-format", help="date format, strftime (%%d/%%m/%%Y) or label (DD/MM/YYYY)")
    group.add_argument("--encoding", help="e.g. utf-8, utf-16, cp1252")
    group.add_argument("--delimiter", help="field separator, e.g. ';', 'tab' or 'whitespace'")
    group.add_argument("--decimal", choices=[".", ","], help="decimal mark of amounts")
    group.add_argument("--thousands", help="thousands separator of amounts, e.g. ',' '.' or ' '")
    group.add_argument("--preset", help="export format preset (shopify, stripe, hubspot, salesforce, woocommerce, online_retail, cdnow, none)")
    group.add_argument("--currency", help="keep only rows in this currency code, e.g. EUR")
    group.add_argument("--sheet", help="Excel sheet to read")
    group.add_argument("--revenue", dest="revenue_definition", choices=["net_sales", "total"],
                       help="what revenue means where the export offers both (Shopify: net_sales = Subtotal net of "
                            "refunds, the default; total = Total with shipping and taxes, net of refunds)")
    group.add_argument("--no-header", dest="has_header", action="store_const", const=False, default=None,
                       help="the first row is data, not column names")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def mapping_from_args(args: argparse.Namespace) -> ColumnMapping:
    values = {name: getattr(args, f"map_{name}", None) for name in ColumnMapping.__dataclass_fields__}
    return ColumnMapping(**values)


def options_from_args(args: argparse.Namespace) -> ReadOptions:
    delimiter = getattr(args, "delimiter", None)
    if delimiter in ("tab", "\\t", "TAB"):
        delimiter = "\t"
    return ReadOptions(
        encoding=getattr(args, "encoding", None),
        delimiter=delimiter,
        decimal=getattr(args, "decimal", None),
        date_format=getattr(args, "date_format", None),
        preset=getattr(args, "preset", None),
        thousands=getattr(args, "thousands", None),
        currency=getattr(args, "currency", None),
        sheet=getattr(args, "sheet", None),
        has_header=getattr(args, "has_header", None),
        revenue_definition=getattr(args, "revenue_definition", None),
    )


def load_orders(args: argparse.Namespace) -> tuple[pl.LazyFrame, IngestReport]:
    """Read PATH with the user's overrides (raises IngestError)."""
    return read_orders(args.path, mapping_from_args(args), options_from_args(args))


def strict_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None: JSON has no such numbers, and strict parsers
    (jq, JavaScript, most databases) reject the ``NaN`` Python writes by default."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def emit(payload: dict[str, Any], as_json: bool) -> None:
    """Print a result: JSON when asked (standard JSON: no NaN), else one 'key: value' line per key."""
    if as_json:
        print(json.dumps(strict_json(payload), default=str, ensure_ascii=False, allow_nan=False))
        return
    for key, value in payload.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for sub_key, sub_value in value.items():
                print(f"  {sub_key}: {sub_value}")
        else:
            print(f"{key}: {value}")


def fail(message: str) -> int:
    """Print a one-line error for the user and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return 2
