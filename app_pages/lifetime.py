"""Lifetime value & retention: who is still a customer, what each is worth, who is slipping away."""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core import clv, retention
from crm_core import format as fmt
from crm_core.charts.lifetime import (
    acquisition_figure,
    clv_by_group_figure,
    clv_distribution_figure,
    cohort_heatmap_figure,
    cumulative_tracking_figure,
    forecast_fan_figure,
    gap_histogram_figure,
    holdout_by_frequency_figure,
    lifecycle_funnel_figure,
    p_alive_heatmap_figure,
    penetration_figure,
    retention_curves_figure,
)
from crm_core.export import safe_csv_bytes
from crm_core.metrics import predicted_total, predicted_value_words
from crm_core.settings import AnalysisSettings
from ui import models
from ui.background import progress_note, ready
from ui.data import customer_summary, date_bounds, selected_period
from ui.memo import shared
from ui.sections import lazy_expander, lazy_tabs
from ui.settings import current_settings, display_currency, number_style, update_settings
from ui.state import Keys
from ui.figures import figure
from ui.widgets import (
    chart,
    count_column,
    customer_list,
    explain,
    figure_card,
    format_figure,
    money_column,
    plain,
    readable_members,
    table,
    takeaway,
    with_contacts,
)

HORIZON_MONTHS = [3, 6, 12, 24, 36]
SHOWN_ROWS = 500

st.title("Lifetime value & retention")
explain(
    "Forecasts from your order history: **who is probably still a customer**, **how much each customer is likely "
    "to spend** over the coming months (customer lifetime value, CLV), **who is valuable but slipping away**, and "
    "how well you **acquire, keep, grow and win back** customers. Proven statistical models do the forecasting: "
    "one for how often customers buy and when they quietly stop (BG/NBD, Pareto/NBD or MBG/NBD: by default the one "
    "that best predicted your last weeks), one for how much they spend (Gamma-Gamma). Every forecast comes with a "
    "range that holds the outcome about 8 times out of 10. "
    "Time is counted in **weeks**; a repeat purchase is a further day with a purchase. The models read each "
    "customer's whole history up to the end of the sidebar period. Each tab below opens on a click: what customers "
    "are worth first, then who is active or slipping away, how far to trust the models, and the cohorts and "
    "lifecycle, which are observed, not modelled."
)


def forecast_settings(observed_margin: float | None) -> AnalysisSettings:
    """Horizon, margin and discount rate: widgets on the view's settings, so every page, slide and export agree.

    The sliders are drawn only while their panel is open (ui.sections.lazy_expander); closed, the view's settings apply.
    """
    with lazy_expander("Forecast settings: horizon, margin, discount rate", Keys.LT_SETTINGS_PANEL,
                       icon=":material/tune:") as opened:
        if opened:
            return _forecast_sliders(observed_margin)
    return current_settings()


def _forecast_sliders(observed_margin: float | None) -> AnalysisSettings:
    """The sliders, filled from the view's settings (when not on screen yet); their values update the view's settings."""
    settings = current_settings()
    st.session_state.setdefault(Keys.LT_HORIZON, settings.horizon_months)
    st.session_state.setdefault(Keys.LT_MARGIN, round(100 * settings.margin))
    st.session_state.setdefault(Keys.LT_DISCOUNT, round(100 * settings.discount_rate))
    horizons = sorted({*HORIZON_MONTHS, int(st.session_state[Keys.LT_HORIZON])})
    left, middle, right = st.columns(3)
    months = left.select_slider(
        "Forecast horizon", horizons, key=Keys.LT_HORIZON,
        format_func=lambda m: f"{m} months ({number_style().number(clv.months_to_weeks(m), 1)} weeks)",
        help="How far ahead CLV counts purchases. The models work in weeks; months are converted "
             f"at {number_style().number(clv.WEEKS_PER_MONTH, 2)} weeks each.")
    margin = middle.slider(
        "Margin (%)", 1, 100, key=Keys.LT_MARGIN,
        help="Share of spend you keep as profit. 100% shows predicted revenue; below 100% predicted margin. "
             + (f"Your data's cost column gives {observed_margin:.0%}." if observed_margin else "The data has no cost column."))
    rate = right.slider("Annual discount rate (%)", 0, 30, key=Keys.LT_DISCOUNT,
                        help="A sale next year is worth less than one today; 10% is a common choice.")
    st.caption("These settings are kept in the link and saved views, and used by the Overview, meeting mode, "
               "the report and the exports.")
    return update_settings(horizon_months=int(months), margin=margin / 100, discount_rate=rate / 100)

