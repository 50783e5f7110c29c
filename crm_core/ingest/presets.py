"""Presets for well-known exports: recognised from their headers.

A preset says which column holds each role (by the vendor's own column
names) and applies the vendor's business rules after parsing: keep paid
payments, won deals, completed orders; collapse Shopify line items; revenue
as the vendor defines it (Shopify net sales); net refunds; sign UCI returns.
Rows a rule filters out are rejected with a short reason, so
``rows_read = rows_valid + rows_rejected`` still holds.

Every ``finish`` function works on the parsed frame (columns named after
roles; ``__bad_<role>`` true where a value was written but could not be read)
and the chosen revenue definition, and returns it with the final ``amount``,
``fully_refunded`` where refunds are known and, when a rule applies, a
``__rule`` reason column (null = keep). :func:`finish_orders` runs it and
also returns the line items (product, SKU, discount code) for product
analytics; :func:`kept_lines` keeps those of the kept orders.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from crm_core.ingest.columns import ID, NUMBER, TEXT, Role, norm, norm_base
from crm_core.ingest.errors import IngestError
from crm_core.schema import LINE_SCHEMA

LINE = "__line"
RULE = "__rule"
#: Line of the order row a line item was merged into (its order's first line).
ORDER_LINE = "__order_line"
LINE_AMOUNT = "__line_amount"
#: Canonical flag: the order was refunded in full (kept with amount 0, not a purchase).
FULLY_REFUNDED = "fully_refunded"

#: Revenue definitions a user can choose (``ReadOptions.revenue_definition``).
NET_SALES, TOTAL = "net_sales", "total"
REVENUE_DEFINITIONS = (NET_SALES, TOTAL)

#: Roles only presets use, and how their values are parsed.
EXTRA_KINDS: dict[str, str] = {
    "refunded": NUMBER,
    "status": TEXT,
    "cancelled": TEXT,
    "won": TEXT,
    "stage": TEXT,
    "customer_alt": ID,
    "financial_status": TEXT,
    "subtotal": NUMBER,
}

def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Line-item roles for product and offer analytics, found by name in any file (exact names only:
#: a loose match would take unrelated text columns). ``discount_amount`` is money taken off the
#: order; a bare "discount" column is not taken (it is often a rate, e.g. 0.2).
LINE_ROLES: tuple[Role, ...] = (
    Role("product", TEXT, "product", _names(
        "product productname producttitle item itemname itemtitle lineitemname description productdescription "
        "article articlename artikel artikelname producto nombreproducto produit nomproduit"
    ), flag="--product"),
    Role("sku", TEXT, "SKU", _names(
        "sku productsku itemsku lineitemsku variantsku stockcode productcode itemcode articlenumber "
        "artikelnummer partnumber referencia"
    ), flag="--sku"),
    Role("discount_code", TEXT, "discount code", _names(
        "discountcode discountcodes couponcode couponcodes coupon coupons couponsused couponitems promocode "
        "promotioncode vouchercode voucher gutscheincode"
    ), flag="--discount-code"),
    Role("discount_amount", NUMBER, "discount amount", _names(
        "discountamount discountamounts totaldiscount totaldiscounts discounttotal cartdiscount cartdiscountamount "
        "orderdiscount orderdiscountamount ordertotaldiscount couponamount couponsamount discountvalue rabattbetrag"
    ), flag="--discount-amount"),
)

#: Who the customer is, for target lists (exact names only). Shopify's "Name" is the order
#: number, so a bare "name" is not taken; its Billing Name is.
CONTACT_ROLES: tuple[Role, ...] = (
    Role("customer_name", TEXT, "customer name", _names(
        "customername clientname billingname fullname contactname buyername buyerfullname kundenname "
        "nombrecliente nomclient klantnaam"
    )),
    Role("email", TEXT, "e-mail", _names(
        "email emailaddress customeremail billingemail buyeremail contactemail mail correo courriel emailadresse"
    )),
)

_TRUE = ["true", "1", "yes", "y", "t", "x", "won", "1.0", "wahr", "vrai", "ja", "si", "sí"]


def ambiguous(role: str) -> str:
    """Name of the flag column: ``role``'s value could mean two numbers (true or null)."""
    return f"__ambiguous_{role}"


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
    finish: Callable[[pl.DataFrame, str], pl.DataFrame]
    month_first: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Which columns make revenue, per definition (the first is the default).
    revenue: dict[str, str] = field(default_factory=dict)

    def matches(self, columns: list[str]) -> bool:
        keys = {norm(c) for c in columns} | {norm_base(c) for c in columns}
        return all(any(option in keys for option in group) for group in self.signature)


