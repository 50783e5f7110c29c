"""The slow work itself: module-level functions of frames, run by the worker process or in the server.

No Streamlit here (the worker process does not import it): a job is one of these
functions and its arguments (:func:`ui.background.submit`). Each calls the same
crm_core function as the CLI, so a page shows the CLI's numbers whichever process ran it.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import polars as pl

from crm_core.logging_setup import get_logger, timed

if TYPE_CHECKING:
    from crm_core.clusters import ClusterFit
    from crm_core.clv import CLVResult, HoldoutValidation
    from crm_core.dataset import Dataset
    from crm_core.findings import Finding, FindingSettings

T = TypeVar("T")


def timed_call(name: str, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, its duration logged as ``name`` (timings only, no customer data)."""
    with timed(get_logger("background"), name):
        return function(*args)


def clv_fit(tx: pl.LazyFrame | pl.DataFrame, end: dt.date, model: str) -> CLVResult:
    """:func:`crm_core.clv.fit_clv` on the orders up to ``end`` (default CLV settings)."""
    from crm_core.clv import CLVSettings, fit_clv

    with timed(get_logger("models"), "clv_fit") as info:  # timings and counts only, no customer data
        result = fit_clv(tx.lazy(), CLVSettings(calibration_end=end, model=model))
        info.update(customers=result.customers.height, converged=result.model.converged_, reliable=result.reliable,
                    model=result.model.NAME)
    return result


def holdout_validation(tx: pl.LazyFrame | pl.DataFrame, split: dt.date, end: dt.date, model: str) -> HoldoutValidation:
    """:func:`crm_core.clv.validate_holdout`: fit up to ``split``, compare with ``split..end``."""
    from crm_core.clv import validate_holdout

    return validate_holdout(tx.lazy(), split, end, model=model)


def customer_summary(dataset_id: str, period_tx: pl.LazyFrame | pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """:func:`crm_core.customers.summarize` of the period's orders as of ``as_of`` (``dataset_id``: for the log)."""
    from crm_core.customers import summarize

    with timed(get_logger("model"), "customer_summary", dataset=dataset_id) as info:
        summary = summarize(period_tx.lazy(), as_of=as_of).collect()
        info["customers"] = summary.height
    return summary


def default_behaviour(summary: pl.DataFrame) -> tuple[str, ...]:
    """The behaviour columns ticked by default: those the data has."""
    from crm_core import clusters as cl  # scikit-learn: imported by the worker, not by every page

    options = cl.available_behaviour(summary)
    return tuple(key for key in cl.default_behaviour(summary) if key in options)


def cluster_fit(summary: pl.DataFrame, behaviour: tuple[str, ...] | None) -> ClusterFit:
    """K-means for every k on ``summary`` (``behaviour`` None: :func:`default_behaviour`)."""
    from crm_core import clusters as cl

    chosen = default_behaviour(summary) if behaviour is None else behaviour
    return cl.fit_clusters(summary, cl.ClusterSettings(behaviour=chosen))


def driver_profiles(dataset_id: str, dataset: Dataset, start: dt.date, end: dt.date) -> pl.DataFrame:
    """:func:`crm_core.drivers.acquired_profiles`: first-order profiles of the customers acquired in ``start..end``."""
    from crm_core.drivers import acquired_profiles

    with timed(get_logger("model"), "driver_profiles", dataset=dataset_id) as info:
        profiles = acquired_profiles(dataset, start, end)
        info["customers"] = profiles.height
    return profiles


def driver_predictions(history: pl.LazyFrame | pl.DataFrame, end: dt.date) -> tuple[pl.DataFrame | None, list[str]]:
    """:func:`crm_core.drivers.predicted_values` of every customer for the next 12 months."""
    from crm_core.drivers import predicted_values

    return predicted_values(history.lazy(), end)


def key_findings(dataset: Dataset, settings: FindingSettings, summary: pl.DataFrame,
                 profiles: pl.DataFrame) -> list[Finding]:
    """:func:`crm_core.findings.key_findings` with the pages' summary and driver profiles of ``settings``' period.

    The profiles are used only when the findings' period is the one they were computed for (the view's
    customer filters can narrow the dates).
    """
    from crm_core.findings import FindingContext, key_findings

    same_period = FindingContext(dataset, settings).period == (settings.start, settings.end)
    return key_findings(dataset, settings, summary=summary, profiles=profiles if same_period else None)
