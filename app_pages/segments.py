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
from ui.background import Job, progress_note, ready
from ui.data import (
    customer_summary,
    dataset_key,
    period_transactions,
    selected_period,
)
from ui import segments as seg_cache
from ui.segments import cached_describe, default_behaviour, fit_job
from ui.sections import KEEP, lazy_expander, lazy_tabs
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
    "**What groups buy** and **Channels** show what each group buys and through which channels. "
    "Each tab opens on a click; everything uses the orders in the period chosen in the sidebar."
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
            help=f"Recency is counted back from this date. Empty = the last order date in the period ({fmt.date(end)}).")
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
        st.warning(f"The reference date is before the period starts; using {fmt.date(start)} instead.")
        as_of = start
    return as_of, bins, ties, axis




# RFM ----------------------------------------------------------------------------------------
def _rules_form(applied: tuple[rfm.SegmentRule, ...], view: Rfm, bins: int, axis: str, version: int) -> None:
    """The rule table in a form: "Apply rules" checks and applies it, the other button restores the defaults."""
    f_label = "F" if axis == "F" else "FM"
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


def rules_editor(bins: int, axis: str) -> tuple[rfm.SegmentRule, ...]:
    """The editable rule table; returns the rules in force (the view's, kept in its settings)."""
    view = current_settings().rfm
    own = view.rules if view.rules is not None and view.bins == bins else None
    applied = rfm.DEFAULT_RULES[bins] if own is None else tuple(rfm.SegmentRule(*rule) for rule in own)
    version = st.session_state.get(Keys.SEG_RULES_VERSION, 0)
    # The editor (a table and a form) is drawn once its panel opens: closed, it slowed every visit.
    with lazy_expander("Segment rules (editable)", Keys.SEG_RULES_PANEL, icon=":material/rule:") as opened:
        if opened:
            _rules_form(applied, view, bins, axis, version)
    unreachable = rfm.unreachable_segments(applied, bins)
    if unreachable:
        st.info(plain(f"These segments can never be reached with the current rules and {bins} score levels, "
                      f"so they stay empty: {', '.join(unreachable)}."))
    return applied


def scored_view(summary: pl.DataFrame, settings: rfm.RfmSettings, as_of: dt.date) -> pl.DataFrame:
    """The period's customers with their RFM scores and segment (cached for every session)."""
    return seg_cache.scored_customers(dataset_key(), *selected_period(), as_of, settings, summary)


