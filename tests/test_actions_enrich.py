"""The profile adapter: uses the segment / tier / CLV engines when present, degrades when not."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest

from crm_core.customers import summarize
from crm_core.dataset import Dataset
from crm_core.enrich import EngineSettings, build_profile, customer_profile_table


def _dataset() -> Dataset:
    start = dt.date(2024, 1, 1)
    rows = [
        (f"C{i:02d}", start + dt.timedelta(days=(i * 13 + k * 41) % 330), float(5 + i + k))
        for i in range(24)
        for k in range(1 + i % 3)
    ]
    tx = pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row").lazy()
    return Dataset(transactions=tx)


def test_profile_uses_the_engines_that_exist():
    rfm = pytest.importorskip("crm_core.rfm")
    portfolio = pytest.importorskip("crm_core.portfolio")
    dataset = _dataset()
    profile = build_profile(dataset)
    summary = summarize(dataset.transactions).collect()
    expected_segments = rfm.score_customers(summary).select("customer_id", "segment").collect()
    assert profile.table.select("customer_id", "segment").equals(expected_segments)
    expected_tiers = portfolio.assign_tiers(summary).select("customer_id", "tier").sort("customer_id")
    assert profile.table.select("customer_id", "tier").sort("customer_id").equals(expected_tiers)
    assert "segment" not in profile.missing and "tier" not in profile.missing
    assert customer_profile_table(dataset).columns == profile.table.columns


def test_reuses_a_given_clv_fit_and_passes_on_its_caveats():
    pytest.importorskip("crm_core.clv")
    customers = pl.DataFrame({"customer_id": ["C00", "C01", "ZZ"], "clv": [10.0, float("nan"), 3.0], "p_alive": [0.5, 0.9, 0.1]})
    fit = SimpleNamespace(customers=customers, problems=["Only 3 customers have bought."])
    profile = build_profile(_dataset(), engines=EngineSettings(clv_result=fit))
    rows = {row["customer_id"]: row for row in profile.table.iter_rows(named=True)}
    assert rows["C00"]["clv"] == 10.0 and rows["C01"]["clv"] is None  # NaN becomes missing
    assert rows["C02"]["p_alive"] is None  # not predicted
    assert "ZZ" not in rows  # only the period's customers
    assert profile.warnings == ["Predicted CLV and P(alive) are unreliable for this data: Only 3 customers have bought."]


def test_engine_errors_become_missing_notes():
    pytest.importorskip("crm_core.clv")
    returns_only = Dataset(transactions=pl.LazyFrame({
        "customer_id": ["a"], "order_date": [dt.date(2024, 1, 1)], "amount": [-5.0],
    }))
    profile = build_profile(returns_only)
    assert "clv" not in profile.table.columns
    assert "nothing to model" in profile.missing["clv"]