def model_picker() -> str:
    """The purchase model: automatic (best on the last weeks) unless the manager picks one."""
    return st.selectbox(
        "Purchase model", clv.MODEL_CHOICES, format_func=clv.model_label, key=Keys.LT_MODEL, bind="query-params",
        help="Automatic fits all three models and uses the one that best predicted the last weeks of your data. "
             "Pick one yourself to override.")


def fit_or_stop(settings: AnalysisSettings, model: str = "auto"):
    """The fitted models with the view's settings; stops the page with the reason when they cannot be fitted."""
    clv_settings = settings.clv_settings()
    try:
        with st.spinner("Fitting the purchase and spend models…"):
            return models.clv_result(clv_settings.horizon_weeks, clv_settings.margin, clv_settings.annual_discount_rate,
                                     model)
    except ValueError as error:
        st.error(plain(str(error)))
        st.stop()


def worth_section(result, settings: AnalysisSettings, period: str) -> None:
    """What customers are worth: the catalogue's predicted value, its distribution and by group."""
    st.subheader("What customers are worth")
    st.caption("What the models expect each customer to spend over the forecast horizon, added up, per customer and "
               "by group, with the range the total is likely to fall in.")
    words = predicted_value_words(settings)
    months = settings.horizon_months
    cards = st.columns(3)
    figure_card(cards[0], "predicted_value_total", predicted_total(result) if result.spend_modelled else None,
                f"the next {months} months after {period.split(' to ')[-1]}", **words)
    forecast_period = f"the next {months} months after {period.split(' to ')[-1]}"
    figure_card(cards[1], "predicted_value_mean", result.clv_mean(), forecast_period, **words)
    figure_card(cards[2], "expected_purchases_mean", result.customers["expected_purchases"].mean(), forecast_period,
                **words)
    if not result.spend_modelled:
        st.caption("Spend could not be modelled: see the *How far to trust the models* tab.")
    kinds = models.available_groupings()
    if st.session_state.get(Keys.LT_GROUP) not in kinds:
        st.session_state.pop(Keys.LT_GROUP, None)
    left, right = st.columns(2)
    with left:
        chart(figure(clv_distribution_figure, result.customers, f"{months} months"), key="lt_fig_clv_hist", money_axis="x", count_axis="y")
    with right:
        kind = st.segmented_control("CLV by", kinds, format_func=models.GROUPINGS.get, default="decile",
                                    required=True, key=Keys.LT_GROUP, bind="query-params")
        if kind == "decile":
            groups = clv.value_tiers(result.customers)
            chart(figure(clv_by_group_figure, groups, "label", "Predicted value by value decile",
                                      "Customers ranked by predicted value (best first)"), key="lt_fig_clv_group")
        else:
            groups = clv.clv_by_group(result.customers, models.customer_groups(kind), "group")
            chart(figure(clv_by_group_figure, groups, "group", f"Predicted value by {models.GROUPINGS[kind].lower()}"),
                  key="lt_fig_clv_group")
            st.caption("Customers who bought in the sidebar period, grouped as on the Portfolio and Segments pages.")
    takeaway(clv.concentration_takeaway(clv.value_tiers(result.customers), style=number_style()))


