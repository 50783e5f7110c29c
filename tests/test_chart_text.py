"""User text never becomes markup in a chart: every builder in crm_core.charts, run with hostile labels.

Builders are discovered by introspection (every public function of a
``crm_core.charts`` module annotated to return ``go.Figure``), so a new builder
fails :func:`test_every_builder_has_hostile_inputs` until it gets an entry in
``HOSTILE_INPUTS`` below.
"""
from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator

import plotly.graph_objects as go
import polars as pl
import pytest

from crm_core import charts
from crm_core.actions import CampaignResult
from crm_core.charts.text import plain_text, safe_label, safe_labels
from crm_core.clusters import ClusterResult
from crm_core.portfolio import LOST, NEW, QUADRANT_ORDER, Concentration, Significance

MARK = "Zq"  # in every hostile label and in no text of ours
HOSTILE = (
    f'{MARK}<a href="http://x">x</a>',
    f'{MARK}<span style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red">cover</span>',
    f"{MARK}<b>bold</b>",
    f"{MARK}<br>two lines",
    f"{MARK}&lt;script&gt;alert(1)&lt;/script&gt;",
    f"{MARK}%{{x}} 100% off",
)
A, B, C, D, E, F = HOSTILE
DAY = dt.date(2024, 1, 31)


def _builders() -> dict[str, Callable[..., go.Figure]]:
    found = {}
    for module_info in pkgutil.iter_modules(charts.__path__):
        module = importlib.import_module(f"{charts.__name__}.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_") \
                    and typing.get_type_hints(function).get("return") is go.Figure:
                found[f"{module_info.name}.{name}"] = function
    return found


BUILDERS = _builders()


def _cluster_result() -> ClusterResult:
    return ClusterResult(
        assignments=pl.DataFrame(), curve=pl.DataFrame({"k": [2, 3], "silhouette": [0.4, 0.5]}), best_k=3, k=2,
        method=A, profile=pl.DataFrame({"cluster": [1, 2], "cluster_name": [A, B]}),
        pca=pl.DataFrame({"pc1": [0.0, 1.0], "pc2": [1.0, 0.0], "cluster": [1, 2]}), pca_explained=0.8,
        feature_labels=[C],
    )


def _hostile_figure() -> go.Figure:
    return BUILDERS["segments.cross_sell_figure"](*HOSTILE_INPUTS["segments.cross_sell_figure"]())


def _group_table(column: str) -> pl.DataFrame:
    """One row per hostile label with every numeric column a group chart reads."""
    n = len(HOSTILE)
    numbers = {name: [float(i + 1) for i in range(n)] for name in (
        "complaints_per_100", "complaints", "customers", "revenue_per_customer", "cost_per_customer", "cost_share",
        "csat_mean", "contacts", "complaint_share", "clv_share", "clv_mean", "customer_share", "revenue",
        "revenue_share", "value", "mean_revenue", "share")}
    return pl.DataFrame({column: list(HOSTILE), **numbers}).with_columns(pl.col("customers", "contacts").cast(pl.Int64))


def _drivers_inputs() -> dict:
    """Driver, product and offer frames computed from orders whose products, codes and channels are hostile."""
    from crm_core import drivers, offers, products

    rows = []
    for index, label in enumerate(HOSTILE * 2):
        rows += [(f"c{index}", f"o{index}", DAY, 10.0 + index, label, HOSTILE[index % 3]),
                 (f"c{index}", f"p{index}", DAY + dt.timedelta(days=30), 5.0, HOSTILE[(index + 1) % 6], None),
                 (f"c{index}", f"o{index}", DAY + dt.timedelta(days=3), -2.0, label, HOSTILE[index % 3])]
    tx = pl.DataFrame(rows, schema=["customer_id", "order_id", "order_date", "amount", "product", "discount_code"],
                      orient="row").with_columns(pl.col("product").alias("channel")).lazy()
    profiles = drivers.customer_profiles(tx)
    segments = profiles.select("customer_id", pl.col("first_product").alias("group"))
    return {"profiles": profiles, "overall": drivers.overall_figures(profiles),
            "by_product": drivers.driver_table(profiles, "first_product"), "products": products.product_table(tx, "product"),
            "journeys": products.journeys(tx, "product"), "refunds": products.refunds_by_group(tx, segments),
            "offers": offers.code_vs_none(profiles)}


