"""The deck's pictures: a chart's page printed to PNG by headless Chromium, and put on its slide afterwards.

Light on purpose (python-pptx, no Polars, no Plotly): the ``deck`` command draws its pictures here after
its supervised child has exited, so Chromium's processes never run beside the child's tables of millions
of customers (docs/present.md). The child writes the deck with each picture's numbers as a table standing
in for it (what a deck without Chromium shows) and the chart's page beside it; :func:`draw_pictures` then
prints each page and puts the picture where the table was.
"""
from __future__ import annotations

import io
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pptx.util import Inches

from crm_core.chromium import headless

WIDTH, HEIGHT = Inches(13.333), Inches(7.5)  # 16:9
MARGIN = Inches(0.5)
CHART_TOP, CHART_HEIGHT = Inches(1.45), Inches(4.75)
PICTURE_SIZE = (1200, 610)  # CSS pixels, printed at twice the density: type as large as on a 1200 px screen

@dataclass(frozen=True)
class PendingPicture:
    """A picture drawn after the deck is written: the slide (0 = the title slide) and the chart's page."""

    slide: int
    page: str  # path of the HTML page printing the chart


def page_png(page: Path | str, chromium: str, size: tuple[int, int] = PICTURE_SIZE) -> bytes | None:
    """A PNG of an HTML page printed by headless Chromium at twice the density; None when it fails."""
    from crm_core.ingest.supervisor import uncapped

    width, height = size
    with tempfile.TemporaryDirectory(prefix="crm-picture-") as folder:
        png_path = Path(folder) / "chart.png"
        command = [*headless(chromium, Path(folder) / "profile"), "--hide-scrollbars", f"--window-size={width},{height}",
                   "--force-device-scale-factor=2", "--virtual-time-budget=10000", f"--screenshot={png_path}",
                   Path(page).resolve().as_uri()]
        try:
            with uncapped():  # a supervised command's address-space cap: Chromium cannot start under it
                subprocess.run(command, capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return png_path.read_bytes() if png_path.exists() and png_path.stat().st_size else None


def add_picture(page: Any, png: bytes) -> Any:
    """The chart's picture on a slide: under the title, centred, as tall as a native chart."""
    picture = page.shapes.add_picture(io.BytesIO(png), MARGIN, CHART_TOP, height=CHART_HEIGHT)
    picture.left = int((WIDTH - picture.width) / 2)
    return picture


def draw_pictures(path: Path | str, pending: list[PendingPicture], chromium: str) -> int:
    """Print each pending chart and put it on its slide of the deck at ``path`` in place of the table standing
    in for it (the slide otherwise unchanged: the picture takes the table's place among the shapes); the
    number of pictures drawn. A chart Chromium fails to print keeps its table."""
    from pptx import Presentation

    drawn = [(item, png) for item in pending if (png := page_png(item.page, chromium)) is not None]
    if not drawn:
        return 0
    presentation = Presentation(str(path))
    slides = list(presentation.slides)
    for item, png in drawn:
        page = slides[item.slide]
        table = next(shape for shape in page.shapes if shape.has_table)
        picture = add_picture(page, png)
        table._element.addprevious(picture._element)
        table._element.getparent().remove(table._element)
    presentation.save(str(path))
    return len(drawn)


__all__ = ["PendingPicture", "add_picture", "draw_pictures", "page_png"]
