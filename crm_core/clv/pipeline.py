"""The CLV pipeline: fit the models on order lines, score every customer, rescore for new settings."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from crm_core import parallel
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.purchase_model import PurchaseModel
from crm_core.clv.data import rfm_summary
from crm_core.clv.fitting import as_float, compress, serial_blas
from crm_core.clv.gamma_gamma import GammaGammaModel
from crm_core.clv.settings import (
    TIME_UNIT,
    WEEKS_PER_MONTH,
    WEEKS_PER_YEAR,
    CLVSettings,
    SufficiencyRules,
)
from crm_core.customers import data_as_of


def discounted_purchases(model: BetaGeoModel, frequency, recency, T, horizon_weeks: float, annual_discount_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases over the horizon, plain and discounted.

    Cash flows are taken monthly (the horizon split into periods of about one
    month, :data:`WEEKS_PER_MONTH`) and discounted to today at the end of each
    period with ``(1 + annual rate) ** (-weeks / WEEKS_PER_YEAR)``.

    Expected purchases are ``N(t; x, T) / (1 + dropout odds)`` (FHL 2005 eq. 10),
    so the discounted sum of monthly increments is computed on ``N`` once per
    distinct (x, T) and divided by each customer's own ``1 + dropout odds``.
    """
    x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
    periods = max(1, math.ceil(horizon_weeks / WEEKS_PER_MONTH - 1e-9))
    edges = np.linspace(0.0, horizon_weeks, periods + 1)
    discount = (1.0 + annual_discount_rate) ** (-edges[1:] / WEEKS_PER_YEAR)
    (ux, uT), _, inverse = compress(x, age)
    # A fit that did not converge can sit where the formulas divide by zero (a = 1); its NaN
    # forecasts are reported as such, so numpy's warnings would only be noise on the console.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if_alive = model.purchases_if_alive(edges[1:, None], ux[None], uT[None])  # (periods, distinct (x, T))
        increments = np.diff(if_alive, axis=0, prepend=0.0)
    alive_weight = model.conditional_probability_alive(x, t_x, age)
    return if_alive[-1][inverse] * alive_weight, (discount @ increments)[inverse] * alive_weight


def customer_lifetime_value(
    bgnbd: BetaGeoModel, gamma_gamma: GammaGammaModel, frequency, recency, T, monetary_value, settings: CLVSettings = CLVSettings()
) -> np.ndarray:
    """CLV over the horizon: discounted expected purchases x expected spend x margin."""
    spend = gamma_gamma.conditional_expected_average_profit(frequency, monetary_value)
    _, discounted = discounted_purchases(bgnbd, frequency, recency, T, settings.horizon_weeks, settings.annual_discount_rate)
    return settings.margin * spend * discounted


# --------------------------------------------------------------------------- pipeline


