"""Takeaway sentences write every figure through crm_core.format: the manager's currency and locale.

With currency EUR and the comma-decimal locale ``de`` a money figure reads ``1.234 €`` and a share
``45,5%``; an English-style number (``1,234`` or ``45.5``) in such a sentence means a figure skipped
the formatting module. Hand-built tiny frames give known figures; the findings walk covers the rest.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from crm_core import actions, clusters, customer360, kpis, needs, offers, portfolio, retention, rfm
from crm_core.clv import at_risk_takeaway
from crm_core.format import NumberStyle
from crm_core.interactions import cost_takeaway

EUR_DE = NumberStyle("EUR", "de")
#: Grouping with a comma (1,234) or a decimal point (45.5) is English: wrong in a ``de`` sentence.
ENGLISH_NUMBER = re.compile(r"\d,\d{3}(?!\d)|\d\.\d{1,2}(?!\d)")


def assert_german(sentence: str, *figures: str) -> None:
    """Every expected figure is in the sentence, and no number in it is written the English way."""
    for figure in figures:
        assert figure in sentence, f"{figure!r} missing from {sentence!r}"
    assert not ENGLISH_NUMBER.search(sentence), f"English-style number in {sentence!r}"


def test_style_writes_money_with_currency_and_locale():
    assert EUR_DE.money(1234.5) == "1.234 €"
    assert EUR_DE.money(12.5) == "12,50 €"
    assert NumberStyle("EUR").money(1234.5) == "€1,234"
    assert NumberStyle("$").money(-1234.5) == "-$1,234"  # a symbol (the CLI's --currency-symbol) is kept
    assert NumberStyle("CHF ", "ch").money(1234.5) == "CHF 1'234"
    assert EUR_DE.share(0.4551) == "45,5%" and EUR_DE.change(0.123) == "+12%" and EUR_DE.change(-0.05) == "-5%"
    assert EUR_DE.count(12345) == "12.345" and EUR_DE.number(2.345, 2) == "2,35"
    assert NumberStyle().money(1234.5) == "1,234"  # the default: no currency, English separators


def test_kpi_formats_follow_the_style():
    assert kpis.format_kpi(1234567.4, "money", style=EUR_DE) == "1.234.567 €"
    assert kpis.format_kpi(0.4567, "share", style=EUR_DE) == "45,7%"
    assert kpis.format_kpi(2.314, "ratio", style=EUR_DE) == "2,31"
    assert kpis.format_delta(10.0, 0.123, "money", style=EUR_DE) == "+12,3%"
    assert kpis.format_delta(-0.0123, None, "share", style=EUR_DE) == "-1,2 pts"
    assert kpis.format_delta(-1234.5, None, "money") == "-1,234.50"


def test_kpi_trend_takeaway_in_euro():
    trend = pl.DataFrame({"period": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)],
                          "revenue": [1200.0, 5400.5, 3100.25]})
    sentence = kpis.trend_takeaway(trend, "revenue", "month", style=EUR_DE)
    assert_german(sentence, "5.400 €", "1.200 €", "3.100 €")


def test_segment_and_channel_takeaways_in_euro():
    profile = pl.DataFrame({rfm.SEGMENT: ["Champions", "Hibernating"], "customers": [2, 8],
                            "revenue": [5000.0, 2000.0], "mean_revenue": [2500.0, 250.0]})
    assert_german(rfm.profile_takeaway(profile, style=EUR_DE), "2.500 €", "700 €", "3,6 times")
    value = pl.DataFrame({"channel_use": ["Single channel", "Two channels"], "customers": [6, 4],
                          "revenue": [3000.0, 6000.0], "mean_revenue": [500.0, 1500.0]})
    assert_german(needs.channel_value_takeaway(value, style=EUR_DE), "40%", "1.500 €", "500 €", "3,0 times")


def test_offer_takeaways_in_euro():
    usage = pl.DataFrame({"code": ["(none)", "SPRING"], "orders": [3, 1]})
    comparison = pl.DataFrame({"name": [offers.WITH_CODE, offers.WITHOUT_CODE], "repeat_rate_365": [None, None],
                               "revenue_per_customer": [1234.56, 99.5]})
    assert_german(offers.offer_takeaway(usage, comparison, style=EUR_DE), "25%", "1.235 €", "99,50 €")
    depth = pl.DataFrame({"name": [offers.NO_DISCOUNT, "30% or more"], "small": [False, False],
                          "repeat_rate_365": [0.4, 0.255], "after_first_per_customer": [2100.0, 1500.0]})
    assert_german(offers.depth_takeaway(depth, style=EUR_DE), "26%", "40%", "1.500 €", "2.100 €")


def test_retention_and_service_takeaways_in_euro():
    penetration = pl.DataFrame({"quarter": [1, 4], "spend_per_customer": [1000.0, 1250.0],
                                "categories_per_customer": [1.5, 2.25]})
    assert_german(retention.penetration_takeaway(penetration, style=EUR_DE), "1.000 €", "1.250 €", "+25%", "1,5")
    service = pl.DataFrame({"tier": ["Gold", "Lead"], "revenue": [10000.0, 2000.0], "cost": [1500.0, 900.0],
                            "cost_share": [0.15, 0.45]})
    assert_german(cost_takeaway(service, "tier", style=EUR_DE), "2.400 €", "20,0%", "45,0%")


def test_campaign_and_customer_sentences_in_euro():
    result = actions.CampaignResult(contacted=1200, responders=120.0, baseline_spend=0.0, incremental_revenue=9000.0,
                                    incremental_margin=3600.0, cost=1500.0, net_profit=2100.0, roi=1.4,
                                    break_even_response_rate=0.0417)
    assert_german(actions.what_if_takeaway(result, style=EUR_DE), "1.200 customers", "3.600 €", "1.500 €", "4,2%")
    facts = {"value_low": 1234.5, "value_high": 2345.25, "purchases_low": 1, "purchases_high": 3}
    assert_german(customer360.forecast_range_text(facts, style=EUR_DE), "1.234,50 €", "2.345,25 €")


def test_cluster_at_risk_and_tier_sentences_in_euro():
    fit = SimpleNamespace(profile=pl.DataFrame({clusters.CLUSTER_NAME: ["Big spenders"], "spend_share": [0.62],
                                                "customer_share": [0.1], "mean_spend": [4321.0]}))
    assert_german(clusters.profile_takeaway(fit, style=EUR_DE), "62%", "10%", "4.321 €")
    at_risk = pl.DataFrame({"revenue_to_date": [12000.0, 3456.0]})
    assert_german(at_risk_takeaway(at_risk, style=EUR_DE), "15.456 €", "25%", "50%")
    tiers = portfolio.TierSettings(names=("Big", "Small"), method="amount", amounts=(1000.0,))
    assert_german(tiers.describe(EUR_DE), "1.000,00 €")
    basis = portfolio.CostBasis("cost", cost_per_return=2.5)
    assert_german(basis.describe(EUR_DE), "2,50 €")


def test_report_tables_follow_the_locale():
    from crm_core.report import table_html

    html = table_html(pl.DataFrame({"Customers": [12345], "Usual gap (days)": [1234.5]}), style=EUR_DE)
    assert ">12.345<" in html and ">1.234,50<" in html


@pytest.fixture(scope="module")
def demo_findings():
    """Every key finding of a small demo in plain style and in EUR / de."""
    from crm_core.demo import generate
    from crm_core.findings import FindingSettings, key_findings
    from crm_core.settings import AnalysisSettings

    dataset = generate(400, seed=3)
    plain = key_findings(dataset, FindingSettings())
    german = key_findings(dataset, FindingSettings(analysis=AnalysisSettings(currency="EUR", locale="de")))
    return plain, german


def _swap_separators(text: str) -> str:
    """'1.234,5' -> '1,234.5' inside numbers only (sentence punctuation untouched)."""
    return re.sub(r"\d[\d.,]*\d", lambda m: m.group(0).translate(str.maketrans(".,", ",.")), text)


def test_every_finding_follows_currency_and_locale(demo_findings):
    plain, german = demo_findings
    assert [f.key for f in plain] == [f.key for f in german]
    for before, after in zip(plain, german):
        for field in ("headline", "detail"):
            text = getattr(after, field)
            assert not ENGLISH_NUMBER.search(text), f"{after.key}.{field}: English-style number in {text!r}"
            # the same sentence once the euro and the German separators are taken out: nothing else changed
            assert _swap_separators(text.replace(" €", "")) == getattr(before, field), (after.key, field)
    money_findings = {f.key: f.headline for f in german if f.key in ("kpis", "value")}
    assert money_findings and all("€" in headline for headline in money_findings.values()), money_findings


# Money figures in sentences go through crm_core.format; what may still use an own format spec, and why.
# Modules that also write takeaways may keep only the listed number of such lines (a new one fails).
LIMITED_FORMAT_SPECS = {
    "crm_core/deck.py": (1, "input limit errors (characters)"),
    "crm_core/deck_pptx.py": (1, "speaker-note table truncation note"),
    "crm_core/report.py": (10, "data-quality counts of the upload"),
    "crm_core/clusters.py": (5, "the method note of a cached fit (customer counts)"),
    "crm_core/drivers.py": (3, "first-order value band labels: data, also in CLI output"),
    "crm_core/scorecard.py": (4, "scores out of 100 (whole numbers, the same in every locale)"),
}
ALLOWED_FORMAT_SPECS = {
    "crm_core/format.py": "the formatting module itself",
    "crm_core/ingest/": "ingest reports and errors: row counts, read before any locale is chosen",
    "crm_core/currency.py": "ingest messages about currency codes and rates",
    "crm_core/reconcile.py": "append report: order counts",
    "crm_core/engines/": "warehouse command output",
    "crm_core/demo.py": "the demo dataset's name",
    "crm_core/clv/pipeline.py": "model parameter explanations and fit warnings",
    "crm_core/clv/validation.py": "model-choice explanations (likelihoods, errors)",
    "crm_core/clv/settings.py": "data-sufficiency problems",
    "crm_core/charts/sparkline.py": "SVG coordinates of the cards' small charts (never shown as text)",
    "crm_core/charts/margins.py": "tick labels as Plotly will write them, only to measure their width (never shown)",
}
FORMAT_SPEC = re.compile(r"""f["'].*\{[^}]*:(,|\.\d+f|\.\d+%)""")
#: Plotly placeholders in an f-string (``%{{y:,.0f}}``): Plotly writes them with the figure's separators.
PLOTLY_PLACEHOLDER = re.compile(r"%\{\{[^}]*\}\}")