def _depth_inputs() -> pl.DataFrame:
    """Discount depth bands (our own labels) of the hostile customers, half of them 25% off."""
    from crm_core import offers

    profiles = _drivers_inputs()["profiles"]
    depth = pl.when(pl.int_range(pl.len()) % 2 == 0).then(0.25).otherwise(0.0)
    return offers.depth_table(profiles.with_columns(depth.alias("discount_depth")))


#: Arguments for each builder; every string that could come from data or a user is hostile.
#: Builders that draw no user text take plain inputs (their check is that they still pass).
HOSTILE_INPUTS: dict[str, Callable[[], tuple]] = {
    "interact.complaints_figure": lambda: (_group_table("segment"), "segment", A),
    "interact.contacts_distribution_figure": lambda: (
        pl.DataFrame({"contacts": ["0", "1", "2+"], "share": [0.5, 0.3, 0.2], "customers": [5, 3, 2]}),),
    "interact.cost_to_serve_figure": lambda: (_group_table("segment"), "segment", B),
    "interact.csat_figure": lambda: (_group_table("channel"), "channel", C),
    "interact.purchase_timeline_figure": lambda: (pl.DataFrame({"order_date": [DAY], "amount": [10.0]}),),
    "interact.satisfaction_trend_figure": lambda: (
        pl.DataFrame({"month": [DAY], "contacts": [3], "csat_mean": [4.0]}),),
    "interact.what_if_figure": lambda: (CampaignResult(10, 2.0, 50.0, 20.0, 10.0, 5.0, 5.0, 1.0, 0.1, [A]),),
    "lifetime.acquisition_figure": lambda: (pl.DataFrame({
        "acquisition_channel": list(HOSTILE), "month": [DAY] * len(HOSTILE), "new_customers": [1] * len(HOSTILE)}),),
    "lifetime.clv_by_group_figure": lambda: (_group_table("group"), "group", D, E),
    "lifetime.clv_distribution_figure": lambda: (pl.DataFrame({"clv": [1.0, 2.0, 3.0]}), F),
    "lifetime.cohort_heatmap_figure": lambda: (pl.DataFrame({
        "cohort": [DAY, DAY], "months_since": [0, 1], "customer_retention": [1.0, 0.4]}),),
    "lifetime.cumulative_tracking_figure": lambda: (
        pl.DataFrame({"week_end": [DAY], "actual": [1.0], "predicted": [1.2]}), DAY),
    "lifetime.forecast_fan_figure": lambda: (pl.DataFrame({
        "week_end": [DAY, DAY], "expected": [0.0, 5.0], "low": [0.0, 4.0], "high": [0.0, 6.0]}), DAY, 0.8),
    "lifetime.gap_histogram_figure": lambda: (pl.DataFrame({"gap_days": [3, 30, 300]}),),
    "lifetime.holdout_by_frequency_figure": lambda: (pl.DataFrame({
        "frequency_group": list(HOSTILE), "actual": [1.0] * 6, "predicted": [1.1] * 6, "customers": [3] * 6}),),
    "lifetime.lifecycle_funnel_figure": lambda: (pl.DataFrame({"stage": list(HOSTILE), "customers": [6, 5, 4, 3, 2, 1]}),),
    "lifetime.p_alive_heatmap_figure": lambda: (pl.DataFrame({
        "recency": [1.0, 2.0], "frequency": [1, 1], "p_alive": [0.5, 0.9], "T": [10.0, 10.0]}),),
    "lifetime.penetration_figure": lambda: (pl.DataFrame({
        "quarter": [1, 2], "spend_per_customer": [10.0, 12.0], "customers": [5, 4], "categories_per_customer": [1.0, 1.5]}),),
    "lifetime.retention_curves_figure": lambda: (pl.DataFrame({
        "group": list(HOSTILE), "months_since": [1] * 6, "retention": [0.5] * 6, "customers_observed": [4] * 6}), A),
    "overview.kpi_trend_figure": lambda: (pl.DataFrame({"period": [DAY, DAY], "revenue": [1.0, 2.0]}), "revenue", "month"),
    "portfolio.lorenz_figure": lambda: (
        pl.DataFrame({"customer_share": [0.0, 1.0], "revenue_share": [0.0, 1.0]}), Concentration(2, 10.0, 0.5, 0.2, 0.5)),
    "portfolio.migration_figure": lambda: (
        pl.DataFrame({"from_tier": [A, B, NEW], "to_tier": [B, LOST, A], "customers": [3, 2, 1]}), (A, B)),
    "portfolio.pareto_figure": lambda: (
        pl.DataFrame({"customer_share": [0.0, 1.0], "revenue_share": [0.0, 1.0]}), Concentration(2, 10.0, 0.5, 0.2, 0.5)),
    "portfolio.pyramid_figure": lambda: (_group_table("tier"),),
    "portfolio.significance_figure": lambda: (pl.DataFrame({
        "customer_id": list(HOSTILE), "cost_to_serve": [1.0] * 6, "revenue": [10.0] * 6,
        "quadrant": [QUADRANT_ORDER[i % len(QUADRANT_ORDER)] for i in range(6)]}),
        Significance(pl.DataFrame(), "revenue", 5.0, 1.0)),
    "portfolio.tier_trend_figure": lambda: (pl.DataFrame({
        "tier_index": list(range(6)), "tier": list(HOSTILE), "period": [DAY] * 6, "revenue": [1.0] * 6,
        "revenue_share": [0.1] * 6}), "month"),
    "present.enlarged": lambda: (_hostile_figure(),),
    "present.radar_figure": lambda: (pl.DataFrame({
        "model": [A] * 6, "step": list(HOSTILE), "score": [50.0] * 6}), B),
    "present.share_bars_figure": lambda: (_group_table("segment"), "segment", C),
    "present.status_bars_figure": lambda: (_group_table("status"), D, E),
    "present.themed": lambda: (_hostile_figure(), True),
    "present.value_bars_figure": lambda: (_group_table("label"), "label", "value", F, A),
    "segments.channel_sankey": lambda: (pl.DataFrame({
        "first_channel": list(HOSTILE), "latest_channel": list(reversed(HOSTILE)), "customers": [1] * 6}),),
    "segments.channel_value_figure": lambda: (_group_table("channel_use"),),
    "segments.cross_sell_figure": lambda: (pl.DataFrame({
        "category_a": list(HOSTILE), "category_b": list(reversed(HOSTILE)), "lift": [1.5] * 6, "support": [0.1] * 6}),),
    "segments.migration_sankey": lambda: (pl.DataFrame({
        "from_segment": list(HOSTILE), "to_segment": list(reversed(HOSTILE)), "customers": [1] * 6}), A, B, [C, D]),
    "segments.mix_heatmap": lambda: (pl.DataFrame({
        "group": list(HOSTILE), "category": list(reversed(HOSTILE)), "share": [0.5] * 6}), "category", "group", [A, B], C),
    "segments.pca_figure": lambda: (_cluster_result(),),
    "segments.rf_heatmap": lambda: (pl.DataFrame({
        "r": [1, 1, 2, 2], "f": [1, 2, 1, 2], "customers": [1, 2, 3, 4], "segment": [A, B, C, D]}), 2, "customers", E),
    "segments.segment_treemap": lambda: (_group_table("segment"),),
    "segments.silhouette_figure": lambda: (_cluster_result(),),
    "theme.styled": lambda: (go.Figure(), A),
    "present.ranked_bars_figure": lambda: (pl.DataFrame({"objective": list(HOSTILE), "customers": [6, 5, 4, 3, 2, 1]}),
                                           "objective", "customers", A, B),
    "registry.figure": lambda: ("ranked_bars", {
        "table": pl.DataFrame({"objective": list(HOSTILE), "customers": [6, 5, 4, 3, 2, 1]}), "label": "objective",
        "value": "customers", "title": A, "value_title": B}),
    "drivers.driver_figure": lambda: (_drivers_inputs()["by_product"], "first_product", _drivers_inputs()["overall"]),
    "drivers.repeat_figure": lambda: (_drivers_inputs()["by_product"], "first_product"),
    "drivers.products_figure": lambda: (_drivers_inputs()["products"], "revenue", "products"),
    "drivers.journey_figure": lambda: (_drivers_inputs()["journeys"], "products"),
    "drivers.refund_figure": lambda: (_drivers_inputs()["refunds"], "group", A),
    "drivers.offer_figure": lambda: (_drivers_inputs()["offers"],),
    "drivers.depth_figure": lambda: (_depth_inputs(),),
    "drivers.timing_figure": lambda: (pl.DataFrame({"bucket": ["Within 30 days", "Not yet"], "customers": [1, 2],
                                                    "share": [1 / 3, 2 / 3]}),),
}
#: Builders whose inputs carry no user text at all (numbers, dates, our own labels).
NO_USER_TEXT = {
    "interact.contacts_distribution_figure", "interact.purchase_timeline_figure", "interact.satisfaction_trend_figure",
    "interact.what_if_figure", "lifetime.cohort_heatmap_figure", "lifetime.cumulative_tracking_figure",
    "lifetime.forecast_fan_figure", "lifetime.gap_histogram_figure",
    "lifetime.p_alive_heatmap_figure", "lifetime.penetration_figure", "overview.kpi_trend_figure",
    "portfolio.lorenz_figure", "portfolio.pareto_figure", "segments.silhouette_figure",
    "drivers.timing_figure", "drivers.offer_figure", "drivers.depth_figure",
}


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _escaped_forms() -> re.Pattern:
    """Any hostile label as :func:`safe_label` writes it (a long label may be wrapped with our <br> at a space)."""
    forms = sorted((re.escape(safe_label(text)).replace(r"\ ", "(?: |<br>)") for text in HOSTILE), key=len, reverse=True)
    return re.compile("|".join(forms))


