"""Segments: RFM segments, behavioural clusters, and what each group buys and where."""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core import clusters as cl
from crm_core import format as fmt
from crm_core import needs, rfm
from crm_core.charts import segments as charts
from crm_core.customers import summarize
from crm_core.schema import C
from crm_core.settings import Rfm
from ui.background import progress_note, ready
from ui.data import (
    customer_summary,
    dataset_key,
    period_transactions,
    selected_period,
)
from ui import segments as seg_cache
from ui.segments import cached_describe, default_behaviour, fit_job
from ui.settings import current_settings, number_style, update_settings
from ui.state import Keys
from ui.figures import figure
from ui.widgets import (
    chart,
    count_column,
    customer_list,
    explain,
    figure_card,
    group_table,
    money_column,
    plain,
    share_column,
    table,
    takeaway,
)

SHOWN_ROWS = 1000
ONE_DAY = dt.timedelta(days=1)


def orders_text(median: float | None) -> str:
    """A median number of orders: "3" or "3.5", never "3.00"."""
    style = number_style()
    return style.count(median) if median is None or float(median).is_integer() else style.number(median, 1)


st.title("Segments")
explain(
    "Group customers by what they do, so each group can get its own treatment. **RFM segments** sort customers "
    "by how recently they bought (R), how often (F) and how much they spent (M), and give each group a name "
    "such as *Champions* or *At Risk*. **Behavioural clusters** let the data find its own groups. "
    "**Needs & channels** shows what each group buys and through which channels. "
    "Everything uses the orders in the period chosen in the sidebar."
)

start, end = selected_period()
tx = period_transactions()
period_summary = customer_summary()
if period_summary.height == 0:
    st.info("No orders in the selected period. Widen the period in the sidebar.")
    st.stop()


# Settings -----------------------------------------------------------------------------------
def rfm_settings_form(start: dt.date, end: dt.date) -> tuple[dt.date, int, str, str]:
    """Reference date, and the view's score levels, ties and axis (kept in the settings: URL, views, report)."""
    view = current_settings().rfm
    st.session_state.setdefault(Keys.SEG_BINS, view.bins)
    st.session_state.setdefault(Keys.SEG_TIES, view.ties)
    st.session_state.setdefault(Keys.SEG_AXIS, view.segment_on)
    with st.expander("RFM settings: reference date, score levels, ties", icon=":material/tune:"):
        first, second = st.columns(2)
        chosen = first.date_input(
            "Reference date (as of)", value=None, key=Keys.SEG_AS_OF, format="YYYY-MM-DD",
            help=f"Recency is counted back from this date. Empty = the last order date in the period ({end:%d %b %Y}).")
        bins = second.segmented_control(
            "Score levels", [5, 4, 3], required=True, key=Keys.SEG_BINS,
            format_func=lambda n: {5: "5 (quintiles)", 4: "4 (quartiles)", 3: "3 (terciles)"}[n],
            help="Each of R, F and M is scored from 1 to this number; the highest is best.")
        ties = first.segmented_control(
            "Customers with equal values", ["shared", "ordinal"], required=True, key=Keys.SEG_TIES,
            format_func={"shared": "Share a score", "ordinal": "Split by customer id"}.get,
            help="Share a score: two customers with the same number of orders always get the same F score, "
                 "even if that leaves some scores unused. Split: every score gets the same number of customers, "
                 "ties broken by customer id.")
        axis = second.segmented_control(
            "Segment rules read", ["F", "FM"], required=True, key=Keys.SEG_AXIS,
            format_func={"F": "Orders (F)", "FM": "Orders and spend (mean of F and M)"}.get,
            help="With 'orders and spend', a big spender with few orders counts as frequent.")
    as_of = chosen or end
    if as_of < start:
        st.warning(f"The reference date is before the period starts; using {start:%d %b %Y} instead.")
        as_of = start
    return as_of, bins, ties, axis




