"""Money totals shown as figures: exact, so that one figure has one value on every page, report and run.

A plain float sum depends on the order of its additions (Polars' parallel group-bys add in an order that varies
between runs), so a tier's or segment's revenue could change in its last digits from one run to the next and
differ from the KPI revenue, which :func:`crm_core.customers.exact_sum` gives. Figures use the same exact sum:
``exact_sum(pl.col(...))`` inside aggregations, :func:`exact_total` for a column already collected.
"""
from __future__ import annotations

import polars as pl

from crm_core.customers import exact_sum

__all__ = ["exact_sum", "exact_total"]


def exact_total(values: pl.Series) -> float:
    """:func:`crm_core.customers.exact_sum` of a Series (0.0 when empty or all null)."""
    total = values.cast(pl.Float64).to_frame("v").select(exact_sum(pl.col("v"))).item()
    return float(total) if total is not None else 0.0
