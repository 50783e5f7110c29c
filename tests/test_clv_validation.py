"""Holdout validation, reading the results (tiers, at-risk, P(alive) map) and the CLI on CDNOW."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import DATA
from crm_core.__main__ import main
from crm_core.clv import (
    AtRiskSettings,
    CLVSettings,
    at_risk_customers,
    at_risk_takeaway,
    clv_by_group,
    concentration_takeaway,
    default_holdout_weeks,
    fit_clv,
    probability_alive_matrix,
    validate_holdout,
    validation_takeaway,
    value_tiers,
)

D = dt.date
EXPECTED = json.loads((DATA / "cdnow_sample_expected.json").read_text())


def cdnow() -> pl.LazyFrame:
    return (
        pl.scan_csv(DATA / "cdnow_sample.csv", schema_overrides={"customer_id": pl.String})
        .with_columns(pl.col("order_date").str.to_date())
        .collect().lazy()
    )


@pytest.fixture(scope="module")
def validation():
    return validate_holdout(cdnow(), D(1997, 9, 30), model="bg-nbd")


@pytest.fixture(scope="module")
def result():
    return fit_clv(cdnow(), CLVSettings())


def test_holdout_actuals_are_the_distinct_customer_days_after_the_split(validation):
    # Every CDNOW customer joined in Q1 1997, so holdout purchases = all customer-days - calibration customer-days.
    holdout_days = EXPECTED["distinct_customer_days"] - EXPECTED["calibration"]["distinct_customer_days"]
    assert validation.total_actual == holdout_days == 1882
    assert validation.holdout_weeks == 39.0 and validation.customers == 2357
    assert validation.by_frequency["customers"].sum() == 2357
    assert validation.by_frequency["frequency_group"].to_list() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert validation.model.params_["r"] == pytest.approx(0.2426, abs=1e-4)
    assert validation.problems == []


def test_holdout_by_frequency_means_are_consistent_with_totals(validation):
    bf = validation.by_frequency
    assert float((bf["actual"] * bf["customers"]).sum()) == pytest.approx(validation.total_actual)
    assert float((bf["predicted"] * bf["customers"]).sum()) == pytest.approx(validation.total_predicted)
    assert validation.total_error_pct == pytest.approx(100 * (validation.total_predicted / 1882 - 1))
    assert 0 < validation.mae < 2


def test_weekly_tracking_counts_repeat_days(validation):
    weekly = validation.weekly
    split_week = weekly.filter(pl.col("week_end") == D(1997, 9, 30))
    assert split_week["actual"].item() == EXPECTED["calibration"]["repeat_transactions_sum_x"]
    assert weekly["actual"][-1] == 2457 + 1882
    assert weekly["week_end"][-1] == D(1998, 6, 30) and weekly["week_end"][0] == D(1997, 1, 7)
    assert np.all(np.diff(weekly["predicted"].to_numpy()) >= 0)
    # The model's cumulative repeat purchases at the split are the sum of E[X(T_i)] over customers.
    x = validation.model
    first = pl.read_csv(DATA / "cdnow_sample.csv", try_parse_dates=True).group_by("customer_id").agg(pl.col("order_date").min())
    ages = (D(1997, 9, 30) - first["order_date"]).dt.total_days().to_numpy() / 7
    assert split_week["predicted"].item() == pytest.approx(x.expected_number_of_purchases_up_to_time(ages).sum())
    assert weekly.filter(~pl.col("holdout")).height == 39


def test_validation_sentence(validation):
    sentence = validation_takeaway(validation)
    assert "1,882 actual" in sentence and "39-week" in sentence and "under" in sentence
    assert "no seasons" in sentence  # shorter than a year: the calendar may explain the gap


def test_year_long_holdout_sentence_has_no_season_caveat(demo_year_validation):
    assert "no seasons" not in validation_takeaway(demo_year_validation)
    # The demo has a Christmas peak: a whole-year holdout tracks it closely (a January-September one does not).
    assert abs(demo_year_validation.total_error_pct) < 10


@pytest.fixture(scope="module")
def demo_year_validation():
    lines = pl.scan_parquet(Path(__file__).resolve().parents[1] / "data" / "demo" / "transactions.parquet")
    return validate_holdout(lines, D(2025, 9, 30), D(2026, 9, 30))


def test_short_holdout_is_stated():
    short = validate_holdout(cdnow(), D(1998, 6, 20))
    assert any("holdout is only" in p for p in short.problems)


def test_holdout_needs_orders_after_the_split():
    with pytest.raises(ValueError, match="earlier split"):
        validate_holdout(cdnow(), D(1998, 6, 30))


def test_default_holdout_weeks():
    assert default_holdout_weeks(D(1997, 1, 1), D(1998, 6, 30)) == 39  # CDNOW: 78 weeks, the FHL split
    assert default_holdout_weeks(D(2023, 10, 1), D(2026, 9, 30)) == 52  # two years or more: a whole year
    assert default_holdout_weeks(D(2024, 1, 1), D(2025, 12, 1)) == 39
    assert default_holdout_weeks(D(2024, 1, 1), D(2024, 4, 1)) == 6  # 91 days: 6.5 weeks rounds to 6
    assert default_holdout_weeks(D(2024, 1, 1), D(2024, 1, 3)) == 1


def test_value_tiers_cover_all_value(result):
    tiers = value_tiers(result.customers)
    assert tiers.height == 10 and tiers["customers"].sum() == 2357
    assert tiers["clv_share"].sum() == pytest.approx(1.0)
    top_decile = result.customers["clv"].sort(descending=True).head(236).sum() / result.customers["clv"].sum()
    assert tiers["clv_share"][0] == pytest.approx(top_decile)
    assert tiers["label"][0] == "0–10%"
    assert f"{top_decile:.0%}" in concentration_takeaway(tiers)


def test_clv_by_group(result):
    groups = result.customers.select("customer_id", (pl.col("frequency") > 0).alias("repeat"))
    table = clv_by_group(result.customers, groups, "repeat")
    assert table["customers"].sum() == 2357 and table["clv_share"].sum() == pytest.approx(1.0)


def test_at_risk_list_is_valuable_and_slipping(result):
    settings = AtRiskSettings(min_clv_quantile=0.75, max_p_alive=0.5)
    at_risk = at_risk_customers(result, settings)
    threshold = result.customers["clv"].quantile(0.75, interpolation="linear")
    expected = result.customers.filter((pl.col("clv") >= threshold) & (pl.col("p_alive") < 0.5))
    assert at_risk.height == expected.height > 0
    assert at_risk["predicted_clv"].is_sorted(descending=True)
    assert (at_risk["probability_active"] < 0.5).all()
    row = at_risk.row(0, named=True)
    assert row["days_since_last_purchase"] == (D(1998, 6, 30) - row["last_purchase_date"]).days
    assert f"{at_risk.height:,} customers" in at_risk_takeaway(at_risk, settings)


def test_p_alive_matrix(result):
    matrix = probability_alive_matrix(result.bgnbd, result.customers)
    assert matrix.filter(pl.col("frequency") == 0)["recency"].to_list() == [0.0]
    assert matrix.filter(pl.col("frequency") == 0)["p_alive"].item() == 1.0
    # For a fixed frequency, a more recent last purchase means more likely alive.
    five = matrix.filter(pl.col("frequency") == 5).sort("recency")["p_alive"].to_numpy()
    assert np.all(np.diff(five) > 0)


def test_cli_on_cdnow_reproduces_the_paper(capsys):
    code = main(["clv", str(DATA / "cdnow_sample.csv"), "--calibration-end", "1997-09-30", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["customers"] == 2357 and payload["time_unit"] == "week"
    for name, value in EXPECTED["bgnbd"]["published"].items():
        tolerance = 0.1 if name == "log_likelihood" else 0.005 * value
        assert abs(payload["bgnbd"][name] - value) <= abs(tolerance), name
    for name, value in EXPECTED["gamma_gamma"]["published"].items():
        assert payload["gamma_gamma"][name] == pytest.approx(value, rel=0.01)
    assert payload["bgnbd"]["converged"] and payload["gamma_gamma"]["converged"]
    assert payload["holdout"]["total_actual"] == 1882 and payload["warnings"] == []


def test_cli_without_calibration_end_fits_all_data(capsys):
    assert main(["clv", str(DATA / "cdnow_sample.csv"), "--horizon-weeks", "26", "--margin", "0.3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["calibration_end"] == "1998-06-30" and "holdout" not in payload
    assert payload["clv"]["horizon_weeks"] == 26 and payload["clv"]["margin"] == 0.3


def test_cli_refuses_bad_margin(capsys):
    assert main(["clv", str(DATA / "cdnow_sample.csv"), "--margin", "30"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_cli_json_is_strict_when_spend_cannot_be_modelled(capsys, tmp_path):
    # Three customers, one repeat buyer whose repeat purchase was refunded: no spend model, CLV unknown.
    path = tmp_path / "few.csv"
    path.write_text("customer,date,amount\nA,2024-01-05,10\nA,2024-03-05,-10\nB,2024-01-06,20\n"
                    "B,2024-01-07,20\nC,2024-02-01,5\n")
    assert main(["clv", str(path), "--json"]) == 0
    captured = capsys.readouterr()

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    payload = json.loads(captured.out, parse_constant=refuse)
    assert payload["gamma_gamma"] is None and payload["clv"]["total"] is None
    assert payload["reliable"] is False and payload["problems"]


def test_cli_on_one_time_buyers_says_so_without_numpy_noise(capsys, tmp_path, recwarn):
    path = tmp_path / "single.csv"
    path.write_text("customer,date,amount\nA,2024-01-05,10\nB,2024-01-06,20\nC,2024-02-01,5\n")
    assert main(["clv", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["bgnbd"]["converged"] is False and payload["reliable"] is False
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def _sorted_counts(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("frequency", "recency", "T", "holdout_purchases").iter_rows())


def test_one_pass_holdout_counts_equal_the_holdout_frame():
    """What the model choice compares on (one group-by) is what validation shows (summary + period summary):
    CDNOW, and lines with returns, a refund in full, a null amount and a free order around the split."""
    from crm_core.clv.validation import holdout_counts, holdout_frame

    split, end = D(1997, 9, 30), D(1998, 6, 30)
    assert _sorted_counts(holdout_counts(cdnow(), split, end)) == _sorted_counts(holdout_frame(cdnow(), split, end))
    lines = pl.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b", "b", "c", "d", "d", "e"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 5), D(2024, 1, 9), D(2024, 2, 2),
                       D(2024, 3, 9), D(2024, 3, 2), D(2024, 1, 3), D(2024, 2, 20), D(2024, 2, 10)],
        "amount": [10.0, -10.0, 5.0, 7.0, 0.0, None, 3.0, 4.0, -2.0, 8.0, 9.0],
        "fully_refunded": [False, False, False, False, False, False, False, False, False, False, True],
    }).lazy()
    counts = holdout_counts(lines, D(2024, 2, 15), D(2024, 3, 31))
    assert _sorted_counts(counts) == _sorted_counts(holdout_frame(lines, D(2024, 2, 15), D(2024, 3, 31)))
    assert counts.height == 2  # a and b bought by the split; c after it, d only returned, e was refunded in full


def _split_counts(tx: pl.LazyFrame, split: dt.date, end: dt.date) -> pl.DataFrame:
    """The holdout figures rfm_summary gives with a split date (the CLI's default model choice)."""
    from crm_core.clv import rfm_summary

    columns = ("split_frequency", "split_recency", "split_T", "split_holdout_purchases")
    return (rfm_summary(tx, end, keep_non_buyers=True, split=split).collect()
            .filter(pl.col("split_frequency").is_not_null())
            .select(pl.col(columns).name.map(lambda name: name.removeprefix("split_"))))


@pytest.mark.parametrize("order", ["as_written", "newest_first", "shuffled"])
def test_summary_split_figures_equal_the_holdout_counts(order):
    """The split figures counted in the summary's pass equal holdout_counts (a query of their own), with
    lines in date order either way (the linear count of distinct days) or shuffled (the hashed one), and
    returns, a refund in full, a null amount, a free order and a repeat on the split day itself."""
    from crm_core.clv.validation import holdout_counts

    lines = pl.DataFrame({
        "customer_id": ["a", "a", "a", "a", "a", "b", "b", "b", "c", "d", "d", "e", "f", "f"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 1), D(2024, 2, 15), D(2024, 3, 5), D(2024, 1, 9),
                       D(2024, 2, 2), D(2024, 3, 9), D(2024, 3, 2), D(2024, 1, 3), D(2024, 2, 20), D(2024, 2, 10),
                       D(2024, 1, 5), D(2024, 1, 5)],
        "amount": [10.0, -10.0, 5.0, 6.0, 7.0, 0.0, None, 3.0, 4.0, -2.0, 8.0, 9.0, 1.0, 2.0],
        "fully_refunded": [False] * 11 + [True, False, False],
    })
    if order == "newest_first":
        lines = lines.sort("order_date", descending=True, maintain_order=True)
    elif order == "shuffled":
        lines = lines.sample(fraction=1.0, shuffle=True, seed=3)
    split, end = D(2024, 2, 15), D(2024, 3, 31)
    ours = _split_counts(lines.lazy(), split, end)
    assert _sorted_counts(ours) == _sorted_counts(holdout_counts(lines.lazy(), split, end))
    # By hand: b bought on Jan 9 (free) and Mar 9; f twice on Jan 5; a on Jan 1, Feb 1, the split day and Mar 5.
    weeks = pytest.approx
    assert sorted(ours.iter_rows()) == [(0, 0.0, weeks(37 / 7), 1), (0, 0.0, weeks(41 / 7), 0),
                                        (2, weeks(45 / 7), weeks(45 / 7), 1)]


def test_summary_split_figures_equal_the_holdout_counts_on_cdnow():
    from crm_core.clv.validation import holdout_counts

    split, end = D(1997, 9, 30), D(1998, 6, 30)
    assert _sorted_counts(_split_counts(cdnow(), split, end)) == _sorted_counts(holdout_counts(cdnow(), split, end))
