"""Product analytics: top products, repeat purchase by product, first-to-second-order journeys, refunds.

Products are read from the canonical ``product`` column; data without one is
analysed by ``category`` instead (see :func:`item_column`). Revenue is the sum
of the canonical amount (net of returns, as ``summary`` defines it); a return
is a line with a negative amount, and a product's refund rate is its returned
amount over its sold amount.

Exports that list line items under one order (Shopify, WooCommerce) are merged
by ingest into one transaction per order, carrying its largest line's product;
the items themselves are the dataset's *lines*. :func:`sold_items` puts them
back, so revenue by product counts each item, not the whole order under its
main product.
"""
from __future__ import annotations

import polars as pl

from crm_core.customers import exact_sum, order_key
from crm_core.drivers import line_attributes, purchase_orders
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column

NO_SECOND = "No second order yet"
OTHER = "Other"
#: Buckets of days from the first to the second order: (label, last day of the bucket).
SECOND_ORDER_BUCKETS = (("Within 30 days", 30), ("31-90 days", 90), ("91-180 days", 180),
                        ("181-365 days", 365), ("After a year", None))
NOT_YET = "Not yet"


def item_column(tx: pl.LazyFrame) -> str | None:
    """The column products are read from: ``product``, else ``category``, else None."""
    for name in (C.PRODUCT, C.CATEGORY):
        if has_column(tx, name):
            return name
    return None


_ORDER = [C.CUSTOMER_ID, C.ORDER_ID]
#: What a line brings to an item row: its own names (the order's row gives the rest).
_LINE_TRAITS = (C.PRODUCT, C.SKU, C.CATEGORY, C.QUANTITY)


def lines_add_items(lines: pl.LazyFrame | pl.DataFrame | None, tx: pl.LazyFrame | pl.DataFrame) -> bool:
    """True when ``lines`` hold items the transactions merged (more lines than transaction rows): the
    only case where a dataset needs them kept beside its transactions."""
    if lines is None or not has_column(tx, C.ORDER_ID):
        return False
    count = pl.len()
    return bool(lines.lazy().select(count).collect().item() > tx.lazy().select(count).collect().item())


def sold_items(tx: pl.LazyFrame, lines: pl.LazyFrame | None) -> pl.LazyFrame:
    """The transactions with each merged order split back into its line items.

    An order (customer_id, order_id) that has lines is replaced by one row per
    line: the order's columns (date, channel, region, discount code, ...), the
    line's product, SKU, category (when the lines have one) and quantity, and as
    amount the line's share of the order's revenue: order revenue x line amount /
    sum of the order's line amounts (equal shares when those are unknown or sum
    to 0); a discount amount is shared the same way. Revenue stays as
    ``summary`` defines it and sums to the same total; a refund the export
    does not itemise is spread in proportion. Other transaction rows (orders
    without lines or without an order id) stay as they are.

    Parameters
    ----------
    tx
        Canonical transactions (already filtered to the period and view: lines of
        other orders are left out by the join).
    lines
        The dataset's lines (:data:`crm_core.schema.LINE_SCHEMA`), or None.
    """
    if lines is None or not has_column(tx, C.ORDER_ID):
        return tx
    line_names = lines.collect_schema().names()
    traits = [name for name in _LINE_TRAITS if name in line_names]
    keyed = lines.filter(pl.col(C.ORDER_ID).is_not_null()).select(*_ORDER, *traits, "line_amount")
    orders = tx.filter(pl.col(C.ORDER_ID).is_not_null()).join(keyed.select(_ORDER).unique(), on=_ORDER, how="semi")
    shared = [name for name in (C.AMOUNT, C.DISCOUNT_AMOUNT) if has_column(tx, name)]  # split among the lines
    order_rows = orders.group_by(_ORDER).agg(
        *[exact_sum(pl.col(name)).alias(f"_order_{name}") for name in shared],
        pl.all().exclude(*shared, *traits).first())
    known = pl.col("line_amount").fill_null(0.0).clip(lower_bound=0.0)
    total = known.sum().over(_ORDER)
    weight = pl.when(total > 0).then(known / total).otherwise(1.0 / pl.len().over(_ORDER))
    split = (keyed.join(order_rows, on=_ORDER, how="inner")
             .with_columns([(pl.col(f"_order_{name}") * weight).alias(name) for name in shared])
             .drop(*[f"_order_{name}" for name in shared], "line_amount"))
    untouched = tx.join(keyed.select(_ORDER).unique(), on=_ORDER, how="anti")
    columns = tx.collect_schema().names()
    return pl.concat([untouched, split.select([name for name in columns if name in split.collect_schema().names()])],
                     how="diagonal_relaxed").select(columns)


