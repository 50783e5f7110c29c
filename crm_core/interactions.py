"""Service interactions: satisfaction, complaints and cost-to-serve by customer group.

Reads the optional interactions side table (see
:data:`crm_core.schema.INTERACTION_SCHEMA`): one row per support contact
with its date, channel, reason, CSAT score (1-5) and cost.

Definitions
-----------
- CSAT: mean satisfaction score (1-5) of the contacts that were rated.
- Complaint: a contact whose reason mentions a complaint, or rated at most
  ``InteractionSettings.complaint_csat_max`` (dissatisfied).
- Cost-to-serve: total cost of a group's contacts, also as a share of the
  group's revenue in the period.
- Customer groups (segment, tier, value band) are those of the customers who
  bought in the period; contacts of other customers are counted in the
  satisfaction figures under "No purchase in period".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from crm_core.actions import ValueSettings, with_value_band
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import INTERACTION_SCHEMA, C, has_column
from crm_core.sums import exact_sum, exact_total

NO_GROUP = "No purchase in period"
UNKNOWN_GROUP = "(unknown)"
GROUP_COLUMNS = ("segment", "tier", "value_band")
CONTACT_BUCKETS = ("0", "1", "2", "3", "4", "5+")


@dataclass(frozen=True)
class InteractionSettings:
    """What counts as a complaint."""

    complaint_csat_max: float = 2.0
    complaint_reason_word: str = "complain"


COLUMN_MEANINGS = {
    "customer_id": ("yes", "The customer's id, as in the order file."),
    "interaction_date": ("yes", "Date of the contact."),
    "channel": ("no", "Contact channel, e.g. Email, Phone, Chat."),
    "reason": ("no", "Why the customer got in touch, e.g. Delivery question, Complaint."),
    "csat": ("no", "Satisfaction score 1 (very unhappy) to 5 (very happy); empty when not rated."),
    "cost": ("no", "Cost of handling the contact, in your currency."),
}


def expected_columns() -> pl.DataFrame:
    """The interactions file layout, for users who have not uploaded one."""
    return pl.DataFrame(
        {
            "column": list(INTERACTION_SCHEMA),
            "type": [_type_label(dtype) for dtype in INTERACTION_SCHEMA.values()],
            "required": [COLUMN_MEANINGS.get(name, ("no", ""))[0] for name in INTERACTION_SCHEMA],
            "meaning": [COLUMN_MEANINGS.get(name, ("no", ""))[1] for name in INTERACTION_SCHEMA],
        }
    )


def _type_label(dtype: pl.DataType) -> str:
    return {pl.String: "text", pl.Date: "date (e.g. 2025-03-31)", pl.Float64: "number"}.get(type(dtype), str(dtype))


def service_groups(summary: pl.DataFrame, profile: pl.DataFrame, settings: ValueSettings = ValueSettings()) -> pl.DataFrame:
    """``customer_id`` and whichever of segment / tier / value_band are known, for the period's buyers.

    ``profile`` is the enrich profile (segment, tier, clv, ...); the value band
    is computed as on the Actions page (top share by CLV, else by revenue).
    """
    banded = with_value_band(summary.join(profile, on=C.CUSTOMER_ID, how="left"), settings)
    return banded.select(C.CUSTOMER_ID, *[name for name in GROUP_COLUMNS if name in banded.columns])


def prepare(
    interactions: pl.LazyFrame,
    groups: pl.DataFrame,
    start: dt.date | None = None,
    end: dt.date | None = None,
    settings: InteractionSettings = InteractionSettings(),
) -> pl.DataFrame:
    """Contacts of the period with the customer's groups and an ``is_complaint`` flag.

    Parameters
    ----------
    interactions
        The interactions side table.
    groups
        One row per customer: customer_id and any of segment / tier / value_band.
    start, end
        Period bounds on interaction_date (inclusive; either optional).
    """
    frame = interactions
    if has_column(frame, "interaction_date"):
        if start is not None:
            frame = frame.filter(pl.col("interaction_date") >= start)
        if end is not None:
            frame = frame.filter(pl.col("interaction_date") <= end)
    for name, dtype in INTERACTION_SCHEMA.items():
        if not has_column(frame, name):
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
    group_columns = [name for name in GROUP_COLUMNS if name in groups.columns]
    known = groups.lazy().select(C.CUSTOMER_ID, *[pl.col(name).cast(pl.String).fill_null(UNKNOWN_GROUP) for name in group_columns])
    joined = frame.join(known, on=C.CUSTOMER_ID, how="left")
    complaint = pl.col("reason").str.to_lowercase().str.contains(settings.complaint_reason_word.lower(), literal=True)
    unhappy = pl.col("csat") <= settings.complaint_csat_max
    return joined.with_columns(
        *[pl.col(name).fill_null(NO_GROUP) for name in group_columns],
        pl.col("channel").fill_null("(not recorded)"),
        (complaint.fill_null(False) | unhappy.fill_null(False)).alias("is_complaint"),
    ).collect()


GROUP_LABELS = {"segment": "RFM segment", "tier": "Value tier", "value_band": "Value band"}
#: The same groupings as nouns inside a sentence.
GROUP_NOUNS = {"segment": "RFM segment", "tier": "value tier", "value_band": "value band"}


def group_choices(actions: pl.DataFrame) -> dict[str, str]:
    """Customer groupings available in ``actions`` (column -> label), segment first."""
    return {name: GROUP_LABELS[name] for name in GROUP_COLUMNS if name in actions.columns}


def headline(contacts: pl.DataFrame) -> dict:
    """Contacts, mean CSAT, complaint share and total cost of the period's contacts."""
    row = contacts.select(
        pl.len().alias("contacts"),
        pl.col("csat").mean().alias("csat_mean"),
        pl.col("is_complaint").mean().alias("complaint_share"),
        pl.col("cost").sum().alias("cost"),
    ).row(0, named=True)
    return row