def rfm_tab(scored: pl.DataFrame, settings: rfm.RfmSettings, start: dt.date, as_of: dt.date) -> None:
    """Scores, grid, segment sizes and profiles, and the customers of a segment."""
    numbers = rfm.headline(scored)
    period = fmt.period(start, as_of)
    cards = st.columns(4)
    figure_card(cards[0], "customers", numbers["customers"], period)
    figure_card(cards[1], "median_recency_days", numbers["median_recency_days"], f"as of {fmt.date(as_of)}")
    figure_card(cards[2], "median_orders", numbers["median_frequency"], period,
                shown=orders_text(numbers["median_frequency"]))
    figure_card(cards[3], "median_revenue", numbers["median_monetary"], period)
    st.caption(f"Scores as of {fmt.date(as_of)}, on orders from {fmt.date(start)}. Recency counts days since the "
               "last order line (including returns); frequency counts distinct orders; revenue is net of returns.")
    for note in rfm.bin_notes(scored, settings, style=number_style()):
        st.info(note.message, icon=":material/info:")

    st.subheader("Where customers sit on recency and frequency")
    grid_value = st.segmented_control(
        "Colour cells by", ["customers", "monetary"], default="customers", required=True, key=Keys.SEG_GRID_VALUE, persist_state=KEEP,
        format_func={"customers": "Number of customers", "monetary": "Revenue per customer (mean)"}.get)
    grid = rfm.rf_grid(scored, settings)
    chart(figure(charts.rf_heatmap, grid, settings.bins, grid_value, "F" if settings.segment_on == "F" else "FM", style=number_style()), key="seg_grid_chart")
    takeaway(rfm.grid_takeaway(grid, grid_value, style=number_style()))

    st.subheader("How big each segment is")
    profile = rfm.segment_profile(scored, settings)
    tree_by = st.segmented_control(
        "Size boxes by", ["customers", "revenue"], default="customers", required=True, key=Keys.SEG_TREE_BY,
        persist_state=KEEP,
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

    st.subheader("Customers of a segment")
    names = settings.segment_names
    if st.session_state.get(Keys.SEG_DRILL) not in names:
        st.session_state.pop(Keys.SEG_DRILL, None)
    pick = st.selectbox("Segment", names, key=Keys.SEG_DRILL, persist_state=KEEP)
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


def migration_section(settings: rfm.RfmSettings, start: dt.date, as_of: dt.date) -> None:
    """How customers moved between segments from an earlier date to the reference date."""
    st.subheader("How customers moved between segments")
    st.caption("Scores the customers twice, on an earlier date and on the reference date, with the same rules, "
               "and counts who stayed in their segment, who moved up and who slipped.")
    if as_of <= start:
        st.info("The period is a single day: choose a longer period in the sidebar to compare two dates.")
        return
    chosen = st.date_input(
        "Compare with the segments on", value=rfm.default_compare_date(start, as_of), key=Keys.SEG_COMPARE,
        persist_state=KEEP, format="YYYY-MM-DD", help="Each date is scored on the customers known at that date.")
    earlier = min(max(chosen, start), as_of - ONE_DAY)
    if earlier != chosen:
        st.caption(f"The comparison date must fall between {fmt.date(start)} and the day before the reference date; "
                   f"using {fmt.date(earlier)}.")
    flows = seg_cache.segment_migration(dataset_key(), *selected_period(), earlier, as_of, settings)
    chart(figure(charts.migration_sankey, flows, f"{fmt.date(earlier)}", f"{fmt.date(as_of)}", settings.segment_names),
          key="seg_migration")
    takeaway(rfm.migration_takeaway(flows, earlier, as_of, style=number_style()))
    table(
        flows,
        column_config={
            "from_segment": f"Segment on {fmt.date(earlier)}", "to_segment": f"Segment on {fmt.date(as_of)}",
            "customers": count_column("Customers"),
            "share_of_from": share_column("Share of the earlier segment"),
        },
    )




# Clusters -----------------------------------------------------------------------------------
def cluster_job(summary: pl.DataFrame, start: dt.date, end: dt.date, as_of: dt.date,
                behaviour: tuple[str, ...]) -> tuple[Job, cl.ClusterSettings, tuple]:
    """The k-means fits for ``behaviour`` (run once, in the background), their settings and cache fingerprint."""
    settings = cl.ClusterSettings(behaviour=behaviour)
    key = dataset_key()
    # The fits run once per dataset version in the background (ui.segments); the default one started on load.
    job = fit_job(key, start, end, as_of, summary, None if behaviour == default_behaviour(summary) else behaviour)
    return job, settings, (key, start, end, as_of, behaviour)


def chosen_clusters(summary: pl.DataFrame, start: dt.date, end: dt.date, as_of: dt.date) -> cl.ClusterResult | None:
    """The clusters as last chosen on their tab (the default ones before), when the fits are done; no wait."""
    behaviour = st.session_state.get(Keys.CLU_FEATURES)
    job, settings, fingerprint = cluster_job(summary, start, end, as_of,
                                             default_behaviour(summary) if behaviour is None else tuple(behaviour))
    if not job.done() or job.future.exception() is not None:
        return None
    fit = job.result()
    k = st.session_state.get(Keys.CLU_K, "auto")
    return cached_describe(fit, fingerprint, settings, None if k not in fit.k_values else k)


def clusters_tab(summary: pl.DataFrame, start: dt.date, end: dt.date, as_of: dt.date) -> None:
    """Behavioural clusters of the period's customers (k-means), their profiles and members."""
    st.caption("Lets the data find groups of customers who behave alike: how recently and how often they buy, "
               "how much revenue they bring, plus the behaviour you tick below (method: k-means clustering). "
               "The number of groups is the one that separates customers best (the highest silhouette score, "
               "see the chart) unless you pick one.")
    options = cl.available_behaviour(summary)
    default = [key for key in cl.default_behaviour(summary) if key in options]
    chosen = st.multiselect("Also use", list(options), default=default, format_func=options.get, key=Keys.CLU_FEATURES,
                            persist_state=KEEP)
    for hint in cl.missing_behaviour(summary):
        st.caption(hint)
    job, settings, fingerprint = cluster_job(summary, start, end, as_of, tuple(chosen))
    if not ready(job):
        progress_note("Finding behavioural clusters (k-means for 2 to 10 groups)… The page updates by itself.", job)
        return
    try:
        fit = job.result()
    except cl.ClusterError as error:
        st.warning(plain(str(error)))
        return
    k_choices = ["auto", *fit.k_values]
    if st.session_state.get(Keys.CLU_K) not in k_choices:
        st.session_state.pop(Keys.CLU_K, None)
    k = st.selectbox("Number of groups", k_choices, key=Keys.CLU_K, persist_state=KEEP,
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
    pick = st.selectbox("Cluster", list(labels), key=Keys.CLU_DRILL, format_func=lambda c: f"{c}. {labels[c]}",
                        persist_state=KEEP)
    customer_list(cl.cluster_members(summary, result, pick), f"cluster {pick}", "cluster", Keys.CLU_DOWNLOAD, SHOWN_ROWS)


# Needs and channels -------------------------------------------------------------------------
def customer_grouping(scored: pl.DataFrame, rfm_settings: rfm.RfmSettings,
                      cluster_result: cl.ClusterResult | None) -> tuple[pl.DataFrame, list[str]]:
    """The groups to compare (RFM segments, or clusters once they are ready): (customer -> group, group order)."""
    group_options = ["segment"] + (["cluster"] if cluster_result is not None else [])
    if st.session_state.get(Keys.NEEDS_GROUP) not in group_options:
        st.session_state.pop(Keys.NEEDS_GROUP, None)
    group_by = st.segmented_control(
        "Group customers by", group_options, default="segment", required=True, key=Keys.NEEDS_GROUP,
        persist_state=KEEP, format_func={"segment": "RFM segments", "cluster": "Behavioural clusters"}.get)
    if cluster_result is None:
        st.caption("Behavioural clusters can be compared here once they are found (see their tab).")
    if group_by == "cluster" and cluster_result is not None:
        return (needs.customer_groups(cluster_result.assignments, cl.CLUSTER_NAME),
                list(cl.cluster_titles(cluster_result).values()))
    return needs.customer_groups(scored, rfm.SEGMENT), rfm_settings.segment_names


def buys_tab(tx: pl.LazyFrame, groups: pl.DataFrame, order: list[str], as_of: dt.date) -> None:
    """What each group buys: category mix and the categories bought together."""
    st.subheader("What each group buys")
    st.caption("Each group's revenue split by product category, up to the reference date: a group that spends "
               "far more of its money on one category than the others is a target for that category's offers.")
    missing = needs.missing_column_message(needs.orders_until(tx, as_of), C.CATEGORY)
    if missing:
        st.info(missing, icon=":material/info:")
        return
    view = (dataset_key(), *selected_period(), as_of)  # what the cached results depend on, with the groups
    mix = seg_cache.group_mix(*view, groups, C.CATEGORY)
    chart(figure(charts.mix_heatmap, mix, C.CATEGORY, needs.GROUP, order, "Share of each group's revenue by category", style=number_style()),
          key="needs_category_mix")
    takeaway(needs.mix_takeaway(mix, C.CATEGORY, needs.GROUP, style=number_style()))

    st.subheader("Categories bought by the same customers")
    scopes = ["All customers", *needs.groups_present(groups, order)]
    if st.session_state.get(Keys.NEEDS_SCOPE) not in scopes:
        st.session_state.pop(Keys.NEEDS_SCOPE, None)
    scope = st.selectbox("Customers", scopes, key=Keys.NEEDS_SCOPE, persist_state=KEEP)
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


def channels_tab(summary: pl.DataFrame, tx: pl.LazyFrame, groups: pl.DataFrame, order: list[str],
                 as_of: dt.date) -> None:
    """Through which channels each group buys, what multi-channel customers are worth, who switches."""
    st.subheader("Channels")
    st.caption("Which sales channels each group buys through, whether customers who use several channels are worth "
               "more, and which channel repeat customers move to after their first purchase.")
    missing = needs.missing_column_message(needs.orders_until(tx, as_of), C.CHANNEL)
    if missing:
        st.info(missing, icon=":material/info:")
        return
    view = (dataset_key(), *selected_period(), as_of)
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
rfm_settings = view_rfm(bins, ties, axis)
summary = period_summary if as_of == end else summarize(tx, as_of).collect()
if summary.height == 0:
    st.info("No orders on or before the reference date. Pick a later date in the RFM settings.")
    st.stop()
scored = scored_view(summary, rfm_settings, as_of)


def needs_groups() -> tuple[pl.DataFrame, list[str]]:
    """The groups chosen at the top of a needs tab, and their order."""
    return customer_grouping(scored, rfm_settings, chosen_clusters(summary, start, end, as_of))


# Only the open tab runs and is drawn (ui.sections): a visit draws two charts, not a dozen.
lazy_tabs(Keys.SEG_TAB, {
    "RFM segments": lambda: rfm_tab(scored, rfm_settings, start, as_of),
    "Movement between segments": lambda: migration_section(rfm_settings, start, as_of),
    "Behavioural clusters": lambda: clusters_tab(summary, start, end, as_of),
    "What groups buy": lambda: buys_tab(tx, *needs_groups(), as_of),
    "Channels": lambda: channels_tab(summary, tx, *needs_groups(), as_of),
})
