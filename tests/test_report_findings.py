"""Key findings: hand-computed golden values on tiny frames."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.customers import summarize
from crm_core.dataset import Dataset
from crm_core.findings import (
    FindingSettings,
    REGISTRY,
    clv_risk_bands,
    key_findings,
    money,
    repeat_status,
    segment_table,
    share,
    value_deciles,
)

D = dt.date


def _summary(revenues: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [f"c{i:03d}" for i in range(len(revenues))], "revenue": revenues})


def _tx(rows: list[tuple[str, dt.date, float]]) -> pl.LazyFrame:
    ids, dates, amounts = zip(*rows)
    return pl.LazyFrame({"customer_id": list(ids), "order_date": list(dates), "amount": list(amounts)},
                        schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64})


def test_segment_table_in_rule_order_without_empty_segments():
    scored = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "segment": ["Lost", "Champions", "Lost", "Champions", "At Risk"],
        "revenue": [10.0, 50, 5, 25, 10],
    })
    table = segment_table(scored, ["Champions", "Loyal Customers", "At Risk", "Lost"])
    assert table["segment"].to_list() == ["Champions", "At Risk", "Lost"]
    assert table["customers"].to_list() == [2, 1, 2]
    assert table["revenue"].to_list() == pytest.approx([75, 10, 15])
    assert table["customer_share"].to_list() == pytest.approx([0.4, 0.2, 0.4])
    assert table["revenue_share"].to_list() == pytest.approx([0.75, 0.1, 0.15])


def test_clv_risk_bands_among_the_most_valuable():
    customers = pl.DataFrame({
        "customer_id": list("abcdefgh"),
        "clv": [100.0, 90, 80, 70, 10, 5, 1, float("nan")],
        "p_alive": [0.9, 0.6, 0.3, 0.2, 0.1, 0.9, 0.9, 0.1],
        "revenue": [1000.0, 500, 300, 200, 50, 40, 30, 20],
    })
    # finite CLVs: 100, 90, 80, 70, 10, 5, 1 -> 0.5 quantile (linear) = 70: a, b, c, d
    bands = clv_risk_bands(customers, min_clv_quantile=0.5, max_p_alive=0.5, active_from=0.8)
    assert bands["status"].to_list() == ["Probably active", "Uncertain", "At risk"]
    assert bands["customers"].to_list() == [1, 1, 2]
    assert bands["revenue"].to_list() == pytest.approx([1000, 500, 500])


def test_value_deciles_on_20_customers():
    deciles = value_deciles(_summary([float(v) for v in range(1, 21)]))
    assert deciles["decile"].to_list()[:2] == ["Top 10%", "10-20%"]
    assert deciles["customers"].to_list() == [2] * 10
    assert deciles["average_revenue"][0] == pytest.approx(19.5)
    assert deciles["average_revenue"][-1] == pytest.approx(1.5)


def test_repeat_status_uses_usual_gap():
    first, last = D(2020, 1, 1), D(2020, 1, 11)  # 10 days over 3 purchase days: usual gap 5
    summary = pl.DataFrame({
        "customer_id": ["on", "over", "risk", "once"],
        "revenue": [1.0, 2, 3, 4], "orders": [3, 3, 3, 1],
        "first_date": [first] * 4, "last_date": [last] * 4,
        "purchase_days": [3, 3, 3, 1],
        "recency_days": [5, 10, 11, 50],
    })
    status = repeat_status(summary, overdue_factor=2.0)
    assert dict(zip(status["customer_id"], status["status"])) == {"on": "On track", "over": "Overdue", "risk": "At risk"}
    assert status["usual_gap_days"].to_list() == pytest.approx([5, 5, 5])


def test_formatting_helpers():
    assert money(1234567.8) == "1,234,568"
    assert money(12.5, "$") == "$12.50"
    assert money(None) == "–"
    assert share(0.712) == "71%"
    assert share(0.051) == "5.1%"


def _ten_customers() -> Dataset:
    revenues = [40.0, 20, 10, 10, 5, 5, 4, 3, 2, 1]
    rows = [(f"c{i}", D(2021, 1, 1 + i), amount) for i, amount in enumerate(revenues)]
    rows += [("c0", D(2021, 3, 1), 0.0)]  # a second purchase day for c0 (zero amount)
    return Dataset(transactions=_tx(rows), name="tiny")


def test_key_findings_headline_from_data():
    findings = {f.key: f for f in key_findings(_ten_customers())}
    # revenues 40, 20, 10, 10, 5, 5, 4, 3, 2, 1: top 2 of 10 bring 60; 80 is reached by the top 4
    assert findings["concentration"].headline == (
        "The top 20% of customers bring 60% of revenue; 80% of revenue comes from 40% of customers."
    )
    assert findings["concentration"].chart == "pareto" and findings["concentration"].data["curve"].height
    assert findings["concentration"].table["Customers"].to_list() == [1, 1, 1, 2, 5]
    # ten customers are far too few for the lifetime-value model: value to date, and it says why
    assert findings["value"].headline.startswith("The average customer spent 10.00 in the period; the top 10% averaged 40.00")
    assert findings["value"].detail.startswith("Value to date: the lifetime-value model was not used because only 10 customers")
    assert findings["value"].source == "customer summary"
    # too few customers for tiers and segments: they are left out, not wrong
    assert "tiers" not in findings and "segments" not in findings


def test_key_findings_respects_period_and_theme():
    from crm_core.charts.registry import finding_figure

    settings = FindingSettings(start=D(2021, 1, 1), end=D(2021, 1, 2))
    findings = key_findings(_ten_customers(), settings, keys=("concentration", "value"))
    assert findings == []  # two customers only: not enough for either finding
    found = key_findings(_ten_customers(), FindingSettings(), keys=("concentration",))
    assert finding_figure(found[0], dark=True).layout.template.layout.paper_bgcolor == "#0E1117"
    assert finding_figure(found[0]).layout.template.layout.paper_bgcolor == "white"


def test_findings_module_draws_nothing():
    import crm_core.findings as findings_module

    source = open(findings_module.__file__, encoding="utf-8").read()
    assert "import plotly" not in source and "from plotly" not in source


def test_key_findings_empty_period():
    settings = FindingSettings(start=D(2030, 1, 1), end=D(2030, 2, 1))
    assert key_findings(_ten_customers(), settings) == []


def test_registry_order_is_the_meeting_order():
    assert list(REGISTRY)[:3] == ["kpis", "concentration", "tiers"]
    assert set(REGISTRY) >= {"kpis", "concentration", "tiers", "segments", "value", "at_risk"}


def test_kpi_finding_on_summarized_data():
    rows = [("a", D(2021, 1, 5), 100.0), ("b", D(2021, 1, 6), 50.0), ("a", D(2021, 2, 5), 30.0)]
    finding = key_findings(Dataset(transactions=_tx(rows)), keys=("kpis",))[0]
    assert "From 5 Jan 2021 to 5 Feb 2021: 2 customers placed 3 orders worth 180;" in finding.headline
    assert "average order was 60.00" in finding.headline
    assert summarize(_tx(rows)).collect().height == 2


def _hash_slicer(slices: int):
    """A slicer as the CLI's for rows on disk (``per_customer``): each slice of customers alone, by the id's hash."""
    def slicer(tx, build):
        parts = [build(tx.filter(pl.col("customer_id").hash() % slices == k).collect().lazy()).collect()
                 for k in range(slices)]
        return pl.concat(parts).sort("customer_id")
    return slicer


def test_findings_with_the_tables_released_equal_those_of_a_whole_context():
    # Rows on disk (a slicer): the findings that read the fit, then the summary, then the rows, each table dropped
    # after its last reader; the same findings, in the same order, as a context that keeps everything.
    from crm_core.demo import generate
    from crm_core.findings import FindingContext

    dataset = generate(customers=800, seed=3)
    whole = key_findings(dataset, FindingSettings())
    context = FindingContext(dataset, FindingSettings(), slicer=_hash_slicer(3), slices=3)
    assert context.releases_tables
    sliced = key_findings(dataset, context=context)
    assert [f.key for f in sliced] == [f.key for f in whole]
    assert {"value", "at_risk", "actions", "migration", "service_cost"} <= {f.key for f in whole}  # the fit is used
    for a, b in zip(sliced, whole):
        assert (a.headline, a.detail, a.method, a.chart) == (b.headline, b.detail, b.method, b.chart), a.key
        assert a.table is not None and b.table is not None and a.table.equals(b.table), a.key
    assert next(f for f in sliced if f.key == "at_risk").title == "Valuable customers at risk"  # drawn with the fit
    assert context.customers == 800
    assert "summary" not in context.__dict__ and "forecast" not in context.__dict__ and context.at_risk_list is None
