"""`summary`'s revenue from integer millionths equals customers.exact_sum's decimal one, to the last bit."""
from __future__ import annotations

import random

import polars as pl

from crm_core.commands.summary import INTEGER_SUM_LIMIT, revenue_from, revenue_terms
from crm_core.customers import exact_sum


def _both(values: list[float | None]) -> tuple[float | None, float]:
    frame = pl.DataFrame({"amount": values}, schema={"amount": pl.Float64})
    totals = frame.select(*revenue_terms(pl.col("amount"))).row(0, named=True)
    return revenue_from(totals), frame.select(exact_sum(pl.col("amount"))).item()


def test_integer_millionths_give_the_decimal_sum():
    rng = random.Random(11)
    ties = [k / 2e6 for k in range(-2001, 2002)]  # halves of a millionth, both signs: Polars rounds them to even
    sevenths = [round(rng.uniform(-1e4, 1e4), 7) for _ in range(5000)]  # more decimals than a millionth
    cents = [round(rng.uniform(-500, 5000), 2) for _ in range(20000)]
    large = [round(rng.uniform(-1e9, 1e9), 3) for _ in range(2000)]
    for values in (ties, sevenths, cents, large, cents + [None, -0.0, 0.0], [0.29, 1.005, 2.675, -0.29], []):
        ours, decimal = _both(values)
        assert ours is not None and ours == decimal, values[:5]


def test_beyond_the_integer_sum_the_decimal_one_is_used():
    assert _both([INTEGER_SUM_LIMIT, 1.0])[0] is None
    assert _both([INTEGER_SUM_LIMIT / 2, INTEGER_SUM_LIMIT / 2 + 1])[0] is None  # each under, the sum not
    assert _both([float("inf"), 1.0])[0] is None and _both([float("nan")])[0] is None
