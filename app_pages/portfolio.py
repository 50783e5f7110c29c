"""Portfolio: which customers carry the business, which cost more than they bring."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import streamlit as st

from crm_core import format as fmt
from crm_core import portfolio as pf
from crm_core.charts.portfolio import (
    lorenz_figure,
    migration_figure,
    pareto_figure,
    pyramid_figure,
    significance_figure,
    tier_trend_figure,
)
from crm_core.settings import CostToServe, Tiers
from ui import portfolio as pf_cache
from ui.data import customer_summary, dataset_key, selected_period
from ui.sections import KEEP, lazy_expander, lazy_tabs
from ui.settings import current_settings, number_style, update_settings
from ui.state import Keys
from ui.figures import figure
from ui.widgets import (
    chart,
    count_column,
    currency_suffix,
    customer_list,
    explain,
    figure_card,
    group_table,
    money_column,
    plain,
    takeaway,
)

SHOWN_ROWS = 1000
ONE_DAY = dt.timedelta(days=1)

st.title("Portfolio")
explain(
    "Which customers carry the business, which cost more than they bring, and how that changes. "
    "Customers are ranked by what they spent in the period chosen in the sidebar (net of returns) "
    "and grouped into value tiers, the *customer pyramid*. Each tab opens on a click: how concentrated revenue "
    "is, how tiers change over time, and what each customer costs to serve, with the customer lists."
)

start, end = selected_period()
key = dataset_key()  # the results below are cached by it, the period and the settings (ui.portfolio)
summary = customer_summary()
if summary.height == 0:
    st.info("No orders in the selected period. Widen the period in the sidebar.")
    st.stop()
margin_known = pf.has_margin(summary)


def _tier_widgets_from_settings(tiers: Tiers, suggested: tuple[float, ...]) -> None:
    """Fill the tier widgets from the view's tiers when they are not on screen yet (first visit, after navigation)."""
    defaults = {Keys.PF_VALUE: tiers.by, Keys.PF_METHOD: "amount" if tiers.amounts is not None else "rank"}
    for index, name in enumerate(tiers.names):
        defaults[f"{Keys.PF_TIER_NAME}{index}"] = name
        if index < len(tiers.names) - 1:
            defaults[f"{Keys.PF_TIER_SHARE}{index}"] = round(tiers.shares[index] * 100, 4)
            amounts = tiers.amounts or suggested
            defaults[f"{Keys.PF_TIER_AMOUNT}{index}"] = float(amounts[index]) if index < len(amounts) else 0.0
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def tier_settings_form() -> pf.TierSettings:
    """Widgets for the tier rule, kept in the view's settings (URL, saved views, report, slides).

    The widgets are drawn only while their panel is open (nine of them slowed every visit); closed, the view's
    tiers apply. An invalid edit keeps the last valid tiers (with the reason).
    """
    with lazy_expander("Tier settings: names and cut-offs", Keys.PF_TIER_PANEL, icon=":material/tune:") as opened:
        if opened:
            _tier_widgets()
    return current_settings().tier_settings()


def _tier_widgets() -> None:
    """The tier rule's widgets, filled from the view's tiers; a valid edit updates the view's settings."""
    view_tiers = current_settings().tiers
    count = len(view_tiers.names)
    suggested = pf.rank_cutoff_amounts(summary, replace(current_settings(), tiers=replace(view_tiers, amounts=None,
                                                                                          by="revenue")).tier_settings())
    _tier_widgets_from_settings(view_tiers, suggested)
    left, right = st.columns(2)
    value = left.segmented_control(
        "Rank customers by", ["revenue", "margin"] if margin_known else ["revenue"],
        format_func=str.capitalize, required=True, key=Keys.PF_VALUE,
        help="Margin = revenue minus cost; it needs a cost column in the data.")
    if not margin_known:
        left.caption("Margin is not available: the data has no cost column.")
    method = right.segmented_control(
        "Cut-offs by", ["rank", "amount"], format_func={"rank": "Share of customers", "amount": "Spend amount"}.get,
        required=True, key=Keys.PF_METHOD,
        help="Share of customers: the top 1% are Platinum, and so on. Spend amount: a customer who spent at "
             "least the amount is in the tier.")
    names, shares, amounts = [], [], []
    for index in range(count):
        name_column, cut_column = st.columns(2)
        names.append(name_column.text_input(f"Tier {index + 1} name", max_chars=30,
                                            key=f"{Keys.PF_TIER_NAME}{index}"))
        if index == count - 1:
            cut_column.caption("The last tier takes every other customer.")
        elif method == "rank":
            shares.append(cut_column.number_input(
                "Share of customers (%)", 0.1, 99.0, step=0.5, key=f"{Keys.PF_TIER_SHARE}{index}") / 100)
        else:
            amounts.append(cut_column.number_input(
                f"Minimum {value}", step=10.0, format="%.2f", key=f"{Keys.PF_TIER_AMOUNT}{index}"))
    st.caption("Your tiers are kept in the link, in saved views, in the report and in meeting mode.")
    try:  # the portfolio module's checks word the problem for a manager
        if method == "rank":
            rule = pf.TierSettings(names=tuple(names), value=value or "revenue", shares=tuple(shares))
            edited = Tiers(names=rule.names, shares=(*rule.shares, round(1 - sum(rule.shares), 12)), by=rule.value)
        else:
            rule = pf.TierSettings(names=tuple(names), method="amount", value=value or "revenue", amounts=tuple(amounts))
            edited = Tiers(names=rule.names, shares=view_tiers.shares, amounts=rule.amounts, by=rule.value)
        update_settings(tiers=edited)
    except ValueError as error:
        st.error(plain(f"{error} Showing the last valid tiers until this is fixed."))


