"""Key findings: one headline sentence computed from the data, the data of its chart and a table.

A finding carries data (Polars frames and plain values), a headline, a
takeaway (``detail``) and a chart id; :mod:`crm_core.charts.registry` draws
it (Plotly for the app and the report, a native chart for PowerPoint). No
drawing happens here. The deck (:mod:`crm_core.deck`), meeting mode and the
report show them. Each finding is a function ``(context) -> Finding | None``
in :data:`REGISTRY`; it returns ``None`` when the data it needs is missing
(e.g. too few customers).

Findings call the analysis modules (:mod:`crm_core.kpis`,
:mod:`crm_core.portfolio`, :mod:`crm_core.rfm`, :mod:`crm_core.clv`) on the
per-customer summary of :mod:`crm_core.customers`, computed once per context.
When the lifetime-value model cannot be trusted (too little data) the value
and at-risk findings fall back to model-free versions and say so.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import polars as pl

from crm_core.customers import filter_period, summarize
from crm_core.dataset import Dataset
from crm_core import format as fmt
from crm_core.drivers import drivers_finding
from crm_core.format import PLAIN, NumberStyle
from crm_core.offers import depth_finding
from crm_core.schema import C
from crm_core.sums import exact_sum, exact_total
from crm_core.settings import AnalysisSettings
from crm_core.text_columns import Formatted, select_formatted
from crm_core.worker import hand_back_memory


@dataclass(frozen=True)
class FindingSettings:
    """Choices behind the findings (defaults suit most shops).

    Attributes
    ----------
    start, end
        Period analysed (inclusive); ``None`` = the whole history.
    horizon_months
        Horizon of the predicted customer value.
    overdue_factor
        Used only when the lifetime-value model cannot be fitted: a repeat
        customer is "at risk" when the days since their last order exceed
        this many times their usual gap between purchase days.
    currency
        Currency of money figures: a code ("EUR") or a symbol ("$"); empty = the analysis settings' currency,
        if any. Figures follow the analysis settings' locale (see :attr:`style`).
    analysis
        The manager's settings: tiers, RFM rules, margin and discount rate of the forecast.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    horizon_months: int = 12
    overdue_factor: float = 2.0
    currency: str = ""
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    @classmethod
    def from_analysis(cls, analysis: AnalysisSettings, start: dt.date | None, end: dt.date | None,
                      currency: str = "") -> FindingSettings:
        """Findings settings built from the manager's settings (one source for every output)."""
        return cls(start=start, end=end, horizon_months=analysis.horizon_months, currency=currency, analysis=analysis)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (dates as ISO text), for deck entries and speaker notes."""
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "horizon_months": self.horizon_months, "overdue_factor": self.overdue_factor,
                "currency": self.currency, "analysis": self.analysis.to_dict()}

    @property
    def style(self) -> NumberStyle:
        """How figures are written: this currency (else the analysis settings' one) and the settings' locale."""
        return NumberStyle(self.currency or self.analysis.currency, self.analysis.locale)

    def describe(self) -> list[tuple[str, str]]:
        """The settings in a manager's words, as (setting, value) rows (report title page, speaker notes)."""
        analysis = self.analysis
        style = self.style
        tiers = analysis.tiers
        cuts = ("top " + " / ".join(style.share(share, 0) for share in tiers.shares) if tiers.amounts is None
                else "from " + " / ".join(style.money(amount, 0) for amount in tiers.amounts))
        return [
            ("Tiers", f"{', '.join(tiers.names)} by {tiers.by} ({cuts} of customers)" if tiers.amounts is None
             else f"{', '.join(tiers.names)} by {tiers.by} ({cuts})"),
            ("RFM segments", (f"scores 1 to {analysis.rfm.bins}, "
                              f"{'default' if analysis.rfm.rules is None else 'edited'} rule table")),
            ("Margin", f"{style.share(analysis.margin, 0)} of revenue"),
            ("Predicted value", (f"next {self.horizon_months} months, discounted at "
                                 f"{style.share(analysis.discount_rate, 0)} a year")),
            ("Cost to serve", (f"{style.money(analysis.cost_to_serve.per_contact, 2)} per contact, "
                               f"{style.money(analysis.cost_to_serve.per_return, 2)} per returned line")),
            ("Overdue (without the lifetime-value model)", f"over {self.overdue_factor:g}× a customer's usual gap"),
            ("Currency", self.currency or analysis.currency or "as in the data (no symbol)"),
        ]

    def filters_text(self) -> str:
        """'Channel: Web; Region / country: DE' or 'none (all orders and customers)'."""
        from crm_core.settings import FILTER_LABELS

        filters = self.analysis.filter_map
        if not filters:
            return "none (all orders and customers)"
        return "; ".join(f"{FILTER_LABELS.get(column, column)}: {', '.join(values)}" for column, values in filters.items())

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FindingSettings:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, bad values raise ValueError."""
        def day(text: Any) -> dt.date | None:
            return dt.date.fromisoformat(str(text)) if text else None

        defaults = cls()
        analysis = AnalysisSettings.from_dict(values["analysis"]) if values.get("analysis") else AnalysisSettings()
        return cls(start=day(values.get("start")), end=day(values.get("end")),
                   horizon_months=int(values.get("horizon_months", defaults.horizon_months)),
                   overdue_factor=float(values.get("overdue_factor", defaults.overdue_factor)),
                   currency=str(values.get("currency") or ""), analysis=analysis)


@dataclass(frozen=True)
class Finding:
    """One key finding: what a manager should remember from one screen."""

    key: str
    title: str
    headline: str
    chart: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    table: pl.DataFrame | None = None
    detail: str = ""
    method: str = ""
    source: str = "customer summary"
    area: str = ""

    @property
    def takeaway(self) -> str:
        """What to do or remember (shown under the chart)."""
        return self.detail


#: ``slicer(tx, build)``: ``build(tx).collect()`` for a ``build`` that makes each customer's row from that
#: customer's rows alone (see :func:`crm_core.commands.common.per_customer`, which builds it slice by slice
#: of customers when the rows are many and on disk).
Slicer = Callable[[pl.LazyFrame, Callable[[pl.LazyFrame], pl.LazyFrame]], pl.DataFrame]


def whole(tx: pl.LazyFrame, build: Callable[[pl.LazyFrame], pl.LazyFrame]) -> pl.DataFrame:
    """The default :data:`Slicer`: every customer at once."""
    return build(tx).collect()


#: The columns of the forecast's customer table that the findings read (at-risk lists, value tiers, the action plan).
FORECAST_COLUMNS = (C.CUSTOMER_ID, "clv", "p_alive", "value_low", "value_high", "expected_purchases", "purchases_low",
                    "purchases_high", "frequency", "last_purchase_date", "usual_gap_days", "overdue", "next_order_date",
                    "revenue")


#: The columns of those held while the findings run, with rows on disk (many customers): the at-risk list, which
#: reads the others, is drawn when the fit is made (:attr:`FindingContext.forecast`).
HELD_FORECAST_COLUMNS = (C.CUSTOMER_ID, "clv", "p_alive", "expected_purchases", "revenue")


@dataclass
class FindingContext:
    """What every finding reads; the customer summary is computed once, lazily."""

    dataset: Dataset
    settings: FindingSettings = field(default_factory=FindingSettings)
    precomputed_summary: pl.DataFrame | None = None
    #: :func:`crm_core.drivers.customer_profiles` of the customers acquired in the period, when the caller has them.
    precomputed_profiles: pl.DataFrame | None = None
    #: How per-customer tables (summary, CLV statistics, first-order profiles) are built from the rows.
    slicer: Slicer = whole
    #: Slices of customers that totals over many rows (KPIs, retention) are counted in, one at a time
    #: (see :func:`crm_core.customers.customer_totals`); 1 when the rows are in memory.
    slices: int = 1
    #: The at-risk list (:func:`crm_core.clv.at_risk_customers`), drawn with the fit when the context keeps only
    #: some of its columns (rows on disk, see :attr:`forecast`); None: drawn by the finding.
    at_risk_list: pl.DataFrame | None = field(default=None, init=False, repr=False)

    @cached_property
    def period(self) -> tuple[dt.date, dt.date]:
        """The analysed period, clamped to the data."""
        bounds = self.dataset.transactions.select(
            pl.col(C.ORDER_DATE).min().alias("first"), pl.col(C.ORDER_DATE).max().alias("last")
        ).collect().row(0)
        start = max(self.settings.start or bounds[0], bounds[0])
        end = min(self.settings.end or bounds[1], bounds[1])
        return start, end

    @cached_property
    def transactions(self) -> pl.LazyFrame:
        """Transactions inside the period."""
        return filter_period(self.dataset.transactions, *self.period)

    @cached_property
    def forecast(self) -> Any:
        """The lifetime-value fit on each customer's whole history up to the period end (as the Lifetime page,
        the clv command and the headline figure ``predicted_value_total``); raises ValueError when it cannot be fitted."""
        from crm_core.clv import fit_clv, months_to_weeks

        settings = replace(self.settings.analysis.clv_settings(self.period[1]),
                           horizon_weeks=months_to_weeks(self.settings.horizon_months))
        orders = filter_period(self.dataset.transactions, None, self.period[1])
        result = fit_clv(orders, settings, per_customer=lambda build: self.slicer(orders, build))
        if self.slicer is whole:
            return result
        # Many customers (rows on disk): the columns the findings read alone, held while the findings run. The
        # at-risk list is drawn now (the one finding that reads the other columns, for its few customers), and
        # the table kept holds only what the value, at-risk and action findings and the headline figures read.
        from crm_core.clv import AtRiskSettings, at_risk_customers

        result = replace(result, customers=result.customers.select(FORECAST_COLUMNS))
        self.at_risk_list = at_risk_customers(result, AtRiskSettings())
        result = replace(result, customers=result.customers.select(HELD_FORECAST_COLUMNS))
        hand_back_memory()
        return result

    @cached_property
    def clv(self) -> tuple[Any | None, str]:
        """The lifetime-value fit of the period, or (None, why not) when it is unreliable."""
        from crm_core.clv import sufficiency_problems

        summary = self.summary
        if summary.height == 0:
            return None, "there are no customers in the period."
        history_days = (self.period[1] - summary["first_date"].min()).days
        problems = sufficiency_problems(summary.height, history_days, float((summary["purchase_days"] >= 2).mean()))
        if problems:  # known to be unreliable: skip the fit
            return None, problems[0]
        try:
            result = self.forecast
        except ValueError as error:
            return None, str(error)
        if not result.reliable or not result.customers["clv"].is_finite().any():
            return None, result.problems[0] if result.problems else "no customer value could be predicted."
        return result, ""

    @cached_property
    def summary(self) -> pl.DataFrame:
        """Per-customer summary of the period, as of its end."""
        if self.precomputed_summary is not None:
            return self.precomputed_summary
        return self.slicer(self.transactions, lambda rows: summarize(rows, as_of=self.period[1]))

    @cached_property
    def customers(self) -> int:
        """Customers in the period (the summary's rows), kept when the summary is released."""
        return self.summary.height

    @property
    def releases_tables(self) -> bool:
        """Whether :func:`key_findings` drops the per-customer tables once the findings that read them are made
        (rows on disk, many customers: see :meth:`release`)."""
        return self.slicer is not whole

    def release(self, *names: str) -> None:
        """Drop the cached tables ``names`` (``"forecast"``: the lifetime-value fit; ``"summary"``: the customer
        summary), keeping the customer count. A finding that reads one afterwards builds it again."""
        _ = self.customers
        for name in names:
            if name == "forecast":
                self.__dict__.pop("clv", None)
                self.at_risk_list = None
            self.__dict__.pop(name, None)
        hand_back_memory()

    @property
    def style(self) -> NumberStyle:
        """The manager's currency and locale, for every figure a finding writes."""
        return self.settings.style

    def money(self, value: Any) -> str:
        return self.style.money(value)

    def share(self, value: Any) -> str:
        return share(value, self.style)

    def count(self, value: Any) -> str:
        return self.style.count(value)


def money(value: float | None, currency: str = "") -> str:
    """1234567.8 -> '1,234,568' (two decimals under 100)."""
    return fmt.money(value, currency)


def share(value: Any, style: NumberStyle = PLAIN) -> str:
    """0.712 -> '71%' (one decimal under 10%)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return style.share(value, 0 if abs(value) >= 0.1 else 1)


# --- KPIs ---------------------------------------------------------------------


def kpi_finding(ctx: FindingContext) -> Finding | None:
    """Headline KPIs of the period (crm_core.kpis) and the revenue trend."""
    from crm_core.kpis import (
        WINDOW_LABELS,
        comparison_window,
        default_window,
        format_delta,
        format_kpi,
        kpi_comparison,
        kpi_trend,
    )

    start, end = ctx.period
    window = default_window(start, end)
    card_start, card_end = comparison_window(start, end, window)
    comparison = kpi_comparison(ctx.dataset.transactions, card_start, card_end, slices=ctx.slices)
    values = {row["kpi"]: row for row in comparison.iter_rows(named=True)}
    if not values["orders"]["value"]:
        return None
    when = WINDOW_LABELS[window] if window != "whole_period" else f"From {fmt.period(card_start, card_end)}"
    headline = (
        f"{when}: {ctx.count(values['active_customers']['value'])} customers placed "
        f"{ctx.count(values['orders']['value'])} orders "
        f"worth {ctx.money(values['revenue']['value'])}; the average order was {ctx.money(values['aov']['value'])}."
    )
    change = values["revenue"]["delta_pct"]
    detail = (
        f"Revenue is {'up' if change >= 0 else 'down'} {ctx.style.share(abs(change), 0)} on the period before; "
        f"{ctx.share(values['returning_share']['value'])} of the customers who bought had bought before."
        if change is not None else "There is no earlier period of the same length to compare with."
    )
    table = select_formatted(comparison,
        pl.col("label").alias("KPI"),
        Formatted(pl.struct("value", "kind"), lambda r: format_kpi(r["value"], r["kind"], style=ctx.style), "Value"),
        Formatted(pl.struct("delta", "delta_pct", "kind"), lambda r: format_delta(r["delta"], r["delta_pct"], r["kind"]) or "–", "Change vs previous period"),
    )
    trend = kpi_trend(ctx.dataset.transactions, start, end, "month", slices=ctx.slices)
    chart = "kpi_trend" if trend.height >= 2 else None
    method = ("Revenue is net of returns; orders are distinct order ids (else one per customer and day); the period "
              "is compared with the period of equal length just before it.")
    return Finding("kpis", "Headline numbers", headline, chart, {"trend": trend, "kpi": "revenue", "grain": "month"},
                   table, detail, method, source="crm_core.kpis", area="KPIs and trend")


# --- Concentration ------------------------------------------------------------

#: Most points kept for a curve over customers (the shape needs no more).
MAX_CURVE_POINTS = 201
TOP_SHARES = (0.01, 0.05, 0.1, 0.2, 0.5)


def concentration_finding(ctx: FindingContext) -> Finding | None:
    """'The top 20% of customers bring 71% of revenue; 80% of revenue comes from 23% of customers.'"""
    from crm_core.portfolio import (
        _count_for_share,
        concentration,
        pareto_curve,
        pareto_takeaway,
        top_share,
    )

    figures = concentration(ctx.summary)
    if figures.top20_share is None or figures.customers < 5:
        return None
    n = figures.customers
    table = pl.DataFrame({
        "Top customers": [f"Top {ctx.style.share(s, 0)}" for s in TOP_SHARES],
        "Customers": [_count_for_share(s, n) for s in TOP_SHARES],  # the portfolio module's rounding rule
        "Share of revenue": [ctx.share(top_share(ctx.summary, s)) for s in TOP_SHARES],
    })
    data = {"curve": pareto_curve(ctx.summary, max_points=MAX_CURVE_POINTS), "figures": figures, "style": ctx.style}
    method = ("Customers are ranked by net revenue in the period, best first; the top X% are the ⌈X% × customers⌉ "
              "best. The curve shows the share of revenue they bring; the diagonal is what equal spending would give.")
    return Finding("concentration", "Revenue concentration", pareto_takeaway(figures, style=ctx.style), "pareto", data, table,
                   "Losing one of the top customers costs far more than losing an average one.", method,
                   source="crm_core.portfolio", area="Concentration")


# --- Tiers --------------------------------------------------------------------


def tiers_finding(ctx: FindingContext) -> Finding | None:
    """'Platinum: 1% of customers (50) bring 22% of revenue; Lead: 80% of customers bring 26%.'"""
    from crm_core.portfolio import assign_tiers, pyramid_takeaway, tier_summary

    if ctx.summary.height < 20 or ctx.summary["revenue"].sum() <= 0:
        return None
    settings = ctx.settings.analysis.tier_settings()
    # The columns the tiers read alone: ranking moves them for every customer, not the whole summary.
    needed = [C.CUSTOMER_ID, "revenue", settings.value, "margin"]
    tiers = tier_summary(assign_tiers(ctx.summary.select(n for n in dict.fromkeys(needed) if n in ctx.summary.columns),
                                      settings), settings)
    table = select_formatted(tiers,
        pl.col("tier").alias("Tier"),
        pl.col("customers").alias("Customers"),
        Formatted(pl.col("customer_share"), ctx.share, "Share of customers"),
        Formatted(pl.col("revenue"), ctx.money, "Revenue"),
        Formatted(pl.col("revenue_share"), ctx.share, "Share of revenue"),
        Formatted((pl.col("revenue") / pl.col("customers")), ctx.money, "Revenue per customer"),
    )
    return Finding("tiers", "Customer tiers", pyramid_takeaway(tiers, style=ctx.style), "tier_pyramid", {"tiers": tiers, "style": ctx.style},
                   table, "Serve each tier at a cost that matches what it brings.", settings.describe(ctx.style),
                   source="crm_core.portfolio", area="Tiers and migration")


# --- Segments -----------------------------------------------------------------


def segment_table(scored: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Customers and revenue per segment in rule order (empty segments left out), with shares."""
    n, total = scored.height, exact_total(scored["revenue"])
    per_segment = scored.group_by("segment").agg(pl.len().alias("customers"), exact_sum(pl.col("revenue")))
    order = pl.DataFrame({"segment": names, "order": list(range(len(names)))})
    return (
        order.join(per_segment, on="segment", how="inner")
        .sort("order")
        .select(
            "segment",
            pl.col("customers").cast(pl.Int64),
            "revenue",
            (pl.col("customers") / n).alias("customer_share"),
            (pl.col("revenue") / total).alias("revenue_share"),
        )
    )


def segments_finding(ctx: FindingContext) -> Finding | None:
    """'Champions (12% of customers) bring 45% of revenue.'"""
    from crm_core.rfm import score_customers

    if ctx.summary.height < 20 or ctx.summary["revenue"].sum() <= 0:
        return None
    settings = ctx.settings.analysis.rfm_settings()
    scored = score_customers(ctx.summary, settings).select("segment", "revenue").collect()
    table = segment_table(scored, settings.segment_names)
    top = table.sort("revenue_share", descending=True).row(0, named=True)
    headline = (f"{top['segment']} ({ctx.share(top['customer_share'])} of customers) bring "
                f"{ctx.share(top['revenue_share'])} of revenue.")
    slipping = table.filter(pl.col("segment").is_in(["At Risk", "Can't Lose Them"]))
    detail = (f"{ctx.count(slipping['customers'].sum())} customers are in At Risk or Can't Lose Them: they used to buy often "
              "and have not bought for a while." if slipping.height else "")
    rules = "the default rule table" if settings.rules is None else "the edited rule table"
    method = (f"RFM: recency, frequency and monetary value are each scored 1 to {settings.bins} (best = {settings.bins}) "
              f"from the share of customers with a worse value; {rules} of the Segments page names the segments.")
    data = {"table": table, "group": "segment", "title": "RFM segments: customers vs revenue"}
    return Finding("segments", "Customer segments", headline, "share_bars", data,
                   _share_table(table, "segment", "Segment", ctx), detail, method, source="crm_core.rfm",
                   area="Segments")


def _share_table(frame: pl.DataFrame, column: str, label: str, ctx: FindingContext) -> pl.DataFrame:
    return select_formatted(frame,
        pl.col(column).alias(label),
        pl.col("customers").alias("Customers"),
        Formatted(pl.col("customer_share"), ctx.share, "Share of customers"),
        Formatted(pl.col("revenue"), ctx.money, "Revenue"),
        Formatted(pl.col("revenue_share"), ctx.share, "Share of revenue"),
    )


# --- Customer value -----------------------------------------------------------


def value_deciles(summary: pl.DataFrame) -> pl.DataFrame:
    """Average revenue per customer in each tenth of customers (1 = best).

    Customers are ranked by revenue (ties by id); decile d holds ranks with
    ceil(10 * rank / n) = d. Columns: decile (label "Top 10%", "10-20%", ...),
    customers, average_revenue.
    """
    decile = (pl.int_range(1, pl.len() + 1) * 10 / pl.len()).ceil().cast(pl.Int32)
    frame = (
        summary.lazy()
        .sort(["revenue", C.CUSTOMER_ID], descending=[True, False])
        .with_columns(decile.alias("d"))
        .group_by("d")
        .agg(pl.len().alias("customers"), pl.col("revenue").mean().alias("average_revenue"))
        .sort("d")
        .collect()
    )
    labels = {1: "Top 10%", **{d: f"{(d - 1) * 10}-{d * 10}%" for d in range(2, 11)}}
    return frame.select(pl.col("d").replace_strict(labels, return_dtype=pl.String).alias("decile"), "customers", "average_revenue")


def value_finding(ctx: FindingContext) -> Finding | None:
    """Predicted value (CLV) when the model is reliable, else value to date by tenth of customers."""
    result, why_not = ctx.clv
    if result is not None:
        return _predicted_value_finding(ctx, result)
    if ctx.summary.height < 10:
        return None
    deciles = value_deciles(ctx.summary)
    average = ctx.summary["revenue"].mean()
    top = deciles.row(0, named=True)["average_revenue"]
    bottom_half = ctx.summary["revenue"].sort(descending=True).tail(ctx.summary.height // 2).mean()
    ratio = f", {ctx.style.number(top / bottom_half)} times the bottom half" if bottom_half and bottom_half > 0 else ""
    headline = f"The average customer spent {ctx.money(average)} in the period; the top 10% averaged {ctx.money(top)}{ratio}."
    table = select_formatted(deciles,
        pl.col("decile").alias("Customers ranked by value"),
        pl.col("customers").alias("Customers"),
        Formatted(pl.col("average_revenue"), ctx.money, "Average revenue"),
    )
    data = {"table": deciles, "label": "decile", "value": "average_revenue",
            "title": "Average value per tenth of customers", "value_title": "Average revenue"}
    return Finding("value", "Customer value", headline, "value_bars", data, table,
                   f"Value to date: the lifetime-value model was not used because {_lower_first(why_not)}",
                   "Revenue per customer in the period, averaged over each tenth of customers ranked by revenue.",
                   area="Lifetime value")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else "there is too little data."


def _predicted_value_finding(ctx: FindingContext, result: Any) -> Finding:
    from crm_core.clv import fit_takeaway, value_tiers
    from crm_core.metrics import metric, predicted_total, predicted_value_words

    tiers = value_tiers(result.customers)
    total = predicted_total(result)
    months = ctx.settings.horizon_months
    words = {**predicted_value_words(ctx.settings.analysis), "months": str(months)}
    entry = metric("predicted_value_total")
    headline = (f"{entry.label.format(**words)}: {ctx.money(total)}; "
                f"the top 10% of customers hold {ctx.share(tiers['clv_share'][0])} of it.")
    table = select_formatted(tiers,
        pl.col("label").alias("Customers ranked by predicted value"),
        pl.col("customers").alias("Customers"),
        Formatted(pl.col("clv_total"), ctx.money, "Predicted value"),
        Formatted(pl.col("clv_share"), ctx.share, "Share"),
        Formatted(pl.col("clv_mean"), ctx.money, "Per customer"),
        Formatted(pl.col("p_alive_mean"), ctx.share, "Average P(alive)"),
    )
    data = {"table": tiers, "label": "label", "value": "clv_mean",
            "title": f"Predicted value per customer, next {months} months", "value_title": "Average predicted value"}
    method = entry.definition.format(**words)
    return Finding("value", "Customer lifetime value", headline, "value_bars", data, table,
                   fit_takeaway(result, style=ctx.style),
                   method, source="crm_core.clv", area="Lifetime value")


# --- At risk ------------------------------------------------------------------

STATUSES = ("On track", "Overdue", "At risk")
RISK_BANDS = ("Probably active", "Uncertain", "At risk")


def clv_risk_bands(customers: pl.DataFrame, min_clv_quantile: float = 0.75, max_p_alive: float = 0.5,
                   active_from: float = 0.8) -> pl.DataFrame:
    """The most valuable customers (CLV at or above the quantile) by probability of being active.

    Bands: 'Probably active' (P(alive) >= ``active_from``), 'Uncertain', 'At risk'
    (P(alive) < ``max_p_alive``, as in :func:`crm_core.clv.at_risk_customers`).
    Columns: status, customers, revenue (to date), every band present.
    """
    valued = customers.filter(pl.col("clv").is_finite())
    threshold = valued["clv"].quantile(min_clv_quantile, interpolation="linear") if valued.height else 0.0
    band = (
        pl.when(pl.col("p_alive") < max_p_alive).then(pl.lit(RISK_BANDS[2]))
        .when(pl.col("p_alive") >= active_from).then(pl.lit(RISK_BANDS[0]))
        .otherwise(pl.lit(RISK_BANDS[1]))
    )
    counts = (valued.lazy().filter(pl.col("clv") >= threshold).group_by(band.alias("status"))
              .agg(pl.len().alias("customers"), exact_sum(pl.col("revenue"))))
    return (
        pl.LazyFrame({"status": list(RISK_BANDS)})
        .join(counts, on="status", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0))
        .collect()
    )


def repeat_status(summary: pl.DataFrame, overdue_factor: float) -> pl.DataFrame:
    """Repeat customers by how overdue their next purchase is (model-free fallback).

    usual gap = (last_date - first_date) / (purchase_days - 1); a customer is
    'On track' when recency <= usual gap, 'Overdue' up to ``overdue_factor`` x
    the gap, 'At risk' beyond. Returns the repeat customers with columns
    customer_id, revenue, orders, recency_days, usual_gap_days, status.
    """
    gap = (pl.col("last_date") - pl.col("first_date")).dt.total_days() / (pl.col("purchase_days") - 1)
    status = (
        pl.when(pl.col("recency_days") <= pl.col("usual_gap_days")).then(pl.lit(STATUSES[0]))
        .when(pl.col("recency_days") <= overdue_factor * pl.col("usual_gap_days")).then(pl.lit(STATUSES[1]))
        .otherwise(pl.lit(STATUSES[2]))
    )
    return (
        summary.lazy()
        .filter(pl.col("purchase_days") >= 2)
        .select(C.CUSTOMER_ID, "revenue", "orders", "recency_days", gap.alias("usual_gap_days"))
        .with_columns(status.alias("status"))
        .collect()
    )


def at_risk_finding(ctx: FindingContext) -> Finding | None:
    """Valuable customers probably slipping away (CLV model), else repeat customers long overdue."""
    result, why_not = ctx.clv
    if result is not None:
        return _model_at_risk_finding(ctx, result)
    repeaters = repeat_status(ctx.summary, ctx.settings.overdue_factor)
    if repeaters.height < 5:
        return None
    at_risk = repeaters.filter(pl.col("status") == "At risk")
    total, at_risk_revenue = exact_total(ctx.summary["revenue"]), exact_total(at_risk["revenue"])
    headline = (
        f"{ctx.count(at_risk.height)} repeat customers ({ctx.share(at_risk.height / repeaters.height)} of repeat "
        "customers) "
        f"have gone quiet for over {ctx.settings.overdue_factor:g}× their usual gap between purchases; "
        f"they brought {ctx.money(at_risk_revenue)}"
        + (f" ({ctx.share(at_risk_revenue / total)} of revenue)." if total > 0 else ".")
    )
    by_status = (
        pl.LazyFrame({"status": list(STATUSES)})
        .join(repeaters.lazy().group_by("status").agg(pl.len().alias("customers"), exact_sum(pl.col("revenue"))),
              on="status", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0))
        .collect()
    )
    table = select_formatted(at_risk.sort(["revenue", C.CUSTOMER_ID], descending=[True, False]).head(15),
        pl.col(C.CUSTOMER_ID).alias("Customer"),
        Formatted(pl.col("revenue"), ctx.money, "Revenue"),
        pl.col("orders").alias("Orders"),
        pl.col("recency_days").alias("Days since last order"),
        pl.col("usual_gap_days").round(0).cast(pl.Int64).alias("Usual gap (days)"),
    )
    data = {"table": by_status, "title": "Repeat customers: is their next purchase overdue?", "y_title": "Repeat customers"}
    method = ("A repeat customer's usual gap is the time between their first and last purchase divided by the number "
              f"of gaps; overdue beyond that gap, at risk beyond {ctx.settings.overdue_factor:g}× the gap "
              f"(used because the lifetime-value model was not: {_lower_first(why_not)})")
    return Finding("at_risk", "Customers at risk", headline, "status_bars", data, table,
                   "The table lists the most valuable of them: call them first.", method, area="At-risk customers")


