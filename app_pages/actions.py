"""Actions: the editable playbook, a campaign what-if and safe target-list downloads."""
from __future__ import annotations

import streamlit as st

from crm_core.actions import (
    ANY_SEGMENT,
    VALUE_BANDS,
    CampaignAssumptions,
    campaign_what_if,
    playbook_coverage,
    target_file_name,
    target_groups,
    target_list,
    target_list_file,
    value_measure,
    what_if_takeaway,
)
from crm_core.charts.interact import what_if_figure
from crm_core.export import safe_csv_bytes, safe_xlsx_bytes
from ui.interact import DEFAULT_HIGH_VALUE_SHARE, current_actions, current_playbook, current_profile, logged_export
from ui.settings import display_currency, number_style
from ui.sections import lazy_expander
from ui.state import Keys
from ui.figures import figure
from ui.widgets import (
    chart,
    count_column,
    explain,
    figure_card,
    money_column,
    plain,
    selectable_customers,
    takeaway,
)

PREVIEW_ROWS = 1_000
DEFAULT_TARGETS = ("At Risk", "Can't Lose Them")

st.title("Actions")
explain(
    "Turn the analysis into work a team can do. **1.** The playbook says what to do with each RFM segment "
    "(and, where it matters, with its high-value customers). **2.** The what-if estimates whether a campaign "
    "to some segments pays back. **3.** The target list is the file to hand over, with each customer's "
    "recommended action."
)


def _reset_playbook() -> None:
    # Without an edited playbook and editor state, the editor restarts from the default.
    st.session_state.pop(Keys.PLAYBOOK, None)
    st.session_state.pop(Keys.PLAYBOOK_EDITOR, None)


# ----------------------------------------------------------------------------- 1. playbook
st.subheader("1. Playbook")
st.number_input(
    "High value = top % of customers",
    min_value=1,
    max_value=90,
    value=int(DEFAULT_HIGH_VALUE_SHARE * 100),
    step=1,
    key=Keys.HIGH_VALUE_SHARE,
    persist_state="session",
    help="Customers in this top share by predicted CLV (or by revenue when CLV is not available) are 'High value'.",
)
st.caption(
    "Edit any cell, add rows at the bottom, delete rows with the checkbox. Each customer gets the most specific "
    f"matching row: their segment and value band, else their segment with value 'Any', else '{ANY_SEGMENT}' "
    "with their value band, else 'Any segment' / 'Any'. Your edits apply to Customer 360 and to the target list."
)
if Keys.PLAYBOOK_EDITOR not in st.session_state:  # editor (re)starts from the last edited playbook
    st.session_state[Keys.PLAYBOOK_BASE] = current_playbook()
edited = st.data_editor(
    st.session_state[Keys.PLAYBOOK_BASE],
    key=Keys.PLAYBOOK_EDITOR,
    num_rows="dynamic",
    hide_index=True,
    width="stretch",
    column_config={
        "segment": st.column_config.TextColumn("Segment", required=True, help=f"An RFM segment name, or '{ANY_SEGMENT}'."),
        "value": st.column_config.SelectboxColumn("Value", options=list(VALUE_BANDS), required=True, default="Any"),
        "objective": st.column_config.TextColumn("Objective"),
        "action": st.column_config.TextColumn("Action", required=True),
        "channel": st.column_config.TextColumn("Channel"),
        "offer": st.column_config.TextColumn("Offer"),
    },
)
st.session_state[Keys.PLAYBOOK] = edited
st.button("Reset to the default playbook", on_click=_reset_playbook, icon=":material/restart_alt:")

actions = current_actions()
profile = current_profile()
for note in [*profile.missing.values(), *profile.warnings]:
    st.caption(plain(note))
with lazy_expander("How many customers each playbook row applies to", Keys.PLAYBOOK_COVERAGE) as opened:
    if opened:  # a table drawn once its panel opens
        st.dataframe(
            playbook_coverage(actions),
            hide_index=True,
            width="stretch",
            column_config={"rule": "Playbook row", "customers": count_column("Customers"),
                           "revenue": money_column("Revenue in the period")},
        )

# ----------------------------------------------------------------------------- 2. what-if
st.subheader("2. Campaign what-if")
by, options = target_groups(actions)
if by != "segment":
    st.caption("RFM segments are not available, so campaigns target value bands instead.")
