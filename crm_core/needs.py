"""What each segment buys, and how customers use channels (Payne & Frow).

Every function needs an optional transaction column (category or channel).
:func:`missing_column_message` tells the user what to add when it is absent.
Segments are any ``customer_id -> group`` table (RFM segments or clusters).
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.sums import exact_sum, exact_total

UNKNOWN = "(not given)"
GROUP = "group"

_PURPOSE = {
    C.CATEGORY: "see what each segment buys and which categories sell together",
    C.CHANNEL: "compare channels: channel mix, single- vs multichannel customers and channel switching",
}


def missing_column_message(tx: pl.LazyFrame, column: str) -> str | None:
    """``None`` when ``tx`` has ``column``; else a sentence saying what to add."""
    if has_column(tx, column):
        return None
    return f"Add a '{column}' column to your orders (map it on the Data page) to {_PURPOSE.get(column, 'use this view')}."


def customer_groups(assignments: pl.DataFrame, column: str) -> pl.DataFrame:
    """``customer_id`` and ``group`` from any per-customer table (RFM scores, cluster assignments)."""
    return assignments.select(C.CUSTOMER_ID, pl.col(column).alias(GROUP))


def groups_present(groups: pl.DataFrame, order: list[str]) -> list[str]:
    """The names of ``order`` that have at least one customer in ``groups``, in that order."""
    present = set(groups[GROUP].to_list())
    return [name for name in order if name in present]


def group_customers(groups: pl.DataFrame, name: str) -> pl.DataFrame:
    """The rows of ``groups`` in group ``name`` (to restrict :func:`cross_sell_pairs` to one group)."""
    return groups.filter(pl.col(GROUP) == name)


def orders_until(tx: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Order lines on or before ``as_of`` (the RFM reference date)."""
    return tx.filter(pl.col(C.ORDER_DATE) <= as_of)


def _purchases(tx: pl.LazyFrame, column: str) -> pl.LazyFrame:
    return tx.select(C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT, pl.col(column).fill_null(UNKNOWN).alias(column))


def mix_by_group(tx: pl.LazyFrame, groups: pl.DataFrame, column: str, group_column: str) -> pl.DataFrame:
    """Share of each group's net spend going to each value of ``column``.

    Parameters
    ----------
    tx
        Canonical transactions (must have ``column``).
    groups
        ``customer_id`` and ``group_column`` (e.g. segment); customers missing
        from it are left out.
    column
        ``category`` or ``channel``.

    Returns
    -------
    pl.DataFrame
        group_column, column, spend, share (of the group's spend), overall_share,
        index (share / overall_share; above 1 = the group over-buys it).
    """
    joined = _purchases(tx, column).join(groups.lazy().select(C.CUSTOMER_ID, group_column), on=C.CUSTOMER_ID, how="inner")
    spend = joined.group_by(group_column, column).agg(exact_sum(pl.col(C.AMOUNT)).alias("spend"))
    overall = joined.group_by(column).agg(exact_sum(pl.col(C.AMOUNT)).alias("_all")).with_columns(
        (pl.col("_all") / pl.col("_all").sum()).alias("overall_share")
    )
    return (
        spend.with_columns((pl.col("spend") / pl.col("spend").sum().over(group_column)).alias("share"))
        .join(overall.select(column, "overall_share"), on=column, how="left")
        .with_columns((pl.col("share") / pl.col("overall_share")).alias("index"))
        .with_columns(pl.col("share", "overall_share", "index").fill_nan(None))
        .sort(group_column, column)
        .collect()
    )


def mix_takeaway(mix: pl.DataFrame, column: str, group_column: str, *, style: NumberStyle = PLAIN) -> str:
    """Which group over-buys which value the most."""
    candidates = mix.filter(pl.col("index").is_not_null() & (pl.col("share") >= 0.05) & (pl.col("spend") > 0))
    if candidates.is_empty():
        return f"No {column} stands out for any group."
    top = candidates.sort(["index", group_column, column], descending=[True, False, False]).row(0, named=True)
    return (
        f"{top[group_column]} spend {style.share(top['share'], 0)} of their money on {top[column]}, "
        f"{style.number(top['index'], 1)} times the average share ({style.share(top['overall_share'], 0)})."
    )


