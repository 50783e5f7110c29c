"""Units and the settings a user chooses for CLV forecasts (weeks are the model unit)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm_core.format import PLAIN, NumberStyle

DAYS_PER_WEEK = 7.0
WEEKS_PER_YEAR = 365.25 / DAYS_PER_WEEK
WEEKS_PER_MONTH = WEEKS_PER_YEAR / 12.0
TIME_UNIT = "week"


@dataclass(frozen=True)
class CLVSettings:
    """What the user sets for a CLV forecast.

    Attributes
    ----------
    horizon_weeks
        Forecast horizon in weeks (52.18 weeks = 12 months).
    margin
        Share of spend that is profit (1.0 = CLV in revenue terms).
    annual_discount_rate
        Yearly rate used to discount future cash flows (0.10 = 10 %).
    calibration_end
        Last day of the data used to fit; ``None`` = the last order date.
    model
        Purchase model: ``"auto"`` fits all three and uses the one that predicts a holdout best.
    interval
        Probability held by each prediction interval (0.8 = 10th to 90th percentile or narrower).
    """

    horizon_weeks: float = 52.0
    margin: float = 1.0
    annual_discount_rate: float = 0.10
    calibration_end: dt.date | None = None
    model: str = "auto"  # "auto" (best on a holdout) or a model name: "bg-nbd", "pareto-nbd", "mbg-nbd"
    interval: float | None = 0.8  # level of the prediction intervals; None: point forecasts only


@dataclass(frozen=True)
class SufficiencyRules:
    """Minimums below which the models are reported as unreliable."""

    min_customers: int = 200
    min_history_days: int = 180
    min_repeat_share: float = 0.05
    max_spend_correlation: float = 0.3


@dataclass(frozen=True)
class AtRiskSettings:
    """Valuable customers who are probably slipping away."""

    min_clv_quantile: float = 0.75  # top quarter by predicted CLV
    max_p_alive: float = 0.5


def months_to_weeks(months: float) -> float:
    """Convert a horizon in months to the model's unit (weeks)."""
    return months * WEEKS_PER_MONTH


def weeks_label(weeks: float, style: NumberStyle = PLAIN) -> str:
    """'52.2 weeks (12.0 months)': the model unit first, months for reading (de: '52,2 weeks (12,0 months)')."""
    return f"{style.number(weeks, 1)} weeks ({style.number(weeks / WEEKS_PER_MONTH, 1)} months)"


def sufficiency_problems(customers: int, history_days: int, repeat_share: float, rules: SufficiencyRules = SufficiencyRules()) -> list[str]:
    """Plain statements of why the data is too thin for the models (empty = enough)."""
    problems = []
    if customers < rules.min_customers:
        problems.append(f"Only {customers:,} customers have bought; the model needs at least {rules.min_customers:,} "
                        "to give reliable numbers. Use a longer period or more data.")
    if history_days < rules.min_history_days:
        problems.append(f"The data covers only {history_days} days; at least {rules.min_history_days} days "
                        "(about 6 months) are needed to see customers come back. Widen the period.")
    if repeat_share < rules.min_repeat_share:
        problems.append(f"Only {repeat_share:.1%} of customers bought more than once (at least "
                        f"{rules.min_repeat_share:.0%} are needed); repeat behaviour cannot be learned from so few.")
    return problems
