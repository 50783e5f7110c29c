"""The CLV pipeline: fit the models on order lines, score every customer, rescore for new settings."""
from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import Future
from typing import Callable
from dataclasses import dataclass, field, replace

import numpy as np
# Polars makes every Series from a numpy array through numpy.ma, which numpy loads on first use (~5 ms): loaded
# with the models instead (the CLI imports them on a thread while its file is parsed), not in the first summary.
import numpy.ma  # noqa: F401
import polars as pl

from crm_core import parallel, worker
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.data import first_purchase_date, rfm_summary
from crm_core.clv.fitting import (
    ArrayLike,
    as_float,
    check_rfm,
    compress,
    compress_rows,
    serial_blas,
)
from crm_core.clv.gamma_gamma import GammaGammaModel
from crm_core.clv.intervals import PurchaseIntervals, forecast_fan, quiet_purchase_intervals
from crm_core.clv.models import AUTO, MODELS, PendingFits, make_model, start_fits
from crm_core.clv.next_order import next_order_columns
from crm_core.clv.purchase_model import PurchaseModel
from crm_core.clv.settings import (
    DAYS_PER_WEEK,
    TIME_UNIT,
    WEEKS_PER_MONTH,
    WEEKS_PER_YEAR,
    CLVSettings,
    SufficiencyRules,
    sufficiency_problems,
)
from crm_core.clv.validation import (
    ModelComparison,
    compare_on_counts,
    compare_refitted,
    default_holdout_weeks,
    holdout_counts_query,
)
from crm_core.customers import PreparedRuns, data_as_of
from crm_core.worker import Pending, hand_back_memory
from crm_core.schema import C

#: Collects a per-customer query built on the orders (see :func:`fit_clv`).
PerCustomer = Callable[[Callable[[pl.LazyFrame], pl.LazyFrame]], pl.DataFrame]

MIN_CHOICE_DAYS = 90  # calibration days needed before the held-back weeks to compare models


def discounted_purchases(model: PurchaseModel, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                         horizon_weeks: float, annual_discount_rate: float,
                         p_alive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases over the horizon, plain and discounted.

    Cash flows are taken monthly (the horizon split into periods of about one
    month, :data:`WEEKS_PER_MONTH`) and discounted to today at the end of each
    period with ``(1 + annual rate) ** (-weeks / WEEKS_PER_YEAR)``.

    Expected purchases are ``N(t; x, T) / (1 + dropout odds)`` (FHL 2005 eq. 10),
    so the discounted sum of monthly increments is computed on ``N`` once per
    distinct (x, T) and divided by each customer's own ``1 + dropout odds``. ``p_alive``: each
    customer's P(alive) when already known (the same values, not computed again).
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
    alive_weight = model.conditional_probability_alive(x, t_x, age) if p_alive is None else p_alive
    return if_alive[-1][inverse] * alive_weight, (discount @ increments)[inverse] * alive_weight


def customer_lifetime_value(
    model: PurchaseModel, gamma_gamma: GammaGammaModel, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
    monetary_value: ArrayLike, settings: CLVSettings = CLVSettings()
) -> np.ndarray:
    """CLV over the horizon: discounted expected purchases x expected spend x margin."""
    spend = gamma_gamma.conditional_expected_average_profit(frequency, monetary_value)
    _, discounted = discounted_purchases(model, frequency, recency, T, settings.horizon_weeks, settings.annual_discount_rate)
    return settings.margin * spend * discounted


# --------------------------------------------------------------------------- pipeline


@dataclass
class CLVResult:
    """Everything the page and the CLI show about one CLV fit."""

    customers: pl.DataFrame  # one row per customer with predictions
    bgnbd: BetaGeoModel  # always fitted: the reference model (the CLI's "bgnbd" key)
    gamma_gamma: GammaGammaModel | None
    settings: CLVSettings
    calibration_end: dt.date
    history_days: int
    customers_without_purchase: int  # only returns: not modelled
    spend_excluded: int  # repeat customers with non-positive mean spend
    repeat_share: float
    problems: list[str] = field(default_factory=list)  # data too thin / fit failed
    warnings: list[str] = field(default_factory=list)  # model assumptions strained
    chosen: PurchaseModel | None = None  # the purchase model the forecasts use (None: bgnbd)
    fitted: dict[str, PurchaseModel] = field(default_factory=dict)  # every purchase model fitted, by name
    comparison: ModelComparison | None = None  # how "auto" chose
    intervals: PurchaseIntervals | None = None

    @property
    def model(self) -> PurchaseModel:
        """The purchase model the forecasts use."""
        return self.chosen or self.bgnbd

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
            **self._model_keys(),
            "reliable": self.reliable,
            "problems": self.problems,
            "warnings": self.warnings,
        }


    def _model_keys(self) -> dict:
        """The purchase model used, its parameters and log-likelihood; every fitted model under
        "models" when the model was chosen automatically; the prediction intervals."""
        model = self.model
        keys: dict = {"model": model.NAME, "params": _rounded(model.params_),
                      "log_likelihood": round(model.log_likelihood_, 4),
                      "standard_errors": _rounded(model.standard_errors_), "converged": model.converged_}
        if self.comparison is not None:
            keys["model_choice"] = self.comparison.reason
            holdout = self.comparison.table.rows_by_key("model", named=True, unique=True)
            keys["models"] = {name: {"params": _rounded(m.params_), "log_likelihood": round(m.log_likelihood_, 4),
                                     "bic": round(m.bic(), 4), "converged": m.converged_,
                                     "holdout": _rounded({k: v for k, v in holdout.get(name, {}).items()
                                                          if k in ("total_error_pct", "mae")})}
                              for name, m in self.fitted.items()}
        if self.intervals is not None:
            iv = self.intervals
            keys["intervals"] = {"level": iv.level, "horizon_weeks": iv.horizon_weeks,
                                 "purchases_total": round(iv.total, 2), "purchases_low": round(iv.total_low, 2),
                                 "purchases_high": round(iv.total_high, 2), **self.value_interval()}
        return keys

    def value_interval(self) -> dict[str, float | None]:
        """Interval of the total predicted value: the total's purchase interval scaled by value per purchase."""
        total = self.clv_total()
        iv = self.intervals
        if total is None or iv is None or iv.total <= 0:
            return {"value_low": None, "value_high": None}
        return {"value_low": round(total * iv.total_low / iv.total, 2), "value_high": round(total * iv.total_high / iv.total, 2)}


