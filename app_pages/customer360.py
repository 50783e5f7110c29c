"""Customer 360: one customer's purchases, value, service history and next best action."""
from __future__ import annotations

import polars as pl
import streamlit as st

from crm_core.actions import explain_recommendation, value_measure
from crm_core.charts.interact import purchase_timeline_figure
from crm_core.customer360 import (
    SEARCH_LIMIT,
    action_details,
    customer_row,
    customer_view,
    forecast_range_text,
    interactions_summary,
    match_labels,
    order_lines,
    p_alive_text,
    search_customers,
    timeline_takeaway,
)
from crm_core import format as fmt
from ui.data import current_dataset, period_transactions, selected_period
from ui.interact import (
    current_actions,
    current_profile,
    current_search_index,
    value_settings,
)
from ui.settings import number_style
from ui.state import Keys
from ui.figures import figure
from ui.widgets import chart, count_column, explain, figure_card, format_figure, money_column, plain, table, takeaway

MIX_COLUMNS = {
    "category": "Category",
    "channel": "Channel",
    "revenue": money_column("Revenue", help="Net of returns."),
    "purchase_days": count_column("Purchase days"),
}

st.title("Customer 360")
explain(
    "Find one customer by **id, e-mail or name** (any part of it, upper or lower case) and see everything "
    "known about them in the period chosen in the sidebar: purchases, value, segment, support contacts, "
    "and the next action the playbook (Actions page) recommends."
)

dataset = current_dataset()
start, end = selected_period()
index = current_search_index()
query = st.text_input(
    "Search customers",
    key=Keys.C360_QUERY,
    type="search",
    live=True,
    placeholder="e.g. C000123, anna@, Smith",
    persist_state="session",
)
if not query or not query.strip():
    st.info(f"Type part of a customer id, e-mail or name to search {number_style().count(index.height)} customers.", icon=":material/search:")
    st.stop()

matches = search_customers(index, query)
if matches.height == 0:
    st.warning("No customer matches that text. Check the spelling, or search a shorter part of the id or e-mail.")
    st.stop()
if matches.height == SEARCH_LIMIT:
    st.caption(f"Showing the first {SEARCH_LIMIT} matches: type more to narrow the search.")

labels = match_labels(matches)
customer_id = st.selectbox(f"{matches.height} matching customers", list(labels), format_func=labels.get, key=Keys.C360_PICK)

actions = current_actions()
action_row = customer_row(actions, customer_id)
view = customer_view(customer_id, period_transactions(), action_row, dataset.customers, dataset.interactions, start, end)

st.subheader(plain(customer_id))
contact = {key: value for key, value in view.contact.items() if value is not None}
if contact:
    st.caption(plain(" · ".join(f"{key.replace('_', ' ')}: {value}" for key, value in contact.items())))
elif dataset.customers is None:
    st.caption("No customers file: add one on the Data page to see names and e-mail addresses.")

if not view.bought or action_row is None:
    st.warning(timeline_takeaway(view, style=number_style()))
else:
    facts = view.facts
    period = fmt.period(start, end)
    columns = st.columns(4)
    figure_card(columns[0], "customer.revenue", facts["revenue"], period)
    figure_card(columns[1], "customer.orders", facts["orders"], period)
    figure_card(columns[2], "customer.aov", facts.get("aov"), period)
    figure_card(columns[3], "customer.recency_days", facts["recency_days"], f"as of {fmt.date(end)}")
    columns = st.columns([3, 2, 2, 2])
    # Segment and tier names can be user text (renamed on their pages): figure_card shows them literally.
    figure_card(columns[0], "customer.segment", facts.get("segment"), f"as of {fmt.date(end)}")
    figure_card(columns[1], "customer.tier", facts.get("tier"), period)
    figure_card(columns[2], "customer.predicted_value", facts.get("clv"), f"the 52 weeks after {fmt.date(end)}")
    figure_card(columns[3], "customer.p_alive", facts.get("p_alive"), f"as of {fmt.date(end)}",
                shown=p_alive_text(facts, style=number_style()))
    st.caption(plain(forecast_range_text(facts, style=number_style())))
    profile = current_profile()
    for note in [*profile.missing.values(), *profile.warnings]:
        st.caption(plain(note))

    st.subheader("Recommended next action")
    with st.container(border=True):
        if facts.get("action"):
            st.markdown(f"**{plain(facts['objective'])}**: {plain(facts['action'])}")
            details = action_details(facts)
            if details:
                st.caption(plain(details))
        _, value_label = value_measure(actions)
        st.caption(plain(explain_recommendation(facts, value_label, value_settings(), style=number_style())))
    st.page_link("app_pages/actions.py", label="Edit the playbook", icon=":material/edit:")

    chart(figure(purchase_timeline_figure, view.timeline), key="c360_timeline")
    takeaway(timeline_takeaway(view, style=number_style()))

    mixes = (("Categories bought", view.categories, "category"), ("Sales channels used", view.channels, "channel"))
    for column, (title, mix, missing) in zip(st.columns(2), mixes):
        column.markdown(f"**{title}**")
        if mix is None:
            column.caption(f"The order file has no {missing} column: map one on the Data page to see this.")
        else:
            column.dataframe(mix, hide_index=True, width="stretch", column_config=MIX_COLUMNS)

st.subheader("Orders, lines and refunds")
lines = order_lines(period_transactions(), customer_id)
if lines.height == 0:
    st.caption("No order line in the selected period.")
else:
    refunds = lines.filter(pl.col("kind") != "Purchase")
    st.caption(f"{number_style().count(lines.height)} lines in the period, {number_style().count(refunds.height)} "
               "of them refunds or returns "
               f"({format_figure(-float(refunds['amount'].sum()), 'money')} refunded).")
    shown_lines = lines.with_columns(pl.col(pl.String).fill_null(""))  # an empty cell, not "None" (no discount code)
    table(shown_lines, column_config={
        "order_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"), "order_id": "Order",
        "product": "Product", "sku": "SKU", "category": "Category", "channel": "Channel",
        "quantity": st.column_config.NumberColumn("Quantity", format="%g"), "amount": money_column("Amount"),
        "discount_code": "Discount code", "kind": "Line"})

st.subheader("Support contacts")
service = interactions_summary(view)
if service is None:
    st.caption("No interactions file for this dataset: add one on the Data page to see contacts, satisfaction and cost.")
elif service["contacts"] == 0:
    st.caption("No support contact in the selected period.")
else:
    period = fmt.period(start, end)
    columns = st.columns(3)
    figure_card(columns[0], "customer.contacts", service["contacts"], period)
    figure_card(columns[1], "customer.csat_mean", service["csat_mean"], period)
    figure_card(columns[2], "customer.service_cost", service["cost"], period)
    table(
        view.interactions,
        column_config={
            "interaction_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
            "channel": "Channel",
            "reason": "Reason",
            "csat": st.column_config.NumberColumn("Satisfaction (1-5)", format="%.0f"),
            "cost": money_column("Cost"),
        },
    )