targets = st.multiselect(
    "Target segments" if by == "segment" else "Target value bands",
    options,
    default=[name for name in DEFAULT_TARGETS if name in options] or options[:1],
    key=Keys.WHATIF_SEGMENTS,
    persist_state="session",
)
column_value, baseline_label = value_measure(actions)
left, middle, right = st.columns(3)
contact_cost = left.number_input(
    "Cost per contact", min_value=0.0, value=2.0, step=0.5, format="%.2f", key=Keys.WHATIF_COST,
    persist_state="session", help="Everything it costs to contact one customer: message, call time, offer handling.",
)
response_pct = middle.number_input(
    "Response rate (%)", min_value=0.0, max_value=100.0, value=5.0, step=0.5, format="%.1f",
    key=Keys.WHATIF_RESPONSE, persist_state="session", help="Share of contacted customers expected to respond.",
)
margin_pct = right.number_input(
    "Gross margin (%)", min_value=0.0, max_value=100.0, value=30.0, step=1.0, format="%.1f",
    key=Keys.WHATIF_MARGIN, persist_state="session", help="Share of the extra revenue that is profit.",
)
mode = st.radio(
    "How responders spend more",
    ["per_responder", "percent"],
    format_func={
        "per_responder": "A fixed extra amount per responder",
        "percent": f"A % more than their baseline ({baseline_label})",
    }.get,
    horizontal=True,
    key=Keys.WHATIF_MODE,
    persist_state="session",
)
if mode == "per_responder":
    uplift_amount = st.number_input(
        "Extra revenue per responder", min_value=0.0, value=50.0, step=5.0, format="%.2f",
        key=Keys.WHATIF_UPLIFT_AMOUNT, persist_state="session",
        help="How much more a responder spends than they would have without the campaign.",
    )
    uplift_pct = 0.0
else:
    uplift_pct = st.number_input(
        "Uplift on baseline revenue (%)", min_value=0.0, value=10.0, step=1.0, format="%.1f",
        key=Keys.WHATIF_UPLIFT_PERCENT, persist_state="session",
        help=f"Responders spend this much more than their {baseline_label}.",
    )
    uplift_amount = 0.0

assumptions = CampaignAssumptions(
    contact_cost=contact_cost,
    response_rate=response_pct / 100,
    uplift_mode=mode,
    uplift_per_responder=uplift_amount,
    uplift_percent=uplift_pct / 100,
    margin=margin_pct / 100,
)
chosen = target_list(actions, targets, by=by)
result = campaign_what_if(chosen, assumptions, column_value, baseline_label, style=number_style())
columns = st.columns(4)
figure_card(columns[0], "campaign.contacted", result.contacted)
figure_card(columns[1], "campaign.responders", result.responders)
figure_card(columns[2], "campaign.extra_revenue", result.incremental_revenue)
figure_card(columns[3], "campaign.extra_margin", result.incremental_margin)
columns = st.columns(4)
figure_card(columns[0], "campaign.cost", result.cost)
figure_card(columns[1], "campaign.net_profit", result.net_profit)
figure_card(columns[2], "campaign.roi", result.roi)
figure_card(columns[3], "campaign.break_even", result.break_even_response_rate)
st.markdown("**Assumptions**\n\n" + "\n".join(f"- {plain(line)}" for line in result.assumptions))
if result.contacted:
    chart(figure(what_if_figure, result), key="actions_what_if")
takeaway(what_if_takeaway(result, style=number_style()))

# ----------------------------------------------------------------------------- 3. target list
st.subheader("3. Target list")
if chosen.height == 0:
    st.info("Pick at least one segment with customers above to build a target list.")
    st.stop()
st.caption(
    f"{number_style().count(chosen.height)} customers, highest value first"
    + (f" (first {number_style().count(PREVIEW_ROWS)} shown; the files hold all)" if chosen.height > PREVIEW_ROWS else "")
    + ". The files have readable headers, money to the cent in the currency named in its header, the "
    "probability in percent and ISO dates; cells that a spreadsheet would run as a formula are prefixed with '. "
    "Select a row to open the customer in Customer 360."
)
selectable_customers(chosen.head(PREVIEW_ROWS), Keys.TARGETS_TABLE)
handed_over = target_list_file(chosen, display_currency())
left, right = st.columns(2)
left.download_button(
    "Download CSV",
    data=logged_export(lambda: safe_csv_bytes(handed_over), "csv", chosen.height),
    file_name=target_file_name(targets, "csv"),
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
    key=Keys.TARGETS_CSV,
)
right.download_button(
    "Download Excel",
    data=logged_export(lambda: safe_xlsx_bytes(handed_over, sheet_name="Target list"), "xlsx", chosen.height),
    file_name=target_file_name(targets, "xlsx"),
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    icon=":material/download:",
    on_click="ignore",
    key=Keys.TARGETS_XLSX,
)