def range_section(result, settings: AnalysisSettings, model: str) -> None:
    """The forecast's range: fan chart of the cumulative forecast, the total's range, every customer's forecast."""
    clv_settings = settings.clv_settings()
    value_range = result.value_interval()
    if value_range["value_low"] is not None:
        st.caption(f"Likely range of the total ({result.settings.interval:.0%}): "
                   f"{format_figure(value_range['value_low'], 'money')} to "
                   f"{format_figure(value_range['value_high'], 'money')}.")
    with st.spinner("Drawing the forecast's range…"):
        fan = models.forecast_fan(clv_settings.horizon_weeks, clv_settings.margin, clv_settings.annual_discount_rate,
                                  model)
    chart(figure(forecast_fan_figure, fan, result.calibration_end, result.settings.interval, style=number_style()), key="lt_fig_fan")
    takeaway(clv.interval_takeaway(result, style=number_style()))
    every_customer = with_contacts(models.forecasts(clv_settings.horizon_weeks, clv_settings.margin,
                                                    clv_settings.annual_discount_rate, model))
    st.download_button("Download every customer's forecast (CSV)", data=shared(forecasts_csv, every_customer, display_currency()),
                       file_name="customer_forecasts.csv", mime="text/csv", icon=":material/download:",
                       key="lt_download_all",
                       help="One row per customer: chance still active, expected purchases and value with their "
                            "ranges, next order date (empty when probably lapsed).")


def forecasts_csv(members: pl.DataFrame, currency: str) -> bytes:
    """The injection-safe CSV of every customer's forecast; ``currency`` (the view's, which
    :func:`readable_members` names in the headers) is part of the cache key of :func:`shared`."""
    return safe_csv_bytes(readable_members(members))


def next_order_section(result) -> None:
    """When customers will order next, the gaps between orders, who is overdue."""
    st.subheader("When will customers order next?")
    gaps = models.order_gaps()
    if gaps.height:
        chart(figure(gap_histogram_figure, gaps, style=number_style()), key="lt_fig_gaps")
    takeaway(clv.gap_takeaway(gaps, result.customers, style=number_style()))
    st.caption("Each customer's next order date is when an active customer like them has bought again with even "
               "odds; customers more likely gone than active are marked probably lapsed. Overdue: silent for longer "
               "than their own average gap between purchase days.")


def alive_section(result, period: str, model: str) -> None:
    """Who is probably still a customer (the model's P(alive), named apart from observed recency)."""
    st.subheader("Who is probably still a customer")
    st.caption("A customer who has not bought for a while may have quietly stopped, or may just buy rarely: the "
               "model weighs how often they bought against how long they have been silent.")
    alive = float((result.customers["p_alive"] >= 0.5).mean()) if result.customers.height else None
    figure_card(st.columns(3)[0], "probably_active_share", alive, f"as of {period.split(' to ')[-1]}")
    chart(figure(p_alive_heatmap_figure, models.alive_matrix(model), style=number_style()), key="lt_fig_palive")
    takeaway(clv.p_alive_takeaway(result, style=number_style()))


def at_risk_section(result, settings: AnalysisSettings, model: str) -> None:
    """Valuable customers slipping away, with the list to act on."""
    st.subheader("Valuable customers slipping away")
    left, right = st.columns(2)
    top_share = left.slider("Valuable = top % by predicted CLV", 5, 50, value=25, step=5, key=Keys.LT_RISK_TOP,
                            bind="query-params")
    alive_below = right.slider("Slipping = chance still active below (%)", 10, 90, value=50, step=5,
                               key=Keys.LT_RISK_ALIVE, bind="query-params")
    risk_settings = clv.AtRiskSettings(min_clv_quantile=1 - top_share / 100, max_p_alive=alive_below / 100)
    clv_settings = settings.clv_settings()
    at_risk = models.at_risk(clv_settings.horizon_weeks, clv_settings.margin, clv_settings.annual_discount_rate,
                             model, risk_settings)
    takeaway(clv.at_risk_takeaway(at_risk, risk_settings, style=number_style()))
    customer_list(at_risk, "the at-risk list", "at_risk", "lt_download", SHOWN_ROWS)


