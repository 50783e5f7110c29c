"""Adapter: one profile row per customer from the segmentation, portfolio and CLV engines.

Customer 360, Interactions and Actions need each customer's RFM segment
(:mod:`crm_core.rfm`), value tier (:mod:`crm_core.portfolio`), predicted CLV
and probability of being alive (:mod:`crm_core.clv`). This adapter calls the
engines and says plainly what could not be computed and why (an engine raises
ValueError with a user-facing reason, e.g. too little data for the CLV
models), so the pages degrade instead of failing.

Segments and tiers are computed on the customer summary of the analysed
period (like the Segments and Portfolio pages); CLV models are fitted on each
customer's whole history up to the end of the period (like the Lifetime
value page), then kept for the period's customers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_core.customers import filter_period, summarize
from crm_core.dataset import Dataset
from crm_core.schema import C

PROFILE_FIELDS = ("segment", "tier", "clv", "p_alive")

@dataclass(frozen=True)
class Profile:
    """Profile table (customer_id + available fields), why fields are missing, and caveats."""

    table: pl.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.table.columns


@dataclass(frozen=True)
class EngineSettings:
    """Settings handed to the engines (None = each engine's defaults).

    ``rfm`` is a :class:`crm_core.rfm.RfmSettings`, ``tiers`` a
    :class:`crm_core.portfolio.TierSettings`; ``clv_result`` is an already
    fitted :class:`crm_core.clv.CLVResult` to reuse instead of fitting again.
    """

    rfm: Any = None
    tiers: Any = None
    clv_result: Any = None


def customer_profile_table(
    dataset: Dataset,
    as_of: dt.date | None = None,
    start: dt.date | None = None,
    summary: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``customer_id`` plus whatever of segment / tier / clv / p_alive is available."""
    return build_profile(dataset, as_of, start, summary).table


def build_profile(
    dataset: Dataset,
    as_of: dt.date | None = None,
    start: dt.date | None = None,
    summary: pl.DataFrame | None = None,
    engines: EngineSettings = EngineSettings(),
) -> Profile:
    """Like :func:`customer_profile_table`, with the reason each missing field is missing.

    Parameters
    ----------
    dataset
        The dataset (transactions and side tables).
    as_of
        End of the analysed period (default: last order date).
    start
        Start of the analysed period (default: all history).
    summary
        The per-customer summary of that period, when the caller has it already.
    engines
        Settings for the segmentation / tier / CLV engines.
    """
    if summary is None:
        summary = summarize(filter_period(dataset.transactions, start, as_of), as_of).collect()
    table = summary.select(C.CUSTOMER_ID)
    missing: dict[str, str] = {}
    warnings: list[str] = []
    parts = (
        (("segment",), lambda: _segments(summary, engines.rfm)),
        (("tier",), lambda: _tiers(summary, engines.tiers)),
        (("clv", "p_alive"), lambda: _clv(dataset, as_of, engines.clv_result, warnings)),
    )
    for names, compute in parts:
        try:
            part = compute()
        except ValueError as error:  # engines raise ValueError with a user-facing reason
            missing.update({name: str(error) for name in names})
            continue
        table = _attach(table, part)
    return Profile(table, missing, warnings)


def _attach(table: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """``table`` left-joined with ``part`` (one row per customer). When ``part`` lists the same customers in
    the same order (the segments of a summary sorted by customer), its columns are set beside the table's
    instead: no join, whose hash table and copies of every column take a few hundred MB at 3M customers."""
    if part.height == table.height and part[C.CUSTOMER_ID].equals(table[C.CUSTOMER_ID]):
        return table.hstack(part.drop(C.CUSTOMER_ID))
    return table.join(part, on=C.CUSTOMER_ID, how="left")


def _segments(summary: pl.DataFrame, settings: Any) -> pl.DataFrame:
    from crm_core import rfm

    scored = rfm.score_customers(summary, settings) if settings is not None else rfm.score_customers(summary)
    return scored.select(C.CUSTOMER_ID, pl.col(rfm.SEGMENT).alias("segment")).collect()


def _tiers(summary: pl.DataFrame, settings: Any) -> pl.DataFrame:
    from crm_core import portfolio

    settings = settings if settings is not None else portfolio.TierSettings()
    # The id and the ranking value alone (when present; else assign_tiers says what is missing): the sort then
    # moves two columns of every customer, not the whole summary.
    ranking = summary.select(name for name in dict.fromkeys([C.CUSTOMER_ID, settings.value]) if name in summary.collect_schema().names())
    return portfolio.assign_tiers(ranking, settings).select(C.CUSTOMER_ID, "tier")


def _clv(dataset: Dataset, as_of: dt.date | None, result: Any, warnings: list[str]) -> pl.DataFrame:
    from crm_core import clv

    if result is None:
        history = filter_period(dataset.transactions, None, as_of)
        result = clv.fit_clv(history, clv.CLVSettings(calibration_end=as_of))
    if result.problems:  # keep the numbers, say they are shaky
        warnings.append("Predicted CLV and P(alive) are unreliable for this data: " + " ".join(result.problems))
    # repeat_days (the model's x) tells one-time buyers apart: their P(alive) is always 1.
    repeat = [pl.col("frequency").alias("repeat_days")] if "frequency" in result.customers.columns else []
    # The forecast's range and the next-order date, for Customer 360 and the lists (when the model gives them).
    extra = [name for name in ("value_low", "value_high", "purchases_low", "purchases_high", "next_order_date",
                               "usual_gap_days", "overdue") if name in result.customers.columns]
    return result.customers.select(C.CUSTOMER_ID, pl.col("clv").fill_nan(None), pl.col("p_alive").fill_nan(None),
                                   *repeat, *extra)