def _rounded(values: dict[str, float], digits: int = 6) -> dict[str, float | None]:
    return {k: (round(v, digits) if np.isfinite(v) else None) for k, v in values.items()}


@serial_blas
def fit_clv(tx: pl.LazyFrame, settings: CLVSettings = CLVSettings(), rules: SufficiencyRules = SufficiencyRules(),
            holdout_end: dt.date | None = None, per_customer: PerCustomer | None = None,
            prepared: PreparedRuns | None = None) -> CLVResult:
    """Fit the purchase model(s) and Gamma-Gamma up to ``settings.calibration_end`` and score every customer.

    With ``settings.model == "auto"`` all three purchase models are fitted and the one that
    predicts a holdout best is used: the orders in ``(calibration_end, holdout_end]`` when
    ``holdout_end`` is given, otherwise the last weeks of the calibration data
    (:func:`default_holdout_weeks`, models refitted on the rest).

    Raises
    ------
    ValueError
        When there is no customer with a purchase to fit on, or the model name is unknown.

    ``per_customer(build)`` collects ``build(tx)``, a query of one row per customer from that
    customer's orders (default: at once; the CLI builds it slice by slice of customers for files
    read in batches, see :func:`crm_core.commands.common.per_customer`).

    ``prepared``: the customer summary's group-by made ahead by the caller (:func:`crm_core.customers.
    prepare_purchase_runs`, for ``tx`` at the calibration end, with the model choice's split for ``auto`` unless
    the holdout follows the calibration end); used when the summary is made of these very rows, else grouped again.
    """
    # Scored once the fit's own per-customer arrays are gone (3M customers: a few hundred MB).
    result, intervals = _fit(tx, settings, rules, holdout_end, per_customer, prepared)
    return _rescore(result, settings, intervals)


