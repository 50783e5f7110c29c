"""`python -m crm_core portfolio PATH --json` on a tiny file computed by hand."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crm_core.__main__ import main
from conftest import ROOT

CSV = """customer_id,order_date,amount
A,2024-01-10,100
A,2024-04-05,50
B,2024-02-01,300
C,2024-05-01,50
D,2024-03-01,50
E,2024-06-01,-20
F,2024-06-15,10
"""


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return path


def run_json(capsys, *argv) -> dict:
    assert main(["portfolio", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_portfolio_json_golden(orders, capsys):
    payload = run_json(capsys, orders)
    assert payload["customers"] == 6
    assert payload["revenue"] == 540.0
    assert payload["top20_revenue_share"] == pytest.approx(450 / 540)  # B + A, ceil(1.2) = 2 customers
    assert payload["gini"] == pytest.approx(1920 / 3360)                 # E's -20 counted as 0
    assert payload["tiers"] == {
        "Platinum": {"customers": 1, "revenue": 300.0, "revenue_share": pytest.approx(300 / 540)},
        "Gold": {"customers": 0, "revenue": 0.0, "revenue_share": 0.0},
        "Iron": {"customers": 1, "revenue": 150.0, "revenue_share": pytest.approx(150 / 540)},
        "Lead": {"customers": 4, "revenue": 90.0, "revenue_share": pytest.approx(90 / 540)},
    }


def test_custom_tiers(orders, capsys):
    payload = run_json(capsys, orders, "--names", "Top,Rest", "--shares", "0.5")
    assert payload["tiers"]["Top"]["customers"] == 3  # B, A, then C wins the tie with D by id
    assert payload["tiers"]["Top"]["revenue"] == 500.0
    payload = run_json(capsys, orders, "--amounts", "200,100,50")
    assert [t["customers"] for t in payload["tiers"].values()] == [1, 1, 2, 2]


def test_errors_tell_what_to_do(orders, capsys):
    assert main(["portfolio", str(orders), "--by", "margin"]) == 2
    assert "no cost column" in capsys.readouterr().err
    assert main(["portfolio", str(orders), "--names", "A,B,C"]) == 2
    assert "--shares" in capsys.readouterr().err


def test_module_entry_point(orders):
    result = subprocess.run([sys.executable, "-m", "crm_core", "portfolio", str(orders), "--json"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(result.stdout)["customers"] == 6
