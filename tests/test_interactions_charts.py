"""Figures of the Interact pages: right data in the traces, themed, user labels shown literally."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crm_core.actions import CampaignAssumptions, campaign_what_if
from crm_core.charts.interact import (
    complaints_figure,
    contacts_distribution_figure,
    cost_to_serve_figure,
    csat_figure,
    purchase_timeline_figure,
    satisfaction_trend_figure,
    what_if_figure,
)
from crm_core.interactions import contacts_distribution, csat_by, group_service, prepare, satisfaction_trend

D = dt.date
HOSTILE = '<a href="http://evil">Champions</a>'


def _contacts_and_actions() -> tuple[pl.DataFrame, pl.DataFrame]:
    actions = pl.DataFrame({"customer_id": ["a", "b"], "segment": [HOSTILE, "Lost"], "revenue": [100.0, 20.0]})
    interactions = pl.LazyFrame({
        "customer_id": ["a", "a", "b"],
        "interaction_date": [D(2024, 1, 2), D(2024, 2, 2), D(2024, 2, 9)],
        "channel": ["Email", "Phone", "Email"],
        "reason": ["Billing", "Complaint", "Billing"],
        "csat": [4.0, 2.0, 5.0],
        "cost": [2.0, 6.0, 1.0],
    })
    return prepare(interactions, actions.select("customer_id", "segment")), actions


def _themed(fig) -> bool:
    return fig.layout.template.layout.font.family is not None and fig.layout.title.text


def test_timeline_bars_and_running_total():
    timeline = pl.DataFrame({"order_date": [D(2024, 1, 1), D(2024, 2, 1)], "amount": [50.0, -10.0], "returns": [0.0, 10.0], "lines": [1, 1]})
    fig = purchase_timeline_figure(timeline)
    bars, total = fig.data
    assert list(bars.y) == [50.0, -10.0]
    assert list(total.y) == [50.0, 40.0]
    assert bars.marker.color[0] != bars.marker.color[1]  # a return is coloured differently
    assert _themed(fig)



def test_timeline_of_a_single_purchase_day_spans_two_months():
    timeline = pl.DataFrame({"order_date": [D(2024, 4, 28)], "amount": [188.64], "returns": [0.0], "lines": [1]})
    fig = purchase_timeline_figure(timeline)
    low, high = fig.layout.xaxis.range
    assert (D(2024, 4, 28) - low).days == 31 and (high - D(2024, 4, 28)).days == 31
    assert list(fig.data[0].width) == [86_400_000]  # one day wide, not the whole axis


def test_group_figures_escape_user_labels():
    contacts, actions = _contacts_and_actions()
    service = group_service(contacts, actions, "segment")
    for fig in (
        csat_figure(csat_by(contacts, "segment"), "segment", "RFM segment"),
        complaints_figure(service, "segment", "RFM segment"),
    ):
        labels = list(fig.data[0].y)
        assert "&lt;a href=\"http://evil\"&gt;Champions&lt;/a&gt;" in labels
        assert HOSTILE not in labels
        assert _themed(fig)
    bubbles = cost_to_serve_figure(service, "segment", "RFM segment").data
    assert HOSTILE not in [trace.name for trace in bubbles]
    assert [trace.y[0] for trace in bubbles] == service["cost_per_customer"].to_list()
    assert [trace.x[0] for trace in bubbles] == service["revenue_per_customer"].to_list()


def test_csat_values_and_distribution_and_trend():
    contacts, actions = _contacts_and_actions()
    csat = csat_figure(csat_by(contacts, "channel"), "channel", "contact channel").data[0]
    assert dict(zip(csat.y, csat.x)) == {"Phone": 2.0, "Email": 4.5}
    distribution = contacts_distribution_figure(contacts_distribution(contacts, actions)).data[0]
    assert list(distribution.x) == ["0", "1", "2", "3", "4", "5+"]
    assert list(distribution.y) == [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    bars, line = satisfaction_trend_figure(satisfaction_trend(contacts)).data
    assert list(bars.y) == [1, 2]
    assert list(line.y) == pytest.approx([4.0, 3.5])


def test_what_if_waterfall():
    targets = pl.DataFrame({"customer_id": ["a", "b"], "value": [1.0, 1.0]})
    result = campaign_what_if(targets, CampaignAssumptions(contact_cost=3.0, response_rate=0.5, uplift_per_responder=20.0, margin=0.5))
    fig = what_if_figure(result)
    waterfall = fig.data[0]
    assert list(waterfall.y) == [10.0, -6.0, 0]  # margin 2 * 0.5 * 20 * 0.5, cost 2 * 3, total
    assert list(waterfall.measure) == ["relative", "relative", "total"]
    assert _themed(fig)


def test_cost_bubbles_switch_to_log_axes_only_when_groups_span_over_ten_times():
    def service(revenue, cost):
        return pl.DataFrame({"segment": ["A", "B"], "customers": [10, 20], "revenue_per_customer": revenue,
                             "cost_per_customer": cost, "cost_share": [0.01, 0.02]})

    wide = cost_to_serve_figure(service([60.0, 1700.0], [0.5, 14.0]), "segment", "RFM segment")
    assert (wide.layout.xaxis.type, wide.layout.yaxis.type) == ("log", "log")
    assert wide.layout.xaxis.title.text == "Revenue per customer (log scale)"
    narrow = cost_to_serve_figure(service([60.0, 500.0], [0.0, 14.0]), "segment", "RFM segment")
    assert narrow.layout.xaxis.type is None and narrow.layout.yaxis.type is None  # 8x apart; a zero cost


def test_csat_bars_show_their_value():
    contacts, _ = _contacts_and_actions()
    bars = csat_figure(csat_by(contacts, "channel"), "channel", "contact channel").data[0]
    assert dict(zip(bars.y, bars.text)) == {"Phone": "2.00", "Email": "4.50"}
