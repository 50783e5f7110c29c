"""AppTest of the Lifetime value & retention page on the demo: figures shown match the engine."""
from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from crm_core import clv
from crm_core.customers import summarize
from crm_core.dataset import load_dataset
from pages_helpers import chart_keys, downloads, metrics, open_tab  # noqa: F401  (fixture, used by name)
from pages_helpers import open_page as open_app_page
from ui.state import Keys


@pytest.fixture(scope="module")
def demo_tx() -> pl.LazyFrame:
    return load_dataset(ROOT / "data" / "demo").transactions.collect().lazy()


@pytest.fixture(scope="module")
def demo_end(demo_tx) -> dt.date:
    return demo_tx.select(pl.col("order_date").max()).collect().item()


def open_page(tab: str | None = None) -> AppTest:
    at = open_app_page("app_pages/lifetime.py", timeout=120)
    return open_tab(at, Keys.LT_TAB, tab) if tab else at


TRUST, ACTIVE = "How far to trust the models", "Active, next order, at risk"


def demo_settings(demo_tx, end: dt.date, months: int) -> clv.CLVSettings:
    """The view's defaults: margin 100% (predicted revenue), 10% a year; the page no longer applies the
    data's observed margin on its own (the report and meeting mode would then disagree with it)."""
    return clv.CLVSettings(horizon_weeks=clv.months_to_weeks(months), margin=1.0, annual_discount_rate=0.10,
                           calibration_end=end)


def test_only_the_open_tab_runs():
    at = open_page()
    assert chart_keys(at) == {"lt_fig_clv_hist", "lt_fig_clv_group", "lt_fig_fan"}
    assert chart_keys(open_tab(at, Keys.LT_TAB, ACTIVE)) == {"lt_fig_palive", "lt_fig_gaps"}
    assert chart_keys(open_tab(at, Keys.LT_TAB, TRUST)) == {"lt_fig_holdout_freq", "lt_fig_tracking"}
    assert chart_keys(open_tab(at, Keys.LT_TAB, "Cohorts")) == {"lt_fig_cohorts", "lt_fig_curves"}
    assert {"lt_fig_funnel", "lt_fig_acquisition"} <= chart_keys(open_tab(at, Keys.LT_TAB, "Lifecycle"))


def test_page_shows_the_engine_fit_and_clv(demo_tx, demo_end, downloads):
    at = open_page()
    expected = clv.fit_clv(demo_tx, demo_settings(demo_tx, demo_end, 12))
    assert metrics(at)["Predicted revenue, next 12 months"] == f"{expected.customers['clv'].sum():,.0f}"
    forecasts = pl.read_csv(io.BytesIO(downloads["customer_forecasts.csv"][3:]), schema_overrides={"Customer ID": pl.String})
    assert forecasts.height == expected.customers.height
    assert forecasts["Customer ID"].to_list() == clv.customer_forecasts(expected)["customer_id"].to_list()
    assert any("with 80% confidence between" in caption.value for caption in at.caption)
    at = open_tab(at, Keys.LT_TAB, TRUST)
    shown = metrics(at)
    assert shown["Customers modelled"] == f"{expected.customers.height:,}"
    assert shown["Fits converged"] == "yes"
    params = next(frame.value for frame in at.dataframe if "parameter" in frame.value.columns)
    assert params["parameter"].tolist() == [*expected.model.PARAMS, "p", "q", "v"]
    assert params["estimate"].tolist() == pytest.approx(
        [expected.model.params_[k] for k in expected.model.PARAMS]
        + [expected.gamma_gamma.params_[k] for k in ("p", "q", "v")],
        rel=1e-9)  # the same data must give the same fit, run after run
    texts = [caption.value for caption in at.caption]
    assert any("52\\.2 weeks \\(12\\.0 months\\)" in text for text in texts)  # takeaways are markdown-escaped
    # The automatic choice says which model and why, and the page uses that model.
    assert any(f"{expected.model.LABEL} is used because" in text for text in texts)