def trust_section(result, period: str) -> None:
    """How far to trust the models: checks, and the parameter table for those who open it."""
    st.subheader("How far to trust the models")
    for problem in result.problems:
        st.warning(plain(problem), icon=":material/warning:")
    for warning in result.warnings:
        st.info(plain(warning), icon=":material/info:")
    if result.reliable:
        st.success("Enough data for the models, and both fits converged.", icon=":material/check_circle:")
    history = f"every order up to {period.split(' to ')[-1]}"
    converged = result.model.converged_ and result.gamma_gamma is not None and result.gamma_gamma.converged_
    cards = st.columns(4)
    figure_card(cards[0], "customers_modelled", result.customers.height, history)
    figure_card(cards[1], "repeat_buyer_share", result.repeat_share, history)
    figure_card(cards[2], "history_weeks", result.history_days / 7, history)
    figure_card(cards[3], "fits_converged", "yes" if converged else "no", history)
    takeaway(clv.fit_takeaway(result, style=number_style()))
    if result.comparison is not None:
        takeaway(result.comparison.reason)  # takeaway escapes it
        if result.comparison.table.height > 1:
            table(result.comparison.table.drop("model"),
                  column_config={"label": "Model",
                                 "log_likelihood": st.column_config.NumberColumn("Log-likelihood", format="%,.1f"),
                                 "bic": st.column_config.NumberColumn("BIC (lower fits better)", format="%,.1f"),
                                 "total_error_pct": st.column_config.NumberColumn("Error of the total (%)",
                                                                                  format="%+.1f"),
                                 "mae": st.column_config.NumberColumn("Error per customer", format="%.3f"),
                                 "converged": "Converged"})
            st.caption("Each model was fitted without the last weeks and judged on them; the errors are purchases.")
    with st.expander("Model parameters", icon=":material/functions:"):
        st.dataframe(
            clv.parameter_table(result), hide_index=True, width="stretch",
            column_config={"model": "Model", "parameter": "Parameter",
                           "estimate": st.column_config.NumberColumn("Estimate", format="%.4f"),
                           "standard_error": st.column_config.NumberColumn("Standard error", format="%.4f"),
                           "meaning": "What it means"},
        )
        st.caption(f"Log-likelihood {number_style().number(result.model.log_likelihood_, 1)} ({result.model.LABEL}) "
                   f"over {number_style().count(result.model.n_unique_rows_)} distinct customer histories; standard errors from the "
                   "curvature of the likelihood.")


def validation_section(first_day: dt.date, end: dt.date, model: str) -> None:
    """Would the model have predicted the last weeks?"""
    st.subheader("Check: would the model have predicted the last weeks?")
    history_weeks = (end - first_day).days // 7
    if history_weeks < 8:
        st.info("The data covers less than 8 weeks: too short to hold some weeks back and check the forecast. "
                "Widen the period in the sidebar or load more history.")
        return
    top = int(min(104, history_weeks - 4))
    holdout_weeks = st.slider(
        "Weeks held back for the check", 4, top, value=min(max(clv.default_holdout_weeks(first_day, end), 4), top),
        key=Keys.LT_HOLDOUT, bind="query-params",
        help="The model is fitted on the orders before these weeks and its forecast compared with what happened.")
    split = end - dt.timedelta(weeks=holdout_weeks)
    job = models.holdout_validation_job(holdout_weeks, model)  # in the background, once for every session
    if not ready(job):
        progress_note("Fitting on the earlier weeks and comparing… The check appears here by itself.", job)
        return
    try:
        validation = job.result()
    except ValueError as error:
        st.error(plain(str(error)))
        return
    st.caption(f"Fitted on orders up to {fmt.date(split)}; compared over {holdout_weeks} weeks to {fmt.date(end)} "
               f"for the {number_style().count(validation.customers)} customers who had bought by the split.")
    for problem in validation.problems:
        st.warning(plain(problem), icon=":material/warning:")
    held_back = f"{holdout_weeks} weeks from {fmt.date(split)} to {fmt.date(end)}"
    cards = st.columns(4)
    # Short labels: four cards side by side cut the catalogue's ("Actual repeat purchases (...") at 1366 px.
    figure_card(cards[0], "holdout.actual", validation.total_actual, held_back, label="Actual purchases")
    figure_card(cards[1], "holdout.predicted", validation.total_predicted, held_back, label="Predicted purchases")
    figure_card(cards[2], "holdout.total_error", validation.total_error_pct / 100, held_back,
                shown=f"{validation.total_error_pct:+.1f}%", label="Error of the total")
    figure_card(cards[3], "holdout.mae", validation.mae, held_back, label="Error per customer")
    left, right = st.columns(2)
    with left:
        chart(figure(holdout_by_frequency_figure, validation.by_frequency), key="lt_fig_holdout_freq")
    with right:
        chart(figure(cumulative_tracking_figure, validation.weekly, split), key="lt_fig_tracking", count_axis="y")
    takeaway(clv.validation_takeaway(validation, style=number_style()))
    coverage_check(validation, held_back)


