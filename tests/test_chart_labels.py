"""Charts that say something: labelled cluster-map axes, cohort cells with values and cohort sizes."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from crm_core.charts.lifetime import cohort_heatmap_figure
from crm_core.clusters import axis_titles


def test_cluster_map_axes_name_the_features_they_follow():
    components = np.array([[0.7, 0.69, 0.01], [-0.02, 0.1, -0.99]])
    titles = axis_titles(components, ["Revenue", "Orders", "Days since last purchase"])
    assert titles[0] == "more revenue and more orders → right"
    # the sign is turned so the strongest feature grows upwards
    assert titles[1] == "more days since last purchase and less orders → up"


def test_cohort_heatmap_shows_values_and_cohort_sizes():
    cohorts = pl.DataFrame({
        "cohort": [dt.date(2024, 1, 1)] * 2 + [dt.date(2024, 2, 1)],
        "months_since": [0, 1, 0],
        "cohort_size": [40, 40, 3],
        "customer_retention": [1.0, 0.25, 1.0],
    })
    heatmap = cohort_heatmap_figure(cohorts).data[0]
    assert list(heatmap.y) == ["Jan 2024 (40)", "Feb 2024 (3)"]
    assert [list(row) for row in heatmap.text] == [["100%", "25%"], ["100%", ""]]
