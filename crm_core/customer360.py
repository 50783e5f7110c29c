"""Customer 360: find a customer and gather everything known about them.

Search is a vectorised, case-insensitive, literal substring match on a
pre-built index (customer id, email and name in lower case), so it stays
instant on 100k+ customers: build the index once per dataset and period,
then call :func:`search_customers` on every keystroke.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

import polars as pl

from crm_core.customers import is_purchase
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.sums import exact_sum, exact_total

SEARCH_LIMIT = 50
#: Searchable fields of the index, in the order they are reported as the match.
SEARCH_FIELDS = (C.CUSTOMER_ID, "email", "name")


def known_customer_ids(transactions: pl.LazyFrame, customers: pl.LazyFrame | None = None) -> pl.DataFrame:
    """Every customer id of the dataset, sorted: buyers (any period) plus those only in the customers table."""
    ids = transactions.select(pl.col(C.CUSTOMER_ID).cast(pl.String)).unique()
    if customers is not None:
        ids = pl.concat([ids, customers.select(pl.col(C.CUSTOMER_ID).cast(pl.String))]).unique()
    return ids.sort(C.CUSTOMER_ID).collect()


def search_index(customer_ids: pl.DataFrame, contacts: pl.DataFrame | None = None) -> pl.DataFrame:
    """Table searched by :func:`search_customers`.

    Parameters
    ----------
    customer_ids
        Frame with a ``customer_id`` column (e.g. the customer summary).
    contacts
        The customers side table (email, name) or None.

    Returns
    -------
    pl.DataFrame
        customer_id, email and name (when known) and their lower-case keys
        ``_key_<field>``.
    """
    index = customer_ids.select(pl.col(C.CUSTOMER_ID).cast(pl.String)).unique(maintain_order=True)
    if contacts is not None:
        fields = [name for name in ("email", "name") if name in contacts.columns]
        if fields:
            side = contacts.select(pl.col(C.CUSTOMER_ID).cast(pl.String), *fields).unique(C.CUSTOMER_ID, keep="first")
            index = index.join(side, on=C.CUSTOMER_ID, how="left")
    present = [name for name in SEARCH_FIELDS if name in index.columns]
    return index.with_columns(pl.col(name).str.to_lowercase().alias(f"_key_{name}") for name in present)


def search_customers(index: pl.DataFrame, query: str, limit: int = SEARCH_LIMIT) -> pl.DataFrame:
    """Customers whose id, email or name contains ``query`` (case-insensitive).

    Exact matches come first, then prefix matches, then the rest, each by id.

    Returns
    -------
    pl.DataFrame
        customer_id, email / name when known, and ``matched_on`` (the first
        field that matched); at most ``limit`` rows, empty for an empty query.
    """
    needle = query.strip().lower()
    shown = [name for name in SEARCH_FIELDS if name in index.columns]
    if not needle:
        return index.select(shown).clear().with_columns(pl.lit(None, dtype=pl.String).alias("matched_on"))
    keys = [pl.col(f"_key_{name}") for name in shown]
    contains = [key.str.contains(needle, literal=True).fill_null(False) for key in keys]
    exact = pl.any_horizontal([key == needle for key in keys]).fill_null(False)
    prefix = pl.any_horizontal([key.str.starts_with(needle) for key in keys]).fill_null(False)
    matched_on = pl.coalesce([pl.when(hit).then(pl.lit(name)) for hit, name in zip(contains, shown)])
    return (
        index.filter(pl.any_horizontal(contains))
        .with_columns(
            pl.when(exact).then(0).when(prefix).then(1).otherwise(2).alias("_rank"),
            matched_on.alias("matched_on"),
        )
        .sort(["_rank", C.CUSTOMER_ID])
        .head(limit)
        .select(*shown, "matched_on")
    )


@dataclass(frozen=True)
class CustomerView:
    """Everything the Customer 360 page shows about one customer.

    Frames are None when the data has no such information (e.g. no category
    column, no interactions side table).
    """

    customer_id: str
    facts: dict
    timeline: pl.DataFrame
    categories: pl.DataFrame | None
    channels: pl.DataFrame | None
    interactions: pl.DataFrame | None
    contact: dict

    @property
    def bought(self) -> bool:
        return self.timeline.height > 0


def customer_view(
    customer_id: str,
    tx: pl.LazyFrame,
    action_row: dict | None,
    contacts: pl.LazyFrame | None = None,
    interactions: pl.LazyFrame | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> CustomerView:
    """Gather one customer's purchases, mix, contacts and profile.

    Parameters
    ----------
    customer_id
        The customer.
    tx
        Transactions of the analysed period.
    action_row
        The customer's row of :func:`crm_core.actions.action_table` (summary,
        profile, value band, recommendation), or None when they did not buy
        in the period.
    contacts, interactions
        Side tables (or None).
    start, end
        The period, to keep interactions in step with the transactions.
    """
    mine = tx.filter(pl.col(C.CUSTOMER_ID) == customer_id)
    frame = mine.collect()
    return CustomerView(
        customer_id=customer_id,
        facts=dict(action_row or {}),
        timeline=purchase_timeline(frame),
        categories=_mix(frame, C.CATEGORY),
        channels=_mix(frame, C.CHANNEL),
        interactions=_customer_interactions(interactions, customer_id, start, end),
        contact=_contact(contacts, customer_id),
    )


def purchase_timeline(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per purchase day: order_date, amount (net), returns, lines."""
    return (
        frame.group_by(C.ORDER_DATE)
        .agg(
            exact_sum(pl.col(C.AMOUNT)).alias("amount"),
            exact_sum(-pl.col(C.AMOUNT).clip(upper_bound=0)).alias("returns"),
            pl.len().alias("lines"),
        )
        .sort(C.ORDER_DATE)
    )


