"""The metric catalogue: every headline figure defined once, and the figures of a view.

Each :class:`Metric` has an id, a label, a plain definition, a unit and the
period it covers. Pages, meeting mode, the report, exports and the CLI take
label and definition from :data:`CATALOGUE` (see docs/metrics.md), and
:func:`headline_figures` computes the values with the same functions as the CLI
(``portfolio``, ``clv``), so a figure is the same number wherever it appears.

Different things carry different names: "Predicted revenue, next 12 months"
(margin 100%) is not "Predicted margin, next 12 months" (margin below 100%);
"Probably active (P(alive) >= 50%)" (a model's estimate) is not "Bought in the
last 90 days" (observed) nor "Lapsed" (no order for longer than a gap).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal

import polars as pl

from crm_core import format as fmt
from crm_core.settings import AnalysisSettings

Unit = Literal["money", "share", "count", "estimate", "ratio", "score", "months", "weeks", "days", "text"]

PERIOD_VIEW = "the analysed period"
PERIOD_FORECAST = "the next {months} months after the period"
PERIOD_AS_OF = "at the end of the analysed period"
PERIOD_CAMPAIGN = "one campaign on the chosen customers, under the assumptions above"
PERIOD_HOLDOUT = "the weeks held back for the check"
PERIOD_HISTORY = "every order up to the end of the analysed period"
PERIOD_FILE = "the file as uploaded (before any period or filter)"


@dataclass(frozen=True)
class Metric:
    """One headline figure's definition.

    Attributes
    ----------
    id
        Stable identifier, e.g. ``top20_revenue_share``; templates carry ``{tier}``.
    label
        Short name on cards, slides and table headers.
    definition
        One or two plain sentences: what it is and how it is computed.
    unit
        'money', 'share' (0-1), 'count', 'estimate' (an expected count of people or purchases: fractional as
        computed, shown as the whole number it is close to, '≈ 43', the value as computed in the card's help),
        'ratio', 'score', 'months', 'weeks', 'days' or 'text' (a name or yes/no, shown as it is).
    period
        Which dates it covers.
    computed_by
        The function computing it.
    """

    id: str
    label: str
    definition: str
    unit: Unit
    period: str
    computed_by: str

    def help(self, **values: Any) -> str:
        """Help text for a figure on screen: definition and period."""
        return f"{self.definition.format(**values)} Period: {self.period.format(**values)}."


_METRICS = (
    Metric("customers", "Customers", "Customers with at least one order line (purchase or return) in the period, "
           "after filters.",
           "count", PERIOD_VIEW, "crm_core.portfolio.portfolio_report"),
    Metric("revenue", "Revenue (net)", "Sum of order amounts in the period, net of returns.",
           "money", PERIOD_VIEW, "crm_core.portfolio.portfolio_report"),
    Metric("active_customers", "Active customers", "Customers with at least one purchase (amount >= 0) in the period.",
           "count", PERIOD_VIEW, "crm_core.kpis.period_kpis"),
    Metric("frequency", "Purchase frequency", "Orders per active customer in the period.", "ratio", PERIOD_VIEW,
           "crm_core.kpis.period_kpis"),
    Metric("orders", "Orders", "Distinct orders (order id, else one per customer and day) with amount >= 0.",
           "count", PERIOD_VIEW, "crm_core.kpis.period_kpis"),
    Metric("aov", "Average order value", "Revenue divided by orders.", "money", PERIOD_VIEW, "crm_core.kpis.period_kpis"),
    Metric("new_customers", "New customers", "Customers whose first purchase ever is in the period.",
           "count", PERIOD_VIEW, "crm_core.kpis.period_kpis"),
    Metric("returning_share", "Returning-customer share",
           "Share of customers active in the period who had bought before it.", "share", PERIOD_VIEW,
           "crm_core.kpis.period_kpis"),
    Metric("top20_revenue_share", "Top 20% customers' share of revenue",
           "Net revenue of the best ⌈20% × customers⌉ customers (ranked by net revenue in the period) divided by "
           "the net revenue of all customers.", "share", PERIOD_VIEW, "crm_core.portfolio.concentration"),
    Metric("gini", "Gini coefficient of revenue",
           "Inequality of net revenue per customer: 0 = every customer spends the same, 1 = one customer brings "
           "everything (negative totals count as 0).", "ratio", PERIOD_VIEW, "crm_core.portfolio.concentration"),
    Metric("customer_share_for_80pct_revenue", "Customers bringing 80% of revenue",
           "Smallest share of customers (best first) whose net revenue reaches 80% of the total.", "share",
           PERIOD_VIEW, "crm_core.portfolio.concentration"),
    Metric("tier.{tier}.customers", "{tier}: customers", "Customers in tier {tier} under the view's tier rule.",
           "count", PERIOD_VIEW, "crm_core.portfolio.tier_summary"),
    Metric("tier.{tier}.revenue", "{tier}: revenue", "Net revenue of the customers in tier {tier}.",
           "money", PERIOD_VIEW, "crm_core.portfolio.tier_summary"),
    Metric("predicted_value_total", "{value_name}, next {months} months",
           "Sum over customers of the predicted {value_kind} of their purchases in the next {months} months: "
           "BG/NBD (how often, and whether still active) × Gamma-Gamma (how much), × margin {margin_pct}, "
           "discounted at {rate_pct} a year. Fitted on every order up to the end of the period (earlier ones too).",
           "money", PERIOD_FORECAST, "crm_core.clv.fit_clv"),
    Metric("probably_active_share", "Probably active (P(alive) ≥ 50%)",
           "Share of customers whom the BG/NBD model gives a probability of at least 50% of still being a customer.",
           "share", PERIOD_AS_OF, "crm_core.clv.fit_clv"),
    Metric("bought_recently_share", "Bought in the last 90 days",
           "Share of customers whose last order is at most 90 days before the end of the period (observed, no model).",
           "share", PERIOD_AS_OF, "crm_core.customers.summarize"),
    Metric("lapsed_share", "Lapsed (no order for more than {gap} days)",
           "Share of customers whose last order is more than {gap} days before the end of the period.",
           "share", PERIOD_AS_OF, "crm_core.retention.lifecycle"),
    Metric("clv_cac", "Predicted value : acquisition cost (CLV:CAC)",
           "Mean predicted value of a channel's new customers (next {months} months, at the view's margin) divided "
           "by the channel's marketing spend per new customer. Without a forecast it is not shown: revenue to date "
           "is not a lifetime value.", "ratio", PERIOD_VIEW, "crm_core.kpis_relationship.clv_cac"),
    # Overview: relationship health
    Metric("retention_rate", "Retention rate",
           "Share of the previous period's customers who bought again in this period.",
           "share", PERIOD_VIEW, "crm_core.kpis.relationship_snapshot"),
    Metric("churn_rate", "Churn rate",
           "1 − retention rate: share of the previous period's customers who did not buy again in this period.",
           "share", PERIOD_VIEW, "crm_core.kpis.relationship_snapshot"),
    Metric("cac", "CAC",
           "Customer acquisition cost: marketing spend in the period divided by the new customers it acquired "
           "(needs the marketing-spend and customers tables).", "money", PERIOD_VIEW, "crm_core.kpis.relationship_snapshot"),
    # Interactions (support contacts)
    Metric("contacts", "Support contacts", "Support contacts of any channel in the period, one per row of the "
           "interactions table.", "count", PERIOD_VIEW, "crm_core.interactions.headline"),
    Metric("csat_mean", "CSAT (1-5)",
           "Customer satisfaction: mean 1-5 rating of the support contacts that were rated (unrated contacts are "
           "left out).",
           "score", PERIOD_VIEW, "crm_core.interactions.headline"),
    Metric("complaint_share", "Complaint rate",
           "Share of support contacts that are complaints: the reason mentions a complaint, or the contact was "
           "rated 2 or less out of 5.", "share", PERIOD_VIEW, "crm_core.interactions.headline"),
    Metric("service_cost", "Cost to serve", "Recorded cost of the support contacts in the period (a contact without "
           "a recorded cost counts as 0).", "money", PERIOD_VIEW, "crm_core.interactions.headline"),
    # Customer 360: one customer
    Metric("customer.revenue", "Revenue (customer)", "The customer's purchases in the period, net of returns.",
           "money", PERIOD_VIEW, "crm_core.customer360.customer_view"),
    Metric("customer.orders", "Orders (customer)", "The customer's distinct orders with amount >= 0 in the "
           "period.", "count", PERIOD_VIEW, "crm_core.customer360.customer_view"),
    Metric("customer.aov", "AOV (customer)", "Average order value: the customer's revenue divided by their orders.",
           "money", PERIOD_VIEW, "crm_core.customer360.customer_view"),
    Metric("customer.recency_days", "Days since last purchase", "Days from the customer's last order line to the end "
           "of the period.", "days", PERIOD_AS_OF, "crm_core.customer360.customer_view"),
    Metric("customer.segment", "RFM segment", "The customer's RFM segment under the view's score levels and rules "
           "(Segments page).", "text", PERIOD_AS_OF, "crm_core.rfm.score_customers"),
    Metric("customer.tier", "Value tier", "The customer's value tier under the view's tier rule (Portfolio page).",
           "text", PERIOD_VIEW, "crm_core.portfolio.assign_tiers"),
    Metric("customer.predicted_value", "Next 12 months",
           "Predicted revenue: expected (discounted) spend of this customer over the next 52 weeks from the "
           "lifetime-value models (BG/NBD × Gamma-Gamma), fitted on every order up to the end of the period.",
           "money", PERIOD_FORECAST, "crm_core.clv.fit_clv"),
    Metric("customer.p_alive", "Probability still active",
           "The lifetime-value model's estimate that this customer has not quietly left. Shown as – for customers "
           "who never came back after their first purchase day: without a repeat purchase the model has nothing "
           "to judge by.", "share", PERIOD_AS_OF, "crm_core.clv.fit_clv"),
    Metric("customer.contacts", "Contacts (customer)", "The customer's support contacts in the period.",
           "count", PERIOD_VIEW, "crm_core.customer360.interactions_summary"),
    Metric("customer.csat_mean", "CSAT (customer, 1-5)",
           "Mean 1-5 rating of the customer's rated support contacts.", "score", PERIOD_VIEW,
           "crm_core.customer360.interactions_summary"),
    Metric("customer.service_cost", "Cost to serve (customer)",
           "Recorded cost of the customer's support contacts (none recorded: –).", "money", PERIOD_VIEW,
           "crm_core.customer360.interactions_summary"),
    # Actions: campaign what-if (projections under the manager's assumptions, not observed)
    Metric("campaign.contacted", "Customers contacted", "Customers on the target list (the chosen segments or value "
           "bands).", "count", PERIOD_CAMPAIGN, "crm_core.actions.campaign_what_if"),
    Metric("campaign.responders", "Expected responders", "Customers contacted × response rate: an expected "
           "number, shown to the nearest whole customer.", "estimate",
           PERIOD_CAMPAIGN, "crm_core.actions.campaign_what_if"),
    Metric("campaign.extra_revenue", "Extra revenue",
           "Responders × extra spend per responder (a fixed amount, or a % of each one's baseline value).",
           "money", PERIOD_CAMPAIGN, "crm_core.actions.campaign_what_if"),
    Metric("campaign.extra_margin", "Extra margin", "Extra revenue × gross margin.", "money",
           PERIOD_CAMPAIGN, "crm_core.actions.campaign_what_if"),
    Metric("campaign.cost", "Campaign cost", "Customers contacted × cost per contact.", "money", PERIOD_CAMPAIGN,
           "crm_core.actions.campaign_what_if"),
    Metric("campaign.net_profit", "Campaign net profit", "Extra margin minus the campaign cost.", "money",
           PERIOD_CAMPAIGN, "crm_core.actions.campaign_what_if"),
    Metric("campaign.roi", "Campaign ROI", "Net profit divided by the campaign cost.", "share", PERIOD_CAMPAIGN,
           "crm_core.actions.campaign_what_if"),
    Metric("campaign.break_even", "Break-even response rate",
           "The response rate at which the extra margin exactly pays the contact cost.", "share", PERIOD_CAMPAIGN,
           "crm_core.actions.campaign_what_if"),
    # Drivers: customers acquired in the period
    Metric("acquired_customers", "Customers acquired",
           "Customers whose first order (earliest with positive revenue) is in the period.", "count", PERIOD_VIEW,
           "crm_core.drivers.customer_profiles"),
    Metric("acquired_repeat_365", "Repeat within a year",
           "Of the acquired customers whose first order is at least 365 days before the end of the period, the "
           "share who placed another order on a later day within 365 days.", "share", PERIOD_VIEW,
           "crm_core.drivers.overall_figures"),
    Metric("acquired_revenue_per_customer", "Revenue per customer",
           "Net revenue (returns subtracted) of the acquired customers from their first order to the end of the "
           "period, divided by them.", "money", PERIOD_VIEW, "crm_core.drivers.overall_figures"),
    Metric("acquired_predicted_per_customer", "Predicted per customer",
           "Predicted revenue per acquired customer: the average over the next 12 months (BG/NBD × Gamma-Gamma, "
           "margin 100%).", "money", "the next 12 months after the period", "crm_core.drivers.predicted_values"),
    # Lifetime value
    Metric("predicted_value_mean", "{value_name} per customer",
           "The predicted total (next {months} months) divided by the customers modelled.", "money", PERIOD_FORECAST,
           "crm_core.clv.pipeline.CLVResult.clv_mean"),
    Metric("expected_purchases_mean", "Expected purchases / customer",
           "Purchase days the BG/NBD model expects per customer over the horizon, averaged over the customers "
           "modelled.", "ratio", PERIOD_FORECAST, "crm_core.clv.fit_clv"),
    Metric("customers_modelled", "Customers modelled", "Customers with at least one purchase up to the end of the "
           "period: the customers the models are fitted on.", "count", PERIOD_HISTORY, "crm_core.clv.fit_clv"),
    Metric("repeat_buyer_share", "Bought more than once", "Share of the customers modelled who bought on more than "
           "one day.", "share", PERIOD_HISTORY, "crm_core.clv.fit_clv"),
    Metric("history_weeks", "History (weeks)", "Weeks from the first customer's first purchase to the end of the "
           "period.", "weeks", PERIOD_HISTORY, "crm_core.clv.fit_clv"),
    Metric("fits_converged", "Fits converged", "Whether both the purchase model and the spend model found their "
           "best parameters (yes) or stopped early (no).", "text", PERIOD_HISTORY, "crm_core.clv.fit_clv"),
    Metric("holdout.actual", "Actual repeat purchases (check)", "Repeat purchase days that happened in the weeks "
           "held back.", "count", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.predicted", "Predicted repeat purchases (check)", "Repeat purchase days the model, fitted on the "
           "earlier orders only, predicted for the weeks held back: an expected number, shown to the nearest whole "
           "purchase.", "estimate", PERIOD_HOLDOUT,
           "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.total_error", "Total error of the check", "(predicted − actual) / actual repeat purchases over "
           "the weeks held back.", "share", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.mae", "Mean absolute error per customer", "Average gap between predicted and actual purchases "
           "of one customer over the weeks held back.", "ratio", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.coverage", "Customers inside their range", "Share of customers whose purchases in the weeks "
           "held back fell inside the range forecast for them. About the range's level (e.g. 80%) means the ranges "
           "are honest.", "share", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.coverage_frequent", "Frequent buyers inside their range", "The same for customers with 3 or "
           "more repeat purchases before the split.", "share", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("holdout.total_inside", "Total inside its range", "Whether the actual total of repeat purchases fell "
           "inside the forecast range of the total.", "text", PERIOD_HOLDOUT, "crm_core.clv.validation.validate_holdout"),
    Metric("lifecycle.repeat_rate", "New customers who bought again", "Share of the period's new customers who "
           "bought on a second day.", "share", PERIOD_VIEW, "crm_core.retention.lifecycle"),
    Metric("lifecycle.won_back", "Won back", "Customers who bought again after more than {gap} days without "
           "buying.", "count", PERIOD_VIEW, "crm_core.retention.lifecycle"),
    # Segments (RFM)
    Metric("median_recency_days", "Median recency (days)", "Median over customers of the days from their "
           "last order line to the scoring date.", "days", PERIOD_AS_OF, "crm_core.rfm.headline"),
    Metric("median_orders", "Median orders", "Median over customers of their distinct orders in the "
           "period.", "ratio", PERIOD_VIEW, "crm_core.rfm.headline"),
    Metric("median_revenue", "Median revenue", "Median over customers of their net revenue in the "
           "period.", "money", PERIOD_VIEW, "crm_core.rfm.headline"),
    Metric("segment.customers", "Customers in segment", "Customers the view's RFM rules put in this segment.",
           "count", PERIOD_VIEW, "crm_core.rfm.segment_profile"),
    Metric("segment.revenue", "Segment revenue", "Net revenue of the segment's customers.", "money", PERIOD_VIEW,
           "crm_core.rfm.segment_profile"),
    Metric("segment.revenue_share", "Revenue share", "The segment's net revenue divided by the net "
           "revenue of all customers.", "share", PERIOD_VIEW, "crm_core.rfm.segment_profile"),
    Metric("segment.mean_revenue", "Mean revenue", "The segment's net revenue divided by its "
           "customers.", "money", PERIOD_VIEW, "crm_core.rfm.segment_profile"),
    # Data: reading a file and appending an export (every row accounted for)
    Metric("ingest.source_lines", "Lines in the file", "Data lines of the file (one per item in exports that list "
           "items); the items of one order are merged into one row.", "count", PERIOD_FILE,
           "crm_core.ingest.read_orders"),
    Metric("ingest.rows_read", "Rows read", "Order rows read from the file: rows kept + rows rejected.", "count",
           PERIOD_FILE, "crm_core.ingest.read_orders"),
    Metric("ingest.rows_kept", "Rows kept", "Rows whose every value was read exactly.", "count", PERIOD_FILE,
           "crm_core.ingest.read_orders"),
    Metric("ingest.rows_rejected", "Rows rejected", "Rows left out, each with its line and reason (download them "
           "below).", "count", PERIOD_FILE, "crm_core.ingest.read_orders"),
    Metric("ingest.duplicates", "Exact duplicates (kept)", "Rows identical to an earlier row in every column; they "
           "are kept and counted, not dropped.", "count", PERIOD_FILE, "crm_core.ingest.read_orders"),
    Metric("ingest.returns", "Returns (negative amounts)", "Kept rows with a negative amount: returns and refunds, "
           "subtracted from revenue.", "count", PERIOD_FILE, "crm_core.ingest.read_orders"),
    Metric("append.new_orders", "New orders added", "Orders of the appended export not yet in the dataset.",
           "count", PERIOD_FILE, "crm_core.workspace.Workspace.append_export"),
    Metric("append.changed_orders", "Changed orders", "Orders already in the dataset whose lines differ in the "
           "appended export; the new version replaces the old.", "count", PERIOD_FILE,
           "crm_core.workspace.Workspace.append_export"),
    Metric("append.duplicate_orders", "Duplicate orders (skipped)", "Orders of the appended export identical to "
           "orders already in the dataset.", "count", PERIOD_FILE, "crm_core.workspace.Workspace.append_export"),
    # Scorecard (a self-assessment, not computed from orders alone)
    Metric("maturity.{model}", "{model}", "{description} Score out of 100 from the evidence in the data and your "
           "answers; {assessed} of {steps} steps assessed.", "text", "the data loaded and your latest answers",
           "crm_core.scorecard.model_scores"),
)

CATALOGUE: dict[str, Metric] = {metric.id: metric for metric in _METRICS}


def metric(metric_id: str) -> Metric:
    """The catalogue entry of ``metric_id``; ``tier.<name>.x`` and ``maturity.<model>`` resolve to their templates."""
    if metric_id.startswith("tier.") and metric_id.count(".") >= 2:
        return CATALOGUE["tier.{tier}." + metric_id.rsplit(".", 1)[1]]
    if metric_id.startswith("maturity.") and metric_id not in CATALOGUE:
        return CATALOGUE["maturity.{model}"]
    return CATALOGUE[metric_id]


def predicted_value_words(settings: AnalysisSettings) -> dict[str, str]:
    """Template values naming the forecast for the view's margin and horizon."""
    in_revenue = settings.margin >= 1
    return {
        "value_name": "Predicted revenue" if in_revenue else "Predicted margin",
        "value_kind": "revenue" if in_revenue else "margin",
        "months": str(settings.horizon_months),
        "margin_pct": fmt.share(settings.margin, 0),
        "rate_pct": fmt.share(settings.discount_rate, 0),
    }


@dataclass(frozen=True)
class Figure:
    """One computed headline figure (the report's ``figures`` JSON entry)."""

    id: str
    label: str
    value: float | int | None
    unit: str
    definition: str
    period: str

    def formatted(self, currency: str = "", locale: str = "en") -> str:
        return fmt.value(self.value, self.unit, currency, locale)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def figure(metric_id: str, value: float | int | None, period: str, **words: str) -> Figure:
    """A :class:`Figure` for ``metric_id`` with the catalogue's label and definition."""
    entry = metric(metric_id)
    return Figure(metric_id, entry.label.format(**words), value, entry.unit, entry.definition.format(**words),
                  period or entry.period.format(**words))


def predicted_value_total(tx: pl.LazyFrame, settings: AnalysisSettings,
                          calibration_end: dt.date | None = None) -> tuple[float | None, Any]:
    """(sum of predicted customer value, the CLV fit) on ``tx`` with the view's horizon, margin and rate.

    The total is rounded to cents and is None when spend could not be modelled.
    Raises ValueError when the model cannot be fitted.
    """
    from crm_core.clv import fit_clv

    result = fit_clv(tx, settings.clv_settings(calibration_end))
    return predicted_total(result), result


def forecast_orders(history: pl.LazyFrame, end: dt.date | None) -> pl.LazyFrame:
    """The orders a forecast is fitted on: every order of the view up to the period's end.

    Earlier orders count too (the models need each customer's whole history), so the
    forecast is the same on the Lifetime page, in the report and from the ``clv`` command.
    """
    from crm_core.customers import filter_period

    return filter_period(history, None, end)


def predicted_total(result: Any) -> float | None:
    """Sum of the finite predicted customer values of a CLV fit, in cents precision (None if none)."""
    values = result.customers["clv"]
    finite = values.filter(values.is_finite())
    return round(float(finite.sum()), 2) if finite.len() else None


def headline_figures(tx: pl.LazyFrame, settings: AnalysisSettings, start: dt.date, end: dt.date,
                     history: pl.LazyFrame | None = None, with_forecast: bool = True,
                     summary: pl.LazyFrame | None = None, forecast: Callable[[], Any] | None = None) -> list[Figure]:
    """The headline figures of the view's transactions ``tx`` (already filtered to ``start..end``).

    Values come from :func:`crm_core.portfolio.portfolio_report` and
    :func:`predicted_value_total`, exactly as the ``portfolio`` and ``clv``
    commands print them. The forecast is fitted on ``history`` (the view's
    orders before the period too; default ``tx``) up to ``end``; its value is
    None when it cannot be fitted. A caller that has them already passes
    ``summary`` (``summarize(tx)``) and ``forecast`` (returns that same fit, raises
    ValueError when it cannot be made).
    """
    from crm_core.portfolio import portfolio_report

    period = fmt.period(start, end)
    report = portfolio_report(tx, settings.tier_settings(), summary=summary)
    figures = [figure(key, report[key], period)
               for key in ("customers", "revenue", "top20_revenue_share", "gini", "customer_share_for_80pct_revenue")]
    for name, row in report["tiers"].items():
        figures.append(figure(f"tier.{name}.customers", row["customers"], period, tier=name))
        figures.append(figure(f"tier.{name}.revenue", row["revenue"], period, tier=name))
    if with_forecast:
        words = predicted_value_words(settings)
        try:
            if forecast is not None:
                total = predicted_total(forecast())
            else:
                total, _ = predicted_value_total(forecast_orders(history if history is not None else tx, end), settings, end)
        except ValueError:
            total = None
        figures.append(figure("predicted_value_total", total, "", **words))
    return figures


def catalogue_markdown() -> str:
    """docs/metrics.md's table, generated from the catalogue (a test keeps the file in step)."""
    lines = ["| id | label | unit | period | definition | computed by |", "|---|---|---|---|---|---|"]
    words = {"tier": "<name>", "months": "12", "gap": "<gap>", "value_name": "Predicted revenue (margin 100%) / "
             "Predicted margin", "value_kind": "revenue or margin", "margin_pct": "<margin>", "rate_pct": "<rate>",
             "model": "<model>", "description": "<what the model assesses>.", "assessed": "<n>", "steps": "<steps>"}
    for entry in _METRICS:
        row = (entry.id.format(**words), entry.label.format(**words), entry.unit, entry.period.format(**words),
               entry.definition.format(**words), f"`{entry.computed_by}`")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


DOCS_MARKER = "<!-- generated by crm_core.metrics.catalogue_markdown(); tests/test_metrics.py keeps it in step -->"


def update_docs(text: str) -> str:
    """``text`` (docs/metrics.md) with the table after :data:`DOCS_MARKER` replaced by the catalogue's."""
    before, marker, after = text.partition(DOCS_MARKER)
    if not marker:
        raise ValueError("docs/metrics.md has lost its catalogue marker")
    table_end = after.find("\n\n")
    rest = after[table_end + 1:] if table_end >= 0 else ""
    return f"{before}{marker}\n{catalogue_markdown()}{rest}"


if __name__ == "__main__":  # python -m crm_core.metrics: rewrite docs/metrics.md from the catalogue
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
    docs.write_text(update_docs(docs.read_text()))
