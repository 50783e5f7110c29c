"""Drivers: which first products, offers, channels, regions and months bring customers who come back and are worth more."""
from __future__ import annotations

import polars as pl
import streamlit as st

from crm_core import drivers, offers, products
from crm_core import format as fmt
from crm_core.charts.drivers import (
    depth_figure,
    driver_figure,
    journey_figure,
    offer_figure,
    products_figure,
    refund_figure,
    repeat_figure,
    timing_figure,
)
from crm_core.export import safe_csv_bytes
from crm_core.schema import C
from ui import drivers as data
from ui.background import progress_note, ready
from ui.data import selected_period
from ui.settings import number_style
from ui.state import Keys
from ui.figures import figure
from ui.memo import shared
from ui.sections import KEEP, lazy_tabs
from ui.widgets import (
    chart,
    count_column,
    customer_list,
    explain,
    figure_card,
    money_column,
    plain,
    readable_download,
    share_column,
    table,
    takeaway,
)

st.title("What brings the best customers")
explain(
    "Which **first products**, **discount codes**, **channels**, **regions** and **months** bring customers who "
    "come back and are worth more. Every customer is described by their **first order** (their earliest order with "
    "positive revenue): the product is that order's largest line, the code is the order's discount code. Groups "
    "are then compared on what their customers did afterwards. Customers are those whose first order falls in the "
    "sidebar period; what they did afterwards is counted up to its end. Each tab opens on a click."
)

pending = [job for job in data.page_jobs(bool(st.session_state.get(Keys.DRV_PREDICT, True))) if not ready(job)]
if pending:  # computed once in the background for every session: the page fills in by itself
    progress_note("Describing each customer's first order and predicting their next 12 months… "
                  "The page fills in by itself.", *pending)
    st.stop()
profiles = data.profiles()
if profiles.height == 0:
    st.info("No customer placed a first order in the selected period. Widen the period in the sidebar.")
    st.stop()


def download(frame, name: str, label: str, columns: dict | None = None) -> None:
    """An injection-safe CSV of ``frame`` with the table's headers (money to the cent, shares in percent)."""
    st.download_button(label, data=safe_csv_bytes(readable_download(frame, columns or {})),
                       file_name=f"drivers_{name}.csv", mime="text/csv",
                       icon=":material/download:", key=f"{Keys.DRV_DOWNLOAD}{name}",
                       help="Opens in Excel with the table's headers; money is rounded to the cent, shares are in "
                            "percent; cells that could run as formulas are neutralised.")


