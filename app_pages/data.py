"""Data: upload an order export, check what was read, save it to the workspace."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import streamlit as st

from crm_core.currency import MAX_RATES_BYTES, RatesError, read_rates
from crm_core.export import ORDER_HEADERS, readable_export, safe_csv_bytes
from crm_core.ingest import ColumnMapping, ReadOptions
from crm_core.schema import SIDE_TABLE_SCHEMAS
from ui.data import current_dataset_id
from ui.settings import current_settings, number_style
from ui.state import DEMO_DATASET_ID, Keys
from ui.upload import ingest_side_table, ingest_upload, save_upload
from ui.widgets import explain, figure_card, plain

DETECT = "Detect"
ENCODINGS = [DETECT, "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]
DELIMITERS = {DETECT: None, "Comma ,": ",", "Semicolon ;": ";", "Tab": "\t", "Pipe |": "|"}
DECIMALS = {DETECT: None, "Point (1,234.56)": ".", "Comma (1.234,56)": ","}
DATE_FORMATS = [DETECT, "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d-%m-%Y", "%m/%d/%Y %H:%M"]
PRESETS = [DETECT, "shopify", "stripe", "hubspot", "salesforce", "woocommerce", "online_retail", "cdnow", "none"]
MAPPED_FIELDS = {
    "customer_id": "Customer (id or email)",
    "order_date": "Order date",
    "amount": "Amount",
    "order_id": "Order id",
    "quantity": "Quantity",
    "unit_price": "Unit price (amount = quantity × price)",
    "channel": "Sales channel",
    "region": "Region",
    "category": "Product category",
    "cost": "Cost",
    "product": "Product (line item name)",
    "discount_code": "Discount code",
    "discount_amount": "Discount amount (money off the order)",
}
#: Revenue definitions the page offers when the export has both (Shopify).
REVENUE_CHOICES = {
    "net_sales": "Net sales: Subtotal net of refunds (before shipping and taxes), as Shopify's sales reports",
    "total": "Total: with shipping and taxes, net of refunds",
}
REVENUE_KEY = "ov_revenue"
APPEND_RESULT, APPEND_UNDONE = "append_result", "append_undone"
#: Exchange rates of the upload (widgets of the "data" rates box), and (file id, currencies) of the last read.
RATES_KEY, CURRENCIES_KEY = "data_rates_upload", "data_currencies"
#: (file id, currencies) of an export the append refused for want of rates; the refusal shown after the rerun.
APPEND_CURRENCIES, APPEND_REFUSED = "append_currencies", "append_refused"
SIDE_KINDS = {
    "customers": "Customers (attributes, acquisition channel)",
    "interactions": "Support interactions (CSAT, cost)",
    "marketing_spend": "Marketing spend (per month and channel)",
}

st.title("Data")
explain(
    "Upload an order export (Shopify, Stripe, HubSpot, Salesforce, WooCommerce, an ERP or Excel file). "
    "We detect its format and columns, show exactly what was read and what was rejected, and save it "
    "so every page can analyse it. Nothing you upload leaves this server."
)
upload_tab, saved_tab, side_tab = st.tabs(["Upload orders", "Saved datasets", "Add customer, support or marketing data"])


def _override_controls(columns: list[str]) -> tuple[ColumnMapping, ReadOptions]:
    """Widgets to override every detected setting and column; 'Detect' keeps detection."""
    with st.expander("Settings and column mapping (change if something was detected wrong)"):
        left, middle, right = st.columns(3)
        encoding = left.selectbox("Encoding", ENCODINGS, key="ov_encoding")
        delimiter = middle.selectbox("Delimiter", list(DELIMITERS), key="ov_delimiter")
        decimal = right.selectbox("Decimal mark", list(DECIMALS), key="ov_decimal")
        date_format = left.selectbox("Date format", DATE_FORMATS, key="ov_date_format", help="%d day, %m month, %Y year")
        preset = middle.selectbox("Export format", PRESETS, key="ov_preset")
        st.markdown("**Columns** — which column of your file holds each field")
        grid = st.columns(3)
        mapping = {}
        for index, (field, label) in enumerate(MAPPED_FIELDS.items()):
            choice = grid[index % 3].selectbox(label, [DETECT, *columns], key=f"ov_map_{field}")
            mapping[field] = None if choice == DETECT else choice
    options = ReadOptions(
        encoding=None if encoding == DETECT else encoding,
        delimiter=DELIMITERS[delimiter],
        decimal=DECIMALS[decimal],
        date_format=None if date_format == DETECT else date_format,
        preset=None if preset == DETECT else preset,
        revenue_definition=st.session_state.get(REVENUE_KEY),  # the switch is drawn with the report
    )
    return ColumnMapping(**mapping), options


def _exchange_rates(uploaded, options: ReadOptions) -> ReadOptions:
    """When the file's amounts are in several currencies: an optional rates table converts them to one."""
    file_id, found = st.session_state.get(CURRENCIES_KEY) or (None, [])
    if file_id != uploaded.file_id or len(found) < 2:
        return options
    problem = f"Totals would add {', '.join(found[:6])} as if they were one currency."
    return _rates_box(problem, found, current_settings().currency, options, key="data")


