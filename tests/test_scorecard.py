"""CRM model scorecard: evidence from data, step and model scores, gaps (hand-computed)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.dataset import Dataset
from crm_core.ingest import IngestReport
from crm_core.scorecard import (
    MODELS,
    STEPS,
    STEPS_BY_KEY,
    Evidence,
    ScorecardSettings,
    compute_evidence,
    customer_id_share,
    gaps,
    kpi_coverage,
    model_scores,
    score_steps,
    scorecard_takeaway,
    step_score,
)

D = dt.date


def _tx(ids, dates, amounts, **extra) -> pl.LazyFrame:
    data = {"customer_id": ids, "order_date": dates, "amount": amounts, **extra}
    return pl.LazyFrame(data).with_columns(pl.col("order_date").cast(pl.Date))


def _three_customers(**extra) -> Dataset:
    tx = _tx(["a", "b", "c", "a"], [D(2023, 1, 15), D(2023, 2, 1), D(2023, 3, 1), D(2023, 7, 14)], [10.0, 20, 30, 40], **extra)
    return Dataset(transactions=tx, name="three")


def test_every_model_has_its_steps():
    counts = {model: sum(step.model == model for step in STEPS) for model in MODELS}
    assert counts == {"IDIC": 4, "QCi": 8, "Buttle value chain": 6, "Payne & Frow": 5}
    assert len(STEPS_BY_KEY) == len(STEPS)  # question keys are unique
    assert all(step.question and step.next_step for step in STEPS)


def test_step_score_is_the_mean_of_the_parts():
    assert step_score(Evidence(0.5, ""), 4) == pytest.approx(75)
    assert step_score(None, 2) == pytest.approx(50)
    assert step_score(Evidence(1.0, ""), None) == pytest.approx(100)
    assert step_score(Evidence(None, ""), None) is None
    assert step_score(Evidence(1.7, ""), 9) == pytest.approx(100)  # clamped


def test_customer_id_share_from_data_and_from_ingest_report():
    tx = _tx(["a", None, "  ", "b"], [D(2023, 1, 1)] * 4, [1.0] * 4)
    assert customer_id_share(Dataset(transactions=tx)) == pytest.approx(0.5)
    report = IngestReport(rows_read=10, rows_valid=7, rows_rejected=3)
    report.rejected = pl.DataFrame({"line": [1, 2, 3], "raw": ["", "", ""],
                                    "reason": ["missing customer id", "missing customer id", "bad date"]})
    assert customer_id_share(Dataset(transactions=tx), report) == pytest.approx(0.8)


def test_kpi_coverage_counts_inputs():
    coverage, missing = kpi_coverage(_three_customers())
    assert coverage == pytest.approx(1 / 8)
    assert len(missing) == 7 and any(item.startswith("marketing spend") for item in missing)
    interactions = pl.LazyFrame({"customer_id": ["a"], "interaction_date": [D(2023, 2, 2)], "csat": [4.0]})
    richer = Dataset(transactions=_three_customers(order_id=["1", "2", "3", "4"], cost=[1.0] * 4).transactions,
                     interactions=interactions)
    assert kpi_coverage(richer)[0] == pytest.approx(4 / 8)


def test_evidence_from_a_small_dataset():
    evidence = compute_evidence(_three_customers(), segment_notes=1, exports=1)
    assert evidence["customer_ids"].score == pytest.approx(1.0)
    assert evidence["segments"].score == pytest.approx(0.5)  # too few customers (3 < 50), one note
    assert evidence["actions"].score == pytest.approx(1 / 3)
    assert evidence["history"].score == pytest.approx(0.5)  # 15 Jan -> 14 Jul: 6 months of 12
    assert evidence["interactions"].score == 0 and evidence["channels"].score == 0
    assert evidence["satisfaction"].score == 0
    assert evidence["data_completeness"].score == 0
    assert "3 customers: too few" in evidence["segments"].text


def test_evidence_with_channel_and_side_tables():
    customers = pl.LazyFrame({"customer_id": ["a", "b"]})
    interactions = pl.LazyFrame({"customer_id": ["a"], "interaction_date": [D(2023, 2, 2)], "csat": [5.0]})
    base = _three_customers(channel=["web", "shop", "web", "web"]).transactions
    dataset = Dataset(transactions=base, customers=customers, interactions=interactions)
    evidence = compute_evidence(dataset, exports=5, settings=ScorecardSettings(min_customers=2))
    assert evidence["interactions"].score == pytest.approx(1.0)
    assert evidence["intimacy"].score == pytest.approx(1.0)
    assert evidence["channels"].score == pytest.approx(1.0)
    assert evidence["satisfaction"].score == pytest.approx(1.0)
    assert evidence["actions"].score == pytest.approx(1.0)
    assert evidence["segments"].score == pytest.approx(0.5)  # enough customers, no notes yet
    assert evidence["data_completeness"].score == pytest.approx(3 / 8)  # channel + 2 side tables


def test_scores_models_and_gaps():
    evidence = {"customer_ids": Evidence(1.0, "all ids"), "segments": Evidence(0.0, "none"),
                "interactions": Evidence(0.5, "half"), "actions": Evidence(0.0, "no exports")}
    steps = score_steps(evidence, {"idic.identify": 2, "idic.customize": 4})
    idic = steps.filter(pl.col("model") == "IDIC")
    assert idic["step"].to_list() == ["Identify", "Differentiate", "Interact", "Customize"]
    assert idic["score"].to_list() == pytest.approx([75, 0, 50, 50])
    assert idic["evidence_score"].to_list() == pytest.approx([100, 0, 50, 0])
    models = dict(model_scores(steps).select("model", "score").iter_rows())
    assert models["IDIC"] == pytest.approx(43.75)
    assert models["QCi"] == pytest.approx(0.0)  # only 'Customer management activity' assessed (no exports)
    found = gaps(steps.filter(pl.col("model") == "IDIC"))
    assert found["step"].to_list() == ["Differentiate"]  # below 50; 50 itself is not a gap
    assert found["next_step"][0].startswith("Use the Portfolio and Segments pages")
    qci = gaps(steps.filter(pl.col("model") == "QCi"))
    assert qci["score"].null_count() == 7 and qci["score"].drop_nulls().to_list() == [0.0]
    assert qci["score"][0] is None  # not assessed comes first
    # managers' words: plain name first, model name second, never a bare None
    assert found["area"].to_list() == ["Telling customers apart by value (IDIC: Differentiate)"]
    assert found["score_text"].to_list() == ["0 / 100"]
    assert qci["score_text"][0] == "not assessed yet" and "None" not in " ".join(qci["score_text"].to_list())


def test_takeaway():
    steps = score_steps({"customer_ids": Evidence(1.0, "")}, {"idic.customize": 1})
    assert scorecard_takeaway(steps) == (
        "Overall 62/100 over 2 steps; strongest: recognising each customer (IDIC: Identify, 100); "
        "weakest: tailoring offers (IDIC: Customize, 25)."
    )
    assert scorecard_takeaway(score_steps({}, {})) == "Nothing assessed yet: answer the questions below."
