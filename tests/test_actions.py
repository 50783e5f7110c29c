"""Playbook, recommendation rules, value bands, campaign what-if and target lists (hand-computed)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.sums import exact_sum
from crm_core.actions import (
    ANY_SEGMENT,
    ANY_VALUE,
    HIGH_VALUE,
    OTHER_VALUE,
    RFM_SEGMENTS,
    CampaignAssumptions,
    ValueSettings,
    action_table,
    campaign_what_if,
    clean_playbook,
    default_playbook,
    explain_recommendation,
    objective_totals,
    playbook_coverage,
    recommend,
    resolve_segment,
    target_file_name,
    target_groups,
    target_list,
    value_measure,
    what_if_takeaway,
    with_value_band,
)


def _book(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Playbook from (segment, value, action) triples."""
    return pl.DataFrame(
        [(seg, val, f"objective {act}", act, "Email", "offer") for seg, val, act in rows],
        schema=["segment", "value", "objective", "action", "channel", "offer"],
        orient="row",
    )


RULES = _book([
    ("At Risk", HIGH_VALUE, "call"),
    ("At Risk", ANY_VALUE, "email"),
    (ANY_SEGMENT, HIGH_VALUE, "vip"),
    (ANY_SEGMENT, ANY_VALUE, "newsletter"),
])


