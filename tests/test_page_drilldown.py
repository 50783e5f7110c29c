"""Every customer list (tiers, segments, clusters, at-risk, drivers, the Actions target list) opens the customer
in Customer 360, which lists their orders, lines and refunds."""
from __future__ import annotations

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, app_path
from ui.state import Keys

DEMO_ORDERS = ROOT / "data" / "demo" / "transactions.parquet"
LISTS = {  # page, list key, and the page's lazy tab holding the list (key, label)
    "tiers": ("app_pages/portfolio.py", Keys.PF_DOWNLOAD, (Keys.PF_TAB, "Cost to serve & customer lists")),
    "segments": ("app_pages/segments.py", Keys.SEG_DOWNLOAD, None),
    "clusters": ("app_pages/segments.py", Keys.CLU_DOWNLOAD, (Keys.SEG_TAB, "Behavioural clusters")),
    "at-risk": ("app_pages/lifetime.py", "lt_download", (Keys.LT_TAB, "Active, next order, at risk")),
    "drivers": ("app_pages/drivers.py", Keys.DRV_CUSTOMERS, None),
    "actions": ("app_pages/actions.py", Keys.TARGETS_TABLE, None),
}


@pytest.fixture(scope="module")
def app() -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=300)
    at.run()
    return at


@pytest.mark.parametrize("name", list(LISTS))
def test_a_selected_row_opens_the_customer_in_customer_360(app, name):
    page, key, tab = LISTS[name]
    app.switch_page(page).run()
    assert not app.exception, app.exception
    if tab:
        app.session_state[tab[0]] = tab[1]
        app.run()
    app.session_state[f"{key}_rows"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    opener = [b for b in app.button if b.label.startswith("Open ") and b.label.endswith(" in Customer 360")]
    assert opener, f"selecting a row of the {name} list offers Customer 360"
    customer = opener[0].label.removeprefix("Open ").removesuffix(" in Customer 360")
    opener[0].click().run()
    assert not app.exception, app.exception
    assert app.subheader[0].value == customer
    assert "Orders, lines and refunds" in [s.value for s in app.subheader]
    lines = next(frame.value for frame in app.dataframe if "kind" in frame.value.columns)
    assert len(lines) == pl.read_parquet(DEMO_ORDERS).filter(pl.col("customer_id") == customer).height
    app.session_state[f"{key}_rows"] = {"selection": {"rows": [], "columns": [], "cells": []}}
