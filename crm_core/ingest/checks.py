"""Stage 4, check: decide for every parsed row whether it is kept, and why not.

:func:`check_orders` applies (in this order) the preset's business rule, the
currency filter, then missing or unreadable values; :func:`check_side`
does the same for side tables. Both return a frozen :class:`Checked`: the
frame with an ``__ok`` column and the reasons of the rows set aside.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

import polars as pl

from crm_core.ingest.columns import DATE, MONTH, NUMBER, norm_base
from crm_core.ingest.currency_codes import ZERO_DECIMAL
from crm_core.ingest.errors import IngestError
from crm_core.ingest.mapping import ColumnPlan
from crm_core.ingest.numbers import MAX_AMOUNT
from crm_core.ingest.options import ReadOptions
from crm_core.ingest.presets import RULE, bad, flag
from crm_core.ingest.report import OK, rows
from crm_core.ingest.source import EXTRA, LINE
from crm_core.ingest.values import WHOLE_AMOUNT, ambiguous

if TYPE_CHECKING:
    from crm_core.currency import RatesTable


class Checked(NamedTuple):
    """The parsed frame with ``__ok`` (row kept), and ``rejected``: line and reason of the rows set aside."""

    frame: pl.DataFrame
    rejected: pl.DataFrame
    detected: dict[str, Any]
    warnings: tuple[str, ...]


def check_orders(
    parsed: pl.DataFrame, plan: ColumnPlan, options: ReadOptions, header_currency: str | None,
    bad_examples: dict[str, str], fill_orders: bool = False, whole: bool = False,
) -> Checked:
    """Keep a row when no rule, currency filter or missing/unreadable value sets it aside.

    ``fill_orders`` (files without a vendor preset): an order's lines without a customer take it (and their
    blank date) from the order's other lines, with a warning (:func:`order_lines_filled`). ``whole`` (the amount
    as written, no preset): an ambiguous amount in a currency without decimals is read as the whole number it
    must be (:func:`whole_amounts`)."""
    filled = 0
    if fill_orders:
        parsed, filled = order_lines_filled(parsed)
    parsed, detected, warnings = _currencies(parsed, options, header_currency)
    if whole:
        parsed, read_whole = whole_amounts(parsed)
        if read_whole:
            detected["whole_amounts"] = read_whole
            warnings.append(whole_amounts_warning(read_whole))
    if filled:
        detected["filled_from_order"] = filled
        warnings.append(filled_warning(filled, plan))
    rule = pl.col(RULE) if RULE in parsed.columns else pl.lit(None, pl.String)
    conflict = _conflicting_currency(parsed, header_currency)
    total = pl.col(TOTAL_ROW) if TOTAL_ROW in parsed.columns else pl.lit(False)
    other = pl.col("__other_currency").fill_null(False) if "__other_currency" in parsed.columns else pl.lit(False)
    other = other & ~conflict
    customer, date, amount = pl.col("customer_id"), pl.col("order_date"), pl.col("amount")
    keep = rule.is_null() & ~other & ~conflict & ~total & customer.is_not_null() & date.is_not_null() & amount.is_not_null()
    bad_date, bad_amount = flag(parsed, "order_date"), flag(parsed, "amount")
    # An amount computed from quantity x unit price is ambiguous when one of its parts is.
    parts = [ambiguous(k) for k in ("amount", "quantity", "unit_price") if ambiguous(k) in parsed.columns]
    ambiguous_amount = pl.any_horizontal([pl.col(c).fill_null(False) for c in parts]) if parts else pl.lit(False)
    out_of_range = ~amount.is_finite() | (amount > MAX_AMOUNT) | (amount < -MAX_AMOUNT)  # no abs(): no column of floats
    keep = keep & ~out_of_range.fill_null(False)
    # Only a conversion with a rates table adds the rate column (crm_core.currency, loaded for it alone).
    converting = options.rates is not None and _no_rate_column() in parsed.columns
    no_rate = pl.col(_no_rate_column()) if converting else pl.lit(False)
    # Converting, an order whose currency is unknown cannot be reported in the reporting currency.
    no_currency = (pl.col("__currency").is_null() & amount.is_not_null()) if converting else pl.lit(False)
    keep = keep & ~no_rate & ~no_currency
    # More fields than the header (e.g. an unquoted decimal comma, 1234,56 in a comma-separated file): the
    # reader would drop the extra fields and read the amount as 1234, so the row is set aside.
    extra = pl.col(EXTRA).str.strip_chars().str.len_bytes().fill_null(0) > 0 if EXTRA in parsed.columns else pl.lit(False)
    keep = keep & ~extra
    nothing = customer.is_null() & date.is_null() & amount.is_null() & ~bad_date & ~bad_amount
    # Two exports pasted one after the other repeat the header: its row is not an unreadable order.
    # (A byte-order mark starts the second export's header when files were concatenated as they are.)
    # A second export's header may list the columns in another order: its customer cell is then another column's name.
    names = list(dict.fromkeys(plan.columns.values()))
    header_again = customer.is_in([*names, *("\ufeff" + n for n in names)]) & date.is_null() & bad_date  # (only rejected rows get a reason)
    reason = (
        pl.when(nothing).then(pl.lit("empty row"))  # also report footers ("Grand Totals", copyright lines)
        .when(header_again).then(pl.lit("repeated header"))
        .when(extra).then(pl.lit("more fields than the header"))
        .when(total).then(pl.lit("total row"))
        .when(rule.is_not_null()).then(rule)
        .when(conflict).then(pl.lit("conflicting currency"))
        .when(other).then(pl.lit("other currency"))
        .when(customer.is_null() & flag(parsed, "customer_id")).then(pl.lit("unreadable customer id"))
        .when(customer.is_null()).then(pl.lit("missing customer id"))
        .when(date.is_null() & bad_date).then(pl.lit("unparseable date"))
        .when(date.is_null()).then(pl.lit("missing date"))
        .when(amount.is_null() & ambiguous_amount).then(pl.lit("ambiguous amount"))
        .when(amount.is_null() & bad_amount).then(pl.lit("unparseable amount"))
        .when(out_of_range).then(pl.lit("amount out of range"))
        .when(no_currency).then(pl.lit("missing currency"))
        .when(no_rate).then(_no_rate_reason() if converting else pl.lit(None, pl.String))
        .otherwise(pl.lit("missing amount"))
    )
    frame, rejected = _mark(parsed, keep, reason)
    warnings += _reordered_header(frame, rejected, plan.columns["customer_id"])
    if converting:
        warnings += _conversion_report(frame, detected)
    warnings += _blank_value_warnings(frame, plan, bad_examples)
    return Checked(frame, rejected, detected, tuple(warnings))


#: How report footers and subtotal rows name themselves in the customer column.
TOTAL_WORDS = tuple(
    spelling for word in ("total", "totals", "grand total", "sum", "summe", "gesamt", "gesamtsumme", "total général",
                          "totaal", "totale", "subtotal", "sub-total", "zwischensumme", "sous-total")
    for spelling in (word, word.upper(), word.capitalize(), word.title(), word + ":", word.capitalize() + ":")
)
TOTAL_ROW = "__total_row"


class RunningSums:
    """The amounts read so far (a batched read carries them from batch to batch): all of them, and those since
    the last total row."""

    def __init__(self, carried: bool = False) -> None:
        self.grand = self.since = 0.0
        self.carried = carried  # batches follow: sum every batch (a whole read sums only when a row is named)


def mark_total_rows(parsed: pl.DataFrame, sums: RunningSums) -> pl.DataFrame:
    """Flag (``__total_row``) the rows whose customer is a total's name (``Total``, ``Grand Total``, ``Summe``,
    ...) and whose amount is the sum of the amounts above it: all of them, or those since the previous such row
    (subtotals). Such a footer has a date and an amount and was read as a customer called "Total", doubling
    revenue. A row so named whose amount is not such a sum stays a customer, without a warning."""
    if "amount" not in parsed.columns:
        return parsed
    named = pl.col("customer_id").is_in(list(TOTAL_WORDS)).fill_null(False)
    amount = pl.when(~named & pl.col("amount").is_finite()).then(pl.col("amount")).otherwise(0.0)
    if not parsed.select(named.any()).item():
        added = float(parsed.select(amount.sum()).item() or 0.0) if sums.carried else 0.0
        sums.grand, sums.since = sums.grand + added, sums.since + added
        return parsed
    cum = amount.cum_sum()  # a named row adds nothing: its cum is the sum of the rows above it
    previous = pl.when(named).then(cum).shift(1).forward_fill()  # the cum at the last named row above
    since = cum - previous.fill_null(-sums.since)
    close = lambda total: (pl.col("amount") - total).abs() < 0.005  # noqa: E731 - half a cent
    flagged = parsed.with_columns(
        (named & (pl.col("amount") != 0).fill_null(False) & (close(cum + sums.grand) | close(since))).alias(TOTAL_ROW))
    total, last = flagged.select(amount.sum().alias("total"),
                                 (cum - pl.when(named).then(cum).forward_fill()).last().alias("last")).row(0)
    sums.grand, sums.since = sums.grand + total, float(last)
    return flagged


def _conflicting_currency(parsed: pl.DataFrame, header_currency: str | None) -> pl.Expr:
    """A row whose amount is written in one currency (``12.50 USD``, ``€12.50``) while its currency column (or the
    amount column's name) says another: which one is meant cannot be known, and it was silently the column's.
    A shared symbol (``$``, ``¥``) agrees with any stated currency (``$14.00`` in a CAD row is dollars)."""
    if "__mark" not in parsed.columns or ("currency" not in parsed.columns and not header_currency):
        return pl.lit(False)
    stated = pl.col("currency").str.strip_chars().str.to_uppercase() if "currency" in parsed.columns else pl.lit(None)
    if header_currency:
        stated = pl.coalesce(stated, pl.lit(header_currency))
    shared = pl.col("__mark_shared") if "__mark_shared" in parsed.columns else pl.lit(False)
    return (pl.col("__mark").is_not_null() & (stated.str.len_bytes() > 0) & (pl.col("__mark") != stated)
            & ~shared).fill_null(False)


def order_lines_filled(parsed: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The lines of multi-line orders without a customer, given the customer of the order's other lines (and
    their date when blank), when those lines name exactly one customer and at most one date; how many lines.

    Only looked at when some customer is blank (a null count: free) and the file has order ids. A blank
    customer with an unreadable date, or a date other than the order's, is left as it is (set aside)."""
    candidates = fill_candidates(parsed)
    if candidates is None:
        return parsed, 0
    return filled_from(parsed, candidates, order_fills(parsed.lazy()))


def fill_candidates(parsed: pl.DataFrame) -> pl.Expr | None:
    """The lines that may take their order's customer: a blank (not unreadable) customer, an order id, no
    unreadable date. None when the file has no order ids or no blank customer (a null count: free)."""
    if "order_id" not in parsed.columns or not parsed.get_column("customer_id").null_count():
        return None
    orphans = pl.col("customer_id").is_null() & pl.col("order_id").is_not_null()
    for key in ("customer_id", "order_date"):
        if bad(key) in parsed.columns:
            orphans = orphans & ~pl.col(bad(key)).fill_null(False)
    return orphans


def order_fills(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Per order id (``order_id``, ``customer_id``, ``order_date`` of its lines): the one customer its lines
    with a customer name, and their one date (or none); orders naming two customers or two dates left out."""
    customer, date, order = pl.col("customer_id"), pl.col("order_date"), pl.col("order_id")
    return (
        lines.filter(order.is_not_null() & customer.is_not_null())
        .group_by("order_id")
        .agg(customer.first().alias("__fill_c"), customer.n_unique().alias("__fill_n"),
             date.drop_nulls().first().alias("__fill_d"), date.drop_nulls().n_unique().alias("__fill_dn"))
        .filter((pl.col("__fill_n") == 1) & (pl.col("__fill_dn") <= 1))
        .select("order_id", "__fill_c", "__fill_d")
    )


def filled_from(parsed: pl.DataFrame, candidates: pl.Expr, known: pl.LazyFrame) -> tuple[pl.DataFrame, int]:
    """``parsed`` with its ``candidates`` lines given the customer (and blank date) ``known`` for their order
    (:func:`order_fills`, same date or none); how many lines were filled."""
    customer, date = pl.col("customer_id"), pl.col("order_date")
    joined = parsed.lazy().join(known, on="order_id", how="left", maintain_order="left")
    fills = candidates & pl.col("__fill_c").is_not_null() & (date.is_null() | (date == pl.col("__fill_d")).fill_null(False))
    filled = joined.select(
        pl.all().exclude("^__fill_.*$"), fills.alias("__fills"), pl.col("__fill_c"), pl.col("__fill_d"),
    ).with_columns(
        pl.when(pl.col("__fills")).then(pl.col("__fill_c")).otherwise(customer).alias("customer_id"),
        pl.when(pl.col("__fills")).then(pl.coalesce(date, pl.col("__fill_d"))).otherwise(date).alias("order_date"),
    ).collect()
    count = int(filled.get_column("__fills").sum())
    if not count:
        return parsed, 0
    return filled.drop("__fills", "__fill_c", "__fill_d"), count


def filled_warning(filled: int, plan: ColumnPlan) -> str:
    """The warning of order lines given their order's customer (a whole or a batched read)."""
    return (
        f"{filled:,} lines of multi-line orders had no customer: it was taken from the order's other lines (same "
        f"order id in column '{plan.columns['order_id']}'; a blank date too), as exports write them on an "
        "order's first line only. An order whose lines name two customers is left as it is."
    )


def whole_amounts(parsed: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Amounts that could mean two numbers (``1,234``: 1.234 or 1,234?) whose row's currency has no minor unit
    (JPY, KRW, ...: ``currency_codes.ZERO_DECIMAL``) read as their one whole reading; how many were read so
    (set aside as ambiguous, or read by the file's style as 1.234, before). ``1,000`` (1 or 1000, both whole)
    stays as it was, and so does every amount whose currency is not stated (column, code or symbol, name)."""
    if WHOLE_AMOUNT not in parsed.columns or "__currency" not in parsed.columns:
        return parsed.drop(WHOLE_AMOUNT, strict=False), 0
    whole = (pl.col(WHOLE_AMOUNT).is_not_null() & pl.col("__currency").is_in(list(ZERO_DECIMAL))).fill_null(False)
    # counted when the reading changes: an amount set aside, or read by the file's style as 1.234
    count = int(parsed.select((whole & pl.col("amount").ne_missing(pl.col(WHOLE_AMOUNT))).sum()).item())
    if not count:
        return parsed.drop(WHOLE_AMOUNT), 0
    return parsed.with_columns(
        pl.when(whole).then(pl.col(WHOLE_AMOUNT)).otherwise(pl.col("amount")).alias("amount"),
    ).with_columns(
        *([pl.when(~whole).then(pl.col(ambiguous("amount"))).alias(ambiguous("amount"))]
          if ambiguous("amount") in parsed.columns else []),
    ).drop(WHOLE_AMOUNT), count


def whole_amounts_warning(count: int) -> str:
    return (
        f"{count:,} {'amount' if count == 1 else 'amounts'} in a currency without decimals (JPY, KRW, ...) written like "
        "'1,234' or '1.234', which could mean two numbers, were read as the whole number (1,234): such a currency "
        "has no fractions."
    )


#: How the warning of a header repeated in another column order starts (a batched read keeps the first batch's).
REORDERED_HEADER = "The header is repeated at line"


def _reordered_header(frame: pl.DataFrame, rejected: pl.DataFrame, name: str) -> list[str]:
    """A warning when the header is repeated with its columns in another order (two exports pasted together):
    the rows below it are read by the first header's order, each value perhaps in another column's place."""
    if not rejected.height:
        return []
    lines = rejected.filter(pl.col("reason") == "repeated header").get_column("line")
    if not lines.len():
        return []
    moved = frame.filter(pl.col(LINE).cast(pl.Int64).is_in(lines.implode()) & ~pl.col("customer_id").is_in(
        [name, "\ufeff" + name])).select(LINE, "customer_id")
    if not moved.height:
        return []
    line, cell = moved.row(0)
    return [
        f"{REORDERED_HEADER} {line:,} with its columns in another order ('{cell}' where '{name}' was): "
        "the rows below it are read in the first header's order, so their values may sit in the wrong columns. "
        "Split the file where the header repeats and read each part on its own."
    ]


#: Amount column names that say the value is the whole order's (repeated on each of its lines by some exports).
_ORDER_LEVEL = re.compile(r"^(?:grandtotal|total|(?:order|invoice|receipt).*(?:total|amount|value|sum))$")


#: Orders grouped at once when looking for repeated totals over rows on disk (a batched read): slices of order ids.
ROWS_PER_PASS = 4_000_000


def repeated_order_totals(frame: pl.DataFrame, plan: ColumnPlan) -> list[str]:
    """A warning when an order-level amount column (``Order Total``) repeats one value on every line of each
    order listed on several lines: without a preset each line counts as written, so the order's total is
    counted once per line. It says by how much, rather than merging lines by a guess (two items at one price
    also repeat a value). Only kept rows with an order id are looked at, and only for such column names."""
    if "order_id" not in frame.columns:
        return []
    return order_total_warning(frame.lazy().filter(pl.col(OK)).select("order_id", "amount"), plan, frame.height)


def order_total_warning(kept: pl.LazyFrame, plan: ColumnPlan, rows: int) -> list[str]:
    """:func:`repeated_order_totals` over the kept rows ``kept`` (``order_id``, ``amount``; ``rows`` of them at
    most), in slices of order ids by their hash when there are many (a batched read's rows on disk)."""
    column = plan.columns.get("amount")
    if column is None or not _ORDER_LEVEL.match(norm_base(column)) or "order_id" not in kept.collect_schema().names():
        return []
    passes = max(1, -(-rows // ROWS_PER_PASS))
    orders = varies = 0
    extra = 0.0
    for slice_ in range(passes):
        part = kept.filter(pl.col("order_id").is_not_null())
        if passes > 1:
            part = part.filter(pl.col("order_id").hash() % passes == slice_)
        grouped = part.group_by("order_id").agg(
            pl.len().alias("lines"), pl.col("amount").n_unique().alias("values"),
            pl.col("amount").first().alias("once"), pl.col("amount").sum().alias("counted"),
        ).filter(pl.col("lines") > 1)
        found = grouped.select(pl.len().alias("orders"), (pl.col("values") > 1).any().alias("varies"),
                               (pl.col("counted") - pl.col("once")).sum().alias("extra"))
        row = found.collect(engine="streaming").row(0, named=True)
        orders, varies, extra = orders + row["orders"], varies or bool(row["varies"]), extra + (row["extra"] or 0.0)
        if varies:
            return []
    if not orders or not extra:
        return []
    total = float(kept.select(pl.col("amount").sum()).collect(engine="streaming").item())
    return [
        f"Column '{column}' repeats one value on every line of the {orders:,} orders listed on several "
        f"lines: if it is the order's total, revenue counts it once per line ({total:,.2f}; once per order it "
        f"would be {total - extra:,.2f}). Export one line per order, or choose the line amount column "
        "(CLI: --amount COL)."
    ]


def _no_rate_column() -> str:
    from crm_core.currency import NO_RATE

    return NO_RATE


def _no_rate_reason() -> pl.Expr:
    from crm_core.currency import no_rate_reason

    return no_rate_reason()


def _conversion_report(frame: pl.DataFrame, detected: dict[str, Any]) -> list[str]:
    """``converted_currencies`` and ``exchange_rates`` in ``detected``; the sentence saying so."""
    from crm_core.currency import conversion_sentence, conversion_summary

    reporting = detected["currency"]
    used = conversion_summary(frame.filter(pl.col(OK)), reporting)
    detected["converted_currencies"] = {code: info["orders"] for code, info in used.items()}
    detected["exchange_rates"] = used
    if not used:
        return [f"The rates table was not needed: every kept amount is in {reporting}."]
    return [conversion_sentence(used, reporting)]


SIDE_WORDS = {"customer_id": "customer id", "interaction_date": "date", "month": "month", "spend": "spend"}


def check_side(parsed: pl.DataFrame, plan: ColumnPlan, required: tuple[str, ...], bad_examples: dict[str, str]) -> Checked:
    """Keep a side-table row when its required values are there; CSAT outside 1-5 is blanked."""
    keep = pl.all_horizontal([pl.col(key).is_not_null() for key in required])
    reason = pl.lit("empty row")
    for key in reversed(required):
        word = SIDE_WORDS[key]
        reason = pl.when(pl.col(key).is_null() & flag(parsed, key)).then(pl.lit(f"unparseable {word}")).when(
            pl.col(key).is_null()).then(pl.lit(f"missing {word}")).otherwise(reason)
    warnings: list[str] = []
    if "csat" in parsed.columns:
        outside = parsed.filter(pl.col("csat").is_not_null() & ~pl.col("csat").is_between(1, 5)).height
        if outside:
            warnings.append(
                f"{rows(outside).replace('row', 'satisfaction score')} outside 1-5 and were left blank. "
                "Check the CSAT column."
            )
            parsed = parsed.with_columns(pl.when(pl.col("csat").is_between(1, 5)).then(pl.col("csat")).alias("csat"))
    frame, rejected = _mark(parsed, keep, reason)
    return Checked(frame, rejected, {}, tuple(warnings + _blank_value_warnings(frame, plan, bad_examples)))


def _mark(parsed: pl.DataFrame, keep: pl.Expr, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The frame with ``__ok``, and (line, reason) of the rows set aside (reasons computed for those only)."""
    ok = parsed.select(keep.fill_null(False).alias(OK)).to_series()
    if ok.all():  # the common case: a constant column, not a million booleans
        return parsed.with_columns(pl.lit(True).alias(OK)), pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String})
    frame = parsed.with_columns(ok)
    rejected = frame.filter(~pl.col(OK)).select(pl.col(LINE).cast(pl.Int64).alias("line"), reason.alias("reason"))
    return frame, rejected


def _currencies(
    parsed: pl.DataFrame, options: ReadOptions, header_currency: str | None
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """The currency of each row (column, symbol in the amount, or column name); filter or warn."""
    sources = []
    if "currency" in parsed.columns:
        sources.append(pl.col("currency").str.strip_chars().str.to_uppercase())
    if "__mark" in parsed.columns:
        sources.append(pl.col("__mark"))
    if header_currency:
        sources.append(pl.lit(header_currency))
    if not sources:
        warnings = []
        if options.rates is not None:
            warnings.append("No currency column or symbol was found, so the rates table was not used.")
        elif options.currency:
            warnings.append(
                f"No currency column or symbol was found, so the currency filter ({options.currency}) was not applied."
            )
        return parsed, {"currency": None}, warnings
    parsed = parsed.with_columns(pl.coalesce(sources).alias("__currency"))
    kept = parsed.filter(pl.col(RULE).is_null()) if RULE in parsed.columns else parsed
    found = sorted(kept.get_column("__currency").drop_nulls().unique().to_list())
    detected: dict[str, Any] = {"currencies": found}
    wanted = (options.currency or "").strip().upper()
    if options.rates is not None:
        reporting = _reporting_currency(wanted, found, options.rates)
        detected["currency"] = reporting
        from crm_core.currency import convert_orders

        return convert_orders(parsed, options.rates, reporting, max_amount=MAX_AMOUNT), detected, []
    if wanted:
        detected["currency"] = wanted
        other = pl.col("__currency").is_not_null() & (pl.col("__currency") != wanted)
        return parsed.with_columns(other.alias("__other_currency")), detected, []
    detected["currency"] = found[0] if len(found) == 1 else (", ".join(found) if found else None)
    warnings = []
    if len(found) > 1:
        warnings.append(
            f"Amounts are in {len(found)} currencies ({', '.join(found[:8])}) and totals would add them as if they "
            f"were one. Keep one currency (CLI: --currency {found[0]}) or supply a rates table (date, currency, "
            "rate) to convert them (CLI: --rates FILE.csv; in the app: Exchange rates on the Data page)."
        )
    return parsed, detected, warnings


def _reporting_currency(wanted: str, found: list[str], rates: RatesTable) -> str:
    """The currency amounts are converted to: the one asked for, else the one file currency the
    rates table does not convert (its rates are expressed in it)."""
    if wanted:
        if not re.fullmatch(r"[A-Z]{3}", wanted):
            raise IngestError(f"The reporting currency must be a 3-letter code like EUR (got '{wanted[:12]}').")
        return wanted
    candidates = [code for code in found if code not in rates.codes()]
    if len(candidates) == 1:
        return candidates[0]
    raise IngestError(
        f"Say which currency to report in: the rates table converts {', '.join(rates.codes()[:6])} and the "
        f"amounts are in {', '.join(found[:6]) or 'no known currency'} (CLI: --currency EUR with --rates)."
    )


def _blank_value_warnings(frame: pl.DataFrame, plan: ColumnPlan, bad_examples: dict[str, str]) -> list[str]:
    return blank_value_warnings(blank_value_counts(frame, plan), plan, bad_examples)


def blank_value_counts(frame: pl.DataFrame, plan: ColumnPlan) -> dict[str, int]:
    """Kept rows per optional number, date or month column whose value could not be read (left blank)."""
    counts = {}
    for key in plan.of_kind(NUMBER, DATE, MONTH):
        if bad(key) in frame.columns:
            counts[key] = int(frame.filter(pl.col(OK)).get_column(bad(key)).sum())
    return counts


def blank_value_warnings(counts: dict[str, int], plan: ColumnPlan, bad_examples: dict[str, str]) -> list[str]:
    """Optional columns whose values could not be read are left blank in kept rows: say so."""
    warnings = []
    for key, count in counts.items():
        if count:
            noun = {NUMBER: "a number", DATE: "a date", MONTH: "a month"}[plan.kinds[key]]
            example = f" (e.g. '{bad_examples[key]}')" if bad_examples.get(key) else ""
            two = " (or could mean two numbers, like '1,234')" if plan.kinds[key] == NUMBER else ""
            warnings.append(
                f"{rows(count, 'has', 'have')} a value in column '{plan.columns[key]}' that could not be read "
                f"as {noun}{example}{two}; it was left blank."
            )
    return warnings