def _fit(tx: pl.LazyFrame, settings: CLVSettings, rules: SufficiencyRules, holdout_end: dt.date | None,
         per_customer: PerCustomer | None, prepared: PreparedRuns | None = None
         ) -> tuple[CLVResult, Pending[PurchaseIntervals] | Future[PurchaseIntervals] | None]:
    """:func:`fit_clv` up to the scores that depend on the horizon, margin and interval (see :func:`rescore`),
    and the chosen model's intervals when the worker process computes them meanwhile."""
    collect = per_customer or (lambda build: build(tx).collect())
    calibration_end = settings.calibration_end or data_as_of(tx)
    # Auto: the orders to compare the models on. Held back from the calibration data (the default),
    # they are counted in the same pass as the customers' statistics; after it, on a worker thread
    # (Polars) while the models fit.
    holdout = _comparison_holdout(tx, calibration_end, holdout_end) if settings.model == AUTO else None
    split = holdout[0] if holdout is not None and holdout[1] == calibration_end else None
    everyone = collect(lambda rows: rfm_summary(rows, calibration_end, keep_non_buyers=True, split=split,
                                                prepared=prepared))
    prepared = None  # taken (or not usable): the group-by's table is the summary's to free
    counts: Callable[[], pl.DataFrame] | None = None
    if split is not None:
        counts, everyone = _split_counts(everyone), everyone.drop(SPLIT_COLUMNS)
    elif holdout is not None:
        counts = parallel.submit(_holdout_counts, collect, *holdout).result
    # Customers with a purchase (not only returns): usually all of them, then no copy of the table.
    bought = pl.col("first_purchase_date").is_not_null()
    summary = everyone if everyone["first_purchase_date"].null_count() == 0 else everyone.filter(bought)
    customers_without_purchase = everyone.height - summary.height
    del everyone  # large customer bases: one table of them in memory, not two
    _hand_back_memory(summary.height)  # what the slices of customers used
    if summary.height == 0:
        raise ValueError("No purchases before the calibration end: nothing to model. Pick a later date or load orders.")
    names = list(MODELS) if settings.model == AUTO else [make_model(settings.model).NAME]
    # as_float: float columns without nulls are used in place (3M customers: no copies of 24 MB each)
    x, t_x, age = (as_float(summary[c]) for c in ("frequency", "recency", "T"))
    monetary = as_float(summary["monetary_value"])
    spend_ok = (x > 0) & np.isfinite(monetary) & (monetary > 0)
    # The spend model is independent of the purchase models: it fits meanwhile, in the worker process when
    # there is one (crm_core.worker; read back before Pareto/NBD goes there), else on a worker thread.
    spend_fit = (worker.submit(GammaGammaModel(rules.max_spend_correlation).fit, x[spend_ok], monetary[spend_ok])
                 if spend_ok.sum() >= 2 else None)
    check_rfm(x, t_x, age)
    coded = compress_rows(x, t_x, age)  # shared by the fits and P(alive)
    ux, ut, uT = coded.columns
    if spend_fit is not None and worker.available():
        spend_fit.result()  # done meanwhile (a few ms): the worker is free for BG/NBD and Pareto/NBD
    # Pareto/NBD fits beside the rest (start_fits). When it fits in the worker process and the models are
    # compared before a split, their refits start meanwhile (compare_refitted), the other models on all data
    # fitted between them. Otherwise (large customer bases) they wait for it: two Pareto/NBD fits at once
    # would hold two sets of quadrature nodes (at 30M orders a few hundred MB more).
    pending = start_fits([BetaGeoModel.NAME, *names], coded, rest_later=True)
    comparison = None
    beside = worker.available() and len(coded.counts) <= worker.MAX_ROWS
    if settings.model == AUTO and beside and (holdout is None or holdout[0] < calibration_end):
        comparison = _choose(pending, holdout, counts, calibration_end)
    fitted = pending.result()
    _hand_back_memory(summary.height)
    if settings.model == AUTO and comparison is None:  # the models as fitted, judged on the later orders
        comparison = _choose(fitted, holdout, counts, calibration_end)
    counts = None  # the holdout's table is not needed any more
    _hand_back_memory(summary.height)
    model = fitted[comparison.chosen if comparison else names[0]]
    intervals = None
    if (settings.interval is not None and worker.available() and summary.height < LARGE_BASE
            and len(coded.counts) <= worker.MAX_ROWS):
        # The worker process computes the intervals (the slowest scores) while the rest is scored here.
        intervals = worker.submit(quiet_purchase_intervals, model, None, None, None, settings.horizon_weeks,
                                  settings.interval, coded)
    history_days = int((calibration_end - summary["first_purchase_date"].min()).days)
    repeat_share = float((x > 0).mean())
    problems = sufficiency_problems(summary.height, history_days, repeat_share, rules)
    if not model.converged_:
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
    with np.errstate(all="ignore"):  # a fit that did not converge may sit where formulas divide by zero
        customers = summary.with_columns(
            pl.Series("p_alive", model.conditional_probability_alive(ux, ut, uT)[coded.inverse]),
            pl.Series("expected_spend", spend),
        )
        customers = next_order_columns(model, customers, calibration_end)
    return CLVResult(
        customers=customers, bgnbd=fitted[BetaGeoModel.NAME], gamma_gamma=gamma_gamma, settings=settings,
        calibration_end=calibration_end, history_days=history_days,
        customers_without_purchase=customers_without_purchase, spend_excluded=spend_excluded,
        repeat_share=repeat_share, problems=problems, warnings=warnings, chosen=model,
        fitted={name: fitted[name] for name in names}, comparison=comparison,
    ), intervals


