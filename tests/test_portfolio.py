"""Golden tests of crm_core.portfolio on a six-customer frame computed by hand.

Customers (net revenue over the whole period):
B 300, A 150 (100 + 50), C 50, D 50 (tie with C), F 10, E -20 (only a return).
Net total 540; clipped total 560.
"""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from crm_core import portfolio as pf
from crm_core.customers import summarize

D = dt.date


def tiny_tx(cost: bool = False) -> pl.LazyFrame:
    rows = [
        ("A", D(2024, 1, 10), 100.0, 60.0),
        ("A", D(2024, 4, 5), 50.0, 20.0),
        ("B", D(2024, 2, 1), 300.0, 250.0),
        ("C", D(2024, 5, 1), 50.0, 10.0),
        ("D", D(2024, 3, 1), 50.0, 45.0),
        ("E", D(2024, 6, 1), -20.0, 0.0),
        ("F", D(2024, 6, 15), 10.0, 1.0),
    ]
    frame = pl.DataFrame(rows, schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64,
                                       "cost": pl.Float64}, orient="row")
    return (frame if cost else frame.drop("cost")).lazy()


@pytest.fixture
def summary() -> pl.DataFrame:
    return summarize(tiny_tx()).collect()


def tiers_of(tiered: pl.DataFrame) -> dict[str, str]:
    return dict(zip(tiered["customer_id"], tiered["tier"]))


# --------------------------------------------------------------------------- concentration


def test_concentration_figures(summary):
    figures = pf.concentration(summary)
    assert figures.customers == 6
    assert figures.total == pytest.approx(540.0)
    # top ceil(0.2 * 6) = 2 customers: B + A = 450 of 540
    assert figures.top20_share == pytest.approx(450 / 540)
    # ascending clipped [0, 10, 50, 50, 150, 300], weights -5 -3 -1 1 3 5 -> 1920 / (6 * 560)
    assert figures.gini == pytest.approx(1920 / 3360)
    # 80% of 540 = 432 is reached after B and A: 2 of 6 customers
    assert figures.customer_share_for_80 == pytest.approx(2 / 6)


def test_top_share_any_x(summary):
    assert pf.top_share(summary, 0.5) == pytest.approx(500 / 540)  # ceil(3) = B, A, C
    assert pf.top_share(summary, 0.01) == pytest.approx(300 / 540)  # ceil(0.06) = 1
    assert pf.top_share(summary, 1.0) == pytest.approx(1.0)


def test_gini_extremes():
    equal = pl.DataFrame({"customer_id": ["a", "b", "c"], "revenue": [5.0, 5.0, 5.0]})
    assert pf.gini(equal) == pytest.approx(0.0)
    one = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [0.0, 0.0, 0.0, 8.0]})
    assert pf.gini(one) == pytest.approx(3 / 4)  # (n - 1) / n
    nothing = pl.DataFrame({"customer_id": ["a"], "revenue": [-3.0]})
    assert pf.gini(nothing) == 0.0
    assert pf.top_share(nothing) is None
    assert pf.gini(nothing.clear()) is None


def test_pareto_curve_net_values(summary):
    curve = pf.pareto_curve(summary)
    assert curve["customer_share"].to_list() == pytest.approx([i / 6 for i in range(7)])
    expected = [0, 300, 450, 500, 550, 560, 540]
    # net shares pass 100% before the customer with only returns brings it back
    assert curve["revenue_share"].to_list() == pytest.approx([v / 540 for v in expected])


def test_lorenz_curve_clips_negatives(summary):
    curve = pf.lorenz_curve(summary)
    expected = [0, 0, 10, 60, 110, 260, 560]
    assert curve["revenue_share"].to_list() == pytest.approx([v / 560 for v in expected])


def test_curve_thinning_keeps_ends():
    frame = pl.DataFrame({"customer_id": [f"c{i}" for i in range(1000)], "revenue": [float(i) for i in range(1000)]})
    curve = pf.pareto_curve(frame, max_points=100)
    assert curve.height <= 101
    assert curve["customer_share"][0] == 0.0 and curve["customer_share"][-1] == 1.0
    assert curve["revenue_share"][-1] == pytest.approx(1.0)


