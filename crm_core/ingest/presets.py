"""Presets for well-known exports: recognised from their headers.

A preset says which column holds each role (by the vendor's own column
names) and applies the vendor's business rules after parsing: keep paid
payments, won deals, completed orders; collapse Shopify line items; net
refunds; sign UCI returns. Rows a rule filters out are rejected with a short
reason, so ``rows_read = rows_valid + rows_rejected`` still holds.

Every ``finish`` function works on the parsed frame (columns named after
roles; ``__bad_<role>`` true where a value was written but could not be read)
and returns it with the final ``amount`` and, when a rule applies, a
``__rule`` reason column (null = keep).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from crm_core.ingest.columns import ID, NUMBER, TEXT, norm, norm_base

LINE = "__line"
RULE = "__rule"

#: Roles only presets use, and how their values are parsed.
EXTRA_KINDS: dict[str, str] = {
    "refunded": NUMBER,
    "status": TEXT,
    "cancelled": TEXT,
    "won": TEXT,
    "stage": TEXT,
    "customer_alt": ID,
    "financial_status": TEXT,
}

_TRUE = ["true", "1", "yes", "y", "t", "x", "won", "1.0", "wahr", "vrai", "ja", "si", "sí"]


def bad(role: str) -> str:
    """Name of the flag column: ``role``'s value was written but could not be read."""
    return f"__bad_{role}"


def flag(frame: pl.DataFrame, role: str) -> pl.Expr:
    """``bad(role)`` as an expression (all false when the column is absent)."""
    return pl.col(bad(role)) if bad(role) in frame.columns else pl.lit(False)


@dataclass(frozen=True)
class Preset:
    """A known export format.

    Attributes
    ----------
    name, label
        Identifier (``--preset``) and plain name.
    signature
        Normalised header names that must all be present (each item is a
        tuple of alternatives).
    columns
        Role -> normalised column names (alternatives, best first). Roles
        mapped to ``()`` are never looked up generically (e.g. UCI has no
        amount column: it is quantity x price).
    finish
        Applies the vendor's rules to the parsed frame.
    month_first
        Date order to assume when the dates do not decide it.
    """

    name: str
    label: str
    signature: tuple[tuple[str, ...], ...]
    columns: dict[str, tuple[str, ...]]
    finish: Callable[[pl.DataFrame], pl.DataFrame]
    month_first: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def matches(self, columns: list[str]) -> bool:
        keys = {norm(c) for c in columns} | {norm_base(c) for c in columns}
        return all(any(option in keys for option in group) for group in self.signature)


def _has(frame: pl.DataFrame, *names: str) -> bool:
    return all(name in frame.columns for name in names)


def _minus_refunds(frame: pl.DataFrame) -> pl.DataFrame:
    if _has(frame, "refunded"):
        frame = frame.with_columns((pl.col("amount") - pl.col("refunded").fill_null(0.0)).alias("amount"))
    return frame


