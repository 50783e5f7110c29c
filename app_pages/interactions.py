"""Interactions: satisfaction, complaints and cost-to-serve by customer group."""
from __future__ import annotations

import streamlit as st

from crm_core.charts.interact import (
    complaints_figure,
    contacts_distribution_figure,
    cost_to_serve_figure,
    csat_figure,
    satisfaction_trend_figure,
)
from crm_core.interactions import (
    GROUP_NOUNS,
    InteractionSettings,
    complaints_takeaway,
    contacts_distribution,
    cost_takeaway,
    csat_by,
    csat_takeaway,
    distribution_takeaway,
    expected_columns,
    group_choices,
    group_service,
    headline,
    satisfaction_trend,
    trend_takeaway,
)
from crm_core import format as fmt
from ui.data import current_dataset, selected_period
from ui.interact import current_actions, current_contacts, current_profile
from ui.settings import number_style
from ui.state import Keys
from ui.figures import figure
from ui.memo import shared
from ui.sections import lazy_tabs
from ui.widgets import (
    chart,
    count_column,
    explain,
    figure_card,
    group_table,
    money_column,
    plain,
    share_column,
    takeaway,
)

st.title("Interactions")
explain(
    "How satisfied customers are with your service, who complains most and what serving them costs "
    "compared with the revenue they bring, in the period chosen in the sidebar. **Satisfaction (CSAT)** is the "
    "1-5 rating a customer gave a contact. A **complaint** is a contact whose reason mentions a complaint or "
    f"that was rated {InteractionSettings().complaint_csat_max:.0f} or less out of 5. Each tab opens on a click."
)

dataset = current_dataset()
contacts = current_contacts()
if contacts is None:
    st.info(
        "This dataset has no support interactions. Add an **interactions** file (CSV or Excel, one row per "
        "contact) on the Data page, as a side table of this dataset. It needs these columns:",
        icon=":material/upload_file:",
    )
    st.dataframe(expected_columns(), hide_index=True, width="stretch")
    st.page_link("app_pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
    st.stop()
if contacts.height == 0:
    st.warning("No support contact falls in the selected period: widen the period in the sidebar.")
    st.stop()

actions = current_actions()
figures = shared(headline, contacts)
columns = st.columns(4)
start, end = selected_period()
period = fmt.period(start, end)
figure_card(columns[0], "contacts", figures["contacts"], period)
figure_card(columns[1], "csat_mean", figures["csat_mean"], period)
figure_card(columns[2], "complaint_share", figures["complaint_share"], period)
figure_card(columns[3], "service_cost", figures["cost"], period)

choices = group_choices(actions)
group = st.segmented_control(
    "Compare customer groups by",
    list(choices),
    format_func=choices.get,
    default=next(iter(choices)),
    required=True,
    key=Keys.INTERACT_GROUP,
    persist_state="session",
)
label = GROUP_NOUNS[group]
for note in current_profile().missing.values():
    st.caption(plain(note))


def satisfaction_tab() -> None:
    """CSAT by the chosen group and by contact channel, and month by month."""
    st.subheader("Satisfaction")
    left, right = st.columns(2)
    with left:
        by_group = shared(csat_by, contacts, group)
        chart(figure(csat_figure, by_group, group, label, style=number_style()), key="interact_csat_group")
        takeaway(csat_takeaway(by_group, group, label, style=number_style()))
    with right:
        by_channel = shared(csat_by, contacts, "channel")
        chart(figure(csat_figure, by_channel, "channel", "contact channel", style=number_style()),
              key="interact_csat_channel")
        takeaway(csat_takeaway(by_channel, "channel", "contact channel", style=number_style()))

    st.subheader("Satisfaction over time")
    trend = shared(satisfaction_trend, contacts)
    chart(figure(satisfaction_trend_figure, trend), key="interact_trend")
    takeaway(trend_takeaway(trend, style=number_style()))


def service_tab() -> None:
    """Who complains most, contacts per customer and cost-to-serve against value, with the table."""
    service = shared(group_service, contacts, actions, group)
    st.subheader("Who complains most")
    chart(figure(complaints_figure, service, group, label), key="interact_complaints")
    takeaway(complaints_takeaway(service, label, style=number_style()))

    st.subheader("Contacts and cost-to-serve")
    left, right = st.columns([2, 3])  # the bubble chart needs room for its legend
    with left:
        distribution = shared(contacts_distribution, contacts, actions)
        chart(figure(contacts_distribution_figure, distribution), key="interact_distribution")
        takeaway(distribution_takeaway(distribution, style=number_style()))
    with right:
        chart(figure(cost_to_serve_figure, service, group, label), key="interact_cost")
        takeaway(cost_takeaway(service, label, style=number_style()))

    with st.expander(f"Service figures by {label}"):
        group_table(
            service,
            **{group: label[:1].upper() + label[1:]},
            contacts=count_column("Contacts"),
            complaints=count_column("Complaints"),
            cost=money_column("Cost to serve"),
            csat_mean=st.column_config.NumberColumn("Mean satisfaction (1-5)", format="%.2f"),
            contacts_per_customer=st.column_config.NumberColumn("Contacts per customer", format="%.2f"),
            complaints_per_100=st.column_config.NumberColumn("Complaints per 100 customers", format="%.1f"),
            cost_per_customer=money_column("Cost per customer"),
            revenue_per_customer=money_column("Revenue per customer"),
            cost_share=share_column("Cost / revenue"),
        )
        st.caption("Contacts of customers who did not buy in the period are in the satisfaction charts only.")


# Only the open tab runs and is drawn (ui.sections): a visit draws three charts, not six.
lazy_tabs(Keys.INTERACT_TAB, {
    "Satisfaction": satisfaction_tab,
    "Complaints and cost-to-serve": service_tab,
})