def test_takeaways(summary):
    figures = pf.concentration(summary)
    assert pf.pareto_takeaway(figures) == (
        "The top 20% of customers bring 83% of revenue; 80% of revenue comes from 33% of customers.")
    assert pf.gini_takeaway(figures).startswith("Gini coefficient 0.57 ")
    assert "strongly concentrated" in pf.gini_takeaway(figures)


# --------------------------------------------------------------------------- tiers


def test_default_tiers_on_six_customers(summary):
    tiered = pf.assign_tiers(summary)
    # cut-offs: ceil(0.01*6)=1, ceil(0.05*6)=1, ceil(0.20*6)=2 -> Gold is empty
    assert tiers_of(tiered) == {"B": "Platinum", "A": "Iron", "C": "Lead", "D": "Lead", "F": "Lead", "E": "Lead"}
    assert tiered["customer_id"].to_list() == ["B", "A", "C", "D", "F", "E"]
    assert tiered["value_rank"].to_list() == [1, 2, 3, 4, 5, 6]


def test_tie_at_boundary_split_by_customer_id(summary):
    settings = pf.TierSettings(names=("Top", "Rest"), shares=(0.5,))
    tiered = pf.assign_tiers(summary, settings)
    # C and D both spent 50 at ranks 3 and 4; ceil(0.5 * 6) = 3: C (smaller id) is in, D is out
    assert tiers_of(tiered)["C"] == "Top"
    assert tiers_of(tiered)["D"] == "Rest"
    reversed_ids = summary.with_columns(pl.col("customer_id").replace({"C": "Z"}))
    assert tiers_of(pf.assign_tiers(reversed_ids, settings))["D"] == "Top"


def test_only_returns_customer_ranks_last(summary):
    tiered = pf.assign_tiers(summary)
    row = tiered.filter(pl.col("customer_id") == "E").row(0, named=True)
    assert row["value_rank"] == 6 and row["tier"] == "Lead" and row["revenue"] == -20.0 and row["orders"] == 0


def test_tier_summary_includes_empty_tier(summary):
    table = pf.tier_summary(pf.assign_tiers(summary))
    assert table["tier"].to_list() == ["Platinum", "Gold", "Iron", "Lead"]
    assert table["customers"].to_list() == [1, 0, 1, 4]
    assert table["revenue"].to_list() == pytest.approx([300, 0, 150, 90])
    assert table["revenue_share"].to_list() == pytest.approx([300 / 540, 0, 150 / 540, 90 / 540])
    assert table["customer_share"].to_list() == pytest.approx([1 / 6, 0, 1 / 6, 4 / 6])
    assert pf.pyramid_takeaway(table) == "Platinum: 17% of customers (1) bring 56% of revenue; Lead: 67% of customers bring 17%."


def test_amount_cutoffs_keep_ties_together(summary):
    settings = pf.TierSettings(method="amount", amounts=(200.0, 100.0, 50.0))
    tiered = pf.assign_tiers(summary, settings)
    assert tiers_of(tiered) == {"B": "Platinum", "A": "Gold", "C": "Iron", "D": "Iron", "F": "Lead", "E": "Lead"}
    table = pf.tier_summary(tiered, settings)
    assert table["customers"].to_list() == [1, 1, 2, 2]
    assert table["revenue"].to_list() == pytest.approx([300, 150, 100, -10])


def test_rank_cutoff_amounts_round_down_to_keep_the_boundary_customer():
    frame = pl.DataFrame({"customer_id": ["a", "b", "c"], "revenue": [10.009, 5.0, 1.0]})
    settings = pf.TierSettings(names=("Top", "Rest"), shares=(0.3,))
    amounts = pf.rank_cutoff_amounts(frame, settings)
    assert amounts == (10.0,)
    by_amount = pf.TierSettings(names=("Top", "Rest"), method="amount", amounts=amounts)
    assert tiers_of(pf.assign_tiers(frame, by_amount))["a"] == "Top"


def test_margin_tiers():
    summary = summarize(tiny_tx(cost=True)).collect()
    # margins: A 70, B 50, C 40, D 5, E -20, F 9
    settings = pf.TierSettings(names=("Top", "Mid", "Low"), value="margin", shares=(0.2, 0.3))
    tiered = pf.assign_tiers(summary, settings)
    # ceil(1.2) = 2 -> A, B; ceil(3.0) = 3 -> C
    assert tiers_of(tiered) == {"A": "Top", "B": "Top", "C": "Mid", "F": "Low", "D": "Low", "E": "Low"}
    table = pf.tier_summary(tiered, settings)
    assert table["margin"].to_list() == pytest.approx([120, 40, -6])
    assert table["revenue"].to_list() == pytest.approx([450, 50, 40])


