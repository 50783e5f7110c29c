"""Results computed once and handed on (background jobs) give the numbers of computing them in place."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.customers import filter_period, summarize
from crm_core.dataset import load_dataset
from crm_core.deck import default_deck, prepare_slides
from crm_core.drivers import acquired_profiles
from crm_core.findings import FindingContext, FindingSettings, key_findings
from ui import background_jobs as jobs
from ui.paths import DEMO_FOLDER


@pytest.fixture(scope="module")
def demo():
    dataset = load_dataset(DEMO_FOLDER)
    dataset = type(dataset)(**{**dataset.__dict__, "transactions": dataset.transactions.collect().lazy()})
    start, end = FindingContext(dataset, FindingSettings()).period
    return dataset, FindingSettings(start=start + dt.timedelta(days=365), end=end)


def _shown(findings) -> list[tuple]:
    return [(f.key, f.headline, f.detail, None if f.table is None else f.table.to_dicts()) for f in findings]


def test_findings_with_the_drivers_pages_profiles_equal_findings_computing_them(demo):
    dataset, settings = demo
    profiles = acquired_profiles(dataset, settings.start, settings.end)
    given = key_findings(dataset, settings, profiles=profiles)
    assert "drivers" in [f.key for f in given]
    assert _shown(given) == _shown(key_findings(dataset, settings))


def test_the_findings_job_ignores_profiles_of_another_period(demo):
    dataset, settings = demo
    summary = jobs.customer_summary("demo", filter_period(dataset.transactions, settings.start, settings.end), settings.end)
    wrong = acquired_profiles(dataset, settings.start - dt.timedelta(days=200), settings.end)
    shifted = FindingSettings(start=settings.start - dt.timedelta(days=10_000), end=settings.end)  # clamped to the data
    assert FindingContext(dataset, shifted).period != (shifted.start, shifted.end)
    assert _shown(jobs.key_findings(dataset, shifted, summarize(filter_period(dataset.transactions, None, settings.end),
                                                                 as_of=settings.end).collect(), wrong)) \
        == _shown(key_findings(dataset, shifted))
    assert _shown(jobs.key_findings(dataset, settings, summary, acquired_profiles(dataset, settings.start, settings.end))) \
        == _shown(key_findings(dataset, settings, summary=summary))


def test_slides_from_given_findings_equal_slides_computing_them(demo):
    dataset, settings = demo
    deck = default_deck()
    computed = prepare_slides(deck, dataset, base=settings)
    given = prepare_slides(deck, dataset, base=settings, findings=key_findings(dataset, settings))
    assert [(s.figure_id, s.headline, s.takeaway, s.note) for s in given] == \
        [(s.figure_id, s.headline, s.takeaway, s.note) for s in computed]
    assert len(given) > 3


def test_the_summary_job_is_the_customer_summary(demo):
    dataset, settings = demo
    period = filter_period(dataset.transactions, settings.start, settings.end)
    assert jobs.customer_summary("demo", period.collect(), settings.end).equals(
        summarize(period, as_of=settings.end).collect())
    assert isinstance(jobs.customer_summary("demo", period, settings.end), pl.DataFrame)