def cross_sell_pairs(
    tx: pl.LazyFrame, customers: pl.DataFrame | None = None, min_customers: int = 5, top: int = 20
) -> pl.DataFrame:
    """Category pairs bought by the same customers (over the whole period).

    Support = share of customers who bought both; confidence A→B = share of
    A's buyers who also bought B; lift = support(A,B) / (support(A) support(B))
    (above 1: bought together more often than chance).

    Parameters
    ----------
    customers
        Optional ``customer_id`` frame restricting the analysis (e.g. one segment).
    min_customers
        Pairs bought by fewer customers are left out (lift is noisy on tiny counts).

    Returns
    -------
    pl.DataFrame
        category_a, category_b, customers, support, confidence_a_to_b,
        confidence_b_to_a, lift; top ``top`` pairs by lift, then customers.
    """
    baskets = (
        tx.filter((pl.col(C.AMOUNT) > 0) & pl.col(C.CATEGORY).is_not_null())
        .select(C.CUSTOMER_ID, C.CATEGORY)
        .unique()
    )
    if customers is not None:
        baskets = baskets.join(customers.lazy().select(C.CUSTOMER_ID).unique(), on=C.CUSTOMER_ID, how="semi")
    n_customers = baskets.select(pl.col(C.CUSTOMER_ID).n_unique()).collect().item()
    empty = pl.DataFrame(schema={"category_a": pl.String, "category_b": pl.String, "customers": pl.Int64,
                                 "support": pl.Float64, "confidence_a_to_b": pl.Float64,
                                 "confidence_b_to_a": pl.Float64, "lift": pl.Float64})
    if not n_customers:
        return empty
    single = baskets.group_by(C.CATEGORY).agg(pl.len().alias("buyers"))
    pairs = (
        baskets.join(baskets, on=C.CUSTOMER_ID, suffix="_b")
        .filter(pl.col(C.CATEGORY) < pl.col(f"{C.CATEGORY}_b"))
        .group_by(pl.col(C.CATEGORY).alias("category_a"), pl.col(f"{C.CATEGORY}_b").alias("category_b"))
        .agg(pl.len().cast(pl.Int64).alias("customers"))
        .filter(pl.col("customers") >= min_customers)
        .join(single.rename({C.CATEGORY: "category_a", "buyers": "buyers_a"}), on="category_a")
        .join(single.rename({C.CATEGORY: "category_b", "buyers": "buyers_b"}), on="category_b")
        .with_columns(
            (pl.col("customers") / n_customers).alias("support"),
            (pl.col("customers") / pl.col("buyers_a")).alias("confidence_a_to_b"),
            (pl.col("customers") / pl.col("buyers_b")).alias("confidence_b_to_a"),
            (pl.col("customers") * n_customers / (pl.col("buyers_a") * pl.col("buyers_b"))).alias("lift"),
        )
        .sort(["lift", "customers", "category_a", "category_b"], descending=[True, True, False, False])
        .head(top)
        .select(empty.columns)
        .collect()
    )
    return pairs


def cross_sell_takeaway(pairs: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    if pairs.is_empty():
        return "No two categories are bought by enough of the same customers to compare."
    top = pairs.row(0, named=True)
    if top["lift"] < 1.1:
        return (
            "No pair of categories is bought together clearly more often than chance "
            f"(best: {top['category_a']} + {top['category_b']}, lift {style.number(top['lift'], 2)})."
        )
    return (
        f"Customers who buy {top['category_a']} also buy {top['category_b']} {style.number(top['lift'], 1)} times "
        f"more often than chance ({style.share(top['support'], 0)} of customers buy both): a natural cross-sell."
    )


def channel_value(summary: pl.DataFrame) -> pl.DataFrame:
    """Single- vs multichannel customers (needs the summary's ``channels`` column).

    Customers with no channel recorded are left out.

    Returns
    -------
    pl.DataFrame
        channel_use ("Single channel", "2 channels", "3+ channels"), customers,
        customer_share, revenue, revenue_share, mean_revenue, mean_orders, aov.
    """
    summary = summary.filter(pl.col("channels") >= 1)  # no channel recorded: neither single nor multi
    total_customers, total_revenue = max(summary.height, 1), exact_total(summary["revenue"])
    use = (
        pl.when(pl.col("channels") == 1).then(pl.lit("Single channel"))
        .when(pl.col("channels") == 2).then(pl.lit("2 channels"))
        .otherwise(pl.lit("3+ channels"))
    )
    order = {"Single channel": 0, "2 channels": 1, "3+ channels": 2}
    return (
        summary.group_by(use.alias("channel_use"))
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            exact_sum(pl.col("revenue")),
            (exact_sum(pl.col("revenue")) / pl.col("revenue").count()).alias("mean_revenue"),
            pl.col("orders").mean().alias("mean_orders"),
            (exact_sum(pl.col("revenue")) / pl.col("orders").sum()).alias("aov"),
        )
        .with_columns(
            (pl.col("customers") / total_customers).alias("customer_share"),
            (pl.col("revenue") / total_revenue if total_revenue else pl.lit(None, pl.Float64)).alias("revenue_share"),
            pl.col("aov").fill_nan(None),
        )
        .sort(pl.col("channel_use").replace_strict(order))
        .select("channel_use", "customers", "customer_share", "revenue", "revenue_share", "mean_revenue", "mean_orders", "aov")
    )


