"""Small display helpers shared by pages (no computation of their own)."""
from __future__ import annotations

import re

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from crm_core.charts.sparkline import delta_tone, sparkline_svg
from crm_core.export import safe_csv_bytes
from ui.figures import FigureSpec, drawn
from ui.state import Keys


def takeaway(sentence: str) -> None:
    """A one-line plain-language reading of the chart above (user text: never HTML)."""
    st.caption(f":material/lightbulb: {plain(sentence)}")


def chart(fig: go.Figure | FigureSpec, key: str, money_axis: str | None = None, count_axis: str | None = None,
          deck: bool = True, toolbar: bool = True) -> None:
    """Draw a Plotly figure full width with the shared config, in the view's number format, and an
    "Add to deck" button under it.

    Money axes (marked by the builder with ``crm_core.charts.theme.money_axis``, or named here by
    ``money_axis``: "x" or "y") get the view's currency and thousands separators, like the cards;
    ``count_axis`` gets whole-number ticks only (builders normally set both themselves).
    The button keeps the figure as drawn, its key and title and the current settings as a slide
    (see ui.deck); ``deck=False`` leaves it out, ``toolbar=False`` hides Plotly's toolbar.
    A :func:`ui.figures.figure` spec is built once per distinct input and number format, for every
    session (:func:`ui.figures.drawn`); a built figure is finished here on every run.
    """
    from crm_core.charts import theme
    from ui.settings import display_currency, display_locale

    currency, locale = display_currency(), display_locale()

    def finish(built: go.Figure) -> None:
        theme.with_currency(built, currency, locale, [money_axis] if money_axis else [])
        if count_axis:
            values = [v for trace in built.data for v in (getattr(trace, count_axis, None) or ())]
            theme.count_axis(built, count_axis, theme.largest(values))

    if isinstance(fig, FigureSpec):
        fig = drawn(fig, (currency, locale, money_axis, count_axis), finish)
    else:
        finish(fig)
    config = {"displaylogo": False} if toolbar else {"displayModeBar": False}
    # ``key`` does not keep the chart in place when its figure changes: Streamlit 1.67 still derives the element's
    # id from the figure's JSON besides the key (plotly_chart: key_as_main_identity=False), so a new figure is a
    # new element and the browser mounts it afresh. streamlit/streamlit#16052 (open) would make a key the identity.
    st.plotly_chart(fig, width="stretch", theme=None, key=key, config=config)
    if deck:
        from ui.deck import add_chart  # imported here: ui.deck reads the data glue, which imports this module

        st.button("Add to deck", key=f"{Keys.DECK_ADD}{key}", icon=":material/playlist_add:", type="tertiary",
                  on_click=add_chart, args=(fig, key), help="Add this chart, as it is now, to the deck for meeting "
                  "mode and the PowerPoint download (Present › Deck).")


def explain(text: str) -> None:
    """A short explanation of what this screen shows, at its top."""
    st.markdown(text)


_MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|<>~$"
_JOINER = "\u2060"
#: What Markdown links by itself: "http(s)://", "ftp://", "www." (here with its dot escaped) and "x@" of an address.
_AUTOLINK = re.compile(r"(?i)https?:|ftp:|www\\\.|[a-z0-9_+\\.-]@")


def plain(text: str) -> str:
    """Escape Markdown so user text (file or column names) shows literally.

    Streamlit never renders raw HTML here, but Markdown links or images in a
    file's text would still render; escaping keeps user text inert.
    """
    escaped = "".join("\\" + char if char in _MARKDOWN_SPECIALS else char for char in str(text))
    # Markdown turns web and e-mail addresses into links even when escaped: a word joiner (invisible, no
    # break) inside "http", "www" and before "@" keeps them text.
    return _AUTOLINK.sub(lambda found: found.group(0)[0] + _JOINER + found.group(0)[1:], escaped)


# Tables ---------------------------------------------------------------------------------------
MONEY_FORMAT = "%,.2f"   # 1,234.57: every amount to the cent, with thousands separators
COUNT_FORMAT = "%,d"


def money_column(label: str, help: str | None = None):
    """A money column: thousands separators, two decimals; :func:`table` adds the view's currency to the header."""
    return st.column_config.NumberColumn(label, format=MONEY_FORMAT, help=help)


def count_column(label: str, help: str | None = None):
    """A whole-number column with thousands separators."""
    return st.column_config.NumberColumn(label, format=COUNT_FORMAT, help=help)


#: 0-1 shares are shown as percent with one decimal ("48.7%", "43.0%"): Streamlit's own
#: "percent" format drops trailing zeros, so a column mixes "43%" and "48.7%" and does not align.
PERCENT_FORMAT = "%.1f%%"