def _model_at_risk_finding(ctx: FindingContext, result: Any) -> Finding:
    from crm_core.clv import AtRiskSettings, at_risk_customers, at_risk_takeaway

    settings = AtRiskSettings()
    # Drawn with the fit when the context keeps only some of its columns (rows on disk, see FindingContext.forecast).
    at_risk = ctx.at_risk_list if ctx.at_risk_list is not None else at_risk_customers(result, settings)
    bands = clv_risk_bands(result.customers, settings.min_clv_quantile, settings.max_p_alive)
    table = select_formatted(at_risk.head(15),
        pl.col(C.CUSTOMER_ID).alias("Customer"),
        Formatted(pl.col("predicted_clv"), ctx.money, "Predicted value"),
        Formatted(pl.col("probability_active"), ctx.share, "Chance still active"),
        pl.col("days_since_last_purchase").alias("Days since last purchase"),
        Formatted(pl.col("revenue_to_date"), ctx.money, "Revenue to date"),
    )
    top = f"top {ctx.style.share(1 - settings.min_clv_quantile, 0)}"
    data = {"table": bands, "title": f"The {top} by predicted value: still active?", "y_title": "Customers"}
    method = (f"High value = predicted lifetime value in the {top}; at risk = less than a {ctx.style.share(settings.max_p_alive, 0)} "
              "chance of still being active (BG/NBD), uncertain below 80%.")
    return Finding("at_risk", "Valuable customers at risk", at_risk_takeaway(at_risk, settings, style=ctx.style), "status_bars", data,
                   table, "The table lists the most valuable of them: call them first.", method, source="crm_core.clv",
                   area="At-risk customers")


