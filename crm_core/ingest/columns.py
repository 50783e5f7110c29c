"""Column roles and the names that identify them in real exports.

Names are compared after normalising: accents dropped, lower case, every
character that is not a letter or digit removed ("Customer ID",
"customer_id" and "CustomerID" all become ``customerid``). A second pass
ignores text in brackets ("Amount (EUR)" -> ``amount``, "Created (UTC)" ->
``created``).
"""
from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

ID, DATE, MONTH, NUMBER, TEXT = "id", "date", "month", "number", "text"


def norm(name: str) -> str:
    """``"Créé le (UTC)"`` -> ``"creeleutc"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


_BRACKETED = re.compile(r"[(\[{][^()\[\]{}]*[)\]}]")


def norm_base(name: str) -> str:
    """:func:`norm` of the name without bracketed parts: ``"Amount (EUR)"`` -> ``"amount"``.

    The innermost brackets go (``[^()...]``, not ``[^)...]``): from each of a header's 500,000 ``(`` without a
    ``)`` the wider pattern scanned to the end of the name (quadratic: about 25 minutes for one 500 KB name)."""
    return norm(_BRACKETED.sub(" ", name))


def bracket_currency(name: str) -> str | None:
    """Currency code written in a column name, e.g. ``"Amount (EUR)"`` -> ``"EUR"``."""
    match = re.search(r"[(\[]\s*([A-Za-z]{3})\s*[)\]]", name)
    if match and match.group(1).upper() not in ("UTC", "GMT", "QTY", "PCS"):
        return match.group(1).upper()
    return None


class Role(NamedTuple):
    """A canonical column and how to find it in a file.

    Attributes
    ----------
    key
        Canonical column name (and :class:`ColumnMapping` field).
    kind
        How values are parsed: id, date, month, number or text.
    label
        Plain name used in messages ("order date").
    names
        Normalised column names, best first.
    contains, excludes
        Fallback: a column whose normalised name contains one of ``contains``
        and none of ``excludes`` (checked against its values).
    flag
        The CLI option that overrides it.
    """

    key: str
    kind: str
    label: str
    names: tuple[str, ...]
    contains: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    flag: str = ""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CUSTOMER = Role(
    "customer_id", ID, "customer id",
    _words(
        "customerid customer customerno customernumber customernr custid custno cust customercode customerkey "
        "clientid client clientno clientnumber clientcode accountid accountnumber account buyerid buyer "
        "userid memberid contactid shopperid masterid customeruser kundennummer kundenid kundennr kunde "
        "idcliente cliente numerocliente codigocliente klantnummer klantid klant numeroclient idclient "
        "email customeremail emailaddress billingemail buyeremail useremail mail correo accountname "
        "customername clientname"
    ),
    ("customer", "client", "kunde", "cliente", "klant", "email"),
    ("count", "segment", "type", "since", "date", "group", "note", "tag"),
    "--customer",
)
ORDER_DATE = Role(
    "order_date", DATE, "order date",
    _words(
        "orderdate invoicedate purchasedate transactiondate saledate salesdate orderdatetime orderedat "
        "orderplacedat orderplaced date createdat created createddate createdon closedate closedat paidat "
        "paiddate paymentdate datepaid datetime timestamp day bookingdate invoicedatetime transactiontime "
        "transactiondatetime datum bestelldatum rechnungsdatum kaufdatum fecha fechapedido fechafactura "
        "fechacompra datecommande datefacture dateachat data datapedido orderdatum besteldatum factuurdatum"
    ),
    ("date", "datum", "fecha", "time"),
    ("ship", "deliver", "due", "cancel", "updat", "modif", "refund", "birth", "signup", "fulfil", "expir",
     "return", "login", "first", "last", "lastorder", "days"),
    "--date",
)
AMOUNT = Role(
    "amount", NUMBER, "order amount",
    _words(
        "amount total ordertotal totalamount totalprice grandtotal totalsales sales salesamount revenue "
        "netrevenue netsales net netamount nettotal value ordervalue ordertotalamount amountpaid totalpaid "
        "paid payment paymentamount sum dollars dollarvalue totalvalue linetotal itemtotal gross grossamount "
        "grosssales subtotal betrag umsatz gesamtbetrag summe gesamt importe importetotal monto montant "
        "montanttotal montantttc bedrag omzet totaal valor valortotal"
    ),
    ("amount", "total", "revenue", "sales", "betrag", "importe", "montant", "umsatz"),
    ("refund", "tax", "discount", "shipping", "fee", "count", "quantity", "qty", "cost", "outstanding",
     "number", "items", "orders"),
    "--amount",
)
QUANTITY = Role(
    "quantity", NUMBER, "quantity",
    _words(
        "quantity qty units unitssold numberofcds numberofitems items itemcount itemsqty lineitemquantity "
        "pieces menge anzahl stuck cantidad quantite aantal quantidade cds"
    ),
    flag="--quantity",
)
UNIT_PRICE = Role(
    "unit_price", NUMBER, "unit price",
    _words(
        "unitprice price itemprice lineitemprice priceeach priceperunit saleprice salesprice preis "
        "einzelpreis stuckpreis precio preciounitario prixunitaire prix prijs"
    ),
    flag="--unit-price",
)
ORDER_ID = Role(
    "order_id", TEXT, "order id",
    _words(
        "orderid ordernumber orderno ordernr order invoice invoiceno invoicenumber invoiceid transactionid "
        "transaction receiptid receiptnumber receipt salesorder salesorderid salesordernumber dealid "
        "opportunityid bestellnummer rechnungsnummer auftragsnummer numeropedido pedido numerocommande "
        "commande factura bestelnummer"
    ),
    flag="--order-id",
)
CHANNEL = Role(
    "channel", TEXT, "channel",
    _words("channel saleschannel orderchannel source sourcename acquisitionchannel marketingchannel utmsource "
           "leadsource kanal canal vertriebskanal"),
    flag="--channel",
)
REGION = Role(
    "region", TEXT, "region",
    _words("region country countrycode state province billingcountry shippingcountry billingregion "
           "shippingregion billingprovince shippingprovince market territory salesregion area land pais pays "
           "bundesland regio"),
    flag="--region",
)
CATEGORY = Role(
    "category", TEXT, "category",
    _words("category productcategory producttype itemcategory department productline productgroup kategorie "
           "warengruppe categoria categorie"),
    flag="--category",
)
COST = Role(
    "cost", NUMBER, "cost",
    _words("cost cogs costofgoods costofgoodssold totalcost productcost ordercost kosten costo cout kost"),
    flag="--cost",
)
DAYS_LATE = Role(
    "days_late", NUMBER, "days late",
    _words("dayslate delaydays daysdelayed deliverydelay deliverydelaydays latedays daysoverdue lateness"),
    flag="--days-late",
)
CURRENCY = Role(
    "currency", TEXT, "currency",
    _words("currency currencycode ordercurrency currencyisocode opportunitycurrency amountcurrency "
           "paymentcurrency curr ccy wahrung moneda devise valuta"),
    flag="--currency-column",
)

#: Every role of an order file, in the order they are matched.
ORDER_ROLES: tuple[Role, ...] = (
    CUSTOMER, ORDER_DATE, AMOUNT, QUANTITY, UNIT_PRICE, ORDER_ID, CHANNEL, REGION, CATEGORY, COST,
    DAYS_LATE, CURRENCY,
)

# ---------------------------------------------------------------- side tables

_SIDE_CUSTOMER = Role("customer_id", ID, "customer id", CUSTOMER.names, CUSTOMER.contains, CUSTOMER.excludes, "--customer")
SIDE_ROLES: dict[str, tuple[Role, ...]] = {
    "customers": (
        _SIDE_CUSTOMER,
        Role("email", TEXT, "email", _words("email emailaddress customeremail mail")),
        Role("name", TEXT, "name", _words("name customername fullname clientname accountname contactname company companyname")),
        Role("signup_date", DATE, "signup date",
             _words("signupdate signedup signupat registrationdate registeredat createdat created createddate "
                    "customersince joindate joined firstorderdate acquisitiondate startdate"),
             ("signup", "regist", "joined", "since", "created"), ()),
        Role("acquisition_channel", TEXT, "acquisition channel",
             _words("acquisitionchannel channel source leadsource signupchannel referralsource utmsource marketingchannel")),
        Role("region", TEXT, "region", REGION.names),
    ),
    "interactions": (
        _SIDE_CUSTOMER,
        Role("interaction_date", DATE, "interaction date",
             _words("interactiondate date contactdate ticketdate createdat created createddate opened openedat "
                    "timestamp datetime calldate day"),
             ("date", "time"), ("closed", "resolved", "updat")),
        Role("channel", TEXT, "channel", _words("channel contactchannel medium via source type")),
        Role("reason", TEXT, "reason", _words("reason topic category subject contactreason issue issuetype tickettype")),
        Role("csat", NUMBER, "satisfaction (CSAT)",
             _words("csat satisfaction csatscore satisfactionscore rating score customersatisfaction")),
        Role("cost", NUMBER, "cost", _words("cost handlingcost costtoserve servicecost contactcost")),
    ),
    "marketing_spend": (
        Role("month", MONTH, "month", _words("month period date monthstart yearmonth mon"), ("month", "period", "date"), ()),
        Role("channel", TEXT, "channel", _words("channel acquisitionchannel marketingchannel source medium campaign")),
        Role("spend", NUMBER, "spend",
             _words("spend amount cost marketingspend adspend budget spent total value"),
             ("spend", "cost", "amount"), ()),
    ),
}
SIDE_REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "interactions": ("customer_id", "interaction_date"),
    "marketing_spend": ("month", "spend"),
}


def name_candidates(
    role: Role, columns: list[str], used: set[str], names: tuple[str, ...] | None = None, fuzzy: bool = True
) -> list[str]:
    """Columns that may hold ``role``, best first: exact names, then (``fuzzy``) contained words."""
    names = names if names is not None else role.names
    free = [c for c in columns if c not in used]
    keyed = [(c, norm(c), norm_base(c)) for c in free]
    found: list[str] = []
    for wanted in names:
        for column, full, base in keyed:
            if column not in found and wanted in (full, base):
                found.append(column)
    for column, full, _ in keyed if fuzzy else ():
        if column in found:
            continue
        if any(word in full for word in role.contains) and not any(word in full for word in role.excludes):
            found.append(column)
    return found


def resolve_user_column(wanted: str, columns: list[str]) -> str | None:
    """The file's column a user named (exact, else case/space/underscore-insensitive)."""
    if wanted in columns:
        return wanted
    key = norm(wanted)
    matches = [c for c in columns if norm(c) == key]
    return matches[0] if matches else None
