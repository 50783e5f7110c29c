"""Ingest + customer summary on order CSVs of 1M and 10M rows, against pandas.

Ours: ``crm_core.ingest.read_orders`` (sniffing, mapping, every column
parsed, rejects, duplicates) followed by ``crm_core.customers.summarize``.

Baselines, both pandas ``pd.read_csv`` + ``pd.to_datetime`` + ``groupby`` per
customer:

- *same summary*: the per-customer figures ``summarize`` returns for this file
  (first/last date, orders, purchase days, revenue, gross revenue, returns,
  return lines, first-day amount, quantity, margin, distinct categories and
  channels, recency, tenure). Target at 1M rows: ours <= 0.5x its time.
- *plain*: first/last date, distinct orders and revenue only (printed for
  reference: it does less work than ``summarize``).

At 10M rows the file must stream: target peak RSS < 3 GB (ingest alone, and
ingest + summarize).

Files come from ``crm_core.demo.write_orders_csv`` (shared with the other
benchmarks) and are cached in benchmarks/out/.
"""
from __future__ import annotations

import math

from benchmarks.common import measure, orders_csv, report

SIZES = (1_000_000, 10_000_000)


def ours(path: str) -> dict:
    from crm_core.customers import summarize
    from crm_core.ingest import read_orders

    tx, ingest_report = read_orders(path)
    summary = summarize(tx).collect()
    return {
        "rows": ingest_report.rows_valid,
        "rejected": ingest_report.rows_rejected,
        "customers": summary.height,
        "revenue": round(float(summary["revenue"].sum()), 2),
        "orders": int(summary["orders"].sum()),
    }


def ingest_only(path: str) -> dict:
    from crm_core.ingest import read_orders

    tx, ingest_report = read_orders(path)
    return {"rows": ingest_report.rows_valid, "duplicates": ingest_report.duplicate_rows}


def pandas_plain(path: str) -> dict:
    import pandas as pd

    frame = pd.read_csv(path, dtype={"customer_id": str, "order_id": str})
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    per_customer = frame.groupby("customer_id").agg(
        first_date=("order_date", "min"),
        last_date=("order_date", "max"),
        orders=("order_id", "nunique"),
        revenue=("amount", "sum"),
    )
    return {"rows": len(frame), "customers": len(per_customer), "revenue": round(float(per_customer["revenue"].sum()), 2)}


def pandas_same_summary(path: str) -> dict:
    """What ``summarize`` computes for this file, in pandas."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={"customer_id": str, "order_id": str})
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    as_of = frame["order_date"].max()
    amount = frame["amount"]
    purchase = amount >= 0
    first_day = frame.groupby("customer_id")["order_date"].transform("min")
    frame = frame.assign(
        gross=amount.clip(lower=0),
        returned=-amount.clip(upper=0),
        return_line=amount < 0,
        first_day_amount=amount.where(frame["order_date"] == first_day, 0.0),
        order_key=frame["order_id"].where(purchase),
        purchase_day=frame["order_date"].where(purchase),
    )
    per_customer = frame.groupby("customer_id").agg(
        first_date=("order_date", "min"),
        last_date=("order_date", "max"),
        orders=("order_key", "nunique"),
        purchase_days=("purchase_day", "nunique"),
        revenue=("amount", "sum"),
        gross_revenue=("gross", "sum"),
        returns=("returned", "sum"),
        return_lines=("return_line", "sum"),
        first_day_amount=("first_day_amount", "sum"),
        quantity=("quantity", "sum"),
        cost=("cost", "sum"),
        categories=("category", "nunique"),
        channels=("channel", "nunique"),
    )
    per_customer["margin"] = per_customer["revenue"] - per_customer["cost"]
    per_customer["aov"] = per_customer["revenue"] / per_customer["orders"].where(per_customer["orders"] > 0)
    per_customer["recency_days"] = (as_of - per_customer["last_date"]).dt.days
    per_customer["tenure_days"] = (as_of - per_customer["first_date"]).dt.days
    per_customer = per_customer.sort_index()
    return {
        "rows": len(frame),
        "customers": len(per_customer),
        "revenue": round(float(per_customer["revenue"].sum()), 2),
        "orders": int(per_customer["orders"].sum()),
    }


def main() -> None:
    small = str(orders_csv(SIZES[0]))
    ours_s, ours_mb, result = measure(ours, small)
    same_s, same_mb, same = measure(pandas_same_summary, small)
    plain_s, plain_mb, plain = measure(pandas_plain, small)
    for baseline in (same, plain):
        assert result["customers"] == baseline["customers"], (result, baseline)
        assert math.isclose(result["revenue"], baseline["revenue"], abs_tol=0.05), (result, baseline)
    assert result["orders"] == same["orders"], (result, same)
    rows = f"{result['rows']:,} rows"
    report(f"ingest + summarize, {rows}", (ours_s, ours_mb), (same_s, same_mb), "pandas same summary", "<= 0.5x")
    report(f"ingest + summarize, {rows}", (ours_s, ours_mb), (plain_s, plain_mb), "pandas plain groupby")
    only_s, only_mb, _ = measure(ingest_only, small)
    report(f"ingest only, {rows}", (only_s, only_mb), (plain_s, plain_mb), "pandas plain groupby")

    big = str(orders_csv(SIZES[1]))
    only_s, only_mb, big_result = measure(ingest_only, big)
    report(f"ingest only, {big_result['rows']:,} rows", (only_s, only_mb), None, target="peak RSS < 3000 MB")
    big_s, big_mb, big_result = measure(ours, big)
    report(f"ingest + summarize, {big_result['rows']:,} rows", (big_s, big_mb), None, target="peak RSS < 3000 MB")


if __name__ == "__main__":
    main()