# --- Tier migration -----------------------------------------------------------


def migration_finding(ctx: FindingContext) -> Finding | None:
    """How customers moved between tiers from the first half of the period to the second."""
    from crm_core.portfolio import (
        migration_matrix,
        migration_takeaway,
        split_period,
        tier_migration,
    )

    start, end = ctx.period
    if (end - start).days < 60 or ctx.customers < 20:
        return None
    settings = ctx.settings.analysis.tier_settings()
    earlier, later = split_period(start, end)
    flows = tier_migration(ctx.transactions, earlier, later, settings,
                           slicer=ctx.slicer if ctx.slicer is not whole else None)
    if flows.height == 0:
        return None
    method = (f"Tiers are assigned separately in {fmt.period(*earlier, '–')} and "
              f"{fmt.period(*later, '–')}, each on that half's own revenue; 'New' bought only in the "
              "second half, 'Lost' only in the first.")
    return Finding("migration", "Tier migration", migration_takeaway(flows, style=ctx.style), "tier_migration",
                   {"flows": flows, "names": settings.names}, migration_matrix(flows, settings),
                   "Customers who moved down are the cheapest to win back: they still know you.", method,
                   source="crm_core.portfolio", area="Tiers and migration")


# --- Retention and cohorts ------------------------------------------------------