LARGE_BASE = 500_000  # customers from which memory freed between the steps is handed back to the system


def _hand_back_memory(customers: int) -> None:
    """Return the memory the last step's arrays freed to the system, for large customer bases.

    glibc's malloc keeps freed blocks in the arena of the thread that freed them (the fits run on
    worker threads) and at the top of its heaps, where the next step's arrays often do not reuse them:
    at 3M customers a few hundred MB of resident memory. A no-op elsewhere (other C libraries)."""
    if customers >= LARGE_BASE:
        hand_back_memory()


def _holdout_counts(collect: PerCustomer, split: dt.date, end: dt.date) -> pl.DataFrame:
    """:func:`~crm_core.clv.validation.holdout_counts`, collected by ``collect``."""
    return collect(lambda rows: holdout_counts_query(rows, split, end)).drop(C.CUSTOMER_ID)


SPLIT_COLUMNS = ("split_frequency", "split_recency", "split_T", "split_holdout_purchases")


def _split_counts(everyone: pl.DataFrame) -> Callable[[], pl.DataFrame]:
    """:func:`~crm_core.clv.validation.holdout_counts` at the split from :func:`rfm_summary`'s split columns."""
    frame = everyone.select(pl.col(SPLIT_COLUMNS).name.map(lambda name: name.removeprefix("split_")))
    if frame["frequency"].null_count():  # customers who first bought after the split (no copy otherwise)
        frame = frame.filter(pl.col("frequency").is_not_null())
    return lambda: frame