def csat_by(contacts: pl.DataFrame, column: str) -> pl.DataFrame:
    """Contacts, customers, mean CSAT, complaints and cost per value of ``column``, worst CSAT first."""
    return (
        contacts.group_by(column)
        .agg(
            pl.len().alias("contacts"),
            pl.col(C.CUSTOMER_ID).n_unique().alias("customers"),
            pl.col("csat").mean().alias("csat_mean"),
            pl.col("csat").count().alias("rated"),
            pl.col("is_complaint").sum().alias("complaints"),
            pl.col("cost").sum().alias("cost"),
        )
        .with_columns((pl.col("complaints") / pl.col("contacts")).alias("complaint_share"))
        .sort(["csat_mean", column], nulls_last=True)
    )


def group_service(contacts: pl.DataFrame, actions: pl.DataFrame, column: str) -> pl.DataFrame:
    """Service load per customer group among buyers of the period.

    Returns
    -------
    pl.DataFrame
        ``column``, customers, revenue, contacts, complaints, cost, and the
        ratios contacts_per_customer, complaints_per_100 (complaints per 100
        customers), cost_per_customer, revenue_per_customer and cost_share
        (cost / revenue, null when revenue <= 0); most complaints per 100 first.
    """
    buyers = actions.group_by(pl.col(column).cast(pl.String).fill_null(UNKNOWN_GROUP)).agg(
        pl.len().alias("customers"), exact_sum(pl.col("revenue")).alias("revenue")
    )
    service = (
        contacts.filter(pl.col(column) != NO_GROUP)
        .group_by(column)
        .agg(
            pl.len().alias("contacts"),
            pl.col("is_complaint").sum().alias("complaints"),
            pl.col("cost").sum().alias("cost"),
            pl.col("csat").mean().alias("csat_mean"),
        )
    )
    return (
        buyers.join(service, on=column, how="left")
        .with_columns(pl.col("contacts", "complaints").fill_null(0), pl.col("cost").fill_null(0.0))
        .with_columns(
            (pl.col("contacts") / pl.col("customers")).alias("contacts_per_customer"),
            (100 * pl.col("complaints") / pl.col("customers")).alias("complaints_per_100"),
            (pl.col("cost") / pl.col("customers")).alias("cost_per_customer"),
            (pl.col("revenue") / pl.col("customers")).alias("revenue_per_customer"),
            pl.when(pl.col("revenue") > 0).then(pl.col("cost") / pl.col("revenue")).alias("cost_share"),
        )
        .sort(["complaints_per_100", column], descending=[True, False])
    )


def contacts_distribution(contacts: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """How many buyers of the period contacted support 0, 1, 2, 3, 4, 5+ times."""
    counts = contacts.group_by(C.CUSTOMER_ID).agg(pl.len().alias("contacts"))
    per_buyer = actions.select(C.CUSTOMER_ID).join(counts, on=C.CUSTOMER_ID, how="left").with_columns(
        pl.col("contacts").fill_null(0)
    )
    bucket = pl.when(pl.col("contacts") >= 5).then(pl.lit("5+")).otherwise(pl.col("contacts").cast(pl.String))
    observed = per_buyer.group_by(bucket.alias("contacts")).agg(pl.len().alias("customers"))
    total = max(per_buyer.height, 1)
    return (
        pl.DataFrame({"contacts": list(CONTACT_BUCKETS)})
        .join(observed, on="contacts", how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("customers") / total).alias("share"))
    )


