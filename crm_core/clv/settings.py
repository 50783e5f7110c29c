"""Units and the settings a user chooses for CLV forecasts (weeks are the model unit)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    """

    horizon_weeks: float = 52.0
    margin: float = 1.0
    annual_discount_rate: float = 0.10
    calibration_end: dt.date | None = None


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


def weeks_label(weeks: float) -> str:
    """'52.2 weeks (12.0 months)': the model unit first, months for reading."""
    return f"{weeks:.1f} weeks ({weeks / WEEKS_PER_MONTH:.1f} months)"

