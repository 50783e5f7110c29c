"""The margins worked out in Python (crm_core.charts.margins) hold what Plotly's automargin made room for.

Every builder's figure (the inputs of tests/test_chart_text.py, hostile labels included) is drawn in Chromium
with Plotly's automargin, as the app drew it before, and its margins read back; the same figure with its
margins settled must leave at least as much room on every side an axis' labels or a colour bar take.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import plotly.graph_objects as go
from test_browser import CHROMIUM, CHROMIUM_ARGS, pytestmark  # noqa: F401  (the chromium skip)

from crm_core.charts.margins import settle_margins
from test_chart_axes import FIGURES

#: Pixels a settled margin may fall short of Plotly's own (its automargin pads a few pixels beyond the labels).
SLACK = 5
WIDTHS = (420, 900)  # a half-width column and a full-width chart at 1366 px

_DRAW = """async ([spec, width]) => {
  const div = document.createElement('div');
  document.body.appendChild(div);
  const fig = JSON.parse(spec);
  fig.layout.width = width;
  await Plotly.newPlot(div, fig.data, fig.layout);
  const size = div._fullLayout._size;
  Plotly.purge(div); div.remove();
  return {l: size.l, r: size.r, t: size.t, b: size.b};
}"""


@contextlib.contextmanager
def _plotly_page(body: str = "") -> Iterator:
    """A Chromium page holding ``body`` and the bundled plotly.js (the version the app sends)."""
    from playwright.sync_api import sync_playwright
    from plotly.offline import get_plotlyjs

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()
        page.set_content(f"<html><body>{body}</body></html>")
        page.add_script_tag(content=get_plotlyjs())
        yield page
    finally:
        browser.close()
        playwright.stop()


def test_settled_margins_hold_what_automargin_made_room_for():
    checked, short = 0, []
    with _plotly_page() as page:
        for name, built in sorted(FIGURES.items()):
            settled = go.Figure(built)
            settle_margins(settled)
            if settled.layout.margin == go.Figure(built).layout.margin and not any(
                    settled.layout[key].automargin is False for key in ("xaxis", "yaxis")):
                continue  # not settled (no axes, or left to Plotly): nothing to compare
            for width in WIDTHS:
                auto = page.evaluate(_DRAW, [go.Figure(built).to_json(), width])
                mine = page.evaluate(_DRAW, [settled.to_json(), width])
                checked += 1
                short += [(name, width, side, round(auto[side]), round(mine[side])) for side in "lrb"
                          if mine[side] < auto[side] - SLACK]
    assert checked >= 20, checked  # the builders' figures were compared, not skipped
    assert not short, json.dumps(short)


def test_clv_bins_are_the_bins_plotly_draws():
    """Lifetime's CLV histogram is counted in Python (a few bars sent, not every customer's value): the same
    bars Plotly's own histogram drew, for values with and without zeros, whole numbers and a narrow spread."""
    import numpy as np

    from crm_core.charts.lifetime import _bins

    rng = np.random.default_rng(7)
    spread = np.minimum(rng.exponential(200, 3000), 1800.0)
    with_zeros = spread.copy()
    with_zeros[:400] = 0.0
    samples = [spread, with_zeros, np.round(spread), rng.uniform(10.0, 10.9, 500), np.array([3.0, 3.0, 3.0])]
    with _plotly_page("<div id='h'></div>") as page:
        for values in samples:
            drawn = page.evaluate("""async values => {
              await Plotly.newPlot('h', [{type: 'histogram', x: values, nbinsx: 40}]);
              const bins = document.getElementById('h').calcdata[0];
              return {centres: bins.map(bin => bin.p), counts: bins.map(bin => bin.s)};
            }""", values.tolist())
            starts, width, counts = _bins(values, 40)
            assert counts.tolist() == drawn["counts"]
            assert np.allclose(starts + width / 2, drawn["centres"])