def _truthy(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_lowercase().is_in(_TRUE)


def _closed_won(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.contains(r"closed\s*won|^\s*won\s*$|closedwon").fill_null(False)


def _rule(condition_to_keep: pl.Expr, reason: str) -> pl.Expr:
    return pl.when(condition_to_keep.fill_null(False)).then(pl.lit(None, pl.String)).otherwise(pl.lit(reason)).alias(RULE)


def finish_generic(frame: pl.DataFrame) -> pl.DataFrame:
    """No preset: amount as read, or quantity x unit price; no rule."""
    return _amount_from_parts(frame)


def _amount_from_parts(frame: pl.DataFrame) -> pl.DataFrame:
    if "amount" in frame.columns or not _has(frame, "quantity", "unit_price"):
        return frame
    return frame.with_columns(
        (pl.col("quantity") * pl.col("unit_price")).alias("amount"),
        (flag(frame, "quantity") | flag(frame, "unit_price")).alias(bad("amount")),
    )


def _shopify(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per order (``Name``): order-level fields come from its first row.

    Without a Total (or Subtotal) column, the amount is the sum of the line
    items' quantity x price.
    """
    if "amount" not in frame.columns and _has(frame, "quantity", "unit_price"):
        frame = frame.with_columns(
            (pl.col("quantity") * pl.col("unit_price")).alias("__line_amount"),
            (flag(frame, "quantity") | flag(frame, "unit_price")).alias(bad("amount")),
        )
    key = pl.coalesce(pl.col("order_id"), pl.lit("line ") + pl.col(LINE).cast(pl.String)) if _has(frame, "order_id") else pl.col(LINE).cast(pl.String)
    aggregations = [pl.col(LINE).min()]
    for column in frame.columns:
        if column in (LINE, "__key"):
            continue
        if column == "quantity":
            aggregations.append(pl.col(column).sum().alias(column))
        elif column == "__line_amount":
            aggregations.append(pl.when(pl.col(column).count() > 0).then(pl.col(column).sum()).alias("amount"))
        elif column.startswith("__bad_"):
            aggregations.append(pl.col(column).any().alias(column))
        else:
            aggregations.append(pl.col(column).drop_nulls().first().alias(column))
    collapsed = frame.with_columns(key.alias("__key")).group_by("__key", maintain_order=True).agg(aggregations).drop("__key")
    collapsed = _minus_refunds(collapsed)
    cancelled = pl.lit(False)
    if _has(collapsed, "cancelled"):
        cancelled = pl.col("cancelled").is_not_null()
    if _has(collapsed, "financial_status"):
        cancelled = cancelled | pl.col("financial_status").str.to_lowercase().is_in(["voided"]).fill_null(False)
    return collapsed.with_columns(_rule(~cancelled, "cancelled order"))


def _stripe(frame: pl.DataFrame) -> pl.DataFrame:
    frame = _minus_refunds(frame)
    if _has(frame, "customer_alt"):
        frame = frame.with_columns(pl.coalesce("customer_id", "customer_alt").alias("customer_id"))
    if not _has(frame, "status"):
        return frame
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    rule = (
        pl.when(status == "paid").then(pl.lit(None, pl.String))
        .when(status.str.contains("refund")).then(pl.lit("payment refunded"))
        .otherwise(pl.lit("payment not paid"))
    )
    return frame.with_columns(rule.alias(RULE))


def _deals(frame: pl.DataFrame) -> pl.DataFrame:
    if _has(frame, "won"):
        keep = _truthy("won")
    elif _has(frame, "stage"):
        keep = _closed_won("stage")
    else:
        keep = pl.lit(True)
    return frame.with_columns(_rule(keep, "deal not won"))


def _hubspot(frame: pl.DataFrame) -> pl.DataFrame:
    # "Associated Company IDs" may list several companies: the first one owns the deal.
    frame = frame.with_columns(pl.col("customer_id").str.split(";").list.first().str.strip_chars().alias("customer_id"))
    frame = frame.with_columns(pl.when(pl.col("customer_id").str.len_bytes() > 0).then(pl.col("customer_id")).alias("customer_id"))
    return _deals(frame)


def _woocommerce(frame: pl.DataFrame) -> pl.DataFrame:
    if _has(frame, "customer_alt"):  # guests have customer id 0: use their e-mail
        registered = pl.when(~pl.col("customer_id").is_in(["0", "0.0"])).then(pl.col("customer_id"))
        frame = frame.with_columns(pl.coalesce(registered, pl.col("customer_alt")).alias("customer_id"))
    if _has(frame, "status"):
        status = pl.col("status").str.strip_chars().str.to_lowercase().str.replace(r"^wc-", "")
        keep = status.is_in(["completed", "processing"])
    else:
        keep = pl.lit(True)
    return frame.with_columns(_rule(keep, "order not completed"))


def _online_retail(frame: pl.DataFrame) -> pl.DataFrame:
    """Amount = Quantity x UnitPrice; invoices starting with C are returns (negative)."""
    frame = _amount_from_parts(frame)
    if _has(frame, "order_id"):
        is_return = pl.col("order_id").str.strip_chars().str.to_uppercase().str.starts_with("C").fill_null(False)
        frame = frame.with_columns(
            pl.when(is_return).then(-pl.col("amount").abs()).otherwise(pl.col("amount")).alias("amount"),
            pl.when(is_return).then(-pl.col("quantity").abs()).otherwise(pl.col("quantity")).alias("quantity"),
        )
    return frame


PRESETS: tuple[Preset, ...] = (
    Preset(
        "shopify", "Shopify orders export",
        (("name",), ("email",), ("createdat", "paidat"), ("lineitemquantity", "financialstatus")),
        {
            "customer_id": ("email",), "order_date": ("createdat", "paidat"), "amount": ("total", "subtotal"),
            "refunded": ("refundedamount",), "quantity": ("lineitemquantity",), "order_id": ("name",),
            "cancelled": ("cancelledat",), "financial_status": ("financialstatus",), "currency": ("currency",),
            "region": ("billingcountry", "shippingcountry"), "channel": ("source",),
            "unit_price": ("lineitemprice",),
        },
        _shopify,
        notes=("Shopify: line items were merged into one row per order (Name); refunds subtracted; cancelled orders set aside.",),
    ),
    Preset(
        "stripe", "Stripe payments export",
        (("status",), ("amount",), ("createdutc", "createddateutc")),
        {
            "customer_id": ("customerid",), "customer_alt": ("customeremail",),
            "order_date": ("createdutc", "createddateutc", "created"), "amount": ("amount",),
            "refunded": ("amountrefunded",), "status": ("status",), "currency": ("currency",), "order_id": ("id",),
            "quantity": (), "unit_price": (), "cost": (),
        },
        _stripe,
        notes=("Stripe: only payments with Status 'Paid' are kept, net of Amount Refunded; Customer Email is used when Customer ID is empty.",),
    ),
    Preset(
        "hubspot", "HubSpot deals export",
        (("dealstage", "isclosedwon"), ("closedate",)),
        {
            "customer_id": ("associatedcompanyids", "associatedcompanyid", "associatedcontactids",
                            "associatedcontactid", "associatedcompany", "associatedcompanyname", "companyname"),
            "order_date": ("closedate",), "amount": ("amount", "amountincompanycurrency"), "stage": ("dealstage",),
            "won": ("isclosedwon",), "order_id": ("recordid", "dealid"), "currency": ("currency", "dealcurrencycode"),
            "quantity": (), "unit_price": (),
        },
        _hubspot,
        notes=("HubSpot: only closed-won deals are kept.",),
    ),
    Preset(
        "salesforce", "Salesforce opportunities",
        (("iswon", "won", "stagename", "stage"), ("closedate",), ("accountid", "accountname", "account")),
        {
            "customer_id": ("accountid", "accountname", "account"), "order_date": ("closedate",),
            "amount": ("amount",), "won": ("iswon", "won"), "stage": ("stagename", "stage"),
            "order_id": ("id", "opportunityid", "opportunityname"),
            "currency": ("currencyisocode", "opportunitycurrency", "amountcurrency"), "quantity": (), "unit_price": (),
        },
        _deals,
        notes=("Salesforce: only won opportunities (IsWon / Won true, or stage Closed Won) are kept.",),
    ),
    Preset(
        "woocommerce", "WooCommerce orders export",
        (("ordertotal",), ("orderdate",), ("status", "orderstatus")),
        {
            "customer_id": ("customerid", "customeruser"), "customer_alt": ("customeremail", "billingemail", "email"),
            "order_date": ("orderdate", "datecreated", "date"), "amount": ("ordertotal", "total"),
            "status": ("status", "orderstatus"), "order_id": ("orderid", "ordernumber", "id"),
            "currency": ("ordercurrency", "currency"), "region": ("billingcountry", "shippingcountry"),
            "quantity": (), "unit_price": (),
        },
        _woocommerce,
        notes=("WooCommerce: only completed and processing orders are kept; guests (customer 0) are identified by e-mail.",),
    ),
    Preset(
        "online_retail", "UCI Online Retail",
        (("invoiceno", "invoice"), ("unitprice", "price"), ("quantity",), ("customerid",), ("invoicedate",)),
        {
            "customer_id": ("customerid",), "order_date": ("invoicedate",), "quantity": ("quantity",),
            "unit_price": ("unitprice", "price"), "order_id": ("invoiceno", "invoice"), "region": ("country",),
            "amount": (), "cost": (),
        },
        _online_retail,
        month_first=True,
        notes=("Online Retail: amount = Quantity x UnitPrice; invoices starting with C are returns (negative).",),
    ),
)
CDNOW = Preset(
    "cdnow", "CDNOW (no header: id, date, CDs, dollars)",
    (),
    {"customer_id": ("column1",), "order_date": ("column2",), "quantity": ("column3",), "amount": ("column4",)},
    finish_generic,
)
BY_NAME: dict[str, Preset] = {p.name: p for p in (*PRESETS, CDNOW)}


def looks_like_cdnow(columns: list[str], sample: pl.DataFrame, has_header: bool) -> bool:
    """A headerless table of 4 columns whose second one is YYYYMMDD dates."""
    if has_header or len(columns) != 4 or sample.is_empty():
        return False
    second = sample.get_column(columns[1]).drop_nulls()
    return not second.is_empty() and bool(second.str.contains(r"^(19|20)\d{2}[01]\d[0-3]\d$").all())


def detect_preset(columns: list[str], sample: pl.DataFrame, has_header: bool) -> Preset | None:
    """The first preset whose signature columns are all present."""
    for preset in PRESETS:
        if has_header and preset.matches(columns):
            return preset
    if looks_like_cdnow(columns, sample, has_header):
        return CDNOW
    return None