# RFM ----------------------------------------------------------------------------------------
def rules_editor(bins: int, axis: str) -> tuple[rfm.SegmentRule, ...]:
    """The editable rule table; returns the rules in force (the view's, kept in its settings)."""
    view = current_settings().rfm
    own = view.rules if view.rules is not None and view.bins == bins else None
    applied = rfm.DEFAULT_RULES[bins] if own is None else tuple(rfm.SegmentRule(*rule) for rule in own)
    version = st.session_state.get(Keys.SEG_RULES_VERSION, 0)
    f_label = "F" if axis == "F" else "FM"
    with st.expander("Segment rules (editable)", icon=":material/rule:"):
        st.caption(
            f"Rules are checked from top to bottom; a customer gets the first segment whose R and {f_label} ranges "
            "contain their scores. The last rule catches everyone left. Add, remove or rename rows, then apply.")
        score = {"min_value": 1, "max_value": bins, "step": 1, "required": True}
        with st.form("seg_rules_form", border=False):
            edited = st.data_editor(
                rfm.rules_frame(applied), key=f"{Keys.SEG_RULES_EDITOR}{bins}_{version}", num_rows="dynamic",
                hide_index=True, width="stretch",
                column_config={
                    "segment": st.column_config.TextColumn("Segment", required=True, max_chars=40),
                    "r_min": st.column_config.NumberColumn("R from", **score),
                    "r_max": st.column_config.NumberColumn("R to", **score),
                    "f_min": st.column_config.NumberColumn(f"{f_label} from", **score),
                    "f_max": st.column_config.NumberColumn(f"{f_label} to", **score),
                },
            )
            left, right = st.columns(2)
            apply = left.form_submit_button("Apply rules", icon=":material/check:")
            reset = right.form_submit_button("Back to the default rules", icon=":material/restart_alt:")
        if reset:
            update_settings(rfm=Rfm(bins=bins, ties=view.ties, segment_on=view.segment_on))
            st.session_state[Keys.SEG_RULES_VERSION] = version + 1
            st.rerun()
        if apply:
            check = rfm.validate_rules(edited, bins, axis)
            if check.ok:
                rules = tuple((r.name, r.r_min, r.r_max, r.f_min, r.f_max) for r in check.rules)
                update_settings(rfm=Rfm(bins=bins, ties=view.ties, segment_on=view.segment_on, rules=rules))
                st.session_state[Keys.SEG_RULES_VERSION] = version + 1
                st.rerun()
            for error in check.errors:
                st.error(plain(error))
            st.caption("The rules above are not applied yet; the charts still use the previous rules.")
    unreachable = rfm.unreachable_segments(applied, bins)
    if unreachable:
        st.info(plain(f"These segments can never be reached with the current rules and {bins} score levels, "
                      f"so they stay empty: {', '.join(unreachable)}."))
    return applied


