"""Reading the results: value tiers, P(alive) map, at-risk list and one-sentence takeaways."""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from crm_core.clv.pipeline import CLVResult
from crm_core.clv.purchase_model import PurchaseModel
from crm_core.clv.settings import AtRiskSettings, weeks_label
from crm_core.clv.validation import HoldoutValidation
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C


def probability_alive_matrix(model: PurchaseModel, customers: pl.DataFrame, max_frequency: int = 30) -> pl.DataFrame:
    """P(alive) on a grid of frequency x recency for the oldest customers' age T.

    Returns a long frame: frequency, recency (weeks since first purchase at the
    last purchase), T, p_alive. Impossible cells (no repeat purchase but
    recency > 0) are left out.
    """
    age = float(customers["T"].max())
    top = int(min(max_frequency, max(1, customers["frequency"].quantile(0.99) or 1)))
    weeks = np.arange(0, int(math.floor(age)) + 1, dtype=float)
    x, t_x = np.meshgrid(np.arange(top + 1, dtype=float), weeks, indexing="ij")
    x, t_x = x.ravel(), t_x.ravel()
    possible = (x > 0) | (t_x == 0)  # without repeat purchases recency is 0
    x, t_x = x[possible], t_x[possible]
    p = model.conditional_probability_alive(x, t_x, np.full_like(x, age))
    return pl.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": age, "p_alive": p})


