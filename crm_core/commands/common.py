"""Options shared by every CLI command that reads an order file."""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

# Nothing here imports Polars: a command's parser is built, and the supervisor forks
# (crm_core.ingest.supervisor), before the first Polars import. Nor dataclasses, pathlib or the read options at
# import time: the program that forked `summary`'s child early (supervisor.fork_early) only builds the parser and
# reads the command line, which needs none of them (the child imports them with Polars).
from crm_core.ingest.errors import IngestError
from crm_core.ingest.messages import disk_full, is_disk_full, one_line, quoted

if TYPE_CHECKING:
    import argparse

    import polars as pl

    from crm_core.ingest.options import ColumnMapping, ReadOptions

    from crm_core.currency import RatesTable
    from crm_core.dataset import Dataset
    from crm_core.filters import View
    from crm_core.findings import FindingContext, FindingSettings
    from crm_core.ingest.report import DuplicatesAlongside, IngestReport
    from crm_core.settings import AnalysisSettings

#: Largest view file read (a saved view is a few hundred bytes).
MAX_VIEW_BYTES = 200_000


#: The fields of :class:`crm_core.ingest.options.ColumnMapping`, in order: one CLI flag each (a test checks them).
MAPPING_FIELDS = ("customer_id", "order_date", "amount", "order_id", "quantity", "unit_price", "channel", "region",
                  "category", "cost", "days_late", "currency", "product", "sku", "discount_code", "discount_amount")
#: CLI flag names of ColumnMapping fields that differ from the field name.
MAPPING_FLAGS = {"customer_id": "customer", "order_date": "date", "currency": "currency-column"}


def add_source_arguments(parser: argparse.ArgumentParser, optional_path: bool = False) -> None:
    """PATH (optional when ``optional_path``) plus the column-mapping and read overrides."""
    parser.add_argument("path", nargs="?" if optional_path else None,
                        help="order export: CSV/TSV/TXT (.gz), Parquet or .xlsx")
    group = parser.add_argument_group("mapping and read overrides (default: detect)")
    for field_name in MAPPING_FIELDS:
        flag = "--" + MAPPING_FLAGS.get(field_name, field_name).replace("_", "-")
        group.add_argument(flag, dest=f"map_{field_name}", metavar="COL", help=f"column holding {field_name}")
    group.add_argument("--date-format", help="date format, strftime (%%d/%%m/%%Y) or label (DD/MM/YYYY)")
    group.add_argument("--encoding", help="e.g. utf-8, utf-16, cp1252")
    group.add_argument("--delimiter", help="field separator, e.g. ';', 'tab' or 'whitespace'")
    group.add_argument("--decimal", choices=[".", ","], help="decimal mark of amounts")
    group.add_argument("--thousands", help="thousands separator of amounts, e.g. ',' '.' or ' '")
    group.add_argument("--preset", help="export format preset (shopify, stripe, hubspot, salesforce, woocommerce, online_retail, cdnow, none)")
    group.add_argument("--currency", help="keep only rows in this currency code, e.g. EUR (with --rates: the "
                                          "currency amounts are converted to)")
    group.add_argument("--rates", metavar="FILE.csv",
                       help="exchange rates to convert mixed currencies: columns date, currency, rate, where rate = "
                            "units of the reporting currency per 1 unit of the currency (see docs/currency.md)")
    group.add_argument("--sheet", help="Excel sheet to read")
    group.add_argument("--revenue", dest="revenue_definition", choices=["net_sales", "total"],
                       help="what revenue means where the export offers both (Shopify: net_sales = Subtotal net of "
                            "refunds, the default; total = Total with shipping and taxes, net of refunds)")
    group.add_argument("--no-header", dest="has_header", action="store_const", const=False, default=None,
                       help="the first row is data, not column names")
    parser.add_argument("--view", metavar="FILE.json",
                        help="settings of a saved view (the JSON the app downloads): period, filters, tiers, "
                             "margin, horizon, discount rate, currency; command-line options win over it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def mapping_from_args(args: argparse.Namespace) -> ColumnMapping:
    from crm_core.ingest.options import ColumnMapping

    values = {name: getattr(args, f"map_{name}", None) for name in ColumnMapping.__dataclass_fields__}
    return ColumnMapping(**values)


def rates_from_args(args: argparse.Namespace) -> RatesTable | None:
    """The checked ``--rates`` table, or None; raises IngestError with one line naming the file and row."""
    path = getattr(args, "rates", None)
    if not path:
        return None
    from pathlib import Path

    from crm_core.currency import RatesError, read_rates  # Polars: only when rates are given

    try:
        return read_rates(path)
    except RatesError as error:
        raise IngestError(one_line(f"--rates {quoted(Path(str(path)).name)}: {error}")) from None


def options_from_args(args: argparse.Namespace) -> ReadOptions:
    from crm_core.ingest.options import ReadOptions

    delimiter = getattr(args, "delimiter", None)
    if delimiter in ("tab", "\\t", "TAB"):
        delimiter = "\t"
    return ReadOptions(
        encoding=getattr(args, "encoding", None),
        delimiter=delimiter,
        decimal=getattr(args, "decimal", None),
        date_format=getattr(args, "date_format", None),
        preset=getattr(args, "preset", None),
        thousands=getattr(args, "thousands", None),
        currency=getattr(args, "currency", None),
        sheet=getattr(args, "sheet", None),
        has_header=getattr(args, "has_header", None),
        revenue_definition=getattr(args, "revenue_definition", None),
        rates=rates_from_args(args),
    )


def _view_error(args: argparse.Namespace, problem: str) -> IngestError:
    """One line of at most 200 characters naming the view file (by its name) and the problem."""
    from pathlib import Path

    text = f"--view {Path(str(args.view)).name[:40]}: {problem}"
    return IngestError(text if len(text) <= 190 else text[:189] + "…")


def view_settings(args: argparse.Namespace) -> AnalysisSettings:
    """The settings of ``--view FILE.json`` (defaults without it); raises IngestError with one line."""
    from crm_core.settings import AnalysisSettings  # (not needed to build a command's parser)

    path = getattr(args, "view", None)
    if not path:
        return AnalysisSettings()
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_VIEW_BYTES + 1)
    except OSError as error:
        raise _view_error(args, f"cannot read the file ({error.strerror or error})") from None
    try:
        return AnalysisSettings.from_json(text)
    except ValueError as error:
        raise _view_error(args, str(error)) from None


