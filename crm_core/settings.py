"""One settings object for every analysis: the manager's choices, defined once.

:class:`AnalysisSettings` holds what a manager sets (period and comparison,
tier names and cut-offs, RFM bins and rules, margin, discount rate, horizon,
cost-to-serve assumptions, currency, locale and filters). It is frozen, its
defaults are the app's defaults, and every page, the meeting mode, the report,
the exports and the CLI read it:

* :meth:`AnalysisSettings.to_json` / :meth:`AnalysisSettings.from_json` are the
  JSON a saved view downloads and the CLI reads with ``--view FILE.json``;
  unknown keys and bad values raise :class:`ValueError` with one line naming
  the key.
* :meth:`AnalysisSettings.to_url` / :meth:`AnalysisSettings.from_url` are a
  compact URL form (only what differs from the defaults, compressed).
* The module-specific settings (:class:`crm_core.portfolio.TierSettings`,
  :class:`crm_core.rfm.RfmSettings`, :class:`crm_core.clv.CLVSettings`,
  :class:`crm_core.portfolio.ServeCostSettings`) are built from it by
  :meth:`tier_settings`, :meth:`rfm_settings`, :meth:`clv_settings` and
  :meth:`serve_cost_settings`, so no module keeps its own copy of a choice.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from crm_core import format as fmt

if TYPE_CHECKING:  # the analysis modules import polars; settings stay light
    from crm_core.clv import CLVSettings
    from crm_core.portfolio import ServeCostSettings, TierSettings
    from crm_core.rfm import RfmSettings

PeriodPreset = Literal["all", "custom", "mtd", "qtd", "ytd", "last_12_months"]
Comparison = Literal["previous_period", "same_period_last_year"]
TierValue = Literal["revenue", "margin"]
Ties = Literal["shared", "ordinal"]
Axis = Literal["F", "FM"]
Locale = Literal["en", "de", "fr", "ch"]

PERIOD_PRESETS: tuple[str, ...] = get_args(PeriodPreset)
PRESET_LABELS = {
    "all": "Whole history", "custom": "Custom dates", "mtd": "Month to date", "qtd": "Quarter to date",
    "ytd": "Year to date", "last_12_months": "Last 12 months",
}
COMPARISONS: tuple[str, ...] = get_args(Comparison)
COMPARISON_LABELS = {"previous_period": "Previous period", "same_period_last_year": "Same period last year"}
LOCALES: tuple[str, ...] = get_args(Locale)

#: Filterable columns. Order attributes filter order lines; customer attributes pick customers.
ORDER_FILTERS = ("channel", "region", "category")
CUSTOMER_FILTERS = ("cohort", "tier", "segment")
FILTER_COLUMNS = ORDER_FILTERS + CUSTOMER_FILTERS
#: Other names accepted for a filter column (a view written by hand may say "country").
FILTER_ALIASES = {"country": "region", "acquisition_cohort": "cohort", "rfm_segment": "segment"}
FILTER_LABELS = {"channel": "Channel", "region": "Region / country", "category": "Category",
                 "cohort": "Acquisition cohort", "tier": "Tier", "segment": "Segment"}

_SHARE_TOLERANCE = 1e-6
_MAX_URL_CHARS = 8000
_MAX_JSON_BYTES = 200_000
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def _fail(key: str, problem: str) -> ValueError:
    return ValueError(f"'{key}': {problem}")


def _number(key: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    """A finite number in [low, high] (or (low, high]); bools and text are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(key, f"expected a number, got {json.dumps(value)[:40]}")
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise _fail(key, f"{value} is outside {bracket}{low:g}, {high:g}]")
    return float(value)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(key, f"{json.dumps(value, default=str)[:40]} is not one of {', '.join(map(str, allowed))}")
    return value


