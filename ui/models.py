"""Cached glue of the Lifetime value & retention page: model fits, validation, cohorts, lifecycle.

Every result is cached with ``st.cache_resource`` keyed by dataset id, its
version and the settings (results are immutable; Polars frames are shared,
not copied). The models use each customer's whole history up to the end of
the sidebar period: a customer's first purchase may lie before its start.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core.clv import (
    CLVResult,
    CLVSettings,
    HoldoutValidation,
    fit_clv,
    forecast_fan_frame,
    gaps_between_orders,
    rescore,
    validate_holdout,
)
from crm_core.customers import filter_period
from crm_core.dataset import Dataset
from crm_core.logging_setup import get_logger, timed
from crm_core.retention import (
    Lifecycle,
    LifecycleSettings,
    acquisition_groups,
    cohort_retention,
    lifecycle,
    retention_curves,
)
from ui.data import _collected_dataset, _version, current_dataset_id, selected_period


def _key() -> tuple[str, str]:
    dataset_id = current_dataset_id()
    return dataset_id, _version(dataset_id)


def _history(dataset_id: str, version: str, end: dt.date) -> tuple[Dataset, pl.LazyFrame]:
    dataset = _collected_dataset(dataset_id, version)
    return dataset, filter_period(dataset.transactions, None, end)


@st.cache_resource(max_entries=8, show_spinner=False)
def _fit(dataset_id: str, version: str, end: dt.date, model: str = "auto") -> CLVResult:
    _, tx = _history(dataset_id, version, end)
    with timed(get_logger("models"), "clv_fit") as info:  # timings and counts only, no customer data
        result = fit_clv(tx, CLVSettings(calibration_end=end, model=model))
        info.update(customers=result.customers.height, converged=result.model.converged_, reliable=result.reliable,
                    model=result.model.NAME)
    return result


@st.cache_resource(max_entries=16, show_spinner=False)
def _scored(dataset_id: str, version: str, end: dt.date, horizon_weeks: float, margin: float, rate: float,
            model: str = "auto") -> CLVResult:
    settings = CLVSettings(horizon_weeks=horizon_weeks, margin=margin, annual_discount_rate=rate, calibration_end=end)
    return rescore(_fit(dataset_id, version, end, model), settings)


def clv_result(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str = "auto") -> CLVResult:
    """Models fitted on all orders up to the sidebar period's end; CLV for the given settings.

    ``model``: "auto" (the best of the three on the last weeks) or a model name.
    """
    _, end = selected_period()
    return _scored(*_key(), end, float(horizon_weeks), float(margin), float(annual_discount_rate), model)


@st.cache_resource(max_entries=8, show_spinner=False)
def _fan(dataset_id: str, version: str, end: dt.date, horizon_weeks: float, margin: float, rate: float,
         model: str) -> pl.DataFrame:
    return forecast_fan_frame(_scored(dataset_id, version, end, horizon_weeks, margin, rate, model))


def forecast_fan(horizon_weeks: float, margin: float, annual_discount_rate: float, model: str = "auto") -> pl.DataFrame:
    """The cumulative forecast with its range, for the fan chart."""
    _, end = selected_period()
    return _fan(*_key(), end, float(horizon_weeks), float(margin), float(annual_discount_rate), model)


@st.cache_resource(max_entries=8, show_spinner=False)
def _gaps(dataset_id: str, version: str, end: dt.date) -> pl.DataFrame:
    _, tx = _history(dataset_id, version, end)
    return gaps_between_orders(tx, end)


def order_gaps() -> pl.DataFrame:
    """Days between consecutive purchase days of every customer, up to the period end."""
    _, end = selected_period()
    return _gaps(*_key(), end)


@st.cache_resource(max_entries=16, show_spinner=False)
def _validation(dataset_id: str, version: str, end: dt.date, holdout_weeks: int, model: str) -> HoldoutValidation:
    _, tx = _history(dataset_id, version, end)
    return validate_holdout(tx, end - dt.timedelta(weeks=holdout_weeks), end, model=model)


def holdout_validation(holdout_weeks: int, model: str = "bg-nbd") -> HoldoutValidation:
    """Fit ``model`` up to ``holdout_weeks`` before the period end; compare with what happened after."""
    _, end = selected_period()
    return _validation(*_key(), end, int(holdout_weeks), model)


@st.cache_resource(max_entries=16, show_spinner=False)
def _cohorts(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    _, tx = _history(dataset_id, version, end)
    return cohort_retention(tx, start, end)


def cohorts() -> pl.DataFrame:
    """Cohorts acquired in the sidebar period (acquisition judged on the whole history)."""
    return _cohorts(*_key(), *selected_period())


@st.cache_resource(max_entries=16, show_spinner=False)
def _curves(dataset_id: str, version: str, start: dt.date, end: dt.date, by_channel: bool) -> pl.DataFrame | None:
    dataset, tx = _history(dataset_id, version, end)
    groups = None
    if by_channel:
        groups = acquisition_groups(tx, dataset.customers, end)
        if groups is None:
            return None
    return retention_curves(tx, groups, start, end)


def curves(by_channel: bool) -> pl.DataFrame | None:
    """Retention curves by acquisition quarter, or by channel (None when the data has no channel)."""
    return _curves(*_key(), *selected_period(), bool(by_channel))


@st.cache_resource(max_entries=16, show_spinner=False)
def _lifecycle(dataset_id: str, version: str, start: dt.date, end: dt.date, gap_days: int) -> Lifecycle:
    dataset, tx = _history(dataset_id, version, end)
    return lifecycle(tx, start, end, dataset.customers, dataset.marketing_spend, LifecycleSettings(gap_days=gap_days))


def customer_lifecycle(gap_days: int) -> Lifecycle:
    """QCi lifecycle of the customers acquired in the sidebar period."""
    return _lifecycle(*_key(), *selected_period(), int(gap_days))


GROUPINGS = {"decile": "Value decile", "tier": "Portfolio tier", "segment": "RFM segment"}


def available_groupings() -> list[str]:
    """The CLV groupings this installation can compute (deciles always)."""
    kinds = ["decile"]
    try:
        from crm_core.portfolio import assign_tiers  # noqa: F401

        kinds.append("tier")
    except ImportError:
        pass
    try:
        from crm_core.rfm import score_customers  # noqa: F401

        kinds.append("segment")
    except ImportError:
        pass
    return kinds


@st.cache_resource(max_entries=16, show_spinner=False)
def _groups(dataset_id: str, version: str, start: dt.date, end: dt.date, kind: str) -> pl.DataFrame:
    from ui.data import _customer_summary

    summary = _customer_summary(dataset_id, version, start, end)
    if kind == "tier":
        from crm_core.portfolio import assign_tiers

        return assign_tiers(summary).select("customer_id", pl.col("tier").alias("group"))
    from crm_core.rfm import SEGMENT, score_customers

    return score_customers(summary).select("customer_id", pl.col(SEGMENT).alias("group")).collect()


def customer_groups(kind: str) -> pl.DataFrame:
    """(customer_id, group) for customers who bought in the sidebar period: portfolio tier or RFM segment."""
    return _groups(*_key(), *selected_period(), kind)