def retention_finding(ctx: FindingContext) -> Finding | None:
    """Share of new customers who buy again in the months after their first purchase, by year joined."""
    from crm_core.retention import (
        cohort_retention,
        cohort_takeaway,
        curves_takeaway,
        retention_curves,
    )

    start, end = ctx.period
    curves = retention_curves(ctx.dataset.transactions, None, start, end, max_months=12, slices=ctx.slices)
    if curves.filter(pl.col("months_since") > 0).height < 2:
        return None
    cohorts = cohort_retention(ctx.dataset.transactions, start, end, max_months=12, slices=ctx.slices)
    table = (cohorts.filter(pl.col("months_since").is_in([1, 3, 6, 12]))
             .pivot(on="months_since", index=["cohort", "cohort_size"], values="customer_retention")
             .sort("cohort"))
    table = select_formatted(table,
        pl.col("cohort").dt.strftime("%b %Y").alias("Joined"),
        pl.col("cohort_size").alias("New customers"),
        *[Formatted(pl.col(c), ctx.share, f"Buying in month {c}")
          for c in table.columns[2:]],
    )
    method = ("A customer joins in the month of their first purchase ever; a cohort is everyone who joined in the same "
              "month. Retention in month n = share of the cohort who bought in the n-th month after joining "
              "(only months already observed count).")
    return Finding("retention", "Retention and cohorts", curves_takeaway(curves, style=ctx.style), "retention_curves",
                   {"curves": curves, "group_label": "year of first purchase"}, table,
                   cohort_takeaway(cohorts, style=ctx.style),
                   method, source="crm_core.retention", area="Retention and cohorts")


