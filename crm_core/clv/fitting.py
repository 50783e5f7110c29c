"""Shared machinery of the models: compressed rows, likelihood base, trust-region Newton, standard errors."""
from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar, Union

import numpy as np

from crm_core import parallel, worker
from crm_core.clv.special import hyp2f1

if TYPE_CHECKING:
    import polars as pl

# Polars is not imported here: the fits run in a process that never loads it (crm_core.clv.forked).
ArrayLike = Union[np.ndarray, list[float], "pl.Series"]
F = TypeVar("F", bound=Callable)


_blas = threading.local()  # depth of nested serial_blas calls in this thread


#: Set to "1" for both BLAS libraries numpy may bring (the CLI does so before numpy loads): no threads to limit.
_SINGLE_THREAD_SETTINGS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@functools.cache
def _blas_controller():
    """One threadpoolctl controller per process (finding the libraries takes milliseconds), or None
    when BLAS was started with one thread anyway."""
    if all(os.environ.get(name) == "1" for name in _SINGLE_THREAD_SETTINGS):
        return None
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController()


def serial_blas(func: F) -> F:
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


def hyp2f1_threaded(a, b, c, z) -> np.ndarray:
    """``scipy.special.hyp2f1`` with broadcasting, split over threads for large inputs.

    The Gauss hypergeometric function is the costliest step of scoring (about
    100 ns a value); the ufunc releases the GIL, so chunks run in parallel. Not beside a worker process
    (the CLI's): the two processes already keep a core each busy. The same values either way.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    shape = arrays[0].shape
    a, b, c, z = (np.ravel(v) for v in arrays)
    chunks = 1 if worker.shares_cores() else max(1, min(parallel.WORKERS, len(z) // _PARALLEL_MIN))
    bounds = np.linspace(0, len(z), chunks + 1).astype(int)
    parts = parallel.map_calls(lambda lo, hi: hyp2f1(a[lo:hi], b[lo:hi], c[lo:hi], z[lo:hi]), zip(bounds[:-1], bounds[1:]))
    return np.concatenate(parts).reshape(shape)


def value_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's position among them (as ``np.unique``).

    The models' columns are whole counts and weeks counted in whole days, values on a grid of
    1/7: those are coded in linear time by their grid step (:func:`_grid_codes`), anything
    else by sorting (a few milliseconds per column of 50,000 customers, several columns per fit).
    """
    coded = _grid_codes(values)
    if coded is not None:
        return coded
    distinct, codes = np.unique(values, return_inverse=True)
    return distinct, codes.ravel()


GRID_STEPS_PER_UNIT = 7.0  # days per week: recency and age in weeks are whole days / 7


def _grid_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`value_codes` through each value's nearest step on the 1/7 grid, or None when that
    does not tell the values apart (two distinct values on one step, not finite, too wide a range).

    Steps grow with the values, so the occupied steps in order are the distinct values sorted; the
    check that every value equals the one kept for its step makes the result exactly np.unique's.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        steps = np.rint(values * GRID_STEPS_PER_UNIT)
    low, high = float(steps.min()), float(steps.max())
    if not (math.isfinite(low) and math.isfinite(high)) or high - low > 4 * len(values) + 1024:
        return None
    step = (steps - low).astype(np.int64)
    occupied = np.zeros(int(high - low) + 1, dtype=np.int64)
    occupied[step] = 1
    codes = np.cumsum(occupied)[step] - 1
    distinct = np.empty(int(codes.max()) + 1)
    distinct[codes] = values
    if not np.array_equal(distinct[codes], values):
        return None
    return distinct, codes


@dataclass
class Compressed:
    """Unique rows of some columns: per column its sorted distinct values and each
    unique row's code into them, the rows' counts and (optionally) the inverse index.
    Never changed once made: the CLI's worker process keeps the copy sent with a first call for later ones
    (:data:`WORKER_KEEPS`, see :mod:`crm_core.worker`)."""

    WORKER_KEEPS: ClassVar[bool] = True

    distinct: list[np.ndarray]
    codes: list[np.ndarray]
    counts: np.ndarray
    inverse: np.ndarray | None

    @property
    def columns(self) -> list[np.ndarray]:
        return [values[codes] for values, codes in zip(self.distinct, self.codes)]


