"""The cards' small charts as static SVG (crm_core.charts.sparkline): what they draw, and that they stay inert."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from crm_core.charts.sparkline import HEIGHT_PX, TONES, delta_tone, sparkline_svg

SVG = "{http://www.w3.org/2000/svg}"


def _marks(svg: str) -> tuple[ET.Element, list[ET.Element]]:
    root = ET.fromstring(svg)
    inner = root.find(f"{SVG}svg")
    assert inner is not None
    return inner, [node for node in inner.iter() if node.tag in (f"{SVG}rect", f"{SVG}polyline")]


def test_only_shapes_and_numbers_no_text_or_links():
    svg = sparkline_svg([1, 2, 3], "bar", TONES["up"])
    assert svg is not None
    root = ET.fromstring(svg)
    tags = {node.tag.removeprefix(SVG) for node in root.iter()}
    assert tags == {"svg", "g", "rect"}
    assert all(not (node.text or "").strip() for node in root.iter())  # no text node: nothing to escape
    assert "href" not in svg and "<script" not in svg and "style" not in svg
    # a fixed height and no intrinsic ratio on the picture itself: stretched to the card, it keeps 3.5 rem
    assert root.get("height") == str(HEIGHT_PX) and root.get("width") == "100%" and root.get("viewBox") is None


def test_bars_start_at_zero_and_compare_by_length():
    inner, bars = _marks(sparkline_svg([10, 20, 40], "bar", TONES["up"]))
    lengths = [float(bar.get("height")) for bar in bars]
    assert lengths[1] == pytest.approx(2 * lengths[0]) and lengths[2] == pytest.approx(4 * lengths[0])
    bottom = float(inner.get("viewBox").split()[3])
    assert all(float(bar.get("y")) + float(bar.get("height")) == pytest.approx(bottom) for bar in bars)


def test_a_negative_month_hangs_below_the_zero_line():
    _, bars = _marks(sparkline_svg([30, -10, 0, 20], "bar", TONES["down"]))
    assert len(bars) == 3  # a zero month draws nothing
    up, down, last = bars
    zero = float(up.get("y")) + float(up.get("height"))
    assert float(down.get("y")) == pytest.approx(zero)
    assert float(down.get("height")) == pytest.approx(float(up.get("height")) / 3)
    assert float(down.get("x")) > float(up.get("x")) and float(last.get("x")) > float(down.get("x"))


def test_the_line_spans_lowest_to_highest_and_missing_values_count_as_zero():
    inner, (line,) = _marks(sparkline_svg([0.4, 0.5, None, math.nan, 0.45], "line", TONES["up"]))
    points = [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]
    height = float(inner.get("viewBox").split()[3])
    assert [x for x, _ in points] == [0, 1, 2, 3, 4]
    ys = [y for _, y in points]
    assert ys[1] == pytest.approx(0) and ys[2] == ys[3] == pytest.approx(height)  # highest on top, the zeros at the bottom
    assert line.get("stroke") == TONES["up"] and line.get("vector-effect") == "non-scaling-stroke"


def test_flat_single_and_empty_series():
    _, (flat,) = _marks(sparkline_svg([5, 5, 5], "line", TONES["none"]))
    assert len({pair.split(",")[1] for pair in flat.get("points").split()}) == 1
    _, (single,) = _marks(sparkline_svg([5], "line", TONES["none"]))
    assert len(single.get("points").split()) == 2  # one month: a short flat line, as st.metric draws it
    _, bars = _marks(sparkline_svg([0, 0], "bar", TONES["none"]))
    assert bars == []
    assert sparkline_svg([], "bar", TONES["up"]) is None


def test_only_colours_and_known_kinds_are_accepted():
    with pytest.raises(ValueError):
        sparkline_svg([1], "bar", 'red" onload="alert(1)')
    with pytest.raises(ValueError):
        sparkline_svg([1], "pie", TONES["up"])  # type: ignore[arg-type]


@pytest.mark.parametrize("delta", [None, "", "0", 0, 0.0, "+25.4%", "-9.8%", "+0.0%", "0.0%", " -3", 12, -1.5, "-0 pts"])
@pytest.mark.parametrize("delta_color", ["normal", "inverse", "off"])
def test_tone_follows_streamlits_own_rule(delta, delta_color):
    """The picture takes the colour st.metric gives its delta (and gave its chart)."""
    from streamlit.elements.metric import _determine_delta_color_and_direction
    from streamlit.proto.Metric_pb2 import Metric

    proto = _determine_delta_color_and_direction(delta_color, delta).color
    expected = {Metric.MetricColor.GREEN: TONES["up"], Metric.MetricColor.RED: TONES["down"],
                Metric.MetricColor.GRAY: TONES["none"]}[proto]
    assert delta_tone(delta, delta_color) == expected
