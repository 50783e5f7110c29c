"""crm_core.worker: calls answered by a forked process without Polars, the same results, a fallback here.

The worker is only started by a process that has not loaded Polars (a forked copy of Polars' threads
is unsafe), so these tests run small programs in fresh interpreters, as the CLI does.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import DATA

from crm_core import worker
from crm_core.clv import CLVSettings, fit_clv
from crm_core.clv.fitting import compress_rows
from crm_core.clv.models import start_fits

ROOT = Path(__file__).resolve().parents[1]


def _run(program: str) -> dict:
    """Run ``program`` in a fresh interpreter from the repository; its last stdout line, as JSON."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(program)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_worker_answers_in_its_own_process_without_polars():
    result = _run("""
        import json, os, sys
        from crm_core import worker

        def where():
            return os.getpid(), "polars" in sys.modules, "crm_core.clv.models" in sys.modules

        with worker.worker():
            first, second = worker.submit(where), worker.submit(pow, 2, 10)  # the second while the first is busy
            pid, polars, models = first.result()
            print(json.dumps({"other_process": pid != os.getpid(), "polars": polars, "models": models,
                              "second": second.result(), "available": worker.available()}))
    """)
    assert result == {"other_process": True, "polars": False, "models": True, "second": 1024, "available": True}


def test_the_worker_is_waited_for_when_the_command_ends():
    # So the command's own rusage (what /usr/bin/time reports) includes the worker's time and memory.
    result = _run("""
        import json, os
        from crm_core import worker

        with worker.worker():
            pid = worker.submit(os.getpid).result()
        try:
            os.waitpid(pid, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            reaped = True
        print(json.dumps({"reaped": reaped}))
    """)
    assert result == {"reaped": True}


def test_a_pareto_fit_in_the_worker_equals_the_fit_here():
    result = _run("""
        import json, os
        import numpy as np
        from crm_core import worker
        worker._load_without_package_init()  # the model modules without Polars, as in the CLI: the worker can fork
        from crm_core.clv.fitting import compress_rows
        from crm_core.clv.pareto_nbd import ParetoNBDModel

        x, recency, age = worker.warm_up_histories(customers=2000, seed=0)
        coded = compress_rows(x, recency, age, inverse=False)
        with worker.worker():
            elsewhere = worker.submit(os.getpid).result() != os.getpid()
            there = worker.submit(ParetoNBDModel().fit_compressed, coded, None).result()
        here = ParetoNBDModel().fit_compressed(coded)
        print(json.dumps({"there": there.params_, "here": here.params_, "ll": [there.log_likelihood_, here.log_likelihood_],
                          "converged": there.converged_, "elsewhere": elsewhere}))
    """)
    assert result["elsewhere"]  # fitted in the worker process, not here: otherwise this compares a fit with itself
    assert result["there"] == result["here"]  # bit for bit
    assert result["ll"][0] == result["ll"][1]
    assert result["converged"]


def test_a_released_worker_ends_before_the_command_and_later_calls_run_here():
    # The CLI releases the worker once its last call is answered: it exits while the command writes its output.
    result = _run("""
        import json, os, time
        from crm_core import worker

        with worker.worker():
            pid = worker.submit(os.getpid).result()
            worker.release()
            deadline, ended = time.monotonic() + 30, False
            while not ended and time.monotonic() < deadline:
                ended = os.waitpid(pid, os.WNOHANG)[0] == pid
                time.sleep(0.01)
            later = worker.submit(os.getpid)
            print(json.dumps({"ended": ended, "available": worker.available(), "later_here": later.result() == os.getpid(),
                              "later_thread": type(later).__module__.startswith("concurrent")}))
    """)
    assert result == {"ended": True, "available": False, "later_here": True, "later_thread": True}


def test_the_worker_module_loads_light():
    # Imported before the worker is forked, on the CLI's critical path (Polars loads after the fork): pickle and
    # concurrent.futures (with logging), ~15 ms, load where they are used.
    result = _run("""
        import json, sys
        import crm_core.worker
        print(json.dumps(sorted(name for name in ("pickle", "concurrent.futures", "logging", "crm_core.parallel")
                                if name in sys.modules)))
    """)
    assert result == []


def test_a_chained_call_gets_the_result_of_the_call_before_it_in_the_worker():
    result = _run("""
        import json, operator, os
        from crm_core import worker

        with worker.worker():
            first, then = worker.submit_chain(os.getpid, (), operator.ne, (os.getpid(),))
            print(json.dumps({"first_elsewhere": first.result() != os.getpid(), "then_got_it": then.result()}))
    """)
    assert result == {"first_elsewhere": True, "then_got_it": True}