def rfm_tab(summary: pl.DataFrame, settings: rfm.RfmSettings, start: dt.date,
            as_of: dt.date) -> pl.DataFrame:
    """Scores, grid, segment sizes and profiles, migration and the customers of a segment."""
    scored = seg_cache.scored_customers(dataset_key(), *selected_period(), as_of, settings, summary)  # shared cache
    numbers = rfm.headline(scored)
    period = fmt.period(start, as_of)
    cards = st.columns(4)
    figure_card(cards[0], "customers", numbers["customers"], period)
    figure_card(cards[1], "median_recency_days", numbers["median_recency_days"], f"as of {fmt.date(as_of)}")
    figure_card(cards[2], "median_orders", numbers["median_frequency"], period,
                shown=orders_text(numbers["median_frequency"]))
    figure_card(cards[3], "median_revenue", numbers["median_monetary"], period)
    st.caption(f"Scores as of {as_of:%d %b %Y}, on orders from {start:%d %b %Y}. Recency counts days since the "
               "last order line (including returns); frequency counts distinct orders; revenue is net of returns.")
    for note in rfm.bin_notes(scored, settings, style=number_style()):
        st.info(note.message, icon=":material/info:")

    st.subheader("Where customers sit on recency and frequency")
    grid_value = st.segmented_control(
        "Colour cells by", ["customers", "monetary"], default="customers", required=True, key=Keys.SEG_GRID_VALUE,
        format_func={"customers": "Number of customers", "monetary": "Revenue per customer (mean)"}.get)
    grid = rfm.rf_grid(scored, settings)
    chart(figure(charts.rf_heatmap, grid, settings.bins, grid_value, "F" if settings.segment_on == "F" else "FM", style=number_style()), key="seg_grid_chart")
    takeaway(rfm.grid_takeaway(grid, grid_value, style=number_style()))

    st.subheader("How big each segment is")
    profile = rfm.segment_profile(scored, settings)
    tree_by = st.segmented_control(
        "Size boxes by", ["customers", "revenue"], default="customers", required=True, key=Keys.SEG_TREE_BY,
        format_func=str.capitalize)
    chart(figure(charts.segment_treemap, profile, tree_by), key="seg_treemap")
    takeaway(rfm.treemap_takeaway(profile, tree_by, style=number_style()))

    st.subheader("Segment profiles")
    group_table(
        profile, segment="Segment",
        mean_r=st.column_config.NumberColumn("R score (mean)", format="%.1f"),
        mean_f=st.column_config.NumberColumn("F score (mean)", format="%.1f"),
        mean_m=st.column_config.NumberColumn("M score (mean)", format="%.1f"))
    takeaway(rfm.profile_takeaway(profile, style=number_style()))
    migration_section(settings, start, as_of)

    st.subheader("Customers of a segment")
    names = settings.segment_names
    if st.session_state.get(Keys.SEG_DRILL) not in names:
        st.session_state.pop(Keys.SEG_DRILL, None)
    pick = st.selectbox("Segment", names, key=Keys.SEG_DRILL)
    row = rfm.segment_row(profile, pick)
    period = fmt.period(start, as_of)
    cards = st.columns(4)
    figure_card(cards[0], "segment.customers", row["customers"], period)
    figure_card(cards[1], "segment.revenue", row["revenue"], period)
    figure_card(cards[2], "segment.revenue_share", row["revenue_share"], period)
    figure_card(cards[3], "segment.mean_revenue", row["mean_revenue"], period)
    if row["advice"]:
        st.caption(plain(f"What to do: {row['advice']}"))
    customer_list(rfm.segment_members(scored, pick), pick, "segment", Keys.SEG_DOWNLOAD, SHOWN_ROWS)
    return scored


def migration_section(settings: rfm.RfmSettings, start: dt.date, as_of: dt.date) -> None:
    """How customers moved between segments from an earlier date to the reference date."""
    st.subheader("How customers moved between segments")
    if as_of <= start:
        st.info("The period is a single day: choose a longer period in the sidebar to compare two dates.")
        return
    chosen = st.date_input(
        "Compare with the segments on", value=rfm.default_compare_date(start, as_of), key=Keys.SEG_COMPARE,
        format="YYYY-MM-DD", help="Each date is scored on the customers known at that date.")
    earlier = min(max(chosen, start), as_of - ONE_DAY)
    if earlier != chosen:
        st.caption(f"The comparison date must fall between {start:%d %b %Y} and the day before the reference date; "
                   f"using {earlier:%d %b %Y}.")
    flows = seg_cache.segment_migration(dataset_key(), *selected_period(), earlier, as_of, settings)
    chart(figure(charts.migration_sankey, flows, f"{earlier:%d %b %Y}", f"{as_of:%d %b %Y}", settings.segment_names),
          key="seg_migration")
    takeaway(rfm.migration_takeaway(flows, earlier, as_of, style=number_style()))
    table(
        flows,
        column_config={
            "from_segment": f"Segment on {earlier:%d %b %Y}", "to_segment": f"Segment on {as_of:%d %b %Y}",
            "customers": count_column("Customers"),
            "share_of_from": share_column("Share of the earlier segment"),
        },
    )




