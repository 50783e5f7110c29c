"""From analysis to action: the playbook, recommendation rules, campaign what-if and target lists.

The playbook is plain data: one row per (segment, value band) with an
objective, an action, a channel and an offer. A customer gets the action of
the most specific row that matches them, in this order (first match wins):

1. their RFM segment and their value band ("High value" / "Other"),
2. their RFM segment, any value ("Any"),
3. any segment ("Any segment"), their value band,
4. any segment, any value.

A customer is "High value" when their value (predicted CLV when it is
available, else revenue in the period) ranks in the top
``ValueSettings.high_value_share`` of customers and is positive.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Literal

import polars as pl

from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C
from crm_core.sums import exact_sum

# --------------------------------------------------------------------------- playbook

ANY_SEGMENT = "Any segment"
ANY_VALUE = "Any"
HIGH_VALUE = "High value"
OTHER_VALUE = "Other"
VALUE_BANDS = (ANY_VALUE, HIGH_VALUE, OTHER_VALUE)
NO_SEGMENT = "No segment"

PLAYBOOK_COLUMNS = ("segment", "value", "objective", "action", "channel", "offer")

#: The eleven RFM segments, in the order the segmentation rules check them.
RFM_SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)


@dataclass(frozen=True)
class PlaybookEntry:
    """One row of the playbook: who (segment, value band) and what to do."""

    segment: str
    value: str
    objective: str
    action: str
    channel: str
    offer: str


DEFAULT_PLAYBOOK: tuple[PlaybookEntry, ...] = (
    PlaybookEntry("Champions", ANY_VALUE, "Reward and referral",
                  "Thank them, give early access and ask for a referral", "Email", "Loyalty reward + referral code"),
    PlaybookEntry("Loyal Customers", ANY_VALUE, "Grow spend",
                  "Recommend complementary categories and premium ranges", "Email", "Members' bundle"),
    PlaybookEntry("Potential Loyalists", ANY_VALUE, "Turn into loyal customers",
                  "Invite to the loyalty programme", "Email", "Loyalty programme enrolment"),
    PlaybookEntry("New Customers", ANY_VALUE, "Onboarding to the second purchase",
                  "Welcome series that leads to a second order", "Email", "Discount on the second order"),
    PlaybookEntry("Promising", ANY_VALUE, "Build the habit",
                  "Recommendations based on the first purchases", "Email", "Free shipping on the next order"),
    PlaybookEntry("Need Attention", ANY_VALUE, "Rekindle interest",
                  "Personalised, time-limited offer", "Email", "Time-limited offer"),
    PlaybookEntry("About to Sleep", ANY_VALUE, "Prevent the lapse",
                  "Reminder with popular and recently viewed products", "Email", "Small discount"),
    PlaybookEntry("At Risk", HIGH_VALUE, "Win back a valuable customer",
                  "Personal win-back contact by an account manager", "Phone", "Personal offer"),
    PlaybookEntry("At Risk", OTHER_VALUE, "Win back",
                  "Automated win-back email sequence", "Email", "Win-back discount"),
    PlaybookEntry("Can't Lose Them", ANY_VALUE, "Win back at almost any reasonable cost",
                  "Personal call: ask what went wrong and fix it", "Phone", "Generous personal offer"),
    PlaybookEntry("Hibernating", ANY_VALUE, "Low-cost reactivation",
                  "One low-cost reactivation email; stop if no response", "Email", "Reactivation offer"),
    PlaybookEntry("Lost", HIGH_VALUE, "One last try",
                  "One personal win-back attempt, then stop", "Email", "Best offer, once"),
    PlaybookEntry("Lost", OTHER_VALUE, "Stop spending",
                  "Remove from paid campaigns; newsletter only", "Email newsletter", "No offer"),
    PlaybookEntry(ANY_SEGMENT, HIGH_VALUE, "Keep close",
                  "Personal check-in by the account team", "Email", "No offer"),
    PlaybookEntry(ANY_SEGMENT, ANY_VALUE, "Stay in touch",
                  "Regular newsletter", "Email", "No offer"),
)

_PLAYBOOK_SCHEMA = {name: pl.String for name in PLAYBOOK_COLUMNS}


def default_playbook() -> pl.DataFrame:
    """The default playbook as a frame (columns :data:`PLAYBOOK_COLUMNS`)."""
    rows = [[getattr(entry, name) for name in PLAYBOOK_COLUMNS] for entry in DEFAULT_PLAYBOOK]
    return pl.DataFrame(rows, schema=_PLAYBOOK_SCHEMA, orient="row")


def segment_key(column: pl.Expr) -> pl.Expr:
    """Normalised segment name for matching: trimmed, lower case, straight apostrophes."""
    return column.cast(pl.String).str.strip_chars().str.to_lowercase().str.replace_all("\u2019", "'", literal=True)


def clean_playbook(playbook: pl.DataFrame) -> pl.DataFrame:
    """Make an edited playbook usable: text columns, trimmed, known value bands.

    Rows without a segment or an action are dropped; an empty or unknown
    value band reads as "Any"; when two rows have the same segment and value
    band the first one wins.
    """
    frame = playbook.with_columns(
        [pl.lit(None, dtype=pl.String).alias(name) for name in PLAYBOOK_COLUMNS if name not in playbook.columns]
    ).select([pl.col(name).cast(pl.String).str.strip_chars().fill_null("").alias(name) for name in PLAYBOOK_COLUMNS])
    band_by_key = {band.lower(): band for band in VALUE_BANDS}
    value = pl.col("value").str.to_lowercase().replace_strict(band_by_key, default=ANY_VALUE, return_dtype=pl.String)
    return (
        frame.with_columns(value.alias("value"), segment_key(pl.col("segment")).alias("_seg"))
        .filter((pl.col("segment") != "") & (pl.col("action") != ""))
        .unique(subset=["_seg", "value"], keep="first", maintain_order=True)
        .drop("_seg")
    )


# --------------------------------------------------------------------------- value bands


@dataclass(frozen=True)
class ValueSettings:
    """Who counts as "High value" (the top share of customers by value)."""

    high_value_share: float = 0.2


def value_measure(profile: pl.DataFrame) -> tuple[str, str]:
    """Column used as customer value and its plain label: predicted CLV, else revenue."""
    if "clv" in profile.columns and profile["clv"].null_count() < profile.height:
        return "clv", "predicted CLV"
    return "revenue", "revenue in the period"


def with_value_band(profile: pl.DataFrame, settings: ValueSettings = ValueSettings()) -> pl.DataFrame:
    """Add ``value`` (the value measure) and ``value_band`` ("High value" / "Other").

    The top ``ceil(share * customers)`` by value (ties share the better rank)
    with a positive value are "High value".
    """
    column, _ = value_measure(profile)
    cutoff = math.ceil(settings.high_value_share * profile.height)
    value = pl.col(column).cast(pl.Float64)
    is_high = (value.rank("min", descending=True) <= cutoff) & (value > 0)
    return profile.with_columns(
        value.alias("value"),
        pl.when(is_high).then(pl.lit(HIGH_VALUE)).otherwise(pl.lit(OTHER_VALUE)).alias("value_band"),
    )


# --------------------------------------------------------------------------- recommendations

RECOMMENDATION_COLUMNS = ("objective", "action", "channel", "offer", "rule")


def recommend(profile: pl.DataFrame, playbook: pl.DataFrame) -> pl.DataFrame:
    """Attach the playbook action to every customer.

    Parameters
    ----------
    profile
        One row per customer with ``customer_id``, ``value_band`` and, when
        segments are available, ``segment``.
    playbook
        A playbook frame (cleaned with :func:`clean_playbook` here).

    Returns
    -------
    pl.DataFrame
        ``profile`` plus objective, action, channel, offer and ``rule``: the
        playbook row that produced the action, e.g. "At Risk / High value".
        Customers no row matches get nulls.
    """
    # The action depends on the segment and value band alone: it is matched for each distinct pair (a few
    # dozen), then joined to the customers, instead of matching millions of customers row by row.
    keys = [name for name in ("segment", "value_band") if name in profile.columns]
    pairs = profile.select(keys).unique()
    best = _best_rows(pairs, playbook).select(*keys, *RECOMMENDATION_COLUMNS)
    return profile.drop([name for name in RECOMMENDATION_COLUMNS if name in profile.columns]).join(
        best, on=keys, how="left", nulls_equal=True, maintain_order="left"
    )


def _best_rows(pairs: pl.DataFrame, playbook: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` (distinct segment and value band) with the columns of the first playbook row that matches
    each, in the order of the module docstring; a pair no row matches is left out."""
    book = clean_playbook(playbook).with_columns(
        segment_key(pl.col("segment")).alias("_seg"),
        pl.format("{} / {}", "segment", "value").alias("rule"),
    )
    segment = segment_key(pl.col("segment")) if "segment" in pairs.columns else pl.lit(None, dtype=pl.String)
    any_segment = pl.lit(ANY_SEGMENT.lower())
    keys = pairs.with_row_index("_pair").with_columns(segment.alias("_own_seg"))
    priorities = (
        (pl.col("_own_seg"), pl.col("value_band")),
        (pl.col("_own_seg"), pl.lit(ANY_VALUE)),
        (any_segment, pl.col("value_band")),
        (any_segment, pl.lit(ANY_VALUE)),
    )
    candidates = [
        keys.with_columns(seg.alias("_seg"), band.alias("value"), pl.lit(rank).alias("_priority")).join(
            book.drop("segment"), on=["_seg", "value"], how="inner"
        )
        for rank, (seg, band) in enumerate(priorities)
    ]
    return (
        pl.concat(candidates)
        .sort(["_pair", "_priority"])
        .unique(subset="_pair", keep="first", maintain_order=True)
        .drop("_pair", "_own_seg", "_seg", "value", "_priority")
    )


