"""Customer lifetime value: purchase models (BG/NBD), spend model (Gamma-Gamma), CLV, validation.

Conventions (also the CLI defaults)
-----------------------------------
* A repeat purchase is a distinct purchase day after the first one; rows on the
  same day are one transaction whose spend is summed. Return lines (negative
  amounts) are not purchases.
* Time is measured in **weeks** everywhere; recency ``t_x`` and age ``T`` are
  counted from the customer's first purchase. Horizons given in months are
  converted at the edge with :data:`WEEKS_PER_MONTH`.
* Spend per repeat day is net of returns: ``(revenue - first day's spend) / x``,
  with a refunded repeat purchase counting as exactly 0 (not a float residue).
  Customers whose mean repeat spend is not positive are never fed to the spend
  model; they are counted and get the population mean spend.

One model per module (as lifetimes and PyMC-Marketing do): :mod:`.bg_nbd`,
:mod:`.mbg_nbd`, :mod:`.pareto_nbd`, :mod:`.gamma_gamma`; the likelihood and optimiser machinery in :mod:`.fitting`;
:mod:`.pipeline` fits and scores, :mod:`.validation` checks on a holdout,
:mod:`.takeaways` reads the results, :mod:`.intervals` gives prediction
intervals and :mod:`.next_order` the next-order dates. Models are fitted by maximum likelihood with
trust-region Newton on exact Hessians over compressed ``(x, t_x, T)`` rows.
"""
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.data import rfm_summary
from crm_core.clv.fitting import compress
from crm_core.clv.gamma_gamma import GammaGammaModel
from crm_core.clv.intervals import (
    PurchaseIntervals,
    purchase_intervals,
)
from crm_core.clv.mbg_nbd import ModifiedBetaGeoModel
from crm_core.clv.models import (
    MODEL_CHOICES,
    MODELS,
    make_model,
    model_label,
)
from crm_core.clv.next_order import (
    gap_takeaway,
    gaps_between_orders,
    next_order_columns,
)
from crm_core.clv.pareto_nbd import ParetoNBDModel
from crm_core.clv.pipeline import (
    FORECAST_COLUMNS,
    CLVResult,
    customer_forecasts,
    customer_lifetime_value,
    discounted_purchases,
    fit_clv,
    forecast_fan_frame,
    parameter_table,
    rescore,
    suggested_margin,
)
from crm_core.clv.purchase_model import PurchaseModel
from crm_core.clv.settings import (
    DAYS_PER_WEEK,
    TIME_UNIT,
    WEEKS_PER_MONTH,
    WEEKS_PER_YEAR,
    AtRiskSettings,
    CLVSettings,
    SufficiencyRules,
    months_to_weeks,
    sufficiency_problems,
    weeks_label,
)
from crm_core.clv.takeaways import (
    at_risk_customers,
    at_risk_takeaway,
    clv_by_group,
    concentration_takeaway,
    coverage_takeaway,
    fit_takeaway,
    interval_takeaway,
    p_alive_takeaway,
    probability_alive_matrix,
    validation_takeaway,
    value_tiers,
)
from crm_core.clv.validation import (
    HoldoutValidation,
    ModelComparison,
    default_holdout_weeks,
    validate_holdout,
)

__all__ = [
    "AtRiskSettings",
    "BetaGeoModel",
    "CLVResult",
    "CLVSettings",
    "DAYS_PER_WEEK",
    "FORECAST_COLUMNS",
    "GammaGammaModel",
    "HoldoutValidation",
    "MODELS",
    "MODEL_CHOICES",
    "ModelComparison",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "PurchaseIntervals",
    "PurchaseModel",
    "SufficiencyRules",
    "TIME_UNIT",
    "WEEKS_PER_MONTH",
    "WEEKS_PER_YEAR",
    "at_risk_customers",
    "at_risk_takeaway",
    "clv_by_group",
    "compress",
    "concentration_takeaway",
    "coverage_takeaway",
    "forecast_fan_frame",
    "interval_takeaway",
    "customer_forecasts",
    "customer_lifetime_value",
    "default_holdout_weeks",
    "discounted_purchases",
    "fit_clv",
    "fit_takeaway",
    "gap_takeaway",
    "gaps_between_orders",
    "make_model",
    "model_label",
    "months_to_weeks",
    "next_order_columns",
    "p_alive_takeaway",
    "parameter_table",
    "probability_alive_matrix",
    "purchase_intervals",
    "rescore",
    "rfm_summary",
    "sufficiency_problems",
    "suggested_margin",
    "validate_holdout",
    "validation_takeaway",
    "value_tiers",
    "weeks_label",
]