# --- Action plan ----------------------------------------------------------------


#: The action plan's objective for customers no playbook row matches.
NO_PLAYBOOK_ROW = "(no matching playbook row)"


def action_plan(ctx: FindingContext) -> pl.DataFrame:
    """Customers and revenue per objective of the default playbook, most customers first."""
    from crm_core.actions import default_playbook, objective_totals
    from crm_core.rfm import cell_map, score_customers

    # Each customer's R x F cell (which names their segment: objective_totals names it per cell), revenue and
    # predicted value alone (the value band ranks on it, else on revenue); the totals per objective are counted
    # without a recommendation per customer (objective_totals).
    # In memory, not streamed: the streaming engine returns its morsels as chunks (61 at 3M customers), and the
    # first step over the table with the predicted value beside it (a column in one chunk) copied every column
    # into one (~90 MB at 3M customers, the highest point of the deck and report on 30M orders).
    rfm = ctx.settings.analysis.rfm_settings()
    customers = score_customers(ctx.summary, rfm).select(
        C.CUSTOMER_ID, "revenue", pl.col("r_score").alias("r"), pl.col(rfm.f_column).alias("f"),
    ).collect(engine="in-memory")
    result, _ = ctx.clv
    if result is not None:
        held, clv = result.customers, pl.col("clv").fill_nan(None)
        if held.height == customers.height and held[C.CUSTOMER_ID].equals(customers[C.CUSTOMER_ID]):
            # The same customers in the same order (both built slice by slice, sorted by id): the column set
            # beside, not joined (a left join keeps the left order): 3M customers' join on the id's text took
            # about 400 MB, the highest point of the report and deck on 30M orders.
            customers = customers.with_columns(held.select(clv).to_series())
        else:
            customers = customers.join(held.select(C.CUSTOMER_ID, clv), on=C.CUSTOMER_ID, how="left")
    plan = objective_totals(customers.drop(C.CUSTOMER_ID), default_playbook(), NO_PLAYBOOK_ROW,
                            cells=cell_map(rfm.active_rules, rfm.bins))
    del customers
    return plan.sort(["customers", "objective"], descending=[True, False])


