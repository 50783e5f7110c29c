"""`python -m crm_core rfm` output, cross-checked against an independent pandas computation."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crm_core.__main__ import main
from crm_core.rfm import SEGMENT_NAMES

REFERENCE_5 = [  # the default 5-bin table, written out independently
    ("Champions", 5, 5, 4, 5), ("Loyal Customers", 3, 4, 4, 5), ("Potential Loyalists", 4, 5, 2, 3),
    ("New Customers", 5, 5, 1, 1), ("Promising", 4, 4, 1, 1), ("Need Attention", 3, 3, 3, 3),
    ("About to Sleep", 3, 3, 1, 2), ("At Risk", 1, 2, 3, 4), ("Can't Lose Them", 1, 2, 5, 5),
    ("Lost", 1, 1, 1, 2), ("Hibernating", 1, 5, 1, 5),
]


def pandas_segments(path, as_of=None, method="min"):
    df = pd.read_csv(path, dtype={"customer_id": str}, parse_dates=["order_date"])
    as_of = pd.Timestamp(as_of) if as_of else df["order_date"].max()
    df = df[df["order_date"] <= as_of]
    purchases = df[df["amount"] >= 0]
    per = pd.DataFrame({
        "recency": (as_of - df.groupby("customer_id")["order_date"].max()).dt.days,
        "orders": purchases.groupby("customer_id")["order_date"].nunique(),
        "revenue": df.groupby("customer_id")["amount"].sum(),
    }).fillna({"orders": 0}).sort_index()
    n = len(per)

    def score(values, ascending=True):
        rank = values.rank(method=method, ascending=ascending)
        return ((rank - 1) * 5 // n + 1).astype(int)

    r, f = score(per["recency"], ascending=False), score(per["orders"])
    conditions = [r.between(a, b) & f.between(c, d) for _, a, b, c, d in REFERENCE_5]
    segment = pd.Series(np.select(conditions, [name for name, *_ in REFERENCE_5], "none"), index=per.index)
    return per, segment.value_counts().to_dict()


def run_cli(capsys, *args) -> dict:
    assert main(["rfm", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_rfm_json_matches_pandas(cdnow_path, capsys):
    out = run_cli(capsys, str(cdnow_path))
    per, expected = pandas_segments(cdnow_path)
    assert out["as_of"] == "1998-06-30"
    assert out["customers"] == 2357 == len(per)
    assert out["median_recency_days"] == per["recency"].median()
    assert out["median_frequency"] == per["orders"].median()
    assert out["median_monetary"] == pytest.approx(per["revenue"].median(), abs=0.005)
    assert list(out["segments"]) == list(SEGMENT_NAMES)
    assert {k: v for k, v in out["segments"].items() if v} == expected
    assert sum(out["segments"].values()) == 2357


def test_rfm_as_of_and_bins(cdnow_path, capsys):
    out = run_cli(capsys, str(cdnow_path), "--as-of", "1997-06-30")
    per, expected = pandas_segments(cdnow_path, "1997-06-30")
    assert out["as_of"] == "1997-06-30" and out["customers"] == len(per)
    assert {k: v for k, v in out["segments"].items() if v} == expected
    four = run_cli(capsys, str(cdnow_path), "--bins", "4")
    assert len(four["segments"]) == 11 and sum(four["segments"].values()) == 2357 and four["bins"] == 4


def test_rfm_ordinal_ties(cdnow_path, capsys):
    out = run_cli(capsys, str(cdnow_path), "--ties", "ordinal")
    _, expected = pandas_segments(cdnow_path, method="first")  # data sorted by id: first = id order
    assert {k: v for k, v in out["segments"].items() if v} == expected


def test_rfm_errors_say_what_to_do(cdnow_path, capsys):
    assert main(["rfm", str(cdnow_path), "--as-of", "1990-01-01"]) == 2
    assert "pick a later --as-of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rfm", str(cdnow_path), "--as-of", "30/06/1998"])
    assert "use YYYY-MM-DD" in capsys.readouterr().err