# Tabs ---------------------------------------------------------------------------------------
def value_tab() -> None:
    """Value, repeat rates and customers by first product, code, channel, region or month."""
    st.subheader("Value by first order, channel, region and month")
    st.caption("Customers grouped by what their first order looked like, and compared on what they did afterwards: "
               "came back, spent, and are predicted to spend.")
    available = drivers.available_dimensions(profiles)
    dimension = st.segmented_control(
        "Group customers by", available, format_func=drivers.DIMENSIONS.get, default=available[0], required=True,
        key=Keys.DRV_BY, bind="query-params")
    missing = [f"{drivers.DIMENSIONS[d]} needs a '{drivers.NEEDED_COLUMN[d]}' column"
               for d in drivers.DIMENSIONS if d not in available]
    if missing:
        st.caption(plain("Not available in this data: " + "; ".join(missing) + ". Load an export that has "
                         "them: Shopify and WooCommerce order exports carry product names and discount codes."))

    groups, overall = data.driver_table(dimension, predict)
    problems = data.predictions()[1] if predict else []
    start, end = selected_period()
    period = fmt.period(start, end)
    cards = st.columns(4)
    figure_card(cards[0], "acquired_customers", profiles.height, period)
    repeat = overall["repeat_rate_365"]
    figure_card(cards[1], "acquired_repeat_365", repeat, period, shown="n/a" if repeat is None else None,
                note="" if repeat is not None else "n/a: no acquired customer has been observed for a year yet.")
    figure_card(cards[2], "acquired_revenue_per_customer", overall["revenue_per_customer"], period)
    predicted = overall["predicted_value_per_customer"]
    figure_card(cards[3], "acquired_predicted_per_customer", predicted, f"the 12 months after {fmt.date(end)}",
                shown="n/a" if predicted is None else None,
                note="" if predicted is not None else "n/a: switch on *Predict the next 12 months*, or see the note below.")
    measure, _ = drivers.ranking_measure(overall)
    st.caption(plain(
        f"Groups are ranked by {drivers.MEASURE_LABELS[measure].lower()}; the whiskers show a 95% interval "
        "on each group's average: when two groups' whiskers overlap a lot, the difference may be chance."))
    chart(figure(driver_figure, groups, dimension, overall, style=number_style()), key="drv_value")
    takeaway(drivers.takeaway(groups, dimension, overall, style=number_style()))
    note = drivers.small_groups_note(groups, style=number_style())
    if note:
        st.caption(plain(note))
    if problems:
        st.caption(plain("The 12-month prediction may be unreliable: " + problems[0]))
    chart(figure(repeat_figure, groups, dimension), key="drv_repeat")
    st.caption("Each repeat rate counts only customers observed that long: a customer acquired 100 days ago counts "
               "for 90 days, not for 180 or 365.")
    group_columns = {
        "name": drivers.DIMENSIONS[dimension], "customers": count_column("Customers"),
        "customer_share": share_column("Share of customers"), "small": st.column_config.CheckboxColumn("Small group"),
        "repeat_rate_90": share_column("Again within 90 days"), "repeat_rate_180": share_column("Again within 180 days"),
        "repeat_rate_365": share_column("Again within a year"),
        "observed_365": count_column("Observed a year"),
        "revenue_per_customer": money_column("Revenue per customer"),
        "revenue_low": money_column("Revenue per customer, low (95%)"),
        "revenue_high": money_column("Revenue per customer, high (95%)"),
        "value_365_per_customer": money_column("Revenue in the first year"),
        "value_365_low": money_column("First year, low (95%)"),
        "value_365_high": money_column("First year, high (95%)"),
        "predicted_value_per_customer": money_column("Predicted 12 months"),
        "predicted_value_low": money_column("Predicted, low (95%)"),
        "predicted_value_high": money_column("Predicted, high (95%)"),
        "predicted_range_low": money_column("Customer's prediction, low (80%)",
                                            help="The group's average of each customer's 80% prediction interval."),
        "predicted_range_high": money_column("Customer's prediction, high (80%)"),
        "median_days_to_second": st.column_config.NumberColumn(
            "Days to 2nd order (median)", format="%.0f", help="Among the group's customers who placed a second order."),
        "value_index": st.column_config.NumberColumn("× average", format="%.2f"),
        "cac": money_column("Acquisition cost (CAC)"),
        "revenue_to_cac": st.column_config.NumberColumn("Revenue ÷ CAC", format="%.2f",
                                                        help="Above 1: the channel's customers have paid back what it cost to acquire them."),
    }
    shown = [name for name in group_columns if name in groups.columns]
    if groups["cac"].is_null().all():
        shown = [name for name in shown if name not in ("cac", "revenue_to_cac")]
    table(groups.select(shown), group_columns)
    download(groups, f"by_{dimension}", "Download this table (CSV)", group_columns)
    group_names = groups["name"].to_list()
    if st.session_state.get(Keys.DRV_GROUP) not in group_names:
        st.session_state.pop(Keys.DRV_GROUP, None)
    pick = st.selectbox(f"Customers of one {drivers.DIMENSIONS[dimension].lower()}", group_names, key=Keys.DRV_GROUP,
                        persist_state=KEEP)
    customer_list(shared(drivers.group_members, profiles, dimension, pick), str(pick), f"drivers_{dimension}", Keys.DRV_CUSTOMERS,
                  shown_rows=500)


