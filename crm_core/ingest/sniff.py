"""Sniffing: guess encoding, delimiter, header row, number and date formats.

Every function here looks at a *sample* (the first megabyte of a file or the
first few thousand values of a column), never at every row, so the Python
code stays cheap however large the file is.
"""
from __future__ import annotations

import codecs
import datetime as dt
import csv
import io
import re
from collections import Counter
from typing import NamedTuple

import polars as pl

DELIMITERS = (",", ";", "\t", "|")
#: Between equally good separators the later one wins: commas are the most
#: likely to also appear inside values.
TIE_ORDER = (",", "|", ";", "\t")
WHITESPACE = "whitespace"

# ---------------------------------------------------------------- encoding


def sniff_encoding(head: bytes, tail: bytes = b"", complete: bool = True) -> str:
    """Guess the text encoding from the first and last bytes of a file.

    Returns one of ``utf-8-sig`` (UTF-8 with BOM), ``utf-16`` (with BOM),
    ``utf-16-le``/``utf-16-be`` (no BOM, told by the zero bytes), ``utf-8``,
    ``cp1252`` (Windows Western European) or ``latin-1`` (decodes anything).
    ``complete`` says ``head`` is the whole file (so it cannot end mid-character).
    """
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    if _is_utf8(head, at_start=True, final=complete) and _is_utf8(tail, at_start=False, final=True):
        return "utf-8"
    if _decodes(head, "cp1252") and _decodes(tail, "cp1252"):
        return "cp1252"
    return "latin-1"


def lying_bom(head: bytes, tail: bytes = b"", complete: bool = True) -> int:
    """Length of a byte-order mark the bytes after it contradict (0: none, or one that tells the truth).

    A UTF-8 mark before bytes that are not UTF-8 (a cp1252 file a tool marked as UTF-8: read as UTF-8, "Clé"
    and "Clè" would both become "Cl?"), or a UTF-16 mark before text without a zero byte that is valid UTF-8
    (a UTF-8 file a tool marked as UTF-16: read as UTF-16, every character is garbage)."""
    if head.startswith(codecs.BOM_UTF8):
        body = head[len(codecs.BOM_UTF8):]
        fits = _is_utf8(body, at_start=True, final=complete) and _is_utf8(tail, at_start=False, final=True)
        return 0 if fits else len(codecs.BOM_UTF8)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return 0
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body = head[2:4098]
        if len(body) >= 4 and 0 not in body and _is_utf8(body, at_start=True, final=complete and len(head) <= 4098):
            return 2
    return 0


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    if zeros_odd > 0.4 * half and zeros_even < 0.05 * half:
        return "utf-16-le"
    if zeros_even > 0.4 * half and zeros_odd < 0.05 * half:
        return "utf-16-be"
    return None


def _is_utf8(chunk: bytes, at_start: bool, final: bool) -> bool:
    if not at_start:  # a chunk cut from the middle may start inside a character
        skip = 0
        while skip < min(3, len(chunk)) and 0x80 <= chunk[skip] <= 0xBF:
            skip += 1
        chunk = chunk[skip:]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _decodes(chunk: bytes, encoding: str) -> bool:
    try:
        chunk.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def normalise_encoding(name: str) -> str:
    """Python codec name for a user-typed encoding; raises LookupError if unknown."""
    return codecs.lookup(name.strip()).name


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x7fELF", b"MZ", b"BZh", b"7z\xbc\xaf", b"Rar!")


def looks_binary(raw_head: bytes, text: str) -> bool:
    """True when the decoded sample is not text (image, PDF, program, ...)."""
    if raw_head.startswith(_BINARY_MAGIC) and not raw_head.startswith(b"MZ,"):
        return True
    sample = text[:65536]
    if not sample:
        return False
    # A few NUL bytes in a text export (a damaged line) do not make it binary: their rows are rejected later.
    return sample.count("\x00") > 0.001 * len(sample) or len(_CONTROL.findall(sample)) > 0.01 * len(sample)


# ---------------------------------------------------------------- delimiter and header