def actions_finding(ctx: FindingContext) -> Finding | None:
    """'The playbook gives 1,234 customers an action; the largest: win back (300 customers).'"""
    if ctx.summary.height < 20:
        return None
    plan = action_plan(ctx)
    top = plan.row(0, named=True)
    headline = (f"The playbook gives each of the {ctx.count(ctx.summary.height)} customers an action; the largest "
                f"job is '{top['objective']}' for {ctx.count(top['customers'])} customers "
                f"({ctx.share(top['customers'] / ctx.summary.height)}).")
    table = select_formatted(plan,
        pl.col("objective").alias("Objective"), pl.col("customers").alias("Customers"),
        Formatted(pl.col("revenue"), ctx.money, "Revenue in the period"),
    )
    data = {"table": plan.head(8), "label": "objective", "value": "customers",
            "title": "Customers per objective of the playbook", "value_title": "Customers"}
    method = ("Each customer gets the most specific row of the default playbook (Actions page): their RFM segment and "
              "value band, else their segment, else any segment. High value = top 20% by predicted value, else revenue.")
    return Finding("actions", "The action plan", headline, "ranked_bars", data, table,
                   "Download the target lists on the Actions page and hand them to the teams.", method,
                   source="crm_core.actions", area="Action plan")


# --- Service and cost -------------------------------------------------------------