def _item_column_or_explain(what_needs: str) -> str | None:
    """The product (or category) column, or None after telling the manager how to provide one."""
    item = data.item_column()
    if item is None:
        st.info(f"{what_needs} a 'product' (or at least a 'category') column on each order line. Map one on the "
                "Data page when your export has it.")
    return item


def products_tab() -> None:
    """Top products, their table and refunds."""
    st.subheader("Products")
    item = _item_column_or_explain("Product analytics need")
    if item is not None:
        noun = "products" if item == C.PRODUCT else "categories"
        if item != C.PRODUCT:
            st.caption("The data has no product column, so products are shown by category.")
        if item == C.PRODUCT and data.one_item_per_order(item):
            st.caption("This export lists one row per order, carrying the order's main product (its largest line): "
                       "revenue and refunds below count each whole order under that product.")
        st.caption(f"Which {noun} bring the revenue and the customers, which of them customers buy again, and "
                   "which are returned.")
        catalogue = data.product_table(item)
        rank_by = st.segmented_control("Top " + noun + " by", ["revenue", "customers"], format_func=str.capitalize,
                                       default="revenue", required=True, key=Keys.DRV_RANK, bind="query-params")
        chart(figure(products_figure, shared(products.top_products, catalogue, rank_by), rank_by, noun), key="drv_products")
        takeaway(products.product_takeaway(catalogue, item, style=number_style()))
        product_columns = {
            "name": "Product" if item == C.PRODUCT else "Category", "revenue": money_column("Revenue"),
            "revenue_share": share_column("Share of revenue"), "customers": count_column("Customers"),
            "orders": count_column("Orders"),
            "repeat_rate": share_column("Ordered again later", help="Share of its buyers who placed another order on a "
                                                                   "later day than their first purchase of it."),
            "rebuy_rate": share_column("Bought it again", help="Share of its buyers who bought it again on a later day."),
            "sold": money_column("Sold"), "returned": money_column("Returned"),
            "refund_rate": share_column("Refund rate", help="Returned amount over sold amount."),
        }
        table(catalogue.select(list(product_columns)), product_columns)
        download(catalogue, noun, f"Download all {noun} (CSV)", product_columns)

        st.subheader("Refunds")
        left, right = st.columns(2)
        with left:
            chart(figure(refund_figure, catalogue, "name", f"Refund rate by {noun[:-1] if noun == 'products' else 'category'}"),
                  key="drv_refund_products")
        with right:
            chart(figure(refund_figure, data.refunds_by_segment(), "group", "Refund rate by RFM segment"), key="drv_refund_segments")
        st.caption("Refund rate = returned amount (negative lines) over sold amount, in the sidebar period.")


def journeys_tab() -> None:
    """From the first order's product to the second order's, and how long customers take."""
    st.subheader("From the first order to the second")
    item = _item_column_or_explain("The path from the first order to the second needs")
    if item is None:
        return
    noun = "products" if item == C.PRODUCT else "categories"
    flows = data.journeys(item)
    chart(figure(journey_figure, flows, noun), key="drv_journeys")
    takeaway(products.journey_takeaway(flows, style=number_style()))
    st.caption("Each order's product is its largest line. The less common products on either side are grouped as "
               f"'{products.OTHER}'.")
    kind = "product" if item == C.PRODUCT else "category"
    journey_columns = {
        "from_item": f"First order's {kind}", "to_item": f"Second order's {kind}", "customers": count_column("Customers"),
        "share_of_first": share_column(f"Share of the first {kind}'s customers"),
    }
    first_buyers = pl.col("customers").sum().over("from_item")
    download(flows.with_columns((pl.col("customers") / first_buyers).alias("share_of_first")), "journeys",
             "Download the journeys (CSV)", journey_columns)
    timing = shared(products.second_order_timing, profiles)
    chart(figure(timing_figure, timing, style=number_style()), key="drv_timing")
    median = shared(products.median_days_to_second, profiles)
    takeaway("Nobody has placed a second order yet." if median is None else
             f"Half of the customers who came back did so within {number_style().number(median)} days of their first order.")


