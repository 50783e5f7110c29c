"""The metric catalogue and the view filters, on frames computed by hand."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from conftest import ROOT
from crm_core.filters import apply_view
from crm_core.metrics import CATALOGUE, catalogue_markdown, headline_figures, metric, predicted_value_words
from crm_core.settings import AnalysisSettings

TX = pl.DataFrame({
    "customer_id": ["A", "A", "B", "C", "D", "E"],
    "order_date": [dt.date(2023, 12, 5), dt.date(2024, 2, 1), dt.date(2024, 1, 10), dt.date(2024, 2, 20),
                   dt.date(2024, 3, 1), dt.date(2024, 3, 15)],
    "amount": [40.0, 60.0, 200.0, 30.0, 20.0, 10.0],
    "channel": ["Web", "Store", "Web", "Web", "Store", "Web"],
}).lazy()


def test_docs_list_the_whole_catalogue():
    text = (ROOT / "docs" / "metrics.md").read_text()
    assert catalogue_markdown() in text, "docs/metrics.md is out of date: paste catalogue_markdown()"
    for required in ("customers", "revenue", "top20_revenue_share", "gini", "predicted_value_total"):
        assert required in CATALOGUE


def test_different_things_have_different_labels():
    labels = [entry.label for entry in CATALOGUE.values()]
    assert len(labels) == len(set(labels))
    assert predicted_value_words(AnalysisSettings())["value_name"] == "Predicted revenue"
    assert predicted_value_words(AnalysisSettings(margin=0.38))["value_name"] == "Predicted margin"
    assert metric("tier.Gold.revenue") is CATALOGUE["tier.{tier}.revenue"]
    assert "Period: the analysed period" in metric("top20_revenue_share").help()


def test_order_filters_then_period():
    settings = AnalysisSettings.from_dict({"filters": {"channel": ["Web"]},
                                           "period": {"start": "2024-01-01", "end": "2024-12-31"}})
    view = apply_view(TX, settings)
    kept = view.transactions.collect()
    assert sorted(kept["amount"].to_list()) == [10.0, 30.0, 200.0]  # A's Web order is in 2023
    assert (view.first, view.last, view.start, view.end) == (
        dt.date(2023, 12, 5), dt.date(2024, 3, 15), dt.date(2024, 1, 1), dt.date(2024, 3, 15))


def test_cohort_uses_the_first_order_ever():
    view = apply_view(TX, AnalysisSettings.from_dict({"filters": {"cohort": ["2023"], "channel": ["Store"]}}))
    assert view.transactions.collect()["amount"].to_list() == [60.0]  # A joined in 2023; only its Store line
    with pytest.raises(ValueError, match="cohort"):
        apply_view(TX, AnalysisSettings.from_dict({"filters": {"cohort": ["Q1 2024"]}}))


def test_tier_filter_keeps_the_chosen_customers():
    settings = AnalysisSettings.from_dict({"tiers": {"names": ["Top", "Rest"], "shares": [0.4, 0.6]},
                                           "filters": {"tier": ["Top"]}})
    kept = apply_view(TX, settings).transactions.collect()
    assert sorted(kept["customer_id"].unique().to_list()) == ["A", "B"]  # ceil(0.4 * 5) = 2: B 200, A 100


def test_segment_filter_and_unknown_segment():
    from crm_core.customers import summarize
    from crm_core.rfm import score_customers

    scored = score_customers(summarize(TX, as_of=dt.date(2024, 3, 15)).collect()).collect()
    segment = scored.filter(pl.col("customer_id") == "B")["segment"].item()
    expected = sorted(scored.filter(pl.col("segment") == segment)["customer_id"].to_list())
    kept = apply_view(TX, AnalysisSettings.from_dict({"filters": {"segment": [segment]}})).transactions.collect()
    assert sorted(kept["customer_id"].unique().to_list()) == expected and len(expected) < 5
    with pytest.raises(ValueError, match="not a segment"):
        apply_view(TX, AnalysisSettings.from_dict({"filters": {"segment": ["Dreamers"]}}))


def test_headline_figures_by_hand():
    view = apply_view(TX, AnalysisSettings())
    figures = {f.id: f for f in headline_figures(view.transactions, AnalysisSettings(), view.start, view.end,
                                                 with_forecast=False)}
    assert figures["customers"].value == 5
    assert figures["revenue"].value == 360.0
    assert figures["top20_revenue_share"].value == pytest.approx(200 / 360)  # ceil(0.2 * 5) = 1 customer
    assert figures["tier.Platinum.customers"].value == 1
    # cumulative 1%, 5%, 20% of 5 customers -> ceil: 1, 1, 1 -> Gold and Iron are empty, Lead has 4
    assert [figures[f"tier.{n}.customers"].value for n in ("Platinum", "Gold", "Iron", "Lead")] == [1, 0, 0, 4]
    assert figures["tier.Lead.revenue"].value == 160.0
    assert figures["revenue"].period == "5 Dec 2023 to 15 Mar 2024"
