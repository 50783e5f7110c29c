"""Customer portfolio analysis: who carries the business, who costs more than they bring.

Everything here starts from the per-customer summary of
:func:`crm_core.customers.summarize` (never re-grouping transactions by
customer) and adds:

* concentration: Pareto curve, top-X% share, Lorenz curve, Gini coefficient;
* the customer pyramid: value tiers by rank share or absolute cut-offs, their
  revenue over time and the migration between two periods (with new and lost
  customers);
* the strategic significance matrix: value against cost-to-serve, in four
  quadrants named in plain words.

Each figure comes with a one-line plain-language takeaway computed here, so the
page only draws.

Definitions (see docs/portfolio.md):

* Customers are ranked by value (revenue or margin) descending, then by
  ``customer_id`` ascending: equal values at a tier boundary are split by id,
  so tier sizes are exact and reproducible.
* The top X% of ``n`` customers are the first ``ceil(X * n)`` of that ranking.
* Top-X% share = their net revenue / the net revenue of all customers.
* Lorenz curve and Gini count negative customer totals (more returns than
  purchases) as 0; Gini ``G = sum_i (2i - n - 1) x_i / (n sum x)`` on values
  sorted ascending, ``i = 1..n``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Callable, SupportsFloat

import polars as pl

from crm_core.customers import filter_period, summarize
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.sums import exact_sum, exact_total

Frame = pl.DataFrame | pl.LazyFrame

VALUE_LABELS = {"revenue": "revenue", "margin": "margin"}
NEW = "New"
LOST = "Lost"
#: Digits kept when turning ``share * n`` into a count (absorbs float noise: 0.05 * 100).
_COUNT_DIGITS = 9


# --------------------------------------------------------------------------- helpers


def _lazy(frame: Frame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _count_for_share(share: float, n: int) -> int:
    """How many of ``n`` customers make up the top ``share`` (at least one when share > 0)."""
    return min(n, math.ceil(round(share * n, _COUNT_DIGITS)))


def pct(share: float | None, style: NumberStyle = PLAIN) -> str:
    """A share as a percentage for sentences: one decimal below 10% (none when it is whole), none above."""
    if share is None:
        return "n/a"
    small = 0 < abs(share) < 0.095 and round(100 * share, 1) != round(100 * share)
    return style.share(share, 1 if small else 0)


def _value_column(frame: Frame, value: str) -> str:
    """Validate the value to rank by; margin needs a cost column in the data."""
    if value not in VALUE_LABELS:
        raise ValueError(f"Unknown value '{value}': choose 'revenue' or 'margin'.")
    if not has_column(frame, value):
        raise ValueError(
            "The data has no cost column, so margin is unknown. Rank by revenue, "
            "or map a cost column when you upload the data."
        )
    return value


def has_margin(summary: Frame) -> bool:
    """True when the summary carries a margin (the data had a cost column)."""
    return has_column(summary, "margin")


# --------------------------------------------------------------------------- concentration


@dataclass(frozen=True)
class Concentration:
    """Headline concentration figures of one value column.

    Attributes
    ----------
    customers
        Number of customers.
    total
        Net total of the value (negative customers included).
    top20_share
        Share of ``total`` brought by the top ``ceil(0.2 n)`` customers (None when total <= 0).
    gini
        Gini coefficient, negative totals counted as 0 (None without customers;
        0 when nobody has a positive total).
    customer_share_for_80
        Smallest share of customers (best first) whose cumulative value reaches
        80% of ``total`` (None when total <= 0).
    """

    customers: int
    total: float
    top20_share: float | None
    gini: float | None
    customer_share_for_80: float | None


def _values(summary: Frame, value: str, descending: bool, clip: bool = False) -> pl.Series:
    column = _value_column(summary, value)
    expr = pl.col(column).fill_null(0.0).cast(pl.Float64)
    if clip:
        expr = expr.clip(lower_bound=0.0)
    return _lazy(summary).select(expr.sort(descending=descending).alias("v")).collect().to_series()


def top_share(summary: Frame, share: float = 0.2, value: str = "revenue") -> float | None:
    """Share of the net total brought by the top ``ceil(share * n)`` customers.

    Returns None when there are no customers or the net total is zero or negative.
    """
    values = _values(summary, value, descending=True)
    return _top_share_of(values, share)


def _top_share_of(values_desc: pl.Series, share: float) -> float | None:
    total = values_desc.sum()
    if len(values_desc) == 0 or total <= 0:
        return None
    k = _count_for_share(share, len(values_desc))
    return _stable(values_desc.head(k).sum() / total)


def gini(summary: Frame, value: str = "revenue") -> float | None:
    """Gini coefficient of customer totals (negatives counted as 0).

    ``G = sum_i (2i - n - 1) x_i / (n sum x)`` with ``x`` ascending, ``i = 1..n``.
    None without customers; 0.0 when no customer has a positive total.
    """
    return _gini_of(_values(summary, value, descending=False, clip=True))


def _gini_of(values_asc: pl.Series) -> float | None:
    n = len(values_asc)
    if n == 0:
        return None
    total = values_asc.sum()
    if total <= 0:
        return 0.0
    weights = pl.int_range(1, n + 1, eager=True).cast(pl.Float64) * 2 - n - 1
    return _stable((weights * values_asc).sum() / (n * total))


#: Decimals a ratio keeps: far below anything shown, far above float summation noise.
STABLE_DECIMALS = 12


def _stable(ratio: SupportsFloat) -> float:
    """``ratio`` rounded to :data:`STABLE_DECIMALS`, so that the page, report and CLI print the same value.

    Parallel sums of the same customers can differ in the last bit from run to run (the order of
    float additions); a ratio shown to 12 decimals cannot.
    """
    return round(float(ratio), STABLE_DECIMALS)


def _share_for(values_desc: pl.Series, target: float) -> float | None:
    total = values_desc.sum()
    if len(values_desc) == 0 or total <= 0:
        return None
    reached = (values_desc.cum_sum() >= target * total - 1e-9 * abs(total)).arg_true()
    k = int(reached[0]) + 1 if len(reached) else len(values_desc)
    return k / len(values_desc)


def concentration(summary: Frame, value: str = "revenue") -> Concentration:
    """All headline concentration figures with one sort of the customer values."""
    desc = _values(summary, value, descending=True)
    return Concentration(
        customers=len(desc),
        total=exact_total(desc),
        top20_share=_top_share_of(desc, 0.2),
        gini=_gini_of(desc.clip(lower_bound=0.0).sort()),
        customer_share_for_80=_share_for(desc, 0.8),
    )


def _curve(values: pl.Series, max_points: int) -> pl.DataFrame:
    """Cumulative customer share vs cumulative value share, from (0, 0), thinned."""
    n = len(values)
    total = values.sum()
    curve = pl.DataFrame(
        {
            "customer_share": pl.int_range(0, n + 1, eager=True).cast(pl.Float64) / max(n, 1),
            "revenue_share": pl.concat([pl.Series([0.0]), values.cum_sum()]) / (total if total > 0 else 1.0),
        }
    )
    step = max(1, math.ceil((n + 1) / max_points))
    index = pl.int_range(0, n + 1, eager=True)
    return curve.filter((index % step == 0) | (index == n))


def pareto_curve(summary: Frame, value: str = "revenue", max_points: int = 600) -> pl.DataFrame:
    """Pareto curve: best customers first; columns customer_share, revenue_share
    (share of the chosen value, revenue by default).

    The value share uses net totals, so it can pass 100% before the end when
    some customers returned more than they bought. Thinned to ``max_points``.
    """
    return _curve(_values(summary, value, descending=True), max_points)


def lorenz_curve(summary: Frame, value: str = "revenue", max_points: int = 600) -> pl.DataFrame:
    """Lorenz curve: smallest customers first, negatives counted as 0."""
    return _curve(_values(summary, value, descending=False, clip=True), max_points)


def pareto_takeaway(figures: Concentration, value: str = "revenue", *, style: NumberStyle = PLAIN) -> str:
    """E.g. 'The top 20% of customers bring 71% of revenue; 80% of revenue comes from 23% of them.'"""
    label = VALUE_LABELS[value]
    if figures.top20_share is None:
        return f"Total {label} is zero or negative in this period, so concentration cannot be measured."
    sentence = f"The top 20% of customers bring {pct(figures.top20_share, style)} of {label}"
    if figures.customer_share_for_80 is not None:
        sentence += f"; 80% of {label} comes from {pct(figures.customer_share_for_80, style)} of customers"
    return sentence + "."


def gini_takeaway(figures: Concentration, value: str = "revenue", *, style: NumberStyle = PLAIN) -> str:
    """Plain reading of the Gini coefficient."""
    g = figures.gini
    if g is None:
        return "No customers in this period."
    if g < 0.3:
        reading = "fairly evenly spread across customers"
    elif g < 0.5:
        reading = "moderately concentrated"
    elif g < 0.7:
        reading = "strongly concentrated in few customers"
    else:
        reading = "very strongly concentrated in few customers"
    return (
        f"Gini coefficient {style.number(g, 2)} (0 = every customer spends the same, 1 = one customer brings "
        f"everything): {VALUE_LABELS[value]} is {reading}."
    )


# --------------------------------------------------------------------------- tiers (customer pyramid)


@dataclass(frozen=True)
class TierSettings:
    """How customers are split into value tiers (best tier first).

    Attributes
    ----------
    names
        Tier names, best first. Unique, not 'New' or 'Lost' (used by migration).
    method
        'rank': the top ``shares[0]`` of customers by value form the first
        tier, the next ``shares[1]`` the second, ...; the last tier takes the
        rest. 'amount': a customer whose value is at least ``amounts[j]`` (and
        below the previous cut-off) is in tier ``j``; the rest in the last tier.
    value
        'revenue' (net of returns) or 'margin' (revenue - cost; needs a cost column).
    shares
        One customer share per tier except the last; they must sum to less than 1.
    amounts
        One cut-off per tier except the last, strictly decreasing (for 'amount').
    """

    names: tuple[str, ...] = ("Platinum", "Gold", "Iron", "Lead")
    method: str = "rank"
    value: str = "revenue"
    shares: tuple[float, ...] = (0.01, 0.04, 0.15)
    amounts: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        names = tuple(name.strip() for name in self.names)
        if len(names) < 2 or any(not name for name in names):
            raise ValueError("Give at least two tiers, each with a name.")
        if len(set(names)) != len(names):
            raise ValueError("Tier names must be different from each other.")
        if {NEW, LOST} & set(names):
            raise ValueError(f"'{NEW}' and '{LOST}' are reserved for the migration chart: pick other tier names.")
        object.__setattr__(self, "names", names)
        if self.value not in VALUE_LABELS:
            raise ValueError("Rank tiers by 'revenue' or 'margin'.")
        if self.method == "rank":
            self._check_shares()
        elif self.method == "amount":
            self._check_amounts()
        else:
            raise ValueError("Tier method must be 'rank' (share of customers) or 'amount' (spend cut-offs).")

    def _check_shares(self) -> None:
        if len(self.shares) != len(self.names) - 1:
            raise ValueError(f"Give one customer share for each tier except the last ({len(self.names) - 1}).")
        if any(share <= 0 for share in self.shares) or sum(self.shares) >= 1:
            raise ValueError("Each tier share must be above 0% and together below 100% (the last tier takes the rest).")

    def _check_amounts(self) -> None:
        amounts = self.amounts or ()
        if len(amounts) != len(self.names) - 1:
            raise ValueError(f"Give one cut-off amount for each tier except the last ({len(self.names) - 1}).")
        if any(later >= earlier for earlier, later in zip(amounts, amounts[1:])):
            raise ValueError("Cut-off amounts must decrease from the best tier to the next.")

    @property
    def cumulative_shares(self) -> tuple[float, ...]:
        """Customer share covered by the first j+1 tiers, j = 0..len(shares)-1."""
        return tuple(round(sum(self.shares[: j + 1]), 12) for j in range(len(self.shares)))

    def describe(self, style: NumberStyle = PLAIN) -> str:
        """The tier rule in one plain sentence."""
        label = VALUE_LABELS[self.value]
        if self.method == "rank":
            parts = [f"{name} the top {pct(share, style)}" if j == 0 else f"{name} the next {pct(share, style)}"
                     for j, (name, share) in enumerate(zip(self.names, self.shares))]
            parts.append(f"{self.names[-1]} the rest")
            return f"Customers ranked by {label} (equal values ordered by customer id): " + ", ".join(parts) + "."
        parts = [f"{name} from {style.money(amount, 2)}" for name, amount in zip(self.names, self.amounts or ())]
        parts.append(f"{self.names[-1]} below {style.money(self.amounts[-1], 2)}")
        return f"Tiers by {label} in the period: " + ", ".join(parts) + "."


def _tier_index(settings: TierSettings) -> pl.Expr:
    """Expression giving 0 for the best tier ... len(names)-1 for the last."""
    if settings.method == "rank":
        n = pl.len()
        crossed = [
            (pl.col("value_rank") > (pl.lit(cum) * n).round(_COUNT_DIGITS).ceil()).cast(pl.UInt32)
            for cum in settings.cumulative_shares
        ]
    else:
        value = pl.col(settings.value)
        crossed = [(value < amount).fill_null(True).cast(pl.UInt32) for amount in settings.amounts]
    return pl.sum_horizontal(crossed).cast(pl.UInt32).alias("tier_index")


def assign_tiers(summary: Frame, settings: TierSettings = TierSettings()) -> pl.DataFrame:
    """Add value_rank (1 = best; ties by customer_id), tier_index (0 = best) and tier.

    Customers with only returns have a negative value and rank last.
    """
    _value_column(summary, settings.value)
    ranked = (
        _lazy(summary)
        .sort([settings.value, C.CUSTOMER_ID], descending=[True, False], nulls_last=True)
        .with_row_index("value_rank", offset=1)
        .with_columns(_tier_index(settings))
        .with_columns(
            pl.col("tier_index")
            .replace_strict(list(range(len(settings.names))), list(settings.names), return_dtype=pl.String)
            .alias("tier")
        )
    )
    return ranked.collect()


def rank_cutoff_amounts(summary: Frame, settings: TierSettings = TierSettings()) -> tuple[float, ...]:
    """Cut-off amounts reproducing the rank tiers (lowest value of each tier but the last).

    Used to pre-fill the 'amount' method with equivalent figures. Amounts are
    rounded down to the cent (so the boundary customer stays in), and an empty
    tier or a tie gets one cent less than the tier above to keep them decreasing.
    Ties across a rank boundary land together in the better tier.
    """
    rank_settings = TierSettings(names=settings.names, value=settings.value, shares=settings.shares)
    tiered = assign_tiers(summary, rank_settings)
    lowest = tiered.group_by("tier_index").agg(pl.col(settings.value).min()).sort("tier_index")
    values = dict(zip(lowest["tier_index"].to_list(), lowest[settings.value].to_list()))
    amounts, previous = [], math.inf
    for j in range(len(settings.names) - 1):
        amount = values.get(j)
        amount = math.floor(amount * 100) / 100 if amount is not None else previous
        if amount >= previous:
            amount = round(previous - 0.01, 2)
        amounts.append(amount if math.isfinite(amount) else 0.0)
        previous = amounts[-1]
    return tuple(amounts)


def _names_frame(names: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame({"tier_index": list(range(len(names))), "tier": list(names)},
                        schema={"tier_index": pl.UInt32, "tier": pl.String})


def tier_summary(tiered: pl.DataFrame, settings: TierSettings = TierSettings()) -> pl.DataFrame:
    """One row per tier (best first, empty tiers included).

    Columns: tier, customers, customer_share, revenue, revenue_share, and
    margin when known, plus value_min / value_max (the tier's range of the ranking value).
    """
    aggregations = [
        pl.len().alias("customers"),
        exact_sum(pl.col("revenue")).alias("revenue"),  # exact: the same value in every run (crm_core.sums)
        pl.col(settings.value).min().alias("value_min"),
        pl.col(settings.value).max().alias("value_max"),
    ]
    if has_margin(tiered):
        aggregations.append(exact_sum(pl.col("margin")).alias("margin"))
    per_tier = tiered.group_by("tier_index").agg(aggregations)
    customers, revenue = tiered.height, exact_total(tiered["revenue"]) if tiered.height else 0.0
    table = _names_frame(settings.names).join(per_tier, on="tier_index", how="left").with_columns(
        pl.col("customers").fill_null(0),
        pl.col("revenue").fill_null(0.0),
    )
    return table.with_columns(
        (pl.col("customers") / customers if customers else pl.lit(None, pl.Float64)).alias("customer_share"),
        (pl.col("revenue") / revenue if revenue > 0 else pl.lit(None, pl.Float64)).alias("revenue_share"),
    ).sort("tier_index").select(
        "tier", "customers", "customer_share", "revenue", "revenue_share",
        *(["margin"] if has_margin(tiered) else []), "value_min", "value_max",
    )


def pyramid_takeaway(table: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """E.g. 'Platinum: 1% of customers (12) bring 18% of revenue; Lead: 80% of customers bring 31%.'"""
    if table["customers"].sum() == 0:
        return "No customers in this period."
    top, bottom = table.row(0, named=True), table.row(table.height - 1, named=True)
    if top["revenue_share"] is None:
        return "Total revenue is zero or negative in this period, so tier shares cannot be compared."
    return (
        f"{top['tier']}: {pct(top['customer_share'], style)} of customers ({style.count(top['customers'])}) bring "
        f"{pct(top['revenue_share'], style)} of revenue; {bottom['tier']}: {pct(bottom['customer_share'], style)} "
        f"of customers bring {pct(bottom['revenue_share'], style)}."
    )


# --------------------------------------------------------------------------- tier trend


GRAINS = {"month": "1mo", "quarter": "1q", "year": "1y"}


def period_label(day: dt.date, grain: str) -> str:
    """'2024-05', '2024-Q2' or '2024'."""
    if grain == "month":
        return f"{day.year}-{day.month:02d}"
    if grain == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def tier_trend(
    tx: pl.LazyFrame, tiered: pl.DataFrame, settings: TierSettings = TierSettings(), grain: str = "quarter"
) -> pl.DataFrame:
    """Revenue and active customers per period and tier, tiers as assigned over the whole period.

    Columns: period (first day), tier_index, tier, revenue, customers (with a
    transaction in the period), revenue_share (of the period's revenue).
    Missing (period, tier) pairs are filled with zeros.
    """
    if grain not in GRAINS:
        raise ValueError("Grain must be 'month', 'quarter' or 'year'.")
    membership = tiered.lazy().select(C.CUSTOMER_ID, "tier_index")
    per_period = (
        tx.join(membership, on=C.CUSTOMER_ID, how="inner")
        .with_columns(pl.col(C.ORDER_DATE).dt.truncate(GRAINS[grain]).alias("period"))
        .group_by("period", "tier_index")
        .agg(exact_sum(pl.col(C.AMOUNT)).alias("revenue"), pl.col(C.CUSTOMER_ID).n_unique().alias("customers"))
        .collect()
    )
    grid = per_period.select("period").unique().join(_names_frame(settings.names), how="cross")
    return (
        grid.join(per_period, on=["period", "tier_index"], how="left")
        .with_columns(pl.col("revenue").fill_null(0.0), pl.col("customers").fill_null(0).cast(pl.UInt32))
        .with_columns((pl.col("revenue") / pl.col("revenue").sum().over("period")).alias("revenue_share"))
        .sort("period", "tier_index")
        .select("period", "tier_index", "tier", "revenue", "customers", "revenue_share")
    )


def trend_takeaway(trend: pl.DataFrame, grain: str = "quarter", start: dt.date | None = None,
                   end: dt.date | None = None, *, style: NumberStyle = PLAIN) -> str:
    """How the best tier's share of revenue moved from the first to the last period.

    With ``start``/``end`` (the analysed period) a partial first or last month, quarter or year is left out:
    a few days are not compared with a whole period.
    """
    from crm_core.kpis import complete_buckets

    if trend.height == 0:
        return "No sales in this period."
    complete = complete_buckets(trend, grain, start, end)
    trend = complete if complete.height else trend
    periods = trend["period"].unique().sort()
    top = trend.filter(pl.col("tier_index") == 0)
    if periods.len() < 2:
        share = top["revenue_share"][0]
        return f"{top['tier'][0]} customers bring {pct(share, style)} of revenue in {period_label(periods[0], grain)}."
    first = top.filter(pl.col("period") == periods[0]).row(0, named=True)
    last = top.filter(pl.col("period") == periods[-1]).row(0, named=True)
    return (
        f"{first['tier']} customers brought {pct(first['revenue_share'], style)} of revenue in "
        f"{period_label(periods[0], grain)} and {pct(last['revenue_share'], style)} in {period_label(periods[-1], grain)}."
    )


# --------------------------------------------------------------------------- tier migration


def split_period(start: dt.date, end: dt.date) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """Two halves of [start, end]: the earlier ends the day before the later starts."""
    middle = start + dt.timedelta(days=(end - start).days // 2)
    return (start, middle), (min(middle + dt.timedelta(days=1), end), end)


def period_tiers(tx: pl.LazyFrame, period: tuple[dt.date, dt.date], settings: TierSettings) -> pl.DataFrame:
    """Tiers of the customers active in ``period`` (summary of that period only)."""
    return assign_tiers(_period_values(tx, period, settings), settings)


def _period_values(tx: pl.LazyFrame, period: tuple[dt.date, dt.date], settings: TierSettings) -> pl.LazyFrame:
    """customer_id, revenue and the tier value of the customers active in ``period`` (that period's orders alone)."""
    start, end = period
    summary = summarize(filter_period(tx, start, end), as_of=end)
    _value_column(summary, settings.value)
    # Only the ranking columns: the optimiser then skips the summary's other aggregations.
    return summary.select(C.CUSTOMER_ID, *dict.fromkeys(["revenue", settings.value]))


#: ``slicer(tx, build)``: ``build(tx).collect()`` for a ``build`` that makes each customer's rows from that
#: customer's rows alone (as :data:`crm_core.findings.Slicer`).
Slicer = Callable[[pl.LazyFrame, Callable[[pl.LazyFrame], pl.LazyFrame]], pl.DataFrame]


def tier_migration(
    tx: pl.LazyFrame,
    earlier: tuple[dt.date, dt.date],
    later: tuple[dt.date, dt.date],
    settings: TierSettings = TierSettings(),
    slicer: Slicer | None = None,
) -> pl.DataFrame:
    """Customers moving between tiers from one period to the next.

    Tiers are assigned within each period on that period's own value. A
    customer active only later comes from 'New'; one active only earlier goes
    to 'Lost'. Columns: from_tier, to_tier, from_index, to_index (New =
    -1, Lost = len(names)), customers, earlier_revenue, later_revenue.
    ``slicer`` builds both periods' per-customer values (slice by slice of customers for many rows on disk);
    default: at once.
    """
    if tx.select(pl.len()).collect().item() == 0 or earlier[0] > earlier[1] or later[0] > later[1]:
        return _empty_flows()
    if slicer is not None:
        values = slicer(tx, lambda rows: pl.concat([_period_values(rows, earlier, settings).with_columns(pl.lit(0, pl.Int8).alias("_half")),
                                                    _period_values(rows, later, settings).with_columns(pl.lit(1, pl.Int8).alias("_half"))]))
        return _coded_migration(values, settings)
    a, b = period_tiers(tx, earlier, settings), period_tiers(tx, later, settings)
    a = a.select(
        C.CUSTOMER_ID, pl.col("tier").alias("from_tier"), pl.col("tier_index").cast(pl.Int32).alias("from_index"),
        pl.col("revenue").alias("earlier_revenue"))
    b = b.select(
        C.CUSTOMER_ID, pl.col("tier").alias("to_tier"), pl.col("tier_index").cast(pl.Int32).alias("to_index"),
        pl.col("revenue").alias("later_revenue"))
    return (
        a.join(b, on=C.CUSTOMER_ID, how="full", coalesce=True)
        .with_columns(
            pl.col("from_tier").fill_null(NEW),
            pl.col("from_index").fill_null(-1),
            pl.col("to_tier").fill_null(LOST),
            pl.col("to_index").fill_null(len(settings.names)),
            pl.col("earlier_revenue").fill_null(0.0),
            pl.col("later_revenue").fill_null(0.0),
        )
        .group_by("from_tier", "to_tier", "from_index", "to_index")
        .agg(pl.len().alias("customers"), exact_sum(pl.col("earlier_revenue")), exact_sum(pl.col("later_revenue")))
        .sort("from_index", "to_index")
    )


def _coded_migration(values: pl.DataFrame, settings: TierSettings) -> pl.DataFrame:
    """:func:`tier_migration` of both halves' values (customer_id, revenue, the tier value, ``_half`` 0 or 1),
    on a number per customer instead of the id's text: the ids' order as numbers (ties of value are ranked by
    id, as :func:`assign_tiers` does), each half's tier as its index alone, the halves joined on the numbers and
    named after counting. 3M customers' two halves ranked and joined by id took about 0.9 GB."""
    ids = values.drop_in_place(C.CUSTOMER_ID)
    if ids.len() and ids.is_sorted():  # sliced summaries come sorted by id: number each new id
        code = (ids != ids.shift(1)).fill_null(True).cum_sum().cast(pl.UInt32)
    else:
        code = ids.rank("dense").cast(pl.UInt32)
    del ids
    values = values.with_columns(code.alias("_code"))
    del code
    half = pl.col("_half")
    last = len(settings.names)

    def coded_tiers(values: pl.DataFrame, which: int, index: str, revenue: str) -> pl.DataFrame:
        return (
            values.lazy().filter(half == which)
            .sort([settings.value, "_code"], descending=[True, False], nulls_last=True)
            .with_row_index("value_rank", offset=1)
            .select("_code", _tier_index(settings).cast(pl.Int32).alias(index), pl.col("revenue").alias(revenue))
            .collect()
        )

    a = coded_tiers(values, 0, "from_index", "earlier_revenue")
    b = coded_tiers(values, 1, "to_index", "later_revenue")
    del values
    names = list(settings.names)
    flows = (
        a.join(b, on="_code", how="full", coalesce=True)
        .select(
            pl.col("from_index").fill_null(-1),
            pl.col("to_index").fill_null(last),
            pl.col("earlier_revenue").fill_null(0.0),
            pl.col("later_revenue").fill_null(0.0),
        )
        .group_by("from_index", "to_index")
        .agg(pl.len().alias("customers"), exact_sum(pl.col("earlier_revenue")), exact_sum(pl.col("later_revenue")))
    )
    return flows.select(
        pl.col("from_index").replace_strict(list(range(-1, last)), [NEW, *names], return_dtype=pl.String).alias("from_tier"),
        pl.col("to_index").replace_strict(list(range(last + 1)), [*names, LOST], return_dtype=pl.String).alias("to_tier"),
        "from_index", "to_index", "customers", "earlier_revenue", "later_revenue",
    ).sort("from_index", "to_index")


def _empty_flows() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "from_tier": pl.String, "to_tier": pl.String, "from_index": pl.Int32, "to_index": pl.Int32,
        "customers": pl.UInt32, "earlier_revenue": pl.Float64, "later_revenue": pl.Float64,
    })


def migration_matrix(flows: pl.DataFrame, settings: TierSettings = TierSettings()) -> pl.DataFrame:
    """Customer counts: one row per earlier tier (and 'New'), one column per later tier (and 'Lost')."""
    rows, columns = [*settings.names, NEW], [*settings.names, LOST]
    counts = {(f, t): c for f, t, c in flows.select("from_tier", "to_tier", "customers").iter_rows()}
    data: dict[str, list] = {"from \\ to": rows}
    for column in columns:
        data[column] = [counts.get((row, column), 0) for row in rows]
    return pl.DataFrame(data, schema={"from \\ to": pl.String, **{c: pl.UInt32 for c in columns}})


def migration_takeaway(flows: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """Shares of earlier customers who kept, raised, lowered their tier or stopped buying."""
    earlier = flows.filter(pl.col("from_tier") != NEW)
    total = int(earlier["customers"].sum()) if earlier.height else 0
    new = int(flows.filter(pl.col("from_tier") == NEW)["customers"].sum()) if flows.height else 0
    if total == 0:
        return f"Nobody bought in the earlier period; {style.count(new)} customers bought in the later one."

    def share(condition: pl.Expr) -> str:
        return pct(earlier.filter(condition)["customers"].sum() / total, style)

    lost = pl.col("to_tier") == LOST
    return (
        f"Of {style.count(total)} customers active in the earlier period, {share(pl.col('from_index') == pl.col('to_index'))} "
        f"kept their tier, {share(~lost & (pl.col('to_index') < pl.col('from_index')))} moved up, "
        f"{share(~lost & (pl.col('to_index') > pl.col('from_index')))} moved down and {share(lost)} stopped buying; "
        f"{style.count(new)} new customers bought in the later period."
    )


# --------------------------------------------------------------------------- cost to serve and significance


@dataclass(frozen=True)
class ServeCostSettings:
    """Assumptions used to cost service (shown on the page, editable).

    Attributes
    ----------
    cost_per_contact
        Cost of a support contact whose cost is not recorded.
    cost_per_return
        Handling cost of one returned line (on top of the refunded amount,
        which already lowers net revenue).
    """

    cost_per_contact: float = 5.0
    cost_per_return: float = 5.0

    def __post_init__(self) -> None:
        if self.cost_per_contact < 0 or self.cost_per_return < 0:
            raise ValueError("Costs per contact and per return cannot be negative.")


@dataclass(frozen=True)
class CostBasis:
    """What the cost-to-serve axis is made of.

    Attributes
    ----------
    kind
        'cost' (money: recorded contact costs plus return handling), 'proxy'
        (a 0-1 score from the proxies named in ``proxies``), or 'none'.
    proxies
        Plain names of the signals used.
    note
        One sentence for the page saying what was used and what is missing.
    cost_per_return
        Assumed cost of a returned line (kind 'cost'), written in the manager's currency by :meth:`describe`.
    """

    kind: str
    proxies: tuple[str, ...] = ()
    note: str = ""
    cost_per_return: float | None = None

    def describe(self, style: NumberStyle = PLAIN) -> str:
        """:attr:`note` with its amount in the manager's currency and locale."""
        if self.kind == "cost" and self.cost_per_return is not None:
            return _recorded_cost_note(self.cost_per_return, style)
        return self.note

    @property
    def axis_title(self) -> str:
        return "Cost to serve" if self.kind == "cost" else "Cost-to-serve score (0 = lowest, 1 = highest)"


def _recorded_cost_note(cost_per_return: float, style: NumberStyle = PLAIN) -> str:
    return f"Cost to serve = recorded cost of support contacts + {style.money(cost_per_return, 2)} per returned line."


PROXY_NAMES = {
    "return_lines": "returns (returned lines)",
    "contacts": "support contacts",
    "days_late_mean": "late payment (average days late)",
}


def _contacts(interactions: pl.LazyFrame, period: tuple[dt.date, dt.date] | None,
              settings: ServeCostSettings) -> pl.LazyFrame:
    contacts = interactions
    if period is not None and has_column(interactions, "interaction_date"):
        contacts = contacts.filter(pl.col("interaction_date").is_between(period[0], period[1]))
    cost = pl.col("cost").fill_null(settings.cost_per_contact) if has_column(interactions, "cost") else \
        pl.lit(settings.cost_per_contact)
    return contacts.group_by(C.CUSTOMER_ID).agg(
        pl.len().cast(pl.UInt32).alias("contacts"), cost.sum().cast(pl.Float64).alias("contact_cost"))


def _has_recorded_cost(interactions: pl.LazyFrame | None) -> bool:
    if interactions is None or not has_column(interactions, "cost"):
        return False
    return interactions.select(pl.col("cost").is_not_null().any()).collect().item()


def add_cost_to_serve(
    summary: Frame,
    interactions: pl.LazyFrame | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    settings: ServeCostSettings = ServeCostSettings(),
) -> tuple[pl.DataFrame, CostBasis]:
    """Join contacts and cost-to-serve onto the customer summary.

    With recorded contact costs: ``cost_to_serve = contact_cost +
    return_lines * cost_per_return`` (money). Without them the cost axis is a
    0-1 score: the mean percentile rank of the proxies that vary among
    customers (returned lines, contacts, average days late). Adds columns
    contacts, contact_cost (null without interactions), return_cost,
    cost_to_serve and, when margin is known, contribution = margin - cost_to_serve.
    """
    frame = _lazy(summary)
    if interactions is not None:
        frame = frame.join(_contacts(interactions, period, settings), on=C.CUSTOMER_ID, how="left").with_columns(
            pl.col("contacts").fill_null(0), pl.col("contact_cost").fill_null(0.0))
    else:
        frame = frame.with_columns(pl.lit(None, pl.UInt32).alias("contacts"), pl.lit(None, pl.Float64).alias("contact_cost"))
    frame = frame.with_columns((pl.col("return_lines") * settings.cost_per_return).cast(pl.Float64).alias("return_cost"))
    table = frame.collect()
    if _has_recorded_cost(interactions):
        table = table.with_columns((pl.col("contact_cost") + pl.col("return_cost")).alias("cost_to_serve"))
        basis = CostBasis("cost", note=_recorded_cost_note(settings.cost_per_return),
                          cost_per_return=settings.cost_per_return)
    else:
        table, basis = _proxy_cost(table, interactions is not None)
    if has_margin(table) and basis.kind == "cost":
        table = table.with_columns((pl.col("margin") - pl.col("cost_to_serve")).alias("contribution"))
    return table, basis


def _proxy_cost(table: pl.DataFrame, has_interactions: bool) -> tuple[pl.DataFrame, CostBasis]:
    candidates = ["return_lines"] + (["contacts"] if has_interactions else []) + \
        (["days_late_mean"] if "days_late_mean" in table.columns else [])
    varying = [c for c in candidates if table.height and table[c].fill_null(0).n_unique() > 1]
    missing = "The data has no recorded cost of serving customers"
    missing += "" if has_interactions else " (no interactions table)"
    if not varying:
        note = (f"{missing}, and no proxy (returns, contacts, late payment) varies between customers: "
                "the cost axis is flat, so the quadrants only split customers by value.")
        return table.with_columns(pl.lit(0.0).alias("cost_to_serve")), CostBasis("none", (), note)
    n = table.height
    scores = [pl.col(c).fill_null(0).rank("average") / n for c in varying]
    names = tuple(PROXY_NAMES[c] for c in varying)
    note = f"{missing}: the cost axis is a score from {', '.join(names)} (0 = lowest, 1 = highest)."
    return table.with_columns(pl.mean_horizontal(scores).alias("cost_to_serve")), CostBasis("proxy", names, note)


QUADRANTS = {
    (True, False): "Strategically significant",
    (True, True): "Costly to serve",
    (False, False): "Low value, low cost",
    (False, True): "Candidates to reprice or exit",
}
QUADRANT_ADVICE = {
    "Strategically significant": "high value, low cost to serve: protect and grow them.",
    "Costly to serve": "high value but expensive to serve: keep them, reduce the cost of serving them.",
    "Low value, low cost": "little value, little cost: serve them efficiently (self-service, automation).",
    "Candidates to reprice or exit": "low value, high cost: reprice, change the service level, or let go.",
}
QUADRANT_ORDER = tuple(QUADRANTS.values())


@dataclass(frozen=True)
class Significance:
    """The strategic significance matrix.

    Attributes
    ----------
    customers
        One row per customer with value, cost_to_serve and quadrant.
    value
        Value column used ('revenue' or 'margin').
    value_split, cost_split
        Quadrant lines: high value means value > value_split, high cost means
        cost_to_serve > cost_split (medians or averages).
    basis
        What the cost axis is made of.
    costed_line
        True when at least half of the customers sit at the lowest cost (usually nothing recorded): the
        cost line is then the median (or average) of the customers who cost more, and a customer is high
        cost above that line, so a single contact no longer makes a top customer "costly to serve".
    """

    customers: pl.DataFrame
    value: str
    value_split: float
    cost_split: float
    basis: CostBasis = field(default_factory=lambda: CostBasis("none"))
    costed_line: bool = False


SPLITS = {"median": "medians", "mean": "averages"}


def significance(
    with_cost: pl.DataFrame,
    basis: CostBasis,
    value: str = "revenue",
    split: str = "median",
) -> Significance:
    """Place each customer in a quadrant of value against cost to serve.

    The quadrant lines are the medians (``split='median'``) or the averages
    (``split='mean'``) of value and of cost to serve over all customers; a
    customer is high on an axis when strictly above its line. When at least half of the customers cost
    nothing (no recorded cost), the cost line is taken over the customers who cost something instead.
    """
    _value_column(with_cost, value)
    if split not in SPLITS:
        raise ValueError("Quadrant lines are at the 'median' or the 'mean'.")
    if with_cost.height == 0:
        return Significance(with_cost.with_columns(pl.lit(None, pl.String).alias("quadrant")), value, 0.0, 0.0, basis)
    line = (lambda column: pl.col(column).median()) if split == "median" else (lambda column: pl.col(column).mean())
    value_split, cost_split = (float(x) for x in with_cost.select(line(value), line("cost_to_serve")).row(0))
    floor, cost_median = (float(x) for x in with_cost.select(pl.col("cost_to_serve").min().alias("floor"),
                                                              pl.col("cost_to_serve").median().alias("mid")).row(0))
    costed = with_cost.filter(pl.col("cost_to_serve") > floor)
    costed_line = cost_median <= floor and costed.height > 0
    if costed_line:  # most customers cost nothing: split those who cost something instead (median or average)
        cost_split = float(costed.select(line("cost_to_serve")).item())
    high_value = pl.col(value) > value_split
    high_cost = pl.col("cost_to_serve") > cost_split  # strictly: the usual cost (e.g. one contact) is not costly
    quadrant = pl.when(high_value & ~high_cost).then(pl.lit(QUADRANTS[(True, False)])) \
        .when(high_value & high_cost).then(pl.lit(QUADRANTS[(True, True)])) \
        .when(~high_value & ~high_cost).then(pl.lit(QUADRANTS[(False, False)])) \
        .otherwise(pl.lit(QUADRANTS[(False, True)]))
    return Significance(with_cost.with_columns(quadrant.alias("quadrant")), value, value_split, cost_split, basis,
                        costed_line)


def quadrant_summary(matrix: Significance) -> pl.DataFrame:
    """One row per quadrant (fixed order, empty quadrants included).

    Columns: quadrant, customers, customer_share, revenue, revenue_share,
    cost_to_serve_mean, cost_to_serve_total (null unless the cost axis is money), advice.
    """
    frame = matrix.customers
    per = frame.group_by("quadrant").agg(
        pl.len().alias("customers"), exact_sum(pl.col("revenue")),
        pl.col("cost_to_serve").mean().alias("cost_to_serve_mean"),
        pl.col("cost_to_serve").sum().alias("cost_to_serve_total"))
    total_customers = frame.height
    total_revenue = exact_total(frame["revenue"]) if frame.height else 0.0
    names = pl.DataFrame({"quadrant": list(QUADRANT_ORDER), "advice": [QUADRANT_ADVICE[q] for q in QUADRANT_ORDER]})
    money = matrix.basis.kind == "cost"
    return names.join(per, on="quadrant", how="left", maintain_order="left").with_columns(
        pl.col("customers").fill_null(0).cast(pl.UInt32), pl.col("revenue").fill_null(0.0),
        (pl.col("cost_to_serve_total").fill_null(0.0) if money else pl.lit(None, pl.Float64)).alias("cost_to_serve_total"),
    ).with_columns(
        (pl.col("customers") / total_customers if total_customers else pl.lit(None, pl.Float64)).alias("customer_share"),
        (pl.col("revenue") / total_revenue if total_revenue > 0 else pl.lit(None, pl.Float64)).alias("revenue_share"),
    ).select("quadrant", "customers", "customer_share", "revenue", "revenue_share",
             "cost_to_serve_mean", "cost_to_serve_total", "advice")


def significance_takeaway(summary_table: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """E.g. '12% of customers are strategically significant and bring 45% of revenue; 8% are candidates ...'."""
    rows = {row["quadrant"]: row for row in summary_table.iter_rows(named=True)}
    if sum(row["customers"] for row in rows.values()) == 0:
        return "No customers in this period."
    best, worst = rows[QUADRANT_ORDER[0]], rows[QUADRANT_ORDER[3]]
    return (
        f"{pct(best['customer_share'], style)} of customers ({style.count(best['customers'])}) are strategically "
        f"significant and bring {pct(best['revenue_share'], style)} of revenue; {pct(worst['customer_share'], style)} "
        f"({style.count(worst['customers'])}) are candidates to reprice or exit and bring "
        f"{pct(worst['revenue_share'], style)}."
    )


def lines_note(matrix: Significance, split: str = "median", *, style: NumberStyle = PLAIN) -> str:
    """What the dashed quadrant lines are, and what a zero cost line means."""
    cost = (style.money(matrix.cost_split, 2) if matrix.basis.kind == "cost"
            else f"{style.number(matrix.cost_split, 2)} (score)")
    note = (f"Dashed lines: the {SPLITS[split]} ({matrix.value} {style.money(matrix.value_split, 2)}; "
            f"cost to serve {cost}). "
            "A customer above a line is high on that axis.")
    if matrix.costed_line:
        costed = int((matrix.customers["cost_to_serve"] > matrix.customers["cost_to_serve"].min()).sum())
        note += (f" At least half of the customers cost nothing to serve in the period, so the cost line is the "
                 f"{SPLITS[split][:-1]} of the {style.count(costed)} who cost something: a single contact does not make a "
                 "customer costly.")
    elif matrix.cost_split == 0 and matrix.customers.height:
        note += " Nobody has a cost to serve in the period, so every customer counts as low cost."
    return note


def chart_sample(frame: pl.DataFrame, max_points: int = 5000, seed: int = 7, *,
                 style: NumberStyle = PLAIN) -> tuple[pl.DataFrame, str | None]:
    """A random sample for the scatter when large, with the sentence that says so."""
    if frame.height <= max_points:
        return frame, None
    note = (f"Showing {style.count(max_points)} of {style.count(frame.height)} customers picked at random so the chart stays readable; "
            "the quadrant lines, counts and lists use all customers.")
    return frame.sample(n=max_points, seed=seed), note


# --------------------------------------------------------------------------- portfolio table and drill-down


def portfolio_table(
    summary: Frame,
    tiers: TierSettings = TierSettings(),
    interactions: pl.LazyFrame | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    serve: ServeCostSettings = ServeCostSettings(),
    value: str = "revenue",
    split: str = "median",
) -> tuple[pl.DataFrame, Significance]:
    """Every customer with tier, cost to serve and quadrant (the page's one call)."""
    tiered = assign_tiers(summary, tiers)
    with_cost, basis = add_cost_to_serve(tiered, interactions, period, serve)
    matrix = significance(with_cost, basis, value=value, split=split)
    return matrix.customers, matrix


DRILL_COLUMNS = (
    C.CUSTOMER_ID, "tier", "quadrant", "value_rank", "revenue", "margin", "contribution", "orders", "aov",
    "first_date", "last_date", "recency_days", "returns", "return_lines", "contacts", "cost_to_serve",
    "days_late_mean",
)


def customers_in(table: pl.DataFrame, column: str, label: str) -> pl.DataFrame:
    """Customers of one tier (column='tier') or quadrant (column='quadrant'), best first."""
    if column not in ("tier", "quadrant"):
        raise ValueError("Drill down by 'tier' or 'quadrant'.")
    keep = [name for name in DRILL_COLUMNS if name in table.columns]
    return table.filter(pl.col(column) == label).sort("value_rank").select(keep)


# --------------------------------------------------------------------------- report (CLI)


def portfolio_report(tx: pl.LazyFrame, settings: TierSettings = TierSettings(),
                     summary: pl.LazyFrame | None = None) -> dict:
    """Headline figures for the CLI: customers, revenue, top20_revenue_share, gini, tiers.

    Concentration figures use customer net revenue whatever the tier value.
    ``summary`` is ``summarize(tx)`` when the caller has built it already.
    """
    full = summarize(tx) if summary is None else summary
    _value_column(full, settings.value)
    # Only the needed columns: the optimiser then skips the other aggregations.
    summary = full.select(C.CUSTOMER_ID, "revenue", *(["margin"] if settings.value == "margin" else []))
    tiered = assign_tiers(summary, settings)
    figures = concentration(tiered)
    table = tier_summary(tiered, settings)
    return {
        "customers": figures.customers,
        "revenue": round(figures.total, 2),
        "top20_revenue_share": figures.top20_share,
        "gini": figures.gini,
        "customer_share_for_80pct_revenue": figures.customer_share_for_80,
        "tier_rule": settings.describe(),
        "tiers": {
            row["tier"]: {
                "customers": row["customers"],
                "revenue": round(row["revenue"], 2),
                "revenue_share": row["revenue_share"],
                **({"margin": round(row["margin"] or 0.0, 2)} if "margin" in row else {}),
            }
            for row in table.iter_rows(named=True)
        },
    }
