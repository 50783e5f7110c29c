"""Numbers as people write them, each value checked against its column's convention.

A column's convention (decimal point or comma) is decided by the values that
are unambiguous in themselves; every value is then read in one of three ways:

* it agrees with the convention (or has no separator): read;
* it contradicts the convention but is unambiguous in itself (``€49,90`` or
  ``1.234,56`` in a column of ``12.50`` amounts): read as written and counted
  as a *corrected* value;
* it could mean two things (``1,234`` is 1234 or 1.234) and the column does
  not settle it: left unread and flagged *ambiguous* (its row is rejected
  with the reason "ambiguous amount").

A single separator followed by exactly three digits (``1,234``, ``12.500``)
is ambiguous in itself. The column settles it when the same mark is the
column's thousands separator in unambiguous values (``1,234.56``), or is its
decimal mark and other values have three or more decimals (``0,125``,
``12,3456``). When no value at all decides the convention, the sniffed
style of the file (or the user's ``--decimal``) decides, with a warning.

Everything is vectorised: :func:`classify` and :func:`classify_plain` build
per-value expressions, :func:`resolve` decides per column after collecting.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import polars as pl

from crm_core.ingest.currency_codes import CODE_PATTERN

#: Amounts beyond this magnitude are rejected ("amount out of range").
MAX_AMOUNT = 1e12

# Bits describing how one value is written.
READS_POINT = 1  # valid with "." as decimal mark ("," as thousands)
READS_COMMA = 2  # valid with "," as decimal mark ("." as thousands)
HAS_POINT = 4
HAS_COMMA = 8
LONG_TAIL = 16  # the last separator is followed by 3 or more digits

_SPACES = r"[\s\u00a0\u202f'’]"  # blanks and apostrophes group thousands ("1 234", "1'234")
#: Invisible characters pasted from web pages and spreadsheets (zero-width spaces and joiners, a stray byte-order
#: mark): they separate nothing, so they are dropped before a value is read.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
#: A ledger's credit or debit mark after the number (``12,00 CR``: money back; ``12.00 DR``: a sale).
_LEDGER = r"(?i)(\d\)?)(CR|DR)$"
_NUMBER = r"[\d.,]*\d[\d.,]*"
#: A currency written beside a number: a symbol, a prefixed dollar (``R$``), an ISO 4217 code (any other
#: three letters make the value unreadable: ``12.50 pcs`` is not an amount) or a local abbreviation.
_CURRENCY = rf"(?:\p{{Sc}}|[A-Za-z]{{1,3}}\$|{CODE_PATTERN}|kr|Kr|zł|Kč|Ft|Rs\.?|Fr\.?)"
_MINUS = r"[-−–]"
_BODY = rf"[-−–+]?{_CURRENCY}?[-−–+]?#[kKmM]?{_CURRENCY}?{_MINUS}?"
#: The shape of a value once its number is replaced by "#": optional sign,
#: currency before or after, k/m suffix, trailing minus, or all in brackets.
_SHAPE = rf"^(?:\({_BODY}\)|{_CURRENCY}\({_BODY}\)|\({_BODY}\){_CURRENCY}|{_BODY})$"
_MULTIPLIER = rf"#([kKmM]){_CURRENCY}?{_MINUS}?\)?$"
#: Scale words that are not supported (and must not pass for currency codes).
_WORD_SCALE = r"(?i)#(?:mio|mrd|tsd|bn|mn|mil)"
_VALID_POINT = r"^(?:\d+|[1-9]\d{0,2}(?:,\d{3})+)?(?:\.\d*)?$"
_VALID_COMMA = r"^(?:\d+|[1-9]\d{0,2}(?:\.\d{3})+)?(?:,\d*)?$"


class Reading(NamedTuple):
    """Per-value expressions: the value read with each decimal mark, and how it is written."""

    point: pl.Expr  # value with "." as decimal mark
    comma: pl.Expr  # value with "," as decimal mark
    bits: pl.Expr  # UInt8 of the flags above; null when the text is not a number


def classify(text: pl.Expr) -> Reading:
    """Read amounts written any supported way: ``$1,200.00``, ``EUR 12,50``, ``12,50 €``,
    ``(12.00)``, ``12.00-`` and ``12,00 CR`` (negative; ``12.00 DR`` is positive), ``1 234,56``, ``1'234.56``, ``1.2k``, ``3M``, ``1e5``."""
    core = text.str.replace_all(f"[{ZERO_WIDTH}]|{_SPACES}", "")
    # Swiss and German prices write no cents as a dash after the decimal mark ("12.–", "1'234.–", "12,– €"): an en or
    # em dash there is "00", never a minus (it was read as -12). A hyphen there ("12.-") could be that or a trailing
    # minus (SAP's "12.00-"): unreadable.
    no_cents = core.str.contains(r"\d[.,][–—]")
    core = core.str.replace(r"(\d[.,])[–—]", "${1}00")
    # A ledger's mark: CR (credit) negates, DR (debit) does not; with parentheses or a minus as well it is unreadable.
    credit = core.str.extract(_LEDGER, 2).str.to_uppercase()
    core = core.str.replace(_LEDGER, "${1}")
    number = core.str.extract(f"({_NUMBER})", 1)
    shape = core.str.replace(_NUMBER, "#")
    signed = shape.str.contains(r"\(|[-−–]")  # parentheses (also "$(12.50)", "(12,50)€") or a minus
    negative = signed | (credit == "CR").fill_null(False)
    scale = (
        pl.when(shape.str.contains(_MULTIPLIER))
        .then(shape.str.extract(_MULTIPLIER, 1).str.to_lowercase().replace_strict({"k": 1e3, "m": 1e6}, default=1.0))
        .otherwise(1.0)
    )
    sign = pl.when(negative).then(-1.0).otherwise(1.0) * scale
    point = number.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False) * sign
    comma = (
        number.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
        * sign
    )
    reads_point = number.str.contains(_VALID_POINT)
    reads_comma = number.str.contains(_VALID_COMMA)
    bits = (
        reads_point.cast(pl.UInt8) * READS_POINT
        + reads_comma.cast(pl.UInt8) * READS_COMMA
        + number.str.contains(".", literal=True).cast(pl.UInt8) * HAS_POINT
        + number.str.contains(",", literal=True).cast(pl.UInt8) * HAS_COMMA
        + number.str.contains(r"[.,]\d{3,}$").cast(pl.UInt8) * LONG_TAIL
    )
    # Parentheses and a minus sign together ("(-12.50)", "$(-12.50)") negate twice: +12.50 or -12.50? Unreadable.
    twice = (shape.str.contains(r"\(") & shape.str.contains(r"[-−–]")) | (signed & credit.is_not_null())
    twice = twice | core.str.contains(r"\d[.,]-") | (no_cents & core.str.contains(r"[–—].*\d|\d.*[–—]"))
    twice = twice | (shape.str.count_matches(r"[-−–]") > 1)  # "-1.234,56-", "--12": a minus before and after
    readable = shape.str.contains(_SHAPE) & ~shape.str.contains(_WORD_SCALE) & (reads_point | reads_comma) & ~twice
    # Scientific notation and the like ("1e5"): whatever the float parser accepts as a whole.
    other = text.str.strip_chars().cast(pl.Float64, strict=False)
    return Reading(
        pl.when(readable).then(point).otherwise(other),
        pl.when(readable).then(comma).otherwise(other),
        pl.when(readable).then(bits).when(other.is_not_null()).then(pl.lit(READS_POINT | READS_COMMA, pl.UInt8)),
    )