def explain_recommendation(row: dict, value_label: str, settings: ValueSettings = ValueSettings(), *,
                           style: NumberStyle = PLAIN) -> str:
    """Plain sentence: why this customer got this action (from a :func:`recommend` row)."""
    if not row.get("action"):
        return "No playbook row matches this customer: add a row for their segment or an 'Any segment' row."
    segment = row.get("segment") or NO_SEGMENT
    share = style.share(settings.high_value_share, 0)
    band = (
        f"high value (top {share} by {value_label})"
        if row.get("value_band") == HIGH_VALUE
        else f"not in the top {share} by {value_label}"
    )
    return f"Segment {segment}, {band}: the playbook row '{row['rule']}' applies (most specific row wins)."


# --------------------------------------------------------------------------- action table and target list

#: Column order of target lists (those present are kept).
TARGET_COLUMNS = (
    C.CUSTOMER_ID, "name", "email", "segment", "tier", "value_band", "clv", "p_alive",
    "revenue", "orders", "last_date", "objective", "action", "channel", "offer", "rule",
)


def action_table(
    summary: pl.DataFrame,
    profile: pl.DataFrame | None,
    playbook: pl.DataFrame,
    contacts: pl.DataFrame | None = None,
    settings: ValueSettings = ValueSettings(),
    segments: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per customer: summary, profile, contact fields, value band and recommended action.

    Parameters
    ----------
    summary
        Output of :func:`crm_core.customers.summarize` (collected).
    profile
        ``customer_id`` plus any of segment / tier / clv / p_alive (see
        :mod:`crm_core.enrich`), or None.
    playbook
        Playbook frame.
    contacts
        The customers side table (email, name, ...) or None.
    segments
        Keep only the customers of these segments (None: all). Value bands still rank every
        customer; the playbook is matched for the kept ones alone (a target list of a few
        segments out of millions of customers).
    """
    if segments is not None and profile is not None and "segment" in profile.columns:
        return recommend(_segments_banded(summary, profile, contacts, settings, segments), playbook)
    banded = with_value_band(_with_profile(summary, profile, contacts), settings)
    if segments is not None:
        banded = banded.filter(pl.col("segment").is_in(list(segments))) if "segment" in banded.columns else banded.clear()
    return recommend(banded, playbook)


def objective_totals(customers: pl.DataFrame, playbook: pl.DataFrame, unmatched: str,
                     settings: ValueSettings = ValueSettings(), cells: pl.DataFrame | None = None) -> pl.DataFrame:
    """Customers, revenue and action per objective of the playbook, without a recommendation per customer.

    ``customers``: one row per customer with ``revenue``, optionally ``segment`` and ``clv`` (the columns
    :func:`action_table`'s value band and playbook read; no id needed). The same figures as
    ``action_table(summary, profile, playbook).group_by(pl.col("objective").fill_null(unmatched))
    .agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")), pl.col("action").first())`` (groups in
    no set order; revenue summed exactly at each step, so adding per segment or per cell first gives the same
    value): customers are counted per segment and value band, which decide the playbook row, and the rows are matched for those few
    pairs. 3M customers' recommendations, five text columns each, took a few hundred MB.

    ``cells``: ``customers`` carry their R x F cell (``r``, ``f``) instead of ``segment``, and this table
    (:func:`crm_core.rfm.cell_map`) names each cell's segment: counted per cell and value band, then per segment
    (3M customers' segment names took ~65 MB, and naming them ~35 MB more on the way).
    """
    banded = with_value_band(customers, settings)
    if cells is not None:
        # One whole number per cell and band (a group-by on the three columns took ~190 MB at 3M customers)
        keys = ["segment", "value_band"]
        cell = (pl.col("r").cast(pl.Int32) * 256 + pl.col("f").cast(pl.Int32) * 2
                + (pl.col("value_band") == HIGH_VALUE).cast(pl.Int32)).alias("_cell")
        pairs = (banded.select(cell, "revenue").with_row_index("_first")
                 .group_by("_cell").agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")).alias("revenue"), pl.col("_first").min())
                 .with_columns((pl.col("_cell") // 256).cast(pl.Int8).alias("r"),
                               (pl.col("_cell") // 2 % 128).cast(pl.Int8).alias("f"),
                               pl.when(pl.col("_cell") % 2 == 1).then(pl.lit(HIGH_VALUE)).otherwise(pl.lit(OTHER_VALUE))
                               .alias("value_band"))
                 .join(cells.select(pl.col("r", "f").cast(pl.Int8), "segment"), on=["r", "f"], how="left")
                 .group_by(keys).agg(pl.col("customers").sum(), exact_sum(pl.col("revenue")).alias("revenue"), pl.col("_first").min()))
    else:
        keys = [name for name in ("segment", "value_band") if name in banded.columns]
        pairs = (banded.select(*keys, "revenue").with_row_index("_first")
                 .group_by(keys).agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")).alias("revenue"), pl.col("_first").min()))
    del banded
    best = _best_rows(pairs.select(keys), playbook).select(*keys, "objective", "action")
    return (
        pairs.join(best, on=keys, how="left", nulls_equal=True)
        .group_by(pl.col("objective").fill_null(unmatched))
        .agg(pl.col("customers").sum(), exact_sum(pl.col("revenue")).alias("revenue"), pl.col("action").sort_by("_first").first())
    )


def _with_profile(summary: pl.DataFrame, profile: pl.DataFrame | None, contacts: pl.DataFrame | None) -> pl.DataFrame:
    """The summary with the profile's columns it lacks and the contacts' name and e-mail, by customer."""
    table = summary
    if profile is not None:
        extra = [name for name in profile.columns if name == C.CUSTOMER_ID or name not in summary.columns]
        table = table.join(profile.select(extra), on=C.CUSTOMER_ID, how="left")
    if contacts is not None:
        fields = [name for name in ("name", "email") if name in contacts.columns and name not in table.columns]
        if fields:
            unique_contacts = contacts.select(C.CUSTOMER_ID, *fields).unique(C.CUSTOMER_ID, keep="first")
            table = table.join(unique_contacts, on=C.CUSTOMER_ID, how="left")
    return table


def _segments_banded(summary: pl.DataFrame, profile: pl.DataFrame, contacts: pl.DataFrame | None,
                     settings: ValueSettings, segments: Sequence[str]) -> pl.DataFrame:
    """:func:`with_value_band` of every customer, then the customers of ``segments`` alone, as
    :func:`action_table` keeps them. The bands rank every customer on the columns they read (id, segment,
    value); the wide table of every column is built for the kept customers only (a target list of a
    few segments out of 3M customers: a few hundred MB less)."""
    value_columns = [name for name in ("segment", "clv") if name in profile.columns]
    slim = _with_profile(summary.select(C.CUSTOMER_ID, *[n for n in ("revenue",) if n in summary.columns]),
                         profile.select(C.CUSTOMER_ID, *value_columns), None)
    kept = with_value_band(slim, settings).filter(pl.col("segment").is_in(list(segments))).select(
        C.CUSTOMER_ID, "value", "value_band")
    del slim
    wide = _with_profile(summary.join(kept.select(C.CUSTOMER_ID), on=C.CUSTOMER_ID, how="semi"),
                         profile.join(kept.select(C.CUSTOMER_ID), on=C.CUSTOMER_ID, how="semi"), contacts)
    return wide.join(kept, on=C.CUSTOMER_ID, how="left")


def available_segments(actions: pl.DataFrame) -> list[str]:
    """Segments present in an action table, in RFM order, then any others alphabetically."""
    if "segment" not in actions.columns:
        return []
    present = set(actions["segment"].drop_nulls().unique().to_list())
    order = [name for name in RFM_SEGMENTS if name in present]
    return order + sorted(present - set(order))


def resolve_segment(name: str, segments: Sequence[str]) -> str | None:
    """The segment matching ``name`` case-insensitively (apostrophe style ignored), else None."""
    wanted = name.strip().lower().replace("\u2019", "'")
    return next((s for s in segments if s.lower().replace("\u2019", "'") == wanted), None)


def target_groups(actions: pl.DataFrame) -> tuple[str, list[str]]:
    """What a campaign can target: RFM segments when available, else value bands."""
    segments = available_segments(actions)
    if segments:
        return "segment", segments
    return "value_band", [HIGH_VALUE, OTHER_VALUE]


def target_list(actions: pl.DataFrame, groups: Sequence[str] | None = None, by: str = "segment") -> pl.DataFrame:
    """Customers whose ``by`` column is in ``groups`` (all when None) with contact, value and action fields.

    Sorted by value, highest first, so a team with limited capacity starts at the top.
    """
    chosen = actions
    if groups is not None:
        chosen = actions.filter(pl.col(by).is_in(list(groups))) if by in actions.columns else actions.clear()
    columns = [name for name in TARGET_COLUMNS if name in chosen.columns]
    if "value" in chosen.columns:
        chosen = chosen.sort(["value", C.CUSTOMER_ID], descending=[True, False], nulls_last=True)
    rounding = [pl.col(name).round(digits) for name, digits in _TARGET_ROUNDING.items() if name in columns]
    return chosen.select(columns).with_columns(rounding)


#: Decimals kept in target lists (money to the cent, probabilities to 0.1 %).
_TARGET_ROUNDING = {"clv": 2, "revenue": 2, "p_alive": 3}

#: Headers of target-list files, for managers (money columns get the currency, shares "(%)").
TARGET_HEADERS = {
    C.CUSTOMER_ID: "Customer ID", "name": "Customer name", "email": "E-mail", "segment": "RFM segment",
    "tier": "Tier", "value_band": "Value band", "clv": "Predicted value", "p_alive": "Probability still active",
    "revenue": "Revenue", "orders": "Orders", "last_date": "Last purchase", "objective": "Objective",
    "action": "Recommended action", "channel": "Channel", "offer": "Offer", "rule": "Playbook rule",
}
_TARGET_MONEY = {"clv", "revenue"}
_TARGET_SHARES = {"p_alive"}


def target_list_file(targets: pl.DataFrame, currency: str = "") -> pl.DataFrame:
    """A target list as handed to a team: readable headers, money to the cent with the currency
    in its header ("Predicted value (EUR)"), the probability in percent, ISO dates.

    Formula neutralisation happens when the file is written (:mod:`crm_core.export`).
    """
    from crm_core.export import readable_export

    return readable_export(targets, TARGET_HEADERS, _TARGET_MONEY, _TARGET_SHARES, currency)


#: A customer id that is an e-mail address (used as the e-mail when no other is known).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def known_contacts(transactions: pl.LazyFrame, customers: pl.LazyFrame | None = None,
                   per_customer: Callable[[Callable[[pl.LazyFrame], pl.LazyFrame]], pl.DataFrame] | None = None,
                   ) -> pl.DataFrame | None:
    """customer_id, name, email of every customer whose name or e-mail is known, else None.

    The customers table wins; the orders fill the gaps: the name and e-mail on a
    customer's latest order that has them (exports such as Shopify's carry them),
    and the customer id itself when it is an e-mail address. ``per_customer(build)``
    collects the orders' part (default: at once; see :func:`crm_core.commands.common.per_customer`).
    """
    from_orders = contacts_on_orders(transactions) if per_customer is None else per_customer(contacts_on_orders).lazy()
    if customers is not None:
        side = customers.collect_schema().names()
        fields = [pl.col(f) if f in side else pl.lit(None, pl.String).alias(f) for f in ("name", "email")]
        table = customers.select(pl.col(C.CUSTOMER_ID).cast(pl.String), *[f.cast(pl.String) for f in fields]).unique(
            C.CUSTOMER_ID, keep="first")
        from_orders = from_orders.join(table, on=C.CUSTOMER_ID, how="full", coalesce=True, suffix="_side").select(
            C.CUSTOMER_ID, pl.coalesce("name_side", "name").alias("name"), pl.coalesce("email_side", "email").alias("email"))
    known = from_orders.filter(pl.col("name").is_not_null() | pl.col("email").is_not_null()).collect()
    if not known.height:
        return None
    return known.select(C.CUSTOMER_ID, *[f for f in ("name", "email") if known.get_column(f).null_count() < known.height])


def contacts_on_orders(transactions: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id, name, email per customer from the orders alone (see :func:`known_contacts`)."""
    names = transactions.collect_schema().names()
    name = pl.col("customer_name") if "customer_name" in names else pl.lit(None, pl.String)
    email = pl.col("email") if "email" in names else pl.lit(None, pl.String)
    id_as_email = pl.when(pl.col(C.CUSTOMER_ID).str.contains(EMAIL_PATTERN)).then(pl.col(C.CUSTOMER_ID))
    return (
        transactions.select(C.CUSTOMER_ID, C.ORDER_DATE, name.alias("name"), email.alias("email"))
        .sort(C.ORDER_DATE, nulls_last=False)
        .group_by(C.CUSTOMER_ID)
        .agg(pl.col("name").drop_nulls().last(), pl.col("email").drop_nulls().last())
        .with_columns(pl.coalesce("email", id_as_email).alias("email"))  # per customer, not per order
    )


def playbook_coverage(actions: pl.DataFrame) -> pl.DataFrame:
    """Customers and revenue each playbook row applies to, most customers first."""
    return (
        actions.group_by(pl.col("rule").fill_null("(no matching row)"))
        .agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")).alias("revenue"))
        .sort(["customers", "rule"], descending=[True, False])
    )


def target_file_name(segments: Sequence[str], extension: str) -> str:
    """A safe file name such as ``target-list-at-risk-cant-lose-them.csv``."""
    words = "-".join(segments) if segments else "all-customers"
    slug = "".join(char if char.isalnum() else "-" for char in words.lower().replace("'", ""))
    slug = "-".join(part for part in slug.split("-") if part)[:80] or "customers"
    return f"target-list-{slug}.{extension}"


# --------------------------------------------------------------------------- campaign what-if

UpliftMode = Literal["per_responder", "percent"]


@dataclass(frozen=True)
class CampaignAssumptions:
    """What a campaign is assumed to do.

    Attributes
    ----------
    contact_cost
        Cost of contacting one customer (message, call time, offer handling).
    response_rate
        Share of contacted customers who respond (0-1).
    uplift_mode
        "per_responder": each responder spends ``uplift_per_responder`` more.
        "percent": each responder spends ``uplift_percent`` more than their
        baseline spend (predicted CLV, else revenue in the period).
    uplift_per_responder
        Incremental spend of one responder, in currency.
    uplift_percent
        Incremental spend as a share of the responder's baseline (0.1 = +10 %).
    margin
        Gross margin on the incremental revenue (0-1).
    """

    contact_cost: float = 2.0
    response_rate: float = 0.05
    uplift_mode: UpliftMode = "per_responder"
    uplift_per_responder: float = 50.0
    uplift_percent: float = 0.10
    margin: float = 0.30


@dataclass(frozen=True)
class CampaignResult:
    """Expected outcome of a campaign (see :func:`campaign_what_if` for formulas)."""

    contacted: int
    responders: float
    baseline_spend: float
    incremental_revenue: float
    incremental_margin: float
    cost: float
    net_profit: float
    roi: float | None
    break_even_response_rate: float | None
    assumptions: list[str] = field(default_factory=list)


def campaign_what_if(
    targets: pl.DataFrame, assumptions: CampaignAssumptions, baseline_column: str = "value", baseline_label: str = "value",
    *, style: NumberStyle = PLAIN,
) -> CampaignResult:
    """Expected incremental revenue, cost and ROI of contacting every customer in ``targets``.

    Formulas (n = contacted customers, r = response rate, m = margin):

    - responders = n * r
    - incremental revenue = responders * uplift per responder, or, in percent
      mode, r * uplift % * (sum of the contacted customers' baseline spend)
      (responders are assumed to be a random draw of the targets)
    - incremental margin = incremental revenue * m
    - cost = n * contact cost
    - net profit = incremental margin - cost; ROI = net profit / cost
    - break-even response rate = cost / (n * m * incremental spend of one responder)
    """
    n = targets.height
    baseline = float(targets[baseline_column].fill_null(0).sum()) if n and baseline_column in targets.columns else 0.0
    a = assumptions
    if a.uplift_mode == "percent":
        per_responder = a.uplift_percent * baseline / n if n else 0.0
    else:
        per_responder = a.uplift_per_responder
    responders = n * a.response_rate
    revenue = responders * per_responder
    margin = revenue * a.margin
    cost = n * a.contact_cost
    net = margin - cost
    margin_if_all_respond = n * a.margin * per_responder
    return CampaignResult(
        contacted=n,
        responders=responders,
        baseline_spend=baseline,
        incremental_revenue=revenue,
        incremental_margin=margin,
        cost=cost,
        net_profit=net,
        roi=net / cost if cost > 0 else None,
        break_even_response_rate=cost / margin_if_all_respond if margin_if_all_respond > 0 else None,
        assumptions=_assumption_lines(a, n, per_responder, baseline_label, style),
    )


def _assumption_lines(a: CampaignAssumptions, contacted: int, per_responder: float, baseline_label: str,
                      style: NumberStyle) -> list[str]:
    if a.uplift_mode == "percent":
        uplift = (
            f"Each responder spends {style.share(a.uplift_percent)} more than their baseline ({baseline_label}), "
            f"{style.money(per_responder)} on average."
        )
    else:
        uplift = (f"Each responder spends {style.money(a.uplift_per_responder)} more than they would have without "
                  "the campaign.")
    return [
        (f"Every one of the {style.count(contacted)} customers in the chosen segments is contacted, at "
         f"{style.money(a.contact_cost)} each."),
        f"{style.share(a.response_rate)} of them respond; responders are a random draw of the targets.",
        uplift,
        f"The gross margin on that extra revenue is {style.share(a.margin)}; the contact cost is the only cost.",
        "Customers who do not respond spend what they would have spent anyway (no cannibalisation, no discount cost).",
    ]


def what_if_takeaway(result: CampaignResult, *, style: NumberStyle = PLAIN) -> str:
    """One sentence for a manager."""
    if result.contacted == 0:
        return "No customers are in the chosen segments: pick at least one segment that has customers."
    verdict = "pays back" if result.net_profit > 0 else "does not pay back"
    sentence = (
        f"Contacting {style.count(result.contacted)} customers {verdict}: "
        f"{style.money(result.incremental_margin, 0)} extra margin for {style.money(result.cost, 0)} of cost"
    )
    if result.break_even_response_rate is not None:
        sentence += f"; it breaks even at a {style.share(result.break_even_response_rate)} response rate"
    return sentence + "."
