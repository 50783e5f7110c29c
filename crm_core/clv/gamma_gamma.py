"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005; Fader & Hardie 2013)."""
from __future__ import annotations

import numpy as np

from crm_core.clv.fitting import (
    ArrayLike,
    FittedModel,
    Likelihood,
    as_float,
    maximise,
    serial_blas,
    value_codes,
)
from crm_core.clv.special import digamma, gammaln, trigamma


class GammaGammaModel(FittedModel):
    """Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005).

    Fit only on customers with at least one repeat purchase and a positive mean
    repeat spend; the model assumes spend is independent of purchase frequency,
    so :attr:`frequency_spend_correlation_` is checked on fit.
    """

    PARAMS = ("p", "q", "v")

    def __init__(self, max_correlation: float = 0.3) -> None:
        super().__init__()
        self.max_correlation = max_correlation
        self.frequency_spend_correlation_: float = float("nan")
        self.warnings_: list[str] = []

    @serial_blas
    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Fit on repeat customers: frequency > 0 and mean repeat spend > 0."""
        x, m = as_float(frequency), as_float(monetary_value)
        if len(x) < 2:
            raise ValueError("the spend model needs at least two customers with repeat purchases")
        if np.any(x <= 0) or not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise ValueError("fit the spend model only on frequency > 0 and positive mean spend")
        self.n_customers_ = len(x)
        self.frequency_spend_correlation_ = float(np.corrcoef(x, m)[0, 1]) if np.std(x) > 0 and np.std(m) > 0 else 0.0
        self.warnings_ = []
        if abs(self.frequency_spend_correlation_) > self.max_correlation:
            self.warnings_.append(
                f"Spend per purchase and number of purchases are correlated "
                f"({self.frequency_spend_correlation_:+.2f}); the spend model assumes they are not, "
                "so expected spend is less reliable."
            )
        fit = maximise(GammaGammaLikelihood(x, m), gamma_gamma_starts(x, m), scale=float(len(x)))
        self._store(fit)
        return self

    def population_mean_spend(self) -> float:
        """E[spend per transaction] = p v / (q - 1) (infinite when q <= 1)."""
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        return p * v / (q - 1.0) if q > 1.0 else float("inf")

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike | None = None
    ) -> np.ndarray:
        """E[spend per transaction | x, mean spend]; the population mean when x = 0 or spend unusable."""
        if not self.params_:
            raise RuntimeError("fit the model first")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        x = as_float(frequency)
        m = np.full_like(x, np.nan) if monetary_value is None else as_float(monetary_value)
        usable = (x > 0) & np.isfinite(m) & (m > 0)
        xs, ms = np.where(usable, x, 0.0), np.where(usable, m, 0.0)
        individual = p * (v + xs * ms) / (p * xs + q - 1.0)
        return np.where(usable, individual, self.population_mean_spend())


class GammaGammaLikelihood(Likelihood):
    """Negative log-likelihood of the Gamma-Gamma spend model (log-parameters).

    Per customer: lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(v + x m). Gamma-function terms depend on x alone and are
    evaluated once per distinct x. Its likelihood is flat along a ridge in
    (p, v), so the fit uses Newton on the exact Hessian: it lands on the
    optimum itself, not anywhere on the ridge where a gradient method stops.
    """

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        x, m = np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(m, dtype=float)
        self.x, self.xm = x, x * m
        self.distinct_x, x_code = value_codes(x)
        self.count_by_x = np.bincount(x_code, minlength=len(self.distinct_x)).astype(float)
        self.n = float(len(x))
        log_m = np.log(m)
        self.sum_log_m, self.sum_x_log_m, self.sum_x_log_x = float(log_m.sum()), float(x @ log_m), float(x @ np.log(x))

    def _evaluate(self, log_params: np.ndarray, hessian: bool):
        p, q, v = theta = np.exp(log_params)
        x, n, dx, counts = self.x, self.n, self.distinct_x, self.count_by_x
        px = p * dx
        log_v_xm = np.log(v + self.xm)
        x_log_v_xm, sum_log_v_xm = x @ log_v_xm, log_v_xm.sum()
        ll = (counts @ (gammaln(px + q) - gammaln(px)) - n * gammaln(q) + n * q * np.log(v)
              + p * self.sum_x_log_m - self.sum_log_m + p * self.sum_x_log_x - p * x_log_v_xm - q * sum_log_v_xm)
        psi_pxq = digamma(px + q)
        inv_v_xm = 1.0 / (v + self.xm)
        weight = p * x + q
        g = np.array([
            counts @ (dx * (psi_pxq - digamma(px))) + self.sum_x_log_m + self.sum_x_log_x - x_log_v_xm,
            counts @ psi_pxq - n * digamma(q) + n * np.log(v) - sum_log_v_xm,
            n * q / v - weight @ inv_v_xm,
        ])
        h = None
        if hessian:
            tri_pxq = trigamma(px + q)
            h = np.zeros((3, 3))
            h[0, 0] = counts @ (dx**2 * (tri_pxq - trigamma(px)))
            h[0, 1] = counts @ (dx * tri_pxq)
            h[0, 2] = -(x @ inv_v_xm)
            h[1, 1] = counts @ tri_pxq - n * trigamma(q)
            h[1, 2] = n / v - inv_v_xm.sum()
            h[2, 2] = -n * q / v**2 + weight @ inv_v_xm**2
        return (-float(ll), *self._to_log_parameters(theta, g, h))



def gamma_gamma_starts(x: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
    """Start from the spread of mean spends across customers (then all ones)."""
    mean, cv2 = float(m.mean()), float(m.var() / max(m.mean() ** 2, 1e-12))
    q0 = float(np.clip(2.0 + 1.0 / max(cv2, 1e-3), 2.5, 50.0))
    p0 = 2.0
    v0 = mean * (q0 - 1.0) / p0
    return [np.log([p0, q0, v0]), np.zeros(3), np.log([1.0, 2.0, max(mean, 1e-3)])]