def _comparison_holdout(tx: pl.LazyFrame, calibration_end: dt.date,
                        holdout_end: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """(split, end) of the orders "auto" compares the models on: after the calibration end when there
    are some, otherwise the last weeks of the calibration data; None when the history is too short."""
    if holdout_end is not None and holdout_end > calibration_end:
        return calibration_end, holdout_end
    first = first_purchase_date(tx, calibration_end)
    if first is None:  # nothing to model: fit_clv says so
        return None
    split = calibration_end - dt.timedelta(weeks=default_holdout_weeks(first, calibration_end))
    return (split, calibration_end) if (split - first).days >= MIN_CHOICE_DAYS else None


def _choose(fitted: dict[str, PurchaseModel] | PendingFits, holdout: tuple[dt.date, dt.date] | None,
            counts: Callable[[], pl.DataFrame] | None, calibration_end: dt.date) -> ModelComparison:
    """Which model predicts best on the holdout: the models as fitted when it follows the calibration
    end (``fitted`` then holds them all), otherwise refitted up to the split (:func:`compare_refitted`,
    from ``fitted``'s estimates, which may still be fitting)."""
    if holdout is not None and counts is not None:
        split, end = holdout
        weeks = (end - split).days / DAYS_PER_WEEK
        try:
            if split < calibration_end:
                return compare_refitted(counts(), weeks,
                                        fitted if isinstance(fitted, PendingFits) else PendingFits.of(fitted))
            models = fitted.result() if isinstance(fitted, PendingFits) else fitted
            return compare_on_counts(counts(), weeks, {name: m for name, m in models.items() if name in MODELS},
                                     refit=False)
        except ValueError:  # nothing to compare on (e.g. no purchase before the split): the default model
            pass
    table = pl.DataFrame({"model": [BetaGeoModel.NAME], "label": [BetaGeoModel.LABEL]})
    return ModelComparison(table, BetaGeoModel.NAME, "BG/NBD is used: the history is too short to hold weeks "
                                                    "back and compare the models.")


@serial_blas
def rescore(result: CLVResult, settings: CLVSettings) -> CLVResult:
    """Recompute expected purchases, intervals and CLV for a new horizon, margin, discount rate or
    interval level (no refit).

    ``settings.calibration_end`` and ``settings.model`` are ignored: the models stay fitted as they are.
    """
    return _rescore(result, settings, None)


def _rescore(result: CLVResult, settings: CLVSettings,
             intervals_pending: Pending[PurchaseIntervals] | Future[PurchaseIntervals] | None) -> CLVResult:
    """:func:`rescore`; ``intervals_pending``: the intervals for ``settings`` being computed already."""
    customers = result.customers
    x, t_x, age = (as_float(customers[c]) for c in ("frequency", "recency", "T"))
    model = result.model
    expected, discounted = discounted_purchases(model, x, t_x, age, settings.horizon_weeks, settings.annual_discount_rate,
                                                p_alive=customers["p_alive"].to_numpy())
    intervals = None
    if intervals_pending is not None:
        intervals = intervals_pending.result()
    elif settings.interval is not None:  # None: point forecasts only (the like-for-like speed comparison)
        intervals = quiet_purchase_intervals(model, x, t_x, age, settings.horizon_weeks, settings.interval)
    low, high = (intervals.low, intervals.high) if intervals else (np.full_like(x, np.nan), np.full_like(x, np.nan))
    spend = customers["expected_spend"].to_numpy()
    value_per_purchase = settings.margin * spend * np.divide(discounted, expected, out=np.zeros_like(expected),
                                                             where=expected > 0)
    customers = customers.with_columns(
        pl.Series("expected_purchases", expected),
        pl.Series("purchases_low", low),
        pl.Series("purchases_high", high),
        pl.Series("clv", settings.margin * spend * discounted),
        pl.Series("value_low", value_per_purchase * low),
        pl.Series("value_high", value_per_purchase * high),
    )
    kept = replace(settings, calibration_end=result.settings.calibration_end, model=result.settings.model)
    _hand_back_memory(customers.height)
    return replace(result, customers=customers, settings=kept, intervals=intervals)


def parameter_table(result: CLVResult) -> pl.DataFrame:
    """Model, parameter, estimate, standard error and a plain reading of each fitted parameter."""
    model = result.model
    bg = model.params_
    title = f"Purchases ({model.LABEL})"
    rate = bg["r"] / bg["alpha"]
    rows = [
        (title, "r", "shape of purchase rates across customers"),
        (title, "alpha", f"scale in weeks: while active, customers buy {rate:.3f} times a week on average (r / alpha)"),
    ]
    if "a" in bg:
        dropout = bg["a"] / (bg["a"] + bg["b"])
        moment = "each purchase, the first included" if model.NAME == "mbg-nbd" else "each repeat purchase"
        rows += [(title, "a", "shape of drop-out chances across customers"),
                 (title, "b", f"after {moment} {dropout:.1%} of customers leave for good on average (a / (a + b))")]
    else:
        lifetime = bg["beta"] / (bg["s"] - 1.0) if bg["s"] > 1.0 else float("inf")
        life = f"{lifetime:,.0f} weeks" if np.isfinite(lifetime) else "longer than any horizon (s <= 1)"
        rows += [(title, "s", "shape of drop-out rates across customers"),
                 (title, "beta", f"scale in weeks: an active customer stays {life} on average (beta / (s - 1))")]
    values = [(bg[name], model.standard_errors_[name]) for _, name, _ in rows]
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



FORECAST_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "purchases_low", "purchases_high",
                    "predicted_value", "value_low", "value_high", "next_order_date")


def customer_forecasts(result: CLVResult, offset: int = 0, length: int | None = None) -> pl.DataFrame:
    """One row per customer: the forecast over the horizon with its interval, and the next order date
    (null when the customer has probably lapsed). The CLI's ``--customers-out`` columns.

    ``offset``, ``length``: only those customers' rows (the CLI writes 3M customers a slice at a time)."""
    return result.customers.slice(offset, length).select(
        C.CUSTOMER_ID,
        pl.col("p_alive").round(6),
        pl.col("expected_purchases").round(6),
        pl.col("purchases_low").cast(pl.Int64, strict=False),
        pl.col("purchases_high").cast(pl.Int64, strict=False),
        pl.col("clv").round(4).alias("predicted_value"),
        pl.col("value_low").round(4),
        pl.col("value_high").round(4),
        "next_order_date",
    )


def forecast_fan_frame(result: CLVResult, steps: int = 8) -> pl.DataFrame:
    """week_end, expected, low, high: cumulative repeat purchases of all customers after the calibration
    end, with the total's prediction interval at the result's level (for the fan chart)."""
    c = result.customers
    x, t_x, age = (as_float(c[k]) for k in ("frequency", "recency", "T"))
    with np.errstate(all="ignore"):
        fan = forecast_fan(result.model, x, t_x, age, result.settings.horizon_weeks, result.settings.interval or 0.8,
                           steps)
    ends = [result.calibration_end + dt.timedelta(days=round(w * DAYS_PER_WEEK)) for w in fan.pop("weeks")]
    return pl.DataFrame({"week_end": ends, **fan})