@dataclass
class CLVResult:
    """Everything the page and the CLI show about one CLV fit."""

    customers: pl.DataFrame  # one row per customer with predictions
    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel | None
    settings: CLVSettings
    calibration_end: dt.date
    history_days: int
    customers_without_purchase: int  # only returns: not modelled
    spend_excluded: int  # repeat customers with non-positive mean spend
    repeat_share: float
    problems: list[str] = field(default_factory=list)  # data too thin / fit failed
    warnings: list[str] = field(default_factory=list)  # model assumptions strained

    @property
    def reliable(self) -> bool:
        return not self.problems

    @property
    def spend_modelled(self) -> bool:
        """False when expected spend (hence CLV) could not be computed."""
        return bool(self.customers["clv"].is_finite().any())

    def clv_total(self) -> float | None:
        """Sum of predicted CLV; None when spend could not be modelled."""
        return float(self.customers["clv"].sum()) if self.spend_modelled else None

    def clv_mean(self) -> float | None:
        """Average predicted CLV per customer; None when spend could not be modelled."""
        return float(self.customers["clv"].mean()) if self.spend_modelled else None

    def to_dict(self) -> dict:
        """JSON-able summary (the CLI payload)."""
        gg = self.gamma_gamma
        clv = self.customers["clv"]
        return {
            "customers": self.customers.height,
            "time_unit": TIME_UNIT,
            "calibration_end": self.calibration_end.isoformat(),
            "history_days": self.history_days,
            "repeat_share": round(self.repeat_share, 4),
            "customers_without_purchase": self.customers_without_purchase,
            "bgnbd": {**_rounded(self.bgnbd.params_), "log_likelihood": round(self.bgnbd.log_likelihood_, 4),
                      "standard_errors": _rounded(self.bgnbd.standard_errors_), "converged": self.bgnbd.converged_,
                      "unique_rows": self.bgnbd.n_unique_rows_},
            "gamma_gamma": None if gg is None else {
                **_rounded(gg.params_), "log_likelihood": round(gg.log_likelihood_, 4),
                "standard_errors": _rounded(gg.standard_errors_), "converged": gg.converged_,
                "customers": gg.n_customers_, "excluded_non_positive_spend": self.spend_excluded,
                "frequency_spend_correlation": round(gg.frequency_spend_correlation_, 4)},
            "clv": {"horizon_weeks": self.settings.horizon_weeks, "margin": self.settings.margin,
                    "annual_discount_rate": self.settings.annual_discount_rate,
                    "total": round(float(clv.sum()), 2), "mean": round(float(clv.mean()), 4),
                    "median": round(float(clv.median()), 4)},
            "reliable": self.reliable,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def _rounded(values: dict[str, float], digits: int = 6) -> dict[str, float | None]:
    return {k: (round(v, digits) if np.isfinite(v) else None) for k, v in values.items()}


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


@serial_blas
def fit_clv(tx: pl.LazyFrame, settings: CLVSettings = CLVSettings(), rules: SufficiencyRules = SufficiencyRules()) -> CLVResult:
    """Fit BG/NBD and Gamma-Gamma up to ``settings.calibration_end`` and score every customer.

    Raises
    ------
    ValueError
        When there is no customer with a purchase to fit on.
    """
    calibration_end = settings.calibration_end or data_as_of(tx)
    everyone = rfm_summary(tx, calibration_end, keep_non_buyers=True).collect()
    summary = everyone.filter(pl.col("first_purchase_date").is_not_null())
    if summary.height == 0:
        raise ValueError("No purchases before the calibration end: nothing to model. Pick a later date or load orders.")
    x, t_x, age = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    monetary = summary["monetary_value"].to_numpy().astype(float)
    spend_ok = (x > 0) & np.isfinite(monetary) & (monetary > 0)
    # The two models are independent: the spend model fits on a worker thread meanwhile.
    spend_fit = (parallel.submit(GammaGammaModel(rules.max_spend_correlation).fit, x[spend_ok], monetary[spend_ok])
                 if spend_ok.sum() >= 2 else None)
    bgnbd = BetaGeoModel().fit(x, t_x, age)
    history_days = int((calibration_end - summary["first_purchase_date"].min()).days)
    repeat_share = float((x > 0).mean())
    problems = sufficiency_problems(summary.height, history_days, repeat_share, rules)
    if not bgnbd.converged_:
        problems.append("The purchase model did not converge (its fit did not settle); treat the forecasts as unreliable.")
    warnings: list[str] = []

    spend_excluded = int(((x > 0) & ~spend_ok).sum())
    if spend_excluded:
        warnings.append(f"{spend_excluded:,} repeat customers with zero or negative net spend (returns) were left out "
                        "of the spend model; they get the average spend.")
    gamma_gamma = None
    if spend_fit is not None:
        gamma_gamma = spend_fit.result()
        warnings += gamma_gamma.warnings_
        if not gamma_gamma.converged_:
            problems.append("The spend model did not converge; treat expected spend as unreliable.")
        if gamma_gamma.params_["q"] <= 1.0:
            problems.append("The spend model found no finite average spend (q <= 1); spend forecasts are not usable.")
    else:
        problems.append("Fewer than two customers made a repeat purchase with positive spend: spend cannot be modelled.")

    if gamma_gamma is not None and gamma_gamma.params_["q"] > 1.0:
        spend = gamma_gamma.conditional_expected_average_profit(x, np.where(spend_ok, monetary, np.nan))
    else:
        spend = np.full_like(x, np.nan)
    customers = summary.with_columns(
        pl.Series("p_alive", bgnbd.conditional_probability_alive(x, t_x, age)),
        pl.Series("expected_spend", spend),
    )
    fitted = CLVResult(
        customers=customers, bgnbd=bgnbd, gamma_gamma=gamma_gamma, settings=settings,
        calibration_end=calibration_end, history_days=history_days,
        customers_without_purchase=everyone.height - summary.height, spend_excluded=spend_excluded,
        repeat_share=repeat_share, problems=problems, warnings=warnings,
    )
    return rescore(fitted, settings)


@serial_blas
def rescore(result: CLVResult, settings: CLVSettings) -> CLVResult:
    """Recompute expected purchases and CLV for a new horizon, margin or discount rate (no refit).

    ``settings.calibration_end`` is ignored: the models stay fitted as they are.
    """
    customers = result.customers
    x, t_x, age = (customers[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    expected, discounted = discounted_purchases(result.bgnbd, x, t_x, age, settings.horizon_weeks, settings.annual_discount_rate)
    spend = customers["expected_spend"].to_numpy()
    customers = customers.with_columns(
        pl.Series("expected_purchases", expected),
        pl.Series("clv", settings.margin * spend * discounted),
    )
    kept = replace(settings, calibration_end=result.settings.calibration_end)
    return replace(result, customers=customers, settings=kept)


def parameter_table(result: CLVResult) -> pl.DataFrame:
    """Model, parameter, estimate, standard error and a plain reading of each fitted parameter."""
    bg = result.bgnbd.params_
    rate = bg["r"] / bg["alpha"]
    dropout = bg["a"] / (bg["a"] + bg["b"])
    rows = [
        ("Purchases (BG/NBD)", "r", "shape of purchase rates across customers"),
        ("Purchases (BG/NBD)", "alpha", f"scale in weeks: while active, customers buy {rate:.3f} times a week on average (r / alpha)"),
        ("Purchases (BG/NBD)", "a", "shape of drop-out chances across customers"),
        ("Purchases (BG/NBD)", "b", f"after each purchase {dropout:.1%} of customers leave for good on average (a / (a + b))"),
    ]
    values = [(bg[name], result.bgnbd.standard_errors_[name]) for _, name, _ in rows]
    gg = result.gamma_gamma
    if gg is not None:
        mean = gg.population_mean_spend()
        spend = f"average spend per purchase p·v / (q − 1) = {mean:,.2f}" if np.isfinite(mean) else "no finite average spend"
        for name, meaning in (("p", "shape of spend per purchase"), ("q", "shape of average spend across customers"),
                              ("v", spend)):
            rows.append(("Spend (Gamma-Gamma)", name, meaning))
            values.append((gg.params_[name], gg.standard_errors_[name]))
    return pl.DataFrame({
        "model": [r[0] for r in rows], "parameter": [r[1] for r in rows],
        "estimate": [v[0] for v in values], "standard_error": [v[1] for v in values],
        "meaning": [r[2] for r in rows],
    }, schema_overrides={"estimate": pl.Float64, "standard_error": pl.Float64})


def suggested_margin(summary: pl.DataFrame) -> float | None:
    """Observed margin share (revenue - cost) / revenue from a customer summary; None without costs."""
    if "margin" not in summary.columns:
        return None
    revenue = float(summary["revenue"].sum())
    if revenue <= 0:
        return None
    return float(min(max(summary["margin"].sum() / revenue, 0.0), 1.0))