def _profile(rows: list[tuple[str, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "segment": pl.String, "value_band": pl.String}, orient="row")


# --------------------------------------------------------------------------- playbook


def test_default_playbook_covers_every_rfm_segment():
    segments = set(default_playbook()["segment"])
    assert set(RFM_SEGMENTS) <= segments
    assert len(RFM_SEGMENTS) == 11


def test_default_playbook_names_match_the_segmentation_engine():
    rfm = pytest.importorskip("crm_core.rfm")
    assert set(rfm.SEGMENT_NAMES) == set(RFM_SEGMENTS)


def test_default_playbook_examples_from_the_brief():
    book = default_playbook()
    action = {(row["segment"], row["value"]): row["objective"] for row in book.iter_rows(named=True)}
    assert action[("Champions", ANY_VALUE)] == "Reward and referral"
    assert action[("New Customers", ANY_VALUE)] == "Onboarding to the second purchase"
    assert action[("Lost", OTHER_VALUE)] == "Stop spending"
    assert "win-back contact" in book.filter((pl.col("segment") == "At Risk") & (pl.col("value") == HIGH_VALUE))["action"][0]


def test_clean_playbook_drops_blank_rows_normalises_bands_and_keeps_first_duplicate():
    raw = pl.DataFrame({
        "segment": [" Lost ", "", "lost", "Champions", None],
        "value": ["high value", "Any", "High value", "weird", "Any"],
        "objective": ["a", "b", "c", "d", "e"],
        "action": ["first", "x", "second", "reward", "y"],
        "channel": [None, None, None, None, None],
        "offer": [None, None, None, None, None],
    })
    clean = clean_playbook(raw)
    assert clean.select("segment", "value", "action").rows() == [
        ("Lost", HIGH_VALUE, "first"),
        ("Champions", ANY_VALUE, "reward"),
    ]
    assert clean["channel"].to_list() == ["", ""]


def test_clean_playbook_adds_missing_columns():
    clean = clean_playbook(pl.DataFrame({"segment": ["Lost"], "action": ["stop"]}))
    assert clean.columns == ["segment", "value", "objective", "action", "channel", "offer"]
    assert clean.row(0) == ("Lost", ANY_VALUE, "", "stop", "", "")


# --------------------------------------------------------------------------- recommendation rules


def test_most_specific_row_wins_in_the_documented_order():
    profile = _profile([
        ("a", "At Risk", HIGH_VALUE),   # 1. segment + band
        ("b", "At Risk", OTHER_VALUE),  # 2. segment + Any
        ("c", "Champions", HIGH_VALUE), # 3. Any segment + band
        ("d", "Champions", OTHER_VALUE),  # 4. Any / Any
    ])
    result = recommend(profile, RULES).sort("customer_id")
    assert result["action"].to_list() == ["call", "email", "vip", "newsletter"]
    assert result["rule"].to_list() == [
        "At Risk / High value", "At Risk / Any", "Any segment / High value", "Any segment / Any",
    ]


def test_segment_matching_ignores_case_spaces_and_apostrophe_style():
    book = _book([("Can't Lose Them", ANY_VALUE, "call them")])
    profile = _profile([("a", "can\u2019t lose them", OTHER_VALUE), ("b", "  CAN'T LOSE THEM ", HIGH_VALUE)])
    assert recommend(profile, book)["action"].to_list() == ["call them", "call them"]


def test_customers_without_segment_fall_back_to_any_segment_rows():
    profile = _profile([("a", None, HIGH_VALUE), ("b", None, OTHER_VALUE)])
    assert recommend(profile, RULES).sort("customer_id")["action"].to_list() == ["vip", "newsletter"]
    no_segment_column = profile.drop("segment")
    assert recommend(no_segment_column, RULES).sort("customer_id")["action"].to_list() == ["vip", "newsletter"]


def test_no_matching_row_gives_null_action_and_says_what_to_do():
    book = _book([("Lost", ANY_VALUE, "stop")])
    result = recommend(_profile([("a", "Champions", OTHER_VALUE)]), book)
    assert result["action"].to_list() == [None]
    assert "add a row" in explain_recommendation(result.row(0, named=True), "revenue")


def test_recommend_keeps_every_customer_once_and_replaces_old_recommendations():
    profile = _profile([("a", "At Risk", HIGH_VALUE), ("b", "Lost", OTHER_VALUE)]).with_columns(pl.lit("old").alias("action"))
    result = recommend(profile, RULES)
    assert result.height == 2
    assert sorted(result["action"].to_list()) == ["call", "newsletter"]


def test_explanation_names_segment_band_and_row():
    row = {"segment": "At Risk", "value_band": HIGH_VALUE, "action": "call", "rule": "At Risk / High value"}
    text = explain_recommendation(row, "predicted CLV", ValueSettings(high_value_share=0.1))
    assert text == ("Segment At Risk, high value (top 10% by predicted CLV): "
                    "the playbook row 'At Risk / High value' applies (most specific row wins).")


# --------------------------------------------------------------------------- value bands


def test_value_band_top_share_with_ties_and_non_positive_values():
    frame = pl.DataFrame({"customer_id": list("abcdef"), "revenue": [100.0, 50.0, 50.0, 10.0, 0.0, -5.0]})
    banded = with_value_band(frame, ValueSettings(high_value_share=0.34))  # ceil(2.04) = top 3
    assert banded["value_band"].to_list() == [HIGH_VALUE, HIGH_VALUE, HIGH_VALUE, OTHER_VALUE, OTHER_VALUE, OTHER_VALUE]
    everyone = with_value_band(frame, ValueSettings(high_value_share=1.0))
    assert everyone["value_band"].to_list()[-2:] == [OTHER_VALUE, OTHER_VALUE]  # zero / negative never high value


def test_value_measure_prefers_clv_when_it_has_values():
    base = pl.DataFrame({"customer_id": ["a"], "revenue": [1.0]})
    assert value_measure(base) == ("revenue", "revenue in the period")
    assert value_measure(base.with_columns(pl.lit(None, dtype=pl.Float64).alias("clv")))[0] == "revenue"
    assert value_measure(base.with_columns(pl.lit(3.0).alias("clv"))) == ("clv", "predicted CLV")


def test_value_band_uses_clv_over_revenue():
    frame = pl.DataFrame({"customer_id": ["a", "b"], "revenue": [100.0, 1.0], "clv": [1.0, 100.0]})
    banded = with_value_band(frame, ValueSettings(high_value_share=0.5))
    assert banded["value_band"].to_list() == [OTHER_VALUE, HIGH_VALUE]
    assert banded["value"].to_list() == [1.0, 100.0]


# --------------------------------------------------------------------------- action table and target list


def _summary() -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4"],
        "revenue": [500.0, 40.0, 300.0, 10.0],
        "orders": [5, 1, 3, 1],
        "last_date": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
    })


