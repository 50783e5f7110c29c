"""Display tables formatted in Python after the Polars query (crm_core.text_columns), and no Python inside queries.

A Python function inside a Polars query (``map_elements``, ``map_batches``) runs on
Polars' thread pool and needs the GIL there; ``DataFrame.to_pandas`` (``st.dataframe``)
holds the GIL while it waits for that pool: concurrent sessions froze the server.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from crm_core.text_columns import Formatted, select_formatted

ROOT = Path(__file__).resolve().parent.parent


def test_formatted_columns_keep_their_place_and_nulls():
    frame = pl.DataFrame({"name": ["a", "b", "c"], "revenue": [1.5, None, 20.0], "customers": [1, 2, 4]})
    shown = select_formatted(
        frame,
        pl.col("name").alias("Name"),
        Formatted(pl.col("revenue"), lambda value: f"€{value:.2f}", "Revenue"),
        Formatted(pl.col("revenue") / pl.col("customers"), lambda value: f"{value:.1f}", "Per customer"),
        pl.col("customers"),
    )
    assert shown.columns == ["Name", "Revenue", "Per customer", "customers"]
    assert shown.schema["Revenue"] == pl.String
    assert shown["Revenue"].to_list() == ["€1.50", None, "€20.00"]
    assert shown["Per customer"].to_list() == ["1.5", None, "5.0"]


def test_struct_columns_pass_each_row_as_a_dict():
    frame = pl.DataFrame({"value": [3, 4], "kind": ["count", "money"]})
    shown = select_formatted(frame, Formatted(pl.struct("value", "kind"), lambda row: f"{row['kind']}:{row['value']}",
                                              "Value"))
    assert shown["Value"].to_list() == ["count:3", "money:4"]


def test_no_python_function_runs_inside_a_polars_query_on_the_server():
    pattern = re.compile(r"\.(map_elements|map_batches|map_groups)\(")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in ("crm_core", "ui", "app_pages") for path in sorted((ROOT / folder).rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, f"use crm_core.text_columns.select_formatted instead: {offenders}"