def coverage_check(validation, held_back: str) -> None:
    """Did each customer's range hold what they bought in the held-back weeks, as often as it claims?"""
    level = f"{validation.interval_level:.0%}"
    inside = validation.total_low <= validation.total_actual <= validation.total_high
    cards = st.columns(3)
    figure_card(cards[0], "holdout.coverage", validation.coverage, held_back,
                label=f"Customers inside their {level} range", note=f"These ranges are {level} ranges.")
    figure_card(cards[1], "holdout.coverage_frequent", validation.coverage_frequent if validation.frequent_customers
                else None, held_back, shown=None if validation.frequent_customers else "n/a",
                note="" if validation.frequent_customers else "n/a: no customer had 3 repeat purchases by the split.")
    figure_card(cards[2], "holdout.total_inside", "yes" if inside else "no", held_back,
                note=f"Range of the total: {format_figure(validation.total_low, 'count')} to "
                     f"{format_figure(validation.total_high, 'count')} purchases.")
    takeaway(clv.coverage_takeaway(validation, style=number_style()))


def cohorts_section() -> None:
    """Cohorts and retention curves: do new customers come back?"""
    st.subheader("Cohorts: do new customers come back?")
    shown = st.segmented_control("Show", ["customer_retention", "revenue_retention"], default="customer_retention",
                                 required=True, key=Keys.LT_COHORT_METRIC, bind="query-params",
                                 format_func={"customer_retention": "Customers buying",
                                              "revenue_retention": "Revenue vs. first month"}.get)
    with st.spinner("Building cohorts…"):
        cohort_table = models.cohorts()
    if cohort_table.height == 0:
        st.info("No customer made a first purchase in the sidebar period: widen the period to see cohorts.")
        return
    chart(figure(cohort_heatmap_figure, cohort_table, shown, style=number_style()), key="lt_fig_cohorts")
    takeaway(retention.cohort_takeaway(cohort_table, style=number_style()))
    st.caption("Rows: month of first purchase (a customer who bought before the period is not new). "
               "Blank cells lie after the end of the data.")
    by = st.segmented_control("Retention curves by", ["year", "channel"], default="year", required=True,
                              key=Keys.LT_CURVES_BY, bind="query-params",
                              format_func={"year": "Acquisition year", "channel": "Acquisition channel"}.get)
    curve_table = models.curves(by == "channel")
    if curve_table is None:
        st.info("The data has no acquisition channel (no customers table with acquisition_channel and no channel "
                "column): showing curves by acquisition year.")
        curve_table = models.curves(False)
        by = "year"
    chart(figure(retention_curves_figure, curve_table, "acquisition " + by), key="lt_fig_curves")
    takeaway(retention.curves_takeaway(curve_table, style=number_style()))


