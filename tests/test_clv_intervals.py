"""Prediction intervals: coverage on customers simulated from known parameters, the CLI contract, next orders."""
from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from conftest import DATA
from crm_core.__main__ import main
from crm_core.clv import CLVSettings, customer_forecasts, fit_clv, gaps_between_orders, next_order_columns
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.fitting import compress_rows
from crm_core.clv.intervals import purchase_intervals
from crm_core.clv.pareto_nbd import ParetoNBDModel

CUSTOMERS = 6000
MAX_PURCHASES = 400


def simulate(kind: str, seed: int) -> tuple[np.ndarray, ...]:
    """x, t_x, T in the calibration weeks and the purchases in the next 39 weeks, drawn from known parameters."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(13.0, 52.0, CUSTOMERS)  # weeks from first purchase to the calibration end
    horizon = 39.0
    if kind == "bg-nbd":
        rate = rng.gamma(0.5, 1 / 5.0, CUSTOMERS)  # r = 0.5, alpha = 5
        leave = rng.beta(0.8, 2.5, CUSTOMERS)
        last_purchase = rng.geometric(leave)  # leaves right after this repeat purchase
        end_of_life = np.full(CUSTOMERS, np.inf)
    else:
        rate = rng.gamma(0.6, 1 / 8.0, CUSTOMERS)  # r = 0.6, alpha = 8
        end_of_life = rng.exponential(1.0 / rng.gamma(0.7, 1 / 12.0, CUSTOMERS))  # s = 0.7, beta = 12
        last_purchase = np.full(CUSTOMERS, MAX_PURCHASES)
    times = np.cumsum(rng.exponential(1.0, (CUSTOMERS, MAX_PURCHASES)) / rate[:, None], axis=1)
    made = (np.arange(1, MAX_PURCHASES + 1)[None, :] <= last_purchase[:, None]) & (times <= end_of_life[:, None])
    before = made & (times <= age[:, None])
    after = made & (times > age[:, None]) & (times <= (age + horizon)[:, None])
    x = before.sum(axis=1).astype(float)
    t_x = np.where(x > 0, np.take_along_axis(times, np.maximum(x.astype(int) - 1, 0)[:, None], axis=1)[:, 0], 0.0)
    return x, t_x, age, after.sum(axis=1), horizon


@pytest.mark.parametrize("kind, model", [("bg-nbd", BetaGeoModel), ("pareto-nbd", ParetoNBDModel)])
def test_intervals_cover_about_their_level_on_simulated_customers(kind, model):
    x, t_x, age, actual, horizon = simulate(kind, seed=7)
    fitted = model().fit(x, t_x, age)
    intervals = purchase_intervals(fitted, x, t_x, age, horizon, level=0.8)
    inside = (actual >= intervals.low) & (actual <= intervals.high)
    frequent = x >= 3
    assert frequent.sum() > 300
    # Whole counts push coverage a few points above nominal, not more; frequent buyers are covered too.
    assert 0.78 <= inside.mean() <= 0.90, inside.mean()
    assert 0.74 <= inside[frequent].mean() <= 0.90, inside[frequent].mean()
    # The total's interval holds the simulated total, and is far narrower than the sum of the customers' ranges.
    assert intervals.total_low <= actual.sum() <= intervals.total_high
    assert intervals.total_high - intervals.total_low < 0.2 * (intervals.high - intervals.low).sum()


def test_wider_level_gives_wider_intervals():
    x, t_x, age, _, horizon = simulate("bg-nbd", seed=3)
    fitted = BetaGeoModel().fit(x, t_x, age)
    narrow = purchase_intervals(fitted, x, t_x, age, horizon, level=0.5)
    wide = purchase_intervals(fitted, x, t_x, age, horizon, level=0.95)
    assert np.all(wide.low <= narrow.low) and np.all(wide.high >= narrow.high)
    assert (wide.high - wide.low).sum() > (narrow.high - narrow.low).sum()
    assert wide.total_low < narrow.total_low < narrow.total_high < wide.total_high
    with pytest.raises(ValueError):
        purchase_intervals(fitted, x, t_x, age, horizon, level=1.0)


def test_intervals_from_compressed_rows_are_the_same():
    x, t_x, age, _, horizon = simulate("bg-nbd", seed=3)
    t_x, age = np.round(t_x * 7) / 7, np.round(age * 7) / 7  # whole days, as from orders: repeated histories
    fitted = BetaGeoModel().fit(x, t_x, age)
    plain = purchase_intervals(fitted, x, t_x, age, horizon)
    coded = compress_rows(x, t_x, age)
    assert len(coded.counts) < len(x)
    given = purchase_intervals(fitted, None, None, None, horizon, coded=coded)
    for name in ("expected", "low", "high", "variance"):
        assert np.array_equal(getattr(plain, name), getattr(given, name)), name
    assert (plain.total, plain.total_low, plain.total_high) == (given.total, given.total_low, given.total_high)
    with pytest.raises(ValueError):
        purchase_intervals(fitted, None, None, None, horizon)


def test_interval_of_a_customer_by_hand():
    """One customer, known parameters: the interval holds 80 % of the exact mixture and nothing narrower does."""
    model = BetaGeoModel()
    model.params_ = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    model.log_covariance_ = np.full((4, 4), np.nan)  # no usable covariance: the process alone
    x, t_x, age = np.array([4.0]), np.array([20.0]), np.array([30.0])
    iv = purchase_intervals(model, x, t_x, age, 52.0, level=0.8)
    p_alive = model.conditional_probability_alive(x, t_x, age)[0]
    k = np.arange(0, 200.0)
    survival = np.concatenate([[1.0], model.purchase_survival_if_alive(k[1:], 52.0, x, age)])
    pmf = (1 - p_alive) * (k == 0) + p_alive * (survival - np.append(survival[1:], 0.0))
    low, high = int(iv.low[0]), int(iv.high[0])
    assert pmf[low: high + 1].sum() >= 0.8
    assert all(pmf[a: a + high - low].sum() < 0.8 for a in range(0, 50))  # one shorter interval never holds 80 %
    assert iv.expected[0] == pytest.approx((k * pmf).sum(), rel=1e-6)


def test_next_order_date_and_overdue_by_hand():
    model = BetaGeoModel()
    model.params_ = {"r": 1.0, "alpha": 10.0, "a": 0.8, "b": 2.5}
    customers = pl.DataFrame({
        "frequency": [2, 2, 0], "recency": [4.0, 4.0, 0.0], "T": [10.0, 10.0, 10.0], "p_alive": [0.9, 0.3, 1.0],
        "last_purchase_date": [dt.date(2024, 2, 1), dt.date(2024, 2, 1), dt.date(2024, 1, 1)],
    })
    out = next_order_columns(model, customers, dt.date(2024, 3, 12))
    # Median wait of an active customer: (alpha + T)(2^(1/(r+x)) - 1) = 20 (2^(1/3) - 1) weeks.
    days = round(20 * (2 ** (1 / 3) - 1) * 7)
    assert out["next_order_date"][0] == dt.date(2024, 3, 12) + dt.timedelta(days=days)
    assert out["next_order_date"][1] is None and out["probably_lapsed"].to_list() == [False, True, False]
    assert out["usual_gap_days"].to_list() == [14.0, 14.0, None]  # 4 weeks over 2 repeat purchases
    assert out["overdue"].to_list() == [True, True, False]  # 40 days silent against a usual 14


def test_gaps_between_orders_counts_distinct_purchase_days():
    tx = pl.LazyFrame({
        "customer_id": ["A", "A", "A", "A", "B"],
        "order_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 11), dt.date(2024, 1, 31),
                       dt.date(2024, 1, 5)],
        "amount": [5.0, 3.0, 2.0, -2.0, 4.0],  # the return on the 31st is not a purchase
    })
    assert sorted(gaps_between_orders(tx)["gap_days"].to_list()) == [10]


# ---------------------------------------------------------------- CLI contract on CDNOW

def cdnow_cli(tmp_path, *extra: str) -> tuple[dict, list[dict]]:
    out = tmp_path / "customers.csv"
    code = main(["clv", str(DATA / "cdnow_sample.csv"), "--calibration-end", "1997-09-30", "--holdout-end",
                 "1998-06-30", "--customers-out", str(out), "--json", *extra])
    assert code == 0
    return out, list(csv.DictReader(out.open(encoding="utf-8")))


def test_cli_auto_reports_every_model_and_writes_one_row_per_customer(tmp_path, capsys):
    out, rows = cdnow_cli(tmp_path)
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] in ("bg-nbd", "pareto-nbd", "mbg-nbd")
    assert set(payload["models"]) == {"bg-nbd", "pareto-nbd", "mbg-nbd"}
    for name, keys in (("bg-nbd", {"r", "alpha", "a", "b"}), ("mbg-nbd", {"r", "alpha", "a", "b"}),
                       ("pareto-nbd", {"r", "alpha", "s", "beta"})):
        entry = payload["models"][name]
        assert set(entry["params"]) == keys and entry["log_likelihood"] < 0 and entry["bic"] > 0
    assert payload["params"] == payload["models"][payload["model"]]["params"]
    assert payload["log_likelihood"] == payload["models"][payload["model"]]["log_likelihood"]
    assert payload["models"]["bg-nbd"]["log_likelihood"] == pytest.approx(-9582.4292, abs=1e-3)
    assert "bgnbd" in payload and "clv" in payload  # the keys of before stay
    assert payload["holdout"]["model"] == payload["model"]
    assert 0.7 < payload["holdout"]["coverage"] < 0.95
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == ("customer_id,p_alive,expected_purchases,purchases_low,purchases_high,predicted_value,"
                      "value_low,value_high,next_order_date")
    assert len(rows) == 2357
    for row in rows:
        assert int(row["purchases_low"]) <= float(row["expected_purchases"]) + 1 and int(row["purchases_low"]) <= int(row["purchases_high"])
        assert float(row["value_low"]) <= float(row["value_high"])
        assert row["next_order_date"] == "" or dt.date.fromisoformat(row["next_order_date"]) > dt.date(1997, 9, 30)
    # The horizon runs to --holdout-end: 39 weeks.
    assert payload["intervals"]["horizon_weeks"] == pytest.approx(39.0)


def test_cli_named_model_and_the_page_helpers_agree(tmp_path, capsys):
    _, rows = cdnow_cli(tmp_path, "--model", "pareto-nbd", "--interval", "0.9")
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "pareto-nbd" and set(payload["params"]) == {"r", "alpha", "s", "beta"}
    assert "models" not in payload and payload["intervals"]["level"] == 0.9
    tx = pl.scan_csv(DATA / "cdnow_sample.csv", schema_overrides={"customer_id": pl.String}).with_columns(
        pl.col("order_date").str.to_date())
    result = fit_clv(tx, CLVSettings(calibration_end=dt.date(1997, 9, 30), horizon_weeks=39.0, model="pareto-nbd",
                                     interval=0.9))
    page = customer_forecasts(result)
    assert [r["customer_id"] for r in rows] == page["customer_id"].to_list()
    assert [int(r["purchases_high"]) for r in rows] == page["purchases_high"].to_list()
    assert payload["params"]["r"] == pytest.approx(result.model.params_["r"], rel=1e-6)


def test_cli_unwritable_customers_out_is_one_line(tmp_path, capsys):
    code = main(["clv", str(DATA / "cdnow_sample.csv"), "--customers-out", str(tmp_path / "missing" / "c.csv"), "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and len(err) <= 200 and "customers-out" in err
    code = main(["clv", str(DATA / "cdnow_sample.csv"), "--interval", "1.5", "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--interval" in err and "\n" not in err


def test_customer_360_range_line():
    from crm_core.customer360 import forecast_range_text

    facts = {"value_low": 0.0, "value_high": 120.5, "purchases_low": 0, "purchases_high": 3,
             "next_order_date": dt.date(2024, 5, 2), "usual_gap_days": 30.0, "overdue": True}
    text = forecast_range_text(facts)
    assert "Likely value range 0.00 to 120.50" in text and "0 to 3 purchases" in text
    assert "next order expected around 2 May 2024" in text and "every 30 days, now overdue" in text
    assert "probably lapsed" in forecast_range_text({**facts, "next_order_date": None})
    assert forecast_range_text({}) == ""