def _check(figure: go.Figure) -> int:
    """Number of strings carrying hostile text; fails if any carries it other than escaped."""
    escaped = _escaped_forms()
    carrying = 0
    for text in _strings(json.loads(figure.to_json())):
        if MARK in text:
            carrying += 1
            rest = escaped.sub("", text)
            assert MARK not in rest, f"user text reaches the figure unescaped: {text!r}"
    return carrying


def test_every_builder_has_hostile_inputs():
    missing = sorted(set(BUILDERS) - set(HOSTILE_INPUTS))
    assert not missing, f"add hostile inputs to tests/test_chart_text.py for {missing}"
    assert len(BUILDERS) >= 40  # discovery works (a silent 0 would pass everything)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_shows_user_text_literally(name):
    if name not in HOSTILE_INPUTS:
        pytest.fail(f"no hostile inputs for {name}")
    figure = BUILDERS[name](*HOSTILE_INPUTS[name]())
    carrying = _check(figure)
    if name not in NO_USER_TEXT:
        assert carrying, f"{name}: the hostile labels did not reach the figure, so the test proves nothing"


def test_safe_label_leaves_nothing_plotly_reads():
    for text in HOSTILE:
        shown = safe_label(text)
        assert not set("<>%") & set(shown)
        assert re.sub(r"&(amp|lt|gt|#37);", "", shown).count("&") == 0  # every & starts one of our entities
    assert safe_label(None) == "" and safe_label(3) == "3"
    assert safe_labels(pl.Series([A, None])) == [safe_label(A), ""]
    assert safe_label("Ünïcode · 5") == "Ünïcode · 5"  # only & < > % change


def test_check_catches_raw_and_half_escaped_text():
    """The check itself can fail: raw labels and the old ‹›-replacement are both caught."""
    for label in (A, A.replace("<", "‹").replace(">", "›"), safe_label(F).replace("&#37;", "%")):
        with pytest.raises(AssertionError):
            _check(go.Figure(go.Bar(x=[label], y=[1])))


def test_plain_text_reads_back_what_the_user_typed():
    for text in HOSTILE:
        assert plain_text(safe_label(text)) == text
    assert plain_text("Revenue per<br>customer") == "Revenue per customer"  # our own line breaks
    assert plain_text(None) == ""


def test_powerpoint_charts_from_page_figures_carry_the_typed_labels():
    """Office files are not drawn by Plotly: a figure's escaped labels are turned back into the typed text."""
    from crm_core.charts.native import from_figure

    table = _group_table("segment")
    native = from_figure(BUILDERS["present.share_bars_figure"](table, "segment", A))
    assert native.categories == HOSTILE and native.title == A
    stacked = from_figure(BUILDERS["lifetime.acquisition_figure"](*HOSTILE_INPUTS["lifetime.acquisition_figure"]()))
    assert {series.name for series in stacked.series} == set(HOSTILE)