def _mix(frame: pl.DataFrame, column: str) -> pl.DataFrame | None:
    """Net revenue and purchase days (returns excluded) by ``column``, None without the column."""
    if not has_column(frame, column):
        return None
    return (
        frame.group_by(pl.col(column).fill_null("(not recorded)"))
        .agg(
            exact_sum(pl.col(C.AMOUNT)).alias("revenue"),
            pl.col(C.ORDER_DATE).filter(is_purchase(frame)).n_unique().alias("purchase_days"),
        )
        .sort(["revenue", column], descending=[True, False])
    )


def _customer_interactions(
    interactions: pl.LazyFrame | None, customer_id: str, start: dt.date | None, end: dt.date | None
) -> pl.DataFrame | None:
    if interactions is None:
        return None
    mine = interactions.filter(pl.col(C.CUSTOMER_ID) == customer_id)
    if has_column(interactions, "interaction_date"):
        if start is not None:
            mine = mine.filter(pl.col("interaction_date") >= start)
        if end is not None:
            mine = mine.filter(pl.col("interaction_date") <= end)
        mine = mine.sort("interaction_date", descending=True)
    return mine.drop(C.CUSTOMER_ID).collect()


def _contact(contacts: pl.LazyFrame | None, customer_id: str) -> dict:
    if contacts is None:
        return {}
    rows = contacts.filter(pl.col(C.CUSTOMER_ID) == customer_id).head(1).collect()
    return {k: v for k, v in rows.row(0, named=True).items() if k != C.CUSTOMER_ID} if rows.height else {}


def timeline_takeaway(view: CustomerView, *, style: NumberStyle = PLAIN) -> str:
    """One plain sentence about the customer's purchase history in the period."""
    if not view.bought:
        return "This customer made no purchase in the selected period: widen the period in the sidebar."
    timeline = view.timeline
    days = timeline.height
    dates = timeline[C.ORDER_DATE]
    first, last = cast(dt.date, dates.min()), cast(dt.date, dates.max())  # a Date column: dates (or None)
    total = exact_total(timeline["amount"])
    # one customer's amounts keep their cents
    sentence = (f"Bought on {style.count(days)} day{'s' if days != 1 else ''} "
                f"between {fmt.period(first, last, ' and ')}, {style.money(total, 2)} in total")
    recency = view.facts.get("recency_days")
    if recency is not None:
        sentence += f"; last purchase {style.count(recency)} days before the end of the period"
    returns = exact_total(timeline["returns"])
    if returns > 0:
        sentence += f"; returned {style.money(returns, 2)}"
    return sentence + "."