def one_item_per_order(tx: pl.LazyFrame, item: str) -> bool:
    """True when no order lists two different values of ``item``: the rows are orders, not line items
    (e.g. a Shopify export merged into orders, each carrying its first product), so revenue by product
    counts each order's whole revenue under that one product."""
    if not has_column(tx, C.ORDER_ID):
        return False
    widest = (tx.filter(pl.col(C.ORDER_ID).is_not_null()).group_by(C.ORDER_ID)
              .agg(pl.col(item).n_unique().alias("_items")).select(pl.col("_items").max()).collect().item())
    return widest is not None and widest <= 1


def product_table(tx: pl.LazyFrame, item: str) -> pl.DataFrame:
    """One row per product (value of ``item``), by revenue.

    Returns
    -------
    pl.DataFrame
        name, revenue (net), revenue_share, sold (positive amounts), returned
        (returned amount, positive), refund_rate (returned / sold), customers
        (who bought it), orders (containing it), repeat_rate (share of its
        buyers who placed another order on a later day than their first
        purchase of it), rebuy_rate (share who bought it again on a later day).
        Lines without a value of ``item`` are grouped as "(unknown)".
    """
    amount = pl.col(C.AMOUNT)
    bought = amount > 0
    lines = tx.with_columns(_name(item), order_key(tx).alias("_order"))
    last_order = purchase_orders(tx).group_by(C.CUSTOMER_ID).agg(pl.col("order_date").max().alias("_last_order"))
    buyers = (
        lines.filter(bought).group_by("name", C.CUSTOMER_ID)
        .agg(pl.col(C.ORDER_DATE).min().alias("_first"), pl.col(C.ORDER_DATE).n_unique().alias("_days"))
        .join(last_order, on=C.CUSTOMER_ID, how="left")
        .group_by("name")
        .agg(pl.len().alias("customers"),
             (pl.col("_last_order") > pl.col("_first")).mean().alias("repeat_rate"),
             (pl.col("_days") >= 2).mean().alias("rebuy_rate"))
    )
    sales = lines.group_by("name").agg(
        exact_sum(amount).alias("revenue"),
        exact_sum(amount.clip(lower_bound=0)).alias("sold"),
        exact_sum(-amount.clip(upper_bound=0)).alias("returned"),
        pl.struct(C.CUSTOMER_ID, "_order").filter(bought).n_unique().alias("orders"),
    )
    return (
        sales.join(buyers, on="name", how="left")
        .with_columns(
            (pl.col("revenue") / pl.col("revenue").sum()).alias("revenue_share"),
            pl.when(pl.col("sold") > 0).then(pl.col("returned") / pl.col("sold")).alias("refund_rate"),
            pl.col("customers").fill_null(0),
        )
        .select("name", "revenue", "revenue_share", "sold", "returned", "refund_rate", "customers", "orders",
                "repeat_rate", "rebuy_rate")
        .sort(["revenue", "name"], descending=[True, False])
        .collect()
    )


def _name(item: str) -> pl.Expr:
    text = pl.col(item).cast(pl.String).str.strip_chars()
    return pl.when(text.is_null() | (text == "")).then(pl.lit("(unknown)")).otherwise(text).alias("name")


def top_products(table: pl.DataFrame, by: str = "revenue", limit: int = 10) -> pl.DataFrame:
    """The ``limit`` best rows of :func:`product_table` by "revenue" or "customers"."""
    if by not in ("revenue", "customers"):
        raise ValueError("Rank products by 'revenue' or 'customers'.")
    other = "customers" if by == "revenue" else "revenue"
    return table.sort([by, other, "name"], descending=[True, True, False]).head(limit)


def journeys(tx: pl.LazyFrame, item: str, limit: int = 8) -> pl.DataFrame:
    """Customers from their first order's product to their second order's product (a Sankey's links).

    The first order is the earliest order with positive revenue; the second is
    the next one on a later day. Each order's product is its line with the
    largest amount (ties to the first listed), as in :mod:`crm_core.drivers`.
    First products beyond the ``limit`` most common, and second products beyond
    the ``limit`` most common, are shown as "Other".

    Returns
    -------
    pl.DataFrame
        from_item, to_item (:data:`NO_SECOND` when there is none yet), customers;
        most customers first.
    """
    orders = purchase_orders(tx).join(line_attributes(tx).select("_line", _name(item)),
                                      left_on="top_line", right_on="_line", how="left")
    first = orders.filter(pl.col("order_number") == 1).select(
        C.CUSTOMER_ID, pl.col("order_date").alias("_first_date"), pl.col("name").alias("from_item"))
    second = (
        orders.join(first, on=C.CUSTOMER_ID).filter(pl.col("order_date") > pl.col("_first_date"))
        .group_by(C.CUSTOMER_ID)
        .agg(pl.col("name").sort_by(["order_date", "first_line"]).first().alias("to_item"))
    )
    flows = (first.join(second, on=C.CUSTOMER_ID, how="left")
             .with_columns(pl.col("to_item").fill_null(pl.lit(NO_SECOND))).collect())
    flows = flows.with_columns(_keep_top("from_item", flows, limit), _keep_top("to_item", flows, limit, NO_SECOND))
    return (flows.group_by("from_item", "to_item").agg(pl.len().alias("customers"))
            .sort(["customers", "from_item", "to_item"], descending=[True, False, False]))