def discounts_tab() -> None:
    """Discount codes and discount depth: do discounted customers come back and are they worth it?"""
    st.subheader("Discount codes")
    st.caption("Whether customers whose first order used a discount code come back and spend as much as those who "
               "paid full price, and how deep the first discount was.")
    if not data.has_discount_codes():
        st.info("Offer analytics need a 'discount_code' column (Shopify's 'Discount Code', WooCommerce's coupon). "
                "This data has none, so discounted and full-price orders cannot be told apart.")
    else:
        usage = data.discount_usage()
        comparison = shared(offers.code_vs_none, profiles, data.predictions()[0] if predict else None)
        chart(figure(offer_figure, comparison), key="drv_offers")
        takeaway(offers.offer_takeaway(usage, comparison, style=number_style()))
        usage_columns = {"code": "Discount code", "orders": count_column("Orders"),
                         "order_share": share_column("Share of orders"), "revenue": money_column("Revenue"),
                         "average_order": money_column("Average order")}
        table(usage, usage_columns)
        download(usage, "discount_codes", "Download the codes (CSV)", usage_columns)

    st.subheader("Discount depth")
    depth = data.depth_table(predict)
    if depth is None:
        st.info("Discount depth (how much was taken off the first order) needs the discount amount of each order: "
                "Shopify's 'Discount Amount', WooCommerce's 'discount_total' or 'cart_discount'. This data has none; "
                "map the column on the Data page (CLI: --discount-amount COL) when your export has it under another name.")
    else:
        explain("Each customer's **discount depth** is the share of their first order's price taken off: the discount "
                "amount over the order's net revenue plus the discount. Deep discounts win customers; the question is "
                "whether those customers come back and are worth it.")
        chart(figure(depth_figure, depth), key="drv_depth")
        takeaway(offers.depth_takeaway(depth, style=number_style()))
        depth_columns = {
            "name": "Discount on the first order", "customers": count_column("Customers"),
            "customer_share": share_column("Share of customers"), "small": st.column_config.CheckboxColumn("Small group"),
            "mean_depth": share_column("Average depth"),
            "repeat_rate_365": share_column("Again within a year", help="Of the customers observed 365 days or more."),
            "observed_365": count_column("Observed a year"),
            "after_first_per_customer": money_column(
                "Revenue after the first order", help="Per customer, to date (the period end), net of returns."),
            "after_first_low": money_column("After the first order, low (95%)"),
            "after_first_high": money_column("After the first order, high (95%)"),
            "predicted_value_per_customer": money_column("Predicted 12 months"),
            "predicted_value_low": money_column("Predicted, low (95%)"),
            "predicted_value_high": money_column("Predicted, high (95%)"),
        }
        table(depth.select([name for name in depth_columns if name in depth.columns]), depth_columns)
        download(depth, "discount_depth", "Download the depth bands (CSV)", depth_columns)
        st.caption("Bands: no discount, under 10%, 10-20%, 20-30% and 30% or more off (lower edge included). "
                   "Revenue after the first order grows with time: compare bands acquired over the same months, or "
                   "use the repeat rate, which counts every customer over the same 365 days.")


predict = st.toggle("Predict the next 12 months", value=True, key=Keys.DRV_PREDICT,
                    help="Fits the lifetime-value models (as on the Lifetime value page) to each customer's "
                         "history: it takes a few seconds on large data.")
# Only the open tab runs and is drawn (ui.sections): a visit draws two charts, not nine.
lazy_tabs(Keys.DRV_TAB, {
    "Value by first order": value_tab,
    "Products": products_tab,
    "First to second order": journeys_tab,
    "Discounts": discounts_tab,
})