def test_margin_without_cost_is_a_clear_error(summary):
    with pytest.raises(ValueError, match="no cost column"):
        pf.assign_tiers(summary, pf.TierSettings(value="margin"))


def test_rank_cutoff_amounts_reproduce_rank_tiers(summary):
    amounts = pf.rank_cutoff_amounts(summary)
    assert amounts == (300.0, 299.99, 150.0)  # Gold is empty: one cent below Platinum
    by_amount = pf.assign_tiers(summary, pf.TierSettings(method="amount", amounts=amounts))
    assert tiers_of(by_amount) == tiers_of(pf.assign_tiers(summary))


@pytest.mark.parametrize("kwargs, message", [
    (dict(names=("A",), shares=()), "at least two"),
    (dict(names=("A", "A"), shares=(0.5,)), "different"),
    (dict(names=("A", "New"), shares=(0.5,)), "reserved"),
    (dict(shares=(0.5, 0.3, 0.3)), "below 100%"),
    (dict(shares=(0.1, 0.1)), "each tier except the last"),
    (dict(method="amount", amounts=(10.0, 20.0, 5.0)), "decrease"),
    (dict(method="amount"), "cut-off amount"),
    (dict(value="profit"), "revenue"),
])
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pf.TierSettings(**kwargs)


def test_describe_rule():
    assert pf.TierSettings().describe() == (
        "Customers ranked by revenue (equal values ordered by customer id): Platinum the top 1%, "
        "Gold the next 4%, Iron the next 15%, Lead the rest.")
    assert pf.TierSettings(names=("Big", "Small"), method="amount", amounts=(1000.0,)).describe() == (
        "Tiers by revenue in the period: Big from 1,000.00, Small below 1,000.00.")


def test_share_float_noise_does_not_shift_cutoff():
    # 0.05 * 100 is 5.000000000000001 in floating point; the cut-off must stay 5
    frame = pl.DataFrame({"customer_id": [f"c{i:03d}" for i in range(100)], "revenue": [float(100 - i) for i in range(100)]})
    table = pf.tier_summary(pf.assign_tiers(frame, pf.TierSettings(names=("T", "R"), shares=(0.05,))),
                            pf.TierSettings(names=("T", "R"), shares=(0.05,)))
    assert table["customers"].to_list() == [5, 95]


# --------------------------------------------------------------------------- trend and migration


def test_tier_trend_by_quarter(summary):
    tiered = pf.assign_tiers(summary)
    trend = pf.tier_trend(tiny_tx(), tiered, grain="quarter")
    q1 = trend.filter(pl.col("period") == D(2024, 1, 1))
    q2 = trend.filter(pl.col("period") == D(2024, 4, 1))
    assert q1["tier"].to_list() == ["Platinum", "Gold", "Iron", "Lead"]
    assert q1["revenue"].to_list() == pytest.approx([300, 0, 100, 50])
    assert q2["revenue"].to_list() == pytest.approx([0, 0, 50, 40])
    assert q2["customers"].to_list() == [0, 0, 1, 3]
    assert q1["revenue_share"][0] == pytest.approx(300 / 450)
    assert pf.trend_takeaway(trend, "quarter") == (
        "Platinum customers brought 67% of revenue in 2024-Q1 and 0% in 2024-Q2.")


def test_tier_trend_by_month_fills_gaps(summary):
    trend = pf.tier_trend(tiny_tx(), pf.assign_tiers(summary), grain="month")
    assert trend.height == 6 * 4
    assert trend.filter(pl.col("period") == D(2024, 2, 1), pl.col("tier") == "Platinum")["revenue"][0] == 300.0


EARLIER, LATER = (D(2024, 1, 1), D(2024, 3, 31)), (D(2024, 4, 1), D(2024, 6, 30))
TWO = pf.TierSettings(names=("Top", "Rest"), shares=(0.5,))