def lifecycle_section(period: str) -> None:
    """Acquire, retain, grow, win back (observed: no model)."""
    st.subheader("Customer lifecycle: acquire, retain, grow, win back")
    gap = st.number_input("A customer has lapsed after this many days without buying", 30, 730, value=180, step=30,
                          key=Keys.LT_GAP, bind="query-params",
                          help="Used for churn (lapsed now) and win-back (bought again after such a gap).")
    with st.spinner("Following customers through their lifecycle…"):
        cycle = models.customer_lifecycle(int(gap))
    for note in cycle.notes:
        st.caption(plain(note))
    if cycle.acquired == 0:
        st.info("No customer made a first purchase in the sidebar period: widen the period to see the lifecycle.")
        return
    cards = st.columns(4)
    figure_card(cards[0], "new_customers", cycle.acquired, period)
    # Short labels where four cards cut the catalogue's at 1366 px ("New customers who bou...", "Lapsed (no order for mor...").
    figure_card(cards[1], "lifecycle.repeat_rate", cycle.repeat_rate, period, label="Bought again")
    figure_card(cards[2], "lapsed_share", None if cycle.churn_base == 0 else cycle.churn_rate, period,
                shown="n/a" if cycle.churn_base == 0 else None, gap=str(gap), label=f"Lapsed ({gap}+ days)",
                note=f"Observed, not a model: the {number_style().count(cycle.churn_base)} new customers who joined at least {gap} days "
                     "before the end of the period.")
    figure_card(cards[3], "lifecycle.won_back", cycle.won_back, period, gap=str(gap),
                note=f"They brought {format_figure(cycle.won_back_revenue, 'money')} since coming back.")
    chart(figure(lifecycle_funnel_figure, cycle.funnel), key="lt_fig_funnel")
    takeaway(retention.lifecycle_takeaway(cycle, style=number_style()))
    chart(figure(acquisition_figure, cycle.acquisition), key="lt_fig_acquisition", count_axis="y")
    takeaway(retention.acquisition_takeaway(cycle, style=number_style()))
    if cycle.cac is not None:
        table(cycle.cac, column_config={"acquisition_channel": "Acquisition channel", "new_customers": count_column("New customers"),
                                        "spend": money_column("Marketing spend"),
                                        "cac": money_column("Cost per new customer (CAC)")})
    if cycle.penetration.height:
        chart(figure(penetration_figure, cycle.penetration), key="lt_fig_penetration")
        takeaway(retention.penetration_takeaway(cycle.penetration, style=number_style()))


def with_model(draw) -> None:
    """Run ``draw(fitted model)`` once the background fit is done; until then a note that updates by itself."""
    if not ready(fit_job):  # the page reruns itself when it is done
        progress_note("Fitting the purchase and spend models… The forecasts appear here by themselves; "
                      "the Cohorts and Lifecycle tabs need no model.", fit_job)
        return
    draw(fit_or_stop(view, model_choice))


def value_tab(fitted) -> None:
    """What customers are worth, and the forecast's range."""
    worth_section(fitted, view, period_text)
    range_section(fitted, view, model_choice)


def activity_tab(fitted) -> None:
    """Who is still active, when they will order next, who is slipping away."""
    alive_section(fitted, period_text, model_choice)
    next_order_section(fitted)
    at_risk_section(fitted, view, model_choice)


def trust_tab(fitted) -> None:
    """How far to trust the models: checks, parameters and the holdout validation."""
    trust_section(fitted, period_text)
    validation_section(first_day, end, fitted.model.NAME)


first_day, _ = date_bounds()
start, end = selected_period()
period_text = fmt.period(start, end)
view = forecast_settings(clv.suggested_margin(customer_summary()))
st.caption(f"Forecast over {clv.weeks_label(view.clv_settings().horizon_weeks, number_style())}, margin {view.margin:.0%}, discount "
           f"rate {view.discount_rate:.0%} a year. Change them under *Forecast settings*.")
model_choice = model_picker()
fit_job = models.view_fit_job(model_choice)  # started on dataset load, in the background, for every session
# Only the open tab runs and is drawn (ui.sections): a visit draws three charts, not a dozen.
lazy_tabs(Keys.LT_TAB, {
    "What customers are worth": lambda: with_model(value_tab),
    "Active, next order, at risk": lambda: with_model(activity_tab),
    "How far to trust the models": lambda: with_model(trust_tab),
    "Cohorts": cohorts_section,
    "Lifecycle": lambda: lifecycle_section(period_text),
})
