"""One figure, one value: revenue sums shown as figures (tiers, segments, concentration, channel use) are exact,
as the KPI revenue is (``crm_core.customers.exact_sum``), so they do not depend on the order of the additions.

The frame: three customers bringing 0.1, 0.2 and 0.7. Added in that order in floats, 0.1 + 0.2 is
0.30000000000000004 and adding 0.7 gives 1.0; in the reverse order (the tiers' order, best first) 0.7 + 0.2 is
0.8999999999999999 and adding 0.1 gives 0.9999999999999999. The exact total is the decimal 1, the float 1.0.
"""
from __future__ import annotations

import polars as pl
import pytest

from crm_core.needs import channel_value
from crm_core.portfolio import TierSettings, assign_tiers, concentration, tier_summary
from crm_core.rfm import score_customers, segment_profile
from crm_core.sums import exact_total

ASCENDING, DESCENDING = [0.1, 0.2, 0.7], [0.7, 0.2, 0.1]
ONE_TIER = TierSettings(names=("All", "None"), method="amount", amounts=(0.05,))


def _summary(revenues: list[float]) -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": [f"c{i}" for i in range(len(revenues))],
        "revenue": revenues,
        "recency_days": [10] * len(revenues),
        "orders": [1] * len(revenues),
        "channels": [1] * len(revenues),
    })


def test_the_float_sums_differ_by_order():
    """The premise (hand-computed above): a plain float sum of the frame depends on the order."""
    assert pl.Series(ASCENDING).sum() == 1.0
    assert pl.Series(DESCENDING).sum() == 0.9999999999999999
    assert exact_total(pl.Series(ASCENDING)) == exact_total(pl.Series(DESCENDING)) == 1.0


def test_exact_total_of_nothing_is_zero():
    assert exact_total(pl.Series([], dtype=pl.Float64)) == 0.0
    assert exact_total(pl.Series([None], dtype=pl.Float64)) == 0.0


@pytest.mark.parametrize("revenues", [ASCENDING, DESCENDING])
def test_tier_revenue_is_the_exact_sum(revenues):
    table = tier_summary(assign_tiers(_summary(revenues), ONE_TIER), ONE_TIER)
    assert table["revenue"].to_list() == [1.0, 0.0]
    assert table["revenue_share"].to_list() == [1.0, 0.0]


@pytest.mark.parametrize("revenues", [ASCENDING, DESCENDING])
def test_concentration_total_is_the_exact_sum(revenues):
    assert concentration(_summary(revenues)).total == 1.0


@pytest.mark.parametrize("revenues", [ASCENDING, DESCENDING])
def test_segment_revenue_is_the_exact_sum(revenues):
    profile = segment_profile(score_customers(_summary(revenues)).collect())
    filled = profile.filter(pl.col("customers") > 0)
    assert exact_total(filled["revenue"]) == 1.0
    assert sorted(filled["revenue"].to_list()) == sorted(  # each segment's revenue: its customers' exact sum
        exact_total(pl.Series(group)) for group in _segment_groups(revenues))


def _segment_groups(revenues: list[float]) -> list[list[float]]:
    scored = score_customers(_summary(revenues)).collect()
    return [group["revenue"].to_list() for _, group in scored.group_by("segment")]


@pytest.mark.parametrize("revenues", [ASCENDING, DESCENDING])
def test_channel_use_revenue_is_the_exact_sum(revenues):
    table = channel_value(_summary(revenues))
    assert table["revenue"].to_list() == [1.0]
    assert table["mean_revenue"].to_list() == [1.0 / 3]  # the exact total over the customers, in any order