def concentration_tab() -> None:
    """How concentrated revenue is (Pareto, Lorenz, Gini) and the customer pyramid."""
    st.subheader("How concentrated is revenue?")
    st.caption("How much of the revenue comes from the best customers: a business that depends on a few customers "
               "is exposed when one of them leaves.")
    figures, pareto, lorenz = pf_cache.concentration(key, start, end)  # cached for every session
    cards = st.columns(3)
    period_text = fmt.period(start, end)
    figure_card(cards[0], "top20_revenue_share", figures.top20_share, period_text)
    figure_card(cards[1], "customer_share_for_80pct_revenue", figures.customer_share_for_80, period_text)
    figure_card(cards[2], "gini", figures.gini, period_text)
    left, right = st.columns(2)
    with left:
        chart(figure(pareto_figure, pareto, figures, style=number_style()), key="pf_pareto")
        takeaway(pf.pareto_takeaway(figures, style=number_style()))
    with right:
        chart(figure(lorenz_figure, lorenz, figures, style=number_style()), key="pf_lorenz")
        takeaway(pf.gini_takeaway(figures, style=number_style()))

    st.subheader("Customer pyramid")
    _, tiers = pf_cache.tiers(key, start, end, settings)
    chart(figure(pyramid_figure, tiers, style=number_style()), key="pf_pyramid")
    takeaway(pf.pyramid_takeaway(tiers, style=number_style()))
    # Each tier's range of customer values, in short headers ("Lowest revenue of a customer" ran the table past
    # its width at 1366 px, the last column cut).
    value = settings.value.capitalize()
    group_table(tiers, tier="Tier", value_min=money_column(f"{value} from", help=f"The lowest {settings.value} of a customer in the tier."),
                value_max=money_column(f"{value} up to", help=f"The highest {settings.value} of a customer in the tier."))


def change_tab() -> None:
    """Revenue by tier over time, and who moved between tiers."""
    st.subheader("Revenue by tier over time")
    st.caption("Whether the top tiers carry a growing or shrinking part of the revenue, and which customers moved "
               "up, down, in or out between the two halves of the period.")
    grain = st.segmented_control("Grain", list(pf.GRAINS), default="quarter", required=True,
                                 key=Keys.PF_GRAIN, bind="query-params")
    trend = pf_cache.tier_trend(key, start, end, settings, grain)
    chart(figure(tier_trend_figure, trend, grain), key="pf_trend", money_axis="y")
    takeaway(pf.trend_takeaway(trend, grain, start, end, style=number_style()))  # complete months / quarters / years only
    st.caption("Tiers as assigned over the whole period in the sidebar.")

    st.subheader("Who moved between tiers")
    default_earlier, default_later = pf.split_period(start, end)
    if end <= start:
        st.info("The period is a single day: choose a longer period in the sidebar to compare two halves.")
        return
    split = st.date_input("The later period starts on", value=default_later[0], min_value=start + ONE_DAY,
                          max_value=end, key=Keys.PF_SPLIT, persist_state=KEEP,
                          help="The sidebar period is cut in two at this date; tiers are assigned within each half.")
    split = min(max(split, start + ONE_DAY), end)
    earlier, later = (start, split - ONE_DAY), (split, end)
    flows = pf_cache.tier_migration(key, start, end, earlier, later, settings)
    st.caption(f"Earlier: {fmt.date(earlier[0])} – {fmt.date(earlier[1])}; later: {fmt.date(later[0])} – {fmt.date(later[1])}. "
               f"{pf.NEW} = bought only in the later period; {pf.LOST} = bought only in the earlier one.")
    chart(figure(migration_figure, flows, settings.names), key="pf_sankey")
    takeaway(pf.migration_takeaway(flows, style=number_style()))
    matrix_table = pf.migration_matrix(flows, settings)
    st.dataframe(matrix_table, hide_index=True, width="stretch", column_config={
        matrix_table.columns[0]: "Earlier tier ↓ · later tier →",
        **{name: count_column(name) for name in matrix_table.columns[1:]}})