def compress_rows(*columns: np.ndarray, inverse: bool = True) -> Compressed:
    arrays = [np.ascontiguousarray(c, dtype=float) for c in columns]
    n = len(arrays[0])
    coded = [value_codes(array) for array in arrays]
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
    return Compressed(distinct, codes, counts.astype(float), rows)


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
    result = compress_rows(*columns)
    return result.columns, result.counts, result.inverse


def as_float(values: ArrayLike) -> np.ndarray:
    polars = sys.modules.get("polars")  # a Series can only exist once Polars is loaded
    if polars is not None and isinstance(values, polars.Series):
        return values.cast(polars.Float64).to_numpy()
    return np.asarray(values, dtype=float)


# --------------------------------------------------------------------------- fitting helpers


@dataclass
class Fit:
    params: np.ndarray
    log_likelihood: float
    converged: bool
    message: str
    iterations: int
    standard_errors: np.ndarray
    log_covariance: np.ndarray  # inverse NLL Hessian in log-parameters (NaN when not positive definite)


LOG_BOUND = 12.0  # log-parameters are searched within +-LOG_BOUND
STATIONARY = 1e-5  # largest |d(-LL/n)/d log(parameter)| accepted as converged
GTOL = 1e-10  # Newton stops at this gradient per customer (parameters then exact to ~1e-12)
LAST_STEP = 1e-6  # from this gradient one Newton step reaches GTOL: taken without a new Hessian
MAX_NEWTON = 100
MAX_RADIUS = 1.0  # largest Newton step in log-parameters: one e-fold per step keeps it off distant ridges


@dataclass
class _Optimum:
    """Where an optimiser stopped: log-parameters, NLL/scale, its gradient, and the Hessian nearby."""

    x: np.ndarray
    fun: float
    jac: np.ndarray
    nit: int
    message: str
    hessian: np.ndarray | None = None  # NLL Hessian (unscaled) at x or within a last tiny step of it


def maximise(nll: Likelihood, starts: list[np.ndarray], scale: float, newton: bool = True,
             gtol: float = GTOL) -> Fit:
    """Minimise ``nll/scale`` over log-parameters; keep the best of the starts.

    A trust-region Newton method on the exact Hessian runs first from the first
    start (a few iterations, each one evaluation of value, gradient and Hessian);
    L-BFGS-B from every start is the fallback when it does not reach a stationary
    point inside the bounds (``newton=False``: L-BFGS-B only). ``gtol``: the gradient
    per customer where Newton stops (looser for a first fit on approximate terms).
    Standard errors come from the inverse Hessian at the optimum, taken back to the
    natural scale by the delta method.
    """
    best = _newton(nll, scale, starts[0], gtol) if newton else None
    if best is None:
        best = _lbfgsb(nll, starts, scale)
    log_params = best.x
    params = np.exp(log_params)
    # Converged = a stationary point (gradient per customer ~ 0) inside the bounds. The optimiser's
    # own flag is not required: at the optimum L-BFGS-B may stop with "ABNORMAL" when the line search
    # cannot improve f beyond rounding, which is convergence, not failure.
    converged = _stationary(best.jac) and _interior(log_params)
    hessian = nll.hessian(log_params) if best.hessian is None else best.hessian
    covariance = log_covariance(hessian)
    errors = params * np.sqrt(np.diag(covariance))
    return Fit(params, -float(best.fun) * scale, converged, best.message, best.nit, errors, covariance)