def test_migration_flows_with_new_and_lost():
    flows = pf.tier_migration(tiny_tx(), EARLIER, LATER, TWO)
    # earlier: B 300, A 100 Top (ceil(1.5) = 2), D Rest; later: A 50, C 50 Top (tie, A first), F, E Rest
    got = {(f, t): c for f, t, c in flows.select("from_tier", "to_tier", "customers").iter_rows()}
    assert got == {("Top", "Top"): 1, ("Top", "Lost"): 1, ("Rest", "Lost"): 1, ("New", "Top"): 1, ("New", "Rest"): 2}
    top_top = flows.filter(pl.col("from_tier") == "Top", pl.col("to_tier") == "Top").row(0, named=True)
    assert (top_top["earlier_revenue"], top_top["later_revenue"]) == (100.0, 50.0)
    matrix = pf.migration_matrix(flows, TWO)
    assert matrix.columns == ["from \\ to", "Top", "Rest", "Lost"]
    assert matrix.rows() == [("Top", 1, 0, 1), ("Rest", 0, 0, 1), ("New", 1, 2, 0)]
    assert pf.migration_takeaway(flows) == (
        "Of 3 customers active in the earlier period, 33% kept their tier, 0% moved up, 0% moved down and "
        "67% stopped buying; 3 new customers bought in the later period.")


def test_migration_up_and_down():
    tx = pl.DataFrame({
        "customer_id": ["a", "b", "a", "b"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 2, 1), D(2024, 2, 2)],
        "amount": [10.0, 5.0, 1.0, 9.0],
    }).lazy()
    flows = pf.tier_migration(tx, (D(2024, 1, 1), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 29)), TWO)
    got = {(f, t): c for f, t, c in flows.select("from_tier", "to_tier", "customers").iter_rows()}
    assert got == {("Top", "Rest"): 1, ("Rest", "Top"): 1}
    assert "0% kept their tier, 50% moved up, 50% moved down and 0% stopped buying; 0 new" in pf.migration_takeaway(flows)


def test_migration_with_empty_earlier_period():
    flows = pf.tier_migration(tiny_tx(), (D(2023, 1, 1), D(2023, 6, 30)), LATER, TWO)
    assert set(flows["from_tier"]) == {"New"}
    assert int(flows["customers"].sum()) == 4
    assert pf.migration_takeaway(flows).startswith("Nobody bought in the earlier period; 4 customers")


def test_split_period():
    assert pf.split_period(D(2024, 1, 1), D(2024, 1, 10)) == ((D(2024, 1, 1), D(2024, 1, 5)), (D(2024, 1, 6), D(2024, 1, 10)))


# --------------------------------------------------------------------------- cost to serve and significance


def interactions(with_cost: bool = True) -> pl.LazyFrame:
    frame = pl.DataFrame({
        "customer_id": ["A", "A", "C", "Z"],
        "interaction_date": [D(2024, 1, 11), D(2024, 4, 6), D(2024, 5, 2), D(2025, 1, 1)],
        "csat": [4.0, 2.0, None, 5.0],
        "cost": [10.0, 5.0, None, 99.0],
    })
    return (frame if with_cost else frame.drop("cost")).lazy()


PERIOD = (D(2024, 1, 1), D(2024, 12, 31))