def test_changing_the_horizon_rescales_clv(demo_tx, demo_end):
    at = open_page()
    assert not at.select_slider  # the forecast settings are drawn once their panel opens (ui.sections.lazy_expander)
    at.session_state[Keys.LT_SETTINGS_PANEL] = True
    at.run()
    at.select_slider(key=Keys.LT_HORIZON).set_value(6).run()
    assert not at.exception
    expected = clv.fit_clv(demo_tx, demo_settings(demo_tx, demo_end, 6))
    assert metrics(at)["Predicted revenue, next 6 months"] == f"{expected.customers['clv'].sum():,.0f}"
    assert any("26.1 weeks (6.0 months)" in caption.value for caption in at.caption)


def test_changing_the_holdout_refits_and_compares(demo_tx, demo_end):
    at = open_page(TRUST)
    at.slider(key=Keys.LT_HOLDOUT).set_value(26).run()
    assert not at.exception
    validation = clv.validate_holdout(demo_tx, demo_end - dt.timedelta(weeks=26), demo_end)
    shown = metrics(at)
    # short card labels: four cards side by side cut the catalogue's at 1366 px
    assert shown["Actual purchases"] == f"{validation.total_actual:,.0f}"
    assert shown["Predicted purchases"] == f"≈ {validation.total_predicted:,.0f}"  # an expectation, not a count
    assert shown["Error of the total"] == f"{validation.total_error_pct:+.1f}%"
    assert shown["Error per customer"] == f"{validation.mae:.2f}"


def test_at_risk_download_is_the_engine_list(demo_tx, demo_end, downloads):
    at = open_page(ACTIVE)
    result = clv.fit_clv(demo_tx, demo_settings(demo_tx, demo_end, 12))
    at_risk = clv.at_risk_customers(result)
    data = downloads["at_risk_the_at_risk_list.csv"]
    frame = pl.read_csv(io.BytesIO(data[3:]), schema_overrides={"Customer ID": pl.String})
    assert frame.height == at_risk.height > 0
    assert frame["Customer ID"].to_list() == at_risk["customer_id"].to_list()
    assert {"Customer name", "E-mail"} <= set(frame.columns)
    assert {"Predicted value", "Revenue so far"} <= {name.split(" (")[0] for name in frame.columns}  # to the cent
    # The table shows the chance still active in percent (one decimal), the download keeps the 0-1 share.
    shown = next(table.value for table in at.dataframe if "probability_active" in table.value.columns)
    expected = at_risk["probability_active"].head(len(shown)).to_numpy()
    assert shown["probability_active"].to_numpy() == pytest.approx(expected * 100)
    assert frame["Chance still active (%)"].to_numpy() == pytest.approx(
        (at_risk["probability_active"] * 100).round(2).to_numpy())


def test_lifecycle_and_cohorts_are_shown(demo_tx):
    at = open_page("Lifecycle")
    shown = metrics(at)
    customers = summarize(demo_tx).collect()
    assert shown["New customers"] == f"{customers.height:,}"
    repeat = (customers["purchase_days"] >= 2).mean()
    assert shown["Bought again"] == f"{repeat:.1%}"  # short labels: four cards side by side at 1366 px
    assert "Lapsed (180+ days)" in shown
    open_tab(at, Keys.LT_TAB, "Cohorts")
    at.segmented_control(key=Keys.LT_CURVES_BY).set_value("channel").run()
    at.segmented_control(key=Keys.LT_COHORT_METRIC).set_value("revenue_retention").run()
    assert any("Referral" in caption.value or "Marketplace" in caption.value for caption in at.caption)
    open_tab(at, Keys.LT_TAB, "What customers are worth")
    at.segmented_control(key=Keys.LT_GROUP).set_value("tier").run()
    assert not at.exception
    assert any("grouped as on the Portfolio and Segments pages" in caption.value for caption in at.caption)


def test_short_history_is_stated_plainly():
    at = open_page(TRUST)
    at.session_state[Keys.PERIOD] = (dt.date(2023, 10, 1), dt.date(2023, 12, 15))
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "days" in warnings and "Widen the period" in warnings
    assert not at.success  # no "enough data" badge