def _profile_table() -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4"],
        "segment": ["At Risk", "At Risk", "Champions", "Lost"],
        "tier": ["Gold", "Lead", "Gold", "Lead"],
    })


def test_action_table_joins_profile_contacts_band_and_action():
    contacts = pl.DataFrame({"customer_id": ["c1", "c1", "c3"], "email": ["a@x", "dup@x", "c@x"], "name": ["Ann", "Dup", "Cy"]})
    table = action_table(_summary(), _profile_table(), default_playbook(), contacts, ValueSettings(high_value_share=0.25))
    rows = {row["customer_id"]: row for row in table.iter_rows(named=True)}
    assert table.height == 4
    assert rows["c1"]["email"] == "a@x" and rows["c2"]["email"] is None
    assert rows["c1"]["value_band"] == HIGH_VALUE  # top 1 of 4 by revenue
    assert rows["c1"]["rule"] == "At Risk / High value"
    assert rows["c2"]["rule"] == "At Risk / Other"
    assert rows["c3"]["rule"] == "Champions / Any"
    assert rows["c4"]["rule"] == "Lost / Other" and rows["c4"]["objective"] == "Stop spending"


def test_target_list_filters_segments_sorts_by_value_and_orders_columns():
    table = action_table(_summary(), _profile_table(), default_playbook())
    targets = target_list(table, ["At Risk", "Lost"])
    assert targets["customer_id"].to_list() == ["c1", "c2", "c4"]
    assert targets.columns[:4] == ["customer_id", "segment", "tier", "value_band"]
    assert {"action", "rule", "revenue", "orders", "last_date"} <= set(targets.columns)
    assert "value" not in targets.columns
    assert target_list(table).height == 4
    assert target_list(table, []).height == 0


def test_action_table_of_segments_bands_every_customer_and_keeps_those_segments():
    # The value bands rank all four customers (c2 and c3 are the top half by CLV; ranking the kept three alone
    # would put c1 in it too), then At Risk and Lost alone are kept: the whole table's rows of them.
    profile = _profile_table().with_columns(pl.Series("clv", [10.0, 90.0, 50.0, None]))
    contacts = pl.DataFrame({"customer_id": ["c2", "c3"], "email": ["b@x", "c@x"]})
    settings = ValueSettings(high_value_share=0.5)
    whole = action_table(_summary(), profile, default_playbook(), contacts, settings)
    chosen = action_table(_summary(), profile, default_playbook(), contacts, settings, segments=["At Risk", "Lost"])
    expected = whole.filter(pl.col("segment").is_in(["At Risk", "Lost"]))
    assert chosen.sort("customer_id").equals(expected.select(chosen.columns).sort("customer_id"))
    assert set(chosen.columns) == set(whole.columns)
    assert chosen.filter(pl.col("customer_id") == "c2")["value_band"].item() == HIGH_VALUE  # rank 1 of 4 by CLV
    assert chosen.filter(pl.col("customer_id") == "c1")["value_band"].item() == "Other"  # rank 3 of 4
    assert chosen.filter(pl.col("customer_id") == "c2")["email"].item() == "b@x"