def share_column(label: str, help: str | None = None):
    """A 0-1 share shown as a percentage with one decimal; show it through :func:`table`."""
    return st.column_config.NumberColumn(label, format=PERCENT_FORMAT, help=help)


#: Labels and formats of the per-customer columns the engines return (any subset may be present).
CUSTOMER_COLUMNS = {
    "customer_id": "Customer",
    "name": "Name",
    "email": "E-mail",
    "tier": "Tier",
    "quadrant": "Quadrant",
    "segment": "RFM segment",
    "cluster": "Cluster",
    "cluster_name": "Cluster description",
    "value_band": "Value band",
    "value_rank": count_column("Rank"),
    "r_score": "R score",
    "f_score": "F score",
    "m_score": "M score",
    "recency_days": count_column("Days since last purchase"),
    "orders": count_column("Orders"),
    "revenue": money_column("Revenue"),
    "margin": money_column("Margin"),
    "contribution": money_column("Margin after cost to serve"),
    "aov": money_column("Average order value"),
    "clv": money_column("Predicted CLV"),
    "predicted_clv": money_column("Predicted value"),
    "p_alive": share_column("Probability still active"),
    "probability_active": share_column("Chance still active"),
    "expected_purchases": st.column_config.NumberColumn("Expected purchases", format="%.2f"),
    "value_low": money_column("Value, low end of range"),
    "value_high": money_column("Value, high end of range"),
    "purchases_low": count_column("Purchases, low end of range"),
    "purchases_high": count_column("Purchases, high end of range"),
    "usual_gap_days": st.column_config.NumberColumn("Usual days between orders", format="%.0f"),
    "overdue": st.column_config.CheckboxColumn("Overdue"),
    "next_order_date": st.column_config.DateColumn("Next order expected (empty: probably lapsed)"),
    "repeat_purchases": count_column("Repeat purchases so far"),
    "last_purchase_date": st.column_config.DateColumn("Last purchase"),
    "days_since_last_purchase": count_column("Days since last purchase"),
    "revenue_to_date": money_column("Revenue so far"),
    "first_date": st.column_config.DateColumn("First purchase"),
    "second_date": st.column_config.DateColumn("Second purchase"),
    "first_order_value": money_column("First order value"),
    "value_365": money_column("Revenue in the first year"),
    "last_date": st.column_config.DateColumn("Last purchase"),
    "returns": money_column("Returned amount"),
    "return_lines": count_column("Returned lines"),
    "contacts": count_column("Contacts"),
    "cost_to_serve": money_column("Cost to serve"),
    "days_late_mean": st.column_config.NumberColumn("Average days late", format="%.1f"),
    "categories": count_column("Categories bought"),
    "channels": count_column("Channels used"),
    "tenure_days": count_column("Days since first purchase"),
    "objective": "Objective",
    "action": "Recommended action",
    "channel": "Channel",
    "offer": "Offer",
    "rule": "Playbook row",
}


#: Row height (px) of a table whose cells wrap: Streamlit's grid wraps cell text only in rows taller than 4rem
#: (64 px, its frontend's rule); 68 px holds three lines.
WRAPPED_ROW = 68


def table(frame: pl.DataFrame, column_config: dict, **options):
    """``st.dataframe`` (no index, full width) that shows :func:`share_column` columns as percent.

    The 0-1 values are scaled to percent points for display only; downloads keep the shares.
    """
    shares = [name for name, config in column_config.items()
              if name in frame.columns and isinstance(config, dict)
              and config.get("type_config", {}).get("format") == PERCENT_FORMAT]
    shown = frame.with_columns(pl.col(shares) * 100) if shares else frame
    return st.dataframe(shown, **{"hide_index": True, "width": "stretch", **options},
                        column_config=with_currency(column_config))


def with_currency(column_config: dict) -> dict:
    """Money columns (:func:`money_column`) named with the view's currency: 'Revenue (EUR)'."""
    suffix = currency_suffix()
    if not suffix:
        return column_config
    return {name: ({**config, "label": f"{config.get('label') or name}{suffix}"}
                   if isinstance(config, dict) and config.get("type_config", {}).get("format") == MONEY_FORMAT else config)
            for name, config in column_config.items()}


#: Labels and formats of the per-group columns the engines return (tiers, segments, quadrants, clusters).
GROUP_COLUMNS = {
    "customers": count_column("Customers"),
    "customer_share": share_column("Share of customers"),
    "revenue": money_column("Revenue"),
    "revenue_share": share_column("Share of revenue"),
    "margin": money_column("Margin"),
    "mean_revenue": money_column("Revenue per customer (mean)"),
    "mean_orders": st.column_config.NumberColumn("Orders (mean)", format="%.1f"),
    "mean_recency_days": st.column_config.NumberColumn("Days since last purchase (mean)", format="%,.0f"),
    "aov": money_column("Average order value"),
    "advice": "What to do",
}


