"""What the user may choose when reading a file: column mapping and read options."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

if TYPE_CHECKING:
    from crm_core.currency import RatesTable

#: A path, the file's bytes, or a binary file object (e.g. a Streamlit upload).
Source = Union[str, Path, bytes, bytearray, memoryview, IO[bytes]]


@dataclass(frozen=True)
class ColumnMapping:
    """Source column name for each canonical column (None = detect).

    ``unit_price`` makes amount = quantity x unit price when no amount column
    is given; ``currency`` names a column holding each row's currency code.
    """

    customer_id: str | None = None
    order_date: str | None = None
    amount: str | None = None
    order_id: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    channel: str | None = None
    region: str | None = None
    category: str | None = None
    cost: str | None = None
    days_late: str | None = None
    currency: str | None = None
    product: str | None = None
    sku: str | None = None
    discount_code: str | None = None
    discount_amount: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """User overrides of what sniffing would detect (None = detect).

    Attributes
    ----------
    encoding
        e.g. ``utf-8``, ``utf-16``, ``cp1252``.
    delimiter
        One character (``,`` ``;`` ``\\t`` ``|``) or ``whitespace``.
    decimal, thousands
        Decimal mark (``.`` or ``,``) and thousands separator of amounts.
    date_format
        strftime (``%d/%m/%Y``) or a label (``DD/MM/YYYY``); times are ignored.
    preset
        shopify, stripe, hubspot, salesforce, woocommerce, online_retail,
        cdnow, or ``none`` to switch preset detection off.
    currency
        Keep only rows in this currency (others rejected: "other currency");
        with ``rates``, the reporting currency amounts are converted to.
    rates
        Exchange rates (:func:`crm_core.currency.read_rates`): amounts in
        other currencies are converted with the rate in force on the order
        date; orders without one are rejected ("no exchange rate for ...").
    sheet
        Excel sheet name (default: the sheet that looks like orders).
    has_header
        Whether the first row holds column names.
    revenue_definition
        ``net_sales`` (default) or ``total``: what revenue means where the
        export offers both (Shopify: Subtotal net of refunds, or Total with
        shipping and taxes). See docs/ingest.md, "Revenue definitions".
    """

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    preset: str | None = None
    thousands: str | None = None
    currency: str | None = None
    sheet: str | None = None
    has_header: bool | None = None
    revenue_definition: str | None = None
    rates: RatesTable | None = None
