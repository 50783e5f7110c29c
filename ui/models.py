"""Cached glue of the Lifetime value & retention page: model fits, validation, cohorts, lifecycle.

Every result is cached with ``st.cache_resource`` keyed by dataset id, its
version and the settings (results are immutable; Polars frames are shared,
not copied). The model fit runs once, in the background (:mod:`ui.background`):
pages show a progress note until it is done. The models use each customer's whole history up to the end of
the sidebar period: a customer's first purchase may lie before its start.
"""
from __future__ import annotations

import datetime as dt
from ui.background import Job

import polars as pl
import streamlit as st

from crm_core.clv import (
    AtRiskSettings,
    CLVResult,
    CLVSettings,
    HoldoutValidation,
    at_risk_customers,
    customer_forecasts,
    forecast_fan_frame,
    gaps_between_orders,
    probability_alive_matrix,
    rescore,
)
from crm_core.customers import filter_period
from crm_core.dataset import Dataset
from crm_core.retention import (
    Lifecycle,
    LifecycleSettings,
    acquisition_groups,
    cohort_retention,
    lifecycle,
    retention_curves,
)
from crm_core.settings import AnalysisSettings
from ui import background
from ui import background_jobs as jobs
from ui.data import (
    DatasetKey,
    dataset_key,
    load_summary,
    load_view_dataset,
    selected_period,
)
from ui.settings import current_settings


def _history(key: DatasetKey, start: dt.date, end: dt.date) -> tuple[Dataset, pl.LazyFrame]:
    """The view's dataset and its orders up to ``end`` (models use each customer's history)."""
    dataset = load_view_dataset(key, start, end)
    return dataset, filter_period(dataset.transactions, None, end)


def clv_fit_job(key: DatasetKey, start: dt.date, end: dt.date, model: str = "auto") -> Job:
    """The background fit of :func:`clv_fit`, shared by every session (started on dataset load, see app.py)."""
    _, tx = _history(key, start, end)
    return background.submit("clv_fit", (key, start, end, model), jobs.clv_fit, tx, end, model)


def clv_fit(key: DatasetKey, start: dt.date, end: dt.date, model: str = "auto") -> CLVResult:
    """Models fitted on the view's orders up to ``end`` (default CLV settings; see :func:`clv_result`).

    ``model``: "auto" (the best of the three purchase models on the last weeks) or a model name.
    Waits for the background fit when it is still running.
    """
    return clv_fit_job(key, start, end, model).result()


def view_fit_job(model: str = "auto") -> Job:
    """The background fit behind :func:`clv_result` for the sidebar's dataset and period."""
    return clv_fit_job(dataset_key(), *selected_period(), model)


@st.cache_resource(max_entries=16, show_spinner=False)
def _scored(key: DatasetKey, start: dt.date, end: dt.date, horizon_weeks: float, margin: float, rate: float,
            model: str = "auto") -> CLVResult:
    settings = CLVSettings(horizon_weeks=horizon_weeks, margin=margin, annual_discount_rate=rate, calibration_end=end)
    return rescore(clv_fit(key, start, end, model), settings)


def clv_result(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str = "auto") -> CLVResult:
    """Models fitted on all orders up to the sidebar period's end; CLV for the given settings."""
    return _scored(dataset_key(), *selected_period(), float(horizon_weeks), float(margin), float(annual_discount_rate),
                   model)


def view_clv_result() -> CLVResult:
    """CLV with the view's horizon, margin and discount rate (what the catalogue's predicted value reports)."""
    settings = current_settings().clv_settings()
    return clv_result(settings.horizon_weeks, settings.margin, settings.annual_discount_rate)


@st.cache_resource(max_entries=8, show_spinner=False)
def _fan(key: DatasetKey, start: dt.date, end: dt.date, horizon_weeks: float, margin: float, rate: float,
         model: str) -> pl.DataFrame:
    return forecast_fan_frame(_scored(key, start, end, horizon_weeks, margin, rate, model))


def forecast_fan(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str = "auto") -> pl.DataFrame:
    """The cumulative forecast with its range, for the fan chart."""
    return _fan(dataset_key(), *selected_period(), float(horizon_weeks), float(margin), float(annual_discount_rate),
                model)


@st.cache_resource(max_entries=8, show_spinner=False)
def _alive_matrix(key: DatasetKey, start: dt.date, end: dt.date, model: str) -> pl.DataFrame:
    fitted = clv_fit(key, start, end, model)
    return probability_alive_matrix(fitted.model, fitted.customers)


def alive_matrix(model: str = "auto") -> pl.DataFrame:
    """P(alive) on a frequency x recency grid of the fitted purchase model (it does not depend on the horizon)."""
    return _alive_matrix(dataset_key(), *selected_period(), model)


@st.cache_resource(max_entries=16, show_spinner=False)
def _at_risk(key: DatasetKey, start: dt.date, end: dt.date, horizon_weeks: float, margin: float, rate: float,
             model: str, risk: AtRiskSettings) -> pl.DataFrame:
    return at_risk_customers(_scored(key, start, end, horizon_weeks, margin, rate, model), risk)


