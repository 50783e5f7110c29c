"""`--view FILE.json` on every command that reads a file: each key, errors, and report figures = CLI figures."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from crm_core.__main__ import main

CSV = """customer_id,order_date,amount,channel,region,currency
A,2024-01-10,100,Web,North,EUR
A,2024-04-05,50,Store,North,EUR
B,2024-02-01,300,Web,South,EUR
C,2024-05-01,50,Store,South,EUR
D,2024-03-01,50,Web,North,EUR
E,2024-06-01,-20,Web,South,EUR
F,2024-06-15,10,Store,North,EUR
G,2024-06-20,999,Web,North,USD
"""


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return path


def write_view(tmp_path, data) -> str:
    path = tmp_path / "view.json"
    path.write_text(json.dumps(data))
    return str(path)


def run_json(capsys, *argv) -> dict:
    assert main([*map(str, argv), "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_tiers_names_and_shares_in_order(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"tiers": {"names": ["Top", "Rest"], "shares": [0.5, 0.5]}, "currency": "EUR"})
    payload = run_json(capsys, "portfolio", orders, "--view", view)
    # EUR rows only (G is USD): A 150, B 300, C 50, D 50, E -20, F 10 -> top 3 of 6 = B, A, C|D by id -> C
    assert list(payload["tiers"]) == ["Top", "Rest"]
    assert payload["tiers"]["Top"] == {"customers": 3, "revenue": 500.0, "revenue_share": pytest.approx(500 / 540)}
    assert payload["tiers"]["Rest"]["customers"] == 3 and payload["tiers"]["Rest"]["revenue"] == 40.0


def test_currency_keeps_only_that_currency(orders, tmp_path, capsys):
    usd = run_json(capsys, "portfolio", orders, "--view", write_view(tmp_path, {"currency": "USD"}))
    assert (usd["customers"], usd["revenue"]) == (1, 999.0)


def test_filters_apply_to_order_lines(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"filters": {"channel": ["Web"]}, "currency": "EUR"})
    payload = run_json(capsys, "portfolio", orders, "--view", view)
    assert (payload["customers"], payload["revenue"]) == (4, 430.0)  # A 100, B 300, D 50, E -20
    assert payload["filters"] == {"channel": ["Web"]}
    both = run_json(capsys, "portfolio", orders, "--view",
                    write_view(tmp_path, {"filters": {"channel": ["Web"], "country": ["North"]}, "currency": "EUR"}))
    assert (both["customers"], both["revenue"]) == (2, 150.0)  # A 100, D 50


def test_customer_filters_pick_customers(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"filters": {"tier": ["Top"]}, "currency": "EUR",
                                 "tiers": {"names": ["Top", "Rest"], "shares": [0.5, 0.5]}})
    payload = run_json(capsys, "portfolio", orders, "--view", view)
    assert (payload["customers"], payload["revenue"]) == (3, 500.0)  # B, A, C
    cohort = write_view(tmp_path, {"filters": {"cohort": ["2024-01"]}})
    assert run_json(capsys, "portfolio", orders, "--view", cohort)["revenue"] == 150.0  # A's first order is in January


def test_period(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"period": {"start": "2024-02-01", "end": "2024-05-31"}, "currency": "EUR"})
    payload = run_json(capsys, "portfolio", orders, "--view", view)
    assert (payload["customers"], payload["revenue"]) == (4, 450.0)  # A 50, B 300, C 50, D 50
    assert payload["period"] == {"start": "2024-02-01", "end": "2024-05-31"}


def test_command_line_options_win_over_the_view(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"tiers": {"names": ["Top", "Rest"], "shares": [0.5, 0.5]}})
    payload = run_json(capsys, "portfolio", orders, "--view", view, "--names", "X,Y", "--shares", "0.2")
    assert list(payload["tiers"]) == ["X", "Y"]


@pytest.mark.parametrize("command", ["summary", "portfolio", "rfm", "clv", "report", "export"])
def test_every_file_command_accepts_view(command, orders, tmp_path):
    view = write_view(tmp_path, {"colour": "red"})
    extra = {"report": ["--out", str(tmp_path / "r.html")], "export": ["--segment", "Champions", "--out", str(tmp_path / "t.csv")]}
    completed = subprocess.run([sys.executable, "-m", "crm_core", command, str(orders), "--view", view, *extra.get(command, [])],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "colour" in lines[0] and len(lines[0]) <= 200


@pytest.mark.parametrize("data, word", [
    ({"tiers": {"names": ["A", "B"], "shares": [0.3, 0.3]}}, "tiers.shares"),
    ({"margin": 2}, "margin"),
    ({"horizon_months": "twelve"}, "horizon_months"),
    ({"discount_rate": -1}, "discount_rate"),
    ({"currency": "Euro"}, "currency"),
    ({"filters": {"channel": "Web", "colour": ["red"]}}, "filters.colour"),
    ({"period": {"start": "31/12/2024"}}, "period.start"),
    ({"filters": {"channel": ["Fax"]}}, "no order is left"),
    ({"filters": {"category": ["Books"]}}, "no category column"),
    ({"filters": {"tier": ["Diamond"]}}, "not a tier"),
])
def test_bad_views_exit_2_with_one_line(data, word, orders, tmp_path, capsys):
    assert main(["portfolio", str(orders), "--view", write_view(tmp_path, data)]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err and len(err) <= 200


def test_unreadable_view_files(orders, tmp_path, capsys):
    assert main(["portfolio", str(orders), "--view", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["portfolio", str(orders), "--view", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_clv_reports_predicted_value_with_its_settings(cdnow_path, tmp_path, capsys):
    view = write_view(tmp_path, {"margin": 0.3, "horizon_months": 6, "discount_rate": 0.05})
    payload = run_json(capsys, "clv", cdnow_path, "--view", view)
    assert (payload["margin"], payload["horizon_months"], payload["discount_rate"]) == (0.3, 6, 0.05)
    revenue_terms = run_json(capsys, "clv", cdnow_path, "--view", view, "--margin", "1")
    assert payload["predicted_value_total"] == pytest.approx(0.3 * revenue_terms["predicted_value_total"], rel=1e-6)
    default = run_json(capsys, "clv", cdnow_path)
    assert (default["margin"], default["horizon_months"]) == (1.0, 12)
    assert default["predicted_value_total"] == pytest.approx(default["clv"]["total"], abs=0.01)


def _figures(html: str) -> dict[str, dict]:
    match = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html, re.S)
    assert match, "the report embeds no figures"
    return {entry["id"]: entry for entry in json.loads(match.group(1))}


def test_report_figures_equal_the_cli(cdnow_path, tmp_path, capsys):
    view = write_view(tmp_path, {"tiers": {"names": ["Best", "Good", "Rest"], "shares": [0.05, 0.25, 0.7]},
                                 "margin": 0.4, "horizon_months": 6, "period": {"start": "1997-01-01", "end": "1998-03-31"}})
    portfolio = run_json(capsys, "portfolio", cdnow_path, "--view", view)
    clv = run_json(capsys, "clv", cdnow_path, "--view", view)
    out = tmp_path / "r.html"
    run_json(capsys, "report", cdnow_path, "--view", view, "--out", out)
    figures = _figures(out.read_text())
    for key in ("customers", "revenue", "top20_revenue_share", "gini"):
        assert figures[key]["value"] == portfolio[key], key
    for name, row in portfolio["tiers"].items():
        assert figures[f"tier.{name}.customers"]["value"] == row["customers"]
        assert figures[f"tier.{name}.revenue"]["value"] == row["revenue"]
    assert list(portfolio["tiers"]) == ["Best", "Good", "Rest"]
    assert figures["predicted_value_total"]["value"] == clv["predicted_value_total"]
    assert figures["predicted_value_total"]["label"] == "Predicted margin, next 6 months"
    for entry in figures.values():
        assert set(entry) >= {"id", "label", "value", "unit", "definition"} and entry["definition"]


def test_report_names_filters_and_escapes_tier_names(orders, tmp_path, capsys):
    view = write_view(tmp_path, {"tiers": {"names": ["</script><b>x", "Rest"], "shares": [0.5, 0.5]},
                                 "filters": {"channel": ["Web"]}})
    out = tmp_path / "r.html"
    run_json(capsys, "report", orders, "--view", view, "--out", out)
    html = out.read_text()
    assert "Filters: Channel: Web" in html
    assert "</script><b>" not in html
    assert _figures(html)["tier.</script><b>x.customers"]["value"] == 3  # of A, B, D, E, G (Web)


def test_append_refuses_a_bad_view_and_keeps_every_row(orders, tmp_path, capsys):
    dataset = tmp_path / "ds"
    assert main(["demo", "--customers", "50", "--seed", "1", "--out", str(dataset)]) == 0
    capsys.readouterr()
    assert main(["append", str(dataset), str(orders), "--view", write_view(tmp_path, {"colour": "red"})]) == 2
    assert "colour" in capsys.readouterr().err


def test_a_view_in_another_currency_than_the_file_says_so(tmp_path, capsys):
    usd = tmp_path / "usd.csv"
    usd.write_text("customer_id,order_date,amount,currency\nA,2024-01-01,10,USD\nB,2024-01-02,20,USD\n")
    assert main(["portfolio", str(usd), "--view", write_view(tmp_path, {"currency": "EUR"})]) == 2
    err = capsys.readouterr().err.strip()
    assert "'currency' is EUR but the file's amounts are in USD" in err and "\n" not in err


def _whole_view_of(tmp_path, settings):
    """(the view load_view makes with rows_as_read=True, the rows read) for the orders above."""
    import argparse

    from crm_core.commands.common import load_view

    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    args = argparse.Namespace(path=str(path), view=None)
    view, _, _ = load_view(args, settings, rows_as_read=True)
    return view


def test_a_view_keeping_every_row_is_the_rows_read_and_a_period_still_cuts(tmp_path):
    from crm_core.filters import apply_view
    from crm_core.settings import AnalysisSettings, Period

    whole = _whole_view_of(tmp_path, AnalysisSettings())
    assert whole.transactions is whole.history  # no copy: the rows read themselves
    expected = apply_view(whole.transactions, AnalysisSettings())
    assert whole.transactions.collect().equals(expected.transactions.collect())
    assert (whole.start, whole.end, whole.first, whole.last) == (expected.start, expected.end, expected.first, expected.last)
    # A period inside the file, and a filter, still go through apply_view (rows cut).
    period = _whole_view_of(tmp_path, AnalysisSettings(period=Period(start=dt.date(2024, 2, 1), end=dt.date(2024, 5, 31))))
    assert period.transactions.collect().height == 4 and period.start == dt.date(2024, 2, 1)
    filtered = _whole_view_of(tmp_path, AnalysisSettings(filters=(("channel", ("Web",)),)))
    assert filtered.transactions.collect().height == 5


def test_summary_of_a_period_counts_the_period_only(orders, tmp_path, capsys):
    import polars  # noqa: F401  (loaded: main() runs in this process, where capsys sees its output)

    view = write_view(tmp_path, {"period": {"start": "2024-02-01", "end": "2024-05-31"}})
    payload = run_json(capsys, "summary", orders, "--view", view)
    assert (payload["rows_valid"], payload["customers"], payload["revenue"]) == (8, 4, 450.0)
    assert (payload["first_date"], payload["last_date"]) == ("2024-02-01", "2024-05-01")
