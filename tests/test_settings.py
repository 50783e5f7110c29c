"""AnalysisSettings: defaults equal today's module defaults, JSON and URL round trips, one-line errors."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from crm_core.clv import CLVSettings, months_to_weeks
from crm_core.portfolio import ServeCostSettings, TierSettings
from crm_core.rfm import RfmSettings
from crm_core.settings import AnalysisSettings, Period, comparison_period


def test_defaults_build_the_module_defaults():
    settings = AnalysisSettings()
    assert settings.tier_settings() == TierSettings()
    assert settings.rfm_settings() == RfmSettings()
    assert settings.serve_cost_settings() == ServeCostSettings()
    clv = settings.clv_settings()
    assert (clv.margin, clv.annual_discount_rate) == (CLVSettings().margin, CLVSettings().annual_discount_rate)
    assert clv.horizon_weeks == pytest.approx(months_to_weeks(12))


def test_json_round_trip_keeps_every_choice():
    settings = AnalysisSettings.from_dict({
        "period": {"preset": "custom", "start": "2024-01-01", "end": "2024-06-30"},
        "comparison": "same_period_last_year",
        "tiers": {"names": ["A", "B", "C"], "shares": [0.1, 0.3, 0.6], "by": "revenue"},
        "rfm": {"bins": 3, "ties": "ordinal", "segment_on": "FM",
                "rules": [{"name": "Best", "r_min": 3, "r_max": 3, "f_min": 1, "f_max": 3},
                          {"name": "Rest", "r_min": 1, "r_max": 3, "f_min": 1, "f_max": 3}]},
        "margin": 0.38, "discount_rate": 0.05, "horizon_months": 24,
        "cost_to_serve": {"per_contact": 7.5, "per_return": 2},
        "currency": "eur", "locale": "de",
        "filters": {"Channel": ["Web", "Store"], "country": ["DE"]},
    })
    assert settings.currency == "EUR"
    assert settings.filter_map == {"channel": ("Store", "Web"), "region": ("DE",)}
    assert AnalysisSettings.from_json(settings.to_json()) == settings
    assert AnalysisSettings.from_url(settings.to_url()) == settings
    assert settings.tier_settings().shares == (0.1, 0.3)
    assert [rule.name for rule in settings.rfm_settings().active_rules] == ["Best", "Rest"]


def test_url_is_empty_for_defaults_and_short_for_a_few_changes():
    assert AnalysisSettings().to_url() == ""
    assert AnalysisSettings.from_url("") == AnalysisSettings()
    changed = AnalysisSettings.from_dict({"margin": 0.4, "tiers": {"names": ["Top", "Rest"], "shares": [0.2, 0.8]}})
    assert len(changed.to_url()) < 120
    assert AnalysisSettings.from_url(changed.to_url()) == changed


def test_tier_shares_may_omit_the_last_tier():
    settings = AnalysisSettings.from_dict({"tiers": {"names": ["A", "B"], "shares": [0.25, 0.75]}})
    assert settings.tier_settings().shares == (0.25,)
    amounts = AnalysisSettings.from_dict({"tiers": {"names": ["A", "B", "C"], "amounts": [1000, 100]}})
    assert amounts.tier_settings().method == "amount"


@pytest.mark.parametrize("data, key", [
    ({"colour": "red"}, "'colour'"),
    ({"tiers": {"names": ["A", "B"], "shares": [0.5, 0.6]}}, "'tiers.shares'"),
    ({"tiers": {"names": ["A", "B"], "shares": [0.5]}}, "'tiers.shares'"),
    ({"tiers": {"names": ["A", "A"], "shares": [0.5, 0.5]}}, "'tiers.names'"),
    ({"tiers": {"names": ["A", "B"], "shares": [0.5, 0.5], "colour": 1}}, "'tiers.colour'"),
    ({"tiers": {"names": ["A", "New"], "shares": [0.5, 0.5]}}, "'tiers.names'"),
    ({"margin": 1.5}, "'margin'"),
    ({"margin": 0}, "'margin'"),
    ({"margin": "40%"}, "'margin'"),
    ({"margin": True}, "'margin'"),
    ({"discount_rate": -0.1}, "'discount_rate'"),
    ({"horizon_months": 0}, "'horizon_months'"),
    ({"horizon_months": 6.5}, "'horizon_months'"),
    ({"currency": "euro"}, "'currency'"),
    ({"currency": 978}, "'currency'"),
    ({"locale": "xx"}, "'locale'"),
    ({"comparison": "last_week"}, "'comparison'"),
    ({"period": {"start": "2024-13-01"}}, "'period.start'"),
    ({"period": {"start": "2024-05-01", "end": "2024-01-01"}}, "'period'"),
    ({"period": {"preset": "yesterday"}}, "'period.preset'"),
    ({"period": "2024"}, "'period'"),
    ({"filters": {"colour": ["red"]}}, "'filters.colour'"),
    ({"filters": {"channel": [["Web"]]}}, "'filters.channel'"),
    ({"filters": ["channel"]}, "'filters'"),
    ({"rfm": {"bins": 7}}, "'rfm.bins'"),
    ({"rfm": {"rules": [{"name": "X", "r_min": 0, "r_max": 5, "f_min": 1, "f_max": 5}]}}, "'rfm.rules'"),
    ({"cost_to_serve": {"per_contact": -1}}, "'cost_to_serve.per_contact'"),
    ([1, 2], "'view'"),
])
def test_bad_values_raise_one_line_naming_the_key(data, key):
    with pytest.raises(ValueError) as error:
        AnalysisSettings.from_json(json.dumps(data))
    message = str(error.value)
    assert key in message and "\n" not in message and len(message) <= 200


def test_damaged_url_and_json_are_refused_plainly():
    with pytest.raises(ValueError, match="damaged"):
        AnalysisSettings.from_url("not-base64!!")
    with pytest.raises(ValueError, match="not valid JSON"):
        AnalysisSettings.from_json("{margin: 1}")


def test_presets_resolve_against_the_last_order_date():
    first, last = dt.date(2022, 3, 1), dt.date(2024, 5, 20)
    assert Period("mtd").resolve(first, last) == (dt.date(2024, 5, 1), last)
    assert Period("qtd").resolve(first, last) == (dt.date(2024, 4, 1), last)
    assert Period("ytd").resolve(first, last) == (dt.date(2024, 1, 1), last)
    assert Period("last_12_months").resolve(first, last) == (dt.date(2023, 5, 21), last)
    assert Period("all").resolve(first, last) == (first, last)
    # fixed dates are clamped to the data
    assert Period("custom", dt.date(2020, 1, 1), dt.date(2030, 1, 1)).resolve(first, last) == (first, last)


def test_comparison_periods():
    start, end = dt.date(2024, 4, 1), dt.date(2024, 6, 30)
    assert comparison_period(start, end, "previous_period") == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert comparison_period(start, end, "same_period_last_year") == (dt.date(2023, 4, 1), dt.date(2023, 6, 30))
    assert comparison_period(dt.date(2024, 2, 29), dt.date(2024, 2, 29), "same_period_last_year") == (
        dt.date(2023, 2, 28), dt.date(2023, 2, 28))
