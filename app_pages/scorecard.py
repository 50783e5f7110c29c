"""CRM scorecard: the business against IDIC, QCi, Buttle's value chain and Payne & Frow, in plain words first."""
from __future__ import annotations

import polars as pl
import streamlit as st

from crm_core.charts.present import radar_figure
from crm_core.scorecard import (
    LEVELS,
    MODELS,
    STEP_PLAIN,
    STEPS,
    compute_evidence,
    gaps,
    model_label,
    model_scores,
    score_steps,
    score_text,
    scorecard_takeaway,
)
from ui.data import current_dataset, current_dataset_id
from ui.present import current_ingest_report, notes_store
from ui.sections import lazy_expander
from ui.settings import number_style
from ui.state import Keys
from ui.figures import figure
from ui.widgets import WRAPPED_ROW, chart, explain, figure_card, takeaway

ALL = "All models"

st.title("CRM scorecard")
explain(
    "How far is the business along the classic CRM models? Each area is named in plain words first, with the "
    "model's own name in brackets. Each step gets a score out of 100 from two parts: "
    "**evidence** computed from your data (for example how many orders carry a customer id) and your answer to "
    "**one short question**. Answers are saved in the workspace, so the scorecard can be revisited each quarter."
)

store = notes_store()
dataset_id = current_dataset_id()
dataset = current_dataset()
evidence = compute_evidence(
    dataset,
    ingest_report=current_ingest_report(),
    segment_notes=store.list_notes(dataset_id).height,
    exports=store.count_activity("export", dataset_id),
    style=number_style(),
)
saved = store.load_answers(dataset_id)


def _answer_key(question_key: str) -> str:
    return f"{Keys.SCORECARD_ANSWER}{question_key}"


def _save(question_key: str) -> None:
    level = st.session_state.get(_answer_key(question_key))
    if level is not None:
        store.save_answers(dataset_id, {question_key: int(level)})


for step in STEPS:  # answers saved earlier pre-fill the questions
    key = _answer_key(step.question_key)
    if key not in st.session_state:
        st.session_state[key] = saved.get(step.question_key)

answers = {step.question_key: st.session_state[_answer_key(step.question_key)] for step in STEPS
           if st.session_state.get(_answer_key(step.question_key)) is not None}
steps = score_steps(evidence, answers)
by_model = model_scores(steps)

# Two cards a row: the plain names ("Knowing and treating customers individually (IDIC)") were cut at four a row.
columns = [column for _ in range(0, by_model.height, 2) for column in st.columns(2)]
for column, row in zip(columns, by_model.iter_rows(named=True)):
    figure_card(column, f"maturity.{row['model']}", None,
                shown="not assessed yet" if row["score"] is None else f"{row['score']:.0f} / 100",
                model=model_label(row["model"]), description=MODELS[row["model"]], assessed=str(row["assessed"]),
                steps=str(row["steps"]))
takeaway(scorecard_takeaway(steps))

model = st.segmented_control("Model", [ALL, *MODELS], default=ALL, required=True, key=Keys.SCORECARD_MODEL,
                             bind="query-params")
shown = list(MODELS) if model == ALL else [model]
chart_columns = st.columns(2 if len(shown) > 1 else 1)
for index, name in enumerate(shown):
    with chart_columns[index % len(chart_columns)]:
        plain_steps = steps.filter(pl.col("model") == name).with_columns(
            pl.col("question_key").replace_strict(STEP_PLAIN).alias("step"))
        chart(figure(radar_figure, plain_steps, model_label(name)), key=f"scorecard_radar_{index}")

st.subheader("Gaps and next steps")
found = gaps(steps.filter(steps["model"].is_in(shown)))
if found.height == 0:
    st.success("No step scores below 50. Keep the answers up to date each quarter.")
else:
    # Rows three lines high: the grid wraps a cell's text only in rows over 64 px (one line each cut the area's
    # model and step, and the longer next steps, at 1366 px).
    st.dataframe(
        found.select("area", "score_text", "next_step"), hide_index=True, width="stretch", row_height=WRAPPED_ROW,
        column_config={
            "area": st.column_config.TextColumn("Area (model: step)", width=260),
            "score_text": st.column_config.TextColumn("Score", width=90,
                                                      help="Out of 100; 'not assessed yet': answer its question below."),
            "next_step": st.column_config.TextColumn("Suggested next step", width="large"),
        },
    )

st.subheader("Evidence and questions")
st.caption("Open a model's panel and choose the answer that fits best; it is saved at once.")


def _questions(name: str) -> None:
    """The model's steps: evidence, score and the one question each (its answer saved at once)."""
    for step in (s for s in STEPS if s.model == name):
        row = steps.filter(steps["question_key"] == step.question_key).row(0, named=True)
        st.markdown(f"**{STEP_PLAIN[step.question_key]}** ({step.model}: {step.name}) · {score_text(row['score'])}")
        st.caption(step.description + (f" Evidence: {row['evidence']}" if row["evidence"] else ""))
        st.radio(
            step.question, list(range(len(LEVELS))), format_func=LEVELS.__getitem__, horizontal=True,
            key=_answer_key(step.question_key), on_change=_save, args=(step.question_key,),
        )


for name in shown:  # a panel's questions are drawn once it is opened (all 23 would slow every visit)
    with lazy_expander(f"{model_label(name)} – {MODELS[name]}", f"{Keys.SCORECARD_OPEN}{name}",
                       expanded=len(shown) == 1) as opened:
        if opened:
            _questions(name)
updated = store.answers_updated_at(dataset_id)
st.caption(f"Answers last saved {updated.replace('T', ' ')[:16]} UTC." if updated else "No answers saved yet.")
