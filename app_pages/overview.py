"""Overview: headline KPIs of the period with deltas, and their trend."""
from __future__ import annotations

import streamlit as st

from crm_core.charts.overview import kpi_trend_figure
from crm_core import format as fmt
from crm_core.kpis import (
    KPI_BY_KEY,
    KPIS,
    WINDOW_LABELS,
    comparison_window,
    default_window,
    format_delta,
    trend_takeaway,
)
from crm_core.metrics import metric
from crm_core.settings import COMPARISON_LABELS, comparison_period
from ui import overview as shared
from ui.data import dataset_key, selected_period
from ui.background import progress_note, ready
from ui.overview import overview_clv, overview_clv_job
from ui.settings import current_settings, number_style
from ui.state import Keys
from ui.figures import figure
from ui.widgets import chart, explain, figure_card, money_column, takeaway, with_currency

st.title("Overview")
settings = current_settings()
style = number_style()
explain(
    "How the business did in the period chosen in the sidebar. Each card compares it with "
    f"the {COMPARISON_LABELS[settings.comparison].lower()} (sidebar: *Compare with*)."
)

key = dataset_key()
start, end = selected_period()
window = st.segmented_control(
    "Cards show",
    list(WINDOW_LABELS),
    format_func=WINDOW_LABELS.get,
    default=default_window(start, end),
    required=True,
    key=Keys.WINDOW,
    bind="query-params",
    help="Which part of the sidebar period the cards summarise; each is compared with the equally long period before it.",
)
card_start, card_end = comparison_window(start, end, window)
comparison = shared.comparison(key, start, end, card_start, card_end, settings.comparison)  # once for every session
prev_start, prev_end = comparison_period(card_start, card_end, settings.comparison)
st.caption(
    f"{fmt.date(card_start)} – {fmt.date(card_end)}, compared with {fmt.date(prev_start)} – {fmt.date(prev_end)}. "
    "Small bars in each card: the KPI per month of the sidebar period."
)

monthly = shared.trend(key, start, end, "month")
columns = st.columns(4)
for index, row in enumerate(comparison.iter_rows(named=True)):
    with columns[index % 4]:
        figure_card(
            st, row["kpi"], row["value"],
            f"{fmt.period(card_start, card_end)}, compared with {fmt.period(prev_start, prev_end)}",
            delta=format_delta(row["delta"], row["delta_pct"], row["kind"], style=style),
            chart_data=monthly[row["kpi"]].fill_null(0).to_list(),
            chart_type="bar" if row["kind"] in ("money", "count") else "line",
        )
if comparison["previous"].null_count() == comparison.height:
    st.caption("No orders in the previous period, so there is nothing to compare with yet.")

st.subheader("Trend")
left, right = st.columns([1, 2])
with left:
    grain = st.segmented_control(
        "Grain", ["day", "week", "month"], default="month", required=True, key=Keys.GRAIN, bind="query-params"
    )
with right:
    kpi = st.selectbox(
        "KPI",
        [kpi.key for kpi in KPIS],
        format_func=lambda key: KPI_BY_KEY[key].label,
        key=Keys.KPI,
        bind="query-params",
    )
trend = monthly if grain == "month" else shared.trend(key, start, end, grain)  # the cards' bars are the monthly trend
chart(figure(kpi_trend_figure, trend, kpi, grain), key="overview_trend", money_axis="y" if KPI_BY_KEY[kpi].kind == "money" else None)
takeaway(trend_takeaway(trend, kpi, grain, start, end, style=style))  # complete weeks / months only

st.subheader("Relationship health")
card_period = fmt.period(card_start, card_end)
st.caption(
    f"{card_period}. Retention: customers who bought in the previous period and bought again in this one. "
    "CAC: marketing spend per new customer."
)
fit_job = overview_clv_job()  # runs in the background: the cards do not wait for it
predicted = overview_clv() if ready(fit_job) else None
snapshot = shared.snapshot(key, start, end, card_start, card_end, predicted, style)
cards = st.columns(4)
figure_card(cards[0], "retention_rate", snapshot.retention_rate, card_period)
figure_card(cards[1], "churn_rate", snapshot.churn_rate, card_period)
figure_card(cards[2], "cac", snapshot.cac, card_period)
figure_card(cards[3], "csat_mean", snapshot.csat_mean, card_period,
            note="" if snapshot.csat_mean is not None else "Needs the interactions table (Data page).")
# The Portfolio page shows the same figure over the whole sidebar period: the label names this card's window,
# on a half-width card of its own (beside four others its label was cut at 1366 px, and so was "Retention rate").
concentration, _ = st.columns(2)
figure_card(concentration, "top20_revenue_share", snapshot.top20_share, card_period,
            label=f"{metric('top20_revenue_share').label}, {WINDOW_LABELS[window].lower()}")
takeaway(snapshot.retention_takeaway)
if snapshot.csat_takeaway:
    takeaway(snapshot.csat_takeaway)
if snapshot.clv_cac is None:
    st.info("Add a customers table (with acquisition channel) and a marketing-spend table on the Data page to see CAC and CLV:CAC per channel.")
else:
    ratio = metric("clv_cac")
    columns = {
        "channel": "Channel",
        "spend": money_column("Spend"),
        "new_customers": "New customers",
        "cac": money_column("CAC"),
    }
    if not fit_job.done():
        st.markdown("**CAC per acquisition channel**")
        progress_note("Fitting the lifetime-value forecast for CLV:CAC… The table updates by itself.", fit_job)
        shown = snapshot.clv_cac.select(list(columns))
    elif predicted is None:  # revenue to date is not a lifetime value: no ratio, no rule of thumb
        st.markdown("**CAC per acquisition channel**")
        st.caption("CLV:CAC needs the lifetime-value forecast, which is not reliable for this period "
                   "(see Lifetime value): revenue to date is not compared with the rule of thumb.")
        shown = snapshot.clv_cac.select(list(columns))
    else:
        st.markdown(f"**{ratio.label} per acquisition channel**")
        st.caption(ratio.help(months=str(settings.horizon_months)).replace("Period: the analysed period", f"Period: {card_period}")
                   + " Above 3 is the usual rule of thumb for healthy acquisition.")
        months = settings.horizon_months
        columns |= {"clv_mean": money_column(f"Mean predicted value, next {months} months"),
                    "clv_cac": st.column_config.NumberColumn("CLV:CAC", format="%.1f")}
        shown = snapshot.clv_cac
    st.dataframe(shown, hide_index=True, column_config=with_currency(columns))
if snapshot.csat_mean is None:
    st.caption("No support interactions in this dataset: CSAT needs an interactions table (Data page).")
