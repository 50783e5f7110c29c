"""crm_core.format: one way to write money, shares, counts and dates."""
from __future__ import annotations

import datetime as dt

import pytest

from crm_core import format as fmt


@pytest.mark.parametrize("value, currency, locale, expected", [
    (1234567.891, "", "en", "1,234,568"),
    (1234567.891, "EUR", "en", "€1,234,568"),
    (1234567.891, "EUR", "de", "1.234.568 €"),
    (1234.5, "CHF", "ch", "CHF 1'234"),
    (21779.29, "USD", "en", "$21,779"),
    (12.345, "GBP", "en", "£12.35"),  # cents below 100
    (-2500, "EUR", "en", "-€2,500"),
    (-2500, "EUR", "de", "-2.500 €"),
    (None, "EUR", "en", "–"),
    (float("nan"), "EUR", "en", "–"),
])
def test_money(value, currency, locale, expected):
    assert fmt.money(value, currency, locale) == expected


def test_money_with_fixed_decimals():
    assert fmt.money(15115.869999999999, "EUR", "de", decimals=2) == "15.115,87 €"
    assert fmt.money(0.004, "", "en", decimals=2) == "0.00"  # no '-0.00'
    assert fmt.money(-0.004, "", "en", decimals=2) == "0.00"


def test_share_count_date():
    assert fmt.share(0.48712) == "48.7%"
    assert fmt.share(0.48712, 1, "de") == "48,7%"
    assert fmt.count(12345) == "12,345"
    assert fmt.count(12345, "de") == "12.345"
    assert fmt.date(dt.date(2024, 3, 5)) == "5 Mar 2024"
    assert fmt.period(dt.date(2024, 1, 1), dt.date(2024, 3, 31)) == "1 Jan 2024 to 31 Mar 2024"


def test_an_expected_count_reads_as_whole_people_marked_as_an_estimate():
    assert fmt.estimate(43.4) == "≈ 43"
    assert fmt.estimate(1234.6, "de") == "≈ 1.235"
    assert fmt.estimate(0.4) == "< 1"  # not '≈ 0' when someone may respond
    assert fmt.estimate(0) == "0"
    assert fmt.estimate(None) == "–"
    assert fmt.estimate_exact(43.4, "de") == "43,4"
    assert fmt.value(43.4, "estimate") == fmt.NumberStyle().estimate(43.4) == "≈ 43"


def test_exports_use_cents_and_readable_headers():
    assert fmt.cents(15115.869999999999) == 1511587
    assert fmt.cents(None) is None
    assert fmt.header("Revenue", "money", "EUR") == "Revenue (EUR)"
    assert fmt.header("Revenue", "cents", "EUR") == "Revenue (EUR cents)"
    assert fmt.header("Share of revenue", "share") == "Share of revenue (%)"


def test_chart_axes_follow_locale_and_currency():
    assert fmt.plotly_separators("en") == ".,"
    assert fmt.plotly_separators("de") == ",."
    assert fmt.money_axis("EUR", "en")["tickprefix"] == "€"
    assert fmt.money_axis("EUR", "de")["ticksuffix"] == " €"
    assert "tickprefix" not in fmt.money_axis("", "en")


def test_count_axes_have_whole_ticks():
    assert fmt.count_axis(3) == {"tickformat": ",d", "rangemode": "tozero", "tickmode": "linear", "tick0": 0, "dtick": 1}
    assert fmt.count_axis(40)["dtick"] == 5  # at most about 10 whole ticks
    assert "dtick" not in fmt.count_axis(5000)
