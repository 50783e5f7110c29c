"""Adapter: one profile row per customer from the segmentation, portfolio and CLV engines.

Customer 360, Interactions and Actions need each customer's RFM segment,
value tier, predicted CLV and probability of being alive. Those come from
other modules (:mod:`crm_core.segmentation`, :mod:`crm_core.portfolio`,
:mod:`crm_core.clv`); this adapter calls whichever is available and says
plainly what is missing and why, so the pages degrade instead of failing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from crm_core.customers import filter_period, summarize
from crm_core.dataset import Dataset
from crm_core.schema import C

PROFILE_FIELDS = ("segment", "tier", "clv", "p_alive")


@dataclass(frozen=True)
class Profile:
    """Profile table plus a note per field that could not be computed."""

    table: pl.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.table.columns


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
        The per-customer summary of that period when the caller has it already.
    """
    tx = filter_period(dataset.transactions, start, as_of)
    if summary is None:
        summary = summarize(tx, as_of).collect()
    table = summary.select(C.CUSTOMER_ID)
    missing: dict[str, str] = {}
    warnings: list[str] = []
    for names, step in _STEPS:
        try:
            part = step(summary, tx, as_of)
        except ImportError:
            part = None
        except _Unreliable as flagged:  # keep the numbers, say they are shaky
            part = flagged.frame
            warnings.append(f"Predicted CLV and P(alive) are unreliable for this data: {flagged}")
        except ValueError as error:  # engines raise ValueError when the data is too thin
            missing.update({name: str(error) for name in names})
            continue
        if part is None:
            missing.update({name: _NOT_BUILT[name] for name in names})
            continue
        table = table.join(part, on=C.CUSTOMER_ID, how="left")
        missing.update({name: _NOT_BUILT[name] for name in names if name not in part.columns})
    return Profile(table, missing, warnings)


_NOT_BUILT = {
    "segment": "RFM segments are not available yet (segmentation module missing).",
    "tier": "Value tiers are not available yet (portfolio module missing).",
    "clv": "Predicted CLV is not available yet (CLV module missing).",
    "p_alive": "P(alive) is not available yet (CLV module missing).",
}


def _segments(summary: pl.DataFrame, tx: pl.LazyFrame, as_of: dt.date | None) -> pl.DataFrame | None:
    from crm_core import rfm

    return rfm.score_customers(summary).select(C.CUSTOMER_ID, rfm.SEGMENT).rename({rfm.SEGMENT: "segment"}).collect()


def _tiers(summary: pl.DataFrame, tx: pl.LazyFrame, as_of: dt.date | None) -> pl.DataFrame | None:
    from crm_core import portfolio

    return portfolio.assign_tiers(summary).select(C.CUSTOMER_ID, "tier")


def _clv(summary: pl.DataFrame, tx: pl.LazyFrame, as_of: dt.date | None) -> pl.DataFrame | None:
    from crm_core import clv

    result = clv.fit_clv(tx, clv.CLVSettings(calibration_end=as_of))
    predictions = result.customers.select(
        C.CUSTOMER_ID, pl.col("clv").fill_nan(None), pl.col("p_alive").fill_nan(None)
    )
    if result.problems:
        raise _Unreliable(predictions, " ".join(result.problems))
    return predictions


class _Unreliable(Exception):
    """Predictions exist but the engine flags them as unreliable."""

    def __init__(self, frame: pl.DataFrame, reason: str) -> None:
        super().__init__(reason)
        self.frame = frame


_STEPS: tuple[tuple[tuple[str, ...], Callable[..., pl.DataFrame | None]], ...] = (
    (("segment",), _segments),
    (("tier",), _tiers),
    (("clv", "p_alive"), _clv),
)
