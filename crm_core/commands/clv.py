"""clv: fit the purchase model(s) and Gamma-Gamma (time in weeks); report parameters, CLV with
prediction intervals, the model choice and holdout checks; optionally one forecast row per customer."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import polars as pl

    from crm_core.customers import PreparedRuns

MODEL_CHOICES = ("auto", "bg-nbd", "pareto-nbd", "mbg-nbd")  # crm_core.clv.models.MODEL_CHOICES, kept here for a light import
FORECAST_ROWS_PER_WRITE = 500_000  # customers per slice of --customers-out


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 1997-09-30") from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from crm_core.commands.common import add_source_arguments

    add_source_arguments(parser)
    parser.add_argument("--calibration-end", type=_date, metavar="DATE",
                        help="fit on orders up to this day (YYYY-MM-DD) and check the forecast on the later "
                             "orders; default: fit on all data")
    parser.add_argument("--holdout-end", type=_date, metavar="DATE",
                        help="last day of the holdout after --calibration-end; the forecast horizon then runs to "
                             "this day (default: the last order date for the check, --horizon-weeks for the forecast)")
    parser.add_argument("--model", choices=MODEL_CHOICES, default="auto",
                        help="purchase model; auto (default) fits all three and uses the one that predicts "
                             "the holdout best")
    parser.add_argument("--interval", type=float, default=0.8, metavar="P",
                        help="probability held by each prediction interval, between 0 and 1 (default 0.8)")
    parser.add_argument("--horizon-weeks", type=float, metavar="N",
                        help="forecast horizon in weeks when no --holdout-end is given (default: the view's "
                             "horizon_months, else 12 months = 52.18 weeks)")
    parser.add_argument("--margin", type=float, metavar="M",
                        help="share of spend that is profit, 0-1 (default: the view's, else 1 = CLV in revenue terms)")
    parser.add_argument("--discount-rate", type=float, metavar="D",
                        help="annual discount rate, e.g. 0.1 for 10%% (default: the view's, else 0.1)")
    parser.add_argument("--customers-out", type=Path, metavar="FILE.csv",
                        help="write one forecast row per customer (CSV): customer_id, p_alive, expected_purchases, "
                             "purchases_low, purchases_high, predicted_value, value_low, value_high, next_order_date")


def _check(args: argparse.Namespace) -> str | None:
    """The first problem with the options, as a message, or None."""
    if args.horizon_weeks is not None and args.horizon_weeks <= 0:
        return "--horizon-weeks must be positive, e.g. 52"
    if args.margin is not None and not 0 < args.margin <= 1:
        return "--margin must be between 0 and 1, e.g. 0.3 for a 30% margin"
    if args.discount_rate is not None and args.discount_rate < 0:
        return "--discount-rate must be 0 or more, e.g. 0.1"
    if not 0 < args.interval < 1:
        return "--interval must lie between 0 and 1, e.g. 0.8 for 80% intervals"
    if args.holdout_end is not None and args.calibration_end is not None and args.holdout_end <= args.calibration_end:
        return "--holdout-end must be after --calibration-end"
    return None


def _open_output(path: Path):
    """The output file opened for writing, or a one-line reason it cannot be."""
    if path.is_dir():
        return None, f"cannot write --customers-out {path}: it is a folder; give a file name like customers.csv"
    try:
        return path.open("wb"), None
    except OSError as error:
        return None, f"cannot write --customers-out {path}: {error.strerror or error}; pick a writable path"


def run(args: argparse.Namespace) -> int:
    """Under the ingest limits, in a forked child (as ``summary``) for the files :func:`runs_supervised` picks:
    the file is read in-process there instead of in the sandbox's worker, a second interpreter that imports
    Polars again and hands every row back (a third of the command's CPU time on 1M orders)."""
    from crm_core.commands.common import fail, run_supervised

    problem = _check(args)
    if problem:
        return fail(problem)
    output = None
    if args.customers_out is not None:  # before the work: an unwritable path fails fast
        output, problem = _open_output(args.customers_out)
        if problem:
            return fail(problem)
    try:
        return run_supervised(lambda: _clv(args, output), args)
    finally:
        if output is not None:
            output.close()


def _clv(args: argparse.Namespace, output: BinaryIO | None) -> int:
    from crm_core.worker import keep_heap, worker

    if not _worker_pays(args.path):
        return _fit_and_report(args, output)
    # A file read whole in memory: numpy's arrays reuse the memory freed by the ones before them instead of
    # faulting fresh pages in (-2.5k page faults on 1M orders, a fifth of the fits' and scores' system time).
    keep_heap()
    with worker():  # a second process for the model fits, forked before Polars loads (see crm_core.worker)
        return _fit_and_report(args, output)


#: CPU pressure (Linux PSI: the share of the last 10 seconds in which some runnable task waited for a core), in
#: percent, from which `clv` starts no worker process; where the kernel does not report it, the 1-minute load
#: average per core below.
BUSY_CPU_PRESSURE = 50.0
BUSY_LOAD_PER_CORE = 2.0
CPU_PRESSURE_FILE = "/proc/pressure/cpu"


def _worker_pays(path: object) -> bool:
    """Whether to start the worker process: for a plain file read whole in memory (up to the supervised size),
    on a machine with time to spare on its cores.

    Larger or packed files mean more customers than the worker takes (crm_core.worker.MAX_ROWS), and its idle
    memory (~70 MB: numpy, the models and a warmed heap) would only add to a peak that has to stay under the
    limits. The worker costs a tenth of a second of CPU time (its imports and warm-up) to save a sixth of the
    wall time when a core is free for it; on a machine whose cores are all busy many times over it measured
    slower (1M orders at load 11-13: 1.02 s against 0.97 s without it). Either way the figures are the same."""
    from crm_core.commands.common import SUPERVISED_MAX_BYTES
    from crm_core.ingest.limits import file_bytes, is_packed

    return not _cores_busy() and file_bytes(path) <= SUPERVISED_MAX_BYTES and not is_packed(path)


def _cores_busy() -> bool:
    """Whether other processes keep every core busy now.

    CPU pressure over the last 10 seconds says so within seconds; the 1-minute load average (the fallback) still
    counts work that ended up to a few minutes before (measured: 8.4 on a machine idle for a minute), which
    turned the worker off for a command run right after a heavy one."""
    import os

    try:
        with open(CPU_PRESSURE_FILE, encoding="ascii") as pressure:
            some = pressure.readline().split()  # "some avg10=6.55 avg60=40.28 avg300=54.92 total=..."
        return float(some[1].removeprefix("avg10=")) >= BUSY_CPU_PRESSURE
    except (OSError, ValueError, IndexError):  # no PSI here (another system, an older kernel): the load average
        pass
    try:
        return os.getloadavg()[0] >= BUSY_LOAD_PER_CORE * (os.cpu_count() or 1)
    except OSError:  # no load average on this system
        return False


def _fit_and_report(args: argparse.Namespace, output: BinaryIO | None) -> int:
    from dataclasses import replace

    from crm_core.commands.common import (emit, fail, import_on_a_thread, load_view, on_disk, per_customer, read_facts,
                                          read_once)
    from crm_core.customers import data_as_of
    from crm_core.export import neutralize
    from crm_core.metrics import forecast_orders, predicted_total
    from crm_core.worker import release

    _freeze_what_is_loaded()
    try:
        # It shows no duplicate count. numpy, scipy's functions and the models load while the file is parsed.
        view, analysis, report = load_view(args, count_duplicates=False, meanwhile=import_on_a_thread("crm_core.clv"))
        # Every order of the view up to the period end (earlier ones too: the models need each customer's
        # history), as the Lifetime page and the report's predicted_value_total. Read once, reused below;
        # rows read in batches stay on disk, and per-customer figures are built slice by slice of customers.
        tx = read_once(forecast_orders(view.history, view.end), report)
        last = data_as_of(tx)
        calibration_end = args.calibration_end or last
        if args.holdout_end is not None and args.holdout_end <= calibration_end:
            return fail("--holdout-end must be after the calibration end (the last order date when "
                        "--calibration-end is not given)")
        holdout_end = args.holdout_end or (last if calibration_end < last else None)
        prepared = None if on_disk(report) else _group_while_models_load(tx, args.calibration_end or view.end or last,
                                                                            args.model, holdout_end)
        from crm_core.clv import WEEKS_PER_MONTH, customer_forecasts, fit_clv, validate_holdout
        settings = analysis.clv_settings(args.calibration_end or view.end)
        horizon = (args.holdout_end - calibration_end).days / 7.0 if args.holdout_end else args.horizon_weeks
        overrides = {"horizon_weeks": horizon, "margin": args.margin, "annual_discount_rate": args.discount_rate}
        settings = replace(settings, model=args.model, interval=args.interval,
                           **{key: value for key, value in overrides.items() if value is not None})
        try:
            result = fit_clv(tx, settings, holdout_end=holdout_end,
                             per_customer=lambda build: per_customer(tx, build, report.rows_valid), prepared=prepared)
            prepared = None
        except ValueError as error:
            return fail(str(error))
        if holdout_end is None:  # the worker's last call is answered (the holdout check below may make more)
            release()
        payload = result.to_dict()
        payload["predicted_value_total"] = predicted_total(result)
        payload["margin"] = settings.margin
        months = round(settings.horizon_weeks / WEEKS_PER_MONTH, 2)
        payload["horizon_months"] = int(months) if months.is_integer() else months
        payload["discount_rate"] = settings.annual_discount_rate
        payload.update(read_facts(report))
        if holdout_end is not None:
            payload["holdout"] = validate_holdout(tx, calibration_end, holdout_end, model=result.model.NAME,
                                                  level=args.interval).to_dict()
        if output is not None:
            # Written straight to the file, a slice of customers at a time: a CSV string of 3M customers, then
            # its bytes, would be two more copies, and their forecast table a third.
            for offset in range(0, max(result.customers.height, 1), FORECAST_ROWS_PER_WRITE):
                rows = customer_forecasts(result, offset, FORECAST_ROWS_PER_WRITE)
                neutralize(rows).write_csv(output, include_header=offset == 0)
    finally:
        if output is not None:
            output.flush()  # the supervised child ends with os._exit: nothing is flushed for it
    emit(payload, args.json)
    return 0


def _group_while_models_load(tx: pl.LazyFrame, as_of: dt.date, model: str,
                             holdout_end: dt.date | None) -> PreparedRuns | None:
    """The customer summary's group-by for :func:`~crm_core.clv.fit_clv` (its ``as_of``: the calibration end, else
    the view's end, else the last order), made before the command waits for the models' import.

    The import runs on a thread from the file's parse on (:func:`_fit_and_report`) and may not be done when the
    read is: the group-by, in Polars' threads without the interpreter lock, then runs beside its end instead of
    after it (:func:`crm_core.customers.prepare_purchase_runs`; handed to :func:`~crm_core.clv.fit_clv`, whose
    summary takes the same table it would have made). The kind of summary is the pipeline's: with the split of the
    model choice's held-back weeks for ``auto`` unless the holdout follows the calibration end. Should the pipeline
    ask otherwise (a history too short to hold weeks back) it groups its own; should this fail (None), the pipeline's
    own call reports it."""
    from crm_core.customers import prepare_purchase_runs

    with_split = model == "auto" and not (holdout_end is not None and holdout_end > as_of)
    try:
        return prepare_purchase_runs(tx, as_of, with_split)
    except Exception:  # noqa: BLE001 - made again, and reported, where the pipeline makes it
        return None


def _freeze_what_is_loaded() -> None:
    """In the supervised child (a process that ends when the command does), the objects made so far (Polars' and our
    modules: ~100,000) moved out of the garbage collector's generations (``gc.freeze``).

    The CLI collects every 100,000 allocations (crm_core.__main__), and the modules imported since the start fill
    most of that: the first collection came while the models were still loading on their thread after the read,
    and walked every object of Polars' import, 26-43 ms with the command waiting for that thread. Frozen objects are
    never walked again (nor freed: modules, classes and functions live as long as the process anyway); what the
    command makes afterwards is collected as before."""
    import gc
    import os

    from crm_core.ingest.supervisor import SUPERVISED_ENV

    if os.environ.get(SUPERVISED_ENV) == "1":
        gc.freeze()
