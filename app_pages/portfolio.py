"""Portfolio: which customers carry the business, which cost more than they bring."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from crm_core import portfolio as pf
from crm_core.charts.portfolio import (
    lorenz_figure,
    migration_figure,
    pareto_figure,
    pyramid_figure,
    significance_figure,
    tier_trend_figure,
)
from ui.data import current_dataset, customer_summary, period_transactions, selected_period
from ui.state import Keys
from ui.widgets import chart, count_column, customer_list, explain, group_table, money_column, plain, takeaway

SHOWN_ROWS = 1000
ONE_DAY = dt.timedelta(days=1)
DEFAULTS = pf.TierSettings()

st.title("Portfolio")
explain(
    "Which customers carry the business, which cost more than they bring, and how that changes. "
    "Customers are ranked by what they spent in the period chosen in the sidebar (net of returns) "
    "and grouped into value tiers, the *customer pyramid*."
)

dataset = current_dataset()
start, end = selected_period()
summary = customer_summary()
if summary.height == 0:
    st.info("No orders in the selected period. Widen the period in the sidebar.")
    st.stop()
margin_known = pf.has_margin(summary)


def tier_settings_form() -> pf.TierSettings:
    """Widgets for the tier rule; falls back to the defaults (with the reason) when invalid."""
    with st.expander("Tier settings: names and cut-offs", icon=":material/tune:"):
        left, right = st.columns(2)
        value = left.segmented_control(
            "Rank customers by", ["revenue", "margin"] if margin_known else ["revenue"],
            format_func=str.capitalize, default="revenue", required=True, key=Keys.PF_VALUE, bind="query-params",
            help="Margin = revenue minus cost; it needs a cost column in the data.")
        if not margin_known:
            left.caption("Margin is not available: the data has no cost column.")
        method = right.segmented_control(
            "Cut-offs by", ["rank", "amount"], format_func={"rank": "Share of customers", "amount": "Spend amount"}.get,
            default="rank", required=True, key=Keys.PF_METHOD, bind="query-params",
            help="Share of customers: the top 1% are Platinum, and so on. Spend amount: a customer who spent at "
                 "least the amount is in the tier.")
        suggested = pf.rank_cutoff_amounts(summary, pf.TierSettings(value=value))
        names, shares, amounts = [], [], []
        for index, default_name in enumerate(DEFAULTS.names):
            name_column, cut_column = st.columns(2)
            names.append(name_column.text_input(f"Tier {index + 1} name", default_name, max_chars=30,
                                                key=f"{Keys.PF_TIER_NAME}{index}"))
            if index == len(DEFAULTS.names) - 1:
                cut_column.caption("The last tier takes every other customer.")
            elif method == "rank":
                shares.append(cut_column.number_input(
                    "Share of customers (%)", 0.1, 99.0, DEFAULTS.shares[index] * 100, 0.5,
                    key=f"{Keys.PF_TIER_SHARE}{index}") / 100)
            else:
                amounts.append(cut_column.number_input(
                    f"Minimum {value}", value=float(suggested[index]), step=10.0, format="%.2f",
                    key=f"{Keys.PF_TIER_AMOUNT}{index}"))
    try:
        if method == "rank":
            return pf.TierSettings(names=tuple(names), value=value, shares=tuple(shares))
        return pf.TierSettings(names=tuple(names), method="amount", value=value, amounts=tuple(amounts))
    except ValueError as error:
        st.error(plain(f"{error} Showing the default tiers until this is fixed."))
        return pf.TierSettings(value=value)


settings = tier_settings_form()
st.caption(plain(settings.describe()))

# Concentration ------------------------------------------------------------------------------
st.subheader("How concentrated is revenue?")
figures = pf.concentration(summary)
cards = st.columns(3)
cards[0].metric("Top 20% of customers bring", pf.pct(figures.top20_share), border=True,
                help="Share of net revenue from the best ceil(20% × customers) customers.")
cards[1].metric("Share of customers bringing 80% of revenue", pf.pct(figures.customer_share_for_80), border=True,
                help="The fewest customers, best first, whose revenue adds up to 80% of the total.")
cards[2].metric("Gini coefficient", "n/a" if figures.gini is None else f"{figures.gini:.2f}", border=True,
                help="0 = every customer spends the same, 1 = one customer brings everything. "
                     "Customers with more returns than purchases count as 0.")
left, right = st.columns(2)
with left:
    chart(pareto_figure(pf.pareto_curve(summary), figures), key="pf_pareto")
    takeaway(pf.pareto_takeaway(figures))
with right:
    chart(lorenz_figure(pf.lorenz_curve(summary), figures), key="pf_lorenz")
    takeaway(pf.gini_takeaway(figures))

# Pyramid ------------------------------------------------------------------------------------
st.subheader("Customer pyramid")
tiered = pf.assign_tiers(summary, settings)
tiers = pf.tier_summary(tiered, settings)
chart(pyramid_figure(tiers), key="pf_pyramid")
takeaway(pf.pyramid_takeaway(tiers))
group_table(tiers, tier="Tier", value_min=money_column(f"Lowest {settings.value} of a customer"),
            value_max=money_column(f"Highest {settings.value} of a customer"))

# Tier trend ---------------------------------------------------------------------------------
st.subheader("Revenue by tier over time")
grain = st.segmented_control("Grain", list(pf.GRAINS), default="quarter", required=True,
                             key=Keys.PF_GRAIN, bind="query-params")
trend = pf.tier_trend(period_transactions(), tiered, settings, grain)
chart(tier_trend_figure(trend, grain), key="pf_trend")
takeaway(pf.trend_takeaway(trend, grain))
st.caption("Tiers as assigned over the whole period in the sidebar.")

# Migration ----------------------------------------------------------------------------------
st.subheader("Who moved between tiers")
default_earlier, default_later = pf.split_period(start, end)
if end > start:
    split = st.date_input("The later period starts on", value=default_later[0], min_value=start + ONE_DAY,
                          max_value=end, key=Keys.PF_SPLIT,
                          help="The sidebar period is cut in two at this date; tiers are assigned within each half.")
    split = min(max(split, start + ONE_DAY), end)
    earlier, later = (start, split - ONE_DAY), (split, end)
    flows = pf.tier_migration(period_transactions(), earlier, later, settings)
    st.caption(f"Earlier: {earlier[0]:%d %b %Y} – {earlier[1]:%d %b %Y}; later: {later[0]:%d %b %Y} – {later[1]:%d %b %Y}. "
               f"{pf.NEW} = bought only in the later period; {pf.LOST} = bought only in the earlier one.")
    chart(migration_figure(flows, settings.names), key="pf_sankey")
    takeaway(pf.migration_takeaway(flows))
    matrix_table = pf.migration_matrix(flows, settings)
    st.dataframe(matrix_table, hide_index=True, width="stretch", column_config={
        matrix_table.columns[0]: "Earlier tier ↓ · later tier →",
        **{name: count_column(name) for name in matrix_table.columns[1:]}})
else:
    st.info("The period is a single day: choose a longer period in the sidebar to compare two halves.")

# Significance matrix ------------------------------------------------------------------------
st.subheader("Strategic significance: value against cost to serve")
left, lines_column, middle, right = st.columns(4)
matrix_value = left.segmented_control(
    "Value", ["revenue", "margin"] if margin_known else ["revenue"], format_func=str.capitalize,
    default="revenue", required=True, key=Keys.PF_MATRIX_VALUE, bind="query-params")
lines = lines_column.segmented_control(
    "Quadrant lines at the", list(pf.SPLITS), format_func=pf.SPLITS.get, default="median", required=True,
    key=Keys.PF_LINES, bind="query-params",
    help="Medians split customers into equal halves; averages flag those above the typical spend or cost.")
cost_per_contact = middle.number_input(
    "Cost of a contact without a recorded cost", 0.0, value=pf.ServeCostSettings().cost_per_contact, step=1.0,
    key=Keys.PF_COST_CONTACT)
cost_per_return = right.number_input(
    "Handling cost of one returned line", 0.0, value=pf.ServeCostSettings().cost_per_return, step=1.0,
    key=Keys.PF_COST_RETURN)
customers, matrix = pf.portfolio_table(
    summary, settings, dataset.interactions, (start, end), pf.ServeCostSettings(cost_per_contact, cost_per_return),
    matrix_value, lines)
st.caption(matrix.basis.note)
points, sampling_note = pf.chart_sample(customers)
chart(significance_figure(points, matrix), key="pf_matrix")
quadrants = pf.quadrant_summary(matrix)
takeaway(pf.significance_takeaway(quadrants))
if sampling_note:
    st.caption(sampling_note)
st.caption(pf.lines_note(matrix, lines))
group_table(
    quadrants, quadrant="Quadrant",
    cost_to_serve_mean=money_column("Average cost to serve") if matrix.basis.kind == "cost"
    else st.column_config.NumberColumn("Average cost score (0-1)", format="%.2f"),
    cost_to_serve_total=money_column("Total cost to serve"))

# Drill-down ---------------------------------------------------------------------------------
st.subheader("Customers of a tier or quadrant")
left, right = st.columns([1, 2])
drill_by = left.segmented_control("List by", ["tier", "quadrant"], format_func=str.capitalize, default="tier",
                                  required=True, key=Keys.PF_DRILL_BY, bind="query-params")
labels = list(settings.names) if drill_by == "tier" else list(pf.QUADRANT_ORDER)
if st.session_state.get(Keys.PF_DRILL) not in labels:
    st.session_state.pop(Keys.PF_DRILL, None)
pick = right.selectbox("Show", labels, key=Keys.PF_DRILL)
customer_list(pf.customers_in(customers, drill_by, pick), pick, "portfolio", Keys.PF_DOWNLOAD, SHOWN_ROWS)