def channel_value_takeaway(value: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    single = value.filter(pl.col("channel_use") == "Single channel")
    multi = value.filter(pl.col("channel_use") != "Single channel")
    if single.is_empty() or multi.is_empty():
        return "All customers use the same number of channels, so there is nothing to compare."
    multi_customers = multi["customers"].sum()
    multi_mean = multi["revenue"].sum() / multi_customers
    single_mean = single["mean_revenue"][0]
    share = multi_customers / value["customers"].sum()
    if single_mean <= 0:
        return (f"Multichannel customers are {style.share(share, 0)} of customers and spend "
                f"{style.money(multi_mean)} each on average.")
    return (
        f"Multichannel customers are {style.share(share, 0)} of customers and spend "
        f"{style.number(multi_mean / single_mean, 1)} times as much "
        f"as single-channel ones ({style.money(multi_mean)} vs {style.money(single_mean)} each)."
    )


def channel_migration(tx: pl.LazyFrame) -> pl.DataFrame:
    """First channel -> latest channel of repeat customers (two or more purchase days).

    A day's channel is the one with the most spend that day (ties: alphabetical).

    Returns
    -------
    pl.DataFrame
        first_channel, latest_channel, customers, share (of repeat customers),
        sorted by customers (descending).
    """
    daily = (
        _purchases(tx, C.CHANNEL)
        .filter(pl.col(C.AMOUNT) > 0)
        .group_by(C.CUSTOMER_ID, C.ORDER_DATE, C.CHANNEL)
        .agg(pl.col(C.AMOUNT).sum().alias("spend"))
        .sort([C.CUSTOMER_ID, C.ORDER_DATE, "spend", C.CHANNEL], descending=[False, False, True, False])
        .group_by(C.CUSTOMER_ID, C.ORDER_DATE, maintain_order=True)
        .agg(pl.col(C.CHANNEL).first())
    )
    ends = (
        daily.group_by(C.CUSTOMER_ID, maintain_order=True)
        .agg(
            pl.len().alias("days"),
            pl.col(C.CHANNEL).first().alias("first_channel"),
            pl.col(C.CHANNEL).last().alias("latest_channel"),
        )
        .filter(pl.col("days") >= 2)
    )
    return (
        ends.group_by("first_channel", "latest_channel")
        .agg(pl.len().cast(pl.Int64).alias("customers"))
        .with_columns((pl.col("customers") / pl.col("customers").sum()).alias("share"))
        .sort(["customers", "first_channel", "latest_channel"], descending=[True, False, False])
        .collect()
    )


def channel_migration_takeaway(flows: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    if flows.is_empty():
        return "No customer bought on two different days yet, so channel switching cannot be seen."
    total = flows["customers"].sum()
    moved = flows.filter(pl.col("first_channel") != pl.col("latest_channel"))
    if moved.is_empty():
        return f"All {style.count(total)} repeat customers still buy in the channel where they started."
    top = moved.row(0, named=True)
    return (
        f"{style.share(moved['customers'].sum() / total, 0)} of {style.count(total)} repeat customers now buy in a "
        f"different channel than at first; the biggest move is {top['first_channel']} → {top['latest_channel']} "
        f"({style.count(top['customers'])} customers)."
    )