def _lbfgsb(nll: Likelihood, starts: list[np.ndarray], scale: float) -> _Optimum:
    """L-BFGS-B within the bounds from each start until one ends stationary; the best end point."""
    from scipy.optimize import minimize  # only on this fallback path: the import costs a fifth of a second

    def scaled(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = nll(log_params)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(log_params)
        return value / scale, grad / scale

    best = None
    for start in starts:
        result = minimize(
            scaled, start, jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 20},
        )
        if best is None or result.fun < best.fun:
            best = result
        if _stationary(_projected(result.x, result.jac)):  # stationary, or an optimum on the bounds
            break
    assert best is not None
    return _Optimum(best.x, float(best.fun), best.jac, int(best.nit), str(best.message))


def _projected(log_params: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """The gradient without its components that push against a bound the point sits on."""
    pushing = ((log_params >= LOG_BOUND - 1e-9) & (gradient < 0)) | ((log_params <= -LOG_BOUND + 1e-9) & (gradient > 0))
    return np.where(pushing, 0.0, gradient)


def _stationary(gradient: np.ndarray) -> bool:
    return bool(np.max(np.abs(gradient)) < STATIONARY)


def _interior(log_params: np.ndarray) -> bool:
    return bool(np.all(np.abs(log_params) < 11.9))


def _newton(nll: Likelihood, scale: float, start: np.ndarray, gtol: float = GTOL) -> _Optimum | None:
    """Trust-region Newton on the exact Hessian; None unless it ends stationary, finite and in bounds.

    Each trial point costs one evaluation of value, gradient and Hessian. Once the gradient
    is below :data:`LAST_STEP` the full Newton step is taken and only value and gradient are
    evaluated there: quadratic convergence puts it at ~1e-12, and the Hessian of the point
    before serves for the standard errors (it differs in the seventh digit at most).
    """
    def evaluate(point: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        value, grad, hess = nll.with_hessian(point)
        return float(value) / scale, grad / scale, hess / scale

    x = np.asarray(start, dtype=float)
    with np.errstate(all="ignore"):
        value, grad, hess = evaluate(x)
        if not (np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            return None
        radius = 1.0
        for iteration in range(1, MAX_NEWTON + 1):
            if np.max(np.abs(grad)) < gtol:
                return _Optimum(x, value, grad, iteration - 1, "converged", hess * scale)
            step, predicted = _trust_step(hess, grad, radius)
            trial = x + step
            if np.max(np.abs(trial)) >= LOG_BOUND:
                if np.max(np.abs(x)) > LOG_BOUND - 0.5:  # an optimum on the bounds: L-BFGS-B's job
                    return None
                radius = 0.5 * float(np.linalg.norm(step))  # stay inside the bounds: a shorter step
                continue
            if np.max(np.abs(grad)) < LAST_STEP and predicted < 1e-9 and np.all(np.linalg.eigvalsh(hess) > 0):
                last_value, last_grad = nll(trial)
                last_value, last_grad = float(last_value) / scale, last_grad / scale
                if np.isfinite(last_value) and np.all(np.isfinite(last_grad)) and _stationary(last_grad) \
                        and last_value <= value + 1e-12 * abs(value):
                    return _Optimum(trial, last_value, last_grad, iteration, "converged", hess * scale)
            new_value, new_grad, new_hess = evaluate(trial)
            finite = np.isfinite(new_value) and np.all(np.isfinite(new_grad)) and np.all(np.isfinite(new_hess))
            ratio = (value - new_value) / predicted if finite and predicted > 0 else -1.0
            if ratio < 0.25 or not finite:
                radius = 0.25 * float(np.linalg.norm(step))
            elif ratio > 0.75 and np.linalg.norm(step) > 0.99 * radius:
                radius = min(2.0 * radius, MAX_RADIUS)
            if finite and (ratio > 1e-4 or (new_value <= value and np.max(np.abs(new_grad)) < np.max(np.abs(grad)))):
                x, value, grad, hess = trial, new_value, new_grad, new_hess
            if radius < 1e-12:
                break
    if _stationary(grad) and _interior(x):
        return _Optimum(x, value, grad, MAX_NEWTON, "stationary (rounding stops further progress)", hess * scale)
    return None


def _trust_step(hess: np.ndarray, grad: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """The step minimising the quadratic model within ``radius`` (exact, by the eigen-decomposition of
    the small Hessian: s(l) = -(H + l I)^-1 g, with the smallest l >= 0 that makes H + l I positive
    definite and |s| <= radius) and the decrease the model predicts."""
    hess = (hess + hess.T) / 2.0
    eigenvalues, vectors = np.linalg.eigh(hess)
    g = vectors.T @ grad

    def step_for(shift: float) -> np.ndarray:
        return -g / (eigenvalues + shift)

    low = float(max(0.0, -float(eigenvalues[0])) * (1.0 + 1e-12) + (1e-12 if eigenvalues[0] <= 0 else 0.0))
    z = step_for(low) if eigenvalues[0] > 0 else None
    if z is None or np.linalg.norm(z) > radius:
        high = low + float(np.linalg.norm(grad)) / radius + 1.0
        for _ in range(100):  # bisection on the shift: |s| decreases as it grows
            middle = (low + high) / 2.0
            if np.linalg.norm(step_for(middle)) > radius:
                low = middle
            else:
                high = middle
            if high - low <= 1e-10 * high:
                break
        z = step_for(high)
    predicted = -float(g @ z + 0.5 * (z * eigenvalues) @ z)
    return vectors @ z, predicted


def log_covariance(hessian: np.ndarray) -> np.ndarray:
    """Asymptotic covariance of the log-parameters: the inverse NLL Hessian; NaN unless positive definite.

    Standard errors on the natural scale follow by the delta method, ``p * sqrt(diag)``.
    """
    hessian = (hessian + hessian.T) / 2
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return np.full(hessian.shape, np.nan)
    return np.linalg.inv(hessian)


class FittedModel:
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
        self.log_covariance_: np.ndarray = np.zeros((0, 0))

    def _store(self, fit: Fit) -> None:
        self.params_ = dict(zip(self.PARAMS, map(float, fit.params)))
        self.standard_errors_ = dict(zip(self.PARAMS, map(float, fit.standard_errors)))
        self.log_likelihood_ = fit.log_likelihood
        self.converged_ = fit.converged
        self.message_ = fit.message
        self.iterations_ = fit.iterations
        self.log_covariance_ = fit.log_covariance

    def bic(self) -> float:
        """Bayesian information criterion, k ln(n) - 2 LL (lower is better)."""
        return len(self.PARAMS) * float(np.log(max(self.n_customers_, 1))) - 2.0 * self.log_likelihood_

    def parameter_draws(self, draws: int, rng: np.random.Generator) -> np.ndarray:
        """Parameters drawn from their asymptotic normal in log-parameters: shape (draws, len(PARAMS)).

        All rows equal the estimate when the Hessian was not positive definite.
        """
        centre = np.log([self.params_[name] for name in self.PARAMS])
        if not np.all(np.isfinite(self.log_covariance_)):
            return np.exp(np.tile(centre, (draws, 1)))
        drawn = rng.multivariate_normal(centre, self.log_covariance_, size=draws, method="cholesky")
        return np.exp(np.clip(drawn, -LOG_BOUND - 1.0, LOG_BOUND + 1.0))  # a flat likelihood must not draw inf



def check_rfm(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> None:
    if len(x) == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be whole numbers >= 0")
    if np.any(t_x < 0) or np.any(t_x > age + 1e-9):
        raise ValueError("recency must lie between 0 and T")



def softplus_and_sigmoid(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(1 + e^d)`` and ``1 / (1 + e^-d)`` without overflow, for any d.

    Written out because ``np.logaddexp`` and ``np.where`` are several times
    slower on these arrays, and this pair is the inner loop of the BG/NBD fit.
    """
    softplus = np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))
    return softplus, np.exp(d - softplus)


class Likelihood:
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
