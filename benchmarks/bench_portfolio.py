"""Portfolio report at 1M order lines: crm_core (Polars) against the same computation in pandas.

The computation is what ``python -m crm_core portfolio PATH --json`` prints:
customers, net revenue, top-20% revenue share, Gini (negatives as 0), the
share of customers bringing 80% of revenue, and the default value tiers
(customers, revenue, revenue share). Both sides read the same canonical
Parquet file and must agree on every figure.

A second line times everything the Portfolio page computes on the same data
(summary, tiers, cost to serve, quadrants, tier trend, migration); it has no
pandas counterpart.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import OUT, measure, orders_csv, report

ROWS = 1_000_000
CSV = OUT / f"orders_{ROWS}.csv"  # written by benchmarks.common.orders_csv
PARQUET = OUT / f"portfolio_orders_{ROWS}.parquet"
SHARES = (0.01, 0.04, 0.15)
NAMES = ("Platinum", "Gold", "Iron", "Lead")


# --------------------------------------------------------------------------- data


def ensure_data() -> Path:
    """Canonical Parquet of about 1M order lines, generated once into benchmarks/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    if PARQUET.exists():
        return PARQUET
    orders_csv(ROWS)
    (
        pl.scan_csv(CSV, schema_overrides={"customer_id": pl.String, "order_id": pl.String})
        .select(
            pl.col("customer_id"),
            pl.col("order_date").str.to_date("%Y-%m-%d", strict=False),
            pl.col("amount").cast(pl.Float64),
        )
        .drop_nulls()
        .sink_parquet(PARQUET)
    )
    return PARQUET


# --------------------------------------------------------------------------- the two implementations


def ours(path: str) -> dict:
    from crm_core.portfolio import portfolio_report

    payload = portfolio_report(pl.scan_parquet(path))
    payload.pop("tier_rule")
    return payload


def pandas_baseline(path: str) -> dict:
    import pandas as pd

    frame = pd.read_parquet(path, columns=["customer_id", "order_date", "amount"])
    frame = frame[frame["order_date"] <= frame["order_date"].max()]  # summarize's as-of filter
    totals = frame.groupby("customer_id", sort=False)["amount"].sum().reset_index()
    totals = totals.sort_values(["amount", "customer_id"], ascending=[False, True], kind="mergesort")
    values = totals["amount"].to_numpy()
    n, total = len(values), float(values.sum())
    top20 = values[: math.ceil(round(0.2 * n, 9))].sum() / total
    reached = np.flatnonzero(np.cumsum(values) >= 0.8 * total - 1e-9 * abs(total))
    clipped = np.sort(np.clip(values, 0, None))
    weights = 2 * np.arange(1, n + 1) - n - 1
    gini = float((weights * clipped).sum() / (n * clipped.sum()))
    bounds = [math.ceil(round(cum * n, 9)) for cum in np.round(np.cumsum(SHARES), 12)]
    tier_index = np.searchsorted(np.array(bounds), np.arange(1, n + 1), side="left")
    per_tier = pd.DataFrame({"tier": tier_index, "amount": values}).groupby("tier")["amount"].agg(["size", "sum"])
    tiers = {}
    for index, name in enumerate(NAMES):
        customers = int(per_tier["size"].get(index, 0))
        revenue = float(per_tier["sum"].get(index, 0.0))
        tiers[name] = {"customers": customers, "revenue": round(revenue, 2), "revenue_share": revenue / total}
    return {
        "customers": n,
        "revenue": round(total, 2),
        "top20_revenue_share": float(top20),
        "gini": gini,
        "customer_share_for_80pct_revenue": (int(reached[0]) + 1) / n,
        "tiers": tiers,
    }


def page_computations(path: str) -> int:
    """Everything the Portfolio page computes for the whole period (no drawing)."""
    from crm_core import portfolio as pf
    from crm_core.customers import summarize

    tx = pl.scan_parquet(path)
    summary = summarize(tx).collect()
    start, end = summary["first_date"].min(), summary["last_date"].max()
    figures = pf.concentration(summary)
    pf.pareto_curve(summary), pf.lorenz_curve(summary)
    table, matrix = pf.portfolio_table(summary, period=(start, end))
    pf.tier_summary(table), pf.quadrant_summary(matrix)
    pf.tier_trend(tx, table, grain="quarter")
    earlier, later = pf.split_period(start, end)
    pf.tier_migration(tx, earlier, later)
    return figures.customers


# --------------------------------------------------------------------------- main


def _agree(a: dict, b: dict) -> None:
    for key in ("customers", "top20_revenue_share", "gini", "customer_share_for_80pct_revenue"):
        assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-12), (key, a[key], b[key])
    assert math.isclose(a["revenue"], b["revenue"], abs_tol=0.02)
    for name in NAMES:
        assert a["tiers"][name]["customers"] == b["tiers"][name]["customers"], name
        assert math.isclose(a["tiers"][name]["revenue"], b["tiers"][name]["revenue"], abs_tol=0.02), name


def main() -> None:
    path = str(ensure_data())
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    ours_s, ours_mb, ours_result = measure(ours, path)
    base_s, base_mb, base_result = measure(pandas_baseline, path)
    _agree(ours_result, base_result)
    report(f"portfolio report, {rows:,} rows", (ours_s, ours_mb), (base_s, base_mb), "pandas", "<= 0.5x")
    page_s, page_mb, customers = measure(page_computations, path)
    report(f"portfolio page computations, {customers:,} customers", (page_s, page_mb), None)


if __name__ == "__main__":
    main()