def _has(frame: pl.DataFrame, *names: str) -> bool:
    return all(name in frame.columns for name in names)


def _refund(frame: pl.DataFrame) -> pl.Expr:
    return pl.col("refunded").fill_null(0.0) if _has(frame, "refunded") else pl.lit(0.0)


def _minus_refunds(frame: pl.DataFrame) -> pl.DataFrame:
    """amount - refunded; an order whose refund covers its whole amount is flagged ``fully_refunded``."""
    if not _has(frame, "refunded"):
        return frame
    refunded, amount = _refund(frame), pl.col("amount")
    return frame.with_columns(
        (amount - refunded).clip(lower_bound=0.0).alias("amount"),  # a refund never makes a sale negative
        ((refunded > 0) & (refunded >= amount)).fill_null(False).alias(FULLY_REFUNDED),
    )


def _truthy(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_lowercase().is_in(_TRUE)


def _closed_won(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.contains(r"closed\s*won|^\s*won\s*$|closedwon").fill_null(False)


def _rule(condition_to_keep: pl.Expr, reason: str) -> pl.Expr:
    return pl.when(condition_to_keep.fill_null(False)).then(pl.lit(None, pl.String)).otherwise(pl.lit(reason)).alias(RULE)


def finish_generic(frame: pl.DataFrame, revenue: str = "") -> pl.DataFrame:
    """No preset: amount as read, or quantity x unit price; no rule."""
    return _amount_from_parts(frame)


def _amount_from_parts(frame: pl.DataFrame) -> pl.DataFrame:
    if "amount" in frame.columns or not _has(frame, "quantity", "unit_price"):
        return frame
    # A negative quantity at a negative price is a return written twice over (-2 x -12.00): minus times minus
    # would make it a sale of 24.00, so the amount could mean +24 or -24 and the row is set aside as ambiguous.
    both = ((pl.col("quantity") < 0) & (pl.col("unit_price") < 0)).fill_null(False)
    earlier = pl.col(ambiguous("unit_price")).fill_null(False) if ambiguous("unit_price") in frame.columns else pl.lit(False)
    return frame.with_columns(
        pl.when(~both).then(pl.col("quantity") * pl.col("unit_price")).alias("amount"),
        (flag(frame, "quantity") | flag(frame, "unit_price")).alias(bad("amount")),
        pl.when(both | earlier).then(True).alias(ambiguous("unit_price")),
    )


def _with_line_amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """``__line_amount`` = quantity x unit price of each line item, when both are known."""
    if not _has(frame, "quantity", "unit_price"):
        return frame
    return frame.with_columns((pl.col("quantity") * pl.col("unit_price")).alias(LINE_AMOUNT))


def _order_key(frame: pl.DataFrame) -> pl.Expr:
    """Rows of one order: same order id (rows without one stand alone)."""
    line = pl.lit("line ") + pl.col(LINE).cast(pl.String)
    return pl.coalesce(pl.col("order_id"), line) if _has(frame, "order_id") else line


def _collapse_orders(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per order: order-level fields from the first line that has them.

    Exports that repeat order fields on every line (WooCommerce plugins) and
    those that fill them on the first line only (Shopify) give the same
    result. Quantities are summed; ``product``/``sku`` are those of the line
    with the largest quantity x price (ties: the first listed). Without an
    amount column, the amount is the sum of the lines' quantity x price.
    """
    biggest_first = {"by": pl.col(LINE_AMOUNT), "descending": True, "nulls_last": True, "maintain_order": True}
    aggregations = [pl.col(LINE).min()]
    for column in frame.columns:
        if column in (LINE, "__key"):
            continue
        if column == "quantity":
            aggregations.append(pl.col(column).sum().alias(column))
        elif column == LINE_AMOUNT:
            if "amount" not in frame.columns:
                aggregations.append(pl.when(pl.col(column).count() > 0).then(pl.col(column).sum()).alias("amount"))
        elif column in ("product", "sku") and LINE_AMOUNT in frame.columns:
            aggregations.append(pl.col(column).sort_by(**biggest_first).first().alias(column))
        elif column.startswith("__bad_"):
            aggregations.append(pl.col(column).any().alias(column))
        else:
            aggregations.append(pl.col(column).drop_nulls().first().alias(column))
    orders = frame.with_columns(_order_key(frame).alias("__key")).group_by("__key", maintain_order=True).agg(
        aggregations).drop("__key")
    if "amount" not in frame.columns and LINE_AMOUNT in frame.columns:
        orders = orders.with_columns((flag(orders, "quantity") | flag(orders, "unit_price")).alias(bad("amount")))
    return orders


def _shopify(frame: pl.DataFrame, revenue: str) -> pl.DataFrame:
    """One row per order (``Name``); revenue is net sales (default) or the Total, net of refunds.

    Net sales = Subtotal (line items after discounts, before shipping and
    taxes) minus its share of the refund, Refunded Amount x Subtotal / Total:
    the export does not itemise refunds, so a refund is split in proportion.
    An order refunded in full keeps amount 0 and is flagged ``fully_refunded``.
    The customer is the e-mail, trimmed and lower-cased.
    """
    frame = _collapse_orders(_with_line_amounts(frame))
    frame = frame.with_columns(pl.col("customer_id").str.strip_chars().str.to_lowercase().alias("customer_id"))
    if revenue == NET_SALES and _has(frame, "subtotal", "amount"):
        total, subtotal, refunded = pl.col("amount"), pl.col("subtotal"), _refund(frame)
        full = (refunded > 0) & (refunded >= total)
        # The definition as written, unrounded: the sum over orders equals the formula's sum
        # (rounding each order to cents would drift from it by up to half a cent per refunded order).
        # No refund: no share; a refund with an unreadable Total cannot be split (the amount stays blank).
        refunded_share = pl.when(refunded == 0).then(0.0).when(total > 0).then(subtotal * refunded.clip(0.0) / total)
        net = pl.when(full).then(0.0).otherwise(subtotal - refunded_share)
        frame = frame.with_columns(
            net.alias("amount"), full.fill_null(False).alias(FULLY_REFUNDED),
            (flag(frame, "amount") | flag(frame, "subtotal")).alias(bad("amount")),
        )
    else:
        frame = _minus_refunds(frame)
    cancelled = pl.lit(False)
    if _has(frame, "cancelled"):
        cancelled = pl.col("cancelled").is_not_null()
    if _has(frame, "financial_status"):
        cancelled = cancelled | pl.col("financial_status").str.to_lowercase().is_in(["voided"]).fill_null(False)
    return frame.with_columns(_rule(~cancelled, "cancelled order"))


def _with_email(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the e-mail column a preset reads customers from (``customer_alt``) as the customers' e-mail.

    It fills in for a missing customer id, so the contact role cannot take it; without this the
    E-mail column of target lists and exports stayed empty for Stripe and WooCommerce files.
    """
    if not _has(frame, "customer_alt") or _has(frame, "email"):
        return frame
    email = pl.col("customer_alt").str.strip_chars()
    return frame.with_columns(pl.when(email.str.len_chars() > 0).then(email).alias("email"))


def _stripe(frame: pl.DataFrame, revenue: str) -> pl.DataFrame:
    frame = _with_email(_minus_refunds(frame))
    if _has(frame, "customer_alt"):
        frame = frame.with_columns(pl.coalesce("customer_id", "customer_alt").alias("customer_id"))
    if not _has(frame, "status"):
        return frame
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    rule = (
        # a partly refunded charge was paid: it is kept, net of its refund
        pl.when(status.is_in(["paid", "succeeded"]) | status.str.contains("partial")).then(pl.lit(None, pl.String))
        .when(status.str.contains("refund")).then(pl.lit("payment refunded"))
        .otherwise(pl.lit("payment not paid"))
    )
    return frame.with_columns(rule.alias(RULE))


def _deals(frame: pl.DataFrame, revenue: str = "") -> pl.DataFrame:
    if _has(frame, "won"):
        keep = _truthy("won")
    elif _has(frame, "stage"):
        keep = _closed_won("stage")
    else:
        keep = pl.lit(True)
    return frame.with_columns(_rule(keep, "deal not won"))


def _hubspot(frame: pl.DataFrame, revenue: str) -> pl.DataFrame:
    # "Associated Company IDs" may list several companies: the first one owns the deal.
    frame = frame.with_columns(pl.col("customer_id").str.split(";").list.first().str.strip_chars().alias("customer_id"))
    frame = frame.with_columns(pl.when(pl.col("customer_id").str.len_bytes() > 0).then(pl.col("customer_id")).alias("customer_id"))
    return _deals(frame)


def _woocommerce(frame: pl.DataFrame, revenue: str) -> pl.DataFrame:
    """Completed and processing orders, Order Total net of refunds; one row per order
    when the export lists line items (order id repeated)."""
    if _has(frame, "order_id") and frame.get_column("order_id").drop_nulls().is_duplicated().any():
        frame = _collapse_orders(_with_line_amounts(frame))
    frame = _with_email(_minus_refunds(frame))
    if _has(frame, "customer_alt"):  # guests have customer id 0: use their e-mail
        registered = pl.when(~pl.col("customer_id").is_in(["0", "0.0"])).then(pl.col("customer_id"))
        email = pl.col("customer_alt").str.strip_chars().str.to_lowercase()
        frame = frame.with_columns(pl.coalesce(registered, email).alias("customer_id"))
    if _has(frame, "status"):
        status = pl.col("status").str.strip_chars().str.to_lowercase().str.replace(r"^wc-", "")
        keep = status.is_in(["completed", "processing"])
    else:
        keep = pl.lit(True)
    return frame.with_columns(_rule(keep, "order not completed"))


def _online_retail(frame: pl.DataFrame, revenue: str) -> pl.DataFrame:
    """Amount = Quantity x UnitPrice; invoices starting with C are returns (negative)."""
    frame = _amount_from_parts(frame)
    if _has(frame, "order_id"):
        is_return = pl.col("order_id").str.strip_chars().str.to_uppercase().str.starts_with("C").fill_null(False)
        frame = frame.with_columns(
            pl.when(is_return).then(-pl.col("amount").abs()).otherwise(pl.col("amount")).alias("amount"),
            pl.when(is_return).then(-pl.col("quantity").abs()).otherwise(pl.col("quantity")).alias("quantity"),
        )
    return frame


_LINES_BY_PRESET = {"shopify", "woocommerce"}  # presets whose rows are line items merged into orders


def finish_orders(
    preset: Preset | None, parsed: pl.DataFrame, revenue_definition: str | None
) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, str]]:
    """Apply the preset's rules (or the generic ones) and keep the line items.

    Parameters
    ----------
    preset
        The export format, or None for a generic file.
    parsed
        The parsed rows (one per data line, ``__line`` = line in the file).
    revenue_definition
        ``net_sales`` or ``total`` (None = the preset's default). Presets
        with one definition ignore it (a warning says so, see ``detected``).

    Returns
    -------
    orders, lines, revenue
        The orders frame (before the row checks), the line items (see
        :func:`kept_lines`; None when the file names no product, SKU,
        category or discount code) and ``revenue_definition`` /
        ``revenue_columns`` for the report.
    """
    definitions = preset.revenue if preset and preset.revenue else {}
    chosen = (revenue_definition or "").strip().lower().replace("-", "_").replace(" ", "_")
    if chosen and chosen not in REVENUE_DEFINITIONS:
        raise IngestError(f"Unknown revenue definition '{revenue_definition}'. Use one of: {', '.join(REVENUE_DEFINITIONS)}.")
    if definitions:
        used = chosen if chosen in definitions else next(iter(definitions))
        if used == NET_SALES and TOTAL in definitions and "subtotal" not in parsed.columns:
            used = TOTAL  # no Subtotal column: net sales cannot be computed
        info = {"revenue_definition": used, "revenue_columns": definitions[used]}
    else:
        info = {"revenue_definition": "amount", "revenue_columns": _generic_revenue_columns(preset, parsed)}
    finish = preset.finish if preset else finish_generic
    lines = _line_items(preset, parsed)
    return _discount_amounts(finish(parsed, info["revenue_definition"])), lines, info


DISCOUNT_AMOUNT = "discount_amount"


def _discount_amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """The order's discount amount read exactly, or its row set aside; blank means no discount (0).

    The amount is kept beside the revenue, never subtracted from it: revenue is what
    the preset defines (Shopify's Subtotal and Total are already after discounts).
    """
    if DISCOUNT_AMOUNT not in frame.columns:
        return frame
    two_readings = f"__ambiguous_{DISCOUNT_AMOUNT}"  # e.g. '1,234': one thousand or one point two
    ambiguous = pl.col(two_readings).fill_null(False) if two_readings in frame.columns else pl.lit(False)
    reason = (pl.when(ambiguous).then(pl.lit("ambiguous discount amount"))
              .when(flag(frame, DISCOUNT_AMOUNT)).then(pl.lit("unparseable discount amount"))
              .otherwise(pl.lit(None, pl.String)))
    rule = pl.coalesce(pl.col(RULE), reason) if RULE in frame.columns else reason
    return frame.with_columns(rule.alias(RULE), pl.col(DISCOUNT_AMOUNT).fill_null(0.0))


def _generic_revenue_columns(preset: Preset | None, parsed: pl.DataFrame) -> str:
    if preset and preset.notes:
        return preset.notes[0]
    if "amount" in parsed.columns:
        return "the amount column as written"
    return "quantity x unit price"


def _line_items(preset: Preset | None, parsed: pl.DataFrame) -> pl.DataFrame | None:
    """Every line item with the ``__line`` of its order row, before the rules (see :func:`kept_lines`)."""
    if not any(column in parsed.columns for column in ("product", "sku", "category", "discount_code")):
        return None
    if preset is not None and preset.name in _LINES_BY_PRESET:  # merged into the order's first line
        order_line = pl.col(LINE).min().over(_order_key(parsed))
    else:
        order_line = pl.col(LINE)
    if _has(parsed, "quantity", "unit_price"):
        amount = pl.col("quantity") * pl.col("unit_price")
    elif "amount" in parsed.columns:
        amount = pl.col("amount")
    else:
        amount = pl.lit(None, pl.Float64)
    if preset is not None and preset.name == "online_retail" and "order_id" in parsed.columns:
        is_return = pl.col("order_id").str.strip_chars().str.to_uppercase().str.starts_with("C").fill_null(False)
        amount = pl.when(is_return).then(-amount.abs()).otherwise(amount)
    line_level = [pl.col(c) for c in ("product", "sku", "category", "quantity") if c in parsed.columns]
    return parsed.select(pl.col(LINE), order_line.alias(ORDER_LINE), *line_level,
                         amount.cast(pl.Float64).alias("line_amount"))


#: Columns of ``IngestReport.lines``, in this order (category only when the file has one).
LINE_COLUMNS: dict[str, pl.DataType] = LINE_SCHEMA
_ORDER_FIELDS = ("order_id", "customer_id", "order_date", "discount_code")


def kept_lines(lines: pl.DataFrame | None, orders: pl.DataFrame, keep: pl.Expr) -> pl.DataFrame | None:
    """The line items of the kept orders: one row per line, in file order.

    Parameters
    ----------
    lines
        From :func:`finish_orders`.
    orders
        The orders frame after the rules (``__line`` = its first line).
    keep
        True for the kept order rows.

    Returns
    -------
    pl.DataFrame | None
        order_id, customer_id, order_date and discount_code as on the kept
        order (so they match the transactions), product, sku, category (when
        the file has one), quantity, line_amount (quantity x price, else the
        row's amount); absent roles are null.
    """
    if lines is None:
        return None
    order_fields = [c for c in _ORDER_FIELDS if c in orders.columns]
    kept = orders.filter(keep.fill_null(False)).select(pl.col(LINE).alias(ORDER_LINE), *order_fields)
    joined = lines.join(kept, on=ORDER_LINE, how="inner").sort(LINE)
    return joined.select([
        (pl.col(name) if name in joined.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in LINE_COLUMNS.items()
        if name != "category" or name in joined.columns
    ])


def merged_lines_note(source_lines: int, orders: int) -> str:
    """``"31,840 lines, 16,080 orders: ..."`` when line items were merged into orders."""
    return (f"{source_lines:,} lines, {orders:,} orders: the export lists one line per item; "
            "items were merged into one row per order.")


PRESETS: tuple[Preset, ...] = (
    Preset(
        "shopify", "Shopify orders export",
        (("name",), ("email",), ("createdat", "paidat"), ("lineitemquantity", "financialstatus")),
        {
            "customer_id": ("email",), "order_date": ("createdat", "paidat"), "amount": ("total", "subtotal"),
            "subtotal": ("subtotal",),
            "refunded": ("refundedamount",), "quantity": ("lineitemquantity",), "order_id": ("name",),
            "cancelled": ("cancelledat",), "financial_status": ("financialstatus",), "currency": ("currency",),
            "region": ("billingcountry", "shippingcountry"), "channel": ("source",),
            "unit_price": ("lineitemprice",), "product": ("lineitemname",), "sku": ("lineitemsku",),
            "discount_code": ("discountcode",), "discount_amount": ("discountamount",),
        },
        _shopify,
        notes=(("Shopify: line items were merged into one row per order (Name); the customer is the e-mail; "
                "cancelled orders set aside; orders refunded in full kept with revenue 0 (not counted as purchases)."),),
        revenue={
            NET_SALES: "net sales: Subtotal - Refunded Amount x Subtotal / Total (before shipping and taxes)",
            TOTAL: "Total (with shipping and taxes) - Refunded Amount",
        },
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
        revenue={NET_SALES: "Amount - Amount Refunded, paid charges only"},
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
        revenue={"amount": "Amount of closed-won deals"},
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
        revenue={"amount": "Amount of won opportunities"},
    ),
    Preset(
        "woocommerce", "WooCommerce orders export",
        (("ordertotal",), ("orderdate",), ("status", "orderstatus")),
        {
            "customer_id": ("customerid", "customeruser"), "customer_alt": ("customeremail", "billingemail", "email"),
            "order_date": ("orderdate", "datecreated", "date"), "amount": ("ordertotal", "total"),
            "refunded": ("orderrefund", "refundamount", "refundtotal", "totalrefunded", "refunded", "refundedamount",
                         "orderrefunds", "amountrefunded"),
            "status": ("status", "orderstatus"), "order_id": ("orderid", "ordernumber", "id"),
            "currency": ("ordercurrency", "currency"), "region": ("billingcountry", "shippingcountry"),
            "quantity": ("quantity", "qty", "itemquantity", "lineitemquantity"),
            "unit_price": ("itemprice", "itemcost", "lineitemprice", "price"),
            "product": ("itemname", "productname", "lineitemname", "product"),
            "sku": ("sku", "itemsku", "productsku"),
            "discount_code": ("couponcode", "couponcodes", "coupon", "coupons", "couponitems", "couponsused",
                              "discountcode"),
            # WooCommerce's discount_total (cart discount, before tax); older plugins say cart_discount.
            "discount_amount": ("discounttotal", "cartdiscount", "cartdiscountamount", "ordertotaldiscount",
                                "orderdiscount", "totaldiscount", "discountamount"),
        },
        _woocommerce,
        notes=("WooCommerce: only completed and processing orders are kept, net of refunds; guests (customer 0) are identified by e-mail.",),
        revenue={NET_SALES: "Order Total - Order Refund, completed and processing orders only"},
    ),
    Preset(
        "online_retail", "UCI Online Retail",
        (("invoiceno", "invoice"), ("unitprice", "price"), ("quantity",), ("customerid",), ("invoicedate",)),
        {
            "customer_id": ("customerid",), "order_date": ("invoicedate",), "quantity": ("quantity",),
            "unit_price": ("unitprice", "price"), "order_id": ("invoiceno", "invoice"), "region": ("country",),
            "amount": (), "cost": (), "product": ("description",), "sku": ("stockcode",),
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
