"""Overview: headline KPIs of the period with deltas, and their trend."""
from __future__ import annotations

import streamlit as st

from crm_core.charts.overview import kpi_trend_figure
from crm_core.kpis import KPI_BY_KEY, KPIS, WINDOW_LABELS, comparison_window, default_window, format_delta, relationship_snapshot, format_kpi, kpi_comparison, kpi_trend, previous_period, trend_takeaway
from ui.data import current_dataset, selected_period
from ui.overview import overview_clv
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

st.subheader("Relationship health")
st.caption(
    "Retention: customers who bought in the previous period and bought again in this one. "
    "CAC: marketing spend per new customer. CLV:CAC above 3 is the usual rule of thumb for healthy acquisition."
)
snapshot = relationship_snapshot(dataset, card_start, card_end, clv=overview_clv())
cards = st.columns(5)
cards[0].metric("Retention rate", format_kpi(snapshot.retention_rate, "share"), border=True)
cards[1].metric("Churn rate", format_kpi(snapshot.churn_rate, "share"), border=True)
cards[2].metric("Top 20% revenue share", format_kpi(snapshot.top20_share, "share"), border=True,
                help="Share of revenue from the best-spending fifth of customers.")
cards[3].metric("CAC", format_kpi(snapshot.cac, "money"), border=True,
                help="Marketing spend / new customers (needs the marketing-spend and customers tables).")
cards[4].metric("CSAT", "–" if snapshot.csat_mean is None else f"{snapshot.csat_mean:.2f} / 5", border=True,
                help="Mean satisfaction score of support contacts (needs the interactions table).")
takeaway(snapshot.retention_takeaway)
if snapshot.csat_takeaway:
    takeaway(snapshot.csat_takeaway)
if snapshot.clv_cac is None:
    st.info("Add a customers table (with acquisition channel) and a marketing-spend table on the Data page to see CAC and CLV:CAC per channel.")
else:
    st.markdown(f"**CLV:CAC per acquisition channel** (CLV = {snapshot.clv_basis})")
    st.dataframe(
        snapshot.clv_cac,
        hide_index=True,
        column_config={
            "channel": "Channel",
            "spend": st.column_config.NumberColumn("Spend", format="%,.0f"),
            "new_customers": "New customers",
            "cac": st.column_config.NumberColumn("CAC", format="%,.2f"),
            "clv_mean": st.column_config.NumberColumn("Mean CLV", format="%,.2f"),
            "clv_cac": st.column_config.NumberColumn("CLV:CAC", format="%.1f"),
        },
    )
if snapshot.csat_mean is None:
    st.caption("No support interactions in this dataset: CSAT needs an interactions table (Data page).")