def test_compressed_histories_are_sent_once_and_named_by_a_key_after():
    # The fits and the intervals take the same compressed histories (a megabyte at 1M orders): the worker keeps
    # the copy sent first, and later messages name it; the worker's answers are those computed here.
    result = _run("""
        import json, sys
        import numpy as np
        from crm_core import worker
        worker._load_without_package_init()  # the model modules without Polars, as in the worker: it can fork
        from crm_core.clv.fitting import compress_rows
        from crm_core.clv.bg_nbd import BetaGeoModel

        x, t_x, age = worker.warm_up_histories(2000, seed=3)
        coded = compress_rows(x, t_x, age)
        sizes, original = [], worker._Worker._message

        def message(self, *args):
            sent = original(self, *args)
            sizes.append(len(sent))
            return sent

        worker._Worker._message = message
        with worker.worker():
            first = worker.submit(BetaGeoModel().fit_compressed, coded, None).result()
            second = worker.submit(BetaGeoModel().fit_compressed, coded, first.params_).result()
            counts = worker.submit(np.sum, coded.counts).result()
        here = BetaGeoModel().fit_compressed(coded, first.params_)
        print(json.dumps({"sent": len(sizes), "second_small": sizes[1] < sizes[0] / 10, "polars": "polars" in sys.modules,
                          "same": second.params_ == here.params_, "counts": float(counts)}))
    """)
    assert result == {"sent": 3, "second_small": True, "polars": False, "same": True, "counts": 2000.0}


def test_calls_queued_back_to_back_reach_the_worker_in_the_order_sent():
    # Messages are written by threads; here the first call's writer is slow to start, and the second's must wait.
    result = _run("""
        import json, operator, time
        from crm_core import worker

        original, slow = worker._Worker._write, [True]

        def write(self, message, *rest):
            if slow:
                slow.pop()
                time.sleep(0.2)
            return original(self, message, *rest)

        worker._Worker._write = write
        with worker.worker():
            first, then = worker.submit_chain(len, (b"x" * 300_000,), operator.sub, (300_000,))
            print(json.dumps([first.result(), then.result()]))
    """)
    assert result == [300_000, 0]


def test_a_chain_whose_first_call_fails_in_the_worker_is_made_here(tmp_path):
    # The module's folder joins the path after the fork: the worker cannot import it, so both calls are made here.
    (tmp_path / "only_here.py").write_text("VALUE = 'here'\n")
    result = _run(f"""
        import importlib, json, sys
        from crm_core import worker

        with worker.worker():
            sys.path.insert(0, {str(tmp_path)!r})
            first, then = worker.submit_chain(importlib.import_module, ("only_here",), getattr, ("VALUE",))
            print(json.dumps([first.result().__name__, then.result()]))
    """)
    assert result == ["only_here", "here"]


def test_an_idle_worker_fits_bgnbd_and_then_pareto_nbd_from_it():
    result = _run("""
        import json
        from crm_core import worker

        with worker.worker():  # before Polars (crm_core.clv's __init__) is loaded
            from crm_core.clv.fitting import compress_rows
            from crm_core.clv.models import start_fits

            x, recency, age = worker.warm_up_histories(customers=2000, seed=1)
            coded = compress_rows(x, recency, age, inverse=False)
            pending = start_fits(["bg-nbd", "pareto-nbd", "mbg-nbd"], coded, rest_later=True)
            elsewhere = worker.available() and "bg-nbd" not in pending.done
            there = {name: model.params_ for name, model in pending.result().items()}
        here = {name: model.params_ for name, model in start_fits(["bg-nbd", "pareto-nbd", "mbg-nbd"], coded).result().items()}
        print(json.dumps({"elsewhere": elsewhere, "same": there == here, "order": list(there)}))
    """)
    assert result == {"elsewhere": True, "same": True, "order": ["bg-nbd", "pareto-nbd", "mbg-nbd"]}


def test_what_cannot_be_sent_is_computed_here():
    result = _run("""
        import json, os
        from crm_core import worker

        with worker.worker():
            answer = worker.submit(lambda: os.getpid()).result()  # a lambda cannot be pickled
            print(json.dumps({"here": answer == os.getpid()}))
    """)
    assert result == {"here": True}


def test_a_dead_worker_leaves_the_call_to_this_process():
    result = _run("""
        import json, os, signal
        from crm_core import worker

        with worker.worker():
            os.kill(worker._worker.pid, signal.SIGKILL)
            answer = worker.submit(pow, 3, 4).result()
            print(json.dumps({"answer": answer}))
    """)
    assert result == {"answer": 81}


