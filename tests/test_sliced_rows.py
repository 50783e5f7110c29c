"""crm_core.sliced_rows: rows split once into slices of customers give the same answers, reading one slice."""
from __future__ import annotations

import datetime as dt
import tempfile

import polars as pl
import pytest

from crm_core import sliced_rows
from crm_core.customers import customer_totals, filter_period, summarize
from crm_core.kpis import kpi_comparison
from crm_core.schema import C
from crm_core.sliced_rows import slice_filter, slice_of

SLICES = 4


@pytest.fixture()
def rows(tmp_path) -> pl.LazyFrame:
    n = 20_000
    frame = pl.DataFrame({
        C.CUSTOMER_ID: [f"C{i % 1500:05d}" for i in range(n)],
        C.ORDER_DATE: [dt.date(2023, 1, 1) + dt.timedelta(days=(i * 7) % 500) for i in range(n)],
        C.AMOUNT: [round((i % 997) / 7 - 10, 2) for i in range(n)],
    })
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path)
    return pl.scan_parquet(path).filter(pl.col(C.AMOUNT) > -5)


def test_slice_filter_recognised_alone_and_in_a_conjunction_only():
    date = pl.col(C.ORDER_DATE) <= dt.date(2024, 1, 1)
    assert slice_of(slice_filter(SLICES, 2), SLICES) == 2
    assert slice_of(date & slice_filter(SLICES, 3) & (pl.col(C.AMOUNT) > 0), SLICES) == 3
    assert slice_of(date | slice_filter(SLICES, 3), SLICES) is None  # not every row kept is in slice 3
    assert slice_of(~slice_filter(SLICES, 3), SLICES) is None
    assert slice_of(slice_filter(SLICES + 1, 3), SLICES) is None  # another split
    assert slice_of(pl.col("other").hash() % SLICES == 1, SLICES) is None
    assert slice_of(None, SLICES) is None


def test_each_slice_reads_its_own_rows_and_the_answers_are_the_rows(rows, monkeypatch, scratch):
    seen: list[int | None] = []
    original = sliced_rows.slice_of
    monkeypatch.setattr(sliced_rows, "slice_of", lambda predicate, n: seen.append(original(predicate, n)) or seen[-1])
    with sliced_rows.sliced_rows(rows, SLICES) as sliced:
        assert sliced.collect_schema() == rows.collect_schema()
        assert sliced.collect().equals(rows.collect())  # every row, in their order
        for k in range(SLICES):
            assert sliced.filter(slice_filter(SLICES, k)).collect().equals(rows.filter(slice_filter(SLICES, k)).collect())
        assert seen[-SLICES:] == list(range(SLICES))
        period = filter_period(sliced, dt.date(2023, 3, 1), dt.date(2024, 3, 1))
        summary = pl.concat([summarize(period.filter(slice_filter(SLICES, k)), as_of=dt.date(2024, 3, 1)).collect()
                             for k in range(SLICES)]).sort(C.CUSTOMER_ID)
        expected = summarize(filter_period(rows, dt.date(2023, 3, 1), dt.date(2024, 3, 1)),
                             as_of=dt.date(2024, 3, 1)).collect().sort(C.CUSTOMER_ID)
        assert summary.equals(expected)
        counted = customer_totals(sliced, lambda r: r.select(pl.col(C.CUSTOMER_ID).n_unique().alias("n")), [], SLICES)
        assert counted.collect().item() == rows.select(pl.col(C.CUSTOMER_ID).n_unique()).collect().item()
        assert kpi_comparison(sliced, dt.date(2023, 6, 1), dt.date(2024, 1, 1), slices=SLICES).equals(
            kpi_comparison(rows, dt.date(2023, 6, 1), dt.date(2024, 1, 1), slices=SLICES))
    assert not list(scratch.rglob("read-slices-*"))  # the slices' files are removed with the context


@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch):
    """The temporary folder the slices are written under."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