def sniff_delimiter(text: str, prefer: str | None = None) -> str:
    """The field separator of a text sample: one of ``, ; \\t |`` or ``whitespace``.

    The separator that splits the sample's lines into the same number (>= 2)
    of fields most consistently wins; among equally consistent ones, the one
    giving more fields. ``prefer`` (from the file name, e.g. tab for .tsv)
    breaks remaining ties. Without any, runs of spaces are tried.
    """
    lines = first_lines(text, 200)
    body = "\n".join(lines)
    best: tuple | None = None
    chosen = None
    for delimiter in DELIMITERS:
        counts = [len(row) for row in split_rows(body, delimiter) if any(cell.strip() for cell in row)]
        score = _consistency(counts)
        if score is None:
            continue
        consistency, width = score
        key = (consistency >= 0.9, width if consistency >= 0.9 else 0, consistency, delimiter == prefer,
               TIE_ORDER.index(delimiter))
        if best is None or key > best:
            best, chosen = key, delimiter
    if chosen is not None:
        return chosen
    words = [len(line.split()) for line in lines if line.strip()]
    score = _consistency(words)
    if score is not None and score[0] >= 0.9:
        return WHITESPACE
    return _splits_first_line(lines) or prefer or ","


def first_lines(text: str, count: int) -> list[str]:
    """``text.splitlines()[:count]``, splitting only as much of ``text`` as holds them (a sample is a megabyte)."""
    size = 16384
    while True:
        lines = text[:size].splitlines()
        if len(lines) > count or size >= len(text):  # more lines than asked: the first ones are whole
            return lines[:count]
        size *= 4


def _splits_first_line(lines: list[str]) -> str | None:
    """For ragged files: the separator that splits the first (header) line the most."""
    first = next((line for line in lines if line.strip()), "")
    counts = {d: len(split_rows(first, d)[0]) if first else 0 for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], TIE_ORDER.index(d)))
    return best if counts[best] >= 2 else None


def _consistency(counts: list[int]) -> tuple[float, int] | None:
    if not counts:
        return None
    width, hits = Counter(counts).most_common(1)[0]
    if width < 2:
        return None
    consistency = hits / len(counts)
    return (consistency, width) if consistency >= 0.6 else None


def split_rows(text: str, delimiter: str) -> list[list[str]]:
    """Rows of a text sample (quotes respected; whitespace = runs of blanks)."""
    if delimiter == WHITESPACE:
        return [line.split() for line in text.splitlines()]
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=False))
    except csv.Error:
        return [line.split(delimiter) for line in text.splitlines()]


#: The longest value :func:`is_data_like` matches (amounts and timestamps are far shorter).
DATA_LIKE_CHARS = 100
_NUMBER_LIKE = re.compile(
    r"^[(\-−+]?\s*(?:[A-Z]{3}\s?)?[$€£¥₹]?\s*[(\-−+]?\d[\d\s.,'’\u00a0\u202f]*\s*(?:[$€£¥₹%]|\s?[A-Z]{3})?\)?-?$"
)
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[- ][A-Za-z]{3,9}[- ]\d{2,4}"
    r"|[A-Za-z]{3,9} \d{1,2},? \d{4})(?:[T\s].*)?$"
)


def is_data_like(cell: str) -> bool:
    """True for values that look like data (numbers, amounts, dates), not like column names.

    Values longer than :data:`DATA_LIKE_CHARS` are not: a number's digit-and-blank runs backtrack against the
    blanks after them (``"1" + 20,000 spaces + "x"`` took 27 s, a 1 MB cell would have taken days)."""
    value = cell.strip()
    return 0 < len(value) <= DATA_LIKE_CHARS and bool(_NUMBER_LIKE.match(value) or _DATE_LIKE.match(value))


def find_header(rows: list[list[str]]) -> tuple[int, bool]:
    """Locate the header row among the first rows of a sample.

    Returns ``(index, has_header)``: the index of the first row that is as wide
    as the table (rows before it are report titles and are skipped) and whether
    that row holds column names (mostly text) rather than data.
    """
    widths = Counter(len(row) for row in rows[:200] if any(c.strip() for c in row))
    if not widths:
        return 0, True
    width = max(widths, key=lambda w: (widths[w], w))  # most common; ties -> wider
    for index, row in enumerate(rows[:30]):
        cells = [c for c in row if c.strip()]
        if len(cells) >= max(1, 0.8 * width):
            data_cells = sum(is_data_like(c) for c in cells)
            return (index, True) if data_cells < 0.5 * len(cells) else (index, False)
    return 0, True