def _grouped(actions: pl.DataFrame, unmatched: str) -> pl.DataFrame:
    return (actions.group_by(pl.col("objective").fill_null(unmatched))
            .agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")), pl.col("action").first()).sort("objective"))


def _same_totals(totals: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert totals.columns == expected.columns
    assert totals.equals(expected)  # revenue too, to the last bit: every step sums exactly


@pytest.mark.parametrize("with_clv", [False, True])
def test_objective_totals_equal_the_action_table_grouped_by_objective(with_clv):
    # 600 customers: segments (one without), revenue with ties, CLV with gaps; a playbook whose objectives repeat
    # over rows with other actions (the first customer's action is kept), one row without objective and segments
    # no row matches (grouped with the unmatched customers).
    n = 600
    ids = [f"c{i:04d}" for i in range(n)]
    segments = ["At Risk", "Champions", "Lost", None, "Hibernating", "New Customers"]
    summary = pl.DataFrame({"customer_id": ids, "revenue": [round((i * 37) % 101 * 1.37 - 5, 2) for i in range(n)]})
    profile = pl.DataFrame({"customer_id": ids, "segment": [segments[(i * 5) % 6] for i in range(n)]})
    if with_clv:
        profile = profile.with_columns(pl.Series("clv", [None if i % 7 == 0 else float((i * 13) % 50) for i in range(n)]))
    customers = summary.join(profile, on="customer_id", how="left", maintain_order="left").drop("customer_id")
    book = pl.DataFrame([
        ("At Risk", HIGH_VALUE, "Win back", "call"), ("At Risk", ANY_VALUE, "Win back", "email"),
        ("Champions", ANY_VALUE, "Keep", "thank"), (ANY_SEGMENT, HIGH_VALUE, "Keep", "vip"),
        ("Lost", OTHER_VALUE, None, "nothing"),
    ], schema=["segment", "value", "objective", "action"], orient="row")
    settings = ValueSettings(high_value_share=0.3)
    totals = objective_totals(customers, book, "(none)", settings).sort("objective")
    _same_totals(totals, _grouped(action_table(summary, profile, book, settings=settings), "(none)"))
    assert set(totals["objective"]) == {"Win back", "Keep", "", "(none)"}  # a row without objective: ""
    plan = objective_totals(customers, default_playbook(), "(none)", settings).sort("objective")
    _same_totals(plan, _grouped(action_table(summary, profile, default_playbook(), settings=settings), "(none)"))
    without_segments = objective_totals(customers.drop("segment"), book, "(none)", settings).sort("objective")
    _same_totals(without_segments, _grouped(action_table(summary, profile.drop("segment"), book, settings=settings), "(none)"))


@pytest.mark.parametrize("with_clv", [False, True])
def test_objective_totals_per_cell_equal_those_per_segment(with_clv):
    # The deck's and report's action plan counts customers per R x F cell and names the cells afterwards
    # (rfm.cell_map): the same objectives, customers, actions and revenue as with each customer's segment.
    from crm_core.rfm import RfmSettings, cell_map

    rfm = RfmSettings()
    cells = cell_map(rfm.active_rules, rfm.bins)
    n = 600
    customers = pl.DataFrame({
        "revenue": [round((i * 37) % 101 * 1.37 - 5, 2) for i in range(n)],
        "r": pl.Series([(i * 7) % 5 + 1 for i in range(n)], dtype=pl.Int8),
        "f": pl.Series([(i * 3) % 5 + 1 for i in range(n)], dtype=pl.Int8),
    })
    if with_clv:
        customers = customers.with_columns(pl.Series("clv", [None if i % 7 == 0 else float((i * 13) % 50) for i in range(n)]))
    named = customers.join(cells, on=["r", "f"], how="left", maintain_order="left").drop("r", "f")
    settings = ValueSettings(high_value_share=0.3)
    per_cell = objective_totals(customers, default_playbook(), "(none)", settings, cells=cells).sort("objective")
    _same_totals(per_cell, objective_totals(named, default_playbook(), "(none)", settings).sort("objective"))
    assert per_cell["customers"].sum() == n and per_cell.height >= 5


def test_target_groups_fall_back_to_value_bands_without_segments():
    with_segments = action_table(_summary(), _profile_table(), default_playbook())
    assert target_groups(with_segments) == ("segment", ["Champions", "At Risk", "Lost"])
    without = action_table(_summary(), None, default_playbook(), settings=ValueSettings(high_value_share=0.5))
    by, options = target_groups(without)
    assert (by, options) == ("value_band", [HIGH_VALUE, OTHER_VALUE])
    assert target_list(without, [HIGH_VALUE], by=by)["customer_id"].to_list() == ["c1", "c3"]


def test_playbook_coverage_counts_customers_and_revenue_per_row():
    table = action_table(_summary(), _profile_table(), default_playbook(), settings=ValueSettings(high_value_share=0.25))
    coverage = {row["rule"]: (row["customers"], row["revenue"]) for row in playbook_coverage(table).iter_rows(named=True)}
    assert coverage == {
        "At Risk / High value": (1, 500.0),
        "At Risk / Other": (1, 40.0),
        "Champions / Any": (1, 300.0),
        "Lost / Other": (1, 10.0),
    }


def test_resolve_segment_and_file_names():
    assert resolve_segment("at RISK ", RFM_SEGMENTS) == "At Risk"
    assert resolve_segment("Can\u2019t lose them", RFM_SEGMENTS) == "Can't Lose Them"
    assert resolve_segment("Risky", RFM_SEGMENTS) is None
    assert target_file_name(["At Risk", "Can't Lose Them"], "csv") == "target-list-at-risk-cant-lose-them.csv"
    assert target_file_name(["../=evil"], "xlsx") == "target-list-evil.xlsx"
    assert target_file_name([], "csv") == "target-list-all-customers.csv"


# --------------------------------------------------------------------------- campaign what-if


def _targets(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [f"c{i}" for i in range(len(values))], "value": values})


def test_what_if_fixed_uplift_by_hand():
    # 200 customers, 2.50 per contact, 4% respond, +60 each, 25% margin:
    # responders 8, revenue 480, margin 120, cost 500, net -380, ROI -76%,
    # break-even response = 500 / (200 * 0.25 * 60) = 1/6.
    result = campaign_what_if(
        _targets([10.0] * 200),
        CampaignAssumptions(contact_cost=2.5, response_rate=0.04, uplift_per_responder=60.0, margin=0.25),
    )
    assert result.contacted == 200
    assert result.responders == pytest.approx(8.0)
    assert result.incremental_revenue == pytest.approx(480.0)
    assert result.incremental_margin == pytest.approx(120.0)
    assert result.cost == pytest.approx(500.0)
    assert result.net_profit == pytest.approx(-380.0)
    assert result.roi == pytest.approx(-0.76)
    assert result.break_even_response_rate == pytest.approx(1 / 6)
    assert result.baseline_spend == pytest.approx(2000.0)
    assert "does not pay back" in what_if_takeaway(result)
    assert "16.7% response rate" in what_if_takeaway(result)


def test_what_if_percent_uplift_by_hand():
    # baseline 100 + 300 + null(0) + 600 = 1000 over 4 customers; 50% respond; +20%:
    # revenue = 0.5 * 0.2 * 1000 = 100; margin 40% = 40; cost 4 * 1 = 4; net 36; ROI 900%.
    targets = pl.DataFrame({"customer_id": list("abcd"), "clv": [100.0, 300.0, None, 600.0]})
    assumptions = CampaignAssumptions(contact_cost=1.0, response_rate=0.5, uplift_mode="percent", uplift_percent=0.2, margin=0.4)
    result = campaign_what_if(targets, assumptions, "clv", "predicted CLV")
    assert result.incremental_revenue == pytest.approx(100.0)
    assert result.incremental_margin == pytest.approx(40.0)
    assert result.net_profit == pytest.approx(36.0)
    assert result.roi == pytest.approx(9.0)
    # per responder = 0.2 * 1000 / 4 = 50; break-even = 4 / (4 * 0.4 * 50) = 5%
    assert result.break_even_response_rate == pytest.approx(0.05)
    assert any("20.0% more than their baseline (predicted CLV), 50.00 on average" in line for line in result.assumptions)
    assert "pays back" in what_if_takeaway(result)


def test_what_if_edge_cases():
    empty = campaign_what_if(_targets([]), CampaignAssumptions())
    assert (empty.contacted, empty.cost, empty.incremental_revenue, empty.roi) == (0, 0.0, 0.0, None)
    assert "pick at least one segment" in what_if_takeaway(empty)
    free = campaign_what_if(_targets([1.0]), CampaignAssumptions(contact_cost=0.0))
    assert free.roi is None and free.break_even_response_rate == 0.0
    no_uplift = campaign_what_if(_targets([1.0]), CampaignAssumptions(uplift_per_responder=0.0))
    assert no_uplift.break_even_response_rate is None


def test_assumptions_state_every_input():
    result = campaign_what_if(_targets([1.0] * 3), CampaignAssumptions(contact_cost=1.5, response_rate=0.123, margin=0.4))
    text = " ".join(result.assumptions)
    for fragment in ("3 customers", "1.50 each", "12.3%", "50.00 more", "40.0%"):
        assert fragment in text