def group_table(frame: pl.DataFrame, **columns) -> None:
    """A table with one row per group: the shared :data:`GROUP_COLUMNS` plus this table's own ``columns``.

    "What to do" comes right after the group's name: last, it was past the table's width at 1366 px (cut).
    """
    if "advice" in frame.columns and frame.width > 2:
        first = frame.columns[0]
        frame = frame.select(first, "advice", pl.exclude(first, "advice"))
    table(frame, {**GROUP_COLUMNS, **columns})


def file_slug(text: str) -> str:
    """A file-name-safe version of a group name ("Can't Lose Them" -> "can_t_lose_them")."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "customers"


@st.cache_resource(max_entries=8, show_spinner=False)
def _known_contacts(key, start, end) -> pl.DataFrame | None:
    """Name and e-mail per customer of the view's dataset (see crm_core.actions.known_contacts)."""
    from crm_core.actions import known_contacts
    from ui.data import load_view_dataset

    dataset = load_view_dataset(key, start, end)
    return known_contacts(dataset.transactions, dataset.customers)


def with_contacts(members: pl.DataFrame) -> pl.DataFrame:
    """``members`` with the customer's name and e-mail next to the id, wherever the customers table
    (else the orders file itself) has them."""
    from ui.data import dataset_key, selected_period

    if "customer_id" not in members.columns:
        return members
    contacts = _known_contacts(dataset_key(), *selected_period())
    if contacts is None:
        return members
    wanted = [name for name in ("name", "email") if name in contacts.columns and name not in members.columns]
    if not wanted:
        return members
    known = contacts.select("customer_id", *wanted)
    joined = members.join(known, on="customer_id", how="left", coalesce=True)
    return joined.select("customer_id", *wanted, *[name for name in members.columns if name != "customer_id"])


def readable_members(members: pl.DataFrame) -> pl.DataFrame:
    """Customers for a manager's CSV: readable headers, amounts to the cent in the view's currency, no float noise."""
    from crm_core.export import readable_export
    from ui.settings import display_currency

    labels = {name: _label(config) for name, config in CUSTOMER_COLUMNS.items()} | EXPORT_LABELS
    return readable_export(members, labels, MONEY_COLUMNS, SHARE_COLUMNS, display_currency())


def readable_download(frame: pl.DataFrame, columns: dict) -> pl.DataFrame:
    """A table for a manager's CSV, labelled like on screen: ``columns`` is the :func:`table` config
    (money columns to the cent with the view's currency in the header, shares in percent)."""
    from crm_core.export import readable_export
    from ui.settings import display_currency

    labels = {name: _label(config) for name, config in columns.items()}
    money = {name for name, config in columns.items() if _format(config) == MONEY_FORMAT}
    shares = {name for name, config in columns.items() if _format(config) == PERCENT_FORMAT}
    return readable_export(frame, labels, money, shares, display_currency())


def _format(config) -> str | None:
    return config.get("type_config", {}).get("format") if isinstance(config, dict) else None


def _label(config) -> str:
    return config if isinstance(config, str) else config.get("label", "")


#: Export headers that differ from the on-screen column labels (the same as target lists').
EXPORT_LABELS = {"customer_id": "Customer ID", "name": "Customer name"}
#: Customer columns holding amounts and 0-1 shares (exports round to the cent and write percent).
MONEY_COLUMNS = {"revenue", "margin", "contribution", "aov", "clv", "predicted_clv", "revenue_to_date", "returns",
                 "cost_to_serve", "value_low", "value_high", "first_order_value", "value_365"}
SHARE_COLUMNS = {"p_alive", "probability_active"}


def customer_list(members: pl.DataFrame, group: str, file_prefix: str, key: str, shown_rows: int = 1000) -> None:
    """The customers of one group (best first): count, readable table and an injection-safe CSV download.

    Name and e-mail are added wherever the customers table has them.
    """
    from ui.settings import number_style

    members = with_contacts(members)
    style = number_style()
    more = f"; showing the best {style.count(shown_rows)} (the download has all)." if members.height > shown_rows else "."
    st.caption(plain(f"{style.count(members.height)} customers in {group}{more} Select a row to open the customer in Customer 360."))
    selectable_customers(members.head(shown_rows), key)
    st.download_button(
        "Download these customers (CSV)", data=safe_csv_bytes(readable_members(members)), file_name=f"{file_prefix}_{file_slug(group)}.csv",
        mime="text/csv", icon=":material/download:", key=key,
        help="Opens in Excel with readable headers; amounts are rounded to the cent, in the currency named in "
             "the header; shares are in percent; cells that could run as formulas are neutralised.")