def import_on_a_thread(module: str) -> Callable[[], object]:
    """A call that starts importing ``module`` on the shared thread pool: for :func:`load_view`'s ``meanwhile``.

    The file's values are parsed in Polars' own threads, outside the interpreter lock, so modules
    a command needs only afterwards (the CLV models: numpy, scipy's functions, ~60 ms on one core)
    load in that time instead of before it. The thread only imports: should that fail, the error stays
    in the pool's future, and the command's own import of the module afterwards raises it where it is used."""
    import importlib

    from crm_core import parallel

    return lambda: parallel.submit(importlib.import_module, module)


def load_view(args: argparse.Namespace, settings: AnalysisSettings | None = None, *, count_duplicates: bool = True,
              duplicates: DuplicatesAlongside | None = None, meanwhile: Callable[[], object] | None = None,
              rows_as_read: bool = False) -> tuple[View, AnalysisSettings, IngestReport]:
    """Read PATH and apply the view's filters and period (raises IngestError).

    ``settings`` (default: :func:`view_settings`) lets a command fold its own
    options into the view first. The view's currency keeps only rows in that
    currency unless ``--currency`` is given. A command that never shows the
    duplicate-row count passes ``count_duplicates=False`` (the report's is then None);
    one that counts them alongside its own queries passes ``duplicates`` (started
    here, on the rows read; the command records the count in the report). ``meanwhile`` is called as the
    file's values start to be parsed (see :func:`crm_core.ingest.reader.read_orders`). ``rows_as_read``: a view
    that keeps every row (no filter, a period covering the whole file) is the rows read themselves (see
    :func:`_whole_view`), for a command whose figures do not depend on how the rows are chunked.
    """
    from crm_core.filters import apply_view
    from crm_core.ingest import read_orders
    from crm_core.ingest.report import COUNT_LATER

    settings = settings or view_settings(args)
    options = options_from_args(args)
    if options.currency is None and settings.currency:
        from dataclasses import replace

        options = replace(options, currency=settings.currency)
    try:
        tx, report = read_orders(args.path, mapping_from_args(args), options,
                                 count_duplicates=COUNT_LATER if duplicates is not None else count_duplicates,
                                 meanwhile=meanwhile)
    except IngestError as error:
        raise _currency_mismatch(args, settings, options, error) or error from None
    if duplicates is not None:
        duplicates.start(tx, report)
    try:
        if on_disk(report):
            view = _view_on_disk(tx, settings)
        else:
            view = (_whole_view(tx, settings, report) if rows_as_read else None) or apply_view(tx, settings)
    except ValueError as error:
        raise _view_error(args, str(error)) if getattr(args, "view", None) else IngestError(str(error)) from None
    if view.end is None and settings.filters:
        shown = "; ".join(f"{column} in {list(values)}" for column, values in settings.filters)
        raise _view_error(args, f"no order is left after the filters ({shown[:90]}); check the values against the file")
    return view, settings, report