@pytest.mark.parametrize("calibration_end", [None, "1997-09-30"])  # refits before a split in the data / the later orders
def test_fit_clv_with_the_worker_gives_the_figures_without_it(calibration_end):
    """The whole pipeline with the worker (Pareto/NBD and Gamma-Gamma fits, the refits beside them, the intervals)
    against the same pipeline in this process, without one: the same figures, to the last digit printed."""
    program = """
        import datetime as dt, json, sys
        from crm_core import worker

        with worker.worker():
            import polars as pl
            from crm_core.clv import CLVSettings, fit_clv

            tx = (pl.scan_csv(sys.argv[1], schema_overrides={"customer_id": pl.String})
                  .with_columns(pl.col("order_date").str.to_date()).collect().lazy())
            end = dt.date.fromisoformat(sys.argv[2]) if sys.argv[2] else None
            result = fit_clv(tx, CLVSettings(calibration_end=end))
            print(json.dumps({"available": worker.available(), "result": result.to_dict()}, default=str))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(program), str(DATA / "cdnow_sample.csv"),
                           calibration_end or ""], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, check=True)
    there = json.loads(done.stdout.strip().splitlines()[-1])
    tx = (pl.scan_csv(DATA / "cdnow_sample.csv", schema_overrides={"customer_id": pl.String})
          .with_columns(pl.col("order_date").str.to_date()).collect().lazy())
    here = fit_clv(tx, CLVSettings(calibration_end=dt.date.fromisoformat(calibration_end) if calibration_end else None))
    assert there["available"]
    assert there["result"] == json.loads(json.dumps(here.to_dict(), default=str))


def test_no_worker_once_polars_is_loaded():
    # This test process has loaded Polars (its threads would be lost in a fork): calls go to the thread pool.
    with worker.worker():
        assert not worker.available()
        assert worker.submit(pow, 2, 5).result() == 32


@pytest.mark.parametrize("rest_later", [False, True])
def test_start_fits_gives_what_fit_models_gave(rest_later):
    rng = np.random.default_rng(5)
    age = np.round(rng.uniform(20, 90, 3000) * 7) / 7
    x = rng.poisson(age / 20).astype(float)
    recency = np.where(x > 0, np.round(age * rng.uniform(0.2, 1, 3000) * 7) / 7, 0.0)
    coded = compress_rows(x, recency, age, inverse=False)
    pending = start_fits(["bg-nbd", "pareto-nbd", "mbg-nbd"], coded, rest_later=rest_later)
    assert set(pending.done) == ({"bg-nbd"} if rest_later else {"bg-nbd", "mbg-nbd"})
    fitted = pending.result()
    assert list(fitted) == ["bg-nbd", "pareto-nbd", "mbg-nbd"]
    alone = {name: model.params_ for name, model in start_fits(["bg-nbd", "pareto-nbd", "mbg-nbd"], coded).result().items()}
    assert {name: model.params_ for name, model in fitted.items()} == alone


@pytest.mark.parametrize(("pressure", "load", "busy"), [
    ("some avg10=80.00 avg60=40.00 avg300=10.00 total=1\n", 0.1, True),   # cores busy now, whatever the load average
    ("some avg10=6.55 avg60=40.28 avg300=54.92 total=1\n", 50.0, False),  # a load average left by work that ended
    (None, 50.0, True),                                                    # no PSI: the load average decides
    (None, 0.5, False),
])
def test_clv_starts_its_worker_unless_the_cores_are_busy_now(tmp_path, monkeypatch, pressure, load, busy):
    from crm_core.commands import clv

    path = tmp_path / "cpu"
    if pressure is not None:
        path.write_text(pressure + "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    monkeypatch.setattr(clv, "CPU_PRESSURE_FILE", str(path))
    monkeypatch.setattr("os.getloadavg", lambda: (load, load, load))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert clv._cores_busy() is busy


@pytest.mark.parametrize("pays", [True, False])
def test_clv_keeps_its_heap_only_with_a_worker(monkeypatch, pays):
    # glibc's malloc settings for reuse (fewer page faults) only for the small files a worker is started for.
    from crm_core.commands import clv

    kept = []
    monkeypatch.setattr(clv, "_worker_pays", lambda path: pays)
    monkeypatch.setattr(clv, "_fit_and_report", lambda args, output: 0)
    monkeypatch.setattr(worker, "keep_heap", lambda: kept.append(True))
    assert clv._clv(type("Args", (), {"path": "orders.csv"})(), None) == 0
    assert kept == ([True] if pays else [])


@pytest.mark.parametrize("supervised", [True, False])
def test_clv_freezes_what_is_loaded_only_in_the_supervised_child(monkeypatch, supervised):
    # The CLI's first garbage collection walked every object of the imports (26-43 ms on the models' thread); a
    # process that goes on after the command (a test, a notebook) keeps its collector as it is.
    import gc

    from crm_core.commands import clv
    from crm_core.ingest.supervisor import SUPERVISED_ENV

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    if supervised:
        monkeypatch.setenv(SUPERVISED_ENV, "1")
    else:
        monkeypatch.delenv(SUPERVISED_ENV, raising=False)
    clv._freeze_what_is_loaded()
    assert frozen == ([True] if supervised else [])


def test_numpy_work_is_not_split_over_threads_beside_the_worker():
    # Two processes computing side by side already keep the two cores busy: no more threads in either.
    result = _run("""
        import json
        from crm_core import worker

        before = worker.shares_cores()
        with worker.worker():
            here, there = worker.shares_cores(), worker.submit(worker.shares_cores).result()
            worker.release()
            released = worker.shares_cores()
        print(json.dumps([before, here, there, released]))
    """)
    assert result == [False, True, True, False]