#: Currency symbols the cheap parse strips from both ends (``$27.18``, ``27,18 €``).
SYMBOLS = "$€£¥₹ \u00a0"
#: A simple number (digits with at most one separator), perhaps with a currency symbol.
SIMPLE_WITH_SYMBOL = r"^[$€£¥₹]?\s?-?\d+(?:[.,]\d+)?\s?[$€£¥₹]?$"
#: A simple number that could mean two things: ``1,234`` / ``12.500``.
_TWO_READINGS = r"^-?[1-9]\d{0,2}[.,]\d{3}$"


def simple_columns(text: pl.Expr, name: str, comma: bool, symbols: bool) -> list[pl.Expr]:
    """The cheap streaming parse for columns whose sample is simple numbers (``-1234.5``,
    ``27,18``), perhaps with a currency symbol (``$27.18``).

    Returns ``name``: the value, its separator read as the decimal mark (null
    when the value is not simple, so it is re-read with :func:`classify`).
    With ``comma`` (the sample has decimal commas) also ``name__point`` /
    ``name__comma`` (the value has that separator) and ``name__two`` (it
    could mean two things). Without, commas are left to the re-read,
    ``name__len`` (the text's length) tells, with the value, how many
    decimals were written, and ``name__two`` flags those that could mean two
    things: the cheapest parse, for the most common files.
    """
    if symbols:  # the sample shows currency symbols; "-$3.50" keeps its "$" and is re-read with classify
        text = text.str.strip_chars(SYMBOLS)
    if not comma:  # the flag of values that could mean two things is computed here, a batch of rows at a time
        value, length = text.cast(pl.Float64, strict=False), text.str.len_bytes()
        return [value.alias(name), length.alias(f"{name}__len"), _point_two_readings(value, length).alias(f"{name}__two")]
    return [
        text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False).alias(name),
        text.str.contains(".", literal=True).alias(f"{name}__point"),
        text.str.contains(",", literal=True).alias(f"{name}__comma"),
        text.str.contains(_TWO_READINGS).alias(f"{name}__two"),
    ]