# Clusters -----------------------------------------------------------------------------------
def clusters_tab(summary: pl.DataFrame, start: dt.date, end: dt.date, as_of: dt.date) -> cl.ClusterResult | None:
    """Behavioural clusters of the period's customers (k-means), their profiles and members."""
    st.caption("Lets the data find groups of customers who behave alike: how recently and how often they buy, "
               "how much revenue they bring, plus the behaviour you tick below (method: k-means clustering). "
               "The number of groups is the one that separates customers best (the highest silhouette score, "
               "see the chart) unless you pick one.")
    options = cl.available_behaviour(summary)
    default = [key for key in cl.default_behaviour(summary) if key in options]
    chosen = st.multiselect("Also use", list(options), default=default, format_func=options.get, key=Keys.CLU_FEATURES)
    for hint in cl.missing_behaviour(summary):
        st.caption(hint)
    settings = cl.ClusterSettings(behaviour=tuple(chosen))
    key = dataset_key()
    fingerprint = (key, start, end, as_of, settings.behaviour)
    # The fits run once per dataset version in the background (ui.segments); the default one started on load.
    job = fit_job(key, start, end, as_of, summary, None if settings.behaviour == default_behaviour(summary) else settings.behaviour)
    if not ready(job):
        progress_note("Finding behavioural clusters (k-means for 2 to 10 groups)… The page updates by itself.", job)
        return None
    try:
        fit = job.result()
    except cl.ClusterError as error:
        st.warning(plain(str(error)))
        return None
    k_choices = ["auto", *fit.k_values]
    if st.session_state.get(Keys.CLU_K) not in k_choices:
        st.session_state.pop(Keys.CLU_K, None)
    k = st.selectbox("Number of groups", k_choices, key=Keys.CLU_K,
                     format_func=lambda v: f"Automatic (best: {fit.best_k})" if v == "auto" else str(v))
    result = cached_describe(fit, fingerprint, settings, None if k == "auto" else k)
    st.caption(result.method)

    chart(figure(charts.silhouette_figure, result), key="clu_curve")
    takeaway(cl.curve_takeaway(result, style=number_style()))

    st.subheader("Cluster profiles")
    extra = {f"mean_{key}": st.column_config.NumberColumn(f"{label} (mean)", format="%.2f")
             for key, label in options.items()}
    group_table(
        result.profile, cluster="Cluster", cluster_name="Description",
        spend=money_column("Revenue"), spend_share=share_column("Share of revenue"),
        mean_spend=money_column("Revenue per customer (mean)"), **extra)
    takeaway(cl.profile_takeaway(result, style=number_style()))
    st.caption("Descriptions compare each group with the average customer: high/low = more than half a standard "
               "deviation above/below it (on a log scale).")

    chart(figure(charts.pca_figure, result, style=number_style()), key="clu_pca")
    takeaway(cl.pca_takeaway(result, style=number_style()))

    st.subheader("Customers of a cluster")
    labels = cl.cluster_titles(result)
    if st.session_state.get(Keys.CLU_DRILL) not in labels:
        st.session_state.pop(Keys.CLU_DRILL, None)
    pick = st.selectbox("Cluster", list(labels), key=Keys.CLU_DRILL, format_func=lambda c: f"{c}. {labels[c]}")
    customer_list(cl.cluster_members(summary, result, pick), f"cluster {pick}", "cluster", Keys.CLU_DOWNLOAD, SHOWN_ROWS)
    return result




