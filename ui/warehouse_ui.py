"""Data page: "Connect a database" — Overview figures computed inside PostgreSQL, DuckDB or Spark.

Only aggregates travel: KPI cards, the monthly trend and the per-customer
summary are computed by the engine (crm_core.engines, through Ibis); raw rows
are fetched only for one customer's drill-down, with a limit. Results are
cached for a few minutes per source and period (the data may change underneath).

The panel runs only while it is open: Ibis takes most of a second to import, and
the Data page's first visit should not wait for it (nor ask a connected database
again on every run while the panel is closed).
"""
from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import polars as pl
import streamlit as st

from crm_core.charts.overview import kpi_trend_figure
from crm_core.export import ORDER_HEADERS, ORDER_MONEY, readable_export, safe_csv_bytes
from crm_core.ingest import ColumnMapping
from crm_core import format as fmt
from crm_core.kpis import comparison_window, default_window, format_delta, previous_period, trend_takeaway
from ui.sections import KEEP
from ui.settings import current_settings, number_style
from ui.state import Keys
from ui.widgets import chart, figure_card, plain, takeaway

if TYPE_CHECKING:
    from crm_core.engines import Warehouse, WarehouseSource

SERVER_URI_ENV = "CRM_WAREHOUSE_URL"
ALLOW_URI_ENV = "CRM_WAREHOUSE_ALLOW_URI"
CACHE_SECONDS = 300
TOP_CUSTOMERS = 20
FIELDS = {
    "customer_id": "Customer (id or email)",
    "order_date": "Order date",
    "amount": "Amount",
    "order_id": "Order id",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "channel": "Sales channel",
    "region": "Region",
    "category": "Product category",
    "cost": "Cost",
}


def _server_uri() -> str | None:
    return os.environ.get(SERVER_URI_ENV) or None


