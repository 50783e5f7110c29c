"""Stage 1, map columns: which source column plays which role.

:func:`map_columns` honours the user's choices first, then the preset's
vendor names, then generic name matching checked against the values, and for
headerless files guesses from the values alone. It returns a frozen
:class:`ColumnPlan`; :func:`require_orders` checks an order table has what it needs.
"""
from __future__ import annotations

import re
from typing import Any, NamedTuple

import polars as pl

from crm_core.ingest.columns import DATE, ID, MONTH, NUMBER, ORDER_ROLES, TEXT, Role, name_candidates, norm, resolve_user_column
from crm_core.ingest.errors import IngestError
from crm_core.ingest.numbers import SIMPLE_WITH_SYMBOL, classify
from crm_core.ingest.parse import MONTH_FORMATS, month_expr
from crm_core.ingest.presets import EXTRA_KINDS, Preset
from crm_core.ingest.sniff import DateFormat, sniff_date_format
from crm_core.ingest.source import RawTable


class ColumnPlan(NamedTuple):
    """The mapping: role -> source column, role -> kind (id, date, month, number, text)."""

    columns: dict[str, str]
    kinds: dict[str, str]
    detected: dict[str, Any]
    warnings: tuple[str, ...] = ()
    #: Unread status columns whose sample marks no row as cancelled or refunded: the parse looks at every row.
    watch: tuple[str, ...] = ()

    def of_kind(self, *kinds: str) -> list[str]:
        """Roles of the given kinds, in mapping order."""
        return [key for key, kind in self.kinds.items() if kind in kinds]


class ColumnSample:
    """Read-only view of a table's sample: values, dtypes and (cached) date formats per column."""

    def __init__(self, table: RawTable) -> None:
        self.table = table
        self.schema = table.frame.collect_schema()
        self._dates: dict[tuple[str, bool], DateFormat | None] = {}
        self._values: dict[str, pl.Series] = {}

    def values(self, column: str) -> pl.Series:
        """Non-blank sampled values of ``column``, trimmed (cached: mapping and sniffing ask several times)."""
        if column not in self._values:
            values = self.table.sample.get_column(column).drop_nulls().str.strip_chars()
            self._values[column] = values.filter(values.str.len_bytes() > 0)
        return self._values[column]

    def dtype(self, column: str) -> pl.DataType:
        return self.schema[column]

    def is_text(self, column: str) -> bool:
        return is_text(self.schema[column])

    def date_format(self, column: str, day_first_hint: bool = False) -> DateFormat | None:
        """Date format of a column's sample (cached: sniffing tries every format)."""
        key = (column, day_first_hint)
        if key not in self._dates:
            self._dates[key] = sniff_date_format(self.values(column), day_first_hint, min_rate=0.05)
        return self._dates[key]

    def fits(self, kind: str, column: str, threshold: float = 0.5) -> bool:
        """Do the sampled values of ``column`` look like ``kind``?"""
        dtype = self.dtype(column)
        values = self.values(column)
        if kind in (ID, TEXT):
            return True
        if values.is_empty():
            return threshold < 0.9  # nothing to contradict a name match
        if kind in (DATE, MONTH):
            if dtype == pl.Date or isinstance(dtype, pl.Datetime):
                return True
            found = self.date_format(column)
            if found is None and kind == MONTH:
                return month_format(values) is not None
            return found is not None and found.rate >= threshold
        if kind == NUMBER:
            if dtype.is_numeric():
                return True
            few = values.head(1000)
            plain = pl.DataFrame({"v": few}).select(pl.col("v").str.contains(SIMPLE_WITH_SYMBOL).mean()).item()
            if plain >= threshold:  # plain numbers are all readable: no need for the thorough (and costly) reading
                return True
            readable = pl.DataFrame({"v": few}).select(classify(pl.col("v")).bits.is_not_null()).to_series()
            return readable.mean() >= threshold
        return True