# Needs and channels -------------------------------------------------------------------------
def needs_tab(summary: pl.DataFrame, tx: pl.LazyFrame, scored: pl.DataFrame, rfm_settings: rfm.RfmSettings,
              cluster_result: cl.ClusterResult | None, as_of: dt.date) -> None:
    """What each group (RFM segment or cluster) buys, and through which channels."""
    group_options = ["segment"] + (["cluster"] if cluster_result is not None else [])
    group_by = st.segmented_control(
        "Group customers by", group_options, default="segment", required=True, key=Keys.NEEDS_GROUP,
        format_func={"segment": "RFM segments", "cluster": "Behavioural clusters"}.get)
    if group_by == "cluster":
        groups = needs.customer_groups(cluster_result.assignments, cl.CLUSTER_NAME)
        order = list(cl.cluster_titles(cluster_result).values())
    else:
        groups = needs.customer_groups(scored, rfm.SEGMENT)
        order = rfm_settings.segment_names
    scoped_tx = needs.orders_until(tx, as_of)
    view = (dataset_key(), *selected_period(), as_of)  # what the cached results depend on, with the groups

    st.subheader("What each group buys")
    missing = needs.missing_column_message(scoped_tx, C.CATEGORY)
    if missing:
        st.info(missing, icon=":material/info:")
    else:
        mix = seg_cache.group_mix(*view, groups, C.CATEGORY)
        chart(figure(charts.mix_heatmap, mix, C.CATEGORY, needs.GROUP, order, "Share of each group's revenue by category", style=number_style()),
              key="needs_category_mix")
        takeaway(needs.mix_takeaway(mix, C.CATEGORY, needs.GROUP, style=number_style()))

        st.subheader("Categories bought by the same customers")
        scopes = ["All customers", *needs.groups_present(groups, order)]
        if st.session_state.get(Keys.NEEDS_SCOPE) not in scopes:
            st.session_state.pop(Keys.NEEDS_SCOPE, None)
        scope = st.selectbox("Customers", scopes, key=Keys.NEEDS_SCOPE)
        subset = None if scope == scopes[0] else needs.group_customers(groups, scope)
        pairs = seg_cache.cross_sell(*view, subset)
        if pairs.is_empty():
            st.info("No two categories are bought by at least 5 of the same customers here.")
        else:
            chart(figure(charts.cross_sell_figure, pairs, style=number_style()), key="needs_cross_sell")
        takeaway(needs.cross_sell_takeaway(pairs, style=number_style()))
        if not pairs.is_empty():
            table(
                pairs,
                column_config={
                    "category_a": "Category A", "category_b": "Category B",
                    "customers": count_column("Customers buying both"),
                    "support": share_column("Share buying both (support)"),
                    "confidence_a_to_b": share_column("A buyers who buy B"),
                    "confidence_b_to_a": share_column("B buyers who buy A"),
                    "lift": st.column_config.NumberColumn("Lift (1 = chance)", format="%.2f"),
                },
            )

    st.subheader("Channels")
    missing = needs.missing_column_message(scoped_tx, C.CHANNEL)
    if missing:
        st.info(missing, icon=":material/info:")
        return
    mix = seg_cache.group_mix(*view, groups, C.CHANNEL)
    chart(figure(charts.mix_heatmap, mix, C.CHANNEL, needs.GROUP, order, "Share of each group's revenue by channel", style=number_style()),
          key="needs_channel_mix")
    takeaway(needs.mix_takeaway(mix, C.CHANNEL, needs.GROUP, style=number_style()))

    value = needs.channel_value(summary)
    chart(figure(charts.channel_value_figure, value, style=number_style()), key="needs_channel_value")
    takeaway(needs.channel_value_takeaway(value, style=number_style()))
    group_table(value, channel_use="Channels used")

    flows = seg_cache.channel_moves(*view)
    if not flows.is_empty():
        chart(figure(charts.channel_sankey, flows), key="needs_channel_moves")
    takeaway(needs.channel_migration_takeaway(flows, style=number_style()))
    st.caption("Repeat customers only (two or more purchase days). A day's channel is the one with the most revenue.")


# Page ---------------------------------------------------------------------------------------
def view_rfm(bins: int, ties: str, axis: str) -> rfm.RfmSettings:
    """The RFM settings in force: widgets and rule table, written to the view's settings."""
    rules = rules_editor(bins, axis)
    rows = tuple((r.name, r.r_min, r.r_max, r.f_min, r.f_max) for r in rules)
    default_rows = tuple((r.name, r.r_min, r.r_max, r.f_min, r.f_max) for r in rfm.DEFAULT_RULES[bins])
    update_settings(rfm=Rfm(bins=bins, ties=ties, segment_on=axis, rules=None if rows == default_rows else rows))
    return current_settings().rfm_settings()


as_of, bins, ties, axis = rfm_settings_form(start, end)
summary = period_summary if as_of == end else summarize(tx, as_of).collect()
if summary.height == 0:
    st.info("No orders on or before the reference date. Pick a later date in the RFM settings.")
    st.stop()
tab_rfm, tab_clusters, tab_needs = st.tabs(["RFM segments", "Behavioural clusters", "Needs & channels"])
with tab_rfm:
    rfm_settings = view_rfm(bins, ties, axis)
    scored = rfm_tab(summary, rfm_settings, start, as_of)
with tab_clusters:
    cluster_result = clusters_tab(summary, start, end, as_of)
with tab_needs:
    needs_tab(summary, tx, scored, rfm_settings, cluster_result, as_of)