def _typed_uri_allowed() -> bool:
    return os.environ.get(ALLOW_URI_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Connecting…")
def _warehouse(source: WarehouseSource) -> Warehouse:
    """One engine (connection pool) per source, shared by sessions."""
    from crm_core.engines import Warehouse

    return Warehouse(source)


@st.cache_data(max_entries=16, ttl=CACHE_SECONDS, show_spinner="Counting in the database…")
def _describe(source: WarehouseSource) -> dict:
    return _warehouse(source).describe()


@st.cache_data(max_entries=32, ttl=CACHE_SECONDS, show_spinner="Computing KPIs in the database…")
def _figures(source: WarehouseSource, start: dt.date, end: dt.date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(KPI comparison of the default window, monthly trend, per-customer summary) of start..end."""
    warehouse = _warehouse(source)
    card_start, card_end = comparison_window(start, end, default_window(start, end))
    comparison, trend = warehouse.overview(card_start, card_end, start, end, "month")
    return comparison, trend, warehouse.customer_summary(start, end)


def _source_form() -> WarehouseSource | None:
    """Connection widgets; returns a source when 'Connect' is pressed."""
    server_uri = _server_uri()
    if server_uri:
        st.caption("Using the database configured on this server.")
        uri = server_uri
    elif _typed_uri_allowed():
        uri = st.text_input("Connection URI", type="password", key=Keys.WH_URI, persist_state=KEEP,
                            placeholder="postgresql://reader:password@db.example.com:5432/shop",
                            help="PostgreSQL (postgresql://user:password@host:5432/db), DuckDB "
                                 "(duckdb:///path/orders.duckdb) or Spark (spark://host:7077). Use an account "
                                 "that can only read. The URI stays in this browser session only.")
    else:
        st.info("Connecting to a database is switched off on this server; ask whoever runs it to configure one.")
        return None
    kind = st.segmented_control("The orders are in", ["table", "query"], default="table", required=True,
                                format_func={"table": "A table or view", "query": "A SELECT query"}.get, key=Keys.WH_KIND,
                                persist_state=KEEP)
    if kind == "query":
        table, query = None, st.text_area("SELECT query", key=Keys.WH_QUERY, persist_state=KEEP, placeholder="SELECT * FROM sales.orders WHERE …")
    else:
        table, query = st.text_input("Table", key=Keys.WH_TABLE, persist_state=KEEP, placeholder="sales.orders"), None
    st.caption("Columns: leave blank when the column has this name (customer_id, order_date, amount, …).")
    grid = st.columns(5)
    mapping = {field: grid[index % 5].text_input(label, key=f"{Keys.WH_MAP}{field}", persist_state=KEEP).strip() or None
               for index, (field, label) in enumerate(FIELDS.items())}
    if not st.button("Connect", type="primary", key="wh_connect", icon=":material/database:"):
        return None
    if not uri or not (table or query):
        st.error("Enter the connection URI and a table (or a query), then press Connect.")
        return None
    from crm_core.engines import WarehouseSource

    return WarehouseSource(uri=uri.strip(), table=(table or "").strip() or None, query=query or None,
                           mapping=ColumnMapping(**mapping))


def _kpi_cards(comparison: pl.DataFrame, trend: pl.DataFrame, period: str) -> None:
    """The Overview's cards, computed by the database: catalogue label, definition and ``period`` as help."""
    columns = st.columns(4)
    for index, row in enumerate(comparison.iter_rows(named=True)):
        figure_card(columns[index % 4], row["kpi"], row["value"], period,
                    delta=format_delta(row["delta"], row["delta_pct"], row["kind"], style=number_style()),
                    chart_data=trend[row["kpi"]].fill_null(0).to_list(),
                    chart_type="bar" if row["kind"] in ("money", "count") else "line")


def _results(source: WarehouseSource) -> None:
    from crm_core.engines import top_customers

    described = _describe(source)
    if not described["rows"]:
        st.warning("Connected, but the table or query has no usable rows (customer, date and amount all filled).")
        return
    first, last = described["first_date"], described["last_date"]
    style = number_style()
    st.success(f"Connected: {style.count(described['rows'])} order lines, {style.count(described['customers'])} "
               f"customers, {fmt.period(first, last, ' – ')}.")
    chosen = st.date_input("Period", value=(first, last), min_value=first, max_value=last, key=Keys.WH_PERIOD)
    start, end = (chosen[0], chosen[1]) if len(chosen) == 2 else (first, last)
    comparison, trend, summary = _figures(source, start, end)
    card_start, card_end = comparison_window(start, end, default_window(start, end))
    prev_start, prev_end = previous_period(card_start, card_end)
    windows = f"{fmt.period(card_start, card_end, ' – ')}, compared with {fmt.period(prev_start, prev_end, ' – ')}"
    st.caption(f"Cards: {windows}.")
    _kpi_cards(comparison, trend, windows)
    chart(kpi_trend_figure(trend, "revenue", "month"), key="wh_trend")
    takeaway(trend_takeaway(trend, "revenue", "month", style=style))
    top, sentence = top_customers(summary, TOP_CUSTOMERS, style=style)
    st.markdown(f"**Top {min(TOP_CUSTOMERS, summary.height)} customers by revenue**")
    takeaway(sentence)
    st.dataframe(top, hide_index=True)
    _drill_down(source, top, start, end)


def _drill_down(source: WarehouseSource, top: pl.DataFrame, start: dt.date, end: dt.date) -> None:
    from crm_core.engines import DEFAULT_DRILL_ROWS

    if top.is_empty():
        return
    customer = st.selectbox("Order lines of", top["customer_id"].to_list(), key=Keys.WH_DRILL,
                            help=f"Fetched from the database, newest first, at most {DEFAULT_DRILL_ROWS} lines.")
    rows = _warehouse(source).rows(customer_id=customer, start=start, end=end, limit=DEFAULT_DRILL_ROWS)
    st.dataframe(rows, hide_index=True)
    readable = readable_export(rows, ORDER_HEADERS, set(ORDER_MONEY), currency=current_settings().currency)
    st.download_button("Download these lines (CSV)", safe_csv_bytes(readable), file_name="order_lines.csv",
                       mime="text/csv", key="wh_download")


def render_warehouse_connect() -> None:
    """The "Connect a database" expander of the Data page; what is inside runs only while it is open."""
    panel = st.expander("Connect a database (PostgreSQL, DuckDB, Spark)", icon=":material/database:",
                        key=Keys.WH_PANEL, on_change="rerun")
    if not panel.open:
        return
    from crm_core.engines import DEFAULT_DRILL_ROWS, WarehouseError

    with panel:
        st.markdown(
            "Analyse orders that live in a database without downloading them: the database computes the "
            "KPIs, the trend and the per-customer totals, and only those totals come back. "
            "Individual order lines are fetched only when you open one customer, and at most "
            f"{DEFAULT_DRILL_ROWS} of them."
        )
        try:
            submitted = _source_form()
            if submitted is not None:
                _warehouse(submitted)  # connect now, so mistakes show at once
                st.session_state[Keys.WH_SOURCE] = submitted
            source = st.session_state.get(Keys.WH_SOURCE)
            if source is not None:
                _results(source)
        except WarehouseError as error:
            st.error(plain(str(error)))
