"""Customer lifetime value: BG/NBD purchase model, Gamma-Gamma spend model, CLV.

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

Models follow Fader, Hardie & Lee (2005) "Counting your customers the easy way"
and Fader, Hardie & Lee (2005) "RFM and CLV" / Fader & Hardie (2013) "The
Gamma-Gamma model of monetary value". Both are fitted by maximum likelihood
(L-BFGS-B on log-parameters with analytic gradients); BG/NBD is fitted on the
compressed sufficient statistics (unique ``(x, t_x, T)`` rows with weights).
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import threading
from dataclasses import dataclass, field, replace
from typing import Callable, TypeVar

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1, polygamma

from crm_core import parallel
from crm_core.customers import data_as_of, filter_period, purchase_summary, summarize
from crm_core.schema import C

DAYS_PER_WEEK = 7.0
WEEKS_PER_YEAR = 365.25 / DAYS_PER_WEEK
WEEKS_PER_MONTH = WEEKS_PER_YEAR / 12.0
TIME_UNIT = "week"

ArrayLike = np.ndarray | list[float] | pl.Series
F = TypeVar("F", bound=Callable)


_blas = threading.local()  # depth of nested _serial_blas calls in this thread


@functools.cache
def _blas_controller():
    """One threadpoolctl controller per process (finding the libraries takes milliseconds)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController()


