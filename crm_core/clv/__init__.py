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
:mod:`.gamma_gamma`; the likelihood and optimiser machinery in :mod:`.fitting`;
:mod:`.pipeline` fits and scores, :mod:`.validation` checks on a holdout,
:mod:`.takeaways` reads the results. Models are fitted by maximum likelihood with
trust-region Newton on exact Hessians over compressed ``(x, t_x, T)`` rows.
"""
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.data import rfm_summary
from crm_core.clv.fitting import compress
from crm_core.clv.gamma_gamma import GammaGammaModel
from crm_core.clv.pipeline import (
    CLVResult,
    customer_lifetime_value,
    discounted_purchases,
    fit_clv,
    parameter_table,
    rescore,
    sufficiency_problems,
    suggested_margin,
)
from crm_core.clv.settings import (
    DAYS_PER_WEEK,
    TIME_UNIT,
    WEEKS_PER_MONTH,
    WEEKS_PER_YEAR,
    AtRiskSettings,
    CLVSettings,
    SufficiencyRules,
    months_to_weeks,
    weeks_label,
)
from crm_core.clv.takeaways import (
    at_risk_customers,
    at_risk_takeaway,
    clv_by_group,
    concentration_takeaway,
    fit_takeaway,
    p_alive_takeaway,
    probability_alive_matrix,
    validation_takeaway,
    value_tiers,
)
from crm_core.clv.validation import (
    HoldoutValidation,
    default_holdout_weeks,
    validate_holdout,
)

__all__ = [
    "DAYS_PER_WEEK",
    "TIME_UNIT",
    "WEEKS_PER_MONTH",
    "WEEKS_PER_YEAR",
    "AtRiskSettings",
    "BetaGeoModel",
    "CLVResult",
    "CLVSettings",
    "GammaGammaModel",
    "HoldoutValidation",
    "SufficiencyRules",
    "at_risk_customers",
    "at_risk_takeaway",
    "clv_by_group",
    "compress",
    "concentration_takeaway",
    "customer_lifetime_value",
    "default_holdout_weeks",
    "discounted_purchases",
    "fit_clv",
    "fit_takeaway",
    "months_to_weeks",
    "p_alive_takeaway",
    "parameter_table",
    "probability_alive_matrix",
    "rescore",
    "rfm_summary",
    "sufficiency_problems",
    "suggested_margin",
    "validate_holdout",
    "validation_takeaway",
    "value_tiers",
    "weeks_label",
]
