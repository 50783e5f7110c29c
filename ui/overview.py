"""Cached inputs of the Overview that come from other pages' models."""
from __future__ import annotations

from concurrent.futures import Future

import polars as pl

from ui.models import view_clv_result, view_fit_job


def overview_clv_job() -> Future:
    """The background model fit behind :func:`overview_clv` (shared with the Lifetime page)."""
    return view_fit_job()


def overview_clv() -> pl.DataFrame | None:
    """Predicted CLV per customer with the view's horizon, margin and rate; None when the fit is unreliable.

    Shares the Lifetime page's cached fit, so the model runs once per dataset and period.
    """
    try:
        result = view_clv_result()
    except Exception:  # a model that cannot be fitted must not break the Overview
        return None
    if not result.reliable:
        return None
    return result.customers.select("customer_id", "clv")
