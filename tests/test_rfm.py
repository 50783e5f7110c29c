"""Golden tests for RFM scores, segment rules, profiles and migration (hand-computed)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.rfm import (
    DEFAULT_RULES,
    NEW_CUSTOMER,
    SEGMENT_NAMES,
    RfmSettings,
    SegmentRule,
    bin_notes,
    cell_map,
    default_compare_date,
    grid_takeaway,
    headline,
    migration_takeaway,
    profile_takeaway,
    rf_grid,
    rfm,
    rules_frame,
    score_customers,
    segment_counts,
    segment_expr,
    segment_migration,
    segment_profile,
    segment_row,
    treemap_takeaway,
    unreachable_segments,
    validate_rules,
)

D = dt.date


def summary(recency, orders, revenue, ids=None) -> pl.DataFrame:
    ids = ids or [chr(ord("a") + i) for i in range(len(recency))]
    return pl.DataFrame({"customer_id": ids, "recency_days": recency, "orders": orders, "revenue": revenue})


def scores(frame: pl.DataFrame, **settings) -> pl.DataFrame:
    return score_customers(frame, RfmSettings(**settings)).collect()


# ---------------------------------------------------------------- scores


def test_monetary_scores_shared_ties_get_equal_scores():
    # worse counts = 0, 1, 1, 3, 4 -> 1 + floor(5 * worse / 5)
    out = scores(summary([0] * 5, [1] * 5, [10.0, 20.0, 20.0, 30.0, 40.0]))
    assert out["m_score"].to_list() == [1, 2, 2, 4, 5]


def test_monetary_scores_ordinal_ties_split_by_customer_id():
    out = scores(summary([0] * 5, [1] * 5, [10.0, 20.0, 20.0, 30.0, 40.0]), ties="ordinal")
    assert out["m_score"].to_list() == [1, 2, 3, 4, 5]


def test_ordinal_tie_break_uses_customer_id_not_row_order():
    frame = summary([0] * 3, [1] * 3, [5.0, 5.0, 5.0], ids=["c", "a", "b"])
    out = scores(frame, ties="ordinal", bins=3)
    assert dict(out.select("customer_id", "m_score").iter_rows()) == {"a": 1, "b": 2, "c": 3}


def test_recency_is_scored_so_recent_is_high():
    # larger recency is worse: worse counts 4, 2, 2, 1, 0
    out = scores(summary([0, 10, 10, 50, 100], [1] * 5, [1.0] * 5))
    assert out["r_score"].to_list() == [5, 3, 3, 2, 1]
    ordinal = scores(summary([0, 10, 10, 50, 100], [1] * 5, [1.0] * 5), ties="ordinal")
    assert ordinal["r_score"].to_list() == [5, 3, 4, 2, 1]  # b (lower id) counts as worse than c


def test_three_bins_on_ten_customers():
    out = scores(summary([0] * 10, list(range(1, 11)), [1.0] * 10), bins=3)
    assert out["f_score"].to_list() == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_collapsed_frequency_bins_are_reported():
    frame = summary([0] * 10, [1, 1, 1, 1, 1, 1, 2, 3, 4, 5], [float(i) for i in range(10)])
    out = scores(frame)
    assert out["f_score"].to_list() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    notes = bin_notes(out, RfmSettings())
    frequency = [note for note in notes if note.axis == "Frequency"]
    assert len(frequency) == 1
    assert frequency[0].scores_used == 3 and frequency[0].top_share == pytest.approx(0.6)
    assert "60%" in frequency[0].message and "only 3 of 5" in frequency[0].message
    assert not [note for note in notes if note.axis == "Monetary"]  # all distinct: no note


def test_ordinal_ties_note_when_a_value_dominates():
    frame = summary([0] * 10, [1, 1, 1, 1, 1, 1, 2, 3, 4, 5], [float(i) for i in range(10)])
    notes = bin_notes(scores(frame, ties="ordinal"), RfmSettings(ties="ordinal"))
    assert [note.axis for note in notes] == ["Recency", "Frequency"]
    assert "spread over neighbouring F scores" in notes[1].message


def test_fm_score_is_mean_rounded_half_up():
    frame = summary([0] * 5, [1, 2, 3, 4, 5], [20.0, 10.0, 30.0, 50.0, 40.0])
    out = scores(frame)
    # f = 1..5, m = 2,1,3,5,4 -> (f+m+1)//2
    assert out["fm_score"].to_list() == [2, 2, 3, 5, 5]


def test_empty_summary_scores_to_empty_frame():
    out = scores(summary([], [], []))
    assert out.height == 0 and "segment" in out.columns


# ---------------------------------------------------------------- segments

EXPECTED_5 = {
    (5, 5): "Champions", (5, 4): "Champions",
    (4, 5): "Loyal Customers", (3, 4): "Loyal Customers",
    (5, 3): "Potential Loyalists", (4, 2): "Potential Loyalists",
    (5, 1): "New Customers", (4, 1): "Promising",
    (3, 3): "Need Attention", (3, 2): "About to Sleep", (3, 1): "About to Sleep",
    (2, 3): "At Risk", (1, 4): "At Risk",
    (2, 5): "Can't Lose Them", (1, 5): "Can't Lose Them",
    (1, 1): "Lost", (1, 2): "Lost",
    (2, 1): "Hibernating", (2, 2): "Hibernating",
}


def test_default_rules_map_cells_like_the_reference_table():
    cells = {(r, f): seg for r, f, seg in cell_map(DEFAULT_RULES[5], 5).iter_rows()}
    for cell, name in EXPECTED_5.items():
        assert cells[cell] == name, cell
    assert None not in cells.values()


def grid_summary(bins: int = 5) -> pl.DataFrame:
    """bins x bins customers, one per R x F cell (recency levels crossed with order counts)."""
    rows = [(f"{r}-{f}", 10 * (bins - r), f, float(f)) for r in range(1, bins + 1) for f in range(1, bins + 1)]
    return pl.DataFrame(rows, schema=["customer_id", "recency_days", "orders", "revenue"], orient="row")


def test_every_default_segment_is_reachable_end_to_end():
    out = scores(grid_summary())
    assert out.select("r_score", "f_score").unique().height == 25
    counts = segment_counts(out, RfmSettings())
    assert list(counts) == list(SEGMENT_NAMES)
    assert all(count > 0 for count in counts.values()), counts
    assert sum(counts.values()) == 25
    lookup = {(r, f): seg for r, f, seg in out.select("r_score", "f_score", "segment").iter_rows()}
    assert lookup[(1, 1)] == "Lost" and lookup[(2, 1)] == "Hibernating" and lookup[(5, 5)] == "Champions"


def test_four_bin_defaults_reach_all_eleven_and_three_bins_say_which_cannot():
    out = scores(grid_summary(4), bins=4)
    assert all(count > 0 for count in segment_counts(out, RfmSettings(bins=4)).values())
    assert unreachable_segments(DEFAULT_RULES[5], 5) == []
    assert unreachable_segments(DEFAULT_RULES[3], 3) == ["Promising", "Hibernating"]
    three = segment_counts(scores(grid_summary(3), bins=3), RfmSettings(bins=3))
    assert len(three) == 11 and sum(three.values()) == 9 and three["Promising"] == 0


def test_first_matching_rule_wins():
    rules = (SegmentRule("Top", 2, 2, 1, 2), SegmentRule("Rest", 1, 2, 1, 2))
    frame = pl.DataFrame({"r_score": [2, 2, 1], "f_score": [1, 2, 2]})
    assert frame.select(segment_expr(rules, "f_score"))["literal"].to_list() == ["Top", "Top", "Rest"]


def test_segment_on_fm_uses_the_fm_score():
    frame = summary([0, 0], [1, 2], [100.0, 1.0], ids=["a", "b"])
    rules = (SegmentRule("High", 1, 5, 3, 5), SegmentRule("Low", 1, 5, 1, 2))
    by_f = scores(frame, bins=5, rules=rules)
    by_fm = scores(frame, bins=5, rules=rules, segment_on="FM")
    # a: f=1, m=3 -> fm=2; b: f=3, m=1 -> fm=2
    assert by_f["segment"].to_list() == ["Low", "High"]
    assert by_fm["segment"].to_list() == ["Low", "Low"]


# ---------------------------------------------------------------- rule validation


def edited(**changes) -> list[dict]:
    rows = rules_frame(DEFAULT_RULES[5]).to_dicts()
    for index, values in changes.items():
        rows[int(index[1:])].update(values)
    return rows


def test_default_tables_validate_cleanly():
    for bins in (4, 5):
        check = validate_rules(rules_frame(DEFAULT_RULES[bins]), bins)
        assert check.ok and check.warnings == [] and check.rules == DEFAULT_RULES[bins]


def test_validation_messages():
    assert "empty" in validate_rules([], 5).errors[0]
    missing = validate_rules(edited(r0={"segment": "  "}), 5)
    assert missing.rules is None and "Row 1: give the segment a name." in missing.errors
    duplicate = validate_rules(edited(r1={"segment": "Champions"}), 5)
    assert "'Champions' appears more than once" in duplicate.errors[0]
    out_of_range = validate_rules(edited(r0={"r_max": 6}), 5)
    assert "Row 1 (Champions): 'R to' must be a whole number from 1 to 5." in out_of_range.errors
    fractional = validate_rules(edited(r0={"f_min": 2.5}), 5)
    assert "'F from' must be a whole number" in fractional.errors[0]
    text = validate_rules(edited(r0={"f_min": "x"}), 5)
    assert not text.ok
    swapped = validate_rules(edited(r2={"r_min": 5, "r_max": 4}), 5)
    assert "R 'from' (5) is above 'to' (4); swap them." in swapped.errors[0]


def test_uncovered_cells_are_an_error_and_shadowed_rules_a_warning():
    rows = edited(r10={"r_min": 2, "r_max": 2, "f_min": 1, "f_max": 2})  # Hibernating no longer a catch-all
    assert validate_rules(rows, 5).ok  # the reference map still covers every cell
    rows = edited(r10={"r_min": 2, "r_max": 2, "f_min": 1, "f_max": 1})
    check = validate_rules(rows, 5)
    assert not check.ok and "No rule covers R=2 F=2" in check.errors[0]
    shadowed = validate_rules(edited(r4={"r_min": 5, "r_max": 5}), 5)  # Promising moved under New Customers
    assert shadowed.ok and shadowed.warnings == [
        "'Promising' can never match: rules above it already take all its cells, so it stays empty."
    ]


def test_blank_editor_rows_are_ignored_and_numbers_may_be_floats():
    rows = edited(r0={"r_min": 5.0}) + [{"segment": None, "r_min": None, "r_max": None, "f_min": None, "f_max": None}]
    check = validate_rules(rows, 5)
    assert check.ok and len(check.rules) == 11 and check.rules[0].r_min == 5


# ---------------------------------------------------------------- tables and takeaways


def test_segment_profile_golden():
    frame = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "recency_days": [0, 0, 10, 20], "orders": [1, 3, 1, 2], "revenue": [10.0, 50.0, 20.0, 20.0],
        "r_score": [5, 5, 3, 1], "f_score": [1, 5, 1, 3], "m_score": [1, 5, 3, 3],
        "segment": ["New Customers", "Champions", "About to Sleep", "At Risk"],
    })
    profile = segment_profile(frame, RfmSettings())
    assert profile["segment"].to_list() == list(SEGMENT_NAMES)
    champions = profile.row(0, named=True)
    assert champions["customers"] == 1 and champions["customer_share"] == 0.25
    assert champions["revenue_share"] == pytest.approx(0.5) and champions["aov"] == pytest.approx(50 / 3)
    assert profile.filter(pl.col("segment") == "Lost")["customers"][0] == 0
    assert profile["customers"].sum() == 4
    assert treemap_takeaway(profile, "revenue") == "Champions bring the most revenue: 50% of it, from 25% of customers."
    assert profile_takeaway(profile) == (
        "A customer in Champions spends 2.0 times as much as the average customer (50.00 vs 25.00)."
    )


def test_rf_grid_and_takeaway():
    out = scores(grid_summary())
    grid = rf_grid(out, RfmSettings())
    assert grid.height == 25 and grid["customers"].sum() == 25
    assert grid.filter((pl.col("r") == 1) & (pl.col("f") == 1))["segment"][0] == "Lost"
    assert grid_takeaway(grid, "monetary") == (
        "Customers in R=5, F=5 (Champions) spend the most on average: 5.00 each."
    )


def test_headline_medians():
    out = scores(summary([1, 2, 30], [1, 2, 5], [10.0, 20.0, 100.0]))
    assert headline(out) == {"customers": 3, "median_recency_days": 2.0, "median_frequency": 2.0, "median_monetary": 20.0}


def test_migration_golden():
    tx = pl.DataFrame({
        "customer_id": ["A", "B", "B", "C"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 3, 1), D(2024, 3, 1)],
        "amount": [10.0, 10.0, 10.0, 10.0],
    }).lazy()
    flows = segment_migration(tx, D(2024, 2, 1), D(2024, 3, 31))
    got = {(a, b): n for a, b, n, _ in flows.iter_rows()}
    # as of Feb 1: A and B tie on everything -> R1 F1 Lost. As of Mar 31: A R1 F1 Lost,
    # B R2 (1 of 3 worse) F4 (2 of 3 worse) At Risk, C R2 F1 Hibernating.
    assert got == {("Lost", "Lost"): 1, ("Lost", "At Risk"): 1, (NEW_CUSTOMER, "Hibernating"): 1}
    share = dict(((a, b), s) for a, b, _, s in flows.iter_rows())
    assert share[("Lost", "Lost")] == 0.5
    assert migration_takeaway(flows, D(2024, 2, 1), D(2024, 3, 31)) == (
        "From 1 Feb 2024 to 31 Mar 2024, 50% of existing customers stayed in their segment; "
        "the biggest move was Lost → At Risk (1 customers); 1 customers are new."
    )
    with pytest.raises(ValueError):
        segment_migration(tx, D(2024, 3, 1), D(2024, 3, 1))


def test_default_compare_date():
    assert default_compare_date(D(2020, 1, 1), D(2024, 1, 1)) == D(2023, 10, 3)
    assert default_compare_date(D(2024, 1, 1), D(2024, 2, 1)) == D(2024, 1, 16)


def test_rfm_on_transactions_uses_summarize_and_as_of():
    tx = pl.DataFrame({
        "customer_id": ["a", "a", "b", "c"],
        "order_date": [D(2024, 1, 1), D(2024, 1, 10), D(2024, 1, 5), D(2024, 2, 1)],
        "amount": [10.0, 5.0, 30.0, 99.0],
    }).lazy()
    out = rfm(tx, as_of=D(2024, 1, 20))  # c's order is after the as-of date
    assert out["customer_id"].to_list() == ["a", "b"]
    assert out["recency_days"].to_list() == [10, 15]
    assert out["r_score"].to_list() == [3, 1]  # a: 1 of 2 customers worse -> 1 + 5 * 1 // 2 = 3


def test_segment_row_is_one_profile_row():
    profile = pl.DataFrame({"segment": ["Champions", "Lost"], "customers": [3, 7], "advice": ["Reward", None]})
    assert segment_row(profile, "Lost") == {"segment": "Lost", "customers": 7, "advice": None}


def test_scores_of_a_summary_in_id_order_skip_the_sort_and_match():
    # A summary built slice by slice is already in id order: score_customers flags it instead of sorting a copy;
    # the scores and segments are those of the same summary shuffled (sorted by the query).
    import random

    from crm_core.rfm import RfmSettings, score_customers

    rng = random.Random(5)
    n = 400
    ordered = pl.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(n)],
        "recency_days": [rng.randint(0, 400) for _ in range(n)],
        "orders": pl.Series([rng.randint(1, 9) for _ in range(n)], dtype=pl.UInt32),
        "revenue": [round(rng.uniform(1, 500), 2) for _ in range(n)],
    })
    for ties in ("shared", "ordinal"):
        settings = RfmSettings(ties=ties)
        flagged = score_customers(ordered, settings).collect()
        shuffled = score_customers(ordered.sample(fraction=1.0, shuffle=True, seed=3), settings).collect()
        assert flagged.equals(shuffled)
        assert flagged["customer_id"].to_list() == ordered["customer_id"].to_list()