def _whole_view(tx: pl.LazyFrame, settings: AnalysisSettings, report: IngestReport) -> View | None:
    """The view of rows read in memory when it keeps them all (no filter, and the period resolves to the file's
    first and last order dates, which the reader found: ``report.order_dates``), with ``tx`` itself as its
    transactions and history; None otherwise.

    :func:`~crm_core.filters.apply_view` gives the same rows, in the same order, but copies them through a
    filter that keeps every one (36 MB on 1M orders, touched afresh), and its copy is chunked otherwise: sums of
    floats over it may differ in the last bit. So only for a command whose figures are exact sums, counts and
    extremes (``summary``)."""
    import polars as pl

    from crm_core.filters import View
    from crm_core.schema import C

    if settings.filters:
        return None
    if report.order_dates is not None:
        first, last = report.order_dates
    else:
        first, last = tx.select(pl.col(C.ORDER_DATE).min().alias("first"),
                                pl.col(C.ORDER_DATE).max().alias("last")).collect().row(0)
    # A kept row always has its date: within [first, last], every row is in the period.
    if first is None or settings.period.resolve(first, last) != (first, last):
        return None
    return View(tx, first, last, first, last, tx)


def _view_on_disk(tx: pl.LazyFrame, settings: AnalysisSettings) -> View:
    """:func:`~crm_core.filters.apply_view` for rows read in batches (on disk): without filters it is the
    period alone, applied lazily, so queries stream over the rows instead of collecting them all."""
    import polars as pl

    from crm_core.customers import filter_period
    from crm_core.filters import View, apply_view
    from crm_core.schema import C

    if settings.filters:
        return apply_view(tx, settings)
    first, last = tx.select(pl.col(C.ORDER_DATE).min().alias("first"),
                            pl.col(C.ORDER_DATE).max().alias("last")).collect(engine="streaming").row(0)
    if first is None:
        return View(tx, None, None, None, None, tx)
    start, end = settings.period.resolve(first, last)
    return View(filter_period(tx, start, end), start, end, first, last, tx)


def _currency_mismatch(args: argparse.Namespace, settings: AnalysisSettings, options: ReadOptions,
                       error: IngestError) -> IngestError | None:
    """A plain message when no row is in the view's currency (instead of 'N rows: other currency')."""
    if not settings.currency or getattr(args, "currency", None) or options.currency != settings.currency:
        return None
    found = (getattr(error.report, "detected", None) or {}).get("currencies") or []
    if not found or settings.currency in found:
        return None
    return _view_error(args, f"'currency' is {settings.currency} but the file's amounts are in "
                             f"{', '.join(found[:5])}: set the view's currency to one of them (or remove it)")


#: Rows per slice of customers when a per-customer table is built from many rows (see :func:`per_customer`), and
#: when totals over customers (KPIs, retention) are counted from them: a slice's rows grouped by customer and
#: order take about 200 bytes a row at the peak (first-order profiles), beside 3M customers' tables held.
ROWS_PER_SLICE = 1_500_000


def customer_slices(rows: int) -> int:
    """Slices of customers that work over ``rows`` rows is split into (:data:`ROWS_PER_SLICE` rows each)."""
    return math.ceil(rows / ROWS_PER_SLICE)


