"""RFM at 1M order lines against pandas, and K-means time at 100k customers.

RFM: ours is what ``python -m crm_core rfm PATH --json`` computes (the customer
summary, R/F/M scores, the eleven segments, medians). The pandas baseline does
the same scoring the textbook way: group by customer, ``pd.qcut`` on ranks,
``np.select`` over the rules. Both use ordinal ranks (ties broken by customer
id) so they can be compared; they must agree on customers and medians, and on
segment sizes up to the few customers on quintile edges (``pd.qcut`` places
its edges by interpolation, ours by ``floor(bins * worse / n)``). Our default
(``ties="shared"``) is timed too.

Clusters: the full clustering the Segments page runs (features; K-means for
k = 2..10 on a 20,000-customer sample with silhouette on 2,000 of them; the
chosen k fitted on all customers; names, profile, PCA view) on 100,000
customers (K-means), and on all customers of the file (MiniBatchKMeans beyond
100,000).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import OUT, measure, orders_csv, report

ROWS = 1_000_000
CSV = OUT / f"orders_{ROWS}.csv"  # written by benchmarks.common.orders_csv
PARQUET = OUT / f"rfm_orders_{ROWS}.parquet"
SUMMARY = OUT / f"rfm_summary_{ROWS}.parquet"
CLUSTER_CUSTOMERS = 100_000
KEEP = ("customer_id", "order_id", "order_date", "amount", "channel", "category")


# --------------------------------------------------------------------------- data


def ensure_data() -> Path:
    """Canonical Parquet of about 1M order lines, generated once into benchmarks/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    if PARQUET.exists():
        return PARQUET
    orders_csv(ROWS)
    scan = pl.scan_csv(CSV, schema_overrides={"customer_id": pl.String, "order_id": pl.String})
    present = [name for name in KEEP if name in scan.collect_schema().names()]
    (
        scan.select(present)
        .with_columns(pl.col("order_date").str.to_date("%Y-%m-%d", strict=False), pl.col("amount").cast(pl.Float64))
        .drop_nulls(["customer_id", "order_date", "amount"])
        .sink_parquet(PARQUET)
    )
    return PARQUET


def ensure_summary(path: Path) -> Path:
    from crm_core.customers import summarize

    if not SUMMARY.exists():
        summarize(pl.scan_parquet(path)).collect().write_parquet(SUMMARY)
    return SUMMARY


# --------------------------------------------------------------------------- RFM, both ways


def ours(path: str, ties: str = "ordinal") -> dict:
    from crm_core.rfm import RfmSettings, headline, rfm, segment_counts

    settings = RfmSettings(ties=ties)
    scored = rfm(pl.scan_parquet(path), settings=settings)
    return {**headline(scored), "segments": segment_counts(scored, settings)}


def ours_shared(path: str) -> dict:
    return ours(path, "shared")


def pandas_baseline(path: str) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    from crm_core.rfm import DEFAULT_RULES

    columns = ["customer_id", "order_id", "order_date", "amount"]
    frame = pq.read_table(path, columns=columns).to_pandas(date_as_object=False)  # dates as datetime64
    as_of = frame["order_date"].max()
    purchases = frame[frame["amount"] >= 0]
    per = pd.DataFrame({
        "last": frame.groupby("customer_id")["order_date"].max(),
        "revenue": frame.groupby("customer_id")["amount"].sum(),
        "orders": purchases.groupby("customer_id")["order_id"].nunique(),
    })
    per["orders"] = per["orders"].fillna(0)
    per["recency"] = (as_of - per["last"]).dt.days
    n, bins = len(per), 5

    def score(values: pd.Series, ascending: bool = True) -> np.ndarray:
        ranks = values.rank(method="first", ascending=ascending)
        return pd.qcut(ranks, bins, labels=False).to_numpy() + 1

    r, f = score(per["recency"], ascending=False), score(per["orders"])
    rules = DEFAULT_RULES[bins]
    conditions = [(r >= x.r_min) & (r <= x.r_max) & (f >= x.f_min) & (f <= x.f_max) for x in rules]
    segment = pd.Series(np.select(conditions, [x.name for x in rules], default="none"))
    counts = segment.value_counts()
    return {
        "customers": n,
        "median_recency_days": float(per["recency"].median()),
        "median_frequency": float(per["orders"].median()),
        "median_monetary": round(float(per["revenue"].median()), 2),
        "segments": {x.name: int(counts.get(x.name, 0)) for x in rules},
    }


def _agree(a: dict, b: dict) -> int:
    """Same customers and medians; returns how many customers sit in a different segment count."""
    for key in ("customers", "median_recency_days", "median_frequency"):
        assert a[key] == b[key], (key, a[key], b[key])
    assert math.isclose(a["median_monetary"], b["median_monetary"], abs_tol=0.01)
    assert sum(a["segments"].values()) == sum(b["segments"].values()) == a["customers"]
    moved = sum(abs(a["segments"][k] - b["segments"][k]) for k in a["segments"]) // 2
    assert moved <= 0.001 * a["customers"], (a["segments"], b["segments"])
    return moved


# --------------------------------------------------------------------------- clusters


def clusters(summary_path: str, customers: int | None) -> dict:
    from crm_core.clusters import cluster_customers

    summary = pl.read_parquet(summary_path).sort("customer_id")
    if customers is not None:
        summary = summary.head(customers)
    result = cluster_customers(summary)
    return {"customers": summary.height, "best_k": result.best_k, "method": result.method}


# --------------------------------------------------------------------------- main


def main() -> None:
    path = str(ensure_data())
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    ours_s, ours_mb, ours_result = measure(ours, path)
    base_s, base_mb, base_result = measure(pandas_baseline, path)
    moved = _agree(ours_result, base_result)
    report(f"RFM + segments, {rows:,} rows (ordinal ties)", (ours_s, ours_mb), (base_s, base_mb), "pandas", "<= 0.5x")
    print(f"  {ours_result['customers']:,} customers; segment sizes differ by {moved} customers "
          "(quintile edges: floor formula vs pd.qcut interpolation)", flush=True)
    shared_s, shared_mb, _ = measure(ours_shared, path)
    report(f"RFM + segments, {rows:,} rows (shared ties, default)", (shared_s, shared_mb), (base_s, base_mb), "pandas")

    summary_path = str(ensure_summary(Path(path)))
    for customers in (CLUSTER_CUSTOMERS, None):
        seconds, peak_mb, result = measure(clusters, summary_path, customers)
        engine = "MiniBatchKMeans" if "MiniBatch" in result["method"] else "KMeans"
        report(f"clusters k=2..10, {result['customers']:,} customers ({engine})", (seconds, peak_mb), None)
        print(f"  best k = {result['best_k']}", flush=True)


if __name__ == "__main__":
    main()
