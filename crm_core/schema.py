"""The canonical schema every module downstream of ingest reads.

Column names are defined once here; code refers to them through these
constants (``C.CUSTOMER_ID``) rather than spelling strings.
"""
from __future__ import annotations

import polars as pl


class C:
    """Canonical transaction column names."""

    CUSTOMER_ID = "customer_id"
    ORDER_DATE = "order_date"
    AMOUNT = "amount"
    ORDER_ID = "order_id"
    QUANTITY = "quantity"
    CHANNEL = "channel"
    REGION = "region"
    CATEGORY = "category"
    COST = "cost"
    DAYS_LATE = "days_late"
    PRODUCT = "product"
    SKU = "sku"
    DISCOUNT_CODE = "discount_code"
    DISCOUNT_AMOUNT = "discount_amount"
    FULLY_REFUNDED = "fully_refunded"
    CUSTOMER_NAME = "customer_name"
    EMAIL = "email"


#: Required transaction columns and their types.
REQUIRED_TRANSACTION_COLUMNS: dict[str, pl.DataType] = {
    C.CUSTOMER_ID: pl.String(),
    C.ORDER_DATE: pl.Date(),
    C.AMOUNT: pl.Float64(),
}

#: Optional transaction columns and their types.
OPTIONAL_TRANSACTION_COLUMNS: dict[str, pl.DataType] = {
    C.ORDER_ID: pl.String(),
    C.QUANTITY: pl.Float64(),
    C.CHANNEL: pl.String(),
    C.REGION: pl.String(),
    C.CATEGORY: pl.String(),
    C.COST: pl.Float64(),
    C.DAYS_LATE: pl.Float64(),
    # The order's first product (its line with the largest price x quantity, ties to the first
    # listed) and discount code; every line item is in IngestReport.lines.
    C.PRODUCT: pl.String(),
    C.SKU: pl.String(),
    C.DISCOUNT_CODE: pl.String(),
    # Money taken off the order by discounts (0 when none), as the export writes it; never part of amount.
    C.DISCOUNT_AMOUNT: pl.Float64(),
    # True for an order refunded in full: kept with amount 0, but not a purchase.
    C.FULLY_REFUNDED: pl.Boolean(),
    # The customer's name and e-mail as written on the order (Shopify's Billing Name, an Email
    # column beside a customer id), for target lists; see crm_core.actions.known_contacts.
    C.CUSTOMER_NAME: pl.String(),
    C.EMAIL: pl.String(),
}

TRANSACTION_SCHEMA: dict[str, pl.DataType] = {
    **REQUIRED_TRANSACTION_COLUMNS,
    **OPTIONAL_TRANSACTION_COLUMNS,
}

#: Line items of orders that ingest merged into one row (Shopify, WooCommerce): one row per item,
#: keyed to its order by customer_id and order_id (IngestReport.lines; saved as lines.parquet).
LINE_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(), "customer_id": pl.String(), "order_date": pl.Date(), "product": pl.String(),
    "sku": pl.String(), "category": pl.String(), "quantity": pl.Float64(), "line_amount": pl.Float64(),
    "discount_code": pl.String(),
}

#: Side table: one row per customer (all optional but customer_id).
CUSTOMER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "email": pl.String(),
    "name": pl.String(),
    "signup_date": pl.Date(),
    "acquisition_channel": pl.String(),
    "region": pl.String(),
}

#: Side table: support contacts, with satisfaction (CSAT 1-5) and cost.
INTERACTION_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "interaction_date": pl.Date(),
    "channel": pl.String(),
    "reason": pl.String(),
    "csat": pl.Float64(),
    "cost": pl.Float64(),
}

#: Side table: marketing spend per month and acquisition channel (for CAC).
MARKETING_SPEND_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.Date(),
    "channel": pl.String(),
    "spend": pl.Float64(),
}

SIDE_TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "customers": CUSTOMER_SCHEMA,
    "interactions": INTERACTION_SCHEMA,
    "marketing_spend": MARKETING_SPEND_SCHEMA,
}


def has_column(frame: pl.LazyFrame | pl.DataFrame, name: str) -> bool:
    """True when ``frame`` carries column ``name`` (without collecting data)."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    return name in schema.names()


def conform(frame: pl.LazyFrame, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Select the schema's columns present in ``frame``, cast to their types.

    Columns of ``schema`` that ``frame`` lacks are left out (not null-filled),
    so callers can test presence with :func:`has_column`.
    """
    present = frame.collect_schema().names()
    return frame.select(
        [pl.col(name).cast(dtype, strict=False) for name, dtype in schema.items() if name in present]
    )
