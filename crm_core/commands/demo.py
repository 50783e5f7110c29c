"""demo: generate the synthetic demo portfolio (Parquet folder, or a CSV of orders)."""
from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from crm_core.commands.common import emit, fail
from crm_core.dataset import save_dataset
from crm_core.demo import END_DATE, START_DATE, generate, write_transactions_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=5000, help="number of customers (default 5000; ~10 order lines each)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives identical files (default 7)")
    parser.add_argument(
        "--out",
        default="data/demo",
        help="a folder (Parquet tables) or a file ending in .csv / .csv.gz (transactions only)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith((".csv", ".csv.gz"))


def run(args: argparse.Namespace) -> int:
    if args.customers < 1:
        return fail("--customers must be at least 1")
    out = Path(args.out)
    payload = {"out": str(out), "customers": args.customers, "seed": args.seed,
               "period": f"{START_DATE} to {END_DATE}"}
    if _is_csv(out):
        payload["rows"] = write_transactions_csv(out, args.customers, args.seed)
    else:
        if out.exists() and not out.is_dir():
            return fail(f"{out} is a file; give a folder, or a path ending in .csv or .csv.gz")
        dataset = generate(args.customers, args.seed)
        save_dataset(dataset, out)
        for kind in ("transactions", "customers", "interactions", "marketing_spend"):
            payload[f"{kind}_rows"] = pl.scan_parquet(out / f"{kind}.parquet").select(pl.len()).collect().item()
    emit(payload, args.json)
    return 0