def two_row_header(rows: list[list[str]]) -> tuple[int, list[str]] | None:
    """A header written over two rows, as workbooks group columns under a merged name (``Amount`` over ``net``
    and ``gross``; the merge keeps the name in its first cell only): ``(index of the second row, names)``, each
    name its group's and its own (``Amount net``), or None. Without this, such a file had no header: its
    columns were guessed from the values (the net amounts taken for a quantity, the gross for the amount).

    Only for a table :func:`find_header` finds no header in: two rows of text only, together naming at least
    four in five columns, the second naming a column the first leaves blank, data right below."""
    widths = Counter(len(row) for row in rows[:200] if any(c.strip() for c in row))
    if not widths:
        return None
    width = max(widths, key=lambda w: (widths[w], w))
    for index, row in enumerate(rows[:29]):
        if not any(c.strip() for c in row):
            continue
        top, sub = (row + [""] * width)[:width], (rows[index + 1] + [""] * width)[:width]
        data = rows[index + 2] if index + 2 < len(rows) else []
        if any(is_data_like(c) for c in top + sub) or not any(c.strip() for c in data):
            return None
        named = sum(bool(a.strip() or b.strip()) for a, b in zip(top, sub))
        under = any(b.strip() and not a.strip() for a, b in zip(top, sub))
        if named < max(2, 0.8 * width) or not under:
            return None
        names, group = [], ""
        for a, b in zip(top, sub):
            group = a.strip() or (group if b.strip() else "")  # a merged name spans the columns named below it
            names.append(f"{group} {b.strip()}".strip())
        return index + 1, names
    return None


# ---------------------------------------------------------------- numbers


class NumberFormat(NamedTuple):
    """How numbers are written: decimal mark, thousands separator, currency marks."""

    decimal: str = "."
    thousands: str | None = None
    plain: bool = True  # every sampled value is a bare number like -1234.5
    currency_marks: bool = False  # symbols or codes next to the amounts
    ambiguous: bool = False


_PLAIN = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
#: A plain number without exponent: (integer digits, decimals or None). What :meth:`_NumberEvidence.add`
#: does with the general rules for such a value, it does directly (most sample values are like this).
_SIMPLE = re.compile(r"^-?(\d+)(?:\.(\d+))?$")
_MARK = re.compile(r"[$€£¥₹]|[A-Za-z]{3}")
_GROUPED = re.compile(r"\d[ '’\u00a0\u202f]\d{3}")


def sniff_number_format(values: list[str], european_hint: bool = False) -> NumberFormat:
    """Decide the decimal mark and thousands separator from sample values.

    A value with both ``.`` and ``,`` decides (the last one is the decimal);
    a single separator followed by other than three digits is a decimal;
    repeated separators are thousands. ``1,234`` or ``1.234`` alone is
    ambiguous: read the US way (``.`` decimal, ``,`` thousands) unless the file
    looks European (``;`` separated, day-first dates), then the other way.
    """
    return number_evidence(values).decide(european_hint)


def number_evidence(values: list[str]) -> _NumberEvidence:
    """What :func:`sniff_number_format` decides from: gather it once to decide under several hints."""
    evidence = _NumberEvidence()
    for raw in values:
        value = raw.strip()
        if value:
            evidence.add(value)
    return evidence


class _NumberEvidence:
    """Votes gathered from sample values by :func:`sniff_number_format`."""

    def __init__(self) -> None:
        self.decimal_votes: Counter[str] = Counter()
        self.thousands_seen: Counter[str] = Counter()
        self.ambiguous: Counter[str] = Counter()  # "1,234" / "1.234"
        self.plain = True
        self.marks = False

    def add(self, value: str) -> None:
        simple = _SIMPLE.match(value)
        if simple:  # the common case, like -1234.5: plain, no marks, and only the decimals written can vote
            integer, fraction = simple.groups()
            if fraction is not None:
                if len(fraction) != 3 or integer == "0":
                    self.decimal_votes["."] += 1
                else:
                    self.ambiguous["."] += 1
            return
        self.plain = self.plain and bool(_PLAIN.match(value))
        self.marks = self.marks or bool(_MARK.search(value))
        if _GROUPED.search(value):
            self.thousands_seen[next(ch for ch in value if ch in " '’\u00a0\u202f")] += 1
        core = re.sub(r"[^\d.,]", "", value)
        dots, commas = core.count("."), core.count(",")
        if dots and commas:
            decimal = "." if core.rfind(".") > core.rfind(",") else ","
            self.decimal_votes[decimal] += 1
            self.thousands_seen[_other(decimal)] += 1
        elif dots + commas == 1:
            mark = "." if dots else ","
            integer, _, fraction = core.partition(mark)
            if len(fraction) != 3 or integer in ("", "0"):
                self.decimal_votes[mark] += 1
            else:
                self.ambiguous[mark] += 1
        elif dots > 1 or commas > 1:
            mark = "." if dots else ","
            self.thousands_seen[mark] += 1
            self.decimal_votes[_other(mark)] += 1

    def decide(self, european_hint: bool) -> NumberFormat:
        votes, thousands_seen, ambiguous = self.decimal_votes, Counter(self.thousands_seen), False
        if votes[","] > votes["."]:
            decimal = ","
        elif votes["."] > 0:
            decimal = "."
        elif european_hint and (self.ambiguous[","] or self.ambiguous["."]):
            decimal, ambiguous = ",", True  # European: "1.234" is a thousand, "1,234" a decimal
        else:
            decimal = "."
            ambiguous = bool(self.ambiguous[","] or self.ambiguous["."])
            if self.ambiguous[","]:
                thousands_seen[","] += 1
        if self.ambiguous["."] and decimal == ",":
            thousands_seen["."] += 1
        thousands_seen.pop(decimal, None)
        thousands = thousands_seen.most_common(1)[0][0] if thousands_seen else None
        return NumberFormat(decimal, thousands, self.plain and not self.marks, self.marks, ambiguous)