def is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def map_columns(
    table: RawTable, sample: ColumnSample, roles: list[Role], user: dict[str, str], preset: Preset | None
) -> ColumnPlan:
    """Assign a source column to each role that can be found.

    Raises
    ------
    IngestError
        When a column the user chose is not in the file.
    """
    columns = table.columns
    chosen: dict[str, str] = {}
    kinds: dict[str, str] = {}
    used: set[str] = set()

    def assign(role: Role, column: str) -> None:
        chosen[role.key], kinds[role.key] = column, role.kind
        used.add(column)

    for role in roles:  # the user's choices first, so detection does not take them
        if role.key in user:
            found = resolve_user_column(user[role.key], columns)
            if found is None:
                raise IngestError(
                    f"Column '{user[role.key]}' (chosen for the {role.label}) is not in the file. "
                    f"Columns found: {', '.join(columns[:30])}. Check the spelling in 'Column mapping'."
                )
            assign(role, found)
    headerless = not table.detected.get("header", True)
    for role in roles:
        if role.key in chosen:
            continue
        if preset and role.key in preset.columns:
            names = preset.columns[role.key]
            plain = Role(role.key, role.kind, role.label, names)
            found = next(iter(name_candidates(plain, columns, used, names)), None) if names else None
        elif role.key in EXTRA_KINDS or headerless:
            found = None
        elif role.key == "amount" and "unit_price" in user and "amount" not in user:
            found = None  # the user asked for quantity x unit price
        else:
            found = _first_valid(sample, role, columns, used)
        if found is not None:
            assign(role, found)
    if preset and "customer_id" not in chosen and "customer_alt" in chosen:  # only the e-mail (a guest-only export)
        chosen["customer_id"], kinds["customer_id"] = chosen["customer_alt"], ID
    warnings: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    if headerless and not preset:
        warnings = _map_by_content(table, sample, roles, used, assign, chosen)
    status, watch = _unread_status_warnings(sample, [c for c in columns if c not in used], preset is not None)
    warnings += status + _same_names(chosen, columns, set(user))
    if not preset and "amount" in chosen:
        warnings += _unread_refunds(sample, [c for c in columns if c not in used], chosen["amount"])
    detected = {"columns": {k: v for k, v in chosen.items() if k not in EXTRA_KINDS}}
    return ColumnPlan(chosen, kinds, detected, warnings, watch)


#: Names (normalised) of columns that say whether a row is a sale: no role reads them without a preset.
STATUS_NAMES = frozenset({"status", "orderstatus", "paymentstatus", "financialstatus", "state", "orderstate", "type",
                          "transactiontype", "ordertype", "kind", "recordtype", "linetype", "eventtype"})
#: Words in such a column that mark a row which is not a plain sale.
NOT_A_SALE = r"(?i)cancel|void|refund|return|chargeback|reversal|declin|fail"


