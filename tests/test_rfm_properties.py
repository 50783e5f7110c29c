"""Property tests: every customer lands in exactly one segment, whatever the data."""
from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.rfm import DEFAULT_RULES, RfmSettings, SegmentRule, rfm, rules_frame, segment_counts, validate_rules

START = dt.date(2024, 1, 1)

lines = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30),          # customer
        st.integers(min_value=0, max_value=400),         # day offset
        st.floats(min_value=-200, max_value=5000, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=120,
)


def transactions(rows) -> pl.LazyFrame:
    return pl.DataFrame(
        {
            "customer_id": [f"c{c}" for c, _, _ in rows],
            "order_date": [START + dt.timedelta(days=d) for _, d, _ in rows],
            "amount": [a for _, _, a in rows],
        },
        schema={"customer_id": pl.String, "order_date": pl.Date, "amount": pl.Float64},
    ).lazy()


@settings(max_examples=60, deadline=None)
@given(rows=lines, bins=st.sampled_from([3, 4, 5]), ties=st.sampled_from(["shared", "ordinal"]),
       segment_on=st.sampled_from(["F", "FM"]))
def test_segment_counts_sum_to_customers(rows, bins, ties, segment_on):
    options = RfmSettings(bins=bins, ties=ties, segment_on=segment_on)
    scored = rfm(transactions(rows), settings=options)
    customers = len({c for c, _, _ in rows})
    counts = segment_counts(scored, options)
    assert sum(counts.values()) == customers == scored.height
    assert scored["segment"].null_count() == 0
    assert set(scored["segment"]) <= set(counts)
    for column in ("r_score", "f_score", "m_score", "fm_score"):
        assert scored[column].min() >= 1 and scored[column].max() <= bins


ranges = st.tuples(st.integers(1, 5), st.integers(1, 5)).map(sorted)


@settings(max_examples=60, deadline=None)
@given(rows=lines, extra=st.lists(st.tuples(ranges, ranges), max_size=6))
def test_any_valid_rule_table_assigns_exactly_one_segment(rows, extra):
    # random rules in front of a catch-all: always valid, first match wins
    table = [
        {"segment": f"S{i}", "r_min": r[0], "r_max": r[1], "f_min": f[0], "f_max": f[1]}
        for i, (r, f) in enumerate(extra)
    ] + [{"segment": "Everyone else", "r_min": 1, "r_max": 5, "f_min": 1, "f_max": 5}]
    check = validate_rules(table, 5)
    assert check.ok
    options = RfmSettings(rules=check.rules)
    scored = rfm(transactions(rows), settings=options)
    assert sum(segment_counts(scored, options).values()) == scored.height
    first_match = [
        next(rule.name for rule in check.rules if rule.matches(r, f))
        for r, f in scored.select("r_score", "f_score").iter_rows()
    ]
    assert scored["segment"].to_list() == first_match


def test_default_rule_tables_cover_every_cell():
    for bins, rules in DEFAULT_RULES.items():
        assert all(isinstance(rule, SegmentRule) for rule in rules)
        assert validate_rules(rules_frame(rules), bins).ok
