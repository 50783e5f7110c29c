"""Cached glue of the Drivers page: customer profiles, predicted values, product and offer tables.

Keyed by dataset id, its version and the sidebar period. Profiles read each
customer's whole history up to the period's end (a first purchase is judged on
all of it) and keep the customers acquired inside the period.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from crm_core import drivers, offers, products
from crm_core.customers import filter_period
from crm_core.logging_setup import get_logger, timed
from crm_core.schema import C, has_column
from ui.data import _collected_dataset, _version, current_dataset_id, selected_period


def _key() -> tuple[str, str, dt.date, dt.date]:
    dataset_id = current_dataset_id()
    return (dataset_id, _version(dataset_id), *selected_period())


def _history(dataset_id: str, version: str, end: dt.date) -> pl.LazyFrame:
    return filter_period(_collected_dataset(dataset_id, version).transactions, None, end)


@st.cache_resource(max_entries=8, show_spinner="Finding each customer's first order…")
def _profiles(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    dataset = _collected_dataset(dataset_id, version)
    with timed(get_logger("model"), "driver_profiles", dataset=dataset_id) as info:
        profiles = drivers.customer_profiles(_history(dataset_id, version, end), dataset.customers, end)
        profiles = profiles.filter(pl.col("first_date") >= start)
        info["customers"] = profiles.height
    return profiles


def profiles() -> pl.DataFrame:
    """One row per customer acquired in the sidebar period (first-order traits and outcomes)."""
    return _profiles(*_key())


@st.cache_resource(max_entries=8, show_spinner="Predicting each customer's next 12 months…")
def _predictions(dataset_id: str, version: str, end: dt.date) -> tuple[pl.DataFrame | None, list[str]]:
    return drivers.predicted_values(_history(dataset_id, version, end), end)


def predictions() -> tuple[pl.DataFrame | None, list[str]]:
    """(customer_id, predicted_value) for the next 12 months, and the model's reliability problems."""
    dataset_id, version, _, end = _key()
    return _predictions(dataset_id, version, end)


@st.cache_resource(max_entries=32, show_spinner=False)
def _driver_table(dataset_id: str, version: str, start: dt.date, end: dt.date, dimension: str,
                  predict: bool) -> tuple[pl.DataFrame, dict]:
    customers = _profiles(dataset_id, version, start, end)
    predicted = _predictions(dataset_id, version, end)[0] if predict else None
    spend = _collected_dataset(dataset_id, version).marketing_spend
    return (drivers.driver_table(customers, dimension, predicted, spend),
            drivers.overall_figures(customers, predicted))


def driver_table(dimension: str, predict: bool) -> tuple[pl.DataFrame, dict]:
    """The groups of ``dimension`` (ranked) and the all-customer figures."""
    return _driver_table(*_key(), dimension, bool(predict))


def _period_tx(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.LazyFrame:
    return filter_period(_collected_dataset(dataset_id, version).transactions, start, end)


@st.cache_resource(max_entries=8, show_spinner=False)
def _products(dataset_id: str, version: str, start: dt.date, end: dt.date, item: str) -> pl.DataFrame:
    return products.product_table(_period_tx(dataset_id, version, start, end), item)


def product_table(item: str) -> pl.DataFrame:
    """Products (or categories) sold in the sidebar period."""
    return _products(*_key(), item)


@st.cache_resource(max_entries=8, show_spinner=False)
def _journeys(dataset_id: str, version: str, start: dt.date, end: dt.date, item: str) -> pl.DataFrame:
    history = _history(dataset_id, version, end)
    acquired = _profiles(dataset_id, version, start, end).select(C.CUSTOMER_ID)
    return products.journeys(history.join(acquired.lazy(), on=C.CUSTOMER_ID, how="semi"), item)


def journeys(item: str) -> pl.DataFrame:
    """First-to-second-order flows of the customers acquired in the sidebar period."""
    return _journeys(*_key(), item)


@st.cache_resource(max_entries=8, show_spinner=False)
def _refunds_by_segment(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    from crm_core.rfm import SEGMENT, score_customers
    from ui.data import _customer_summary

    segments = score_customers(_customer_summary(dataset_id, version, start, end)).select(
        C.CUSTOMER_ID, pl.col(SEGMENT).alias("group")).collect()
    return products.refunds_by_group(_period_tx(dataset_id, version, start, end), segments)


def refunds_by_segment() -> pl.DataFrame:
    """Refund rate per RFM segment of the sidebar period."""
    return _refunds_by_segment(*_key())


@st.cache_resource(max_entries=8, show_spinner=False)
def _discount_usage(dataset_id: str, version: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    return offers.discount_usage(_period_tx(dataset_id, version, start, end))


def discount_usage() -> pl.DataFrame:
    """Orders of the sidebar period by discount code."""
    return _discount_usage(*_key())


def item_column() -> str | None:
    """The column products are read from in the current dataset (product, else category, else None)."""
    dataset_id, version, _, _ = _key()
    return products.item_column(_collected_dataset(dataset_id, version).transactions)


def has_discount_codes() -> bool:
    """True when the current dataset carries discount codes."""
    dataset_id, version, _, _ = _key()
    return has_column(_collected_dataset(dataset_id, version).transactions, C.DISCOUNT_CODE)