def _date(key: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(key, f"{json.dumps(value)[:40]} is not a date like 2024-12-31") from None


def _mapping(key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(key, "expected an object {...}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        name = unknown[0][:30] if key == "view" else f"{key}.{unknown[0][:30]}"
        raise _fail(name, f"unknown key (known: {', '.join(allowed)})")
    return value


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Period:
    """The analysed period: a preset or fixed dates (inclusive).

    Presets are relative to the last order date of the data (not today), so a
    view of an old export still shows data: ``mtd`` is the month of the last
    order up to that day, ``qtd`` its quarter, ``ytd`` its year, and
    ``last_12_months`` the 12 months ending on it.
    """

    preset: PeriodPreset = "all"
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        _choice("period.preset", self.preset, PERIOD_PRESETS)
        if self.start and self.end and self.start > self.end:
            raise _fail("period", f"start {self.start} is after end {self.end}")

    def resolve(self, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
        """(start, end) for data from ``first`` to ``last``, clamped to the data."""
        if self.preset == "mtd":
            start, end = last.replace(day=1), last
        elif self.preset == "qtd":
            start, end = dt.date(last.year, 3 * ((last.month - 1) // 3) + 1, 1), last
        elif self.preset == "ytd":
            start, end = dt.date(last.year, 1, 1), last
        elif self.preset == "last_12_months":
            start, end = _add_years(last, -1) + dt.timedelta(days=1), last
        else:
            start, end = self.start or first, self.end or last
        start, end = max(start, first), min(end, last)
        return (start, end) if start <= end else (first, first - dt.timedelta(days=1))

    def describe(self, first: dt.date, last: dt.date) -> str:
        start, end = self.resolve(first, last)
        label = PRESET_LABELS[self.preset]
        dates = fmt.period(start, end)
        return f"{label}: {dates}" if self.preset != "custom" else dates


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def comparison_period(start: dt.date, end: dt.date, comparison: Comparison) -> tuple[dt.date, dt.date]:
    """The period to compare ``[start, end]`` with.

    ``previous_period``: the same number of days right before ``start``;
    ``same_period_last_year``: the same dates one year earlier.
    """
    if comparison == "same_period_last_year":
        return _add_years(start, -1), _add_years(end, -1)
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


@dataclass(frozen=True)
class Tiers:
    """Value tiers, best first: customer shares from the top (summing to 1) or spend cut-offs."""

    names: tuple[str, ...] = ("Platinum", "Gold", "Iron", "Lead")
    shares: tuple[float, ...] = (0.01, 0.04, 0.15, 0.80)
    amounts: tuple[float, ...] | None = None
    by: TierValue = "revenue"

    def __post_init__(self) -> None:
        if len(self.names) < 2 or any(not isinstance(name, str) or not name.strip() for name in self.names):
            raise _fail("tiers.names", "give at least two tiers, each with a name")
        if len({name.strip() for name in self.names}) != len(self.names):
            raise _fail("tiers.names", "tier names must differ from each other")
        if {"New", "Lost"} & set(self.names):
            raise _fail("tiers.names", "'New' and 'Lost' are reserved for tier migration; pick other names")
        if any(len(name) > 40 for name in self.names):
            raise _fail("tiers.names", "a tier name is longer than 40 characters")
        _choice("tiers.by", self.by, get_args(TierValue))
        if self.amounts is None:
            self._check_shares()
        elif len(self.amounts) != len(self.names) - 1:
            raise _fail("tiers.amounts", f"give one cut-off for each tier but the last ({len(self.names) - 1})")

    def _check_shares(self) -> None:
        if len(self.shares) != len(self.names):
            raise _fail("tiers.shares", f"give one share per tier ({len(self.names)}), summing to 1")
        if any(share <= 0 for share in self.shares) or abs(sum(self.shares) - 1) > _SHARE_TOLERANCE:
            raise _fail("tiers.shares", f"shares must each be above 0 and sum to 1 (they sum to {sum(self.shares):g})")


@dataclass(frozen=True)
class Rfm:
    """RFM score levels and segment rules (``rules`` None = the default table for ``bins``).

    A rule is ``(name, r_min, r_max, f_min, f_max)``; the first matching rule wins.
    """

    bins: int = 5
    ties: Ties = "shared"
    segment_on: Axis = "F"
    rules: tuple[tuple[str, int, int, int, int], ...] | None = None

    def __post_init__(self) -> None:
        _choice("rfm.bins", self.bins, (3, 4, 5))  # type: ignore[arg-type]
        _choice("rfm.ties", self.ties, get_args(Ties))
        _choice("rfm.segment_on", self.segment_on, get_args(Axis))
        for rule in self.rules or ():
            name, *bounds = rule
            if not isinstance(name, str) or not name.strip() or len(name) > 60:
                raise _fail("rfm.rules", "every rule needs a name of 1-60 characters")
            if any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= self.bins for b in bounds):
                raise _fail("rfm.rules", f"rule '{name}': scores must be whole numbers from 1 to {self.bins}")
            if bounds[0] > bounds[1] or bounds[2] > bounds[3]:
                raise _fail("rfm.rules", f"rule '{name}': a minimum is above its maximum")


@dataclass(frozen=True)
class CostToServe:
    """Costs assumed where none is recorded (money, in the data's currency)."""

    per_contact: float = 5.0
    per_return: float = 5.0

    def __post_init__(self) -> None:
        _number("cost_to_serve.per_contact", self.per_contact, 0, 1e9)
        _number("cost_to_serve.per_return", self.per_return, 0, 1e9)


# --------------------------------------------------------------------------- the settings object


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything a manager chooses for an analysis; defaults are the app's defaults.

    Attributes
    ----------
    period
        Preset or dates of the analysed period (default: whole history).
    comparison
        What period changes are measured against.
    tiers
        Value tier names and cut-offs.
    rfm
        RFM score levels and segment rules.
    margin
        Share of revenue that is profit, (0, 1]; 1 = predicted value in revenue terms.
    discount_rate
        Annual rate discounting future value, [0, 1].
    horizon_months
        Forecast horizon of the predicted value, 1-120 months.
    cost_to_serve
        Assumed cost per support contact and per returned line.
    currency
        ISO code of the amounts, e.g. "EUR"; "" = detected from the data.
    locale
        Number format: "en" 1,234.56 · "de" 1.234,56 · "fr" 1 234,56 · "ch" 1'234.56.
    filters
        ``((column, (values, ...)), ...)``, sorted by column; see :func:`crm_core.filters.apply_filters`.
    """

    period: Period = field(default_factory=Period)
    comparison: Comparison = "previous_period"
    tiers: Tiers = field(default_factory=Tiers)
    rfm: Rfm = field(default_factory=Rfm)
    margin: float = 1.0
    discount_rate: float = 0.10
    horizon_months: int = 12
    cost_to_serve: CostToServe = field(default_factory=CostToServe)
    currency: str = ""
    locale: Locale = "en"
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        _choice("comparison", self.comparison, COMPARISONS)
        _number("margin", self.margin, 0, 1, low_open=True)
        _number("discount_rate", self.discount_rate, 0, 1)
        if isinstance(self.horizon_months, bool) or not isinstance(self.horizon_months, int) or not 1 <= self.horizon_months <= 120:
            raise _fail("horizon_months", f"expected a whole number of months from 1 to 120, got {str(self.horizon_months)[:20]}")
        if self.currency and not _CURRENCY_CODE.match(self.currency):
            raise _fail("currency", f"expected a 3-letter code like EUR or USD, got {self.currency!r:.40}")
        _choice("locale", self.locale, LOCALES)
        object.__setattr__(self, "filters", normalise_filters(dict(self.filters)))

    # ------------------------------------------------------------------ views of it

    @property
    def filter_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filters)

    def with_filters(self, filters: dict[str, Any]) -> AnalysisSettings:
        return replace(self, filters=normalise_filters(filters))

    def tier_settings(self) -> TierSettings:
        """The portfolio module's tier rule."""
        from crm_core.portfolio import TierSettings

        if self.tiers.amounts is not None:
            return TierSettings(names=self.tiers.names, method="amount", value=self.tiers.by, amounts=self.tiers.amounts)
        return TierSettings(names=self.tiers.names, value=self.tiers.by, shares=self.tiers.shares[:-1])

    def rfm_settings(self) -> RfmSettings:
        from crm_core.rfm import RfmSettings, SegmentRule

        rules = None if self.rfm.rules is None else tuple(SegmentRule(*rule) for rule in self.rfm.rules)
        return RfmSettings(bins=self.rfm.bins, ties=self.rfm.ties, segment_on=self.rfm.segment_on, rules=rules)

    def clv_settings(self, calibration_end: dt.date | None = None) -> CLVSettings:
        from crm_core.clv import CLVSettings, months_to_weeks

        return CLVSettings(horizon_weeks=months_to_weeks(self.horizon_months), margin=self.margin,
                           annual_discount_rate=self.discount_rate, calibration_end=calibration_end)

    def serve_cost_settings(self) -> ServeCostSettings:
        from crm_core.portfolio import ServeCostSettings

        return ServeCostSettings(cost_per_contact=self.cost_to_serve.per_contact,
                                 cost_per_return=self.cost_to_serve.per_return)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with every key (the saved-view download)."""
        tiers: dict[str, Any] = {"names": list(self.tiers.names), "by": self.tiers.by}
        if self.tiers.amounts is None:
            tiers["shares"] = list(self.tiers.shares)
        else:
            tiers["amounts"] = list(self.tiers.amounts)
        return {
            "period": {"preset": self.period.preset,
                       "start": self.period.start.isoformat() if self.period.start else None,
                       "end": self.period.end.isoformat() if self.period.end else None},
            "comparison": self.comparison,
            "tiers": tiers,
            "rfm": {"bins": self.rfm.bins, "ties": self.rfm.ties, "segment_on": self.rfm.segment_on,
                    "rules": None if self.rfm.rules is None else [
                        dict(zip(("name", "r_min", "r_max", "f_min", "f_max"), rule)) for rule in self.rfm.rules]},
            "margin": self.margin,
            "discount_rate": self.discount_rate,
            "horizon_months": self.horizon_months,
            "cost_to_serve": {"per_contact": self.cost_to_serve.per_contact, "per_return": self.cost_to_serve.per_return},
            "currency": self.currency,
            "locale": self.locale,
            "filters": {column: list(values) for column, values in self.filters},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> AnalysisSettings:
        """Settings from a (partial) view dict; missing keys keep their defaults.

        Raises
        ------
        ValueError
            One line naming the unknown key or the bad value.
        """
        data = _mapping("view", data, _TOP_KEYS)  # top-level keys are named bare: 'colour', not 'view.colour'
        values: dict[str, Any] = {}
        for key in ("margin", "discount_rate"):
            if key in data:
                values[key] = _number(key, data[key], -math.inf, math.inf)
        if "horizon_months" in data:
            values["horizon_months"] = _whole(data["horizon_months"])
        for key in ("comparison", "locale", "currency"):
            if key in data:
                if not isinstance(data[key], str):
                    raise _fail(key, "expected text")
                values[key] = data[key].strip().upper() if key == "currency" else data[key]
        if "period" in data:
            values["period"] = _period(data["period"])
        if "tiers" in data:
            values["tiers"] = _tiers(data["tiers"])
        if "rfm" in data:
            values["rfm"] = _rfm(data["rfm"])
        if "cost_to_serve" in data:
            cost = _mapping("cost_to_serve", data["cost_to_serve"], ("per_contact", "per_return"))
            values["cost_to_serve"] = CostToServe(**cost)
        if "filters" in data:
            values["filters"] = tuple(normalise_filters(data["filters"]))
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes) -> AnalysisSettings:
        if len(text) > _MAX_JSON_BYTES:
            raise ValueError(f"view file is larger than {_MAX_JSON_BYTES // 1000} kB; a view is a small JSON file")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"view file is not valid JSON (line {getattr(error, 'lineno', '?')}): save the view again") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ URL

    def to_url(self) -> str:
        """Compact URL-safe text: the keys that differ from the defaults, deflated; "" for the defaults."""
        full, default = self.to_dict(), AnalysisSettings().to_dict()
        changed = {key: value for key, value in full.items() if value != default[key]}
        if not changed:
            return ""
        raw = json.dumps(changed, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")

    @classmethod
    def from_url(cls, text: str | None) -> AnalysisSettings:
        """Inverse of :meth:`to_url` (raises ValueError on a damaged or oversized value)."""
        if not text:
            return cls()
        if len(text) > _MAX_URL_CHARS:
            raise ValueError("the settings in the link are too long; open the page without them")
        try:
            packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, _MAX_JSON_BYTES)
            if inflater.unconsumed_tail:
                raise ValueError("oversized")
        except (binascii.Error, zlib.error, ValueError):
            raise ValueError("the settings in the link are damaged; open the page without them") from None
        return cls.from_json(raw)


_TOP_KEYS = ("period", "comparison", "tiers", "rfm", "margin", "discount_rate", "horizon_months",
             "cost_to_serve", "currency", "locale", "filters")


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise _fail("horizon_months", f"expected a whole number of months, got {json.dumps(value)[:40]}")
    return int(value)


def _period(value: Any) -> Period:
    data = _mapping("period", value, ("preset", "start", "end"))
    start, end = _date("period.start", data.get("start")), _date("period.end", data.get("end"))
    preset = data.get("preset") or ("custom" if start or end else "all")
    return Period(preset=cast(PeriodPreset, _choice("period.preset", preset, PERIOD_PRESETS)), start=start, end=end)


def _numbers(key: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _fail(key, "expected a list of numbers")
    return tuple(_number(key, item, -1e15, 1e15) for item in value)


def _tiers(value: Any) -> Tiers:
    data = _mapping("tiers", value, ("names", "shares", "amounts", "by"))
    names = data.get("names", list(Tiers().names))
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _fail("tiers.names", "expected a list of names")
    names = tuple(name.strip() for name in names)
    amounts = None if data.get("amounts") is None else _numbers("tiers.amounts", data["amounts"])
    if amounts is not None and "shares" in data:
        raise _fail("tiers", "give shares or amounts, not both")
    if amounts is None:
        if "shares" not in data and len(names) != len(Tiers().names):
            raise _fail("tiers.shares", f"give one share per tier ({len(names)}), summing to 1")
        shares = _numbers("tiers.shares", data["shares"]) if "shares" in data else Tiers().shares
    else:
        shares = Tiers().shares
    return Tiers(names=names, shares=shares, amounts=amounts, by=data.get("by", "revenue"))


def _rfm(value: Any) -> Rfm:
    data = _mapping("rfm", value, ("bins", "ties", "segment_on", "rules"))
    rules = data.get("rules")
    if rules is not None:
        if not isinstance(rules, list):
            raise _fail("rfm.rules", "expected a list of {name, r_min, r_max, f_min, f_max}")
        keys = ("name", "r_min", "r_max", "f_min", "f_max")
        parsed = []
        for rule in rules:
            rule = _mapping("rfm.rules", rule, keys)
            if set(rule) != set(keys):
                raise _fail("rfm.rules", "every rule needs name, r_min, r_max, f_min and f_max")
            parsed.append(tuple(rule[key] for key in keys))
        rules = tuple(parsed)
    defaults = Rfm()
    return Rfm(bins=data.get("bins", defaults.bins), ties=data.get("ties", defaults.ties),
               segment_on=data.get("segment_on", defaults.segment_on), rules=rules)


def normalise_filters(filters: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{column: [values]}`` -> sorted ``((column, (values...)), ...)``; empty value lists dropped.

    Column names are matched case-insensitively, with the aliases of
    :data:`FILTER_ALIASES` ("country" is the region column). Values are text
    (numbers are written as text); duplicates are dropped.
    """
    if not isinstance(filters, dict):
        raise _fail("filters", "expected an object {column: [values]}")
    result: dict[str, tuple[str, ...]] = {}
    for raw_column, values in filters.items():
        column = str(raw_column).strip().lower().replace(" ", "_")
        column = FILTER_ALIASES.get(column, column)
        if column not in FILTER_COLUMNS:
            raise _fail(f"filters.{str(raw_column)[:30]}", f"unknown filter column (known: {', '.join(FILTER_COLUMNS)})")
        if isinstance(values, (str, int, float)) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, (list, tuple)) or any(
                isinstance(value, (bool, dict, list)) or value is None for value in values):
            raise _fail(f"filters.{column}", "expected a list of values, e.g. [\"Online\"]")
        texts = tuple(dict.fromkeys(_text(value) for value in values))
        if any(len(text) > 200 for text in texts):
            raise _fail(f"filters.{column}", "a value is longer than 200 characters")
        if texts:
            result[column] = tuple(sorted(set(result.get(column, ())) | set(texts)))
    return tuple(sorted(result.items()))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


DEFAULT_SETTINGS = AnalysisSettings()
