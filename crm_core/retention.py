"""Cohort retention and the QCi customer lifecycle: acquire, retain, grow, win back.

A customer is *acquired* on their first purchase day over the whole history
(return lines are not purchases), so a customer who bought before the chosen
period is never counted as new. Months since acquisition are calendar months
(a customer acquired on 31 January is in month 1 on 1 February). Cells that
cannot be observed yet (after the end of the data) are left out, never shown
as zero.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from crm_core.customers import customer_totals, data_as_of, is_purchase, summarize
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C, has_column
from crm_core.sums import exact_sum

UNKNOWN_CHANNEL = "Unknown"
QUARTER_DAYS = 91  # customer-age quarters for penetration (13 weeks)


@dataclass(frozen=True)
class LifecycleSettings:
    """What the user sets for the lifecycle view.

    Attributes
    ----------
    gap_days
        A customer who goes this long without buying has lapsed (churned);
        one who buys again after such a gap is *won back*.
    max_months
        Width of the cohort matrix (months since acquisition).
    min_quarter_customers
        Penetration quarters with fewer active customers are left out (noise).
    """

    gap_days: int = 180
    max_months: int = 24
    min_quarter_customers: int = 20


def _month_index(column: str | pl.Expr) -> pl.Expr:
    date = pl.col(column) if isinstance(column, str) else column
    return date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32) - 1


def acquired_customers(tx: pl.LazyFrame, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """The per-customer summary (as of ``end``) of customers first buying in ``[start, end]``.

    Adds ``cohort`` (first day of the acquisition month).
    """
    end = end or data_as_of(tx)
    acquired = summarize(tx, as_of=end).filter(pl.col("first_purchase_date").is_not_null())
    if start is not None:
        acquired = acquired.filter(pl.col("first_purchase_date") >= start)
    return acquired.with_columns(pl.col("first_purchase_date").dt.truncate("1mo").alias("cohort"))


def _monthly_activity(tx: pl.LazyFrame, acquired: pl.LazyFrame, end: dt.date) -> pl.LazyFrame:
    """Per customer and month since acquisition: bought (any purchase line) and net revenue."""
    return (
        tx.filter(pl.col(C.ORDER_DATE) <= end)
        .join(acquired.select(C.CUSTOMER_ID, "cohort", "first_purchase_date"), on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col(C.ORDER_DATE) >= pl.col("first_purchase_date"))
        .with_columns((_month_index(C.ORDER_DATE) - _month_index("cohort")).alias("months_since"))
    )


def cohort_retention(
    tx: pl.LazyFrame, start: dt.date | None = None, end: dt.date | None = None, max_months: int = 24,
    slices: int = 1,
) -> pl.DataFrame:
    """Acquisition month x months since first purchase.

    Returns
    -------
    pl.DataFrame
        cohort, months_since, cohort_size, customers (bought in that month),
        customer_retention (customers / cohort_size), revenue (net), and
        revenue_retention (revenue / the cohort's month-0 revenue). Only
        observable cells (up to the month of ``end``) are present.

    ``slices``: counted slice by slice of customers (see :func:`crm_core.customers.customer_totals`).
    """
    end = end or data_as_of(tx)

    def sizes_of(rows: pl.LazyFrame) -> pl.LazyFrame:
        return acquired_customers(rows, start, end).group_by("cohort").agg(pl.len().alias("cohort_size"))

    def activity_of(rows: pl.LazyFrame) -> pl.LazyFrame:
        return (
            _monthly_activity(rows, acquired_customers(rows, start, end), end)
            .group_by("cohort", "months_since")
            .agg(pl.col(C.CUSTOMER_ID).filter(is_purchase(rows)).n_unique().alias("customers"),
                 exact_sum(pl.col(C.AMOUNT)).alias("revenue"))
        )

    sizes = customer_totals(tx, sizes_of, ["cohort"], slices)
    activity = customer_totals(tx, activity_of, ["cohort", "months_since"], slices)
    last_month = _month_index(pl.lit(end))
    grid = (
        sizes.with_columns(pl.int_ranges(0, pl.min_horizontal(last_month - _month_index("cohort"), max_months) + 1)
                           .alias("months_since"))
        .explode("months_since")
        .with_columns(pl.col("months_since").cast(pl.Int32))
    )
    return (
        grid.join(activity, on=["cohort", "months_since"], how="left")
        .with_columns(pl.col("customers").fill_null(0), pl.col("revenue").fill_null(0.0))
        .with_columns(
            (pl.col("customers") / pl.col("cohort_size")).alias("customer_retention"),
            (pl.col("revenue") / pl.col("revenue").filter(pl.col("months_since") == 0).first().over("cohort"))
            .alias("revenue_retention"),
        )
        .sort("cohort", "months_since")
        .collect()
    )


def acquisition_groups(
    tx: pl.LazyFrame, customers: pl.LazyFrame | None = None, end: dt.date | None = None
) -> pl.DataFrame | None:
    """customer_id -> acquisition_channel: the customers side table's, else the first order's channel.

    Returns ``None`` when neither source exists.
    """
    end = end or data_as_of(tx)
    side = None
    if customers is not None and has_column(customers, "acquisition_channel"):
        side = customers.select(C.CUSTOMER_ID, pl.col("acquisition_channel").cast(pl.String))
    first = None
    if has_column(tx, C.CHANNEL):
        first = summarize(tx, as_of=end).select(C.CUSTOMER_ID, pl.col("first_channel"))
    if side is None and first is None:
        return None
    if side is None:
        return first.select(C.CUSTOMER_ID, pl.col("first_channel").fill_null(UNKNOWN_CHANNEL).alias("acquisition_channel")).collect()
    if first is None:
        return side.with_columns(pl.col("acquisition_channel").fill_null(UNKNOWN_CHANNEL)).collect()
    return (
        first.join(side, on=C.CUSTOMER_ID, how="left")
        .select(C.CUSTOMER_ID, pl.coalesce("acquisition_channel", "first_channel", pl.lit(UNKNOWN_CHANNEL)).alias("acquisition_channel"))
        .collect()
    )


def retention_curves(
    tx: pl.LazyFrame, groups: pl.DataFrame | None = None, start: dt.date | None = None,
    end: dt.date | None = None, max_months: int = 24, slices: int = 1,
) -> pl.DataFrame:
    """Share of customers buying in each month since acquisition, per group.

    Parameters
    ----------
    groups
        (customer_id, group column) e.g. from :func:`acquisition_groups`; when
        ``None`` customers are grouped by acquisition year.
    slices
        Counted slice by slice of customers (see :func:`crm_core.customers.customer_totals`).

    Returns
    -------
    pl.DataFrame
        group, months_since, customers_observed (customers whose month is
        already observable), active, retention.
    """
    end = end or data_as_of(tx)

    def members_of(rows: pl.LazyFrame) -> pl.LazyFrame:
        acquired = acquired_customers(rows, start, end)
        if groups is None:
            acquired = acquired.with_columns(pl.col("cohort").dt.year().cast(pl.String).alias("group"))
        else:
            column = next(c for c in groups.columns if c != C.CUSTOMER_ID)
            acquired = acquired.join(groups.lazy().select(C.CUSTOMER_ID, pl.col(column).alias("group")), on=C.CUSTOMER_ID, how="left") \
                .with_columns(pl.col("group").fill_null(UNKNOWN_CHANNEL))
        observable = (_month_index(pl.lit(end)) - _month_index("cohort")).alias("observable_months")
        return acquired.select(C.CUSTOMER_ID, "cohort", "group", "first_purchase_date", observable)

    def denominators_of(rows: pl.LazyFrame) -> pl.LazyFrame:
        return (
            members_of(rows).with_columns(pl.int_ranges(0, pl.min_horizontal("observable_months", max_months) + 1).alias("months_since"))
            .explode("months_since").with_columns(pl.col("months_since").cast(pl.Int32))
            .group_by("group", "months_since").agg(pl.len().alias("customers_observed"))
        )

    def active_of(rows: pl.LazyFrame) -> pl.LazyFrame:
        members = members_of(rows)
        return (
            _monthly_activity(rows, members, end)
            .filter(is_purchase(rows) & (pl.col("months_since") <= max_months))
            .join(members.select(C.CUSTOMER_ID, "group"), on=C.CUSTOMER_ID)
            .group_by("group", "months_since").agg(pl.col(C.CUSTOMER_ID).n_unique().alias("active"))
        )

    denominators = customer_totals(tx, denominators_of, ["group", "months_since"], slices)
    active = customer_totals(tx, active_of, ["group", "months_since"], slices)
    return (
        denominators.join(active, on=["group", "months_since"], how="left")
        .with_columns(pl.col("active").fill_null(0))
        .with_columns((pl.col("active") / pl.col("customers_observed")).alias("retention"))
        .sort("group", "months_since")
        .collect()
    )


# --------------------------------------------------------------------------- QCi lifecycle


@dataclass
class Lifecycle:
    """The four QCi stages for customers acquired in a period."""

    start: dt.date
    end: dt.date
    acquired: int
    acquisition: pl.DataFrame  # month, acquisition_channel, new_customers
    cac: pl.DataFrame | None  # acquisition_channel, new_customers, spend, cac (None without spend table)
    repeat_rate: float  # share of acquired customers who bought on a second day
    churn_rate: float  # of those acquired at least gap_days ago: no purchase in the last gap_days
    churn_base: int
    funnel: pl.DataFrame  # stage, customers, share_of_acquired
    penetration: pl.DataFrame  # quarter, customers, spend_per_customer, categories_per_customer (if any)
    won_back: int
    won_back_revenue: float
    gap_days: int
    notes: list[str] = field(default_factory=list)  # what is missing from the data


def lifecycle(
    tx: pl.LazyFrame, start: dt.date | None = None, end: dt.date | None = None,
    customers: pl.LazyFrame | None = None, marketing_spend: pl.LazyFrame | None = None,
    settings: LifecycleSettings = LifecycleSettings(),
) -> Lifecycle:
    """Acquisition, retention, penetration (cross-/up-sell) and win-back for ``[start, end]``."""
    end = end or data_as_of(tx)
    acquired = acquired_customers(tx, start, end).collect()
    start = start or (acquired["first_purchase_date"].min() if acquired.height else end)
    notes: list[str] = []
    groups = acquisition_groups(tx, customers, end)
    if groups is None:
        notes.append("No acquisition channel in the data (no customers table with acquisition_channel and no "
                     "channel column): new customers are shown in total only.")
        groups = acquired.select(C.CUSTOMER_ID, pl.lit("All").alias("acquisition_channel"))
    with_channel = acquired.join(groups, on=C.CUSTOMER_ID, how="left").with_columns(
        pl.col("acquisition_channel").fill_null(UNKNOWN_CHANNEL))
    acquisition = (
        with_channel.group_by(pl.col("cohort").alias("month"), "acquisition_channel")
        .agg(pl.len().alias("new_customers")).sort("month", "acquisition_channel")
    )
    cac = _cac(with_channel, marketing_spend, start, end)
    if cac is None:
        notes.append("No marketing spend table: acquisition cost per customer (CAC) cannot be computed.")

    gap = pl.duration(days=settings.gap_days)
    lapsed = pl.col("last_purchase_date") < pl.lit(end) - gap
    churn_base = acquired.filter(pl.col("first_purchase_date") <= pl.lit(end) - gap)
    repeated = pl.col("purchase_days") >= 2
    mean_repeat_spend = (pl.col("revenue") - pl.col("first_day_amount")) / (pl.col("purchase_days") - 1)
    has_categories = "categories" in acquired.columns
    grew = (pl.col("categories") >= 2) if has_categories else (mean_repeat_spend > pl.col("first_day_amount"))
    grew_label = "Grew: bought 2+ categories" if has_categories else "Grew: spent more per repeat purchase"
    if not has_categories:
        notes.append("No product category column: cross-sell (categories per customer) is not shown; growth is "
                     "measured by spend per purchase.")
    n = acquired.height
    stages = [
        ("Acquired", n),
        ("Retained: bought again", acquired.filter(repeated).height),
        (grew_label, acquired.filter(repeated & grew).height),
        (f"Bought in the last {settings.gap_days} days", acquired.filter(repeated & grew & ~lapsed).height),
    ]
    funnel = pl.DataFrame({"stage": [s for s, _ in stages], "customers": [c for _, c in stages]}).with_columns(
        (pl.col("customers") / max(n, 1)).alias("share_of_acquired"))
    won_back, won_back_revenue = _win_back(tx, start, end, settings.gap_days)
    return Lifecycle(
        start=start, end=end, acquired=n, acquisition=acquisition, cac=cac,
        repeat_rate=float(acquired.filter(repeated).height / n) if n else float("nan"),
        churn_rate=float(churn_base.filter(lapsed).height / churn_base.height) if churn_base.height else float("nan"),
        churn_base=churn_base.height, funnel=funnel,
        penetration=_penetration(tx, acquired, end, settings.min_quarter_customers), won_back=won_back, won_back_revenue=won_back_revenue,
        gap_days=settings.gap_days, notes=notes,
    )


def _cac(with_channel: pl.DataFrame, marketing_spend: pl.LazyFrame | None, start: dt.date, end: dt.date) -> pl.DataFrame | None:
    """Spend in the months of [start, end] per channel / new customers of that channel."""
    if marketing_spend is None:
        return None
    spend = (
        marketing_spend.filter((pl.col("month") >= pl.lit(start).dt.truncate("1mo")) & (pl.col("month") <= end))
        .group_by(pl.col("channel").alias("acquisition_channel")).agg(pl.col("spend").sum())
        .collect()
    )
    new = with_channel.group_by("acquisition_channel").agg(pl.len().alias("new_customers"))
    table = new.join(spend, on="acquisition_channel", how="full", coalesce=True).with_columns(
        pl.col("new_customers").fill_null(0), pl.col("spend").fill_null(0.0))
    total = pl.DataFrame({"acquisition_channel": ["All channels"], "new_customers": [table["new_customers"].sum()],
                          "spend": [float(table["spend"].sum())]}).cast(table.schema)
    return (
        pl.concat([table.sort("acquisition_channel"), total])
        .with_columns(pl.when(pl.col("new_customers") > 0).then(pl.col("spend") / pl.col("new_customers")).alias("cac"))
    )


def _penetration(tx: pl.LazyFrame, acquired: pl.DataFrame, end: dt.date, min_customers: int = 1) -> pl.DataFrame:
    """Per customer-age quarter (13 weeks): active customers, spend and categories per active customer.

    A quarter is used only for customers who have lived through all of it, so
    recent customers' partial quarters do not drag the averages down.
    """
    has_category = has_column(tx, C.CATEGORY)
    rows = (
        tx.filter(pl.col(C.ORDER_DATE) <= end)
        .join(acquired.lazy().select(C.CUSTOMER_ID, "first_purchase_date"), on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col(C.ORDER_DATE) >= pl.col("first_purchase_date"))
        .with_columns(((pl.col(C.ORDER_DATE) - pl.col("first_purchase_date")).dt.total_days() // QUARTER_DAYS).alias("quarter"),
                      ((pl.lit(end) - pl.col("first_purchase_date")).dt.total_days() // QUARTER_DAYS).alias("_lived"))
        .filter(pl.col("quarter") < pl.col("_lived"))
    )
    per_customer = [pl.col(C.AMOUNT).sum().alias("spend"), is_purchase(tx).any().alias("bought")]
    if has_category:
        per_customer.append(pl.col(C.CATEGORY).filter(is_purchase(tx)).drop_nulls().n_unique().alias("categories"))
    averages = [pl.len().alias("customers"), pl.col("spend").mean().alias("spend_per_customer")]
    if has_category:
        averages.append(pl.col("categories").mean().alias("categories_per_customer"))
    return (
        rows.group_by(C.CUSTOMER_ID, "quarter").agg(per_customer).filter(pl.col("bought"))
        .group_by("quarter").agg(averages)
        .filter(pl.col("customers") >= min_customers)
        .with_columns((pl.col("quarter") + 1).alias("quarter"))
        .sort("quarter").collect()
    )


def _win_back(tx: pl.LazyFrame, start: dt.date, end: dt.date, gap_days: int) -> tuple[int, float]:
    """Customers who bought again in [start, end] after a gap of more than ``gap_days``, and their revenue since."""
    days = (
        tx.filter(is_purchase(tx) & (pl.col(C.ORDER_DATE) <= end))
        .select(C.CUSTOMER_ID, C.ORDER_DATE).unique()
        .sort(C.CUSTOMER_ID, C.ORDER_DATE)
        .with_columns((pl.col(C.ORDER_DATE) - pl.col(C.ORDER_DATE).shift(1).over(C.CUSTOMER_ID)).dt.total_days().alias("gap"))
        .filter((pl.col("gap") > gap_days) & (pl.col(C.ORDER_DATE) >= start))
        .group_by(C.CUSTOMER_ID).agg(pl.col(C.ORDER_DATE).min().alias("came_back"))
    )
    revenue = (
        tx.filter(pl.col(C.ORDER_DATE) <= end).join(days, on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col(C.ORDER_DATE) >= pl.col("came_back"))
        .select(exact_sum(pl.col(C.AMOUNT))).collect().item()
    )
    count = days.select(pl.len()).collect().item()
    return int(count), float(revenue or 0.0)


# --------------------------------------------------------------------------- takeaways


def cohort_takeaway(cohorts: pl.DataFrame, month: int = 3, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: how many customers still buy a few months after joining."""
    cells = cohorts.filter(pl.col("months_since") == month)
    if cells.height == 0:
        cells, month = cohorts.filter(pl.col("months_since") == 1), 1
    if cells.height == 0:
        return "The data is too short to follow any cohort beyond its first month."
    share = float(cells["customers"].sum() / cells["cohort_size"].sum())
    best = cells.sort("customer_retention", descending=True).row(0, named=True)
    return (f"On average {style.share(share)} of new customers buy again in month {month} after joining; the best "
            f"cohort ({fmt.month(best['cohort'])}) kept {style.share(best['customer_retention'])}.")


def curves_takeaway(curves: pl.DataFrame, month: int = 3, *, style: NumberStyle = PLAIN) -> str:
    cells = curves.filter((pl.col("months_since") == month) & (pl.col("customers_observed") > 0))
    if cells.height < 1:
        return "Not enough history to compare groups yet."
    ordered = cells.sort("retention", descending=True)
    top, bottom = ordered.row(0, named=True), ordered.row(-1, named=True)
    if ordered.height == 1:
        return f"{style.share(top['retention'])} of customers buy in month {month} after joining."
    # "the 2025 cohort", "the Referral cohort": a bare year ("In month 3, 2025 keeps ...") read as a date
    return (f"In month {month} after joining, the {top['group']} cohort keeps the most customers buying "
            f"({style.share(top['retention'])}), the {bottom['group']} cohort the fewest ({style.share(bottom['retention'])}).")


def lifecycle_takeaway(cycle: Lifecycle, *, style: NumberStyle = PLAIN) -> str:
    """One sentence across the funnel."""
    if cycle.acquired == 0:
        return "No new customers in this period."
    funnel = cycle.funnel
    still = int(funnel["customers"][-1])
    return (f"Of {style.count(cycle.acquired)} customers acquired, {style.share(cycle.repeat_rate, 0)} bought again "
            f"and {style.count(still)} ({style.share(still / cycle.acquired, 0)}) grew and bought within the lapse gap "
            f"(observed, not the model's P(alive)); {style.count(cycle.won_back)} lapsed customers were won back.")


def penetration_takeaway(penetration: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    if penetration.height < 2:
        return "Customers have not been around long enough to see their spend grow."
    first, last = penetration.row(0, named=True), penetration.row(-1, named=True)
    change = last["spend_per_customer"] / first["spend_per_customer"] - 1 if first["spend_per_customer"] else float("nan")
    sentence = (f"Active customers spend {style.money(first['spend_per_customer'])} in their first quarter and "
                f"{style.money(last['spend_per_customer'])} in quarter {last['quarter']} ({style.change(change)})")
    if "categories_per_customer" in penetration.columns:
        sentence += (f"; they buy from {style.number(first['categories_per_customer'], 1)} then "
                     f"{style.number(last['categories_per_customer'], 1)} categories")
    return sentence + "."


def acquisition_takeaway(cycle: Lifecycle, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: where new customers come from and what they cost."""
    if cycle.acquired == 0:
        return "No new customers in this period."
    by_channel = cycle.acquisition.group_by("acquisition_channel").agg(pl.col("new_customers").sum()) \
        .sort("new_customers", "acquisition_channel", descending=[True, False])
    months = cycle.acquisition["month"].n_unique()
    sentence = (f"{style.count(cycle.acquired)} new customers joined, "
                f"{style.count(cycle.acquired / max(months, 1))} a month on average")
    if by_channel.height > 1:
        top = by_channel.row(0, named=True)
        sentence += f"; most came through {top['acquisition_channel']} ({style.share(top['new_customers'] / cycle.acquired, 0)})"
    if cycle.cac is not None:
        priced = cycle.cac.filter((pl.col("acquisition_channel") != "All channels") & pl.col("cac").is_not_null()
                                  & (pl.col("spend") > 0)).sort("cac")
        if priced.height > 1:
            cheap, dear = priced.row(0, named=True), priced.row(-1, named=True)
            sentence += (f"; the cheapest new customers come from {cheap['acquisition_channel']} ({style.money(cheap['cac'])} each), "
                         f"the dearest from {dear['acquisition_channel']} ({style.money(dear['cac'])})")
    return sentence + "."