def satisfaction_trend(contacts: pl.DataFrame) -> pl.DataFrame:
    """Per month: contacts, rated contacts, mean CSAT and complaint share."""
    return (
        contacts.filter(pl.col("interaction_date").is_not_null())
        .group_by(pl.col("interaction_date").dt.truncate("1mo").alias("month"))
        .agg(
            pl.len().alias("contacts"),
            pl.col("csat").count().alias("rated"),
            pl.col("csat").mean().alias("csat_mean"),
            pl.col("is_complaint").mean().alias("complaint_share"),
        )
        .sort("month")
    )


# --------------------------------------------------------------------------- takeaways


def csat_takeaway(table: pl.DataFrame, column: str, label: str, *, style: NumberStyle = PLAIN) -> str:
    """Which group is least and most satisfied."""
    rated = table.filter(pl.col("csat_mean").is_not_null())
    if rated.height == 0:
        return "No contact has a satisfaction score: add a csat column (1-5) to the interactions file."
    worst, best = rated.row(0, named=True), rated.row(-1, named=True)
    if rated.height == 1:
        return (f"Mean satisfaction is {style.number(worst['csat_mean'], 2)} out of 5 over "
                f"{style.count(worst['contacts'])} contacts.")
    return (
        f"Least satisfied {label}: {worst[column]} (CSAT {style.number(worst['csat_mean'], 2)} over "
        f"{style.count(worst['contacts'])} contacts); most satisfied: {best[column]} "
        f"({style.number(best['csat_mean'], 2)})."
    )


def distribution_takeaway(table: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """Share who never contacted support and share of heavy contacters."""
    share = dict(zip(table["contacts"], table["share"]))
    return (
        f"{style.share(share.get('0', 0), 0)} of this period's buyers never contacted support; "
        f"{style.share(share.get('5+', 0))} contacted it five times or more."
    )


def cost_takeaway(table: pl.DataFrame, label: str, *, style: NumberStyle = PLAIN) -> str:
    """Overall cost-to-serve share and the group where it weighs most."""
    revenue, cost = exact_total(table["revenue"]), table["cost"].sum()
    if revenue <= 0:
        return "Revenue in the period is zero or negative, so cost-to-serve cannot be compared with it."
    heaviest = table.filter(pl.col("cost_share").is_not_null()).sort("cost_share", descending=True)
    sentence = f"Serving customers cost {style.money(cost, 0)}, {style.share(cost / revenue)} of their revenue"
    if heaviest.height:
        top = heaviest.row(0, named=True)
        sentence += f"; it weighs most in {label} {top[heaviest.columns[0]]} ({style.share(top['cost_share'])} of revenue)"
    return sentence + "."


def complaints_takeaway(table: pl.DataFrame, label: str, *, style: NumberStyle = PLAIN) -> str:
    """The group complaining most, against the average."""
    customers, complaints = table["customers"].sum(), table["complaints"].sum()
    if complaints == 0:
        return "No complaints in the period."
    top = table.row(0, named=True)
    return (
        f"{top[table.columns[0]]} complain most: {style.number(top['complaints_per_100'], 1)} complaints per 100 "
        f"customers, against {style.number(100 * complaints / customers, 1)} across all {label}s."
    )


def trend_takeaway(trend: pl.DataFrame, months: int = 3, *, style: NumberStyle = PLAIN) -> str:
    """Mean satisfaction of the first and the last ``months`` months with rated contacts.

    Several months on each side smooth out a thin first or last month.
    """
    rated = trend.filter(pl.col("rated") > 0)
    if rated.height < 2:
        return "Not enough months with rated contacts to show a trend."
    months = min(months, rated.height // 2)
    first, last = rated.head(months), rated.tail(months)

    def mean(frame: pl.DataFrame) -> float:
        return (frame["csat_mean"] * frame["rated"]).sum() / frame["rated"].sum()

    before, after = mean(first), mean(last)
    direction = "rose" if round(after, 2) > round(before, 2) else "fell" if round(after, 2) < round(before, 2) else "held"
    span = "month" if months == 1 else f"{months} months"
    return (
        f"Satisfaction {direction} from {style.number(before, 2)} in the first {span} "
        f"({fmt.month(first['month'][0])}) to {style.number(after, 2)} in the last {span} (to {fmt.month(last['month'][-1])})."
    )