def _serial_blas(func: F) -> F:
    """Run ``func`` with single-threaded BLAS.

    The fits are many dot products of ~10^5 values: OpenBLAS splits each over
    threads that spin while waiting, which on a busy machine costs ten times
    the arithmetic. One thread is faster for vectors this size. Nested calls
    reuse the outer limit.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        controller = _blas_controller()
        if controller is None or getattr(_blas, "depth", 0):
            return func(*args, **kwargs)
        _blas.depth = 1
        try:
            with controller.limit(limits=1, user_api="blas"):
                return func(*args, **kwargs)
        finally:
            _blas.depth = 0

    return wrapper  # type: ignore[return-value]


_PARALLEL_MIN = 20_000  # values per thread below which splitting costs more than it saves


def _hyp2f1(a, b, c, z) -> np.ndarray:
    """``scipy.special.hyp2f1`` with broadcasting, split over threads for large inputs.

    The Gauss hypergeometric function is the costliest step of scoring (about
    100 ns a value); the ufunc releases the GIL, so chunks run in parallel.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    shape = arrays[0].shape
    a, b, c, z = (np.ravel(v) for v in arrays)
    chunks = max(1, min(parallel.WORKERS, len(z) // _PARALLEL_MIN))
    bounds = np.linspace(0, len(z), chunks + 1).astype(int)
    parts = parallel.map_calls(lambda lo, hi: hyp2f1(a[lo:hi], b[lo:hi], c[lo:hi], z[lo:hi]), zip(bounds[:-1], bounds[1:]))
    return np.concatenate(parts).reshape(shape)


# --------------------------------------------------------------------------- settings


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


# --------------------------------------------------------------------------- data


def rfm_summary(tx: pl.LazyFrame, calibration_end: dt.date | None = None, keep_non_buyers: bool = False) -> pl.LazyFrame:
    """Per-customer sufficient statistics for BG/NBD and Gamma-Gamma, in weeks.

    Built on :func:`crm_core.customers.purchase_summary` (rows after
    ``calibration_end`` are ignored). Customers with no purchase line (only
    returns) are left out unless ``keep_non_buyers`` (their statistics are null).

    Returns
    -------
    pl.LazyFrame
        customer_id, first_purchase_date, last_purchase_date, frequency (x =
        distinct purchase days - 1), recency (t_x = (last - first purchase) / 7),
        T ((calibration_end - first purchase) / 7), monetary_value (mean net
        spend per repeat day, null when x = 0), revenue, purchase_days.
    """
    if calibration_end is None:
        calibration_end = data_as_of(tx)
    first, last = pl.col("first_purchase_date"), pl.col("last_purchase_date")
    frequency = pl.col("purchase_days") - 1
    summary = purchase_summary(tx, as_of=calibration_end)
    if not keep_non_buyers:
        summary = summary.filter(first.is_not_null())
    return (
        summary
        .select(
            C.CUSTOMER_ID,
            "first_purchase_date",
            "last_purchase_date",
            frequency.alias("frequency"),
            ((last - first).dt.total_days() / DAYS_PER_WEEK).alias("recency"),
            ((pl.lit(calibration_end) - first).dt.total_days() / DAYS_PER_WEEK).alias("T"),
            pl.when(frequency > 0)
            .then(pl.col("repeat_amount") / frequency)
            .alias("monetary_value"),
            "revenue",
            "purchase_days",
        )
    )


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's position among them."""
    distinct, codes = np.unique(values, return_inverse=True)
    return distinct, codes.ravel()


@dataclass
class _Compressed:
    """Unique rows of some columns: per column its sorted distinct values and each
    unique row's code into them, the rows' counts and (optionally) the inverse index."""

    distinct: list[np.ndarray]
    codes: list[np.ndarray]
    counts: np.ndarray
    inverse: np.ndarray | None

    @property
    def columns(self) -> list[np.ndarray]:
        return [values[codes] for values, codes in zip(self.distinct, self.codes)]


def _compress(*columns: np.ndarray, inverse: bool = True) -> _Compressed:
    arrays = [np.ascontiguousarray(c, dtype=float) for c in columns]
    n = len(arrays[0])
    coded = [_codes(array) for array in arrays]
    distinct = [values for values, _ in coded]
    shape = tuple(len(values) for values in distinct)
    key = np.zeros(n, dtype=np.int64)
    for values, codes in coded:
        key = key * len(values) + codes
    key_range = math.prod(shape)
    rows = None
    if key_range <= 4 * n + 1024:
        counts = np.bincount(key, minlength=key_range)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
        if inverse:
            position = np.zeros(key_range, dtype=np.int64)
            position[keys] = np.arange(len(keys))
            rows = position[key]
    elif inverse:
        keys, rows, counts = np.unique(key, return_inverse=True, return_counts=True)
        rows = rows.ravel()
    else:
        keys, counts = np.unique(key, return_counts=True)
    codes = list(np.unravel_index(keys, shape)) if n else [np.zeros(0, dtype=np.int64) for _ in arrays]
    return _Compressed(distinct, codes, counts.astype(float), rows)


def compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of the given columns, their counts and the inverse index.

    Each column is coded by its sorted distinct values and the codes combined
    into one integer key, so unique rows come out sorted by the columns (the
    same order whatever the input order). When the key range is small (few
    distinct values per column) rows are counted with ``bincount`` in linear
    time; otherwise the keys are sorted.

    Returns
    -------
    (unique columns, counts, inverse) with ``unique[k][inverse] == columns[k]``.
    """
    result = _compress(*columns)
    return result.columns, result.counts, result.inverse


def _as_float(values: ArrayLike) -> np.ndarray:
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).to_numpy()
    return np.asarray(values, dtype=float)


# --------------------------------------------------------------------------- fitting helpers


@dataclass
class _Fit:
    params: np.ndarray
    log_likelihood: float
    converged: bool
    message: str
    iterations: int
    standard_errors: np.ndarray


STATIONARY = 1e-5  # largest |d(-LL/n)/d log(parameter)| accepted as converged


def _maximise(nll: "_Likelihood", starts: list[np.ndarray], scale: float, newton: bool = True) -> _Fit:
    """Minimise ``nll/scale`` over log-parameters; keep the best of the starts.

    A trust-region Newton method on the exact Hessian runs first from the first
    start (a few iterations, each about the cost of two gradients); L-BFGS-B from
    every start is the fallback when it does not reach a stationary point inside
    the bounds (``newton=False``: L-BFGS-B only). Standard errors come from the
    inverse Hessian at the optimum, taken back to the natural scale by the delta method.
    """
    def scaled(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = nll(log_params)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(log_params)
        return value / scale, grad / scale

    best = _newton(nll, scale, starts[0]) if newton else None
    if best is None:
        for start in starts:
            result = minimize(
                scaled, start, jac=True, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start),
                options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 20},
            )
            if best is None or result.fun < best.fun:
                best = result
            if _stationary(result.jac):
                break
    log_params = best.x
    params = np.exp(log_params)
    # Converged = a stationary point (gradient per customer ~ 0) inside the bounds. The optimiser's
    # own flag is not required: at the optimum it may stop with "ABNORMAL" when the line search
    # cannot improve f beyond rounding, which is convergence, not failure.
    converged = _stationary(best.jac) and _interior(log_params)
    errors = _standard_errors(nll.hessian(log_params), params)
    return _Fit(params, -float(best.fun) * scale, converged, str(best.message), int(best.nit), errors)


def _stationary(gradient: np.ndarray) -> bool:
    return bool(np.max(np.abs(gradient)) < STATIONARY)


def _interior(log_params: np.ndarray) -> bool:
    return bool(np.all(np.abs(log_params) < 11.9))


def _newton(nll: "_Likelihood", scale: float, start: np.ndarray):
    """Trust-region Newton (``trust-exact``); None unless it ends stationary, finite and in bounds."""
    def value_and_gradient(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = nll.with_hessian(log_params)
        return value / scale, grad / scale

    try:
        with np.errstate(all="ignore"):
            result = minimize(value_and_gradient, start, jac=True, method="trust-exact",
                              hess=lambda log_params: nll.with_hessian(log_params)[2] / scale,
                              options={"gtol": 1e-10, "maxiter": 200})
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not (np.isfinite(result.fun) and np.all(np.isfinite(result.x))):
        return None
    if not (_stationary(result.jac) and _interior(result.x)):
        return None
    return result


def _standard_errors(hessian: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Natural-scale standard errors from the NLL Hessian in log-parameters (delta method)."""
    hessian = (hessian + hessian.T) / 2
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return np.full(len(params), np.nan)
    variances = np.diag(covariance)
    with np.errstate(invalid="ignore"):
        return np.where(variances > 0, params * np.sqrt(np.abs(variances)), np.nan)


# --------------------------------------------------------------------------- BG/NBD


class _FittedModel:
    """What every fitted model reports: parameters, standard errors, log-likelihood, convergence."""

    PARAMS: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.standard_errors_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")
        self.converged_: bool = False
        self.message_: str = ""
        self.iterations_: int = 0
        self.n_customers_: int = 0

    def _store(self, fit: _Fit) -> None:
        self.params_ = dict(zip(self.PARAMS, map(float, fit.params)))
        self.standard_errors_ = dict(zip(self.PARAMS, map(float, fit.standard_errors)))
        self.log_likelihood_ = fit.log_likelihood
        self.converged_ = fit.converged
        self.message_ = fit.message
        self.iterations_ = fit.iterations


class BetaGeoModel(_FittedModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005), time in weeks.

    Examples
    --------
    >>> model = BetaGeoModel().fit(frequency, recency, T)   # doctest: +SKIP
    >>> model.params_                                       # doctest: +SKIP
    {'r': 0.2426, 'alpha': 4.4136, 'a': 0.7929, 'b': 2.4259}
    """

    PARAMS = ("r", "alpha", "a", "b")

    def __init__(self) -> None:
        super().__init__()
        self.n_unique_rows_: int = 0

    # ---- fit
    @_serial_blas
    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> "BetaGeoModel":
        """Maximum-likelihood fit on (x, t_x, T) per customer (or per weighted row)."""
        x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
        _check_rfm(x, t_x, age)
        if weights is None:
            rows = _compress(x, t_x, age, inverse=False)
            (x, t_x, age), counts = rows.columns, rows.counts
            nll = _BGNBDLikelihood(x, t_x, age, counts, coded=rows)
        else:
            counts = _as_float(weights)
            nll = _BGNBDLikelihood(x, t_x, age, counts)
        self.n_customers_ = int(round(counts.sum()))
        self.n_unique_rows_ = len(x)
        fit = _maximise(nll, _bgnbd_starts(x, age, counts), scale=counts.sum())
        self._store(fit)
        return self

    def _p(self) -> tuple[float, float, float, float]:
        if not self.params_:
            raise RuntimeError("fit the model first")
        return self.params_["r"], self.params_["alpha"], self.params_["a"], self.params_["b"]

    # ---- predictions
    def conditional_probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still a customer at T | x, t_x, T); 1 for customers without repeat purchases."""
        r, alpha, a, b = self._p()
        x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
        return 1.0 / (1.0 + _dropout_odds(x, t_x, age, r, alpha, a, b))

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in (T, T + t] given the customer's history (FHL 2005 eq. 10)."""
        r, alpha, a, b = self._p()
        x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
        return self._purchases_if_alive(t, x, age) / (1.0 + _dropout_odds(x, t_x, age, r, alpha, a, b))

    def _purchases_if_alive(self, t, x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Numerator of eq. 10: depends on (x, T) only, not on recency."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        z = t / (alpha + age + t)
        ratio = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
        return (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * _hyp2f1(r + x, b + x, a + b + x - 1.0, z))

    def expected_number_of_purchases_up_to_time(self, t: float | ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a new customer (FHL 2005 eq. 9)."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        ratio = np.exp(r * (np.log(alpha) - np.log(alpha + t)))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - ratio * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))


def _check_rfm(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> None:
    if len(x) == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be whole numbers >= 0")
    if np.any(t_x < 0) or np.any(t_x > age + 1e-9):
        raise ValueError("recency must lie between 0 and T")


def _dropout_odds(x, t_x, age, r, alpha, a, b) -> np.ndarray:
    """a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, else 0."""
    repeat = x > 0
    safe = np.where(repeat, b + x - 1.0, 1.0)
    log_odds = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    return np.where(repeat, np.exp(np.minimum(log_odds, 700.0)), 0.0)


def _softplus_and_sigmoid(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(1 + e^d)`` and ``1 / (1 + e^-d)`` without overflow, for any d.

    Written out because ``np.logaddexp`` and ``np.where`` are several times
    slower on these arrays, and this pair is the inner loop of the BG/NBD fit.
    """
    softplus = np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))
    return softplus, np.exp(d - softplus)


class _Likelihood:
    """A negative log-likelihood in log-parameters: call it for (value, gradient), ``hessian`` for curvature.

    Subclasses implement ``_evaluate(log_params, hessian)`` returning (NLL, gradient,
    Hessian or zeros). :meth:`with_hessian` computes all three together and keeps the
    last point: Newton asks for the Hessian and then the value at each step, and they
    share most of the work.
    """

    _last: tuple[bytes, tuple[float, np.ndarray, np.ndarray]] | None = None

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = self._evaluate(log_params, hessian=False)
        return value, grad

    def hessian(self, log_params: np.ndarray) -> np.ndarray:
        return self.with_hessian(log_params)[2]

    def with_hessian(self, log_params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        key = np.asarray(log_params, dtype=float).tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, self._evaluate(log_params, hessian=True))
        return self._last[1]

    def _evaluate(self, log_params: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def _to_log_parameters(theta: np.ndarray, grad: np.ndarray, h: np.ndarray | None):
        """(NLL, gradient, Hessian) in log-parameters from the LL's natural-scale gradient and
        upper-triangle Hessian: d/dlog(p) = p d/dp."""
        grad = grad * theta
        if h is None:
            return -grad, np.zeros((len(theta), len(theta)))
        h = np.triu(h) + np.triu(h, 1).T
        return -grad, -(h * np.outer(theta, theta) + np.diag(grad))


class _BGNBDLikelihood(_Likelihood):
    """Negative log-likelihood of BG/NBD, its gradient and Hessian in log-parameters (weighted rows).

    Per customer (FHL 2005, eq. 6): ``LL = A1 + A2 + log(exp(A3) + [x>0] exp(A4))`` with
    A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x),
    A3 = -(r+x) ln(alpha+T), A4 = ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x).

    For repeat customers ``log(exp(A3) + exp(A4)) = A3 + softplus(d)`` with
    d = A4 - A3; s = sigmoid(d) is the weight of the "left after t_x" branch,
    and the second derivatives are ``s (1 - s) d' d'^T + s d'' + A3''``.

    For speed, terms that depend on x alone are evaluated once per distinct x
    and weighted by the rows having it; ln(alpha + T) and ln(alpha + t_x) once
    per distinct T and t_x; sums of (r + x) * v are split into r * sum(w v) +
    sum(w x v); customers without repeat purchases (A4 absent, t_x = 0) only
    need their T.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, w: np.ndarray,
                 coded: _Compressed | None = None) -> None:
        """``coded``: the rows as :func:`_compress` gave them, to reuse its value codes."""
        x, t_x, age, w = (np.ascontiguousarray(v, dtype=float) for v in (x, t_x, age, w))
        if coded is None:  # rows as given: code each column by its distinct values
            (self.distinct_x, x_code), (distinct_tx, tx_code), (distinct_T, T_code) = (_codes(v) for v in (x, t_x, age))
        else:
            (self.distinct_x, distinct_tx, distinct_T), (x_code, tx_code, T_code) = coded.distinct, coded.codes
        self.weight_by_x = np.bincount(x_code, weights=w, minlength=len(self.distinct_x))
        zero = x == 0
        self.age0, self.w0 = age[zero], w[zero]
        repeat = ~zero
        self.xr, self.wr = x[repeat], w[repeat]
        self.wx = self.wr * self.xr
        self.xr_code = x_code[repeat]
        self.distinct_T, self.T_code = distinct_T, T_code[repeat]
        self.distinct_tx, self.tx_code = distinct_tx, tx_code[repeat]
        self.n = float(w.sum())

    def _evaluate(self, log_params: np.ndarray, hessian: bool):
        r, alpha, a, b = theta = np.exp(log_params)
        n, dx, wx_ = self.n, self.distinct_x, self.weight_by_x
        # Terms in x alone, summed over rows through their weight per distinct x.
        ll = wx_ @ (gammaln(r + dx) + gammaln(b + dx) - gammaln(a + b + dx))
        ll += n * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
        psi_abx = digamma(a + b + dx)
        g = np.array([
            wx_ @ digamma(r + dx) + n * (np.log(alpha) - digamma(r)),
            n * r / alpha,
            n * digamma(a + b) - wx_ @ psi_abx,
            wx_ @ (digamma(b + dx) - psi_abx) + n * (digamma(a + b) - digamma(b)),
        ])
        h = np.zeros((4, 4))
        if hessian:
            tri_abx = polygamma(1, a + b + dx)
            h_ab = n * polygamma(1, a + b) - wx_ @ tri_abx
            h[0, 0] = wx_ @ polygamma(1, r + dx) - n * polygamma(1, r)
            h[0, 1] = n / alpha
            h[1, 1] = -n * r / alpha**2
            h[2, 2] = h[2, 3] = h_ab
            h[3, 3] = h_ab + wx_ @ polygamma(1, b + dx) - n * polygamma(1, b)
        # No repeat purchase: LL adds -r ln(alpha + T).
        log_alpha_T0 = np.log(alpha + self.age0)
        inv_T0 = 1.0 / (alpha + self.age0)
        ll -= r * (self.w0 @ log_alpha_T0)
        g[0] -= self.w0 @ log_alpha_T0
        g[1] -= r * (self.w0 @ inv_T0)
        if hessian:
            h[0, 1] -= self.w0 @ inv_T0
            h[1, 1] += r * (self.w0 @ inv_T0**2)
        if len(self.xr):
            ll += self._repeat_terms(r, alpha, a, b, g, h if hessian else None)
        return (-float(ll), *self._to_log_parameters(theta, g, h if hessian else None))

    def _repeat_terms(self, r, alpha, a, b, g: np.ndarray, h: np.ndarray | None) -> float:
        """LL of repeat customers (the mixture of "alive at T" and "left after t_x"); adds
        their gradient into ``g`` and, when given, their Hessian into ``h`` (upper triangle)."""
        wr, wx, xr = self.wr, self.wx, self.xr
        log_T = np.log(alpha + self.distinct_T)[self.T_code]
        log_tx = np.log(alpha + self.distinct_tx)[self.tx_code]
        inv_T = (1.0 / (alpha + self.distinct_T))[self.T_code]
        inv_tx = (1.0 / (alpha + self.distinct_tx))[self.tx_code]
        b_x1 = np.where(self.distinct_x > 0, b + self.distinct_x - 1.0, 1.0)
        log_b_x1, inv_b_x1 = np.log(b_x1)[self.xr_code], (1.0 / b_x1)[self.xr_code]
        log_ratio = log_tx - log_T  # ln((alpha + t_x) / (alpha + T)) <= 0
        rx = r + xr
        softplus, left = _softplus_and_sigmoid(np.log(a) - log_b_x1 - rx * log_ratio)
        ll = wr @ softplus - r * (wr @ log_T) - wx @ log_T
        inv_gap = inv_tx - inv_T
        inv_mix = inv_T + left * inv_gap
        g[0] -= wr @ (log_T + left * log_ratio)
        g[1] -= r * (wr @ inv_mix) + wx @ inv_mix
        g[2] += (wr @ left) / a
        g[3] -= wr @ (left * inv_b_x1)
        if h is not None:
            # d' = (-log_ratio, -(r+x) inv_gap, 1/a, -inv_b_x1); curvature weight s (1 - s).
            curv = wr * left * (1.0 - left)
            d_alpha = rx * inv_gap
            curv_L, curv_A, curv_B = curv * log_ratio, curv * d_alpha, curv * inv_b_x1
            h[0, 0] += curv_L @ log_ratio
            h[0, 1] += curv_L @ d_alpha - wr @ (left * inv_gap) - wr @ inv_T
            h[0, 2] -= curv_L.sum() / a
            h[0, 3] += curv_L @ inv_b_x1
            h[1, 1] += curv_A @ d_alpha + (wr * rx) @ (left * (inv_tx**2 - inv_T**2) + inv_T**2)
            h[1, 2] -= curv_A.sum() / a
            h[1, 3] += curv_A @ inv_b_x1
            h[2, 2] += (curv.sum() - wr @ left) / a**2
            h[2, 3] -= curv_B.sum() / a
            h[3, 3] += curv_B @ inv_b_x1 + (wr * left) @ inv_b_x1**2
        return ll


def _bgnbd_objective(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, w: np.ndarray) -> _BGNBDLikelihood:
    """The BG/NBD likelihood on weighted rows: call it for (NLL, gradient); ``.hessian`` for curvature."""
    return _BGNBDLikelihood(x, t_x, age, w)


def _bgnbd_starts(x: np.ndarray, age: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Moment-based start, then the conventional all-ones start as fallback."""
    rate = max(float(w @ x) / max(float(w @ age), 1e-9), 1e-6)  # repeat purchases per week
    repeat_share = float(w @ (x > 0)) / float(w.sum())
    r0 = 0.5
    alpha0 = r0 / (rate / max(repeat_share, 0.05))  # rate among the active
    a0, b0 = 1.0, 1.0 / max(repeat_share, 0.05)
    return [np.log([r0, alpha0, a0, b0]), np.zeros(4), np.log([1.0, 10.0, 0.5, 5.0])]


# --------------------------------------------------------------------------- Gamma-Gamma


class GammaGammaModel(_FittedModel):
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

    @_serial_blas
    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> "GammaGammaModel":
        """Fit on repeat customers: frequency > 0 and mean repeat spend > 0."""
        x, m = _as_float(frequency), _as_float(monetary_value)
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
        fit = _maximise(_GammaGammaLikelihood(x, m), _gamma_gamma_starts(x, m), scale=float(len(x)))
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
        x = _as_float(frequency)
        m = np.full_like(x, np.nan) if monetary_value is None else _as_float(monetary_value)
        usable = (x > 0) & np.isfinite(m) & (m > 0)
        xs, ms = np.where(usable, x, 0.0), np.where(usable, m, 0.0)
        individual = p * (v + xs * ms) / (p * xs + q - 1.0)
        return np.where(usable, individual, self.population_mean_spend())


class _GammaGammaLikelihood(_Likelihood):
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
        self.distinct_x, x_code = _codes(x)
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
            tri_pxq = polygamma(1, px + q)
            h = np.zeros((3, 3))
            h[0, 0] = counts @ (dx**2 * (tri_pxq - polygamma(1, px)))
            h[0, 1] = counts @ (dx * tri_pxq)
            h[0, 2] = -(x @ inv_v_xm)
            h[1, 1] = counts @ tri_pxq - n * polygamma(1, q)
            h[1, 2] = n / v - inv_v_xm.sum()
            h[2, 2] = -n * q / v**2 + weight @ inv_v_xm**2
        return (-float(ll), *self._to_log_parameters(theta, g, h))


def _gamma_gamma_objective(x: np.ndarray, m: np.ndarray) -> _GammaGammaLikelihood:
    """The Gamma-Gamma likelihood: call it for (NLL, gradient); ``.hessian`` for curvature."""
    return _GammaGammaLikelihood(x, m)


def _gamma_gamma_starts(x: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
    """Start from the spread of mean spends across customers (then all ones)."""
    mean, cv2 = float(m.mean()), float(m.var() / max(m.mean() ** 2, 1e-12))
    q0 = float(np.clip(2.0 + 1.0 / max(cv2, 1e-3), 2.5, 50.0))
    p0 = 2.0
    v0 = mean * (q0 - 1.0) / p0
    return [np.log([p0, q0, v0]), np.zeros(3), np.log([1.0, 2.0, max(mean, 1e-3)])]


# --------------------------------------------------------------------------- CLV


def _on_unique(func: Callable[..., np.ndarray], *columns: np.ndarray) -> np.ndarray:
    """Evaluate ``func`` once per unique row of ``columns`` and broadcast back."""
    unique, _, inverse = compress(*columns)
    return func(*unique)[..., inverse]


@_serial_blas
def expected_purchases_path(model: BetaGeoModel, times: np.ndarray, frequency, recency, T) -> np.ndarray:
    """Conditional expected purchases at each of ``times`` (weeks): shape (len(times), n).

    The hypergeometric part depends on (x, T) only, so it is evaluated once per
    distinct (x, T) and divided by each customer's own ``1 + dropout odds``.
    """
    x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
    times = np.asarray(times, dtype=float)
    (ux, uT), _, inverse = compress(x, age)
    numerator = model._purchases_if_alive(times[:, None], ux[None], uT[None])[:, inverse]
    r, alpha, a, b = model._p()
    return numerator / (1.0 + _dropout_odds(x, t_x, age, r, alpha, a, b))[None]


def discounted_purchases(model: BetaGeoModel, frequency, recency, T, horizon_weeks: float, annual_discount_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases over the horizon, plain and discounted.

    Cash flows are taken monthly (the horizon split into periods of about one
    month, :data:`WEEKS_PER_MONTH`) and discounted to today at the end of each
    period with ``(1 + annual rate) ** (-weeks / WEEKS_PER_YEAR)``.

    Expected purchases are ``N(t; x, T) / (1 + dropout odds)`` (FHL 2005 eq. 10),
    so the discounted sum of monthly increments is computed on ``N`` once per
    distinct (x, T) and divided by each customer's own ``1 + dropout odds``.
    """
    x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
    periods = max(1, math.ceil(horizon_weeks / WEEKS_PER_MONTH - 1e-9))
    edges = np.linspace(0.0, horizon_weeks, periods + 1)
    discount = (1.0 + annual_discount_rate) ** (-edges[1:] / WEEKS_PER_YEAR)
    (ux, uT), _, inverse = compress(x, age)
    # A fit that did not converge can sit where the formulas divide by zero (a = 1); its NaN
    # forecasts are reported as such, so numpy's warnings would only be noise on the console.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if_alive = model._purchases_if_alive(edges[1:, None], ux[None], uT[None])  # (periods, distinct (x, T))
        increments = np.diff(if_alive, axis=0, prepend=0.0)
    r, alpha, a, b = model._p()
    alive_weight = 1.0 / (1.0 + _dropout_odds(x, t_x, age, r, alpha, a, b))
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


@_serial_blas
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


@_serial_blas
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


# --------------------------------------------------------------------------- validation

FREQUENCY_CAP = 7  # calibration frequencies 0..6 and "7+"
MIN_HOLDOUT_WEEKS = 4.0


@dataclass
class HoldoutValidation:
    """Actual vs. predicted repeat purchases after the calibration end."""

    calibration_end: dt.date
    holdout_end: dt.date
    holdout_weeks: float
    model: BetaGeoModel
    customers: int
    by_frequency: pl.DataFrame  # frequency_group, customers, actual, predicted (means per customer)
    weekly: pl.DataFrame  # week, week_end, actual, predicted (cumulative repeat purchases), holdout
    mae: float  # mean absolute error per customer (purchases)
    total_actual: float
    total_predicted: float
    problems: list[str] = field(default_factory=list)

    @property
    def total_error_pct(self) -> float:
        """(predicted - actual) / actual in percent; NaN without holdout purchases."""
        return 100.0 * (self.total_predicted - self.total_actual) / self.total_actual if self.total_actual else float("nan")

    def to_dict(self) -> dict:
        return {
            "calibration_end": self.calibration_end.isoformat(), "holdout_end": self.holdout_end.isoformat(),
            "holdout_weeks": round(self.holdout_weeks, 4), "customers": self.customers,
            "mae": round(self.mae, 4), "total_actual": self.total_actual,
            "total_predicted": round(self.total_predicted, 2), "total_error_pct": round(self.total_error_pct, 2),
            "problems": self.problems,
        }


@_serial_blas
def validate_holdout(
    tx: pl.LazyFrame, calibration_end: dt.date, holdout_end: dt.date | None = None, rules: SufficiencyRules = SufficiencyRules()
) -> HoldoutValidation:
    """Fit on orders up to ``calibration_end`` and compare with what happened next.

    Only customers whose first purchase is in the calibration period are
    tracked; their purchase days in ``(calibration_end, holdout_end]`` are the
    actual holdout repeat purchases.
    """
    holdout_end = holdout_end or data_as_of(tx)
    if holdout_end <= calibration_end:
        raise ValueError("The holdout needs orders after the calibration end: pick an earlier split date.")
    calibration = rfm_summary(tx, calibration_end).collect()
    if calibration.height == 0:
        raise ValueError("No purchases before the split date: pick a later split date.")
    holdout_weeks = (holdout_end - calibration_end).days / DAYS_PER_WEEK
    actual = (
        summarize(filter_period(tx, calibration_end + dt.timedelta(days=1), holdout_end), as_of=holdout_end)
        .select(C.CUSTOMER_ID, pl.col("purchase_days").alias("holdout_purchases"))
    )
    frame = (
        calibration.lazy().join(actual, on=C.CUSTOMER_ID, how="left")
        .with_columns(pl.col("holdout_purchases").fill_null(0)).collect()
    )
    x, t_x, age = (frame[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    model = BetaGeoModel().fit(x, t_x, age)
    predicted = _on_unique(
        lambda ux, ut, uT: model.conditional_expected_number_of_purchases_up_to_time(holdout_weeks, ux, ut, uT), x, t_x, age
    )
    frame = frame.with_columns(pl.Series("predicted", predicted))
    errors = np.abs(frame["holdout_purchases"].to_numpy() - predicted)

    history_days = int((calibration_end - calibration["first_purchase_date"].min()).days)
    problems = sufficiency_problems(calibration.height, history_days, float((x > 0).mean()), rules)
    if holdout_weeks < MIN_HOLDOUT_WEEKS:
        problems.append(f"The holdout is only {holdout_weeks:.1f} weeks; pick at least {MIN_HOLDOUT_WEEKS:.0f} weeks "
                        "to judge the forecasts.")
    if not model.converged_:
        problems.append("The purchase model did not converge on the calibration period; the comparison is unreliable.")
    return HoldoutValidation(
        calibration_end=calibration_end, holdout_end=holdout_end, holdout_weeks=holdout_weeks, model=model,
        customers=frame.height, by_frequency=_by_frequency(frame),
        weekly=_weekly_tracking(tx, calibration, model, calibration_end, holdout_end),
        mae=float(errors.mean()), total_actual=float(frame["holdout_purchases"].sum()),
        total_predicted=float(predicted.sum()), problems=problems,
    )


def _frequency_group(cap: int = FREQUENCY_CAP) -> pl.Expr:
    return (pl.when(pl.col("frequency") >= cap).then(pl.lit(f"{cap}+"))
            .otherwise(pl.col("frequency").cast(pl.String)).alias("frequency_group"))


def _by_frequency(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by(_frequency_group())
        .agg(pl.len().alias("customers"), pl.col("holdout_purchases").mean().alias("actual"),
             pl.col("predicted").mean().alias("predicted"), pl.col("frequency").min().alias("_order"))
        .sort("_order").drop("_order")
    )


def _weekly_tracking(
    tx: pl.LazyFrame, calibration: pl.DataFrame, model: BetaGeoModel, calibration_end: dt.date, holdout_end: dt.date
) -> pl.DataFrame:
    """Cumulative repeat purchases of the calibration customers, per week, actual vs. model.

    Week ``k`` ends on day ``7k + 6`` after the first customer's first purchase
    (the last week may be shorter). The model's value at a day ``D`` is the sum
    over customers of E[X((D - first purchase day) / 7)].
    """
    start = calibration["first_purchase_date"].min()
    last_day = (holdout_end - start).days
    week_end_day = np.minimum(np.arange(6, last_day + 7, 7), last_day)
    first_days = calibration.select((pl.col("first_purchase_date") - pl.lit(start)).dt.total_days().alias("d"))["d"]
    birth, counts = np.unique(first_days.to_numpy(), return_counts=True)
    expected_by_age = model.expected_number_of_purchases_up_to_time(np.arange(last_day + 1) / DAYS_PER_WEEK)
    ages = week_end_day[:, None] - birth[None, :]
    predicted = np.where(ages >= 0, expected_by_age[np.clip(ages, 0, None)], 0.0) @ counts

    repeat_days = (
        tx.filter((pl.col(C.AMOUNT) >= 0) & (pl.col(C.ORDER_DATE) <= holdout_end))
        .select(C.CUSTOMER_ID, C.ORDER_DATE).unique()
        .join(calibration.lazy().select(C.CUSTOMER_ID, "first_purchase_date"), on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col(C.ORDER_DATE) > pl.col("first_purchase_date"))
        .select(((pl.col(C.ORDER_DATE) - pl.lit(start)).dt.total_days() // 7).alias("week"))
        .collect()["week"].to_numpy()
    )
    per_week = np.bincount(repeat_days.astype(np.int64), minlength=len(week_end_day))[: len(week_end_day)]
    calibration_day = (calibration_end - start).days
    return pl.DataFrame({
        "week": np.arange(len(week_end_day)),
        "week_end": [start + dt.timedelta(days=int(d)) for d in week_end_day],
        "actual": np.cumsum(per_week).astype(float),
        "predicted": predicted,
        "holdout": week_end_day > calibration_day,
    })


def default_holdout_weeks(first: dt.date, last: dt.date) -> int:
    """One whole year when there are two years of history, else half the history, at most
    39 weeks (the split of Fader, Hardie & Lee), at least 1 week.

    The models have no seasons: a holdout of part of a year compares a yearly
    average with a season. On the demo (three years, Christmas peak) the 39-week
    holdout January-September is over-predicted by 27 %, a year-long one is off
    by 3 %.
    """
    weeks = (last - first).days / DAYS_PER_WEEK
    if weeks >= 2 * 52:
        return 52
    return int(min(39, max(1, round(weeks / 2))))


# --------------------------------------------------------------------------- reading the results


def probability_alive_matrix(model: BetaGeoModel, customers: pl.DataFrame, max_frequency: int = 30) -> pl.DataFrame:
    """P(alive) on a grid of frequency x recency for the oldest customers' age T.

    Returns a long frame: frequency, recency (weeks since first purchase at the
    last purchase), T, p_alive. Impossible cells (no repeat purchase but
    recency > 0) are left out.
    """
    age = float(customers["T"].max())
    top = int(min(max_frequency, max(1, customers["frequency"].quantile(0.99) or 1)))
    weeks = np.arange(0, int(math.floor(age)) + 1, dtype=float)
    x, t_x = np.meshgrid(np.arange(top + 1, dtype=float), weeks, indexing="ij")
    x, t_x = x.ravel(), t_x.ravel()
    possible = (x > 0) | (t_x == 0)  # without repeat purchases recency is 0
    x, t_x = x[possible], t_x[possible]
    p = model.conditional_probability_alive(x, t_x, np.full_like(x, age))
    return pl.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": age, "p_alive": p})


def value_tiers(customers: pl.DataFrame, tiers: int = 10) -> pl.DataFrame:
    """CLV by value tier (tier 1 = the top 10 % by predicted CLV, labelled "0–10%").

    Returns tier, label, customers, clv_total, clv_share, clv_mean, p_alive_mean.
    """
    ranked = customers.filter(pl.col("clv").is_finite()).with_columns(
        (pl.col("clv").rank("ordinal", descending=True) - 1).alias("_rank")
    )
    n = max(ranked.height, 1)
    size = 100 // tiers
    return (
        ranked.with_columns((pl.col("_rank") * tiers // n + 1).alias("tier"))
        .group_by("tier")
        .agg(pl.len().alias("customers"), pl.col("clv").sum().alias("clv_total"),
             pl.col("clv").mean().alias("clv_mean"), pl.col("p_alive").mean().alias("p_alive_mean"))
        .sort("tier")
        .with_columns(
            (pl.col("clv_total") / pl.col("clv_total").sum()).alias("clv_share"),
            pl.format("{}–{}%", (pl.col("tier") - 1) * size, pl.col("tier") * size).alias("label"),
        )
        .select("tier", "label", "customers", "clv_total", "clv_share", "clv_mean", "p_alive_mean")
    )


def clv_by_group(customers: pl.DataFrame, groups: pl.DataFrame, group_column: str) -> pl.DataFrame:
    """CLV per group of a (customer_id, group) table: customers, total, share, mean, mean P(alive)."""
    return (
        customers.join(groups.select(C.CUSTOMER_ID, group_column), on=C.CUSTOMER_ID, how="inner")
        .filter(pl.col("clv").is_finite())
        .group_by(group_column)
        .agg(pl.len().alias("customers"), pl.col("clv").sum().alias("clv_total"),
             pl.col("clv").mean().alias("clv_mean"), pl.col("p_alive").mean().alias("p_alive_mean"))
        .with_columns((pl.col("clv_total") / pl.col("clv_total").sum()).alias("clv_share"))
        .sort("clv_total", descending=True)
    )


def at_risk_customers(result: CLVResult, settings: AtRiskSettings = AtRiskSettings()) -> pl.DataFrame:
    """Valuable customers who are probably slipping away, most valuable first.

    High value = predicted CLV at or above the ``min_clv_quantile`` quantile;
    slipping = probability still active below ``max_p_alive``.
    """
    customers = result.customers.filter(pl.col("clv").is_finite())
    if customers.height == 0:
        return customers.select(C.CUSTOMER_ID)
    threshold = customers["clv"].quantile(settings.min_clv_quantile, interpolation="linear")
    return (
        customers.filter((pl.col("clv") >= threshold) & (pl.col("p_alive") < settings.max_p_alive))
        .sort("clv", descending=True)
        .select(
            C.CUSTOMER_ID,
            pl.col("clv").round(2).alias("predicted_clv"),
            pl.col("p_alive").round(3).alias("probability_active"),
            pl.col("expected_purchases").round(2),
            pl.col("frequency").alias("repeat_purchases"),
            "last_purchase_date",
            (pl.lit(result.calibration_end) - pl.col("last_purchase_date")).dt.total_days().alias("days_since_last_purchase"),
            pl.col("revenue").round(2).alias("revenue_to_date"),
        )
    )


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def fit_takeaway(result: CLVResult) -> str:
    """One sentence: what the average customer is expected to do and be worth."""
    c = result.customers
    active = float((c["p_alive"] >= 0.5).mean())
    sentence = (f"In the next {weeks_label(result.settings.horizon_weeks)} the average customer is expected to buy "
                f"{c['expected_purchases'].mean():.2f} times")
    if c["clv"].is_finite().any():
        sentence += f", worth {_money(float(c['clv'].mean()))} each ({_money(float(c['clv'].sum()))} in total)"
    return sentence + f"; {active:.0%} of customers are probably still active."


def validation_takeaway(validation: HoldoutValidation) -> str:
    """One sentence: how close the model came in the holdout."""
    if not validation.total_actual:
        return "Nobody bought again in the holdout, so the forecast cannot be checked: pick a longer holdout."
    direction = "over" if validation.total_error_pct > 0 else "under"
    sentence = (f"Over the {validation.holdout_weeks:.0f}-week holdout the model predicted "
                f"{validation.total_predicted:,.0f} repeat purchases against {validation.total_actual:,.0f} actual "
                f"({abs(validation.total_error_pct):.1f}% {direction}); per customer it is off by "
                f"{validation.mae:.2f} purchases on average.")
    if validation.holdout_weeks < 50:
        sentence += (" The model has no seasons: a holdout shorter than a year can miss or over-weight a busy "
                     "season, so a large gap may be the calendar rather than the model.")
    return sentence


def concentration_takeaway(tiers: pl.DataFrame) -> str:
    """One sentence: how concentrated predicted value is."""
    if tiers.height == 0:
        return "No customer value could be predicted."
    top = float(tiers["clv_share"][0])
    return f"The top 10% of customers hold {top:.0%} of all predicted value."


def p_alive_takeaway(result: CLVResult) -> str:
    """One sentence: how many customers are probably gone."""
    c = result.customers
    gone = int((c["p_alive"] < 0.5).sum())
    return (f"{gone:,} customers ({gone / max(c.height, 1):.0%}) are more likely gone than active: they have been "
            "silent for long compared with how often they used to buy (bottom-right of the map is safest, "
            "top-left the most at risk).")


def at_risk_takeaway(at_risk: pl.DataFrame, settings: AtRiskSettings = AtRiskSettings()) -> str:
    if at_risk.height == 0:
        return "No high-value customer looks at risk right now."
    return (f"{at_risk.height:,} customers in the top {1 - settings.min_clv_quantile:.0%} by predicted value have less "
            f"than a {settings.max_p_alive:.0%} chance of still being active; they spent "
            f"{_money(float(at_risk['revenue_to_date'].sum()))} so far and are worth a call.")