def significance_tab() -> None:
    """Value against cost to serve (the strategic significance matrix), and the customers of a tier or quadrant."""
    st.subheader("Strategic significance: value against cost to serve")
    st.caption("Each customer's value against what it costs to serve them (contacts, returns), cut into four "
               "quadrants: keep the valuable and cheap, fix the valuable and costly, grow or let go of the rest.")
    left, lines_column, middle, right = st.columns(4)
    matrix_value = left.segmented_control(
        "Value", ["revenue", "margin"] if margin_known else ["revenue"], format_func=str.capitalize,
        default="revenue", required=True, key=Keys.PF_MATRIX_VALUE, bind="query-params")
    lines = lines_column.segmented_control(
        "Quadrant lines at the", list(pf.SPLITS), format_func=pf.SPLITS.get, default="median", required=True,
        key=Keys.PF_LINES, bind="query-params",
        help="Medians split customers into equal halves; averages flag those above the typical spend or cost.")
    serve = current_settings().cost_to_serve
    st.session_state.setdefault(Keys.PF_COST_CONTACT, serve.per_contact)
    st.session_state.setdefault(Keys.PF_COST_RETURN, serve.per_return)
    cost_per_contact = middle.number_input(
        f"Cost of a contact without a recorded cost{currency_suffix()}", 0.0, step=1.0, key=Keys.PF_COST_CONTACT)
    cost_per_return = right.number_input(
        f"Handling cost of one returned line{currency_suffix()}", 0.0, step=1.0, key=Keys.PF_COST_RETURN)
    update_settings(cost_to_serve=CostToServe(per_contact=cost_per_contact, per_return=cost_per_return))
    customers, matrix = pf_cache.significance(key, start, end, settings, current_settings().serve_cost_settings(),
                                              matrix_value, lines)
    st.caption(matrix.basis.describe(number_style()))
    points, sampling_note = pf.chart_sample(customers, style=number_style())
    chart(figure(significance_figure, points, matrix, style=number_style()), key="pf_matrix", money_axis="y")
    quadrants = pf.quadrant_summary(matrix)
    takeaway(pf.significance_takeaway(quadrants, style=number_style()))
    if sampling_note:
        st.caption(sampling_note)
    st.caption(pf.lines_note(matrix, lines, style=number_style()))
    group_table(
        quadrants, quadrant="Quadrant",
        cost_to_serve_mean=money_column("Average cost to serve") if matrix.basis.kind == "cost"
        else st.column_config.NumberColumn("Average cost score (0-1)", format="%.2f"),
        cost_to_serve_total=money_column("Total cost to serve"))

    st.subheader("Customers of a tier or quadrant")
    left, right = st.columns([1, 2])
    drill_by = left.segmented_control("List by", ["tier", "quadrant"], format_func=str.capitalize, default="tier",
                                      required=True, key=Keys.PF_DRILL_BY, bind="query-params")
    labels = list(settings.names) if drill_by == "tier" else list(pf.QUADRANT_ORDER)
    if st.session_state.get(Keys.PF_DRILL) not in labels:
        st.session_state.pop(Keys.PF_DRILL, None)
    pick = right.selectbox("Show", labels, key=Keys.PF_DRILL, persist_state=KEEP)
    customer_list(pf.customers_in(customers, drill_by, pick), pick, "portfolio", Keys.PF_DOWNLOAD, SHOWN_ROWS)


settings = tier_settings_form()
st.caption(plain(settings.describe(number_style())))
# Only the open tab runs and is drawn (ui.sections): a visit draws three charts, not six.
lazy_tabs(Keys.PF_TAB, {
    "Concentration & pyramid": concentration_tab,
    "Change over time": change_tab,
    "Cost to serve & customer lists": significance_tab,
})
