"""CRM model scorecard: how far the business is along four CRM models.

Models and their steps:

- IDIC (Peppers & Rogers): Identify, Differentiate, Interact, Customize.
- QCi customer management model: the eight assessment areas.
- Buttle's CRM value chain: the five primary stages plus supporting conditions.
- Payne & Frow's strategic framework: the five cross-functional processes.

Each step is scored 0-100 from up to two parts: evidence computed from the
data (0-1, when the data can say something) and one self-assessment question
(level 0-4). The step score is the mean of the parts present, times 100;
``None`` when neither is available. Gaps are the steps below
:attr:`ScorecardSettings.gap_below`, weakest first, each with a next step.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from crm_core.dataset import Dataset
from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C

LEVELS: tuple[str, ...] = ("Not at all", "Rarely, ad hoc", "Sometimes", "Mostly", "Always, systematically")
MAX_LEVEL = len(LEVELS) - 1

#: Inputs behind the KPIs a CRM programme is measured with (column or side table -> what it enables).
KPI_INPUTS: dict[str, str] = {
    "revenue": "revenue, orders, AOV, retention (always available)",
    C.ORDER_ID: "true order counts",
    C.COST: "margin and customer profitability",
    C.CHANNEL: "channel mix",
    C.DAYS_LATE: "delivery performance",
    "customers": "acquisition channel and signup cohorts",
    "interactions": "service cost and satisfaction (CSAT)",
    "marketing_spend": "acquisition cost (CAC) and payback",
}


@dataclass(frozen=True)
class ScorecardSettings:
    """Thresholds of the scorecard.

    Attributes
    ----------
    gap_below
        Steps scoring below this (0-100) are listed as gaps.
    history_months
        Months of order history that count as enough for analysis and planning.
    min_customers
        Customers needed before segments and tiers mean anything.
    """

    gap_below: float = 50.0
    history_months: int = 12
    min_customers: int = 50


@dataclass(frozen=True)
class Evidence:
    """What the data says about one capability: a 0-1 score and why."""

    score: float | None
    text: str


@dataclass(frozen=True)
class Step:
    """One step of a model, with its evidence key, question and next step."""

    key: str
    model: str
    name: str
    description: str
    question: str
    next_step: str
    evidence: str | None = None

    @property
    def question_key(self) -> str:
        return f"{MODEL_KEYS[self.model]}.{self.key}"


IDIC, QCI, BUTTLE, PAYNE_FROW = "IDIC", "QCi", "Buttle value chain", "Payne & Frow"
MODEL_KEYS = {IDIC: "idic", QCI: "qci", BUTTLE: "buttle", PAYNE_FROW: "payne"}
MODELS: dict[str, str] = {
    IDIC: "Peppers & Rogers: identify customers, differentiate them, interact with them, customize for them.",
    QCI: "QCi customer management model: eight areas that together make up how customers are managed.",
    BUTTLE: "Buttle's CRM value chain: five primary stages resting on supporting conditions.",
    PAYNE_FROW: "Payne & Frow: five cross-functional processes of strategic CRM.",
}

STEPS: tuple[Step, ...] = (
    # IDIC
    Step("identify", IDIC, "Identify", "Recognise each customer across orders, channels and visits.",
         "Can you recognise the same customer every time they buy or get in touch?",
         "Make a customer id mandatory at checkout and on every invoice; merge duplicate customer records.", "customer_ids"),
    Step("differentiate", IDIC, "Differentiate", "Tell customers apart by value and needs.",
         "Do you treat customers differently according to their value or needs?",
         "Use the Portfolio and Segments pages to agree on tiers and segments, and write the decisions down as notes.", "segments"),
    Step("interact", IDIC, "Interact", "Record and learn from every interaction.",
         "Are service, sales and marketing contacts recorded in one place?",
         "Log support contacts (date, channel, reason, satisfaction) and add them as the interactions table on the Data page.", "interactions"),
    Step("customize", IDIC, "Customize", "Adapt offers and service to the customer.",
         "Do you adapt offers, service or messages to individual customers or segments?",
         "Export a target list from the Actions page for one segment and run a tailored campaign.", "actions"),
    # QCi
    Step("analysis", QCI, "Analysis & planning", "Understand customer value and plan acquisition and retention from it.",
         "Do you plan with customer value and segment analysis?",
         "Review concentration, tiers and segments each quarter and set targets per segment.", "history"),
    Step("proposition", QCI, "Proposition", "Define what each segment is offered, and tell staff.",
         "Is there a defined offer per customer segment, known to staff?",
         "Write one line per segment: what it gets from you that others do not."),
    Step("people", QCI, "People & organisation", "Skills, roles and incentives that support customer management.",
         "Do roles and incentives reward keeping and growing customers?",
         "Give one owner to each key segment and add retention to their objectives."),
    Step("information", QCI, "Information & technology", "Customer data that is complete and reachable.",
         "Can the people who need customer data get it easily?",
         "Add the missing columns (cost, channel, order id) to your exports so every KPI can be computed.", "data_completeness"),
    Step("process", QCI, "Process management", "Documented customer processes that are reviewed.",
         "Are customer-facing processes documented and reviewed?",
         "Map the complaint-to-resolution process and measure its duration."),
    Step("activity", QCI, "Customer management activity", "Acquisition, retention, penetration and efficiency actions.",
         "Do you run planned retention and cross-sell actions, not only acquisition?",
         "Start with the at-risk list in meeting mode: call the most valuable customers first.", "actions"),
    Step("measurement", QCI, "Measuring the effect", "KPIs that show whether customer management works.",
         "Do you review customer KPIs regularly and act on them?",
         "Put the Overview KPIs on the agenda of a monthly meeting (save the view and open it in meeting mode).", "kpi_coverage"),
    Step("experience", QCI, "Customer experience", "Measure how customers feel about dealing with you.",
         "Do you measure customer satisfaction or effort?",
         "Ask a one-question CSAT after each support contact and record it with the interaction.", "satisfaction"),
    # Buttle
    Step("portfolio", BUTTLE, "Customer portfolio analysis", "Know which customers are worth most, now and later.",
         "Do you know which customers are most valuable, and why?",
         "Open the Portfolio and Lifetime value pages and agree on who the strategically significant customers are.", "segments"),
    Step("intimacy", BUTTLE, "Customer intimacy", "Know customers' identity, history, needs and preferences.",
         "Do you know your key customers' needs and preferences?",
         "Add customer details (signup date, acquisition channel) and interactions on the Data page.", "intimacy"),
    Step("network", BUTTLE, "Network development", "Partners, suppliers and staff working together for customers.",
         "Do suppliers, partners and staff share goals for serving customers?",
         "Share the key findings report with the partners who deliver to your customers."),
    Step("value_proposition", BUTTLE, "Value proposition", "Offers designed for the selected customers.",
         "Is your offer designed around the needs of your best customers?",
         "Interview five Platinum or Gold customers about what they value most."),
    Step("lifecycle", BUTTLE, "Manage the customer lifecycle", "Acquisition, retention and development processes.",
         "Do you manage acquisition, retention and win-back explicitly?",
         "Track new and returning customers every month and set a win-back action for lapsed repeaters.", "history"),
    Step("conditions", BUTTLE, "Supporting conditions", "Leadership, culture, data, IT and people behind CRM.",
         "Do leadership, data and IT support customer management?",
         "Name a sponsor for CRM and fix the data gaps listed on this page.", "data_completeness"),
    # Payne & Frow
    Step("strategy", PAYNE_FROW, "Strategy development", "Business and customer strategy aligned.",
         "Is there a written customer strategy (who to serve, how)?",
         "Write down target segments and the role of each channel; review it yearly."),
    Step("value_creation", PAYNE_FROW, "Value creation", "Value for customers and value from customers (lifetime value).",
         "Do you know what customers are worth over their lifetime?",
         "Use the Lifetime value page to estimate CLV and compare it with acquisition cost.", "segments"),
    Step("multichannel", PAYNE_FROW, "Multichannel integration", "A consistent experience across channels.",
         "Do customers get the same service and information in every channel?",
         "Record the sales channel of every order and compare customers across channels.", "channels"),
    Step("information_management", PAYNE_FROW, "Information management", "Collect, join and use customer data.",
         "Is customer data joined up across sales, service and marketing?",
         "Add the side tables (customers, interactions, marketing spend) so the data is joined in one place.", "data_completeness"),
    Step("performance", PAYNE_FROW, "Performance assessment", "Measure CRM against shareholder and customer results.",
         "Do you measure CRM results (retention, CLV, cost to serve) against targets?",
         "Set targets for retention and revenue concentration and check them in meeting mode.", "kpi_coverage"),
)
STEPS_BY_KEY = {step.question_key: step for step in STEPS}

#: Each model in a manager's words (shown first; the model's own name follows in brackets).
MODEL_PLAIN: dict[str, str] = {
    IDIC: "Knowing and treating customers individually",
    QCI: "How customers are managed day to day",
    BUTTLE: "Turning customer knowledge into value",
    PAYNE_FROW: "Customer strategy across the company",
}

#: Each step in a manager's words, by question key (the model's step name follows in brackets).
STEP_PLAIN: dict[str, str] = {
    "idic.identify": "Recognising each customer",
    "idic.differentiate": "Telling customers apart by value",
    "idic.interact": "Recording every contact",
    "idic.customize": "Tailoring offers",
    "qci.analysis": "Planning with customer value",
    "qci.proposition": "An offer per segment",
    "qci.people": "Roles and incentives",
    "qci.information": "Complete customer data",
    "qci.process": "Documented customer processes",
    "qci.activity": "Retention and cross-sell actions",
    "qci.measurement": "Reviewing customer KPIs",
    "qci.experience": "Measuring satisfaction",
    "buttle.portfolio": "Knowing the most valuable customers",
    "buttle.intimacy": "Knowing customers' needs",
    "buttle.network": "Partners working for customers",
    "buttle.value_proposition": "Offers built for the best customers",
    "buttle.lifecycle": "Managing acquisition, retention and win-back",
    "buttle.conditions": "Leadership, data and IT support",
    "payne.strategy": "A written customer strategy",
    "payne.value_creation": "Knowing lifetime value",
    "payne.multichannel": "The same service in every channel",
    "payne.information_management": "Joined-up customer data",
    "payne.performance": "Measuring results against targets",
}


def model_label(model: str) -> str:
    """'How customers are managed day to day (QCi)'."""
    return f"{MODEL_PLAIN[model]} ({model})"


def step_label(question_key: str) -> str:
    """'Recognising each customer (IDIC: Identify)'."""
    step = STEPS_BY_KEY[question_key]
    return f"{STEP_PLAIN[question_key]} ({step.model}: {step.name})"


def score_text(score: float | None) -> str:
    """'62 / 100', or 'not assessed yet' (never a bare None)."""
    return "not assessed yet" if score is None else f"{score:.0f} / 100"


# --- Evidence from the data -----------------------------------------------------


def _has_rows(frame: pl.LazyFrame | None) -> bool:
    return frame is not None and frame.head(1).collect().height > 0


def customer_id_share(dataset: Dataset, ingest_report: Any | None = None) -> float:
    """Share of order lines that carry a customer id.

    From the ingest report when there is one (rows rejected for a missing
    customer id count against it), else from the transactions.
    """
    if ingest_report is not None and getattr(ingest_report, "rows_read", 0):
        missing = sum(count for reason, count in ingest_report.rejected_by_reason().items() if "customer" in reason.lower())
        return 1.0 - missing / ingest_report.rows_read
    share = dataset.transactions.select(
        (pl.col(C.CUSTOMER_ID).is_not_null() & (pl.col(C.CUSTOMER_ID).str.strip_chars() != "")).mean()
    ).collect().item()
    return float(share) if share is not None else 0.0


def kpi_coverage(dataset: Dataset) -> tuple[float, list[str]]:
    """Share of :data:`KPI_INPUTS` available, and what the missing ones would enable."""
    names = set(dataset.transactions.collect_schema().names())
    available = {"revenue"} | (names & set(KPI_INPUTS))
    available |= {kind for kind in ("customers", "interactions", "marketing_spend") if _has_rows(dataset.side_table(kind))}
    missing = [f"{key.replace('_', ' ')} → {KPI_INPUTS[key]}" for key in KPI_INPUTS if key not in available]
    return len(available) / len(KPI_INPUTS), missing


def compute_evidence(
    dataset: Dataset,
    ingest_report: Any | None = None,
    segment_notes: int = 0,
    exports: int = 0,
    settings: ScorecardSettings = ScorecardSettings(),
    *,
    style: NumberStyle = PLAIN,
) -> dict[str, Evidence]:
    """Evidence per capability, each a 0-1 score with a sentence saying why.

    Parameters
    ----------
    dataset
        The portfolio.
    ingest_report
        The upload's ingest report (None for the demo).
    segment_notes
        Notes recorded on segments (decisions taken on segments).
    exports
        Customer lists exported for actions (the workspace activity log).
    """
    tx = dataset.transactions
    names = set(tx.collect_schema().names())
    stats = tx.select(
        pl.col(C.CUSTOMER_ID).n_unique().alias("customers"),
        pl.col(C.ORDER_DATE).min().alias("first"),
        pl.col(C.ORDER_DATE).max().alias("last"),
    ).collect().row(0, named=True)
    evidence: dict[str, Evidence] = {}

    id_share = customer_id_share(dataset, ingest_report)
    source = "of the uploaded order lines" if ingest_report is not None else "of the order lines"
    evidence["customer_ids"] = Evidence(id_share, f"{style.share(id_share)} {source} carry a customer id.")

    enough = stats["customers"] >= settings.min_customers
    segment_score = (0.5 if enough else 0.0) + (0.5 if segment_notes > 0 else 0.0)
    evidence["segments"] = Evidence(segment_score, (
        f"{style.count(stats['customers'])} customers: {'enough' if enough else 'too few'} to define tiers and segments; "
        f"{segment_notes} decision{'s' if segment_notes != 1 else ''} recorded as notes on segments."
    ))

    has_interactions = _has_rows(dataset.interactions)
    has_channel = C.CHANNEL in names
    has_customers = _has_rows(dataset.customers)
    evidence["interactions"] = Evidence(0.5 * has_interactions + 0.25 * has_channel + 0.25 * has_customers, (
        f"Interaction records: {'yes' if has_interactions else 'no'}; sales channel on orders: "
        f"{'yes' if has_channel else 'no'}; customer details: {'yes' if has_customers else 'no'}."
    ))
    evidence["intimacy"] = Evidence(0.5 * has_customers + 0.5 * has_interactions, (
        f"Customer details: {'yes' if has_customers else 'no'}; interaction history: {'yes' if has_interactions else 'no'}."
    ))
    evidence["channels"] = Evidence(1.0 if has_channel else 0.0,
                                    "Orders carry their sales channel." if has_channel else "Orders do not say which channel they came through.")

    evidence["actions"] = Evidence(min(1.0, exports / 3), f"{exports} customer list{'s' if exports != 1 else ''} exported for actions.")

    months = _months_between(stats["first"], stats["last"])
    evidence["history"] = Evidence(min(1.0, months / settings.history_months),
                                   f"{months} months of order history (≥ {settings.history_months} lets you compare like periods).")

    coverage, missing = kpi_coverage(dataset)
    gaps = f" Missing: {'; '.join(missing)}." if missing else ""
    evidence["kpi_coverage"] = Evidence(coverage, f"{style.share(coverage, 0)} of the KPI inputs are in the data.{gaps}")

    optional = [column for column in (C.ORDER_ID, C.COST, C.CHANNEL, C.CATEGORY, C.REGION) if column in names]
    side = sum(_has_rows(dataset.side_table(kind)) for kind in ("customers", "interactions", "marketing_spend"))
    completeness = (len(optional) + side) / 8
    evidence["data_completeness"] = Evidence(completeness, (
        f"{len(optional)} of 5 useful optional columns and {side} of 3 side tables are present."
    ))

    has_csat = has_interactions and "csat" in dataset.interactions.collect_schema().names() and (
        dataset.interactions.select(pl.col("csat").is_not_null().any()).collect().item()
    )
    evidence["satisfaction"] = Evidence(1.0 if has_csat else 0.0,
                                        "Satisfaction (CSAT) is recorded with interactions." if has_csat else "No satisfaction scores in the data.")
    return evidence


def _months_between(first: dt.date | None, last: dt.date | None) -> int:
    if first is None or last is None:
        return 0
    return (last.year - first.year) * 12 + last.month - first.month + (1 if last.day >= first.day else 0)


# --- Scores ---------------------------------------------------------------------


def step_score(evidence: Evidence | None, level: int | None) -> float | None:
    """Mean of the evidence score and the answer (level / 4), times 100; None when neither exists."""
    parts = []
    if evidence is not None and evidence.score is not None:
        parts.append(max(0.0, min(1.0, evidence.score)))
    if level is not None:
        parts.append(max(0, min(MAX_LEVEL, level)) / MAX_LEVEL)
    return 100 * sum(parts) / len(parts) if parts else None


def score_steps(evidence: dict[str, Evidence], answers: dict[str, int]) -> pl.DataFrame:
    """One row per step: model, step, question_key, evidence_score, answer, score (0-100), evidence text."""
    rows = []
    for step in STEPS:
        found = evidence.get(step.evidence) if step.evidence else None
        level = answers.get(step.question_key)
        rows.append({
            "model": step.model,
            "step": step.name,
            "question_key": step.question_key,
            "evidence_score": None if found is None or found.score is None else 100 * found.score,
            "answer": level,
            "score": step_score(found, level),
            "evidence": found.text if found is not None else "",
        })
    schema = {"model": pl.String, "step": pl.String, "question_key": pl.String, "evidence_score": pl.Float64,
              "answer": pl.Int64, "score": pl.Float64, "evidence": pl.String}
    return pl.DataFrame(rows, schema=schema)


def model_scores(steps: pl.DataFrame) -> pl.DataFrame:
    """Per model: mean step score over assessed steps, steps assessed, steps in total."""
    return (
        steps.group_by("model", maintain_order=True)
        .agg(pl.col("score").mean().alias("score"), pl.col("score").is_not_null().sum().alias("assessed"), pl.len().alias("steps"))
    )


def gaps(steps: pl.DataFrame, settings: ScorecardSettings = ScorecardSettings()) -> pl.DataFrame:
    """Steps scoring below ``settings.gap_below`` (or not assessed), weakest first, with the next step.

    Columns: area (the step in plain words, then the model's name for it), model, step, score
    (null = not assessed), score_text ('34 / 100' or 'not assessed yet') and next_step.
    """
    keys = [s.question_key for s in STEPS]
    labels = pl.DataFrame({"question_key": keys, "next_step": [s.next_step for s in STEPS],
                           "area": [step_label(key) for key in keys]})
    score_words = (pl.when(pl.col("score").is_null()).then(pl.lit("not assessed yet"))
                   .otherwise(pl.format("{} / 100", pl.col("score").round(0).cast(pl.Int64))))
    return (
        steps.filter(pl.col("score").is_null() | (pl.col("score") < settings.gap_below))
        .join(labels, on="question_key", how="left")
        .sort(["score", "model", "step"], nulls_last=False)
        .select("area", "model", "step", "score", score_words.alias("score_text"), "next_step")
    )


def scorecard_takeaway(steps: pl.DataFrame) -> str:
    """One sentence: overall score, strongest and weakest steps."""
    scored = steps.drop_nulls("score")
    if scored.height == 0:
        return "Nothing assessed yet: answer the questions below."
    best = scored.sort("score", descending=True).row(0, named=True)
    worst = scored.sort("score").row(0, named=True)
    return (
        f"Overall {scored['score'].mean():.0f}/100 over {scored.height} steps; strongest: "
        f"{STEP_PLAIN[best['question_key']].lower()} ({best['model']}: {best['step']}, {best['score']:.0f}); weakest: "
        f"{STEP_PLAIN[worst['question_key']].lower()} ({worst['model']}: {worst['step']}, {worst['score']:.0f})."
    )