def _decimals_written(name: str) -> pl.Expr:
    """Point style: digits written after the point, from the text's length and the value
    (length - sign - integer digits - point); 0 or less when there is no point."""
    value = pl.col(name)
    magnitude = value.abs()
    integer_digits = pl.when(magnitude >= 1).then(magnitude.log10().floor() + 1).otherwise(1.0)
    sign = (value < 0).cast(pl.Float64)
    return pl.col(f"{name}__len").cast(pl.Float64) - sign - integer_digits - 1


def _two_readings(frame: pl.DataFrame, name: str) -> pl.Expr:
    if f"{name}__two" in frame.columns:
        return pl.col(f"{name}__two")
    return _point_two_readings(pl.col(name), pl.col(f"{name}__len"))


def _point_two_readings(value: pl.Expr, length: pl.Expr) -> pl.Expr:
    """Point style: the value was written with 1 to 3 integer digits, a point and 3 decimals
    (``length`` is its text's; comparisons only: this runs on every value).

    Comparisons of ``value`` itself, not of its ``abs()``: when ``value`` is the text's cast (:func:`simple_columns`),
    the query then casts each text once (an ``abs()`` of it was a second cast, a tenth of the file's parse)."""
    def at_least(bound: float) -> pl.Expr:  # |value| >= bound (false for NaN, null for null)
        return (value >= bound) | (value <= -bound)

    written = 5 + (value < 0).cast(pl.UInt32) + at_least(10).cast(pl.UInt32) + at_least(100).cast(pl.UInt32)
    return at_least(1) & ~at_least(1000) & (length == written)


def plainly_read(frame: pl.DataFrame, name: str) -> bool:
    """Every value of a point-style simple column was read and none could mean two things."""
    check = plainly_read_expr(frame, name)
    return check is not None and frame.select(check).item()


def plainly_read_expr(frame: pl.DataFrame, name: str) -> pl.Expr | None:
    """:func:`plainly_read` as an aggregate expression over ``frame`` (None: comma style, never plain)."""
    if f"{name}__comma" in frame.columns:
        return None
    return pl.col(name).is_not_null().all() & ~_two_readings(frame, name).any()