def value_tiers(customers: pl.DataFrame, tiers: int = 10) -> pl.DataFrame:
    """CLV by value tier (tier 1 = the top 10 % by predicted CLV, labelled "0–10%").

    Returns tier, label, customers, clv_total, clv_share, clv_mean, p_alive_mean.
    """
    ranked = customers.filter(pl.col("clv").is_finite()).with_columns(
        (pl.col("clv").rank("ordinal", descending=True) - 1).alias("_rank")
    )
    n = max(ranked.height, 1)
    size = 100 // tiers
    return (
        ranked.with_columns((pl.col("_rank") * tiers // n + 1).alias("tier"))
        .group_by("tier")
        .agg(pl.len().alias("customers"), pl.col("clv").sum().alias("clv_total"),
             pl.col("clv").mean().alias("clv_mean"), pl.col("p_alive").mean().alias("p_alive_mean"))
        .sort("tier")
        .with_columns(
            (pl.col("clv_total") / pl.col("clv_total").sum()).alias("clv_share"),
            pl.format("{}–{}%", (pl.col("tier") - 1) * size, pl.col("tier") * size).alias("label"),
        )
        .select("tier", "label", "customers", "clv_total", "clv_share", "clv_mean", "p_alive_mean")
    )


def clv_by_group(customers: pl.DataFrame, groups: pl.DataFrame, group_column: str) -> pl.DataFrame:
    """CLV per group of a (customer_id, group) table: customers, total, share, mean, mean P(alive)."""
    return (
        customers.join(groups.select(C.CUSTOMER_ID, group_column), on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col("clv").is_finite())
        .group_by(group_column)
        .agg(pl.len().alias("customers"), pl.col("clv").sum().alias("clv_total"),
             pl.col("clv").mean().alias("clv_mean"), pl.col("p_alive").mean().alias("p_alive_mean"))
        .with_columns((pl.col("clv_total") / pl.col("clv_total").sum()).alias("clv_share"))
        .sort("clv_total", descending=True)
    )


def at_risk_customers(result: CLVResult, settings: AtRiskSettings = AtRiskSettings()) -> pl.DataFrame:
    """Valuable customers who are probably slipping away, most valuable first.

    High value = predicted CLV at or above the ``min_clv_quantile`` quantile;
    slipping = probability still active below ``max_p_alive``.
    """
    customers = result.customers.filter(pl.col("clv").is_finite())
    if customers.height == 0:
        return customers.select(C.CUSTOMER_ID)
    threshold = customers["clv"].quantile(settings.min_clv_quantile, interpolation="linear")
    return (
        customers.filter((pl.col("clv") >= threshold) & (pl.col("p_alive") < settings.max_p_alive))
        .sort("clv", descending=True)
        .select(
            C.CUSTOMER_ID,
            pl.col("clv").round(2).alias("predicted_clv"),
            pl.col("p_alive").round(3).alias("probability_active"),
            pl.col("value_low").round(2),
            pl.col("value_high").round(2),
            pl.col("expected_purchases").round(2),
            pl.col("purchases_low").cast(pl.Int64, strict=False),
            pl.col("purchases_high").cast(pl.Int64, strict=False),
            pl.col("frequency").alias("repeat_purchases"),
            "last_purchase_date",
            (pl.lit(result.calibration_end) - pl.col("last_purchase_date")).dt.total_days().alias("days_since_last_purchase"),
            "usual_gap_days",
            "overdue",
            "next_order_date",
            pl.col("revenue").round(2).alias("revenue_to_date"),
        )
    )


def fit_takeaway(result: CLVResult, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: what the average customer is expected to do and be worth."""
    c = result.customers
    active = float((c["p_alive"] >= 0.5).mean())
    sentence = (f"In the next {weeks_label(result.settings.horizon_weeks, style)} the average customer is expected to buy "
                f"{style.number(c['expected_purchases'].mean(), 2)} times")
    if c["clv"].is_finite().any():
        sentence += (f", worth {style.money(float(c['clv'].mean()))} each "
                     f"({style.money(float(c['clv'].sum()))} in total")
        low, high = result.value_interval().values()
        if low is not None and high is not None:
            sentence += (f", {style.share(result.settings.interval, 0)} range {style.money(low)} to "
                         f"{style.money(high)}")
        sentence += ")"
    return sentence + f"; {style.share(active, 0)} of customers are probably active (P(alive) ≥ 50%, {result.model.LABEL} model)."


def validation_takeaway(validation: HoldoutValidation, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: how close the model came in the holdout."""
    if not validation.total_actual:
        return "Nobody bought again in the holdout, so the forecast cannot be checked: pick a longer holdout."
    direction = "over" if validation.total_error_pct > 0 else "under"
    sentence = (f"Over the {style.number(validation.holdout_weeks)}-week holdout the model predicted "
                f"{style.count(validation.total_predicted)} repeat purchases against "
                f"{style.count(validation.total_actual)} actual ({style.number(abs(validation.total_error_pct), 1)}% "
                f"{direction}); per customer it is off by {style.number(validation.mae, 2)} purchases on average.")
    if validation.holdout_weeks < 50:
        sentence += (" The model has no seasons: a holdout shorter than a year can miss or over-weight a busy "
                     "season, so a large gap may be the calendar rather than the model.")
    return sentence


def concentration_takeaway(tiers: pl.DataFrame, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: how concentrated predicted value is."""
    if tiers.height == 0:
        return "No customer value could be predicted."
    top = float(tiers["clv_share"][0])
    return f"The top 10% of customers hold {style.share(top, 0)} of all predicted value."


def p_alive_takeaway(result: CLVResult, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: how many customers are probably gone."""
    c = result.customers
    gone = int((c["p_alive"] < 0.5).sum())
    return (f"{style.count(gone)} customers ({style.share(gone / max(c.height, 1), 0)}) are more likely gone than active: they have been "
            "silent for long compared with how often they used to buy (bottom-right of the map is safest, "
            "top-left the most at risk).")


def at_risk_takeaway(at_risk: pl.DataFrame, settings: AtRiskSettings = AtRiskSettings(), *,
                     style: NumberStyle = PLAIN) -> str:
    if at_risk.height == 0:
        return "No high-value customer looks at risk right now."
    return (f"{style.count(at_risk.height)} customers in the top {style.share(1 - settings.min_clv_quantile, 0)} by "
            f"predicted value have less than a {style.share(settings.max_p_alive, 0)} chance of still being active; "
            f"they spent {style.money(float(at_risk['revenue_to_date'].sum()))} so far and are worth a call.")


def interval_takeaway(result: CLVResult, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: the forecast total with its range."""
    iv = result.intervals
    if iv is None or not np.isfinite(iv.total):
        return "The forecast has no range: the purchase model did not give usable numbers."
    sentence = (f"Over the next {weeks_label(iv.horizon_weeks, style)} customers are expected to make "
                f"{style.count(iv.total)} repeat purchases, with {style.share(iv.level, 0)} confidence between "
                f"{style.count(iv.total_low)} and {style.count(iv.total_high)}")
    low, high = result.value_interval().values()
    if low is not None and high is not None:
        sentence += f", worth {style.money(low)} to {style.money(high)}"
    return sentence + ". The range counts both chance in who buys and the uncertainty of the fitted model."


def coverage_takeaway(validation: HoldoutValidation, *, style: NumberStyle = PLAIN) -> str:
    """One sentence: did the intervals hold the held-back purchases as often as they claim?"""
    level = validation.interval_level
    sentence = (f"Each customer's {style.share(level, 0)} range held their actual purchases in the held-back weeks "
                f"for {style.share(validation.coverage, 0)} of customers")
    if validation.frequent_customers:
        sentence += (f" and {style.share(validation.coverage_frequent, 0)} of the "
                     f"{style.count(validation.frequent_customers)} frequent "
                     "buyers (3+ repeat purchases)")
    gap = validation.coverage - level
    verdict = (" — about as often as promised, so the ranges can be trusted." if -0.05 <= gap <= 0.08 else
               " — more often than promised: whole purchase counts make the ranges a little generous." if gap > 0 else
               " — less often than promised: the ranges are too narrow for this data; treat them with care.")
    return sentence + verdict