def per_customer(tx: pl.LazyFrame, build: Callable[[pl.LazyFrame], pl.LazyFrame], rows: int) -> pl.DataFrame:
    """``build(tx).collect()`` for a ``build`` that makes each customer's row from that customer's rows alone
    (a summary, its RFM columns). Over many rows (a file read in batches, on disk) it is built slice by
    slice of customers, by their id's hash, so one slice's rows are in memory at a time instead of all of
    them. Each customer's rows reach ``build`` whole and in file order either way: each customer's figures are
    the same to the last bit; slices come out sorted by customer id (one slice: ``build``'s own order), so
    sums over customers may differ in the last bit (as between two multi-threaded runs). Pass ``build`` an explicit as-of date (a slice's last order
    is not the file's)."""
    import polars as pl

    from crm_core.schema import C

    slices = customer_slices(rows)
    if slices <= 1:
        return build(tx).collect()
    customer = pl.col(C.CUSTOMER_ID)
    # Each slice's rows in one chunk, as a whole read gives them: float sums over rows spread across
    # chunks (one per Parquet part of a batched read) are added in another order, a bit off in the last place.
    parts = [build(tx.filter(customer.hash() % slices == k).collect().rechunk().lazy()).collect() for k in range(slices)]
    whole = pl.concat(parts, rechunk=False)
    parts.clear()
    # Sorted one column at a time, each dropped once gathered: one column more than the table at the
    # peak, not two tables (3M customers of a 30M-order file).
    order = whole[C.CUSTOMER_ID].arg_sort()
    return pl.DataFrame([whole.drop_in_place(name).gather(order) for name in whole.columns])


def on_disk(report: IngestReport) -> bool:
    """Whether the rows were read in batches: they stay on disk (Parquet parts) and are not collected whole."""
    return bool(report.detected.get("read_in_batches"))


def read_once(tx: pl.LazyFrame, report: IngestReport) -> pl.LazyFrame:
    """``tx`` collected once for a command's many queries, or left as it is when the rows are on disk
    (:func:`on_disk`): queries over them then stream instead of holding every row."""
    return tx if on_disk(report) else tx.collect().lazy()


def streaming_when_on_disk(report: IngestReport) -> contextlib.AbstractContextManager[Any]:
    """Polars' streaming engine for every query while the rows are on disk (:func:`on_disk`): a query
    over them then holds a batch of rows at a time, not all of them; otherwise nothing changes."""
    import polars as pl

    return pl.Config(engine_affinity="streaming") if on_disk(report) else contextlib.nullcontext()


def finding_context(dataset: Dataset, settings: FindingSettings, report: IngestReport) -> FindingContext:
    """The key findings' context (report, deck): when the rows are on disk, its per-customer tables (the
    summary, the lifetime-value statistics, first-order profiles) are built slice by slice of customers
    (:func:`per_customer`), as the rfm, portfolio and clv commands build theirs."""
    from crm_core.findings import FindingContext

    if not on_disk(report):
        return FindingContext(dataset, settings)
    rows = report.rows_valid
    return FindingContext(dataset, settings, slicer=lambda tx, build: per_customer(tx, build, rows),
                          slices=customer_slices(rows))


def forecast_first(context: FindingContext, report: IngestReport) -> None:
    """With the rows on disk, the findings' lifetime-value fit is made before the customer summary: the fit's
    peak, the command's highest, then has the memory to itself instead of sharing it with 3M customers'
    summary. A fit that fails (ValueError) is left to fail again where a finding reads it."""
    if on_disk(report):
        with contextlib.suppress(ValueError):
            _ = context.forecast


#: The time limit of report, deck and drivers, in times a read's: they fit the lifetime-value model and build
#: a dozen findings after the read (a report on 2M orders: 5 s of reading, 60 s in all on a quiet machine).
ANALYSIS_TIME_SCALE = 8.0


#: Files up to this size run whole in the supervised child, under the reader's memory limit: a command
#: needs about ten times the CSV's size (260 MB for 28 MB, 1M orders, for ``clv``).
SUPERVISED_MAX_BYTES = 64 * 1024**2


def runs_supervised(path: object) -> bool:
    """Whether a command on ``path`` runs whole in the supervised child: files up to
    :data:`SUPERVISED_MAX_BYTES`, and files read in batches (over ``CRM_INGEST_BATCH_MB``), whose rows
    stay on disk and whose per-customer figures are built in slices (:func:`per_customer`). Files in
    between are read whole: there the read and the command's work would share the reader's memory
    limit, so the sandbox's worker reads them and the command runs unlimited, as before."""
    from crm_core.ingest.limits import file_bytes, large_for_batches

    size = file_bytes(path)
    return size <= SUPERVISED_MAX_BYTES or large_for_batches(size)


