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


def default_cluster_fit(period_tx: pl.LazyFrame | pl.DataFrame, as_of: dt.date) -> ClusterFit:
    """:func:`cluster_fit` with the default columns on the customer summary of ``period_tx`` as of ``as_of``.

    The summary is :func:`crm_core.customers.summarize`, as the pages' (``ui.data.load_summary``):
    the dataset load starts this fit without computing the summary on the page's time.
    """
    from crm_core.customers import summarize

    return cluster_fit(summarize(period_tx.lazy(), as_of=as_of).collect(), None)
