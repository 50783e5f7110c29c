"""What every purchase model (BG/NBD, MBG/NBD, Pareto/NBD) offers, and the fit they share.

A model fits on per-customer ``(x, t_x, T)`` (repeat purchases, recency and age in
weeks), compressed to unique rows with counts. Predictions split the same way for
all three: the probability that the customer is still active, and what an active
customer with ``x`` purchases by age ``T`` does next (which does not depend on
recency). Every prediction takes optional parameters ``theta`` (a tuple of arrays
that broadcast against the data) so that intervals can evaluate it at parameter
draws.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from crm_core.clv.fitting import (
    ArrayLike,
    Compressed,
    Fit,
    FittedModel,
    Likelihood,
    as_float,
    check_rfm,
    compress_rows,
    maximise,
    serial_blas,
)

Theta = tuple[np.ndarray | float, ...]
DIFFERENCE_STEP = 1e-5  # forward-difference step in log-parameters


def run_sums(increments: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``increments`` (..., points) restarted at each run: ``starts`` are the runs'
    first positions, ascending from 0 (runs are consecutive and cover every point)."""
    running = np.cumsum(increments, axis=-1)
    before = running[..., starts] - increments[..., starts]  # the sum up to each run, one value per run
    return running - np.repeat(before, np.diff(starts, append=increments.shape[-1]), axis=-1)


def log_nbd_pmf_steps(shape: np.ndarray, n: np.ndarray) -> np.ndarray:
    """ln(G(shape + n) / (G(shape) n!)) as increments along runs n = 0, 1, 2, ...: ln((shape + n - 1) / n),
    0 at n = 0 (summed by :func:`run_sums`; a logarithm is several times cheaper than a log-gamma)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.log((shape + n - 1.0) / n), 0.0)


class PurchaseModel(FittedModel):
    """Base of the purchase models; subclasses give the likelihood and the formulas."""

    NAME: ClassVar[str] = ""  # the CLI's --model value
    LABEL: ClassVar[str] = ""  # what the page shows

    def __init__(self) -> None:
        super().__init__()
        self.n_unique_rows_: int = 0
        self._start: np.ndarray | None = None

    # ---- fit
    @serial_blas
    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
            weights: ArrayLike | None = None, start: Mapping[str, float] | None = None) -> PurchaseModel:
        """Maximum-likelihood fit on (x, t_x, T) per customer (or per weighted row).

        ``start``: parameters to start from (e.g. the same model fitted on related data), tried
        before the model's own start values.
        """
        x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
        check_rfm(x, t_x, age)
        if weights is None:
            return self.fit_compressed(compress_rows(x, t_x, age, inverse=False), start)
        return self._fit_rows(x, t_x, age, as_float(weights), None, start)

    @serial_blas
    def fit_compressed(self, coded: Compressed, start: Mapping[str, float] | None = None) -> PurchaseModel:
        """:meth:`fit` on customers' (x, t_x, T) already compressed by :func:`compress_rows` and checked
        by :func:`check_rfm`: several models fitted on the same customers share that work."""
        (x, t_x, age), counts = coded.columns, coded.counts
        return self._fit_rows(x, t_x, age, counts, coded, start)

    def _fit_rows(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, counts: np.ndarray,
                  coded: Compressed | None, start: Mapping[str, float] | None) -> PurchaseModel:
        self.n_customers_ = round(float(counts.sum()))
        self.n_unique_rows_ = len(x)
        self._start = None
        if start is not None and all(np.isfinite(start.get(name, np.nan)) and start[name] > 0 for name in self.PARAMS):
            self._start = np.log([start[name] for name in self.PARAMS])
        self._store(self._maximise(x, t_x, age, counts, coded))
        return self

    def _starts(self, x: np.ndarray, age: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
        """The caller's start (if any), then the model's own."""
        own = self._own_starts(x, age, counts)
        return own if self._start is None else [self._start, *own]

    def _maximise(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, counts: np.ndarray,
                  coded: Compressed | None) -> Fit:
        return maximise(self._likelihood(x, t_x, age, counts, coded), self._starts(x, age, counts), scale=counts.sum())

    def _likelihood(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, counts: np.ndarray,
                    coded: Compressed | None) -> Likelihood:
        raise NotImplementedError

    def _own_starts(self, x: np.ndarray, age: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def theta(self) -> Theta:
        """The fitted parameters in :attr:`PARAMS` order."""
        if not self.params_:
            raise RuntimeError("fit the model first")
        return tuple(self.params_[name] for name in self.PARAMS)

    # ---- the formulas (theta=None: the fitted parameters)
    def log_dropout_odds(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, theta: Theta | None = None) -> np.ndarray:
        """log(P(inactive) / P(active)) at T given the history (-inf when surely active)."""
        raise NotImplementedError

    def purchases_if_alive(self, t: float | np.ndarray, x: np.ndarray, age: np.ndarray,
                           theta: Theta | None = None) -> np.ndarray:
        """Expected purchases in (T, T + t] of a customer still active at T."""
        raise NotImplementedError

    def log_dropout_odds_and_gradient(self, x: np.ndarray, t_x: np.ndarray,
                                      age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`log_dropout_odds` at the fitted parameters and its gradient in log-parameters,
        shape (len(PARAMS), rows); 0 where the odds are infinite (surely active). Forward differences
        here; a model whose odds are costly (Pareto/NBD) gives them exactly in one pass."""
        centre = np.array(self.theta(), dtype=float)
        odds = self.log_dropout_odds(x, t_x, age)
        gradient = np.zeros((len(centre), len(odds)))
        with np.errstate(invalid="ignore"):
            for i in range(len(centre)):
                moved = centre.copy()
                moved[i] *= np.exp(DIFFERENCE_STEP)
                gradient[i] = (self.log_dropout_odds(x, t_x, age, tuple(moved)) - odds) / DIFFERENCE_STEP
        return odds, np.where(np.isfinite(odds), gradient, 0.0)

    def purchase_survival_if_alive(self, k: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                                   theta: Theta | None = None) -> np.ndarray:
        """P(at least k purchases in (T, T + t] | active at T), for k >= 1."""
        raise NotImplementedError

    def purchase_survival_grid(self, k: np.ndarray, starts: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                               theta: Theta) -> np.ndarray:
        """:meth:`purchase_survival_if_alive` on consecutive counts k = 1, 2, ... per history; ``starts``
        are the positions where the runs start (models may use them for cumulative sums)."""
        return self.purchase_survival_if_alive(k, t, x, age, theta)

    def expected_number_of_purchases_up_to_time(self, t: float | ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a new customer."""
        raise NotImplementedError

    # ---- predictions shared by all models
    def conditional_probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                                      theta: Theta | None = None) -> np.ndarray:
        """P(still a customer at T | x, t_x, T)."""
        log_odds = self.log_dropout_odds(as_float(frequency), as_float(recency), as_float(T), theta)
        return 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700.0)))

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in (T, T + t] given the customer's history."""
        x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
        return self.purchases_if_alive(t, x, age) * self.conditional_probability_alive(x, t_x, age)