def _rates_box(problem: str, choices: list[str], preferred: str | None, options: ReadOptions, key: str) -> ReadOptions:
    """The Exchange rates box: reporting currency and a rates table; ``options`` with the checked rates.

    ``problem`` says why amounts need converting; ``choices`` are the currencies to report in (``preferred``
    first chosen); ``key`` prefixes the widgets' keys (``{key}_rates_upload``...), one box per flow.
    """
    with st.container(border=True):
        st.markdown("**Exchange rates** — the amounts are in several currencies")
        explain(
            f"{problem} Upload a rates table (CSV with "
            "columns date, currency, rate) to convert every order to one currency. The rate is how many units of "
            "the reporting currency one unit of the currency was worth that day: to report in EUR, the row "
            "2024-01-02, USD, 0.9123 says one dollar was worth 0.9123 euros. Each order uses the latest rate on "
            "or before its date; an order without one is set aside with the reason. See docs/currency.md."
        )
        left, right = st.columns([1, 2])
        reporting = left.selectbox("Report amounts in", choices,
                                   index=choices.index(preferred) if preferred in choices else 0,
                                   key=f"{key}_report_currency", help="The currency every amount is converted to.")
        rates_file = right.file_uploader("Exchange rates (optional)", type=["csv", "txt", "tsv"],
                                         key=f"{key}_rates_upload", max_upload_size=MAX_RATES_BYTES // 1024**2)
    if rates_file is None:
        return options
    read_before = st.session_state.get(f"{key}_rates_table")  # (upload id, checked RatesTable or the error line)
    if read_before is None or read_before[0] != rates_file.file_id:  # read and check once per upload
        try:
            read_before = (rates_file.file_id, read_rates(rates_file.getvalue(), name=rates_file.name))
        except RatesError as error:
            read_before = (rates_file.file_id, str(error))
        st.session_state[f"{key}_rates_table"] = read_before
    if isinstance(read_before[1], str):
        st.error(plain(f"The exchange rates cannot be used: {read_before[1]}. Fix the file and upload it again."))
        return options
    return replace(options, rates=read_before[1], currency=reporting)


def _remember_currencies(uploaded, report) -> None:
    """The currencies of this upload, so the exchange-rates section shows up (and stays) for it."""
    found = list(report.detected.get("currencies") or [])
    if len(found) > 1:
        first_time = st.session_state.get(CURRENCIES_KEY) != (uploaded.file_id, found)
        st.session_state[CURRENCIES_KEY] = (uploaded.file_id, found)
        if first_time:
            st.rerun()  # draw the exchange-rates section above the report (the read is not repeated)
    elif st.session_state.get(RATES_KEY) is None:
        st.session_state.pop(CURRENCIES_KEY, None)


def _revenue_definition(report) -> None:
    """Say which columns make revenue; offer the other definition where the export has one."""
    detected = report.detected
    chosen = detected.get("revenue_definition")
    if chosen in REVENUE_CHOICES:
        st.radio(
            "Revenue", list(REVENUE_CHOICES), format_func=REVENUE_CHOICES.get, index=list(REVENUE_CHOICES).index(chosen),
            key=REVENUE_KEY, horizontal=True,
            help="Net sales match the source system's own sales reports; Total is what customers paid, "
                 "including shipping and taxes. Orders refunded in full count with 0 and are not purchases.",
        )
    if detected.get("revenue_columns"):
        st.caption(plain(f"Revenue is {detected['revenue_columns']}."))


def _show_report(report, transactions: pl.DataFrame, file_name: str) -> None:
    _revenue_definition(report)
    if report.source_lines and report.source_lines != report.rows_read:
        figure_card(st, "ingest.source_lines", report.source_lines)
        style = number_style()
        st.caption(f"{style.count(report.source_lines)} lines, {style.count(report.rows_read)} orders: the export lists "
                   "one line per item, and the items of each order were merged into one row. Below, a row is an order.")
    columns = st.columns(5)
    for column, (metric_id, value) in zip(columns, (
            ("ingest.rows_read", report.rows_read), ("ingest.rows_kept", report.rows_valid),
            ("ingest.rows_rejected", report.rows_rejected), ("ingest.duplicates", report.duplicate_rows),
            ("ingest.returns", report.negative_amount_rows))):
        figure_card(column, metric_id, value)
    style = number_style()
    st.caption(f"Rows read = rows kept + rows rejected: {style.count(report.rows_read)} = {style.count(report.rows_valid)} + "
               f"{style.count(report.rows_rejected)}.")
    for warning in report.warnings:
        st.warning(plain(warning))
    st.markdown("**What we detected**")
    st.dataframe(report.detected_table(), hide_index=True)
    if report.rows_rejected:
        st.markdown("**Rejected rows** — fix them in your file, or change the settings above")
        st.dataframe(report.reasons_table(), hide_index=True)
        st.dataframe(report.rejected.head(1000), hide_index=True)
        st.download_button(
            "Download rejected rows (CSV)",
            lambda: safe_csv_bytes(readable_export(report.all_rejected().collect(), ORDER_HEADERS, set())),  # on click
            file_name=f"{Path(file_name).stem}_rejected.csv",
            mime="text/csv",
            key="download_rejected",
        )
    st.markdown("**Preview** — the first rows as the app will analyse them")
    st.dataframe(transactions.head(50), hide_index=True)


with upload_tab:
    uploaded = st.file_uploader(
        "Order export",
        type=["csv", "tsv", "txt", "gz", "parquet", "xlsx"],
        key=Keys.UPLOAD,
        help="CSV/TSV/TXT (any delimiter, optionally .gz), Parquet or Excel .xlsx; up to 500 MB.",
    )
    if uploaded is None:
        st.info(
            "Your file needs, per order or order line: who bought (customer id or email), when (order date) "
            "and how much (amount, or quantity and unit price). Optional: order id, quantity, sales channel, "
            "region, product category, cost."
        )
    else:
        previous = st.session_state.get(Keys.UPLOAD_RESULT)
        source_columns = []
        if previous is not None and previous.report is not None:
            source_columns = list(previous.report.detected.get("source_columns", []))
        mapping, options = _override_controls(source_columns)
        result = ingest_upload(uploaded, mapping, _exchange_rates(uploaded, options))
        if result.error:
            st.error(plain(result.error))
        else:
            _remember_currencies(uploaded, result.report)
            _show_report(result.report, result.transactions, uploaded.name)
            name = st.text_input("Name for this dataset", value=Path(uploaded.name).stem, key="upload_name")
            if st.button("Save and analyse", type="primary", key="upload_save"):
                dataset_id = save_upload(name or uploaded.name, uploaded, result)
                st.session_state[Keys.PENDING_DATASET] = dataset_id
                st.switch_page("app_pages/overview.py", query_params={})


def _workspace():
    from ui.auth import user_workspace  # the signed-in user's (or the local) workspace

    return user_workspace()


def _single_currency(detected: str | None) -> str | None:
    """The dataset's currency code, or None when it is unknown or mixed ('EUR, USD')."""
    return detected if detected and len(detected) == 3 and detected.isalpha() else None


def _append_options(new_file, saved: dict) -> ReadOptions:
    """Read the export as the dataset was read; with the Exchange rates box once it needs converting."""
    definition = saved.get("revenue_definition")
    options = ReadOptions(revenue_definition=definition if definition in REVENUE_CHOICES else None)
    file_id, found = st.session_state.get(APPEND_CURRENCIES) or (None, [])
    if file_id != new_file.file_id:
        return options
    dataset_currency = _single_currency(saved.get("currency"))
    choices = sorted({*found, dataset_currency} - {None})
    problem = (f"The export's amounts are in {', '.join(found[:6])}"
               + (f" and the dataset's in {dataset_currency}." if dataset_currency else "."))
    return _rates_box(problem, choices, dataset_currency, options, key="append")


def _currency_problem(found: list[str], dataset_currency: str | None) -> str | None:
    """Why the export's amounts cannot be added to the dataset's as they are, or None."""
    if len(found) > 1:
        return f"The export's amounts are in {len(found)} currencies ({', '.join(found[:6])})"
    if found and dataset_currency and found[0] != dataset_currency:
        return f"The export's amounts are in {found[0]} and the dataset's in {dataset_currency}"
    return None


def _append(workspace, target: str, new_file, options: ReadOptions, dataset_currency: str | None) -> None:
    """Read the export and append it; refuse (nothing appended) when its currencies need a rates table."""
    from crm_core.ingest import IngestError, read_orders

    try:
        tx, report = read_orders(new_file.getvalue(), None, options, filename=new_file.name)
        found = list(report.detected.get("currencies") or [])
        problem = None if options.rates is not None else _currency_problem(found, dataset_currency)
        if problem:
            st.session_state[APPEND_CURRENCIES] = (new_file.file_id, found)
            st.session_state[APPEND_REFUSED] = (
                f"Nothing was appended: {problem}, and totals would add them as if they were one currency. "
                "Upload an exchange-rates table (date, currency, rate) in the Exchange rates box above, "
                "then press Append export again.")
            st.rerun()  # draw the Exchange rates box above the button
        result = workspace.append_export(target, new_file.getvalue(), new_file.name, tx, lines=report.lines)
        st.session_state[APPEND_RESULT] = (target, result, list(report.warnings))
    except IngestError as error:
        st.error(plain(str(error)))


def _append_controls(names: dict[str, str]) -> None:
    """Append a newer export to a saved dataset, show the reconciliation, offer Undo."""
    st.markdown("**Append export** — add this month's export to a saved dataset")
    explain("Orders already saved are matched by order id (or, without ids, by customer, date and amount): "
            "identical ones are skipped as duplicates, changed ones (e.g. refunded since) replace the saved "
            "version, and new ones are added. The previous version is kept, so you can undo.")
    current = current_dataset_id()
    ids = list(names)
    target = st.selectbox("Dataset to extend", ids, format_func=names.get, key="append_target",
                          index=ids.index(current) if current in ids else 0)
    workspace = _workspace()
    new_file = st.file_uploader("Newer export of the same shop or system", type=["csv", "tsv", "txt", "gz", "parquet", "xlsx"],
                                key="append_upload")
    if new_file is not None:
        saved = workspace.report(target).detected
        options = _append_options(new_file, saved)
        if st.button("Append export", type="primary", key="append_button"):
            _append(workspace, target, new_file, options, _single_currency(saved.get("currency")))
    if st.session_state.get(APPEND_REFUSED):
        st.error(plain(st.session_state.pop(APPEND_REFUSED)))
    shown_target, result, warnings = st.session_state.get(APPEND_RESULT) or (None, None, [])
    if result is not None and shown_target == target:
        columns = st.columns(3)
        figure_card(columns[0], "append.new_orders", result.new_orders)
        figure_card(columns[1], "append.changed_orders", result.changed_orders)
        figure_card(columns[2], "append.duplicate_orders", result.duplicate_orders)
        st.success(result.sentence())
        for warning in warnings:  # e.g. "Amounts converted to EUR with your rates table (...)"
            st.warning(plain(warning))
        if result.changed:
            st.caption("Changed orders (the newer export's version is kept)")
            st.dataframe(pl.DataFrame(result.changed), hide_index=True)
    appended = workspace.appends(target)
    if appended:
        st.caption(f"{len(appended)} export(s) appended to this dataset; the last one was {appended[-1].source_filename or 'a file'}.")
        if st.button("Undo the last append", key="append_undo"):
            undone = workspace.undo_append(target)
            st.session_state.pop(APPEND_RESULT, None)
            st.session_state[APPEND_UNDONE] = f"Undone: the dataset is back to {number_style().count(undone.orders_before)} orders."
            st.rerun()
    if st.session_state.get(APPEND_UNDONE):
        st.success(st.session_state.pop(APPEND_UNDONE))


with saved_tab:
    entries = _workspace().list_datasets()
    if not entries:
        st.info("No saved datasets yet. Upload an export in the first tab; the demo is always available.")
    else:
        st.dataframe(
            [
                {"name": e.name, "file": e.source_filename, "saved": e.created_at, "rows kept": e.rows_valid, "rows rejected": e.rows_rejected}
                for e in entries
            ],
            hide_index=True,
        )
        names = {entry.id: entry.name for entry in entries}
        _append_controls(names)
        doomed = st.selectbox("Delete a dataset", list(names), format_func=names.get, key="delete_choice")
        if st.button("Delete permanently", key="delete_dataset"):
            _workspace().delete(doomed)
            if current_dataset_id() == doomed:
                st.session_state[Keys.PENDING_DATASET] = DEMO_DATASET_ID
            st.rerun()


with side_tab:
    dataset_id = current_dataset_id()
    if dataset_id == DEMO_DATASET_ID:
        st.info("The demo already has customer, support and marketing data. Save an upload first, then add its side tables here.")
    else:
        kind = st.selectbox("What kind of file", list(SIDE_KINDS), format_func=SIDE_KINDS.get, key=Keys.SIDE_KIND)
        expected = ", ".join(SIDE_TABLE_SCHEMAS[kind])
        st.caption(f"Expected columns: {expected}")
        side_file = st.file_uploader("File", type=["csv", "tsv", "txt", "gz", "parquet", "xlsx"], key=Keys.SIDE_UPLOAD)
        if side_file is not None:
            frame, report, error = ingest_side_table(side_file, kind)
            if error:
                st.error(plain(error))
            else:
                st.caption(f"{number_style().count(report.rows_valid)} rows kept, {number_style().count(report.rows_rejected)} rejected.")
                st.dataframe(frame.head(20), hide_index=True)
                if st.button("Attach to the current dataset", type="primary", key="attach_side"):
                    _workspace().add_side_table(dataset_id, kind, frame.lazy())
                    st.success("Attached. Every page now uses it.")


from ui.warehouse_ui import render_warehouse_connect  # noqa: E402  (kept beside its only call)

render_warehouse_connect()
