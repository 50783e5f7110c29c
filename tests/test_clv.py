"""BG/NBD, Gamma-Gamma and CLV: golden CDNOW values and hand-computed formulas."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import DATA
from scipy.optimize import approx_fprime

from crm_core.clv import (
    WEEKS_PER_MONTH,
    WEEKS_PER_YEAR,
    BetaGeoModel,
    CLVSettings,
    GammaGammaModel,
    compress,
    customer_lifetime_value,
    fit_clv,
    months_to_weeks,
    rfm_summary,
    sufficiency_problems,
    weeks_label,
)
from crm_core.clv.bg_nbd import BGNBDLikelihood, bgnbd_starts
from crm_core.clv.fitting import maximise
from crm_core.clv.gamma_gamma import GammaGammaLikelihood

D = dt.date
DEMO_TRANSACTIONS = Path(__file__).resolve().parents[1] / "data" / "demo" / "transactions.parquet"
CALIBRATION_END = D(1997, 9, 30)
EXPECTED = json.loads((DATA / "cdnow_sample_expected.json").read_text())
PARAMS = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


def cdnow() -> pl.LazyFrame:
    return (
        pl.scan_csv(DATA / "cdnow_sample.csv", schema_overrides={"customer_id": pl.String})
        .with_columns(pl.col("order_date").str.to_date())
        .collect().lazy()
    )


@pytest.fixture(scope="module")
def calibration() -> pl.DataFrame:
    return rfm_summary(cdnow(), CALIBRATION_END).collect()


@pytest.fixture(scope="module")
def cdnow_fit():
    return fit_clv(cdnow(), CLVSettings(calibration_end=CALIBRATION_END, model="bg-nbd"))


def model_with(params: dict[str, float]) -> BetaGeoModel:
    model = BetaGeoModel()
    model.params_ = dict(params)
    return model


def hyp2f1_series(a: float, b: float, c: float, z: float, terms: int = 400) -> float:
    """Gauss hypergeometric series summed by hand (|z| < 1)."""
    total, term = 1.0, 1.0
    for k in range(terms):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
    return total


# ---------------------------------------------------------------- golden CDNOW


def test_cdnow_sufficient_statistics_match_the_paper(calibration):
    cal = EXPECTED["calibration"]
    assert calibration.height == EXPECTED["customers"]
    assert calibration["frequency"].sum() == cal["repeat_transactions_sum_x"]
    assert (calibration["frequency"] > 0).sum() == cal["customers_with_repeat"]
    first_day = calibration.filter(pl.col("first_purchase_date") == D(1997, 1, 1))
    assert first_day["T"].to_list()[0] == pytest.approx(272 / 7)


def test_cdnow_bgnbd_reproduces_published_parameters(cdnow_fit):
    published = EXPECTED["bgnbd"]["published"]
    model = cdnow_fit.bgnbd
    for name in ("r", "alpha", "a", "b"):
        assert model.params_[name] == pytest.approx(published[name], rel=0.005), name
    assert abs(model.log_likelihood_ - published["log_likelihood"]) < 0.1
    assert model.log_likelihood_ == pytest.approx(EXPECTED["bgnbd"]["refit"]["log_likelihood"], abs=1e-3)
    assert model.converged_ and model.n_customers_ == 2357 and model.n_unique_rows_ < 2357
    assert all(0 < se < model.params_[k] for k, se in model.standard_errors_.items())


def test_cdnow_gamma_gamma_reproduces_published_parameters(cdnow_fit):
    published = EXPECTED["gamma_gamma"]["published"]
    model = cdnow_fit.gamma_gamma
    assert model.n_customers_ == EXPECTED["gamma_gamma"]["n_customers"]
    for name in ("p", "q", "v"):
        assert model.params_[name] == pytest.approx(published[name], rel=0.01), name
    assert model.log_likelihood_ == pytest.approx(EXPECTED["gamma_gamma"]["refit"]["log_likelihood"], abs=1e-3)
    assert model.converged_ and abs(model.frequency_spend_correlation_) < 0.3 and not model.warnings_


def test_cdnow_fit_is_reported_reliable(cdnow_fit):
    assert cdnow_fit.reliable and cdnow_fit.problems == [] and cdnow_fit.spend_excluded == 0
    payload = cdnow_fit.to_dict()
    assert payload["time_unit"] == "week" and payload["customers"] == 2357
    assert payload["bgnbd"]["r"] == pytest.approx(0.2426, abs=1e-4)


# ---------------------------------------------------------------- formulas by hand


def test_probability_alive_is_one_without_repeat_purchases():
    model = model_with(PARAMS)
    assert model.conditional_probability_alive([0, 0], [0, 0], [5, 50]).tolist() == [1.0, 1.0]


def test_probability_alive_by_hand():
    r, alpha, a, b = PARAMS.values()
    x, t_x, age = 2, 10.0, 30.0
    odds = a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x)
    expected = 1 / (1 + odds)
    assert model_with(PARAMS).conditional_probability_alive([x], [t_x], [age])[0] == pytest.approx(expected, rel=1e-12)
    # A recent buyer (t_x = T) is more likely alive than one silent for 20 weeks.
    assert model_with(PARAMS).conditional_probability_alive([x], [age], [age])[0] > expected


def test_conditional_expected_purchases_by_hand():
    r, alpha, a, b = PARAMS.values()
    x, t_x, age, t = 3, 20.0, 26.0, 8.0
    z = t / (alpha + age + t)
    head = (a + b + x - 1) / (a - 1)
    series = hyp2f1_series(r + x, b + x, a + b + x - 1, z)
    numerator = head * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * series)
    denominator = 1 + a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x)
    ours = model_with(PARAMS).conditional_expected_number_of_purchases_up_to_time(t, [x], [t_x], [age])[0]
    assert ours == pytest.approx(numerator / denominator, rel=1e-10)


def test_unconditional_expected_purchases_by_hand():
    r, alpha, a, b = PARAMS.values()
    t = 10.0
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1_series(r, b, a + b - 1, t / (alpha + t)))
    model = model_with(PARAMS)
    assert model.expected_number_of_purchases_up_to_time(t) == pytest.approx(expected, rel=1e-10)
    assert model.expected_number_of_purchases_up_to_time(0.0) == pytest.approx(0.0, abs=1e-12)


def test_gamma_gamma_expected_spend_by_hand():
    model = GammaGammaModel()
    model.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    # x = 2 purchases averaging 30: p (v + x m) / (p x + q - 1) = 6 * 75 / 15 = 30
    assert model.conditional_expected_average_profit([2], [30.0])[0] == pytest.approx(6 * (15 + 60) / (12 + 3))
    # No repeat purchase or unusable spend: the population mean p v / (q - 1) = 30
    assert model.conditional_expected_average_profit([0, 3], [0.0, -5.0]).tolist() == pytest.approx([30.0, 30.0])


def test_gamma_gamma_refuses_non_positive_spend():
    with pytest.raises(ValueError, match="positive"):
        GammaGammaModel().fit([1, 2, 3], [10.0, 0.0, 5.0])
    with pytest.raises(ValueError):
        GammaGammaModel().fit([0, 2, 3], [10.0, 4.0, 5.0])


def test_gamma_gamma_warns_when_spend_follows_frequency():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, 400).astype(float)
    m = 10 * x * rng.gamma(20, 1 / 20, 400)
    model = GammaGammaModel().fit(x, m)
    assert model.frequency_spend_correlation_ > 0.3 and "correlated" in model.warnings_[0]


def test_clv_one_period_by_hand():
    model = model_with(PARAMS)
    spend = GammaGammaModel()
    spend.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    horizon = WEEKS_PER_MONTH  # exactly one monthly cash flow
    settings = CLVSettings(horizon_weeks=horizon, margin=0.3, annual_discount_rate=0.12)
    purchases = model.conditional_expected_number_of_purchases_up_to_time(horizon, [2], [10.0], [30.0])[0]
    expected = 0.3 * 30.0 * purchases / 1.12 ** (horizon / WEEKS_PER_YEAR)
    clv = customer_lifetime_value(model, spend, [2], [10.0], [30.0], [30.0], settings)[0]
    assert clv == pytest.approx(expected, rel=1e-12)


def test_clv_without_discounting_is_spend_times_expected_purchases():
    model = model_with(PARAMS)
    spend = GammaGammaModel()
    spend.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    settings = CLVSettings(horizon_weeks=52.0, margin=1.0, annual_discount_rate=0.0)
    x, t_x, age = np.array([0, 2, 5]), np.array([0.0, 10.0, 25.0]), np.array([12.0, 30.0, 30.0])
    purchases = model.conditional_expected_number_of_purchases_up_to_time(52.0, x, t_x, age)
    expected = spend.conditional_expected_average_profit(x, [0.0, 30.0, 20.0]) * purchases
    clv = customer_lifetime_value(model, spend, x, t_x, age, [0.0, 30.0, 20.0], settings)
    assert clv == pytest.approx(expected, rel=1e-12)
    discounted = customer_lifetime_value(model, spend, x, t_x, age, [0.0, 30.0, 20.0], CLVSettings(annual_discount_rate=0.1))
    assert np.all(discounted < clv)


def test_time_unit_conversions():
    assert months_to_weeks(12) == pytest.approx(365.25 / 7)
    assert weeks_label(months_to_weeks(6)) == "26.1 weeks (6.0 months)"


# ---------------------------------------------------------------- fitting machinery


def test_bgnbd_gradient_matches_finite_differences(calibration):
    x, t_x, age = (calibration[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    (ux, ut, uT), weights, _ = compress(x, t_x, age)
    objective = BGNBDLikelihood(ux, ut, uT, weights)
    point = np.log([0.3, 3.0, 1.2, 2.0])
    numeric = approx_fprime(point, lambda p: objective(p)[0], 1e-6)
    assert objective(point)[1] == pytest.approx(numeric, rel=1e-4)


def test_bgnbd_hessian_matches_finite_differences_of_the_gradient(calibration):
    x, t_x, age = (calibration[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    (ux, ut, uT), weights, _ = compress(x, t_x, age)
    objective = BGNBDLikelihood(ux, ut, uT, weights)
    for point in (np.log([0.3, 3.0, 1.2, 2.0]), np.log([0.24, 4.4, 0.79, 2.4])):
        numeric = np.array([approx_fprime(point, lambda p, i=i: objective(p)[1][i], 1e-6) for i in range(4)])
        assert objective.hessian(point) == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_newton_and_lbfgs_reach_the_same_optimum_and_errors(calibration):
    x, t_x, age = (calibration[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    (ux, ut, uT), weights, _ = compress(x, t_x, age)
    objective = BGNBDLikelihood(ux, ut, uT, weights)
    starts = bgnbd_starts(ux, uT, weights)
    newton = maximise(objective, starts, weights.sum())
    lbfgs = maximise(objective, starts, weights.sum(), newton=False)
    assert newton.converged and lbfgs.converged
    assert newton.params == pytest.approx(lbfgs.params, rel=1e-6)
    assert newton.log_likelihood == pytest.approx(lbfgs.log_likelihood, abs=1e-6)
    assert newton.standard_errors == pytest.approx(lbfgs.standard_errors, rel=1e-3)


def test_newton_falls_back_to_lbfgs_when_it_cannot_finish():
    # Nobody ever comes back: the purchase rate heads to zero, Newton leaves the bounds.
    x, t_x, age = np.zeros(50), np.zeros(50), np.linspace(10.0, 60.0, 50)
    model = BetaGeoModel().fit(x, t_x, age)
    assert np.isfinite(model.log_likelihood_) and not model.converged_


def test_gamma_gamma_gradient_matches_finite_differences(calibration):
    repeat = calibration.filter(pl.col("frequency") > 0)
    objective = GammaGammaLikelihood(repeat["frequency"].to_numpy().astype(float), repeat["monetary_value"].to_numpy())
    point = np.log([4.0, 2.5, 20.0])
    numeric = approx_fprime(point, lambda p: objective(p)[0], 1e-6)
    assert objective(point)[1] == pytest.approx(numeric, rel=1e-4)


def test_weighted_rows_fit_like_the_expanded_customers(calibration):
    x, t_x, age = (calibration[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    (ux, ut, uT), weights, inverse = compress(x, t_x, age)
    assert np.array_equal(ux[inverse], x) and weights.sum() == len(x)
    weighted = BetaGeoModel().fit(ux, ut, uT, weights=weights)
    expanded = BetaGeoModel().fit(x, t_x, age)
    assert weighted.params_ == pytest.approx(expanded.params_, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_, abs=1e-6)


def test_fit_rejects_recency_beyond_T():
    with pytest.raises(ValueError, match="recency"):
        BetaGeoModel().fit([1], [5.0], [3.0])


# ---------------------------------------------------------------- summary from transactions


def tiny() -> pl.LazyFrame:
    return pl.LazyFrame({
        "customer_id": ["a", "a", "a", "a", "a", "b", "c", "c", "c", "d"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 15), D(2024, 1, 29), D(2024, 2, 5),
                       D(2024, 1, 8), D(2024, 1, 3), D(2024, 1, 10), D(2024, 1, 17), D(2024, 1, 20)],
        "amount": [10.0, 5.0, 20.0, 40.0, -12.0, 30.0, 50.0, 5.0, -60.0, -8.0],
    })


def test_rfm_summary_by_hand():
    rows = {r["customer_id"]: r for r in rfm_summary(tiny(), D(2024, 2, 12)).collect().to_dicts()}
    assert set(rows) == {"a", "b", "c"}  # d only returned something: not a customer of the model
    a = rows["a"]
    # purchase days 1 Jan (two lines = one transaction), 15 Jan, 29 Jan; 5 Feb is a return only
    assert a["frequency"] == 2 and a["recency"] == pytest.approx(4.0) and a["T"] == pytest.approx(6.0)
    assert a["monetary_value"] == pytest.approx((20 + 40 - 12) / 2)  # net of the return, first day excluded
    assert rows["b"]["frequency"] == 0 and rows["b"]["monetary_value"] is None and rows["b"]["T"] == pytest.approx(5.0)
    assert rows["c"]["frequency"] == 1 and rows["c"]["monetary_value"] == pytest.approx(5.0 - 60.0)


def test_fit_clv_counts_excluded_customers_and_states_thin_data():
    result = fit_clv(tiny(), CLVSettings(calibration_end=D(2024, 2, 12)))
    assert result.customers_without_purchase == 1  # d
    assert result.spend_excluded == 1  # c: net repeat spend is negative
    assert any("zero or negative net spend" in w for w in result.warnings)
    assert not result.reliable
    assert any("customers have bought" in p for p in result.problems)
    assert any("days" in p for p in result.problems)
    assert any("spend cannot be modelled" in p for p in result.problems)
    assert result.customers["p_alive"].is_between(0, 1).all()


def test_sufficiency_statements():
    assert sufficiency_problems(500, 400, 0.3) == []
    problems = sufficiency_problems(150, 100, 0.01)
    assert len(problems) == 3
    assert "150 customers" in problems[0] and "100 days" in problems[1] and "1.0%" in problems[2]


def test_rescore_changes_clv_without_refitting(cdnow_fit):
    from crm_core.clv import rescore

    longer = rescore(cdnow_fit, CLVSettings(horizon_weeks=104.0, margin=0.5, annual_discount_rate=0.0))
    assert longer.bgnbd is cdnow_fit.bgnbd and longer.settings.calibration_end == CALIBRATION_END
    c = longer.customers
    x, t_x, age = (c[k].to_numpy().astype(float) for k in ("frequency", "recency", "T"))
    purchases = cdnow_fit.bgnbd.conditional_expected_number_of_purchases_up_to_time(104.0, x, t_x, age)
    assert c["expected_purchases"].to_numpy() == pytest.approx(purchases, rel=1e-10)
    assert c["clv"].to_numpy() == pytest.approx(0.5 * c["expected_spend"].to_numpy() * purchases, rel=1e-10)


def test_parameter_table_reads_the_fit(cdnow_fit):
    from crm_core.clv import parameter_table

    table = parameter_table(cdnow_fit)
    assert table["parameter"].to_list() == ["r", "alpha", "a", "b", "p", "q", "v"]
    bg = cdnow_fit.bgnbd.params_
    assert f"{bg['r'] / bg['alpha']:.3f} times a week" in table["meaning"][1]
    assert f"{bg['a'] / (bg['a'] + bg['b']):.1%}" in table["meaning"][3]
    assert table["standard_error"].to_list()[0] == pytest.approx(cdnow_fit.bgnbd.standard_errors_["r"])


def test_suggested_margin_from_costs():
    from crm_core.clv import suggested_margin

    assert suggested_margin(pl.DataFrame({"revenue": [100.0, 50.0], "margin": [30.0, 15.0]})) == pytest.approx(0.3)
    assert suggested_margin(pl.DataFrame({"revenue": [100.0]})) is None


def test_a_fit_that_runs_off_to_a_bound_is_not_converged():
    # Nobody ever bought twice: the purchase rate is driven to zero, there is no interior optimum.
    model = BetaGeoModel().fit(np.zeros(50), np.zeros(50), np.linspace(1, 30, 50))
    assert not model.converged_


def test_clv_totals_are_none_without_a_spend_model():
    result = fit_clv(tiny(), CLVSettings(calibration_end=D(2024, 2, 12)))
    assert result.gamma_gamma is None and not result.spend_modelled
    assert result.clv_total() is None and result.clv_mean() is None


def test_fit_does_not_depend_on_row_order():
    # The demo has repeat purchases refunded in full: their net repeat spend must be 0 (left out of the
    # spend model) in every row order, not a float residue that sometimes passes as positive spend.
    lines = pl.read_parquet(DEMO_TRANSACTIONS)
    fits = [fit_clv(frame.lazy()) for frame in (lines, lines.reverse(), lines.sample(fraction=1.0, shuffle=True, seed=1))]
    reference = fits[0]
    for fit in fits[1:]:
        assert fit.spend_excluded == reference.spend_excluded
        assert fit.gamma_gamma.params_ == pytest.approx(reference.gamma_gamma.params_, rel=1e-8)
        assert fit.bgnbd.params_ == pytest.approx(reference.bgnbd.params_, rel=1e-8)
        assert fit.clv_total() == pytest.approx(reference.clv_total(), rel=1e-8)


def test_memory_handed_back_between_steps_changes_no_figure(cdnow_fit, monkeypatch):
    """From LARGE_BASE customers the freed memory is handed back to the system between the steps (3M
    customers); forced here on CDNOW, every customer's figures are the same."""
    from crm_core.clv import pipeline

    calls: list[int] = []
    real = pipeline._hand_back_memory
    monkeypatch.setattr(pipeline, "LARGE_BASE", 0)
    monkeypatch.setattr(pipeline, "_hand_back_memory", lambda customers: calls.append(customers) or real(customers))
    forced = fit_clv(cdnow(), CLVSettings(calibration_end=CALIBRATION_END, model="bg-nbd"))
    assert len(calls) >= 3 and set(calls) == {cdnow_fit.customers.height}
    assert forced.customers.equals(cdnow_fit.customers)
    assert forced.to_dict() == cdnow_fit.to_dict()


def test_the_models_bring_numpy_ma_for_polars_series():
    # Polars makes each Series from a numpy array through numpy.ma; the CLI imports the models on a thread while
    # it parses the file, so numpy.ma loads then and not in the customer summary afterwards.
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", "import sys, crm_core.clv; print('numpy.ma' in sys.modules)"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip() == "True"