def _other(mark: str) -> str:
    return "," if mark == "." else "."


# ---------------------------------------------------------------- dates

#: strftime formats tried on date values, in order of preference for ties.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y",
    "%d.%m.%Y", "%m.%d.%Y", "%d.%m.%y", "%m.%d.%y",
    "%d-%m-%Y", "%m-%d-%Y", "%d-%m-%y", "%m-%d-%y",
    "%d-%b-%Y", "%d-%b-%y", "%d %b %Y", "%d %B %Y", "%d/%b/%Y",
    "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y", "%d. %B %Y",
)
EXCEL_SERIAL = "excel-serial"
#: Unix timestamps (seconds or milliseconds since 1970-01-01 UTC); the date is the UTC date.
UNIX_SECONDS, UNIX_MILLISECONDS = "unix-seconds", "unix-milliseconds"
_NUMERIC_FORMATS = (EXCEL_SERIAL, UNIX_SECONDS, UNIX_MILLISECONDS)
#: Prefix of formats whose month names may be in German, French, Spanish,
#: Italian, Dutch or Portuguese: names are translated before parsing.
LOCAL = "local "

_MONTHS = {  # English abbreviation -> names and abbreviations in the supported languages
    "jan": "january jan janvier janv januar jänner janner januari enero ene gennaio gen janeiro",
    "feb": "february feb février fevrier févr fevr février februar februari febrero febbraio fevereiro fev",
    "mar": "march mar mars märz marz maerz mär maart mrt marzo março marco",
    "apr": "april apr avril avr abril abr aprile",
    "may": "may mai mei mayo maggio mag maio",
    "jun": "june jun juin juni junio giugno giu junho",
    "jul": "july jul juillet juil juli julio luglio lug julho",
    "aug": "august aug août aout augustus agosto ago",
    "sep": "september sep sept septembre septiembre setiembre settembre set setembro",
    "oct": "october oct octobre oktober okt octubre ottobre ott outubro out",
    "nov": "november nov novembre noviembre novembro",
    "dec": "december dec décembre decembre déc dezember dez diciembre dic dicembre dezembro",
}
_NAMES = sorted(
    {name: english for english, names in _MONTHS.items() for name in names.split()}.items(),
    key=lambda item: -len(item[0]),  # longest first: "mars" before "mar"
)
#: Formats tried on dates with translated month names ("3. März 2024" -> "3 mar 2024").
LOCAL_FORMATS = ("%d %b %Y", "%b %d %Y", "%d %b %y", "%Y %b %d")

#: The time (and time zone) that may follow a date; removed before parsing so
#: the date is the local calendar date as written.
TIME_TAIL = (
    r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?\s*"
    r"(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}|[A-Z]{2,5})?"
    # then a zone's name: "+0000 UTC" (Go), "America/New_York", "+05:30[Asia/Kolkata]" (Java)
    r"(?:\s*(?:[A-Z]{2,5}|\[?[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+\]?))?)$"
)
#: The day of the week that may come before a date (``Fri, 01 Mar 2024``, ``Friday, March 1, 2024``).
WEEKDAY_HEAD = r"^(?i:mon|tue|wed|thu|fri|sat|sun)[a-zA-Z]*\.?,?\s+"
_TIME_DIRECTIVES = re.compile(r"%[HIMSpfzZT]")