def interactions_summary(view: CustomerView) -> dict | None:
    """Contacts, mean CSAT and total cost of the customer's interactions (None without the table)."""
    frame = view.interactions
    if frame is None:
        return None
    return {
        "contacts": frame.height,
        "csat_mean": frame["csat"].mean() if "csat" in frame.columns else None,
        "cost": frame["cost"].sum() if "cost" in frame.columns else None,
    }


def match_labels(matches: pl.DataFrame) -> dict[str, str]:
    """Customer id -> "id · name · email" for a picker (fields that are known)."""
    shown = [name for name in SEARCH_FIELDS if name in matches.columns]
    return {
        row[0]: " · ".join(str(value) for value in row if value)
        for row in matches.select(shown).iter_rows()
    }


def customer_row(table: pl.DataFrame, customer_id: str) -> dict | None:
    """The row of ``table`` for ``customer_id`` as a dict, None when absent."""
    row = table.filter(pl.col(C.CUSTOMER_ID) == customer_id)
    return row.row(0, named=True) if row.height else None


def action_details(facts: dict) -> str:
    """'Channel: Phone · Offer: 10% off' from the recommended playbook row; parts the row leaves empty are left out."""
    parts = [f"{label}: {facts[key]}" for key, label in (("channel", "Channel"), ("offer", "Offer"))
             if facts.get(key) not in (None, "")]
    return " · ".join(parts)


def forecast_range_text(facts: dict, *, style: NumberStyle = PLAIN) -> str:
    """The forecast's likely range and the next order, in one line ('' without a forecast)."""
    parts = []
    low, high = facts.get("value_low"), facts.get("value_high")
    if low is not None and high is not None:
        parts.append(f"Likely value range {style.money(low, 2)} to {style.money(high, 2)}")
    buys_low, buys_high = facts.get("purchases_low"), facts.get("purchases_high")
    if buys_low is not None and buys_high is not None:
        parts.append(f"{style.count(int(buys_low))} to {style.count(int(buys_high))} purchases (80% of such customers fall in the range)")
    if "next_order_date" in facts:
        next_order = facts.get("next_order_date")
        parts.append(f"next order expected around {fmt.date(next_order)}" if next_order else "probably lapsed")
    gap = facts.get("usual_gap_days")
    if gap is not None:
        parts.append(f"usually buys every {style.number(gap)} days" + (", now overdue" if facts.get("overdue") else ""))
    return "; ".join(parts) + ("." if parts else "")


def p_alive_text(facts: dict, *, style: NumberStyle = PLAIN) -> str:
    """P(alive) as a percentage, or "—" when the model cannot judge.

    With no repeat purchase in its history (``repeat_days`` = 0) the BG/NBD
    model has seen no buying rhythm and always answers 100 %, which reads as
    "certainly active" even years later; the page shows a dash and says why.
    """
    p_alive = facts.get("p_alive")
    if p_alive is None or facts.get("repeat_days") == 0:
        return "—"
    return style.share(p_alive, 0)


#: Order-line columns shown in Customer 360 when the data has them, in this order.
LINE_COLUMNS = (C.ORDER_DATE, C.ORDER_ID, "product", "sku", C.CATEGORY, C.CHANNEL, C.QUANTITY, C.AMOUNT,
                "discount_code")


def order_lines(tx: pl.LazyFrame, customer_id: str) -> pl.DataFrame:
    """The customer's order lines in ``tx``, newest first, with ``kind`` 'Purchase' or 'Refund / return'.

    Negative amounts are refunds or returned lines (they lower net revenue).
    """
    present = [name for name in LINE_COLUMNS if has_column(tx, name)]
    return (
        tx.filter(pl.col(C.CUSTOMER_ID) == customer_id)
        .select(present)
        .with_columns(pl.when(pl.col(C.AMOUNT) < 0).then(pl.lit("Refund / return")).otherwise(pl.lit("Purchase"))
                      .alias("kind"))
        .sort(C.ORDER_DATE, descending=True)
        .collect()
    )