def simple_reading(frame: pl.DataFrame, name: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """(point, comma, bits) of :func:`classify` computed from :func:`simple_columns` (numbers only)."""
    value = pl.col(name)
    two = _two_readings(frame, name)
    if f"{name}__comma" in frame.columns:
        with_point, with_comma = pl.col(f"{name}__point"), pl.col(f"{name}__comma")
        long_tail = (with_point | with_comma) & ((value * 100 - (value * 100).round(0)).abs() > 1e-6)
    else:
        decimals = _decimals_written(name)
        with_point, with_comma, long_tail = decimals >= 1, pl.lit(False), decimals >= 3
    separated = with_point | with_comma
    thousands = (value * 1000).round(0)
    decimals_point = pl.when(with_point).then(value).when(with_comma).then(pl.when(two).then(thousands))
    decimals_comma = pl.when(with_comma).then(value).when(with_point).then(pl.when(two).then(thousands))
    reads_point = ~with_comma | two
    reads_comma = ~with_point | two
    bits = (
        reads_point.cast(pl.UInt8) * READS_POINT + reads_comma.cast(pl.UInt8) * READS_COMMA
        + with_point.cast(pl.UInt8) * HAS_POINT + with_comma.cast(pl.UInt8) * HAS_COMMA
        + (long_tail | two).cast(pl.UInt8) * LONG_TAIL
    )
    out = frame.select(
        pl.when(separated).then(decimals_point).otherwise(value).alias("p"),
        pl.when(separated).then(decimals_comma).otherwise(value).alias("c"),
        pl.when(value.is_not_null()).then(bits).alias("b"),
    )
    return out.get_column("p"), out.get_column("c"), out.get_column("b")


class Convention(NamedTuple):
    """A column's number convention, as decided from all its values."""

    decimal: str
    thousands: str | None
    decided: bool  # unambiguous values (or the user) decided it


class Resolved(NamedTuple):
    """One numeric column, resolved: values, flags and counts."""

    value: pl.Series  # Float64, null where unreadable or ambiguous
    ambiguous: pl.Series  # Boolean: written but ambiguous
    unreadable: pl.Series  # Boolean: written but not a number (or ambiguous)
    corrected: int
    convention: Convention
    guessed: pl.Series  # Boolean: could mean two numbers, read by the file's style (no value decided the column)


def _has(bits: pl.Expr, flag: int) -> pl.Expr:
    return (bits & flag) != 0


def evidence(bits: pl.Expr) -> list[pl.Expr]:
    """Aggregates of a column's ``bits`` that decide its convention (see :func:`resolve`).

    Sums and "any"s, so they can be computed by a streaming pass over a whole
    file (:mod:`crm_core.ingest.batches`) as well as over one collected column.
    """
    b = bits
    separated = _has(b, HAS_POINT) | _has(b, HAS_COMMA)
    point_only = _has(b, READS_POINT) & ~_has(b, READS_COMMA) & separated
    comma_only = _has(b, READS_COMMA) & ~_has(b, READS_POINT) & separated
    return [
        point_only.sum().alias("point_votes"),
        comma_only.sum().alias("comma_votes"),
        (point_only & _has(b, HAS_COMMA)).any().alias("point_grouped"),  # "1,234.56", "1,234,567"
        (comma_only & _has(b, HAS_POINT)).any().alias("comma_grouped"),  # "1.234,56", "1.234.567"
        (point_only & _has(b, HAS_POINT) & _has(b, LONG_TAIL)).any().alias("point_long"),  # "0.125"
        (comma_only & _has(b, HAS_COMMA) & _has(b, LONG_TAIL)).any().alias("comma_long"),  # "0,125"
    ]


def resolve(point: pl.Series, comma: pl.Series, bits: pl.Series, written: pl.Series, hint: str,
            user_decimal: str | None = None, whole_column: dict[str, Any] | None = None,
            spreadsheet: bool = False) -> Resolved:
    """Decide a column's convention from its unambiguous values and read every value.

    Parameters
    ----------
    point, comma, bits
        The collected :class:`Reading` of the column.
    written
        Boolean: the source cell holds text (so a null value is unreadable, not missing).
    hint
        Decimal mark to use when no value decides (the sniffed style of the file).
    user_decimal
        Decimal mark chosen by the user: it decides, and ambiguous values follow it.
    whole_column
        The :func:`evidence` of the whole column when these values are one batch of it
        (the convention is the column's, not the batch's); None: these values are the column.
    spreadsheet
        The values come from a workbook, whose reader writes number cells with a decimal point and no grouping
        (``23.505``): in a decimal-point column, three decimals are then read as written, not ambiguous.
    """
    frame = pl.DataFrame({"p": point, "c": comma, "b": bits, "w": written})
    b = pl.col("b")
    separated = _has(b, HAS_POINT) | _has(b, HAS_COMMA)
    point_only = _has(b, READS_POINT) & ~_has(b, READS_COMMA) & separated
    comma_only = _has(b, READS_COMMA) & ~_has(b, READS_POINT) & separated
    found = whole_column if whole_column is not None else frame.select(evidence(b)).row(0, named=True)
    votes_point, votes_comma = found["point_votes"] or 0, found["comma_votes"] or 0
    if user_decimal:
        decimal, decided = user_decimal, True
    elif votes_point or votes_comma:
        decimal = hint if votes_point == votes_comma else ("." if votes_point > votes_comma else ",")
        decided = True
    else:
        decimal, decided = hint, False
    if decimal == ".":
        settles_point, settles_comma = found["point_long"] or spreadsheet, found["point_grouped"]
        thousands = "," if found["point_grouped"] else None
    else:
        settles_point, settles_comma = found["comma_grouped"], found["comma_long"]
        thousands = "." if found["comma_grouped"] else None
    both = _has(b, READS_POINT) & _has(b, READS_COMMA)
    two_readings = both & separated
    settled = pl.lit(bool(user_decimal) or not decided) | pl.when(_has(b, HAS_POINT)).then(
        pl.lit(bool(settles_point))).otherwise(pl.lit(bool(settles_comma)))
    ambiguous = (two_readings & ~settled).fill_null(False)
    conventional = pl.col("p") if decimal == "." else pl.col("c")
    value = (
        pl.when(ambiguous).then(None)
        .when(point_only).then(pl.col("p"))
        .when(comma_only).then(pl.col("c"))
        .when(both).then(conventional)
    )
    corrected = comma_only if decimal == "." else point_only
    guessed = (two_readings & pl.lit(not decided)).fill_null(False)
    result = frame.select(value.alias("value"), ambiguous.alias("ambiguous"), corrected.fill_null(False).alias("fixed"),
                          guessed.alias("guessed"))
    return Resolved(
        result.get_column("value"), result.get_column("ambiguous"), written & result.get_column("value").is_null(),
        int(result.get_column("fixed").sum()), Convention(decimal, thousands, decided), result.get_column("guessed"),
    )