def test_cost_to_serve_with_recorded_costs(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    costs = dict(zip(table["customer_id"], table["cost_to_serve"]))
    # A: 10 + 5; C: unrecorded -> 5 per contact; E: one returned line x 5; Z is outside the period
    assert costs == pytest.approx({"A": 15.0, "B": 0.0, "C": 5.0, "D": 0.0, "E": 5.0, "F": 0.0})
    assert dict(zip(table["customer_id"], table["contacts"]))["A"] == 2
    assert basis.kind == "cost"
    assert "contribution" not in table.columns  # no margin without cost in the transactions


def test_contribution_when_margin_known():
    summary = summarize(tiny_tx(cost=True)).collect()
    table, _ = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    assert dict(zip(table["customer_id"], table["contribution"]))["A"] == pytest.approx(70 - 15)


def test_quadrants_and_summary(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    matrix = pf.significance(table, basis)
    # median revenue of [-20, 10, 50, 50, 150, 300] = 50; median cost of [0, 0, 0, 5, 5, 15] = 2.5
    assert (matrix.value_split, matrix.cost_split) == (50.0, 2.5)
    quadrants = dict(zip(matrix.customers["customer_id"], matrix.customers["quadrant"]))
    assert quadrants == {
        "A": "Costly to serve", "B": "Strategically significant", "C": "Candidates to reprice or exit",
        "D": "Low value, low cost", "E": "Candidates to reprice or exit", "F": "Low value, low cost",
    }
    summary_table = pf.quadrant_summary(matrix)
    assert summary_table["quadrant"].to_list() == list(pf.QUADRANT_ORDER)
    assert summary_table["customers"].to_list() == [1, 1, 2, 2]
    assert summary_table["revenue"].to_list() == pytest.approx([300, 150, 60, 30])
    assert summary_table["cost_to_serve_total"].to_list() == pytest.approx([0, 15, 0, 10])
    assert summary_table["cost_to_serve_mean"].to_list() == pytest.approx([0, 15, 0, 5])
    assert pf.significance_takeaway(summary_table) == (
        "17% of customers (1) are strategically significant and bring 56% of revenue; 33% (2) are candidates "
        "to reprice or exit and bring 5.6%.")



def test_lines_note_explains_a_zero_cost_line(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    assert pf.lines_note(pf.significance(table, basis)) == (
        "Dashed lines: the medians (revenue 50.00; cost to serve 2.50). A customer above a line is high on that axis.")
    no_contacts, basis = pf.add_cost_to_serve(summary, interactions().filter(pl.col("customer_id") == "A"), PERIOD)
    # costs [15, 0, 0, 0, 5 (E's returned line), 0]: median 0 -> the line is the median of A and E's costs, 10
    matrix = pf.significance(no_contacts, basis)
    note = pf.lines_note(matrix)
    assert "cost to serve 10.00)" in note and "median of the 2 who cost something" in note
    quadrants = dict(zip(matrix.customers["customer_id"], matrix.customers["quadrant"]))
    assert quadrants["A"] == "Costly to serve" and quadrants["E"] == "Low value, low cost"  # E's one return: not costly
    assert quadrants["B"] == "Strategically significant"
    free = table.with_columns(pl.lit(0.0).alias("cost_to_serve"))
    assert pf.lines_note(pf.significance(free, basis, split="mean"), "mean").endswith(
        "Nobody has a cost to serve in the period, so every customer counts as low cost.")

def test_proxy_from_returns_only(summary):
    table, basis = pf.add_cost_to_serve(summary)
    assert basis.kind == "proxy" and basis.proxies == ("returns (returned lines)",)
    assert "no recorded cost" in basis.note and "no interactions table" in basis.note
    scores = dict(zip(table["customer_id"], table["cost_to_serve"]))
    # five zeros share the average rank 3 -> 3/6; E ranks 6 -> 1
    assert scores == pytest.approx({"A": 0.5, "B": 0.5, "C": 0.5, "D": 0.5, "F": 0.5, "E": 1.0})
    matrix = pf.significance(table, basis)
    # five of six cost nothing, so the line is the median of those who cost something: E's own score. One
    # returned line is the usual cost among them, not a costly customer (strictly above the line is).
    assert matrix.costed_line and matrix.cost_split == 1.0
    assert matrix.customers.filter(pl.col("customer_id") == "E")["quadrant"][0] == "Low value, low cost"
    assert pf.quadrant_summary(matrix)["cost_to_serve_total"].null_count() == 4  # a score has no total


def test_one_contact_never_makes_a_top_customer_costly():
    """Most customers without recorded cost; those with cost mostly had one contact: only above that is costly."""
    customers = pl.DataFrame({"customer_id": [f"c{i}" for i in range(10)],
                              "revenue": [900.0, 800.0, 700.0, 600.0, 50.0, 40.0, 30.0, 20.0, 10.0, 5.0],
                              "cost_to_serve": [5.0, 5.0, 5.0, 25.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]})
    for split in ("median", "mean"):
        matrix = pf.significance(customers, pf.CostBasis("cost"), split=split)
        quadrants = dict(zip(matrix.customers["customer_id"], matrix.customers["quadrant"]))
        assert matrix.costed_line, split
        assert [quadrants[c] for c in ("c0", "c1", "c2")] == ["Strategically significant"] * 3, split
        assert quadrants["c3"] == "Costly to serve", split  # 25 is above the typical cost of those who cost something


def test_proxy_from_contacts_and_returns(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(with_cost=False), PERIOD)
    assert basis.proxies == ("returns (returned lines)", "support contacts")
    scores = dict(zip(table["customer_id"], table["cost_to_serve"]))
    # contacts A 2, C 1, others 0 -> ranks 6, 5, 2.5; returns E 1 -> rank 6, others 3
    assert scores == pytest.approx({
        "A": (1 + 0.5) / 2, "B": (2.5 / 6 + 0.5) / 2, "C": (5 / 6 + 0.5) / 2,
        "D": (2.5 / 6 + 0.5) / 2, "E": (2.5 / 6 + 1) / 2, "F": (2.5 / 6 + 0.5) / 2,
    })


def test_late_payment_proxy():
    tx = tiny_tx().with_columns(pl.when(pl.col("customer_id") == "F").then(9.0).otherwise(0.0).alias("days_late"))
    table, basis = pf.add_cost_to_serve(summarize(tx).collect())
    assert "late payment (average days late)" in basis.proxies


def test_no_cost_signal_at_all():
    summary = summarize(tiny_tx().filter(pl.col("amount") > 0)).collect()
    table, basis = pf.add_cost_to_serve(summary)
    assert basis.kind == "none" and "flat" in basis.note
    matrix = pf.significance(table, basis)
    assert set(matrix.customers["quadrant"]) <= {"Strategically significant", "Low value, low cost"}


def test_portfolio_table_and_drilldown(summary):
    table, matrix = pf.portfolio_table(summary, pf.TierSettings(), interactions(), PERIOD)
    lead = pf.customers_in(table, "tier", "Lead")
    assert lead["customer_id"].to_list() == ["C", "D", "F", "E"]  # best first
    assert {"tier", "quadrant", "revenue", "cost_to_serve"} <= set(lead.columns)
    candidates = pf.customers_in(table, "quadrant", "Candidates to reprice or exit")
    assert candidates["customer_id"].to_list() == ["C", "E"]
    with pytest.raises(ValueError):
        pf.customers_in(table, "region", "x")


def test_chart_sample_states_sampling():
    frame = pl.DataFrame({"x": list(range(10))})
    same, note = pf.chart_sample(frame, max_points=20)
    assert same.height == 10 and note is None
    sample, note = pf.chart_sample(frame, max_points=4)
    assert sample.height == 4 and note.startswith("Showing 4 of 10 customers")


# --------------------------------------------------------------------------- report


def test_report_golden():
    report = pf.portfolio_report(tiny_tx())
    assert report["customers"] == 6
    assert report["revenue"] == 540.0
    assert report["top20_revenue_share"] == pytest.approx(450 / 540)
    assert report["gini"] == pytest.approx(4 / 7)
    assert report["tiers"]["Platinum"] == {"customers": 1, "revenue": 300.0, "revenue_share": pytest.approx(300 / 540)}
    assert report["tiers"]["Gold"]["customers"] == 0
    assert sum(t["customers"] for t in report["tiers"].values()) == 6
    assert math.isclose(sum(t["revenue_share"] for t in report["tiers"].values()), 1.0)


def test_report_by_margin_adds_tier_margin():
    report = pf.portfolio_report(tiny_tx(cost=True), pf.TierSettings(names=("Top", "Rest"), value="margin", shares=(0.5,)))
    # margins A 70, B 50, C 40 | F 9, D 5, E -20
    assert report["tiers"]["Top"] == {"customers": 3, "revenue": 500.0, "revenue_share": pytest.approx(500 / 540),
                                      "margin": 160.0}
    assert report["tiers"]["Rest"]["margin"] == -6.0
    assert report["top20_revenue_share"] == pytest.approx(450 / 540)  # concentration stays on revenue


def test_pct_format():
    assert [pf.pct(x) for x in (0.0, 0.01, 0.056, 0.0949, 0.2, 0.715, None)] == ["0%", "1%", "5.6%", "9.5%", "20%", "72%", "n/a"]


def test_quadrant_lines_at_the_averages(summary):
    table, basis = pf.add_cost_to_serve(summary, interactions(), PERIOD)
    matrix = pf.significance(table, basis, split="mean")
    # mean revenue 540 / 6 = 90; mean cost (15 + 5 + 5) / 6
    assert matrix.value_split == pytest.approx(90.0)
    assert matrix.cost_split == pytest.approx(25 / 6)
    quadrants = dict(zip(matrix.customers["customer_id"], matrix.customers["quadrant"]))
    assert quadrants["A"] == "Costly to serve" and quadrants["C"] == "Candidates to reprice or exit"
    assert quadrants["B"] == "Strategically significant" and quadrants["D"] == "Low value, low cost"
    with pytest.raises(ValueError):
        pf.significance(table, basis, split="mode")


def test_migration_by_margin():
    settings = pf.TierSettings(names=("Top", "Rest"), value="margin", shares=(0.5,))
    flows = pf.tier_migration(tiny_tx(cost=True), EARLIER, LATER, settings)
    # later margins: C 40, A 30 (Top), F 9, E -20 (Rest)
    got = {(f, t): c for f, t, c in flows.select("from_tier", "to_tier", "customers").iter_rows()}
    assert got == {("Top", "Top"): 1, ("Top", "Lost"): 1, ("Rest", "Lost"): 1, ("New", "Top"): 1, ("New", "Rest"): 2}
    with pytest.raises(ValueError, match="no cost column"):
        pf.tier_migration(tiny_tx(), EARLIER, LATER, settings)


def test_tier_trend_takeaway_leaves_out_partial_first_and_last_periods():
    months = [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    trend = pl.DataFrame({"period": months, "tier_index": [0] * 4, "tier": ["Top"] * 4,
                          "revenue_share": [0.9, 0.5, 0.6, 0.1]})
    # the period starts on 15 Jan and ends on 10 Apr: January and April are cut, so February and March are compared
    text = pf.trend_takeaway(trend, "month", dt.date(2024, 1, 15), dt.date(2024, 4, 10))
    assert text == "Top customers brought 50% of revenue in 2024-02 and 60% in 2024-03."
    assert "2024-01" in pf.trend_takeaway(trend, "month")  # without the period every month counts


def _sliced(slices: int, sort: bool):
    """A slicer as the CLI's (``per_customer``): each slice of customers built alone, by the id's hash,
    then sorted by id (or left in slice order)."""
    def slicer(tx, build):
        parts = [build(tx.filter(pl.col("customer_id").hash() % slices == k)).collect() for k in range(slices)]
        whole = pl.concat(parts)
        return whole.sort("customer_id") if sort else whole
    return slicer


def _many_tx(cost: bool = False) -> pl.LazyFrame:
    """400 customers over 2024 with ties of revenue, returns and customers of one half alone."""
    i = pl.int_range(3000, eager=True)
    frame = pl.DataFrame({"i": i}).select(
        customer_id=pl.format("C{}", (pl.col("i") * 7919) % 400),
        order_date=pl.date(2024, 1, 1) + pl.duration(days=(pl.col("i") * 104729) % 182),
        amount=pl.when(pl.col("i") % 41 == 0).then(-15.0).otherwise(((pl.col("i") * 31) % 7 * 10).cast(pl.Float64)),
        cost=((pl.col("i") * 13) % 5 * 3).cast(pl.Float64),
    ).filter(~(pl.col("customer_id").is_in(["C1", "C2"]) & (pl.col("order_date") > D(2024, 3, 31))))
    return (frame if cost else frame.drop("cost")).lazy()


@pytest.mark.parametrize("settings", [
    pf.TierSettings(), TWO, pf.TierSettings(names=("Top", "Rest"), value="margin", shares=(0.5,)),
    pf.TierSettings(names=("Big", "Mid", "Small"), shares=(0.2, 0.3), amounts=(300.0, 100.0)),
])
@pytest.mark.parametrize("slices, sort", [(1, False), (3, True), (4, False)])
def test_migration_in_slices_equals_the_whole(settings, slices, sort):
    # The sliced path ranks and joins numbers per customer instead of their ids: the same flows, tie for tie.
    tx = _many_tx(cost=True)
    whole = pf.tier_migration(tx, EARLIER, LATER, settings)
    sliced = pf.tier_migration(tx, EARLIER, LATER, settings, slicer=_sliced(slices, sort))
    assert sliced.schema == whole.schema
    assert sliced.drop("earlier_revenue", "later_revenue").equals(whole.drop("earlier_revenue", "later_revenue"))
    assert sliced["earlier_revenue"].to_list() == pytest.approx(whole["earlier_revenue"].to_list(), rel=1e-12)
    assert sliced["later_revenue"].to_list() == pytest.approx(whole["later_revenue"].to_list(), rel=1e-12)
    assert whole.height >= 5 and whole["customers"].sum() == 400
