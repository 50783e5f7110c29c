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
from typing import Any, Literal

import polars as pl

from crm_core import format as fmt
from crm_core.settings import AnalysisSettings

Unit = Literal["money", "share", "count", "ratio", "months", "days"]

PERIOD_VIEW = "the analysed period"
PERIOD_FORECAST = "the next {months} months after the period"
PERIOD_AS_OF = "at the end of the analysed period"


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
        'money', 'share' (0-1), 'count', 'ratio', 'months' or 'days'.
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
)

CATALOGUE: dict[str, Metric] = {metric.id: metric for metric in _METRICS}


def metric(metric_id: str) -> Metric:
    """The catalogue entry of ``metric_id``; ``tier.<name>.x`` resolves to its template."""
    if metric_id.startswith("tier.") and metric_id.count(".") >= 2:
        return CATALOGUE["tier.{tier}." + metric_id.rsplit(".", 1)[1]]
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
                     history: pl.LazyFrame | None = None, with_forecast: bool = True) -> list[Figure]:
    """The headline figures of the view's transactions ``tx`` (already filtered to ``start..end``).

    Values come from :func:`crm_core.portfolio.portfolio_report` and
    :func:`predicted_value_total`, exactly as the ``portfolio`` and ``clv``
    commands print them. The forecast is fitted on ``history`` (the view's
    orders before the period too; default ``tx``) up to ``end``; its value is
    None when it cannot be fitted.
    """
    from crm_core.portfolio import portfolio_report

    period = fmt.period(start, end)
    report = portfolio_report(tx, settings.tier_settings())
    figures = [figure(key, report[key], period)
               for key in ("customers", "revenue", "top20_revenue_share", "gini", "customer_share_for_80pct_revenue")]
    for name, row in report["tiers"].items():
        figures.append(figure(f"tier.{name}.customers", row["customers"], period, tier=name))
        figures.append(figure(f"tier.{name}.revenue", row["revenue"], period, tier=name))
    if with_forecast:
        words = predicted_value_words(settings)
        try:
            total, _ = predicted_value_total(forecast_orders(history if history is not None else tx, end), settings, end)
        except ValueError:
            total = None
        figures.append(figure("predicted_value_total", total, "", **words))
    return figures


def catalogue_markdown() -> str:
    """docs/metrics.md's table, generated from the catalogue (a test keeps the file in step)."""
    lines = ["| id | label | unit | period | definition | computed by |", "|---|---|---|---|---|---|"]
    words = {"tier": "<name>", "months": "12", "gap": "<gap>", "value_name": "Predicted revenue (margin 100%) / "
             "Predicted margin", "value_kind": "revenue or margin", "margin_pct": "<margin>", "rate_pct": "<rate>"}
    for entry in _METRICS:
        row = (entry.id.format(tier="<name>"), entry.label.format(**words), entry.unit, entry.period.format(**words),
               entry.definition.format(**words), f"`{entry.computed_by}`")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"
