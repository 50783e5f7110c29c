"""RFM scores and the eleven named segments.

Recency, frequency and monetary value come from :func:`crm_core.customers.summarize`
(``recency_days``, ``orders``, ``revenue``). Each is scored 1..bins (5 = best;
for recency, 5 = most recent). Segments come from an editable, ordered rule
table on the R and F scores (or R and the mean of F and M): the first rule that
matches a customer's cell wins.

Scoring with ties
-----------------
A customer's score is set by the share of customers with a *worse* value:
``score = 1 + floor(bins * worse / n)``.

- ``ties="shared"`` (default): ``worse`` counts customers with a strictly worse
  value, so equal values always get equal scores. When many customers share a
  value (most bought once) some scores stay unused: the bins *collapse*, and
  :func:`bin_notes` says so.
- ``ties="ordinal"``: customers are ranked by value, then by customer id (the
  lower id counts as worse), so every score gets a fifth of the customers, but
  two customers with the same value can land in neighbouring scores.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import polars as pl

from crm_core.customers import summarize
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C
from crm_core.sums import exact_sum, exact_total

RECENCY = "recency_days"
FREQUENCY = "orders"
MONETARY = "revenue"
SEGMENT = "segment"
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "fm_score")
ALLOWED_BINS = (3, 4, 5)
NEW_CUSTOMER = "Not yet a customer"

Ties = Literal["shared", "ordinal"]
Axis = Literal["F", "FM"]


@dataclass(frozen=True)
class SegmentRule:
    """One row of the segment table: a name and an R range and F range (inclusive)."""

    name: str
    r_min: int
    r_max: int
    f_min: int
    f_max: int

    def matches(self, r: int, f: int) -> bool:
        return self.r_min <= r <= self.r_max and self.f_min <= f <= self.f_max

    def condition(self, f_column: str) -> pl.Expr:
        r, f = pl.col("r_score"), pl.col(f_column)
        return r.is_between(self.r_min, self.r_max) & f.is_between(self.f_min, self.f_max)


def _rules(rows: Iterable[tuple[str, int, int, int, int]]) -> tuple[SegmentRule, ...]:
    return tuple(SegmentRule(*row) for row in rows)


#: Default rules per number of bins, checked top to bottom. The 5-bin table is the
#: widely copied R x F map, with Lost (R=1, F 1-2) before Hibernating so both are
#: reachable; the last rule catches every cell no earlier rule took.
DEFAULT_RULES: dict[int, tuple[SegmentRule, ...]] = {
    5: _rules([
        ("Champions", 5, 5, 4, 5),
        ("Loyal Customers", 3, 4, 4, 5),
        ("Potential Loyalists", 4, 5, 2, 3),
        ("New Customers", 5, 5, 1, 1),
        ("Promising", 4, 4, 1, 1),
        ("Need Attention", 3, 3, 3, 3),
        ("About to Sleep", 3, 3, 1, 2),
        ("At Risk", 1, 2, 3, 4),
        ("Can't Lose Them", 1, 2, 5, 5),
        ("Lost", 1, 1, 1, 2),
        ("Hibernating", 1, 5, 1, 5),  # catch-all: by default only R=2, F 1-2 reach it
    ]),
    4: _rules([
        ("Champions", 4, 4, 4, 4),
        ("Loyal Customers", 3, 3, 3, 4),
        ("Potential Loyalists", 4, 4, 2, 3),
        ("New Customers", 4, 4, 1, 1),
        ("Promising", 3, 3, 1, 1),
        ("Need Attention", 3, 3, 2, 2),
        ("About to Sleep", 2, 2, 1, 2),
        ("At Risk", 1, 2, 3, 3),
        ("Can't Lose Them", 1, 2, 4, 4),
        ("Lost", 1, 1, 1, 1),
        ("Hibernating", 1, 4, 1, 4),  # catch-all: by default only R=1, F=2 reach it
    ]),
    # 3 x 3 = 9 cells cannot hold eleven segments: Promising and Hibernating stay empty.
    3: _rules([
        ("Champions", 3, 3, 3, 3),
        ("Loyal Customers", 2, 2, 3, 3),
        ("Potential Loyalists", 3, 3, 2, 2),
        ("New Customers", 3, 3, 1, 1),
        ("Need Attention", 2, 2, 2, 2),
        ("About to Sleep", 2, 2, 1, 1),
        ("Promising", 2, 2, 1, 1),
        ("At Risk", 1, 1, 2, 2),
        ("Can't Lose Them", 1, 1, 3, 3),
        ("Lost", 1, 1, 1, 1),
        ("Hibernating", 1, 3, 1, 3),
    ]),
}

SEGMENT_NAMES: tuple[str, ...] = tuple(rule.name for rule in DEFAULT_RULES[5])

#: What a manager typically does with each default segment (shown in the profile).
SEGMENT_ADVICE: dict[str, str] = {
    "Champions": "Reward them; ask for reviews and referrals; early access to new products.",
    "Loyal Customers": "Upsell higher-value products; loyalty programme.",
    "Potential Loyalists": "Offer membership or a loyalty programme; recommend related products.",
    "New Customers": "Onboard well; a welcome series builds the second order.",
    "Promising": "Build awareness of the range; free trials or samples.",
    "Need Attention": "Limited-time offers based on past purchases.",
    "About to Sleep": "Reconnect with relevant recommendations before they lapse.",
    "At Risk": "Personal win-back messages; renewal offers.",
    "Can't Lose Them": "Win them back in person; find out what went wrong.",
    "Hibernating": "Low-cost reminders of other products; don't overspend.",
    "Lost": "Only cheap reactivation campaigns; otherwise let go.",
}


@dataclass(frozen=True)
class RfmSettings:
    """User-adjustable RFM settings.

    Attributes
    ----------
    bins
        Number of score levels: 3, 4 or 5.
    ties
        ``"shared"`` (equal values, equal score) or ``"ordinal"`` (split by customer id).
    segment_on
        ``"F"``: rules read the F score; ``"FM"``: they read the mean of F and M
        (rounded half up), so big spenders with few orders count as frequent.
    rules
        Ordered segment rules; ``None`` = :data:`DEFAULT_RULES` for ``bins``.
    """

    bins: int = 5
    ties: Ties = "shared"
    segment_on: Axis = "F"
    rules: tuple[SegmentRule, ...] | None = None

    def __post_init__(self) -> None:
        if self.bins not in ALLOWED_BINS:
            raise ValueError(f"bins must be one of {ALLOWED_BINS}, got {self.bins}")
        if self.ties not in ("shared", "ordinal"):
            raise ValueError(f"ties must be 'shared' or 'ordinal', got {self.ties!r}")
        if self.segment_on not in ("F", "FM"):
            raise ValueError(f"segment_on must be 'F' or 'FM', got {self.segment_on!r}")

    @property
    def active_rules(self) -> tuple[SegmentRule, ...]:
        return self.rules if self.rules is not None else DEFAULT_RULES[self.bins]

    @property
    def f_column(self) -> str:
        return "f_score" if self.segment_on == "F" else "fm_score"

    @property
    def segment_names(self) -> list[str]:
        return [rule.name for rule in self.active_rules]


# --------------------------------------------------------------------------- scoring


def score_expr(column: str, bins: int, ties: Ties, higher_is_better: bool = True) -> pl.Expr:
    """Score 1..bins from the share of customers with a worse value (see module doc).

    For ``ties="ordinal"`` the frame must be sorted by customer id (ties follow row order).
    """
    method = "min" if ties == "shared" else "ordinal"
    worse = pl.col(column).rank(method, descending=not higher_is_better).cast(pl.Int64) - 1
    return (worse * bins // pl.len().cast(pl.Int64) + 1).cast(pl.Int8)


def segment_expr(rules: Iterable[SegmentRule], f_column: str) -> pl.Expr:
    """First matching rule's name (null when none matches; validated tables cover every cell)."""
    rules = list(rules)
    if not rules:
        return pl.lit(None, dtype=pl.String)
    chain = pl.when(rules[0].condition(f_column)).then(pl.lit(rules[0].name))
    for rule in rules[1:]:
        chain = chain.when(rule.condition(f_column)).then(pl.lit(rule.name))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def score_customers(summary: pl.LazyFrame | pl.DataFrame, settings: RfmSettings = RfmSettings()) -> pl.LazyFrame:
    """Add r_score, f_score, m_score, fm_score and segment to a customer summary.

    Parameters
    ----------
    summary
        Output of :func:`crm_core.customers.summarize` (needs customer_id,
        recency_days, orders, revenue).
    settings
        Bins, tie handling, segment axis and rules.

    Returns
    -------
    pl.LazyFrame
        The summary's columns plus the scores and ``segment``, sorted by customer id.
    """
    bins, ties = settings.bins, settings.ties
    if isinstance(summary, pl.DataFrame) and _in_id_order(summary):
        # Already in id order (a summary built slice by slice of customers): flagged, so the sort below copies
        # nothing (at 3M customers ~100 MB less at the action plan's peak). The same rows in the same order.
        summary = summary.with_columns(pl.col(C.CUSTOMER_ID).set_sorted())
    return (
        summary.lazy()
        .sort(C.CUSTOMER_ID)
        .with_columns(
            score_expr(RECENCY, bins, ties, higher_is_better=False).alias("r_score"),
            score_expr(FREQUENCY, bins, ties).alias("f_score"),
            score_expr(MONETARY, bins, ties).alias("m_score"),
        )
        .with_columns(((pl.col("f_score") + pl.col("m_score") + 1) // 2).cast(pl.Int8).alias("fm_score"))
        .with_columns(segment_expr(settings.active_rules, settings.f_column).alias(SEGMENT))
    )


def _in_id_order(summary: pl.DataFrame) -> bool:
    """Whether the customer ids are non-null, distinct in practice, and ascending (a check, no copy)."""
    ids = summary[C.CUSTOMER_ID]
    return summary.height > 1 and ids.null_count() == 0 and ids.is_sorted()


RFM_INPUTS = (C.CUSTOMER_ID, RECENCY, FREQUENCY, MONETARY)


def rfm(tx: pl.LazyFrame, as_of: dt.date | None = None, settings: RfmSettings = RfmSettings()) -> pl.DataFrame:
    """Summarise ``tx`` as of ``as_of`` (default: last order date) and score it.

    Only the RFM columns of the summary are kept (customer_id, recency_days,
    orders, revenue, then the scores and segment): Polars then skips the
    summary's other aggregations. Use :func:`score_customers` on a full summary
    to keep every column.
    """
    return score_customers(summarize(tx, as_of).select(RFM_INPUTS), settings).collect()


def segment_counts(scored: pl.DataFrame, settings: RfmSettings = RfmSettings()) -> dict[str, int]:
    """Customers per segment, every rule name present (zero allowed), in rule order."""
    counts = dict(scored.group_by(SEGMENT).len().iter_rows())
    return {name: int(counts.get(name, 0)) for name in settings.segment_names}


def headline(scored: pl.DataFrame) -> dict[str, Any]:
    """Customers and median recency / frequency / monetary."""
    medians = scored.select(
        pl.col(RECENCY).median(), pl.col(FREQUENCY).median(), pl.col(MONETARY).median()
    ).row(0) if scored.height else (None, None, None)
    return {
        "customers": scored.height,
        "median_recency_days": medians[0],
        "median_frequency": medians[1],
        "median_monetary": None if medians[2] is None else round(medians[2], 2),
    }


# --------------------------------------------------------------------------- rule table


@dataclass(frozen=True)
class RuleCheck:
    """Result of validating an edited rule table."""

    rules: tuple[SegmentRule, ...] | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


RULE_COLUMNS = ("segment", "r_min", "r_max", "f_min", "f_max")


def rules_frame(rules: Iterable[SegmentRule]) -> pl.DataFrame:
    """The rule table as a frame (columns :data:`RULE_COLUMNS`) for editing."""
    rows = [(r.name, r.r_min, r.r_max, r.f_min, r.f_max) for r in rules]
    schema = {"segment": pl.String, **{name: pl.Int64 for name in RULE_COLUMNS[1:]}}
    return pl.DataFrame(rows, schema=schema, orient="row")


def cell_map(rules: Iterable[SegmentRule], bins: int) -> pl.DataFrame:
    """Which segment each R x F cell lands in (r, f, segment; null = no rule)."""
    rules = list(rules)
    rows = []
    for r in range(1, bins + 1):
        for f in range(1, bins + 1):
            winner = next((rule.name for rule in rules if rule.matches(r, f)), None)
            rows.append((r, f, winner))
    return pl.DataFrame(rows, schema={"r": pl.Int8, "f": pl.Int8, SEGMENT: pl.String}, orient="row")


def unreachable_segments(rules: Iterable[SegmentRule], bins: int) -> list[str]:
    """Rule names that win no cell (earlier rules take all their cells)."""
    rules = list(rules)
    winners = set(cell_map(rules, bins)[SEGMENT].drop_nulls())
    return [rule.name for rule in rules if rule.name not in winners]


def _cells_text(cells: list[tuple[int, int]], f_label: str) -> str:
    shown = ", ".join(f"R={r} {f_label}={f}" for r, f in cells[:4])
    return shown + (f" and {len(cells) - 4} more" if len(cells) > 4 else "")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and value != value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _row_errors(index: int, row: dict[str, Any], bins: int, f_label: str) -> list[str]:
    name = str(row.get("segment") or "").strip()
    where = f"Row {index + 1}" + (f" ({name})" if name else "")
    errors = [] if name else [f"{where}: give the segment a name."]
    values = {}
    for column, label in (("r_min", "R from"), ("r_max", "R to"), ("f_min", f"{f_label} from"), ("f_max", f"{f_label} to")):
        number = _as_number(row.get(column))
        if number is None or not number.is_integer() or not 1 <= number <= bins:
            errors.append(f"{where}: '{label}' must be a whole number from 1 to {bins}.")
        else:
            values[column] = int(number)
    for low, high, label in (("r_min", "r_max", "R"), ("f_min", "f_max", f_label)):
        if low in values and high in values and values[low] > values[high]:
            errors.append(f"{where}: {label} 'from' ({values[low]}) is above 'to' ({values[high]}); swap them.")
    return errors


def validate_rules(
    rows: pl.DataFrame | Iterable[dict[str, Any]], bins: int, segment_on: Axis = "F"
) -> RuleCheck:
    """Check an edited rule table and turn it into rules.

    Errors (the table cannot be used): empty table, missing or duplicate names,
    scores outside 1..bins or not whole, 'from' above 'to', R x F cells no rule
    covers. Warnings: rules that can never match because earlier rules take
    all their cells.
    """
    if isinstance(rows, pl.DataFrame):
        records = rows.to_dicts()
    elif hasattr(rows, "to_dict"):  # a pandas frame handed back by a table editor
        records = rows.to_dict("records")
    else:
        records = [dict(row) for row in rows]
    records = [{k: (None if _blank(v) else v) for k, v in row.items()} for row in records]
    records = [row for row in records if any(v is not None for v in row.values())]  # blank editor rows
    f_label = "F" if segment_on == "F" else "FM"
    if not records:
        return RuleCheck(None, [f"The rule table is empty: add at least one rule (e.g. a catch-all with R 1-{bins}, {f_label} 1-{bins})."])
    errors = [message for i, row in enumerate(records) for message in _row_errors(i, row, bins, f_label)]
    names = [str(row.get("segment") or "").strip() for row in records]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    errors += [f"'{name}' appears more than once: each segment needs its own name." for name in duplicates]
    if errors:
        return RuleCheck(None, errors)
    rules = tuple(
        SegmentRule(name, int(row["r_min"]), int(row["r_max"]), int(row["f_min"]), int(row["f_max"]))
        for name, row in zip(names, records)
    )
    cells = cell_map(rules, bins)
    uncovered = [(r, f) for r, f, seg in cells.iter_rows() if seg is None]
    if uncovered:
        errors.append(
            f"No rule covers {_cells_text(uncovered, f_label)}: widen a rule, or make the last rule "
            f"a catch-all (R 1-{bins}, {f_label} 1-{bins}) so every customer gets a segment."
        )
        return RuleCheck(None, errors)
    warnings = [
        f"'{name}' can never match: rules above it already take all its cells, so it stays empty."
        for name in unreachable_segments(rules, bins)
    ]
    return RuleCheck(rules, [], warnings)


# --------------------------------------------------------------------------- tables for charts


def segment_profile(scored: pl.DataFrame, settings: RfmSettings = RfmSettings()) -> pl.DataFrame:
    """One row per rule (in rule order, empty segments included).

    Columns: segment, customers, customer_share, revenue, revenue_share,
    mean_recency_days, mean_orders, mean_revenue, mean_r, mean_f, mean_m,
    aov (segment revenue / segment orders), advice.
    """
    total_customers = max(scored.height, 1)
    total_revenue = exact_total(scored[MONETARY]) if scored.height else 0.0
    stats = scored.group_by(SEGMENT).agg(
        pl.len().alias("customers"),
        exact_sum(pl.col(MONETARY)).alias("revenue"),  # exact: the same value in every run (crm_core.sums)
        pl.col(RECENCY).mean().alias("mean_recency_days"),
        pl.col(FREQUENCY).mean().alias("mean_orders"),
        (exact_sum(pl.col(MONETARY)) / pl.col(MONETARY).count()).alias("mean_revenue"),
        pl.col("r_score").mean().alias("mean_r"),
        pl.col("f_score").mean().alias("mean_f"),
        pl.col("m_score").mean().alias("mean_m"),
        (exact_sum(pl.col(MONETARY)) / pl.col(FREQUENCY).sum()).alias("aov"),
    )
    names = settings.segment_names
    order = pl.DataFrame({SEGMENT: names, "_order": list(range(len(names)))})
    return (
        order.join(stats, on=SEGMENT, how="left")
        .with_columns(
            pl.col("customers").fill_null(0).cast(pl.Int64),
            pl.col("revenue").fill_null(0.0),
            pl.col("aov").fill_nan(None),
        )
        .with_columns(
            (pl.col("customers") / total_customers).alias("customer_share"),
            (pl.col("revenue") / total_revenue if total_revenue else pl.lit(None, pl.Float64)).alias("revenue_share"),
            pl.col(SEGMENT).replace_strict(SEGMENT_ADVICE, default="").alias("advice"),
        )
        .sort("_order")
        .select(
            SEGMENT, "customers", "customer_share", "revenue", "revenue_share", "mean_recency_days",
            "mean_orders", "mean_revenue", "mean_r", "mean_f", "mean_m", "aov", "advice",
        )
    )


def rf_grid(scored: pl.DataFrame, settings: RfmSettings = RfmSettings()) -> pl.DataFrame:
    """Every R x F cell: r, f, customers, mean_monetary, segment (the rule winning the cell)."""
    f_column = settings.f_column
    stats = scored.group_by(pl.col("r_score").alias("r"), pl.col(f_column).alias("f")).agg(
        pl.len().alias("customers"), (exact_sum(pl.col(MONETARY)) / pl.col(MONETARY).count()).alias("mean_monetary")
    )
    return (
        cell_map(settings.active_rules, settings.bins)
        .join(stats, on=["r", "f"], how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
        .sort("r", "f")
    )


@dataclass(frozen=True)
class BinNote:
    """How one RFM axis used its scores."""

    axis: str
    scores_used: int
    bins: int
    top_value: float
    top_share: float
    message: str


AXES = (("Recency", RECENCY, "r_score"), ("Frequency", FREQUENCY, "f_score"), ("Monetary", MONETARY, "m_score"))


def _value_text(axis: str, value: float, style: NumberStyle) -> str:
    if axis == "Recency":
        return f"{style.number(value)} days since the last purchase"
    if axis == "Frequency":
        return f"{style.number(value)} order" + ("" if value == 1 else "s")
    return f"a spend of {style.money(value)}"


def bin_notes(scored: pl.DataFrame, settings: RfmSettings = RfmSettings(), *,
              style: NumberStyle = PLAIN) -> list[BinNote]:
    """A note per axis where many customers share one value (bins collapse or split ties)."""
    notes = []
    if not scored.height:
        return notes
    for axis, column, score in AXES:
        used = scored[score].n_unique()
        top = scored.group_by(column).len().sort(["len", column], descending=[True, False]).row(0)
        share = top[1] / scored.height
        letter = axis[0]
        if settings.ties == "shared" and used < settings.bins:
            message = (
                f"{axis}: {style.share(share, 0)} of customers have the same value "
                f"({_value_text(axis, top[0], style)}), "
                f"so only {used} of {settings.bins} {letter} scores are used; customers with equal values share a score."
            )
        elif settings.ties == "ordinal" and share > 1 / settings.bins:
            message = (
                f"{axis}: {style.share(share, 0)} of customers have the same value "
                f"({_value_text(axis, top[0], style)}); "
                f"they are spread over neighbouring {letter} scores by customer id, so those scores "
                "do not reflect a real difference."
            )
        else:
            continue
        notes.append(BinNote(axis, used, settings.bins, float(top[0]), share, message))
    return notes


MEMBER_COLUMNS = (C.CUSTOMER_ID, SEGMENT, "r_score", "f_score", "m_score", RECENCY, FREQUENCY, MONETARY,
                  "aov", "first_date", "last_date")


def segment_members(scored: pl.DataFrame, segment: str) -> pl.DataFrame:
    """Customers of one segment, biggest spenders first (for the drill-down and its CSV)."""
    columns = [name for name in MEMBER_COLUMNS if name in scored.columns]
    return (
        scored.filter(pl.col(SEGMENT) == segment)
        .select(columns)
        .sort([MONETARY, C.CUSTOMER_ID], descending=[True, False])
    )


def segment_row(profile: pl.DataFrame, segment: str) -> dict[str, Any]:
    """One segment's row of :func:`segment_profile` as a dict (the segment must be in the profile)."""
    return profile.filter(pl.col(SEGMENT) == segment).row(0, named=True)


# --------------------------------------------------------------------------- migration


def segment_migration(
    tx: pl.LazyFrame, from_date: dt.date, to_date: dt.date, settings: RfmSettings = RfmSettings()
) -> pl.DataFrame:
    """Customers moving between segments from one as-of date to a later one.

    Each date is scored on its own population (customers with activity up to
    that date). Customers with no activity by ``from_date`` come from
    :data:`NEW_CUSTOMER`.

    Returns
    -------
    pl.DataFrame
        from_segment, to_segment, customers, share_of_from (share of the
        from-segment's customers), sorted by customers (descending).
    """
    if from_date >= to_date:
        raise ValueError("the first date must be before the second date")
    def segments_on(day: dt.date, name: str) -> pl.LazyFrame:
        scored = score_customers(summarize(tx, day).select(RFM_INPUTS), settings)
        return scored.select(C.CUSTOMER_ID, pl.col(SEGMENT).alias(name))

    before, after = segments_on(from_date, "from_segment"), segments_on(to_date, "to_segment")
    flows = (
        after.join(before, on=C.CUSTOMER_ID, how="left")
        .with_columns(pl.col("from_segment").fill_null(NEW_CUSTOMER))
        .group_by("from_segment", "to_segment")
        .agg(pl.len().alias("customers"))
        .with_columns((pl.col("customers") / pl.col("customers").sum().over("from_segment")).alias("share_of_from"))
        .sort(["customers", "from_segment", "to_segment"], descending=[True, False, False])
    )
    return flows.collect()


def default_compare_date(first: dt.date, as_of: dt.date) -> dt.date:
    """A sensible earlier as-of date: 90 days back, or mid-way for shorter histories."""
    if as_of <= first:
        return first
    return max(as_of - dt.timedelta(days=90), first + (as_of - first) // 2)


# --------------------------------------------------------------------------- plain-language takeaways


def grid_takeaway(grid: pl.DataFrame, value: str = "customers", *, style: NumberStyle = PLAIN) -> str:
    """One sentence on the R x F grid."""
    filled = grid.filter(pl.col("customers") > 0)
    if filled.is_empty():
        return "No customers in this period."
    if value == "customers":
        total = filled["customers"].sum()
        top = filled.sort(["customers", "r", "f"], descending=[True, True, True]).row(0, named=True)
        return (
            f"The fullest cell is R={top['r']}, F={top['f']} ({top['segment']}): "
            f"{style.count(top['customers'])} customers, {style.share(top['customers'] / total, 0)} of all."
        )
    top = filled.sort(["mean_monetary", "r", "f"], descending=[True, True, True]).row(0, named=True)
    return (
        f"Customers in R={top['r']}, F={top['f']} ({top['segment']}) spend the most on average: "
        f"{style.money(top['mean_monetary'])} each."
    )


def treemap_takeaway(profile: pl.DataFrame, by: str = "customers", *, style: NumberStyle = PLAIN) -> str:
    """One sentence on the segment treemap."""
    filled = profile.filter(pl.col("customers") > 0)
    if filled.is_empty():
        return "No customers in this period."
    if by == "customers":
        top = filled.sort(["customers", SEGMENT], descending=[True, False]).row(0, named=True)
        tail = f", bringing {style.share(top['revenue_share'], 0)} of revenue" if top["revenue_share"] is not None else ""
        return f"The largest segment is {top[SEGMENT]}: {style.share(top['customer_share'], 0)} of customers{tail}."
    if filled["revenue_share"].is_null().all():
        return "Total revenue is zero, so revenue shares are not meaningful."
    top = filled.sort(["revenue", SEGMENT], descending=[True, False]).row(0, named=True)
    return (
        f"{top[SEGMENT]} bring the most revenue: {style.share(top['revenue_share'], 0)} of it, "
        f"from {style.share(top['customer_share'], 0)} of customers."
    )


def profile_takeaway(profile: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence comparing the best-spending segment to the average customer."""
    filled = profile.filter(pl.col("customers") > 0)
    if filled.is_empty():
        return "No customers in this period."
    average = filled["revenue"].sum() / filled["customers"].sum()
    top = filled.sort(["mean_revenue", SEGMENT], descending=[True, False]).row(0, named=True)
    if average <= 0:
        return f"{top[SEGMENT]} spend the most per customer ({style.money(top['mean_revenue'])})."
    return (
        f"A customer in {top[SEGMENT]} spends {style.number(top['mean_revenue'] / average, 1)} times as much as "
        f"the average customer ({style.money(top['mean_revenue'])} vs {style.money(average)})."
    )


def migration_takeaway(flows: pl.DataFrame, from_date: dt.date, to_date: dt.date, *,
                       style: NumberStyle = PLAIN) -> str:
    """One sentence on segment migration."""
    existing = flows.filter(pl.col("from_segment") != NEW_CUSTOMER)
    new = flows.filter(pl.col("from_segment") == NEW_CUSTOMER)["customers"].sum()
    if existing.is_empty():
        return f"All {style.count(new)} customers are new since {fmt.date(from_date)}."
    total = existing["customers"].sum()
    stayed = existing.filter(pl.col("from_segment") == pl.col("to_segment"))["customers"].sum()
    moves = existing.filter(pl.col("from_segment") != pl.col("to_segment"))
    sentence = f"From {fmt.period(from_date, to_date)}, {style.share(stayed / total, 0)} of existing customers stayed in their segment"
    if not moves.is_empty():
        top = moves.row(0, named=True)
        sentence += f"; the biggest move was {top['from_segment']} → {top['to_segment']} ({style.count(top['customers'])} customers)"
    return sentence + (f"; {style.count(new)} customers are new." if new else ".")
