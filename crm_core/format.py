"""One way to write numbers: money, shares, counts and dates for takeaways, tables, charts and exports.

Locales set the separators (``en`` 1,234.56 · ``de`` 1.234,56 · ``fr`` 1 234,56 ·
``ch`` 1'234.56) and where the currency goes (before the number in ``en`` and
``ch``, after it in ``de`` and ``fr``). Missing values (None, NaN) are written
as an en dash.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

#: (thousands separator, decimal mark) per locale.
SEPARATORS = {"en": (",", "."), "de": (".", ","), "fr": ("\u202f", ","), "ch": ("'", ".")}
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥", "KRW": "₩"}
MISSING = "–"
_SUFFIX_LOCALES = ("de", "fr")


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing (None, NaN, infinite)."""
    if value is None:
        return None
    amount = float(value)
    return amount if math.isfinite(amount) else None


def number(value: float | int | None, decimals: int = 0, locale: str = "en") -> str:
    """1234567.891 -> '1,234,568' (en, 0 decimals) or '1.234.567,89' (de, 2 decimals)."""
    amount = _finite(value)
    if amount is None:
        return MISSING
    thousands, mark = SEPARATORS.get(locale, SEPARATORS["en"])
    text = f"{abs(amount):,.{decimals}f}"
    text = text.replace(",", "\0").replace(".", mark).replace("\0", thousands)
    negative = round(amount, decimals) < 0
    return f"-{text}" if negative else text


def _symbol(currency: str) -> str:
    """'EUR' -> '€'; a symbol given as such ('$', 'CHF ') is kept (stripped); "" for a code without one."""
    code = currency.strip()
    if len(code) == 3 and code.isalpha():
        return SYMBOLS.get(code.upper(), "")
    return code


def money_decimals(value: float) -> int:
    """Whole units from 100 up (cards, takeaways), cents below."""
    return 0 if abs(value) >= 100 else 2


def money(value: float | None, currency: str = "", locale: str = "en", decimals: int | None = None) -> str:
    """12345.6 with 'EUR' -> '€12,346' (en) or '12.346 €' (de); without currency just the number."""
    amount = _finite(value)
    if amount is None:
        return MISSING
    digits = money_decimals(amount) if decimals is None else decimals
    text = number(amount, digits, locale)
    currency = currency.strip()
    if not currency:
        return text
    symbol = _symbol(currency)
    if locale in _SUFFIX_LOCALES:
        return f"{text} {symbol or currency}"
    sign, digits_text = ("-", text[1:]) if text.startswith("-") else ("", text)
    return f"{sign}{symbol}{digits_text}" if symbol else f"{sign}{currency} {digits_text}"


def share(value: float | None, decimals: int = 1, locale: str = "en") -> str:
    """0.4871 -> '48.7%' (de: '48,7%')."""
    amount = _finite(value)
    if amount is None:
        return MISSING
    return f"{number(100 * amount, decimals, locale)}%"


def count(value: int | float | None, locale: str = "en") -> str:
    """12345 -> '12,345'."""
    return number(value, 0, locale)


def estimate(value: int | float | None, locale: str = "en") -> str:
    """An expected count of people or purchases: 43.4 -> '≈ 43', 0.4 -> '< 1', 0 -> '0'.

    A model's or a what-if's expected count is honestly fractional, but a manager reads people: the card shows
    the whole number it is close to, marked as an estimate; :func:`estimate_exact` gives the value as computed
    (cards put it in their help).
    """
    amount = _finite(value)
    if amount is None:
        return MISSING
    if amount == 0:
        return "0"
    if 0 < amount < 0.5:
        return "< 1"
    return f"≈ {count(amount, locale)}"


def estimate_exact(value: int | float | None, locale: str = "en") -> str:
    """The expected count as computed, to one decimal: 43.4 -> '43.4' (de: '43,4')."""
    return number(value, 1, locale)


def date(value: dt.date | None) -> str:
    """2024-03-05 -> '5 Mar 2024' (the same in every locale: no day/month ambiguity)."""
    if value is None:
        return MISSING
    return f"{value.day} {value:%b %Y}"


def month(value: dt.date | None, full: bool = False) -> str:
    """2024-03-05 -> 'Mar 2024' ('March 2024' with ``full``), the same in every locale."""
    if value is None:
        return MISSING
    return f"{value:%B %Y}" if full else f"{value:%b %Y}"


def period(start: dt.date | None, end: dt.date | None, joiner: str = " to ") -> str:
    """'1 Jan 2024 to 31 Mar 2024' (``joiner`` " – " for titles: '1 Jan 2024 – 31 Mar 2024')."""
    return f"{date(start)}{joiner}{date(end)}"


