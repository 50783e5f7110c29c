"""Prediction intervals for each customer's purchases over a horizon, and for the total.

Two sources of uncertainty are combined:

* **The purchase process.** Given the history, a customer is inactive with
  probability 1 - P(alive) (then buys nothing) or active, and an active customer's
  purchases follow the model's exact conditional distribution
  (:meth:`PurchaseModel.purchase_survival_if_alive`: P(X >= k | active)). The
  customer's distribution is that mixture; the interval is its equal-tailed
  quantiles (whole purchases, so coverage can sit a few points above nominal).
* **The parameters.** They are drawn from their asymptotic normal (log-parameters,
  covariance = inverse of the exact Hessian); the active customer's distribution is
  averaged over the draws. P(alive) is taken at the estimate: its spread across
  draws is small next to the process for one customer, and the total carries it
  through the delta method below.

The total over customers is a sum of many independent customers, so its interval is
normal: variance = sum of the customers' process variances + the parameters' share,
g' Sigma g with g the gradient of the expected total in log-parameters (forward
differences of the closed-form forecasts).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from crm_core.clv.fitting import ArrayLike, Compressed, as_float, compress
from crm_core.clv.purchase_model import DIFFERENCE_STEP, PurchaseModel
from crm_core.clv.special import ndtri

PARAMETER_DRAWS = 4
MAX_GRID = 400  # whole purchase counts evaluated per distinct (x, T); beyond, a normal approximation


@dataclass(frozen=True)
class PurchaseIntervals:
    """Per-customer and total prediction intervals of repeat purchases in (T, T + horizon]."""

    level: float
    horizon_weeks: float
    expected: np.ndarray  # per customer, the point forecast
    low: np.ndarray  # per customer, whole purchases
    high: np.ndarray
    variance: np.ndarray  # per customer, process and parameters
    total: float
    total_low: float
    total_high: float
    parameter_draws: int


TOP_SHARE = 0.75  # the intervals searched put at most this share of (1 - level) in the lower tail


def _top_quantile(level: float) -> float:
    """The highest quantile the interval search asks for."""
    return level + TOP_SHARE * (1.0 - level)


def _tail_multiplier(level: float) -> float:
    """Standard deviations above the mean where the grid of counts stops: twice the normal quantile. Pairs
    whose distribution has not reached the top quantile by then are handled by the normal approximation."""
    return 2.0 * float(ndtri(_top_quantile(level)))


def purchase_intervals(model: PurchaseModel, frequency: ArrayLike | None, recency: ArrayLike | None,
                       T: ArrayLike | None, horizon_weeks: float, level: float = 0.8,
                       parameter_draws: int = PARAMETER_DRAWS, seed: int = 0,
                       coded: Compressed | None = None) -> PurchaseIntervals:
    """Prediction intervals at ``level`` (e.g. 0.8 = from the 10th to the 90th percentile).

    Deterministic for a given ``seed`` (the parameter draws). ``coded``: the customers' (x, t_x, T)
    compressed already by :func:`~crm_core.clv.fitting.compress_rows` (with the inverse), in place of
    ``frequency``, ``recency`` and ``T``: the same intervals.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("the interval level must lie between 0 and 1, e.g. 0.8")
    t = float(horizon_weeks)
    # Customers with the same history share their distribution: work on distinct (x, t_x, T) rows, and
    # on distinct (x, T) pairs for what an active customer does (it does not depend on recency).
    if coded is not None and coded.inverse is not None:
        (ux, ut, uT), counts, row = coded.columns, coded.counts, coded.inverse
    elif frequency is None or recency is None or T is None:
        raise ValueError("give the customers' frequency, recency and T, or their compressed rows with the inverse")
    else:
        (ux, ut, uT), counts, row = compress(as_float(frequency), as_float(recency), as_float(T))
    (px, pT), _, pair = compress(ux, uT)
    log_odds, odds_gradient = model.log_dropout_odds_and_gradient(ux, ut, uT)
    p_alive = 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700.0)))
    mean_if_alive = model.purchases_if_alive(t, px, pT)
    if_alive_gradient = _if_alive_gradient(model, px, pT, t, mean_if_alive)
    if _parameters_negligible(model, if_alive_gradient, mean_if_alive):
        parameter_draws = 1
    draws = model.parameter_draws(parameter_draws, np.random.default_rng(seed)) if parameter_draws > 1 else \
        np.array([model.theta()], dtype=float)
    grid = _grid(model, px, pT, t, level)
    cdf, second_moment = _mixture_cdf(model, grid, draws, t)
    reached = cdf[grid.start + grid.size - 1] >= _top_quantile(level)
    grid = replace(grid, exact=grid.exact & reached)
    # Pairs beyond the grid: normal with the mean and the (gamma-Poisson) variance of an active customer.
    second_moment = np.where(grid.exact, second_moment, mean_if_alive**2 + _nbd_variance(model, px, pT, t))
    expected = p_alive * mean_if_alive[pair]
    variance = p_alive * second_moment[pair] - expected**2
    low, high = _quantiles(grid, cdf, pair, p_alive, level, mean_if_alive, second_moment)
    total = float(counts @ expected)
    # The expected total's gradient in log-parameters: P(alive) and the active customer's mean both move.
    expected_gradient = (-(p_alive * (1.0 - p_alive)) * odds_gradient * mean_if_alive[pair]
                         + p_alive * if_alive_gradient[:, pair])
    parameters = _parameter_variance(model, expected_gradient @ counts)
    spread = np.sqrt(max(float(counts @ variance), 0.0) + parameters)
    z = float(ndtri(0.5 + level / 2.0))
    return PurchaseIntervals(level, t, expected[row], low[row], high[row], variance[row], total,
                             max(total - z * spread, 0.0), total + z * spread, parameter_draws)