def selectable_customers(shown: pl.DataFrame, key: str) -> None:
    """A customer table whose selected row offers to open that customer in Customer 360."""
    event = table(shown, CUSTOMER_COLUMNS, on_select="rerun", selection_mode="single-row", key=f"{key}_rows")
    rows = event.selection.rows if event is not None else []
    if rows and "customer_id" in shown.columns:
        open_in_customer_360(str(shown["customer_id"][rows[0]]), key)


# Catalogue figures ------------------------------------------------------------------------------
def currency_suffix() -> str:
    """' (EUR)' for labels of money inputs and axes; '' when the currency is not stated."""
    from ui.settings import display_currency

    code = display_currency()
    return f" ({code})" if code else ""


def format_figure(value, unit: str) -> str:
    """A value in the view's currency and number format (crm_core.format)."""
    from crm_core import format as fmt
    from ui.settings import display_currency, display_locale

    return fmt.value(value, unit, display_currency(), display_locale())


def format_figure_exact(value) -> str:
    """An expected count as computed (43.4), in the view's number format: the help of an 'estimate' card."""
    from crm_core import format as fmt
    from ui.settings import display_locale

    return fmt.estimate_exact(value, display_locale())


def money_text(value, decimals: int | None = None) -> str:
    """Money for takeaways and captions: currency and number format of the view."""
    from crm_core import format as fmt
    from ui.settings import display_currency, display_locale

    return fmt.money(value, display_currency(), display_locale(), decimals)


def figure_card(container, metric_id: str, value, period: str | None = None, delta: str | None = None,
                label: str | None = None, shown: str | None = None, note: str = "", **options) -> None:
    """A card for a catalogue figure: its label, the value formatted by unit, definition and period as help.

    Every card of every page goes through here, so each figure on screen carries the catalogue's definition
    and its period. ``period`` defaults to the catalogue's (e.g. "one campaign ..."); ``shown`` replaces
    the formatted value (e.g. "n/a" with a reason in ``note``); ``label`` names a variant of the figure
    (e.g. the card's window); names and other text values are shown literally. Keys of ``options`` that
    ``st.metric`` takes (``chart_data``, ``chart_type``, ``delta_color``) go to it; the rest fill the
    catalogue's templates (``tier``, ``months``, ``gap``...).
    """
    from crm_core.metrics import metric

    chart_data, chart_type = options.pop("chart_data", None), options.pop("chart_type", "line")
    delta_color = options.pop("delta_color", "normal")
    entry = metric(metric_id)
    text = shown if shown is not None else format_figure(value, entry.unit)
    if entry.unit == "text":
        text = plain(text)
    help_text = f"{entry.definition.format(**options)} Period: {period or entry.period.format(**options)}."
    if entry.unit == "estimate" and shown is None:  # the card shows '≈ 43'; the value as computed is here
        help_text += f" As computed: {format_figure_exact(value)}."
    title = label or entry.label.format(**options)
    drawing = None if chart_data is None else sparkline_svg(chart_data, chart_type, delta_tone(delta, delta_color))
    if drawing is None:
        container.metric(title, text, delta=delta, delta_color=delta_color, border=True, help=f"{help_text} {note}".strip())
        return
    # The small chart as a static picture (crm_core.charts.sparkline): st.metric's own chart is a Vega chart the
    # browser compiles and draws again on every rerun. The bordered box holds the card and its picture.
    card = container.container(border=True, gap=None)
    card.metric(title, text, delta=delta, delta_color=delta_color, help=f"{help_text} {note}".strip())
    card.image(drawing, width="stretch", alt=f"{title}: small chart of its trend")


CUSTOMER_360_PAGE = "app_pages/customer360.py"


def open_in_customer_360(customer_id: str, key: str) -> None:
    """A button opening Customer 360 on ``customer_id`` (orders, lines, refunds, contacts, next action).

    The id goes through session state, not the URL: lists may be keyed by e-mail addresses.
    """
    if st.button(f"Open {customer_id} in Customer 360", key=f"{key}_open", icon=":material/person_search:"):
        from ui.state import Keys

        st.session_state[Keys.C360_QUERY] = customer_id
        st.session_state[Keys.C360_PICK] = customer_id
        # Handing over the hand-synced parameters (not None): st.switch_page refuses to clear a URL that holds
        # a widget-bound one (an open tab, a bound control); bound ones come back with their widgets.
        carried = {name: st.query_params[name] for name in (Keys.SETTINGS_URL, Keys.DATASET_ID) if name in st.query_params}
        st.switch_page(CUSTOMER_360_PAGE, query_params=carried)
