"""Figures of the Lifetime value & retention page (time unit: weeks).

Group, channel and stage names are user text: they pass through
:func:`~crm_core.charts.text.safe_label` so Plotly never reads them as markup.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import plotly.graph_objects as go
import polars as pl

from crm_core.charts.text import safe_label, safe_labels
from crm_core import format as fmt
from crm_core.format import PLAIN, NumberStyle
from crm_core.charts.theme import NEUTRAL, PALETTE, SEQUENTIAL, count_axis, largest, money_axis, styled

ACTUAL, MODEL = PALETTE[0], PALETTE[1]


def holdout_by_frequency_figure(by_frequency: pl.DataFrame) -> go.Figure:
    """Mean holdout repeat purchases per customer, actual vs. model, by calibration frequency."""
    x = safe_labels(by_frequency["frequency_group"])
    fig = go.Figure([
        go.Bar(x=x, y=by_frequency["actual"].to_list(), name="Actual", marker_color=ACTUAL,
               customdata=by_frequency["customers"].to_list(),
               hovertemplate="%{x} repeat purchases before the split<br>Actual: %{y:.2f} per customer"
                             "<br>%{customdata:,} customers<extra></extra>"),
        go.Bar(x=x, y=by_frequency["predicted"].to_list(), name="Model", marker_color=MODEL,
               hovertemplate="%{x} repeat purchases before the split<br>Model: %{y:.2f} per customer<extra></extra>"),
    ])
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="Repeat purchases before the split", type="category")
    fig.update_yaxes(title_text="Purchases per customer after the split", rangemode="tozero")
    return styled(fig, "Holdout purchases: actual vs. model")


#: Short enough for a half-width chart at 1366 px ("Repeat purchases week by week: actual vs. model" lost its last word).
TRACKING_TITLE = "Cumulative purchases: actual vs. model"


def cumulative_tracking_figure(weekly: pl.DataFrame, calibration_end: dt.date) -> go.Figure:
    """Cumulative repeat purchases per week, actual vs. model, with the split marked."""
    x = weekly["week_end"].to_list()
    fig = go.Figure([
        go.Scatter(x=x, y=weekly["actual"].to_list(), name="Actual", mode="lines", line=dict(color=ACTUAL, width=3),
                   hovertemplate="Week ending %{x|%d %b %Y}<br>Actual: %{y:,.0f}<extra></extra>"),
        go.Scatter(x=x, y=weekly["predicted"].to_list(), name="Model", mode="lines",
                   line=dict(color=MODEL, width=3, dash="dash"),
                   hovertemplate="Week ending %{x|%d %b %Y}<br>Model: %{y:,.0f}<extra></extra>"),
    ])
    fig.add_vline(x=dt.datetime.combine(calibration_end, dt.time()).timestamp() * 1000, line_dash="dot", line_color=NEUTRAL,
                  annotation_text="split", annotation_position="top left")
    count_axis(fig, "y", largest([*weekly["actual"], *weekly["predicted"]]), title_text="Cumulative repeat purchases")
    fig.update_xaxes(title_text="Week")
    return styled(fig, TRACKING_TITLE)


def forecast_fan_figure(fan: pl.DataFrame, calibration_end: dt.date, level: float,
                        style: NumberStyle = PLAIN) -> go.Figure:
    """Cumulative forecast of repeat purchases after ``calibration_end`` with its prediction interval.

    ``fan`` has week_end, expected, low, high (cumulative totals over all customers).
    """
    x = fan["week_end"].to_list()
    band = f"{style.share(level, 0)} range"
    fig = go.Figure([
        go.Scatter(x=x, y=fan["high"].to_list(), mode="lines", line=dict(width=0, color=MODEL), showlegend=False,
                   hovertemplate="%{x|%d %b %Y}<br>High: %{y:,.0f}<extra></extra>"),
        go.Scatter(x=x, y=fan["low"].to_list(), mode="lines", line=dict(width=0, color=MODEL), fill="tonexty",
                   fillcolor="rgba(120, 120, 200, 0.25)", name=band,
                   hovertemplate="%{x|%d %b %Y}<br>Low: %{y:,.0f}<extra></extra>"),
        go.Scatter(x=x, y=fan["expected"].to_list(), mode="lines+markers", line=dict(color=MODEL, width=3),
                   name="Expected", hovertemplate="%{x|%d %b %Y}<br>Expected: %{y:,.0f}<extra></extra>"),
    ])
    count_axis(fig, "y", largest(fan["high"]), title_text=f"Repeat purchases after {fmt.date(calibration_end)}")
    fig.update_xaxes(title_text="Date")
    return styled(fig, "Forecast of repeat purchases, with its range")


def gap_histogram_figure(gaps: pl.DataFrame, style: NumberStyle = PLAIN) -> go.Figure:
    """Days between a customer's consecutive purchase days (the longest 1 % folded into the last bar)."""
    days = gaps["gap_days"].cast(pl.Float64).to_numpy()
    cap = float(np.quantile(days, 0.99)) if len(days) else 0.0
    fig = go.Figure(go.Histogram(x=np.minimum(days, cap) if cap > 0 else days, nbinsx=40, marker_color=PALETTE[0],
                                 hovertemplate="%{x} days<br>%{y:,} repeat orders<extra></extra>"))
    if len(days):
        median = float(np.median(days))
        fig.add_vline(x=median, line_dash="dot", line_color=NEUTRAL, annotation_text=f"half within {style.number(median)} days",
                      annotation_position="top right")
    fig.update_xaxes(title_text="Days since the same customer's previous purchase day")
    count_axis(fig, "y", len(days), title_text="Repeat orders")  # no bar is taller than all the gaps
    return styled(fig, "How long customers wait between orders")