_LABELS = {"%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "Mon", "%B": "Month"}


def format_label(fmt: str | None) -> str | None:
    """Human form of a strftime date format: ``%d/%m/%Y`` -> ``DD/MM/YYYY``."""
    if fmt is None or fmt in _NUMERIC_FORMATS:
        return fmt
    for directive, label in _LABELS.items():
        fmt = fmt.replace(directive, label)
    return fmt


def user_date_format(text: str) -> str:
    """A user's date format (strftime or a label like ``DD/MM/YYYY``) as a strftime
    format for the date part only (times and time zones are cut off)."""
    fmt = text.strip()
    if "%" not in fmt:
        for directive, label in sorted(_LABELS.items(), key=lambda item: -len(item[1])):
            fmt = fmt.replace(label, directive).replace(label.lower(), directive)
    match = _TIME_DIRECTIVES.search(fmt)
    if match:
        fmt = fmt[: match.start()].rstrip(" T")
    return fmt


def _day_month_swap(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


class DateFormat(NamedTuple):
    """A detected date format.

    ``fmt`` is a strftime format (or ``excel-serial``); ``ambiguous`` is true
    when day and month could be swapped and no value decided it; ``alternative``
    is the swapped format then; ``rate`` is the share of sample values parsed;
    ``tail`` says whether values carry a time after the date; ``cells`` that the column is a workbook's
    whose number and date cells are read as the workbook types them, ``fmt`` reading its text cells;
    ``weekday`` that values start with the day of the week (``Fri, 01 Mar 2024``), removed before parsing.
    """

    fmt: str
    ambiguous: bool = False
    alternative: str | None = None
    rate: float = 1.0
    tail: bool = False
    padded_iso: bool = False
    cells: bool = False
    weekday: bool = False


def date_tokens(values: pl.Series) -> pl.Series:
    """The date part of each value (time and time zone removed)."""
    return values.cast(pl.String).str.strip_chars().str.replace(TIME_TAIL, "").str.replace(WEEKDAY_HEAD, "")


def english_months(tokens: pl.Expr) -> pl.Expr:
    """Dates with month names in any supported language, as ``3 mar 2024``: names
    translated to English abbreviations, "de"/"del" and punctuation removed."""
    lower = tokens.str.to_lowercase()
    translated = lower.str.replace_many([n for n, _ in _NAMES], [e for _, e in _NAMES], leftmost=True)
    spaced = translated.str.replace_all(r"\b(?:de|del)\b|[.,/\-]", " ")
    return spaced.str.replace_all(r"\s+", " ").str.strip_chars()


def parse_date_expr(tokens: pl.Expr, fmt: str) -> pl.Expr:
    """Parse date tokens with ``fmt`` (strftime, ``local`` + strftime, ``excel-serial``
    or ``unix-seconds``/``unix-milliseconds``); bad values -> null."""
    if fmt.startswith(LOCAL):
        return english_months(tokens).str.to_date(fmt[len(LOCAL):], strict=False)
    if fmt in (UNIX_SECONDS, UNIX_MILLISECONDS):
        scale = 1 if fmt == UNIX_SECONDS else 1000
        stamp = tokens.cast(pl.Float64, strict=False)
        days = (stamp / (86400 * scale)).floor().cast(pl.Int64, strict=False)
        return pl.when(stamp.is_finite()).then((pl.lit(dt.date(1970, 1, 1)) + pl.duration(days=days)).cast(pl.Date))
    if fmt == EXCEL_SERIAL:
        serial = tokens.cast(pl.Float64, strict=False)
        days = serial.floor().cast(pl.Int64, strict=False)
        return pl.when(serial.is_between(20000, 80000)).then(
            (pl.lit(dt.date(1899, 12, 30)) + pl.duration(days=days)).cast(pl.Date)
        )
    return tokens.str.to_date(fmt, strict=False)


def parse_date_series(tokens: pl.Series, fmt: str) -> pl.Series:
    """:func:`parse_date_expr` applied to a Series."""
    return pl.DataFrame({"t": tokens.cast(pl.String)}).select(parse_date_expr(pl.col("t"), fmt)).to_series()


def _plausible_rate(tokens: pl.Series, fmt: str) -> float:
    parsed = parse_date_series(tokens, fmt)
    if len(tokens) == 0:
        return 0.0
    ok = parsed.is_not_null() & parsed.dt.year().is_between(1900, 2100)
    return float(ok.sum()) / len(tokens)


def sniff_date_format(values: pl.Series, day_first_hint: bool = False, min_rate: float = 0.5) -> DateFormat | None:
    """Find the format that parses most sample values as plausible dates (1900-2100).

    When a format and its day/month swap parse equally well, no value has a
    part above 12: the result is ``ambiguous`` and ``day_first_hint`` picks
    (day-first for European-looking files, else month-first, US style).
    Returns None when fewer than ``min_rate`` of the values parse.
    """
    raw = values.cast(pl.String).drop_nulls().str.strip_chars()
    raw = raw.filter(raw.str.len_chars() > 0).head(2000)
    if raw.is_empty():
        return None
    tokens = raw.str.replace(TIME_TAIL, "")
    if float(tokens.str.contains(WEEKDAY_HEAD).sum()) >= 0.5 * len(tokens):  # "Fri, 01 Mar 2024": the weekday goes too
        found = _sniff_tokens(raw, tokens.str.replace(WEEKDAY_HEAD, ""), day_first_hint, min_rate)
        return found._replace(weekday=True, tail=True) if found is not None else None
    return _sniff_tokens(raw, tokens, day_first_hint, min_rate)


def _sniff_tokens(raw: pl.Series, tokens: pl.Series, day_first_hint: bool, min_rate: float) -> DateFormat | None:
    """:func:`sniff_date_format` on values (``raw``) and their date parts (``tokens``)."""
    rates: dict[str, float] = {}
    for fmt in DATE_FORMATS:  # a format that reads every value cannot be beaten (ties go to the first)
        rates[fmt] = _plausible_rate(tokens, fmt)
        if rates[fmt] == 1.0:
            break
    best_fmt = max(rates, key=rates.__getitem__)  # first of the ties
    best = rates[best_fmt]
    if best < 0.5:
        numeric = _numeric_date_format(raw, tokens)
        if numeric is not None:
            return numeric
    if best < 1.0 and bool(raw.str.contains(r"[^\W\d_]{3}").any()):
        local = max(LOCAL_FORMATS, key=lambda fmt: _plausible_rate(tokens, LOCAL + fmt))
        rate = _plausible_rate(tokens, LOCAL + local)
        if rate > best:
            return DateFormat(LOCAL + local, rate=rate, tail=bool((tokens != raw).any()))
    if best < min_rate:
        return None
    parsed = parse_date_series(tokens, best_fmt).is_not_null()
    good, good_tokens = raw.filter(parsed), tokens.filter(parsed)
    tail = bool((good_tokens != good).any())
    padded_iso = best_fmt == "%Y-%m-%d" and bool(good.str.contains(r"^\d{4}-\d{2}-\d{2}(?:$|[T ])").all())
    swapped = _day_month_swap(best_fmt)
    if swapped in DATE_FORMATS and swapped not in rates:  # after the format that read everything
        rates[swapped] = _plausible_rate(tokens, swapped)
    if swapped != best_fmt and rates.get(swapped, 0.0) >= best - 1e-12:
        month_first = best_fmt.find("%m") < best_fmt.find("%d")
        preferred, other = (swapped, best_fmt) if month_first == day_first_hint else (best_fmt, swapped)
        return DateFormat(preferred, True, other, best, tail, padded_iso)
    return DateFormat(best_fmt, False, None, best, tail, padded_iso)


_NUMERIC_SHAPES = {EXCEL_SERIAL: r"^\d{5}(?:\.\d+)?$", UNIX_SECONDS: r"^\d{9,10}(?:\.\d+)?$",
                   UNIX_MILLISECONDS: r"^\d{12,13}$"}


def _numeric_date_format(raw: pl.Series, tokens: pl.Series) -> DateFormat | None:
    """Excel serial day numbers or Unix timestamps, when most values have their shape."""
    for fmt, shape in _NUMERIC_SHAPES.items():
        if raw.str.contains(shape).mean() >= 0.5:
            rate = _plausible_rate(tokens, fmt)
            if rate >= 0.5:
                return DateFormat(fmt, rate=rate)
    return None


def is_day_first(fmt: str) -> bool:
    return "%d" in fmt and "%m" in fmt and fmt.find("%d") < fmt.find("%m")