def run_supervised(command: Callable[[], int], args: argparse.Namespace, time_scale: float = 1.0) -> int:
    """``command`` with the CLI's error contract, in a forked child under the ingest limits (see
    :mod:`crm_core.ingest.supervisor`) when :func:`runs_supervised`: the file is read in that process (in
    batches when large), not read by a worker and handed over whole. The command module must not import
    Polars at import time. ``time_scale`` multiplies the time limit (a command that does much more than read)."""
    from crm_core.ingest.limits import file_bytes, large_for_batches
    from crm_core.ingest.supervisor import supervised

    path = getattr(args, "path", None)
    if not runs_supervised(path):
        from crm_core.ingest.supervisor import discard_early

        discard_early()  # a child forked as the program started (none for these commands yet) is not needed
        return run_reporting_errors(command, args)
    # Rows read in batches: tables of millions of customers built and dropped one after the other.
    return supervised(lambda: run_reporting_errors(command, args), path, time_scale,
                      hand_back_at_once=large_for_batches(file_bytes(path)))


def strict_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None: JSON has no such numbers, and strict parsers
    (jq, JavaScript, most databases) reject the ``NaN`` Python writes by default."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def read_facts(report: IngestReport) -> dict[str, Any]:
    """What the read kept, set aside and warned about, for every command's output (summary names the same keys):
    a figure computed on 70 % of the rows, or on amounts read one way of two, says so beside it."""
    return {
        "rows_read": report.rows_read,
        "rows_valid": report.rows_valid,
        "rows_rejected": report.rows_rejected,
        "rejected_by_reason": report.rejected_by_reason(),
        "warnings": list(report.warnings),
    }


def emit(payload: dict[str, Any], as_json: bool) -> None:
    """Print a result: JSON when asked (standard JSON: no NaN), else one 'key: value' line per key."""
    if as_json:
        print(json.dumps(strict_json(payload), default=str, ensure_ascii=False, allow_nan=False))
        return
    for key, value in payload.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for sub_key, sub_value in value.items():
                print(f"  {sub_key}: {sub_value}")
        else:
            print(f"{key}: {value}")


def run_reporting_errors(command: Callable[[], int], args: argparse.Namespace) -> int:
    """Run ``command`` with the CLI's error contract (as ``python -m crm_core`` does): one line, exit 2."""
    try:
        return command()
    except IngestError as error:
        return fail(str(error))
    except OSError as error:
        return fail(os_error_message(error, args))
    except MemoryError:
        return fail("The command ran out of memory. Use a smaller file (a shorter period) or a machine with more memory.")
    except Exception as error:  # noqa: BLE001 - the CLI contract: one line, never a traceback
        return fail(f"Unexpected error ({type(error).__name__}: {error}). Please report it with the command you ran.")


def fail(message: str) -> int:
    """Print a one-line error (at most 200 characters) for the user and return the exit code."""
    print(one_line(f"error: {message}"), file=sys.stderr)
    return 2


def output_paths(args: argparse.Namespace) -> dict[str, str]:
    """The files a command writes: ``--out``, ``--customers-out``, ... (flag -> path)."""
    return {
        "--" + name.replace("_", "-"): str(value)
        for name, value in vars(args).items()
        if (name == "out" or name.endswith("_out")) and isinstance(value, (str, os.PathLike))
    }


def unwritable_output(args: argparse.Namespace) -> str | None:
    """Why an output path cannot be written (checked before any work), or None."""
    paths = output_paths(args)
    if not paths:
        return None
    from pathlib import Path

    for flag, path in paths.items():
        target = Path(path)
        if target.is_dir():
            return f"{flag} {quoted(path)} is a folder; give a file name, e.g. {flag} {quoted(str(target / 'out'))}."
        folder = target.parent
        if target.exists() and not os.access(target, os.W_OK):
            return f"Cannot write {flag} {quoted(path)}: permission denied. Choose a file you can write to."
        if folder.is_dir() and not target.exists() and not os.access(folder, os.W_OK | os.X_OK):
            return f"Cannot write {flag} {quoted(path)}: the folder is not writable. Choose a folder you can write to."
    return None


def os_error_message(error: OSError, args: argparse.Namespace) -> str:
    """One line for a file-system error: disk full, unwritable output, missing file."""
    if is_disk_full(error):
        return disk_full("the output or temporary files")
    from pathlib import Path

    name = error.filename or ""
    for flag, path in output_paths(args).items():
        # the path itself, or a folder above it that could not be created
        if name == path or (name and Path(path).is_relative_to(name)) or (not name and path in str(error)):
            reason = error.strerror or str(error)
            return f"Cannot write {flag} {quoted(path)} ({reason}). Choose a path in a folder you can write to."
    reason = error.strerror or str(error)
    return f"A file could not be read or written ({quoted(name) + ': ' if name else ''}{quoted(reason, 80)})."
