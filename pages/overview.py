"""Overview: headline KPIs of the period with deltas, and their trend."""
from __future__ import annotations

import streamlit as st

from crm_core.charts.overview import kpi_trend_figure
from crm_core.kpis import KPI_BY_KEY, KPIS, WINDOW_LABELS, comparison_window, default_window, format_delta, format_kpi, kpi_comparison, kpi_trend, previous_period, trend_takeaway
from ui.data import current_dataset, selected_period
from ui.state import Keys
from ui.widgets import chart, explain, takeaway

st.title("Overview")
explain(
    "How the business did in the period chosen in the sidebar. Each card compares the period "
    "with the period of equal length just before it."
)

dataset = current_dataset()
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
comparison = kpi_comparison(dataset.transactions, card_start, card_end)
prev_start, prev_end = previous_period(card_start, card_end)
st.caption(
    f"{card_start:%d %b %Y} – {card_end:%d %b %Y}, compared with {prev_start:%d %b %Y} – {prev_end:%d %b %Y}. "
    "Small bars in each card: the KPI per month of the sidebar period."
)

monthly = kpi_trend(dataset.transactions, start, end, "month")
columns = st.columns(4)
for index, row in enumerate(comparison.iter_rows(named=True)):
    with columns[index % 4]:
        st.metric(
            row["label"],
            format_kpi(row["value"], row["kind"]),
            delta=format_delta(row["delta"], row["delta_pct"], row["kind"]),
            help=KPI_BY_KEY[row["kpi"]].help,
            border=True,
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
trend = kpi_trend(dataset.transactions, start, end, grain)
chart(kpi_trend_figure(trend, kpi, grain), key="overview_trend")
takeaway(trend_takeaway(trend, kpi, grain))