def at_risk(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str,
            risk: AtRiskSettings) -> pl.DataFrame:
    """Valuable customers slipping away under ``risk``, with the CLV of the given settings."""
    return _at_risk(dataset_key(), *selected_period(), float(horizon_weeks), float(margin),
                    float(annual_discount_rate), model, risk)


@st.cache_resource(max_entries=8, show_spinner=False)
def _forecasts(key: DatasetKey, start: dt.date, end: dt.date, horizon_weeks: float, margin: float, rate: float,
               model: str) -> pl.DataFrame:
    return customer_forecasts(_scored(key, start, end, horizon_weeks, margin, rate, model))


def forecasts(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str = "auto") -> pl.DataFrame:
    """Every customer's forecast (the CLI's ``--customers-out`` columns) with the given settings."""
    return _forecasts(dataset_key(), *selected_period(), float(horizon_weeks), float(margin),
                      float(annual_discount_rate), model)


@st.cache_resource(max_entries=8, show_spinner=False)
def _gaps(key: DatasetKey, start: dt.date, end: dt.date) -> pl.DataFrame:
    _, tx = _history(key, start, end)
    return gaps_between_orders(tx, end)


def order_gaps() -> pl.DataFrame:
    """Days between consecutive purchase days of every customer, up to the period end."""
    return _gaps(dataset_key(), *selected_period())


def holdout_validation_job(holdout_weeks: int, model: str = "bg-nbd") -> Job:
    """The background run of :func:`holdout_validation`, shared by every session."""
    key, (start, end) = dataset_key(), selected_period()
    _, tx = _history(key, start, end)
    split = end - dt.timedelta(weeks=int(holdout_weeks))
    return background.submit("holdout_validation", (key, start, end, int(holdout_weeks), model),
                             jobs.holdout_validation, tx, split, end, model)


def holdout_validation(holdout_weeks: int, model: str = "bg-nbd") -> HoldoutValidation:
    """Fit ``model`` up to ``holdout_weeks`` before the period end; compare with what happened after."""
    return holdout_validation_job(holdout_weeks, model).result()


@st.cache_resource(max_entries=16, show_spinner=False)
def _cohorts(key: DatasetKey, start: dt.date, end: dt.date) -> pl.DataFrame:
    _, tx = _history(key, start, end)
    return cohort_retention(tx, start, end)


def cohorts() -> pl.DataFrame:
    """Cohorts acquired in the sidebar period (acquisition judged on the whole history)."""
    return _cohorts(dataset_key(), *selected_period())


@st.cache_resource(max_entries=16, show_spinner=False)
def _curves(key: DatasetKey, start: dt.date, end: dt.date, by_channel: bool) -> pl.DataFrame | None:
    dataset, tx = _history(key, start, end)
    groups = None
    if by_channel:
        groups = acquisition_groups(tx, dataset.customers, end)
        if groups is None:
            return None
    return retention_curves(tx, groups, start, end)


def curves(by_channel: bool) -> pl.DataFrame | None:
    """Retention curves by acquisition quarter, or by channel (None when the data has no channel)."""
    return _curves(dataset_key(), *selected_period(), bool(by_channel))


@st.cache_resource(max_entries=16, show_spinner=False)
def _lifecycle(key: DatasetKey, start: dt.date, end: dt.date, gap_days: int) -> Lifecycle:
    dataset, tx = _history(key, start, end)
    return lifecycle(tx, start, end, dataset.customers, dataset.marketing_spend, LifecycleSettings(gap_days=gap_days))


def customer_lifecycle(gap_days: int) -> Lifecycle:
    """QCi lifecycle of the customers acquired in the sidebar period."""
    return _lifecycle(dataset_key(), *selected_period(), int(gap_days))


GROUPINGS = {"decile": "Value decile", "tier": "Portfolio tier", "segment": "RFM segment"}


def available_groupings() -> list[str]:
    """The CLV groupings: value decile, portfolio tier, RFM segment."""
    return list(GROUPINGS)


@st.cache_resource(max_entries=16, show_spinner=False)
def _groups(key: DatasetKey, start: dt.date, end: dt.date, kind: str, rules: str) -> pl.DataFrame:
    """``rules``: the view's tier and RFM settings in URL form (part of the cache key)."""
    from crm_core.portfolio import assign_tiers
    from crm_core.rfm import SEGMENT, score_customers

    settings, summary = AnalysisSettings.from_url(rules), load_summary(key, start, end)
    if kind == "tier":
        return assign_tiers(summary, settings.tier_settings()).select("customer_id", pl.col("tier").alias("group"))
    return score_customers(summary, settings.rfm_settings()).select("customer_id", pl.col(SEGMENT).alias("group")).collect()


def customer_groups(kind: str) -> pl.DataFrame:
    """(customer_id, group) for customers who bought in the sidebar period: portfolio tier or RFM segment."""
    settings = current_settings()
    rules = AnalysisSettings(tiers=settings.tiers, rfm=settings.rfm).to_url()
    return _groups(dataset_key(), *selected_period(), kind, rules)