def quiet_purchase_intervals(model: PurchaseModel, frequency: ArrayLike | None, recency: ArrayLike | None,
                             T: ArrayLike | None, horizon_weeks: float, level: float = 0.8,
                             coded: Compressed | None = None) -> PurchaseIntervals:
    """:func:`purchase_intervals` without numpy's warnings: a fit that did not converge can sit where the
    formulas divide by zero (a = 1), and its NaN forecasts are reported as such. (A module-level function
    without Polars: the CLI's worker process runs it, see crm_core.worker.)"""
    with np.errstate(all="ignore"):
        return purchase_intervals(model, frequency, recency, T, horizon_weeks, level, coded=coded)


@dataclass(frozen=True)
class _Grid:
    """Purchase counts 0..n_v - 1 for each distinct (x, T) pair, flattened."""

    pair: np.ndarray  # pair of each grid point
    k: np.ndarray  # purchase count
    start: np.ndarray  # per pair, first position in the flat arrays
    size: np.ndarray
    exact: np.ndarray  # per pair: the grid covers the upper quantile
    x: np.ndarray  # per grid point, the pair's x and T
    age: np.ndarray


def _grid(model: PurchaseModel, x: np.ndarray, age: np.ndarray, t: float, level: float) -> _Grid:
    """Counts 0.. up to where the purchases an active customer could make if they never left (Poisson with
    the posterior gamma rate, which bounds the model's count from above) pass the top quantile."""
    rate_shape, rate_scale = model.params_["r"] + x, model.params_["alpha"] + age
    mean = rate_shape * t / rate_scale
    sd = np.sqrt(mean + mean**2 / rate_shape)
    needed = np.ceil(mean + _tail_multiplier(level) * sd) + 2
    exact = needed <= MAX_GRID
    size = np.where(exact, needed, 1).astype(np.int64)
    start = np.cumsum(size) - size
    pair = np.repeat(np.arange(len(x)), size)
    return _Grid(pair, np.arange(len(pair)) - start[pair], start, size, exact, x[pair], age[pair])


def _nbd_variance(model: PurchaseModel, x: np.ndarray, age: np.ndarray, t: float) -> np.ndarray:
    """An upper-ish spread of an active customer's purchases: gamma-Poisson variance m + m^2 / (r + x)."""
    mean = model.purchases_if_alive(t, x, age)
    return mean + mean**2 / (model.params_["r"] + x)


