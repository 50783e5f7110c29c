"""Cached glue of the Drivers page: customer profiles, predicted values, product and offer tables.

Keyed by :class:`ui.data.DatasetKey` (dataset, version, the view's filters) and the sidebar period. Profiles read each
customer's whole history up to the period's end (a first purchase is judged on
all of it) and keep the customers acquired inside the period.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core import drivers, offers, products
from crm_core.customers import filter_period
from crm_core.schema import C, has_column
from ui import background, background_jobs as jobs
from ui.background import Job
from ui.data import DatasetKey, dataset_key, load_summary, load_view_dataset, selected_period
from ui.interact import engine_rules


def _key() -> tuple[DatasetKey, dt.date, dt.date]:
    return (dataset_key(), *selected_period())


def _dataset(key: DatasetKey, start: dt.date, end: dt.date):
    """The view's dataset (filters applied; tier and segment filters pick customers of the period)."""
    return load_view_dataset(key, start, end)


def _history(key: DatasetKey, start: dt.date, end: dt.date) -> pl.LazyFrame:
    return filter_period(_dataset(key, start, end).transactions, None, end)


def profiles_job(key: DatasetKey, start: dt.date, end: dt.date) -> Job:
    """The shared job computing :func:`profiles` (the dataset load starts it in the background)."""
    return background.submit("driver_profiles", (key, start, end), jobs.driver_profiles, key.dataset_id,
                             _dataset(key, start, end), start, end)


def _profiles(key: DatasetKey, start: dt.date, end: dt.date) -> pl.DataFrame:
    return profiles_job(key, start, end).result()


def page_jobs(predict: bool) -> list[Job]:
    """The background jobs the Drivers page needs: profiles, and predictions when switched on."""
    key = _key()
    return [profiles_job(*key), *([predictions_job(*key)] if predict else [])]


def profiles() -> pl.DataFrame:
    """One row per customer acquired in the sidebar period (first-order traits and outcomes)."""
    return _profiles(*_key())


def predictions_job(key: DatasetKey, start: dt.date, end: dt.date) -> Job:
    """The shared job computing :func:`predictions` (the dataset load starts it in the background)."""
    return background.submit("driver_predictions", (key, start, end), jobs.driver_predictions,
                             _history(key, start, end), end)


def _predictions(key: DatasetKey, start: dt.date, end: dt.date) -> tuple[pl.DataFrame | None, list[str]]:
    return predictions_job(key, start, end).result()


def predictions() -> tuple[pl.DataFrame | None, list[str]]:
    """(customer_id, predicted_value) for the next 12 months, and the model's reliability problems."""
    return _predictions(*_key())


@st.cache_resource(max_entries=32, show_spinner=False)
def _driver_table(key: DatasetKey, start: dt.date, end: dt.date, dimension: str,
                  predict: bool) -> tuple[pl.DataFrame, dict]:
    customers = _profiles(key, start, end)
    predicted = _predictions(key, start, end)[0] if predict else None
    spend = _dataset(key, start, end).marketing_spend
    return (drivers.driver_table(customers, dimension, predicted, spend),
            drivers.overall_figures(customers, predicted))


def driver_table(dimension: str, predict: bool) -> tuple[pl.DataFrame, dict]:
    """The groups of ``dimension`` (ranked) and the all-customer figures."""
    return _driver_table(*_key(), dimension, bool(predict))


def _period_tx(key: DatasetKey, start: dt.date, end: dt.date) -> pl.LazyFrame:
    return filter_period(_dataset(key, start, end).transactions, start, end)


def _period_items(key: DatasetKey, start: dt.date, end: dt.date) -> pl.LazyFrame:
    """The period's transactions with merged orders split back into their line items (when saved)."""
    return products.sold_items(_period_tx(key, start, end), _dataset(key, start, end).lines)


@st.cache_resource(max_entries=8, show_spinner=False)
def _products(key: DatasetKey, start: dt.date, end: dt.date, item: str) -> pl.DataFrame:
    return products.product_table(_period_items(key, start, end), item)


def product_table(item: str) -> pl.DataFrame:
    """Products (or categories) sold in the sidebar period."""
    return _products(*_key(), item)


@st.cache_resource(max_entries=8, show_spinner=False)
def _journeys(key: DatasetKey, start: dt.date, end: dt.date, item: str) -> pl.DataFrame:
    history = _history(key, start, end)
    acquired = _profiles(key, start, end).select(C.CUSTOMER_ID)
    return products.journeys(history.join(acquired.lazy(), on=C.CUSTOMER_ID, how="semi"), item)


def journeys(item: str) -> pl.DataFrame:
    """First-to-second-order flows of the customers acquired in the sidebar period."""
    return _journeys(*_key(), item)


@st.cache_resource(max_entries=8, show_spinner=False)
def _refunds_by_segment(key: DatasetKey, start: dt.date, end: dt.date, rules: str) -> pl.DataFrame:
    from crm_core.rfm import SEGMENT, score_customers
    from crm_core.settings import AnalysisSettings

    rfm = AnalysisSettings.from_url(rules).rfm_settings()  # the view's RFM rules
    segments = score_customers(load_summary(key, start, end), rfm).select(
        C.CUSTOMER_ID, pl.col(SEGMENT).alias("group")).collect()
    return products.refunds_by_group(_period_tx(key, start, end), segments)


def refunds_by_segment() -> pl.DataFrame:
    """Refund rate per RFM segment of the sidebar period."""
    return _refunds_by_segment(*_key(), engine_rules())


@st.cache_resource(max_entries=8, show_spinner=False)
def _discount_usage(key: DatasetKey, start: dt.date, end: dt.date) -> pl.DataFrame:
    return offers.discount_usage(_period_tx(key, start, end))


def discount_usage() -> pl.DataFrame:
    """Orders of the sidebar period by discount code."""
    return _discount_usage(*_key())


@st.cache_resource(max_entries=16, show_spinner=False)
def _depth_table(key: DatasetKey, start: dt.date, end: dt.date, predict: bool) -> pl.DataFrame:
    predicted = _predictions(key, start, end)[0] if predict else None
    return offers.depth_table(_profiles(key, start, end), predicted)


def depth_table(predict: bool) -> pl.DataFrame | None:
    """Customers acquired in the sidebar period by their first order's discount depth (None without amounts)."""
    if not offers.has_discount_amounts(profiles()):
        return None
    return _depth_table(*_key(), bool(predict))


def item_column() -> str | None:
    """The column products are read from in the current dataset (product, else category, else None)."""
    return products.item_column(_dataset(*_key()).transactions)


@st.cache_resource(max_entries=8, show_spinner=False)
def _one_item_per_order(key: DatasetKey, start: dt.date, end: dt.date, item: str) -> bool:
    return products.one_item_per_order(_period_items(key, start, end), item)


def one_item_per_order(item: str) -> bool:
    """True when the period's rows are whole orders carrying one product each."""
    return _one_item_per_order(*_key(), item)


def has_discount_codes() -> bool:
    """True when the current dataset carries discount codes."""
    return has_column(_dataset(*_key()).transactions, C.DISCOUNT_CODE)