def _keep_top(column: str, frame: pl.DataFrame, limit: int, keep: str | None = None) -> pl.Expr:
    """``column`` with values outside its ``limit`` most frequent replaced by :data:`OTHER` (``keep`` stays)."""
    counts = frame[column].value_counts().filter(pl.col(column) != (keep or "")).sort(["count", column], descending=[True, False])
    top = set(counts[column].head(limit).to_list()) | ({keep} if keep else set())
    return pl.when(pl.col(column).is_in(list(top))).then(pl.col(column)).otherwise(pl.lit(OTHER)).alias(column)


def second_order_timing(profiles: pl.DataFrame) -> pl.DataFrame:
    """How long customers took to place a second order (from :func:`crm_core.drivers.customer_profiles`).

    Returns
    -------
    pl.DataFrame
        bucket (in :data:`SECOND_ORDER_BUCKETS` order, then :data:`NOT_YET`), customers, share.
    """
    gap = (pl.col("second_date") - pl.col("first_date")).dt.total_days()
    bucket = pl.when(gap.is_null()).then(pl.lit(NOT_YET))
    for label, last_day in SECOND_ORDER_BUCKETS:
        bucket = bucket.when(gap <= last_day).then(pl.lit(label)) if last_day is not None else bucket.otherwise(pl.lit(label))
    labels = [label for label, _ in SECOND_ORDER_BUCKETS] + [NOT_YET]
    counts = profiles.group_by(bucket.alias("bucket")).agg(pl.len().alias("customers"))
    table = pl.DataFrame({"bucket": labels}).join(counts, on="bucket", how="left", maintain_order="left")
    return table.with_columns(pl.col("customers").fill_null(0).cast(pl.UInt32)).with_columns(
        (pl.col("customers") / max(profiles.height, 1)).alias("share"))


def median_days_to_second(profiles: pl.DataFrame) -> float | None:
    """Median days from first to second order among customers who came back (None if nobody did)."""
    gaps = profiles.select((pl.col("second_date") - pl.col("first_date")).dt.total_days().drop_nulls())
    return None if gaps.height == 0 else float(gaps.to_series().median())


def refunds_by_group(tx: pl.LazyFrame, groups: pl.DataFrame, group_column: str = "group") -> pl.DataFrame:
    """Refund rate per customer group (e.g. RFM segment): group, sold, returned, refund_rate, customers."""
    amount = pl.col(C.AMOUNT)
    return (
        tx.join(groups.lazy().select(C.CUSTOMER_ID, pl.col(group_column).cast(pl.String).alias("group")),
                on=C.CUSTOMER_ID)
        .group_by("group")
        .agg(exact_sum(amount.clip(lower_bound=0)).alias("sold"), exact_sum(-amount.clip(upper_bound=0)).alias("returned"),
             pl.col(C.CUSTOMER_ID).n_unique().alias("customers"))
        .with_columns(pl.when(pl.col("sold") > 0).then(pl.col("returned") / pl.col("sold")).alias("refund_rate"))
        .sort(["refund_rate", "group"], descending=[True, False], nulls_last=True)
        .collect()
    )


def product_takeaway(table: pl.DataFrame, item: str, *, style: NumberStyle = PLAIN) -> str:
    """One sentence on the top product by revenue and the best repeat rate among sizeable products."""
    if table.height == 0:
        return "No product sales in the period."
    noun = "product" if item == C.PRODUCT else "category"
    top = table.row(0, named=True)
    sentence = f"The top {noun}, {top['name']}, brings {style.share(top['revenue_share'], 0)} of revenue"
    sizeable = table.filter(pl.col("customers") >= 30).sort("repeat_rate", descending=True, nulls_last=True)
    if sizeable.height > 1:
        best = sizeable.row(0, named=True)
        sentence += (f"; {style.share(best['repeat_rate'], 0)} of the customers who bought {best['name']} ordered again later, "
                     f"the highest of any {noun} with 30 or more buyers")
    return sentence + "."


def journey_takeaway(flows: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: how many came back, and the most common path to a second order."""
    total = int(flows["customers"].sum()) if flows.height else 0
    if total == 0:
        return "No customer has a first order yet."
    returned = flows.filter(pl.col("to_item") != NO_SECOND)
    came_back = int(returned["customers"].sum())
    sentence = (f"{style.count(came_back)} of {style.count(total)} customers ({style.share(came_back / total, 0)}) "
                "placed a second order")
    named = returned.filter((pl.col("from_item") != OTHER) & (pl.col("to_item") != OTHER))
    if named.height:
        path = named.row(0, named=True)
        same = " again" if path["from_item"] == path["to_item"] else ""
        sentence += (f"; the most common path is {path['from_item']} then {path['to_item']}{same} "
                     f"({style.count(path['customers'])} customers)")
    return sentence + "."
