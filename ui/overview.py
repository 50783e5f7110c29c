"""Cached inputs of the Overview that come from other pages' models."""
from __future__ import annotations

import polars as pl

from crm_core.clv import CLVSettings
from ui.models import clv_result


def overview_clv() -> pl.DataFrame | None:
    """Predicted 12-month CLV per customer (default settings), or None when the fit is unreliable.

    Shares the Lifetime page's cached fit, so the model runs once per dataset and period.
    """
    defaults = CLVSettings()
    try:
        result = clv_result(defaults.horizon_weeks, defaults.margin, defaults.annual_discount_rate)
    except Exception:  # a model that cannot be fitted must not break the Overview
        return None
    if not result.reliable:
        return None
    return result.customers.select("customer_id", "clv")
