"""The figures, written once as Ibis expressions over the canonical order lines.

Each function takes the canonical table of :func:`crm_core.engines.source.canonical_table`
and returns an Ibis expression; the engine (DuckDB, PostgreSQL, Spark) runs it
and only the result travels. The definitions are the file path's, line for line:

- a *purchase* line has an amount >= 0 and is not in an order refunded in full
  (:func:`crm_core.customers.is_purchase`);
- an order is the order id, else the purchase day (:func:`crm_core.customers.order_key`);
- the per-customer summary is :func:`crm_core.customers.summarize`, the period
  KPIs :mod:`crm_core.kpis`, the order counts :func:`crm_core.customers.count_orders`,
  the scores :func:`crm_core.rfm.score_customers`, the tiers
  :func:`crm_core.portfolio.assign_tiers`, the CLV statistics
  :func:`crm_core.clv.data.rfm_summary` (compressed to counts of equal rows).

Per-customer figures (the summary, the values behind scores and tiers, the
CLV statistics) are one group-by per customer over the lines, with distinct
counts as ``COUNT(DISTINCT ...)`` and the first purchase date as a window over
the customer's lines: PostgreSQL then sorts the lines by customer in its
parallel workers and streams the groups (a group-by per order or per day, one
group per line, runs as one hash table in a single process), and Spark
shuffles the lines once. On Spark (``sorted_lines``) the distinct counts and
the Overview's buckets are read off the customer's lines sorted by each value
instead (:func:`_sorted_windows`, :func:`sorted_bucket_counts`): Spark copies
every line once per ``COUNT(DISTINCT ...)`` and shuffles the copies again.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import ibis

from crm_core.schema import C

Table = Any  # ibis.expr.types.Table (untyped library)
Expr = Any

#: Ibis truncation units of the trend grains (weeks start on Monday in every engine).
GRAIN_UNITS = {"day": "D", "week": "W", "month": "M"}


#: Money is summed exactly, as whole millionths of the currency unit in 64-bit integers: engines
#: add floats in an order that changes with parallelism, so equal totals could differ in the last
#: bit (and ties in rankings flip); integer sums are exact, and faster than DECIMAL on PostgreSQL.
MICROS = 1_000_000
#: ``round(share * n, 9)`` of the file path's tier sizes: a product this close below a whole number counts as it.
_ROUNDED_AWAY = 5e-10
_MONEY_SUMS = ("revenue", "gross_revenue", "returns", "cost", "first_day_amount")


def money(expr: Expr) -> Expr:
    """An amount in whole millionths (an amount with more than 6 decimals is rounded there)."""
    return (expr * MICROS).round().cast("int64")


def from_micros(expr: Expr) -> Expr:
    """A sum of :func:`money` back as a float (the nearest one to the exact decimal total)."""
    return expr.cast("float64") / MICROS


def is_purchase(tx: Table) -> Expr:
    """Amount >= 0 and not in an order refunded in full."""
    purchase = tx[C.AMOUNT] >= 0
    if C.FULLY_REFUNDED in tx.columns:
        purchase = purchase & ~tx[C.FULLY_REFUNDED].fill_null(False)
    return purchase


def order_key(tx: Table) -> Expr:
    """Order id, else the purchase day as ISO text (the same text in every engine)."""
    day = tx[C.ORDER_DATE].cast("string")
    return ibis.coalesce(tx[C.ORDER_ID], day) if C.ORDER_ID in tx.columns else day


def in_period(tx: Table, start: dt.date | None, end: dt.date | None) -> Table:
    """Lines with ``start <= order_date <= end`` (either bound optional)."""
    conditions = []
    if start is not None:
        conditions.append(tx[C.ORDER_DATE] >= start)
    if end is not None:
        conditions.append(tx[C.ORDER_DATE] <= end)
    return tx.filter(*conditions) if conditions else tx


def _first_purchase(rows: Table) -> Expr:
    """Each line's customer's first purchase date among ``rows`` (a window over the customer's lines).

    Engines sort (or partition) the lines by customer once for the window and
    run the per-customer group-by on that same order: PostgreSQL sorts in its
    parallel workers and streams, Spark shuffles once.
    """
    bought_on = ibis.cases((rows["_buy"], rows[C.ORDER_DATE]), else_=ibis.null("date"))
    return bought_on.min().over(group_by=rows[C.CUSTOMER_ID])


def _first_of_value(rows: Table, value: Expr) -> Expr:
    """True on one line per distinct non-null ``value`` of each customer: the lines sorted by it, a line
    whose predecessor holds another value (or none) starts a new one."""
    previous = value.lag().over(group_by=rows[C.CUSTOMER_ID], order_by=value)
    return value.notnull() & (previous.isnull() | (previous != value))


def _distinct_in_list(value: Expr, where: Expr | None = None) -> Expr:
    """Distinct non-null ``value`` of a group as the size of its list of values without repeats (Spark's shape).

    Spark runs ``COUNT(DISTINCT ...)`` (and a distinct list) by copying each
    line once per distinct count and shuffling the copies again (an Expand);
    a plain list per group is an ordinary aggregate, streamed when the lines
    arrive sorted by the group (a few values per customer).
    """
    return value.collect(where=where).unique().length().fill_null(0)


def _sorted_windows(rows: Table, distinct: dict[str, Expr], first_of: str | None = None) -> Table:
    """``rows`` with ``_new_<name>`` flags (:func:`_first_of_value`) per value of ``distinct`` and, with
    ``first_of``, ``_first``: the smallest value of ``distinct[first_of]`` per customer.

    Spark's shape of distinct counts (``count(where=_new_<name>)`` per
    customer): Spark runs two or more ``COUNT(DISTINCT ...)`` by copying each
    line once per count and shuffling the copies again (an Expand); here the
    lines are shuffled once, by customer, and each count is a local sort. The
    first value comes from the same sort as its flag.
    """
    windows = {f"_new_{name}": _first_of_value(rows, value) for name, value in distinct.items()}
    if first_of is not None:
        value = distinct[first_of]
        windows["_first"] = value.min().over(ibis.window(group_by=rows[C.CUSTOMER_ID], order_by=value, rows=(None, None)))
    return rows.mutate(**windows)


def customer_summary(tx: Table, as_of: dt.date, start: dt.date | None = None, *, sorted_lines: bool = False) -> Table:
    """One row per customer of the lines in ``start..as_of``: the columns of ``summarize``.

    One group-by per customer over the lines: sums, first / last dates, and the
    distinct counts (purchase days, orders, categories, channels) as
    ``COUNT(DISTINCT ...)`` per customer. The first purchase day's net amount
    and channel use the first purchase date, a window over the customer's lines
    (:func:`_first_purchase`), so no per-line or per-order table is built and
    nothing is joined. ``first_channel`` is the alphabetically first channel of
    the first purchase day's purchase lines (engines have no line order: the
    file path takes the first line's).

    ``sorted_lines`` (Spark): the distinct counts and the first purchase date
    from sorts of each customer's lines (:func:`_sorted_windows`), not
    ``COUNT(DISTINCT ...)``.
    """
    rows = in_period(tx, start, as_of)
    rows = rows.mutate(_buy=is_purchase(rows))
    if sorted_lines:
        rows = rows.mutate(_bought_on=ibis.cases((rows["_buy"], rows[C.ORDER_DATE]), else_=ibis.null("date")))
        rows = _sorted_windows(rows, {"purchase_days": rows["_bought_on"]}, first_of="purchase_days")
    else:
        rows = rows.mutate(_first=_first_purchase(rows))
    amount, date, bought = money(rows[C.AMOUNT]), rows[C.ORDER_DATE], rows["_buy"]

    def count_distinct(value: Expr, where: Expr | None = None) -> Expr:
        """Distinct non-null values per customer: ``COUNT(DISTINCT ...)``, or when sorted the size of the
        customer's list of values without repeats (no Expand; the lines arrive sorted by customer)."""
        return _distinct_in_list(value, where) if sorted_lines else value.nunique(where=where)

    on_first_day = date == rows["_first"]
    figures: dict[str, Expr] = {
        # Sums of 64-bit integers are wider types in PostgreSQL (numeric) and Spark: cast back.
        "first_date": date.min(), "last_date": date.max(),
        "revenue": amount.sum().cast("int64"), "gross_revenue": amount.clip(lower=0).sum().cast("int64"),
        "returns": (-amount).clip(lower=0).sum().cast("int64"), "return_lines": rows[C.AMOUNT].count(where=rows[C.AMOUNT] < 0),
        "first_purchase_date": date.min(where=bought), "last_purchase_date": date.max(where=bought),
        "first_day_amount": amount.sum(where=on_first_day).cast("int64"),
        "purchase_days": (rows[C.CUSTOMER_ID].count(where=rows["_new_purchase_days"]) if sorted_lines
                          else date.nunique(where=bought)),
    }
    if C.ORDER_ID in rows.columns:
        figures["orders"] = count_distinct(order_key(rows), where=bought)
    if C.QUANTITY in rows.columns:
        figures["quantity"] = rows[C.QUANTITY].sum()
    if C.COST in rows.columns:
        figures["cost"] = money(rows[C.COST]).sum().cast("int64")
    if C.DAYS_LATE in rows.columns:
        figures.update(late_sum=rows[C.DAYS_LATE].sum(), late_lines=rows[C.DAYS_LATE].count())
    if C.CHANNEL in rows.columns:
        figures["first_channel"] = rows[C.CHANNEL].min(where=bought & on_first_day)
    for column, name in ((C.CATEGORY, "categories"), (C.CHANNEL, "channels")):
        if column in rows.columns:
            figures[name] = count_distinct(rows[column])  # distinct non-null values
    joined = rows.group_by(C.CUSTOMER_ID).agg(**figures)
    joined = joined.mutate(first_day_amount=joined["first_day_amount"].fill_null(0),
                           **{name: joined[name].cast("int64") for name in ("purchase_days", "orders", "categories", "channels")
                              if name in joined.columns})
    joined = joined.mutate(**{name: from_micros(joined[name]) for name in _MONEY_SUMS if name in joined.columns})
    if C.ORDER_ID not in rows.columns:
        joined = joined.mutate(orders=joined["purchase_days"])

    as_of_literal = ibis.literal(as_of)
    derived: dict[str, Expr] = {
        "recency_days": as_of_literal.delta(joined["last_date"], unit="day").cast("int64"),
        "tenure_days": as_of_literal.delta(joined["first_date"], unit="day").cast("int64"),
        "aov": ibis.cases((joined["orders"] > 0, joined["revenue"] / joined["orders"]), else_=ibis.null("float64")),
    }
    if C.COST in rows.columns:
        derived["margin"] = joined["revenue"] - joined["cost"]
    if C.DAYS_LATE in rows.columns:
        derived["days_late_mean"] = ibis.cases((joined["late_lines"] > 0, joined["late_sum"] / joined["late_lines"]),
                                               else_=ibis.null("float64"))
    return joined.mutate(**derived)


def customer_values(tx: Table, as_of: dt.date, start: dt.date | None = None) -> Table:
    """customer_id, recency_days, orders, revenue (and margin with costs): what scores, segments and tiers need.

    The same values as :func:`customer_summary`'s columns, in one group-by per
    customer over the lines (orders: distinct order keys of the purchase lines;
    on Spark too: with one distinct count it needs no Expand, and sorting the
    lines by customer for :func:`_distinct_in_list` measured no faster).
    """
    rows = in_period(tx, start, as_of)
    buy = is_purchase(rows)
    per_customer: dict[str, Expr] = {"last_date": rows[C.ORDER_DATE].max(), "orders": order_key(rows).nunique(where=buy),
                                     "revenue": money(rows[C.AMOUNT]).sum().cast("int64")}
    if C.COST in rows.columns:
        per_customer["cost"] = money(rows[C.COST]).sum().cast("int64")
    customers = rows.group_by(C.CUSTOMER_ID).agg(**per_customer)
    values: dict[str, Expr] = {
        C.CUSTOMER_ID: customers[C.CUSTOMER_ID],
        "recency_days": ibis.literal(as_of).delta(customers["last_date"], unit="day").cast("int64"),
        "orders": customers["orders"].cast("int64"), "revenue": from_micros(customers["revenue"]),
    }
    if C.COST in rows.columns:
        values["margin"] = from_micros(customers["revenue"]) - from_micros(customers["cost"])
    return customers.select(**values)


def _left_join(table: Table, other: Table, key: str) -> Table:
    """``table`` left-joined with ``other`` on ``key``, without the right side's copy of the key."""
    joined = table.left_join(other, table[key] == other[key])
    return joined.drop(*(column for column in joined.columns if column.endswith("_right")))


def first_purchase_dates(tx: Table) -> Table:
    """Each customer's first purchase date over the whole history (customer_id, first_date)."""
    return tx.filter(is_purchase(tx)).group_by(C.CUSTOMER_ID).agg(first_date=ibis._[C.ORDER_DATE].min())


def bucket_counts(history: Table, start: dt.date, end: dt.date, bucket_of: Callable[[Expr], Expr],
                  first: Table | None = None, partial_start: dt.date | None = None, *,
                  distinct_in_groups: bool = False) -> Table:
    """Revenue, orders, active and new customers per bucket of the lines in ``start..end``.

    ``bucket_of`` maps a date expression to its bucket's first day (``period``;
    null: in no bucket). A customer is new in a bucket when they buy there and
    their first purchase ever (over the whole ``history``) is on or after the
    bucket's first day.

    Each count is read off the smallest table that holds it, because the big
    group-bys (one group per order) cost the most in every engine:

    - revenue, orders and active customers: with ``distinct_in_groups`` (for
      PostgreSQL), the lines grouped per (bucket, customer), orders as
      distinct order keys of the purchase lines (one sort of the lines, in
      its parallel workers; no per-order hash table in one process), then
      summed per bucket. Otherwise (DuckDB, Spark: their parallel hash
      tables handle it faster) revenue is summed per bucket from the lines,
      and orders come from the distinct (bucket, customer, order) rows of the
      purchase lines, counted per (bucket, customer), then per bucket;
    - new customers: the first purchase dates (one row per customer) counted
      per bucket, since a customer who buys in a bucket and first bought on or
      after its first day first bought inside it. Only a bucket that starts
      before ``start`` (``partial_start``, its first day) also has new customers
      whose first purchase lies before ``start``: those who buy again in the
      bucket's part of the range, counted from that bucket's lines.
    """
    rows = in_period(history, start, end)
    rows = rows.mutate(period=bucket_of(rows[C.ORDER_DATE]))
    rows = rows.filter(rows["period"].notnull())
    buys = rows.filter(is_purchase(rows))
    if distinct_in_groups:
        key = order_key(rows) if C.ORDER_ID in rows.columns else rows[C.ORDER_DATE]
        people = rows.group_by(["period", C.CUSTOMER_ID]).agg(revenue=money(rows[C.AMOUNT]).sum().cast("int64"),
                                                              orders=key.nunique(where=is_purchase(rows)))
        counts = people.group_by("period").agg(revenue=people["revenue"].sum().cast("int64"),
                                                orders=people["orders"].sum().cast("int64"),
                                                active_customers=people["orders"].count(where=people["orders"] > 0))
    else:
        revenue = rows.group_by("period").agg(revenue=money(rows[C.AMOUNT]).sum().cast("int64"))
        key = order_key(buys) if C.ORDER_ID in buys.columns else buys[C.ORDER_DATE]
        orders = buys.select("period", C.CUSTOMER_ID, _order=key).distinct()
        per_customer = orders.group_by(["period", C.CUSTOMER_ID]).agg(orders=ibis._.count())
        counts = _left_join(revenue, per_customer.group_by("period").agg(
            orders=per_customer["orders"].sum().cast("int64"), active_customers=ibis._.count()), "period")
    first = first if first is not None else first_purchase_dates(history)
    firsts = first.filter(first["first_date"].between(start, end))
    new = firsts.group_by(period=bucket_of(firsts["first_date"])).agg(new_customers=ibis._.count())
    if partial_start is not None:
        earlier = first.filter(first["first_date"].between(partial_start, start - dt.timedelta(days=1)))
        returning = buys.filter(buys["period"] == partial_start).select(C.CUSTOMER_ID).distinct()
        came_back = earlier.semi_join(returning, earlier[C.CUSTOMER_ID] == returning[C.CUSTOMER_ID])
        extra = came_back.aggregate(new_customers=ibis._.count()).select(period=ibis.literal(partial_start),
                                                                         new_customers="new_customers")
        new = new.union(extra, distinct=False).group_by("period").agg(new_customers=ibis._["new_customers"].sum())
    table = _left_join(counts, new.filter(new["period"].notnull()), "period")
    return table.select(
        "period", revenue=from_micros(table["revenue"]), orders=table["orders"].fill_null(0).cast("int64"),
        active_customers=table["active_customers"].fill_null(0).cast("int64"),
        new_customers=table["new_customers"].fill_null(0).cast("int64"))


def period_cards(history: Table, periods: Sequence[tuple[dt.date, dt.date]], first: Table | None = None, *,
                 distinct_in_groups: bool = False) -> Table:
    """:func:`bucket_counts` of disjoint periods, each bucket named by its start date."""
    def bucket_of(date: Expr) -> Expr:
        return ibis.cases(*((date.between(start, end), ibis.literal(start)) for start, end in periods),
                          else_=ibis.null("date"))

    return bucket_counts(history, min(start for start, _ in periods), max(end for _, end in periods), bucket_of, first,
                         distinct_in_groups=distinct_in_groups)


def trend(history: Table, start: dt.date, end: dt.date, grain: str, first: Table | None = None, *,
          distinct_in_groups: bool = False) -> Table:
    """:func:`bucket_counts` per day / week (from Monday) / month of ``start..end``."""
    first_bucket = {"day": start, "week": start - dt.timedelta(days=start.weekday()), "month": start.replace(day=1)}[grain]
    return bucket_counts(history, start, end, lambda date: date.truncate(GRAIN_UNITS[grain]).cast("date"), first,
                         first_bucket if first_bucket < start else None, distinct_in_groups=distinct_in_groups)


def overview(history: Table, periods: Sequence[tuple[dt.date, dt.date]], start: dt.date, end: dt.date,
             grain: str, *, distinct_in_groups: bool = False, sorted_lines: bool = False) -> Table:
    """:func:`period_cards` and :func:`trend` in one query (``kind`` 'cards' or 'trend'), one first-purchase table.

    ``sorted_lines`` (Spark): :func:`sorted_bucket_counts` of both bucketings.
    """
    if sorted_lines:
        def card_of(date: Expr) -> Expr:
            return ibis.cases(*((date.between(first, last), ibis.literal(first)) for first, last in periods),
                              else_=ibis.null("date"))

        def month_of(date: Expr) -> Expr:
            return ibis.cases((date.between(start, end), date.truncate(GRAIN_UNITS[grain]).cast("date")),
                              else_=ibis.null("date"))

        table = sorted_bucket_counts(history, {"cards": card_of, "trend": month_of})
        return table.select("period", "revenue", "orders", "active_customers", "new_customers", "kind")
    first = first_purchase_dates(history)
    cards = period_cards(history, periods, first, distinct_in_groups=distinct_in_groups).mutate(kind=ibis.literal("cards"))
    buckets = trend(history, start, end, grain, first, distinct_in_groups=distinct_in_groups).mutate(kind=ibis.literal("trend"))
    return cards.union(buckets.select(*cards.columns), distinct=False)


def sorted_bucket_counts(history: Table, bucketings: dict[str, Callable[[Expr], Expr]]) -> Table:
    """:func:`bucket_counts` per kind of bucket (kind, period, revenue, orders, active and new customers), from
    the lines shuffled once by customer and sorted: Spark's shape.

    Each bucketing maps a date to its bucket's first day (null: in none). The
    customer's lines sorted by (bucket, order key of the purchase lines) give,
    per line, whether it starts an order in its bucket (its predecessor in the
    customer's bucket holds another key) and whether it is the customer's first
    purchase line there (no purchase line before it: active); the first
    purchase date over the whole history is a window over the same lines, and
    an active customer whose first purchase is on or after the bucket's first
    day is new there (as in :func:`bucket_counts`). Only sums per bucket are
    then grouped: no group-by per order and no join.
    """
    rows = history.mutate(_buy=is_purchase(history))
    key = order_key(rows) if C.ORDER_ID in rows.columns else rows[C.ORDER_DATE]
    kinds = list(bucketings)
    rows = rows.mutate(_key=ibis.cases((rows["_buy"], key), else_=ibis.null(key.type())),
                       _bought_on=ibis.cases((rows["_buy"], rows[C.ORDER_DATE]), else_=ibis.null("date")),
                       **{f"_in_{kind}": bucket_of(rows[C.ORDER_DATE]) for kind, bucket_of in bucketings.items()})
    # The first purchase date over every line, in the sort the first bucketing's flags use too (Spark sorts
    # a window's partition columns with nulls first).
    everything = ibis.window(group_by=rows[C.CUSTOMER_ID], order_by=[rows[f"_in_{kinds[0]}"].asc(nulls_first=True),
                                                                      rows["_key"]], rows=(None, None))
    rows = rows.mutate(_first=rows["_bought_on"].min().over(everything))
    rows = rows.filter(ibis.or_(*(rows[f"_in_{kind}"].notnull() for kind in kinds)))
    flags: dict[str, Expr] = {}
    for kind in kinds:
        previous = rows["_key"].lag().over(group_by=[rows[C.CUSTOMER_ID], rows[f"_in_{kind}"]], order_by=rows["_key"])
        flags[f"_order_{kind}"] = rows["_key"].notnull() & (previous.isnull() | (previous != rows["_key"]))
        flags[f"_active_{kind}"] = rows["_key"].notnull() & previous.isnull()
    rows = rows.mutate(**flags)
    both = rows.mutate(kind=ibis.array([ibis.literal(kind) for kind in kinds])).unnest("kind")

    def per_kind(prefix: str) -> Expr:
        return ibis.cases(*((both["kind"] == kind, both[f"{prefix}{kind}"]) for kind in kinds))

    lines = both.select("kind", period=per_kind("_in_"), _money=money(both[C.AMOUNT]), _order=per_kind("_order_"),
                        _active=per_kind("_active_"), _first=both["_first"])
    lines = lines.filter(lines["period"].notnull())
    counts = lines.group_by(["kind", "period"]).agg(
        revenue=lines["_money"].sum().cast("int64"), orders=lines["kind"].count(where=lines["_order"]),
        active_customers=lines["kind"].count(where=lines["_active"]),
        new_customers=lines["kind"].count(where=lines["_active"] & (lines["_first"] >= lines["period"])))
    return counts.select("kind", "period", revenue=from_micros(counts["revenue"]),
                         orders=counts["orders"].cast("int64"), active_customers=counts["active_customers"].cast("int64"),
                         new_customers=counts["new_customers"].cast("int64"))


def totals(tx: Table) -> Table:
    """One row: lines, customers, revenue, first/last date and the order counts of ``count_orders``.

    An order is a (customer, order id); lines without an order id (or without
    the column) are one order each. ``purchases`` are orders with a net amount
    >= 0 not refunded in full; ``positive_orders`` those of them with a net amount > 0.
    """
    refunded = tx[C.FULLY_REFUNDED].fill_null(False) if C.FULLY_REFUNDED in tx.columns else ibis.literal(False)
    lines = tx.select(C.CUSTOMER_ID, C.AMOUNT, _refunded=refunded,
                      **({C.ORDER_ID: tx[C.ORDER_ID]} if C.ORDER_ID in tx.columns else {}))
    if C.ORDER_ID in tx.columns:
        with_id = lines.filter(lines[C.ORDER_ID].notnull()).group_by([C.CUSTOMER_ID, C.ORDER_ID]).agg(
            amount=ibis._[C.AMOUNT].sum(), _refunded=ibis._["_refunded"].any())
        orders = with_id.select(C.AMOUNT, "_refunded").union(
            lines.filter(lines[C.ORDER_ID].isnull()).select(C.AMOUNT, "_refunded"), distinct=False)
    else:
        orders = lines.select(C.AMOUNT, "_refunded")
    purchase = (orders[C.AMOUNT] >= 0) & ~orders["_refunded"]
    counted = orders.aggregate(orders=orders.count(), purchases=orders.count(where=purchase),
                               positive_orders=orders.count(where=purchase & (orders[C.AMOUNT] > 0)))
    people = tx.select(C.CUSTOMER_ID).distinct().aggregate(customers=ibis._.count())
    overall = tx.aggregate(rows=tx.count(), revenue=from_micros(money(tx[C.AMOUNT]).sum()), first_date=tx[C.ORDER_DATE].min(),
                           last_date=tx[C.ORDER_DATE].max())
    return overall.cross_join(people).cross_join(counted)


def rfm_scores(summary: Table, bins: int, ties: str) -> Table:
    """r/f/m/fm scores of ``score_customers``: ``1 + floor(bins * worse / n)``.

    ``worse`` counts customers with a strictly worse value (``ties='shared'``:
    SQL ``RANK() - 1``), or the customers before this one in the order of value
    then customer id (``'ordinal'``). Recency is better when smaller.
    """
    n = summary[C.CUSTOMER_ID].count().over(ibis.window())

    def score(column: str, higher_is_better: bool) -> Expr:
        value = summary[column] if higher_is_better else ibis.desc(summary[column])
        if ties == "shared":
            worse = ibis.rank().over(ibis.window(order_by=value))
        else:
            worse = ibis.row_number().over(ibis.window(order_by=[value, summary[C.CUSTOMER_ID]]))
        return (worse * bins // n + 1).cast("int8")

    scored = summary.mutate(r_score=score("recency_days", False), f_score=score("orders", True),
                            m_score=score("revenue", True))
    return scored.mutate(fm_score=((scored["f_score"] + scored["m_score"] + 1) // 2).cast("int8"))


def score_cells(scored: Table) -> Table:
    """Customers and sums per combination of scores (at most bins³ rows): segments and grids are read off them.

    Sums, not means, so cells add up exactly into any grouping (revenue in
    whole millionths, see :func:`money`).
    """
    return scored.group_by(["r_score", "f_score", "m_score", "fm_score"]).agg(
        customers=scored.count(), revenue=money(scored["revenue"]).sum().cast("int64"),
        recency_days=scored["recency_days"].sum().cast("int64"), orders=scored["orders"].sum().cast("int64"))


def tiers(summary: Table, value: str, shares: Sequence[float] = (), amounts: Sequence[float] = ()) -> Table:
    """value_rank (1 = best; equal values by customer id) and tier_index (0 = best) of ``assign_tiers``.

    Rank tiers: ``shares`` are the cumulative shares of customers in each tier
    but the last. The file path puts the top ``min(n, ceil(round(share * n, 9)))``
    customers of n in the tier, so a customer ranked r is past it when
    ``r - 1 >= share * n`` give or take the rounding at 9 digits: written here
    with that margin, so n is counted in the same query (a window count).
    Amount tiers: a value below ``amounts[j]`` (or missing) crosses boundary j.
    """
    order = [ibis.desc(summary[value]), summary[C.CUSTOMER_ID]]
    ranked = summary.mutate(value_rank=ibis.row_number().over(ibis.window(order_by=order)) + 1,
                            _n=summary[C.CUSTOMER_ID].count().over(ibis.window()))
    rank, amount, n = ranked["value_rank"], ranked[value], ranked["_n"].cast("float64")
    crossed = [(rank - 1 >= n * share - _ROUNDED_AWAY).ifelse(1, 0) for share in shares]
    crossed += [(amount < cut).fill_null(True).ifelse(1, 0) for cut in amounts]
    index = crossed[0]
    for term in crossed[1:]:
        index = index + term
    return ranked.mutate(tier_index=index.cast("int64")).drop("_n")


def tier_counts(tiered: Table, value: str) -> Table:
    """Per tier_index: customers, revenue, margin (when known), value_min, value_max."""
    figures = {"customers": tiered.count(), "revenue": from_micros(money(tiered["revenue"]).sum()),
               "value_min": tiered[value].min(), "value_max": tiered[value].max()}
    if "margin" in tiered.columns:
        figures["margin"] = from_micros(money(tiered["margin"]).sum())
    return tiered.group_by("tier_index").agg(**figures)


def _purchase_customers(tx: Table, calibration_end: dt.date, sorted_lines: bool = False) -> Table:
    """Per customer of the lines up to ``calibration_end``: first / last purchase day, purchase days, net
    revenue and the first purchase day's net revenue (both in millionths).

    One group-by per customer over the lines; the first purchase date comes
    from a window over the customer's lines (:func:`_first_purchase`), so no
    per-day table is built or joined. ``sorted_lines`` (Spark): the purchase
    days counted from one sort of each customer's lines by purchase date,
    which also gives the first one (:func:`_sorted_windows`).
    """
    rows = tx.filter(tx[C.ORDER_DATE] <= calibration_end)
    rows = rows.select(C.CUSTOMER_ID, C.ORDER_DATE, C.AMOUNT, _buy=is_purchase(rows))  # only these are sorted
    if sorted_lines:
        rows = rows.mutate(_bought_on=ibis.cases((rows["_buy"], rows[C.ORDER_DATE]), else_=ibis.null("date")))
        rows = _sorted_windows(rows, {"days": rows["_bought_on"]}, first_of="days")
    else:
        rows = rows.mutate(_first=_first_purchase(rows))
    date, bought, amount = rows[C.ORDER_DATE], rows["_buy"], money(rows[C.AMOUNT])
    days = rows[C.CUSTOMER_ID].count(where=rows["_new_days"]) if sorted_lines else date.nunique(where=bought)
    return rows.group_by(C.CUSTOMER_ID).agg(
        first=date.min(where=bought), last=date.max(where=bought), purchase_days=days,
        revenue=amount.sum().cast("int64"), first_day=amount.sum(where=date == rows["_first"]).cast("int64"))


def _clv_rows(customers: Table, calibration_end: dt.date) -> Table:
    buyers = customers.filter(customers["first"].notnull())
    stats = buyers.select(
        x=(buyers["purchase_days"] - 1).cast("int64"),
        t_x_days=buyers["last"].delta(buyers["first"], unit="day").cast("int64"),
        T_days=ibis.literal(calibration_end).delta(buyers["first"], unit="day").cast("int64"),
    )
    return stats.group_by(["x", "t_x_days", "T_days"]).agg(customers=ibis._.count())


def _spend_rows(customers: Table) -> Table:
    repeat = customers.filter(customers["purchase_days"] > 1)
    stats = repeat.select(x=(repeat["purchase_days"] - 1).cast("int64"),
                          repeat_micros=(repeat["revenue"] - repeat["first_day"]).cast("int64"))
    return stats.group_by(["x", "repeat_micros"]).agg(customers=ibis._.count())


def clv_counts(tx: Table, calibration_end: dt.date, *, sorted_lines: bool = False) -> Table:
    """Customers per distinct (x, t_x in days, T in days) up to ``calibration_end``.

    x = distinct purchase days - 1, t_x = last - first purchase day, T =
    calibration_end - first purchase day (customers without a purchase left
    out): :func:`crm_core.clv.data.rfm_summary` before the division by 7, so
    a few thousand rows travel whatever the number of orders.
    """
    return _clv_rows(_purchase_customers(tx, calibration_end, sorted_lines), calibration_end)


def spend_counts(tx: Table, calibration_end: dt.date, *, sorted_lines: bool = False) -> Table:
    """Repeat customers per distinct (x, repeat spend in millionths) up to ``calibration_end``: Gamma-Gamma's data.

    x = distinct purchase days - 1 (> 0 only), repeat spend = net revenue after
    the first purchase day (revenue - first purchase day's net amount, as
    :func:`crm_core.customers.purchase_summary`), so the mean spend per repeat
    purchase is ``repeat / x``. The likelihood has no smaller summary than
    these pairs (each customer's x times mean spend enters it), so one row
    travels per distinct pair, never per order.
    """
    return _spend_rows(_purchase_customers(tx, calibration_end, sorted_lines))


def clv_data(tx: Table, calibration_end: dt.date, *, sorted_lines: bool = False) -> Table:
    """:func:`clv_counts` and :func:`spend_counts` in one query over one per-customer table.

    Columns: kind ('purchases' or 'spend'), x, a (t_x days / repeat millionths),
    b (T days; null for spend), customers.

    ``sorted_lines`` (Spark): the per-customer table as in
    :func:`_purchase_customers`, read once: each customer row is repeated per
    kind (an array unnested) and counted in one group-by, because Spark inlines
    a table used twice and would compute it twice.
    """
    customers = _purchase_customers(tx, calibration_end, sorted_lines)
    if sorted_lines:
        return _clv_and_spend_rows(customers, calibration_end)
    counts = _clv_rows(customers, calibration_end)
    spend = _spend_rows(customers)
    purchases = counts.select(kind=ibis.literal("purchases"), x=counts["x"], a=counts["t_x_days"], b=counts["T_days"],
                              customers=counts["customers"])
    spending = spend.select(kind=ibis.literal("spend"), x=spend["x"], a=spend["repeat_micros"],
                            b=ibis.null("int64"), customers=spend["customers"])
    return purchases.union(spending, distinct=False)


def _clv_and_spend_rows(customers: Table, calibration_end: dt.date) -> Table:
    """:func:`_clv_rows` and :func:`_spend_rows` as :func:`clv_data`'s columns, from one pass over ``customers``."""
    buyers = customers.filter(customers["first"].notnull())
    both = buyers.mutate(kind=ibis.array([ibis.literal("purchases"), ibis.literal("spend")])).unnest("kind")
    both = both.filter((both["kind"] == "purchases") | (both["purchase_days"] > 1))
    purchases = both["kind"] == "purchases"
    stats = both.select(
        "kind", x=(both["purchase_days"] - 1).cast("int64"),
        a=ibis.cases((purchases, both["last"].delta(both["first"], unit="day").cast("int64")),
                     else_=(both["revenue"] - both["first_day"]).cast("int64")),
        b=ibis.cases((purchases, ibis.literal(calibration_end).delta(both["first"], unit="day").cast("int64")),
                     else_=ibis.null("int64")),
    )
    return stats.group_by(["kind", "x", "a", "b"]).agg(customers=ibis._.count())