def test_no_own_number_formats_in_sentence_modules():
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((root / "crm_core").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if any(name.startswith(allowed) for allowed in ALLOWED_FORMAT_SPECS):
            continue
        found = [f"{name}:{number}: {line.strip()[:100]}"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if FORMAT_SPEC.search(PLOTLY_PLACEHOLDER.sub("", line))]
        limit, _why = LIMITED_FORMAT_SPECS.get(name, (0, ""))
        if len(found) > limit:
            offenders += found
    assert not offenders, "format figures with crm_core.format (NumberStyle), not own f-string specs:\n" + "\n".join(offenders)


def test_chart_text_follows_currency_and_locale():
    """Text a chart builder writes itself (annotations, bar labels, legend names) is in the view's style."""
    from crm_core.charts.drivers import driver_figure
    from crm_core.charts.portfolio import lorenz_figure, pareto_figure, pyramid_figure
    from crm_core.portfolio import Concentration

    table = pl.DataFrame({"name": ["Email"], "small": [False], "customers": [1200], "revenue_per_customer": [2345.5],
                          "revenue_low": [2000.0], "revenue_high": [2700.0]})
    fig = driver_figure(table, "channel", {"revenue_per_customer": 1234.56}, style=EUR_DE)
    assert_german(fig.layout.annotations[0].text, "average 1.234,56 €")
    assert driver_figure(table, "channel", {"revenue_per_customer": 1234.56}).layout.annotations[0].text \
        == "average 1,234.56"  # the plain default
    figures = Concentration(customers=10, total=1.0, top20_share=0.712, gini=0.6234, customer_share_for_80=0.315)
    curve = pl.DataFrame({"customer_share": [0.0, 1.0], "revenue_share": [0.0, 1.0]})
    assert [a.text for a in pareto_figure(curve, figures, style=EUR_DE).layout.annotations] == [
        "top 20% → 71%", "32% → 80%"]
    assert lorenz_figure(curve, figures, style=EUR_DE).data[1].name == "Your customers (Gini 0,62)"
    tiers = pl.DataFrame({"tier": ["Gold"], "customers": [12345], "customer_share": [0.1234], "revenue": [5.0],
                          "revenue_share": [0.5]})
    assert pyramid_figure(tiers, style=EUR_DE).data[0].text == ("12.345 (12,3%)",)


# Dates in sentences, titles and chart text go through crm_core.format (date, month, period); what may keep
# an own strftime, and why.
ALLOWED_DATE_FORMATS = {
    "crm_core/format.py": "the formatting module itself",
    "crm_core/ingest/": "parsing and writing ISO timestamps (data, not text)",
    "crm_core/logging_setup.py": "log time stamps",
    "crm_core/drivers.py": "ISO month keys of first-order cohorts (data)",
    "crm_core/charts/lifetime.py": "month labels of cohort rows, built in a Polars expression",
    "crm_core/findings.py": "month labels of the cohort table, built in a Polars expression",
    "crm_core/charts/margins.py": "date tick labels as Plotly will write them, only to measure their width (never shown)",
}
#: ``{day:%d %b %Y}`` in an f-string or a ``strftime`` call.
DATE_FORMAT = re.compile(r"""f["'].*\{[^}{]*:%[a-zA-Z]|strftime\(""")


def test_no_own_date_formats():
    root = Path(__file__).resolve().parents[1]
    offenders = [
        f"{name}:{number}: {line.strip()[:100]}"
        for folder in ("crm_core", "ui", "app_pages")  # pages wrote '01 Oct 2025' beside the cards' '1 Oct 2025'
        for path in sorted((root / folder).rglob("*.py"))
        if not any((name := path.relative_to(root).as_posix()).startswith(allowed) for allowed in ALLOWED_DATE_FORMATS)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DATE_FORMAT.search(PLOTLY_PLACEHOLDER.sub("", line))
    ]
    assert not offenders, "write dates with crm_core.format (date, month, period):\n" + "\n".join(offenders)


def test_dates_in_sentences_use_the_format_module():
    from crm_core import format as fmt

    assert fmt.month(dt.date(2024, 3, 5)) == "Mar 2024" and fmt.month(dt.date(2024, 3, 5), full=True) == "March 2024"
    assert fmt.period(dt.date(2024, 1, 5), dt.date(2024, 2, 9), " – ") == "5 Jan 2024 – 9 Feb 2024"
    trend = pl.DataFrame({"period": [dt.date(2024, 1, 1), dt.date(2024, 1, 8)], "revenue": [10.0, 30.0]})
    assert "in the week of 8 Jan 2024" in kpis.trend_takeaway(trend, "revenue", "week")