def value(amount: float | int | str | None, unit: str, currency: str = "", locale: str = "en") -> str:
    """Format by catalogue unit: 'money', 'share', 'count', 'estimate' (an expected count), 'ratio', 'score',
    'months', 'weeks', 'days', 'text'.

    'text' values (names, yes/no) are shown as they are; days and weeks are whole numbers.
    """
    if unit == "text" or isinstance(amount, str):
        return MISSING if amount is None else str(amount)
    if unit == "money":
        return money(amount, currency, locale)
    if unit == "share":
        return share(amount, 1, locale)
    if unit == "count":
        return count(amount, locale)
    if unit == "estimate":
        return estimate(amount, locale)
    if unit == "ratio":
        return number(amount, 2, locale)
    if unit in ("days", "weeks"):
        return number(amount, 0, locale)
    return number(amount, 1 if unit == "months" else 2, locale)


def header(label: str, unit: str, currency: str = "") -> str:
    """Column header naming the unit: 'Revenue (EUR)', 'Revenue (EUR cents)', 'Share of revenue (%)'."""
    if unit == "money":
        return f"{label} ({currency})" if currency else label
    if unit == "cents":
        return f"{label} ({currency} cents)" if currency else f"{label} (cents)"
    if unit == "share":
        return f"{label} (%)"
    return label


def cents(amount: float | None) -> int | None:
    """Money as whole cents for exports (no float noise: 15115.869999 -> 1511587)."""
    value = _finite(amount)
    return None if value is None else int(round(value * 100))


def plotly_separators(locale: str = "en") -> str:
    """Plotly ``layout.separators`` (decimal mark then thousands separator)."""
    thousands, mark = SEPARATORS.get(locale, SEPARATORS["en"])
    return f"{mark}{thousands}"


def axis_affixes(currency: str = "", locale: str = "en") -> dict[str, str]:
    """``tickprefix`` / ``ticksuffix`` for a money axis, so axes carry the currency like cards do."""
    if not currency:
        return {}
    symbol = _symbol(currency)
    if locale in _SUFFIX_LOCALES:
        return {"ticksuffix": f" {symbol or currency}"}
    return {"tickprefix": symbol or f"{currency} "}


def money_axis(currency: str = "", locale: str = "en") -> dict[str, Any]:
    """Plotly axis settings for money: thousands separators, no SI 'k'/'G' mixing, currency affixes."""
    return {"tickformat": ",.0f", "separatethousands": True, **axis_affixes(currency, locale)}


def count_axis(max_value: float | None = None) -> dict[str, Any]:
    """Plotly axis settings for counts: whole-number ticks only (no 0.5 / 0.9 / 1.4 customers).

    Up to 50 the tick step is set (1, 2, 5 or 10, at most about 10 ticks); above, Plotly's automatic
    steps are whole numbers anyway. ``max_value`` is the largest count drawn (or an upper bound of it).
    """
    settings: dict[str, Any] = {"tickformat": ",d", "rangemode": "tozero"}
    if max_value is not None and max_value <= 50:
        step = next(step for step in (1, 2, 5, 10) if max_value / step <= 10)
        settings.update(tickmode="linear", tick0=0, dtick=step)
    return settings


@dataclass(frozen=True)
class NumberStyle:
    """The manager's currency and locale, carried as one argument to every sentence writer.

    ``currency`` is an ISO code ('EUR') or a symbol ('$', as the CLI's ``--currency-symbol``
    gives it); empty writes money as a bare number. The default style writes
    ``1,234.56`` without a currency, as the CLI and tests expect.
    """

    currency: str = ""
    locale: str = "en"

    # Values are typed Any: Polars sums, means and row values come as int, float or Decimal; None and NaN
    # are written as the en dash.
    def money(self, value: Any, decimals: int | None = None) -> str:
        """Money with the currency: '€1,235' (en) or '1.235 €' (de); cents below 100."""
        return money(value, self.currency, self.locale, decimals)

    def share(self, value: Any, decimals: int = 1) -> str:
        """0.4871 -> '48.7%' (de: '48,7%')."""
        return share(value, decimals, self.locale)

    def count(self, value: Any) -> str:
        """12345 -> '12,345' (de: '12.345')."""
        return count(value, self.locale)

    def change(self, value: Any, decimals: int = 0) -> str:
        """A relative change with its sign: 0.123 -> '+12%', -0.05 -> '-5%' (de: '+12,3%' with 1 decimal)."""
        text = share(value, decimals, self.locale)
        return text if text == MISSING or text.startswith("-") else f"+{text}"

    def estimate(self, value: Any) -> str:
        """An expected count: 43.4 -> '≈ 43' (see :func:`estimate`)."""
        return estimate(value, self.locale)

    def number(self, value: Any, decimals: int = 0) -> str:
        """A plain number (ratios, scores, days, multiples) with the locale's separators."""
        return number(value, decimals, self.locale)


#: Plain style: no currency, English separators (CLI default, tests).
PLAIN = NumberStyle()