def service_cost_finding(ctx: FindingContext) -> Finding | None:
    """Value against cost to serve: the strategic significance quadrants."""
    from crm_core.portfolio import (
        add_cost_to_serve,
        quadrant_summary,
        significance,
        significance_takeaway,
    )

    if ctx.summary.height < 20:
        return None
    with_cost, basis = add_cost_to_serve(ctx.summary, ctx.dataset.side_table("interactions"), ctx.period,
                                         ctx.settings.analysis.serve_cost_settings())
    quadrants = quadrant_summary(significance(with_cost, basis))
    table = _share_table(quadrants, "quadrant", "Quadrant", ctx).with_columns(quadrants["advice"].alias("What to do"))
    data = {"table": quadrants, "group": "quadrant", "title": "Value against cost to serve: customers vs revenue"}
    method = ("High value = revenue above the median; high cost = cost to serve above the median. " + basis.describe(ctx.style))
    return Finding("service_cost", "Service and cost to serve", significance_takeaway(quadrants, style=ctx.style), "share_bars", data,
                   table, "Protect the strategically significant; serve the low-value, high-cost ones more cheaply.",
                   method, source="crm_core.portfolio", area="Service and cost")


# --- Registry -----------------------------------------------------------------

FindingFunction = Callable[[FindingContext], "Finding | None"]