def _bins(values: np.ndarray, most: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Bin starts, bin width and counts of ``values`` as Plotly's own histogram bins them (``nbinsx=most``).

    Its automatic bins: a width of 2, 5 or 10 times a power of ten, at least the span over ``most``; the first
    bin starts a width before the first round value at or above the smallest value, shifted by half a width when
    the values sit on bin edges (whole numbers: by half a unit); a bin holds its start, not its end.
    """
    if values.size == 0:
        return np.zeros(0), 1.0, np.zeros(0, dtype=np.int64)
    low, high = float(values.min()), float(values.max())
    if high == low:
        width = 1.0 if low == 0 else 10 ** np.floor(np.log10(abs(low)))
    else:
        rough = (high - low) / most
        power = 10 ** np.floor(np.log10(rough))
        width = float(power * next(step for step in (2, 5, 10) if rough / power <= step))
    first = np.ceil(low / width - 1e-9) * width - width

    def near_edge(value: np.ndarray | float) -> np.ndarray:
        return np.mod(1 + (np.asarray(value) - first) * 100 / width, 100) < 2

    whole = bool(np.all(np.mod(values, 1) == 0))
    if whole:
        if width < 1:
            first = low - 0.5 * width
        else:
            first -= 0.5
            first = first + width if first + width < low else first
    elif np.count_nonzero(near_edge(values + width / 2)) < values.size * 0.1 and (
            np.count_nonzero(near_edge(values)) > values.size * 0.3 or near_edge(low) or near_edge(high)):
        first += width / 2 if first + width / 2 < low else -width / 2
    bins = int((high - first) // width) + 1
    index = np.minimum(((values - first) // width).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    return first + width * np.arange(bins), width, counts


def clv_distribution_figure(customers: pl.DataFrame, horizon: str) -> go.Figure:
    """Histogram of predicted CLV (the top 1 % folded into the last bar so the shape stays readable).

    ``horizon`` is a short label such as "12 months". The bins are counted here, as Plotly's own histogram
    (at most 40 bins) draws them: the browser gets the bars, not every customer's value to bin itself.
    """
    clv = customers["clv"].drop_nans().drop_nulls()
    cap = float(clv.quantile(0.99) or 0.0) if clv.len() else 0.0
    values = np.minimum(clv.to_numpy(), cap) if cap > 0 else clv.to_numpy()
    starts, width, counts = _bins(values, 40)
    fig = go.Figure(go.Bar(x=(starts + width / 2).tolist(), y=counts.tolist(), width=width, marker_color=PALETTE[0],
                           customdata=np.column_stack([starts, starts + width]).tolist(),
                           hovertemplate="CLV %{customdata[0]:,.2f}–%{customdata[1]:,.2f}<br>%{y:,} customers"
                                         "<extra></extra>"))
    fig.update_layout(bargap=0)
    folded = "<br>(the top 1 % of customers in the last bar)" if cap > 0 and bool((clv > cap).any()) else ""
    money_axis(fig, "x", title_text=f"Predicted CLV, next {safe_label(horizon)}{folded}")
    count_axis(fig, "y", int(counts.max()) if counts.size else 0, title_text="Customers")
    return styled(fig, "How predicted customer value is spread")


def clv_by_group_figure(groups: pl.DataFrame, label_column: str, title: str, x_title: str | None = None) -> go.Figure:
    """Share of total predicted CLV per group (bars), mean CLV in the hover."""
    fig = go.Figure(go.Bar(
        x=safe_labels(groups[label_column]), y=groups["clv_share"].to_list(), marker_color=PALETTE[2],
        customdata=np.column_stack([groups["customers"].to_numpy(), groups["clv_mean"].to_numpy()]),
        hovertemplate="%{x}<br>%{y:.1%} of predicted value<br>%{customdata[0]:,} customers"
                      "<br>mean CLV %{customdata[1]:,.2f}<extra></extra>"))
    fig.update_yaxes(title_text="Share of predicted value", tickformat=".0%", rangemode="tozero")
    # Half-width charts: more than six labels ("10–20%", segment names) collide unless tilted.
    fig.update_xaxes(title_text=safe_label(x_title) if x_title else None, type="category", automargin=True,
                     tickangle=-35 if groups.height > 6 else 0)
    return styled(fig, title)


def p_alive_heatmap_figure(matrix: pl.DataFrame, style: NumberStyle = PLAIN) -> go.Figure:
    """P(alive) by frequency (rows) and recency (columns) for the oldest customers' age."""
    wide = matrix.pivot(on="recency", index="frequency", values="p_alive", sort_columns=False).sort("frequency")
    recency = [float(c) for c in wide.columns[1:]]
    age = float(matrix["T"][0])
    fig = go.Figure(go.Heatmap(
        z=wide.drop("frequency").to_numpy(), x=recency, y=wide["frequency"].to_list(), zmin=0, zmax=1,
        colorscale=SEQUENTIAL, colorbar=dict(title="P(active)", tickformat=".0%"),
        hovertemplate="%{y} repeat purchases, last one in week %{x:.0f}<br>P(still active): %{z:.0%}<extra></extra>"))
    fig.update_xaxes(title_text=f"Week of the last purchase (weeks since the first; customer is {style.number(age)} weeks old)")
    count_axis(fig, "y", largest(wide["frequency"]), title_text="Repeat purchases", rangemode="normal")
    return styled(fig, "Probability a customer is still active", height=460)


def cohort_heatmap_figure(cohorts: pl.DataFrame, metric: str = "customer_retention",
                          style: NumberStyle = PLAIN) -> go.Figure:
    """Acquisition month x months since first purchase; blank cells are not observable yet."""
    # Row labels carry the cohort size: "Jan 2024 (312)", so a bright cell of a tiny cohort reads as such.
    label = pl.format("{} ({})", pl.col("cohort").dt.strftime("%b %Y"), pl.col("cohort_size").cast(pl.String)) \
        if "cohort_size" in cohorts.columns else pl.col("cohort").dt.strftime("%b %Y")
    wide = (cohorts.select(label.alias("cohort_label"), "cohort", "months_since", metric)
            .pivot(on="months_since", index=["cohort", "cohort_label"], values=metric).sort("cohort"))
    z = wide.drop("cohort", "cohort_label").to_numpy().astype(float)
    text = [["" if not np.isfinite(value) else style.share(value, 0) for value in row] for row in z]
    what = "customers buying" if metric == "customer_retention" else "revenue vs. month 0"
    # Month 0 is 100 % by definition: scale colours on the later months so their pattern shows.
    later = z[:, 1:] if z.shape[1] > 1 else z
    top = float(np.nanmax(later)) if np.isfinite(later).any() else 1.0
    fig = go.Figure(go.Heatmap(
        z=z, x=[int(c) for c in wide.columns[2:]], y=wide["cohort_label"].to_list(),
        colorscale=SEQUENTIAL, zmin=0, zmax=max(top, 1e-9), text=text, texttemplate="%{text}",
        textfont=dict(size=10), colorbar=dict(title="", tickformat=".0%"),
        hovertemplate="Joined %{y}, month %{x}<br>" + what + ": %{z:.1%}<extra></extra>"))
    fig.update_yaxes(title_text="Month of first purchase (customers)", autorange="reversed", type="category")
    fig.update_xaxes(title_text="Months since first purchase", dtick=1)
    title = "Cohort retention: share of customers buying" if metric == "customer_retention" else "Cohort revenue retained"
    return styled(fig, title, height=max(360, 26 * wide.height + 140))


def retention_curves_figure(curves: pl.DataFrame, group_label: str) -> go.Figure:
    """One line per group: share of its customers buying in each month since acquisition (month 0 left out)."""
    fig = go.Figure()
    shown = curves.filter(pl.col("months_since") > 0)
    for i, (group,) in enumerate(shown.select("group").unique(maintain_order=True).iter_rows()):
        part = shown.filter(pl.col("group") == group)
        fig.add_trace(go.Scatter(
            x=part["months_since"].to_list(), y=part["retention"].to_list(), name=safe_label(group), mode="lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)], width=3), customdata=part["customers_observed"].to_list(),
            hovertemplate="%{fullData.name}<br>Month %{x}: %{y:.1%} buying<br>%{customdata:,} customers observed<extra></extra>"))
    fig.update_yaxes(title_text="Customers buying", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title_text="Months since first purchase", dtick=1)
    return styled(fig, f"Retention by {group_label}")


def lifecycle_funnel_figure(funnel: pl.DataFrame) -> go.Figure:
    """Acquired -> retained -> grew -> still active."""
    fig = go.Figure(go.Funnel(
        y=safe_labels(funnel["stage"]), x=funnel["customers"].to_list(),
        texttemplate="%{value:,}<br>%{percentInitial:.0%}",  # "5,000", as every count of the app (not "5000")
        marker=dict(color=[PALETTE[i % len(PALETTE)] for i in range(funnel.height)]),
        hovertemplate="%{y}<br>%{x:,} customers (%{percentInitial:.0%} of acquired)<extra></extra>"))
    return styled(fig, "Customer lifecycle (QCi): acquire, retain, grow, keep", height=380)


def acquisition_figure(acquisition: pl.DataFrame) -> go.Figure:
    """New customers per month, stacked by acquisition channel."""
    fig = go.Figure()
    channels = acquisition.select("acquisition_channel").unique(maintain_order=True)["acquisition_channel"].to_list()
    for i, channel in enumerate(channels):
        part = acquisition.filter(pl.col("acquisition_channel") == channel)
        fig.add_trace(go.Bar(x=part["month"].to_list(), y=part["new_customers"].to_list(), name=safe_label(channel),
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate="%{fullData.name}<br>%{x|%b %Y}: %{y:,} new customers<extra></extra>"))
    fig.update_layout(barmode="stack", showlegend=len(channels) > 1,
                      legend=dict(orientation="v", yanchor="top", y=1.0, x=1.02, xanchor="left"))
    per_month = acquisition.group_by("month").agg(pl.col("new_customers").sum())["new_customers"]
    count_axis(fig, "y", largest(per_month), title_text="New customers")  # the bars are stacked
    fig.update_xaxes(title_text=None)
    return styled(fig, "Acquisition: new customers per month")


def category_step(most: float | None) -> float:
    """A round tick step for categories per customer (0.5, 1, 2...): Plotly's own steps on this right-hand axis
    read 0.0, 0.5, 0.9, 1.4, 1.8 (steps of 0.45 rounded to one decimal)."""
    top = max(float(most or 0.0), 0.1) * 1.1
    power = 10.0 ** math.floor(math.log10(top / 6))
    return next(power * factor for factor in (1, 2, 5, 10) if top / (power * factor) <= 6)


def penetration_figure(penetration: pl.DataFrame) -> go.Figure:
    """Spend (and categories) per active customer by customer-age quarter."""
    quarters = [f"Q{q}" for q in penetration["quarter"].to_list()]
    fig = go.Figure(go.Bar(x=quarters, y=penetration["spend_per_customer"].to_list(), name="Spend per active customer",
                           marker_color=PALETTE[0], customdata=penetration["customers"].to_list(),
                           hovertemplate="%{x} of the relationship<br>Spend: %{y:,.2f}<br>%{customdata:,} active customers<extra></extra>"))
    if "categories_per_customer" in penetration.columns:
        fig.add_trace(go.Scatter(x=quarters, y=penetration["categories_per_customer"].to_list(), yaxis="y2",
                                 name="Categories per active customer", mode="lines+markers",
                                 line=dict(color=PALETTE[1], width=3),
                                 hovertemplate="%{x}<br>Categories: %{y:.2f}<extra></extra>"))
        fig.update_layout(yaxis2=dict(title=dict(text="Categories"), overlaying="y", side="right", rangemode="tozero",
                                      showgrid=False, tickformat=".1f", tick0=0,
                                      dtick=category_step(largest(penetration["categories_per_customer"]))))
    fig.update_xaxes(title_text="Quarter of the relationship (13 weeks each)", type="category")
    money_axis(fig, "y", title_text="Spend per active customer", rangemode="tozero")
    return styled(fig, "Penetration: do customers grow? (up-sell and cross-sell)")
