"""Plotly itself draws escaped labels literally: no link, no styled span, the exact text the user typed.

tests/test_chart_text.py checks the figure JSON of every builder; this renders
two builders' figures with Plotly.js in Chromium and reads back what the
legend, axis and hover show.
"""
from __future__ import annotations

import polars as pl
from test_browser import CHROMIUM, CHROMIUM_ARGS, pytestmark  # noqa: F401  (the chromium skip)

from crm_core.charts.lifetime import acquisition_figure
from crm_core.charts.present import share_bars_figure
from crm_core.charts.segments import channel_sankey, segment_treemap

LINK = '<a href="http://x">click</a>'
SPAN = '<span style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red">cover</span>'
TEXT = ["&lt;script&gt;", "50% off %{x}"]

#: True once each figure of ``ids`` shows at least ``count`` non-empty texts and all its texts are the same as at
#: the previous look (polled): the transitions of the sankey and the treemap are over.
SETTLED_LABELS_JS = """([ids, count]) => {
  const texts = ids.map(i => [...document.querySelectorAll(`#f${i} text`)].map(n => n.textContent));
  const drawn = texts.every(t => t.filter(Boolean).length >= count);
  const seen = JSON.stringify(texts), same = window.__labels === seen;
  window.__labels = seen;
  return drawn && same;
}"""


def test_hostile_labels_render_as_the_typed_text():
    import datetime as dt

    from playwright.sync_api import sync_playwright

    labels = [LINK, SPAN, *TEXT]
    legend_figure = acquisition_figure(pl.DataFrame({
        "acquisition_channel": labels, "month": [dt.date(2024, 1, 1)] * 4, "new_customers": [1, 2, 3, 4]}))
    axis_figure = share_bars_figure(pl.DataFrame({
        "segment": labels, "customer_share": [0.1] * 4, "revenue_share": [0.2] * 4}), "segment", SPAN)
    sankey = channel_sankey(pl.DataFrame({"first_channel": labels, "latest_channel": labels[::-1], "customers": [1] * 4}))
    treemap = segment_treemap(pl.DataFrame({"segment": labels, "customers": [4, 3, 2, 1], "revenue": [1.0] * 4,
                                            "customer_share": [0.4, 0.3, 0.2, 0.1], "revenue_share": [0.25] * 4}))
    figures = (legend_figure, axis_figure, sankey, treemap)
    html = "".join(figure.to_html(full_html=False, include_plotlyjs=index == 0, div_id=f"f{index}")
                   for index, figure in enumerate(figures))
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()
        page.set_content(f"<html><body>{html}</body></html>", wait_until="load")
        page.wait_for_selector("#f1 .xtick text", timeout=120_000)
        # sankey and treemap draw with a transition: read their labels once drawn and unchanged between two looks
        page.wait_for_function(SETTLED_LABELS_JS, arg=[[2, 3], len(labels)], polling=250, timeout=120_000)
        node_texts = {index: page.eval_on_selector_all(f"#f{index} text", "nodes => nodes.map(n => n.textContent)")
                      for index in (2, 3)}
        legend = page.eval_on_selector_all("#f0 .legendtext", "nodes => nodes.map(n => n.textContent)")
        ticks = page.eval_on_selector_all("#f1 .xtick text", "nodes => nodes.map(n => n.textContent)")
        title = page.text_content("#f1 .gtitle")
        page.evaluate("() => Plotly.Fx.hover('f1', [{curveNumber: 0, pointNumber: 0}])")
        page.wait_for_selector("#f1 .hoverlayer .hovertext", timeout=60_000)
        hover = page.text_content("#f1 .hoverlayer")
        links = page.eval_on_selector_all(".main-svg a", "nodes => nodes.length")
        styled = page.eval_on_selector_all(".main-svg [style*='fixed']", "nodes => nodes.map(n => n.outerHTML.slice(0, 200))")
    finally:
        browser.close()
        playwright.stop()
    assert links == 0 and styled == []  # nothing became a link or a positioned element
    assert sorted(legend) == sorted(labels)  # shown exactly as typed
    assert ticks == labels and title == SPAN
    assert LINK in hover
    for index, texts in node_texts.items():  # Sankey node labels, treemap tiles ("label" then the share)
        assert all(any(text.startswith(label) for text in texts) for label in labels), (index, texts)