def _mixture_cdf(model: PurchaseModel, grid: _Grid, draws: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """P(X <= k | active) on the grid averaged over parameter draws, and E[X^2 | active] per pair."""
    k_next = grid.k + 1.0
    survival = np.zeros(len(grid.k))
    for theta in draws:
        survival += model.purchase_survival_grid(k_next, grid.start, t, grid.x, grid.age, tuple(theta))
    survival /= len(draws)
    # E[X^2] = sum_k (2k - 1) P(X >= k); the grid reaches far enough that the rest is negligible.
    second = np.bincount(grid.pair, (2.0 * k_next - 1.0) * survival, minlength=len(grid.size))
    return 1.0 - survival, second


def _quantiles(grid: _Grid, cdf: np.ndarray, pair: np.ndarray, p_alive: np.ndarray, level: float,
               mean_if_alive: np.ndarray, second_moment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shortest of the intervals [q(a), q(a + level)] over lower-tail shares a, per customer.

    q is the quantile of the mixture (1 - P) * 0 + P * (active distribution). For a customer who
    most likely buys nothing, [0, q(level)] is narrower than the equal-tailed interval and still
    holds ``level`` of the model's probability: whole counts would otherwise add a wide margin.
    """
    best_low = best_high = None
    sd = np.sqrt(np.maximum(second_moment - mean_if_alive**2, 0.0))[pair]
    # The CDFs of all pairs laid end to end, each shifted by twice its pair index, are one increasing array.
    keyed = cdf + 2.0 * grid.pair
    by_pair = np.argsort(pair, kind="stable")  # searches in about ascending order are twice as fast
    for share in np.linspace(0.0, TOP_SHARE * (1.0 - level), 4):
        low = _quantile(grid, keyed, pair, p_alive, share, mean_if_alive, sd, by_pair)
        high = _quantile(grid, keyed, pair, p_alive, share + level, mean_if_alive, sd, by_pair)
        if best_low is None:
            best_low, best_high = low, high
        else:
            narrower = (high - low) < (best_high - best_low)
            best_low, best_high = np.where(narrower, low, best_low), np.where(narrower, high, best_high)
    return best_low, best_high


def _quantile(grid: _Grid, keyed: np.ndarray, pair: np.ndarray, p_alive: np.ndarray, q: float,
              mean_if_alive: np.ndarray, sd: np.ndarray, by_pair: np.ndarray) -> np.ndarray:
    """Smallest whole k with P(X <= k) >= q, per customer (``keyed``: the grid's CDF + 2 x its pair;
    ``by_pair``: the customers in order of their pair, the order the needles are searched in)."""
    # X <= k has probability (1 - P) + P F(k): solve F(k) >= (q - (1 - P)) / P.
    target = (q - (1.0 - p_alive)) / np.maximum(p_alive, 1e-300)
    if q <= 0.0:  # the lowest quantile: nothing
        return np.zeros(len(pair))
    needles = 2.0 * pair + np.clip(target, 0.0, 1.0) - 1e-12
    position = np.empty(len(needles), dtype=np.int64)
    position[by_pair] = np.searchsorted(keyed, needles[by_pair])
    k = np.minimum(position - grid.start[pair], grid.size[pair] - 1).astype(float)
    beyond = ~grid.exact[pair]
    if beyond.any():  # pairs past the grid: the normal approximation
        normal = np.round(mean_if_alive[pair[beyond]] + ndtri(np.clip(target[beyond], 1e-12, 1 - 1e-12)) * sd[beyond])
        k[beyond] = np.maximum(normal, 0.0)
    return np.where(target <= 0.0, 0.0, k)


NEGLIGIBLE = 0.05  # parameters' share of an active customer's spread below which draws change nothing


def _if_alive_gradient(model: PurchaseModel, x: np.ndarray, age: np.ndarray, t: float,
                       mean_if_alive: np.ndarray) -> np.ndarray:
    """d(expected purchases if active)/d(log-parameters) per (x, T) pair, shape (parameters, pairs):
    forward differences of the closed-form mean."""
    centre = np.array(model.theta(), dtype=float)
    gradient = np.zeros((len(centre), len(x)))
    for i in range(len(centre)):
        moved = centre.copy()
        moved[i] *= np.exp(DIFFERENCE_STEP)
        gradient[i] = (model.purchases_if_alive(t, x, age, tuple(moved)) - mean_if_alive) / DIFFERENCE_STEP
    return gradient


def _parameters_negligible(model: PurchaseModel, if_alive_gradient: np.ndarray, mean_if_alive: np.ndarray) -> bool:
    """True when the parameters' standard error moves no active customer's expected purchases by more than
    NEGLIGIBLE of their process spread (large customer bases): one draw at the estimate then suffices."""
    covariance = model.log_covariance_
    if covariance.size == 0 or not np.all(np.isfinite(covariance)):
        return True
    parameter_sd = np.sqrt(np.einsum("iv,ij,jv->v", if_alive_gradient, covariance, if_alive_gradient))
    process_sd = np.sqrt(np.maximum(mean_if_alive, 1e-12))  # at least Poisson spread
    return bool(np.max(parameter_sd / process_sd) < NEGLIGIBLE)


def _parameter_variance(model: PurchaseModel, total_gradient: np.ndarray) -> float:
    """g' Sigma g: the expected total's variance from the parameters (delta method, log-parameters)."""
    covariance = model.log_covariance_
    if covariance.size == 0 or not np.all(np.isfinite(covariance)) or not np.all(np.isfinite(total_gradient)):
        return 0.0
    return float(total_gradient @ covariance @ total_gradient)


def forecast_fan(model: PurchaseModel, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                 horizon_weeks: float, level: float = 0.8,
                 steps: int = 8) -> dict[str, list[float]]:
    """Cumulative expected repeat purchases of all customers over the horizon with the total's interval,
    at ``steps`` evenly spaced points (weeks after the calibration end, starting at 0)."""
    weeks = np.linspace(0.0, float(horizon_weeks), steps + 1)
    expected, low, high = [0.0], [0.0], [0.0]
    for week in weeks[1:]:
        interval = purchase_intervals(model, frequency, recency, T, week, level, parameter_draws=1)
        expected.append(interval.total)
        low.append(interval.total_low)
        high.append(interval.total_high)
    return {"weeks": weeks.tolist(), "expected": expected, "low": low, "high": high}