def _unread_status_warnings(sample: ColumnSample, unread: list[str],
                            preset: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A warning per unread status column whose sampled values mark rows as cancelled or refunded, and the
    unread status columns whose sample marks none while rows beyond it are still to be read.

    Nothing reads such a column (without a preset, or beside the columns a preset reads: a WooCommerce
    ``Type`` of ``shop_order_refund``), so those rows are counted as sales with their amounts as written: the
    warning says so rather than leaving it silent. The parse looks at every row of the columns to watch
    (:func:`status_warning` then words it)."""
    warnings, watch = [], []
    for column in unread:
        if norm(column) not in STATUS_NAMES or not sample.is_text(column):
            continue
        values = sample.values(column)
        marked = values.filter(values.str.contains(NOT_A_SALE))
        if marked.len():
            warnings.append(status_warning(column, marked.unique(maintain_order=True).head(3).to_list(), preset))
        elif not sample.table.complete:
            watch.append(column)
    return tuple(warnings), tuple(watch)


#: A refund amount's column name (normalised): "Partial Refunds", "Refunded Amount", "Amount Refunded", "Refunds".
_REFUND_NAME = re.compile(r"refund")
#: A written zero, whatever its currency mark or sign ("$0.00", "-0,00 €", "0").
_ZERO = r"^[^\d]*0*(?:[.,]0*)?[^\d]*$"


def _unread_refunds(sample: ColumnSample, unread: list[str], amount: str) -> tuple[str, ...]:
    """A warning per unread column named like refunds whose sampled values are not all zero (Square's
    ``Partial Refunds``): without a preset nothing subtracts them, so revenue is the amount column as written,
    which the user should know rather than find out (it was silent)."""
    warnings = []
    for column in unread:
        if not _REFUND_NAME.search(norm(column)):
            continue
        values = sample.values(column).cast(pl.String).str.strip_chars()
        refunds = values.filter(values.str.contains(r"\d") & ~values.str.contains(_ZERO))
        if refunds.len():
            warnings.append(
                f"Column '{column}' holds refunds ({refunds.len():,} of the first {values.len():,} rows, e.g. "
                f"'{refunds[0]}') that nothing subtracts: revenue is '{amount}' as written. If '{amount}' does not "
                "already net them out, export refunds as negative amounts.")
    return tuple(warnings)


def _same_names(chosen: dict[str, str], columns: list[str], by_user: set[str]) -> tuple[str, ...]:
    """A warning when the column found for the customer, date or amount has a twin whose name differs only
    in case, spaces or punctuation (``amount`` and ``Amount``): the first was taken, which nothing else says."""
    warnings = []
    for key in ("customer_id", "order_date", "amount"):
        column = chosen.get(key)
        if column is None or key in by_user:
            continue
        twins = [c for c in columns if c != column and norm(c) == norm(column)]
        if twins:
            flag = {"customer_id": "--customer", "order_date": "--date", "amount": "--amount"}[key]
            warnings.append(
                f"Columns '{column}' and '{twins[0]}' have the same name but for case or punctuation; '{column}' was "
                f"read as the {key.replace('_', ' ')}. If that's wrong, pick the other one (CLI: {flag} COL).")
    return tuple(warnings)


def status_warning(column: str, examples: list[str], preset: bool = False) -> str:
    """The warning for an unread status column whose values (``examples``) mark rows as not plain sales."""
    shown = ", ".join(f"'{v}'" for v in examples[:3])
    advice = "" if preset else ", or choose the matching --preset"
    return (f"Column '{column}' is not read, yet it marks rows as not plain sales ({shown}): they are "
            "counted as sales with their amounts as written (negative ones as returns). Remove them from the "
            f"export (give refunds as negative amounts){advice}.")


def _first_valid(sample: ColumnSample, role: Role, columns: list[str], used: set[str]) -> str | None:
    """The first candidate whose values fit the role; else the first exact name match
    (its bad values are then rejected row by row, with reasons)."""
    exact = name_candidates(role, columns, used, fuzzy=False)
    for column in name_candidates(role, columns, used):
        if sample.fits(role.kind, column):
            return column
    return exact[0] if exact else None


def _map_by_content(table, sample, roles, used, assign, chosen) -> tuple[str, ...]:
    """Headerless files: guess date, amount and customer columns from their values."""
    free = [c for c in table.columns if c not in used]
    by_key = {r.key: r for r in roles}
    if "order_date" in by_key and "order_date" not in chosen:
        date = next((c for c in free if sample.fits(DATE, c, 0.9)), None)
        if date:
            assign(by_key["order_date"], date)
    numeric = [c for c in table.columns if c not in used and sample.fits(NUMBER, c, 0.9)]
    if "amount" in by_key and "amount" not in chosen and numeric:
        decimals = [c for c in numeric if sample.values(c).str.contains(r"[.,]\d{1,2}$").any()]
        assign(by_key["amount"], (decimals or numeric)[-1])
    if "customer_id" in by_key and "customer_id" not in chosen:
        rest = [c for c in table.columns if c not in used]
        if rest:
            assign(by_key["customer_id"], rest[0])
    if "quantity" in by_key and "quantity" not in chosen:
        counts = [c for c in table.columns if c not in used and sample.fits(NUMBER, c, 0.9)]
        if counts:
            assign(by_key["quantity"], counts[0])
    if not chosen:
        return ()
    pairs = ", ".join(f"{k}: {v}" for k, v in chosen.items())
    return (f"The file has no header row; columns were guessed from their values ({pairs}).",)


def require_orders(plan: ColumnPlan, columns: list[str]) -> ColumnPlan:
    """Check an order table has a customer, a date and an amount (or quantity x unit price).

    Returns the plan, with the amount described as ``quantity x unit price`` when computed.
    """
    roles = {r.key: r for r in ORDER_ROLES}
    for key in ("customer_id", "order_date"):
        if key not in plan.columns:
            raise IngestError(missing_message(roles[key], columns))
    if "amount" not in plan.columns and not ("quantity" in plan.columns and "unit_price" in plan.columns):
        raise IngestError(missing_message(roles["amount"], columns))
    if "amount" in plan.columns:
        return plan
    mapped = dict(plan.detected["columns"], amount=f"{plan.columns['quantity']} x {plan.columns['unit_price']}")
    return plan._replace(detected={**plan.detected, "columns": mapped})


def missing_message(role: Role, columns: list[str], what: str = "orders") -> str:
    shown = ", ".join(columns[:30]) + (f" (and {len(columns) - 30} more)" if len(columns) > 30 else "")
    article = "an" if role.label[0] in "aeiou" else "a"
    extra = " (or a quantity and a unit price)" if role.key == "amount" else ""
    flag = f" (CLI: {role.flag} COL)" if role.flag else ""
    return (
        f"No column looks like {article} {role.label}{extra}. Columns found: {shown}. "
        f"Pick the {role.label} column in 'Column mapping'{flag}."
    )


def month_format(values: pl.Series) -> str | None:
    """The format of month values (``2024-03``, ``Mar 2024``, ...) or of full dates."""
    if values.is_empty():
        return None
    frame = pl.DataFrame({"v": values.head(500)})
    best, best_rate = None, 0.0
    for fmt in MONTH_FORMATS:
        rate = frame.select(month_expr(pl.col("v"), fmt).is_not_null().mean()).item() or 0.0
        if rate > best_rate:
            best, best_rate = fmt, rate
    full = sniff_date_format(values)
    if full is not None and full.rate >= best_rate:
        return full.fmt
    return best if best_rate >= 0.5 else None
