"""Pareto/NBD and MBG/NBD: golden values from lifetimes 0.11.3 on CDNOW, exact derivatives, extreme histories.

The reference numbers were computed once with lifetimes 0.11.3 (ParetoNBDFitter and
ModifiedBetaGeoFitter, default settings) on the CDNOW sample's calibration period
(to 1997-09-30, weeks), and are stored here: the tests do not import lifetimes.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.optimize import approx_fprime

from conftest import DATA
from crm_core.clv import compress, rfm_summary
from crm_core.clv.bg_nbd import BetaGeoModel, BGNBDLikelihood
from crm_core.clv.mbg_nbd import ModifiedBetaGeoModel
from crm_core.clv import pareto_nbd
from crm_core.clv.pareto_nbd import ParetoNBDLikelihood, ParetoNBDModel

LIFETIMES = {
    # params_ after fit; log_likelihood = lifetimes' own per-customer log-likelihood summed at those params
    "pareto-nbd": ({"r": 0.5532744007249215, "alpha": 10.577751285202817, "s": 0.6062354222387359,
                    "beta": 11.66910808190426}, -9594.97617901983),
    "mbg-nbd": ({"r": 0.5248429031495553, "alpha": 6.18308176439901, "a": 0.8913595172712963,
                 "b": 1.6140029311986195}, -4.065394872954504 * 2357),
}
# lifetimes' conditional_probability_alive and conditional_expected_number_of_purchases_up_to_time(52, ...)
HISTORIES = np.array([(0, 0.0, 38.857), (2, 30.43, 38.86), (5, 10.0, 38.0), (10, 35.0, 36.0)])
LIFETIMES_PREDICTIONS = {
    "pareto-nbd": ([0.2951225134943119, 0.8691176277885503, 0.051716360267294446, 0.9856678544851896],
                   [0.13618855123934434, 1.850768020609858, 0.24301598139386013, 9.111129098053212]),
    "mbg-nbd": ([0.3897235002353977, 0.706125699315963, 0.02806349506106094, 0.9100880166016434],
                [0.19764473495375168, 1.5968237113226258, 0.13502383031605306, 8.400793301900757]),
}
MODELS = {"pareto-nbd": ParetoNBDModel, "mbg-nbd": ModifiedBetaGeoModel}


@pytest.fixture(scope="module")
def rfm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tx = (pl.scan_csv(DATA / "cdnow_sample.csv", schema_overrides={"customer_id": pl.String})
          .with_columns(pl.col("order_date").str.to_date()))
    summary = rfm_summary(tx, dt.date(1997, 9, 30)).collect()
    return tuple(summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))


@pytest.fixture(scope="module")
def fitted(rfm) -> dict:
    return {name: cls().fit(*rfm) for name, cls in MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_parameters_and_log_likelihood_match_lifetimes(fitted, name):
    model = fitted[name]
    params, log_likelihood = LIFETIMES[name]
    assert model.converged_
    for key, value in params.items():
        assert model.params_[key] == pytest.approx(value, rel=1e-4), key
    # Our optimum is at least as high as lifetimes', and the same to 1e-8 relative.
    assert model.log_likelihood_ >= log_likelihood - 1e-6
    assert model.log_likelihood_ == pytest.approx(log_likelihood, rel=1e-8)
    assert all(np.isfinite(v) and v > 0 for v in model.standard_errors_.values())


@pytest.mark.parametrize("name", list(MODELS))
def test_predictions_match_lifetimes(fitted, name):
    model = fitted[name]
    p_alive, expected = LIFETIMES_PREDICTIONS[name]
    x, t_x, age = HISTORIES.T
    np.testing.assert_allclose(model.conditional_probability_alive(x, t_x, age), p_alive, rtol=1e-4)
    np.testing.assert_allclose(model.conditional_expected_number_of_purchases_up_to_time(52, x, t_x, age),
                               expected, rtol=1e-4)


def test_mbg_fits_cdnow_better_than_bg(fitted, rfm):
    bg = BetaGeoModel().fit(*rfm)
    assert fitted["mbg-nbd"].log_likelihood_ > bg.log_likelihood_
    assert fitted["mbg-nbd"].bic() < bg.bic()


@pytest.mark.parametrize("name", ["bg-nbd", "mbg-nbd", "pareto-nbd"])
def test_survival_sums_to_the_expected_purchases(fitted, name, rfm):
    """sum_k P(X >= k | active) = E[X | active]: the interval distribution and the point forecast agree."""
    model = fitted.get(name) or BetaGeoModel().fit(*rfm)
    x, _, age = HISTORIES.T
    k = np.arange(1, 600.0)[:, None]
    total = model.purchase_survival_if_alive(k, 52.0, x, age).sum(axis=0)
    np.testing.assert_allclose(total, model.purchases_if_alive(52.0, x, age), rtol=1e-8)


def _likelihoods(rfm):
    (ux, ut, uT), counts, _ = compress(*rfm)
    point = np.log([0.6, 9.0, 0.7, 13.0])
    yield "pareto-nbd", ParetoNBDLikelihood(ux, ut, uT, counts, tuple(np.exp(point))), point
    yield "mbg-nbd", BGNBDLikelihood(ux, ut, uT, counts, shift=1), np.log([0.5, 6.0, 0.9, 1.6])


def test_gradients_and_hessians_are_exact(rfm):
    for name, nll, point in _likelihoods(rfm):
        value, grad = nll(point)
        numeric = approx_fprime(point, lambda p: nll(p)[0], 1e-6)
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-2, err_msg=name)
        hessian = nll.hessian(point)
        numeric_h = np.array([approx_fprime(point, lambda p, i=i: nll(p)[1][i], 1e-6) for i in range(4)])
        assert np.max(np.abs(numeric_h - hessian)) < 1e-5 * np.max(np.abs(hessian)), name



def test_pareto_likelihood_in_row_chunks_equals_one_pass(rfm, monkeypatch):
    """Large fits take the rows in chunks (memory); the sums over chunks are the one-pass value, gradient, Hessian."""
    (ux, ut, uT), counts, _ = compress(*rfm)
    point = np.log([0.6, 9.0, 0.7, 13.0])
    whole = ParetoNBDLikelihood(ux, ut, uT, counts, tuple(np.exp(point)))
    one_pass_fit = ParetoNBDModel().fit(*rfm).theta()
    monkeypatch.setattr(pareto_nbd, "CHUNK_ROWS", max(len(ux) // 7, 1))
    chunked = ParetoNBDLikelihood(ux, ut, uT, counts, tuple(np.exp(point)))
    assert len(chunked.chunks) >= 7 and len(whole.chunks) == 1
    for got, want in zip(chunked(point), whole(point)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(chunked.hessian(point), whole.hessian(point), rtol=1e-11)
    np.testing.assert_allclose(ParetoNBDModel().fit(*rfm).theta(), one_pass_fit, rtol=1e-8)


@pytest.mark.parametrize("model", [BetaGeoModel, ModifiedBetaGeoModel])
def test_bg_likelihood_in_row_chunks_equals_one_pass(rfm, monkeypatch, model):
    """BG/NBD and MBG/NBD sum their repeat rows in chunks over REPEAT_CHUNK_ROWS (memory): the one-pass value,
    gradient and Hessian, the same fit."""
    from crm_core.clv import bg_nbd

    (ux, ut, uT), counts, _ = compress(*rfm)
    point = np.log([0.6, 9.0, 0.7, 3.0])
    shift = int(model is ModifiedBetaGeoModel)
    whole = BGNBDLikelihood(ux, ut, uT, counts, shift=shift)
    one_pass = (whole(point), whole.hessian(point), model().fit(*rfm).theta())
    monkeypatch.setattr(bg_nbd, "REPEAT_CHUNK_ROWS", max(len(whole.xr) // 7, 1))
    chunked = BGNBDLikelihood(ux, ut, uT, counts, shift=shift)
    for got, want in zip(chunked(point), one_pass[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(chunked.hessian(point), one_pass[1], rtol=1e-11)
    np.testing.assert_allclose(model().fit(*rfm).theta(), one_pass[2], rtol=1e-8)


def test_pareto_chunks_by_nodes_and_nodes_placed_again_equal_one_pass(rfm, monkeypatch):
    """Histories with many nodes (30M orders) are taken in chunks of at most CHUNK_NODES nodes, and nodes past
    STORED_NODES are placed again at each evaluation: the same sums, and each row's odds exactly the same."""
    (ux, ut, uT), counts, _ = compress(*rfm)
    point = np.log([0.6, 9.0, 0.7, 13.0])
    whole = ParetoNBDLikelihood(ux, ut, uT, counts, tuple(np.exp(point)))
    model = ParetoNBDModel().fit(*rfm)
    odds, gradient = model.log_dropout_odds_and_gradient(ux, ut, uT)
    alive = model.conditional_probability_alive(ux, ut, uT)
    nodes = pareto_nbd.node_counts(ux, ut, uT, tuple(np.exp(point)))
    monkeypatch.setattr(pareto_nbd, "CHUNK_NODES", int(nodes.sum()) // 9)
    monkeypatch.setattr(pareto_nbd, "STORED_NODES", int(nodes.sum()) // 3)
    chunked = ParetoNBDLikelihood(ux, ut, uT, counts, tuple(np.exp(point)))
    assert len(chunked.chunks) >= 9 and any(stored is None for _, stored in chunked.chunks)
    assert sum(len(stored.row) for _, stored in chunked.chunks if stored is not None) < nodes.sum()
    for got, want in zip(chunked(point), whole(point)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(chunked.hessian(point), whole.hessian(point), rtol=1e-11)
    chunked_odds, chunked_gradient = model.log_dropout_odds_and_gradient(ux, ut, uT)
    np.testing.assert_array_equal(chunked_odds, odds)
    np.testing.assert_array_equal(chunked_gradient, gradient)
    np.testing.assert_array_equal(model.conditional_probability_alive(ux, ut, uT), alive)


def test_row_chunks_respect_both_limits(monkeypatch):
    monkeypatch.setattr(pareto_nbd, "CHUNK_ROWS", 4)
    monkeypatch.setattr(pareto_nbd, "CHUNK_NODES", 10)
    chunks = pareto_nbd.row_chunks(np.array([3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 40, 2]))
    assert [(c.start, c.stop) for c in chunks] == [(0, 3), (3, 7), (7, 10), (10, 11), (11, 12)]
    assert [(c.start, c.stop) for c in pareto_nbd.row_chunks(np.array([], dtype=np.int64))] == [(0, 1)]

EXTREMES = np.array([
    (0, 0.0, 1e-6),  # bought minutes ago
    (0, 0.0, 1e4),  # one purchase two centuries ago
    (0, 0.0, 0.0),  # first purchase today
    (1e4, 50.0, 52.0),  # a purchase every day, silent two weeks
    (1e4, 52.0, 52.0),  # t_x = T
    (3, 5.0, 5.0),  # t_x = T, short history
    (500, 1.0, 1000.0),  # many purchases long ago
    (1, 1e-6, 1e4),
])


@pytest.mark.parametrize("name", ["bg-nbd", "mbg-nbd", "pareto-nbd"])
def test_no_nan_on_extreme_histories(fitted, name, rfm):
    model = fitted.get(name) or BetaGeoModel().fit(*rfm)
    x, t_x, age = EXTREMES.T
    p_alive = model.conditional_probability_alive(x, t_x, age)
    expected = model.conditional_expected_number_of_purchases_up_to_time(52.0, x, t_x, age)
    assert np.all(np.isfinite(p_alive)) and np.all((p_alive >= 0) & (p_alive <= 1))
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert p_alive[4] > 0.99 and p_alive[3] < 1e-6  # bought to the end vs. a daily buyer gone quiet


def test_pareto_likelihood_is_finite_where_the_closed_form_cancels():
    """t_x close to T: the hypergeometric difference loses every digit; the quadrature does not."""
    x, t_x, age = np.array([40.0, 200.0]), np.array([38.99999, 52.0 - 1e-9]), np.array([39.0, 52.0])
    nll = ParetoNBDLikelihood(x, t_x, age, np.ones(2), (0.55, 10.6, 0.61, 11.7))
    value, grad = nll(np.log([0.55, 10.6, 0.61, 11.7]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", ["bg-nbd", "mbg-nbd", "pareto-nbd"])
def test_grid_survival_equals_the_direct_formula(fitted, name, rfm):
    """The running-sum form used for intervals agrees with the incomplete-beta form, run by run."""
    model = fitted.get(name) or BetaGeoModel().fit(*rfm)
    x_hist, _, age_hist = HISTORIES.T
    runs = [np.arange(1, 120.0) for _ in x_hist]
    k = np.concatenate(runs)
    starts = np.cumsum([0] + [len(r) for r in runs[:-1]])
    x = np.repeat(x_hist, [len(r) for r in runs])
    age = np.repeat(age_hist, [len(r) for r in runs])
    grid = model.purchase_survival_grid(k, starts, 52.0, x, age, model.theta())
    direct = model.purchase_survival_if_alive(k, 52.0, x, age)
    np.testing.assert_allclose(grid, direct, atol=1e-9)


def test_choice_takes_the_smallest_error_per_customer_and_breaks_near_ties_on_the_total(fitted, rfm):
    from crm_core.clv.validation import choose

    models = {"bg-nbd": BetaGeoModel().fit(*rfm), **fitted}
    actual = np.array([0.0, 2.0, 4.0, 1.0])
    clear = {"bg-nbd": actual + 0.5, "mbg-nbd": actual + 0.2, "pareto-nbd": actual - 0.3}
    comparison = choose(models, clear, actual, 39.0)
    assert comparison.chosen == "mbg-nbd"
    assert comparison.reason.startswith("MBG/NBD is used because it predicted the 39 held-back weeks best")
    assert "0.200" in comparison.reason and "Pareto/NBD" in comparison.reason  # the runner-up named
    # MAEs within 0.5 %: the smaller error of the total decides (over- and under-predictions cancel for Pareto).
    tie = {"bg-nbd": actual + 0.5, "mbg-nbd": actual + 0.2, "pareto-nbd": actual + np.array([0.2, -0.2, 0.2, -0.2])}
    comparison = choose(models, tie, actual, 39.0)
    assert comparison.chosen == "pareto-nbd" and "closer on the total" in comparison.reason
    assert comparison.table["bic"].to_list() == [m.bic() for m in models.values()]


def test_pareto_fits_customers_who_all_bought_on_their_last_day():
    """t_x = T for everyone: no quadrature node at all, and the fit still runs (reported as not converged)."""
    x, t_x, age = np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 3.0])
    model = ParetoNBDModel().fit(x, t_x, age)
    assert np.all(np.isfinite(list(model.params_.values())))
    assert np.all(np.isfinite(model.conditional_probability_alive(x, t_x, age)))


def test_pareto_fit_is_the_same_from_any_start(rfm):
    """The start (BG/NBD's estimate mapped to Pareto/NBD, the caller's, or the moment-based one) changes
    how many Newton steps the fit takes, never where it ends."""
    from crm_core.clv.pareto_nbd import start_from_bgnbd

    mapped = start_from_bgnbd(BetaGeoModel().fit(*rfm).params_)
    assert mapped is not None and mapped["r"] > 0 and mapped["s"] > 0 and mapped["beta"] > 0
    assert start_from_bgnbd({"r": 0.2, "alpha": 4.0, "a": 0.0, "b": 2.0}) is None  # a = 0: no finite start
    fits = [ParetoNBDModel().fit(*rfm, start=start) for start in
            (None, mapped, {"r": 2.0, "alpha": 1.0, "s": 3.0, "beta": 100.0})]
    for fit in fits:
        assert fit.converged_
        for key, value in LIFETIMES["pareto-nbd"][0].items():
            assert fit.params_[key] == pytest.approx(fits[0].params_[key], rel=1e-7), key


@pytest.mark.parametrize("nodes", [3, 4, 6, 8, 5])
def test_gauss_legendre_rules_are_numpys_to_the_last_bit(nodes):
    """The written-out rules (no numpy.polynomial import) are exactly leggauss'; other sizes come from it."""
    from numpy.polynomial.legendre import leggauss

    from crm_core.clv.pareto_nbd import gauss_legendre

    for ours, numpys in zip(gauss_legendre(nodes), leggauss(nodes)):
        assert np.array_equal(ours, numpys)


@pytest.mark.parametrize("values", [
    np.arange(0, 1100) / 7.0,  # weeks from whole days
    np.array([3.0, 0.0, 3.0, 12.0, 1.0]),  # counts, repeated, unsorted
    np.array([1 / 7, 1 / 7 + 1e-12, 2.0]),  # two values on one grid step: sorted instead
    np.array([0.5, 0.25, np.nan]),  # not finite: sorted instead
    np.array([1e300, 0.0]),  # too wide a range for a table of steps
    np.random.default_rng(1).random(200),
])
def test_value_codes_are_np_unique(values):
    from crm_core.clv.fitting import value_codes

    distinct, codes = value_codes(values)
    expected, inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(distinct, expected, equal_nan=True)
    assert np.array_equal(codes, inverse.ravel())