#: Key findings in presentation order.
REGISTRY: dict[str, FindingFunction] = {
    "kpis": kpi_finding,
    "concentration": concentration_finding,
    "tiers": tiers_finding,
    "migration": migration_finding,
    "segments": segments_finding,
    "retention": retention_finding,
    "value": value_finding,
    "drivers": drivers_finding,
    "discount_depth": depth_finding,
    "at_risk": at_risk_finding,
    "actions": actions_finding,
    "service_cost": service_cost_finding,
}


#: The findings that read the lifetime-value fit (besides the summary), and those that read the summary alone;
#: the others read the rows (see :func:`key_findings`).
FORECAST_READERS = ("value", "at_risk", "actions")
SUMMARY_READERS = ("concentration", "tiers", "segments", "service_cost")


def key_findings(
    dataset: Dataset,
    settings: FindingSettings | None = None,
    summary: pl.DataFrame | None = None,
    keys: tuple[str, ...] | None = None,
    profiles: pl.DataFrame | None = None,
    context: FindingContext | None = None,
) -> list[Finding]:
    """Every available key finding, in presentation order.

    Parameters
    ----------
    dataset
        The portfolio (whole history: KPIs compare with the previous period).
    settings
        Period and thresholds; defaults to the whole history.
    summary
        The per-customer summary of the period when the caller already has it.
    keys
        Only these findings (default: all of :data:`REGISTRY`).
    profiles
        The first-order profiles of the customers acquired in the period when the caller already has them
        (``customer_profiles`` of the whole history up to the period end, kept from the period start on).
    context
        The context to read (instead of one built from the arguments above), when the caller shares it
        with other figures (the report's headline figures read its summary and forecast).
    """
    ctx = context or FindingContext(dataset, settings or FindingSettings(), summary, profiles)
    if ctx.transactions.select(pl.len()).collect().item() == 0:
        return []
    chosen = [key for key in REGISTRY if keys is None or key in keys]
    if not ctx.releases_tables:
        found = {key: REGISTRY[key](ctx) for key in chosen}
    else:
        # Rows on disk, many customers: the findings that read the lifetime-value fit first, then those that read
        # the summary alone, then those that read the rows alone; each table is dropped once its last reader is
        # done, so the row queries (KPIs, retention, migration, first-order profiles) run beside neither.
        found = {}
        for stage, release in ((FORECAST_READERS, "forecast"), (SUMMARY_READERS, "summary"), (None, None)):
            for key in chosen:
                if key not in found and (stage is None or key in stage):
                    found[key] = REGISTRY[key](ctx)
                    hand_back_memory()
            if release is not None:
                ctx.release(release)
    return [finding for finding in (found[key] for key in chosen) if finding is not None]


__all__ = ["REGISTRY", "Finding", "FindingContext", "FindingSettings", "key_findings"]
