"""The CLI's process-wide settings: BLAS threads, the garbage collector, importlib.metadata loaded on first use."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOW_BLAS_THREADS = ("import crm_core.__main__, os; from crm_core.clv.fitting import _blas_controller; "
                     "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['MKL_NUM_THREADS'], _blas_controller() is None)")


def _blas_threads(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    done = subprocess.run([sys.executable, "-c", SHOW_BLAS_THREADS], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_cli_runs_blas_on_one_thread_before_numpy_starts_its_pool():
    # OpenBLAS reads the variable once, when numpy is first imported: the CLI sets it first, and the
    # fits then need no threadpoolctl controller to hold BLAS to one thread.
    assert _blas_threads(None) == "1 1 True"


def test_a_users_own_blas_setting_wins():
    assert _blas_threads("3") == "3 1 False"  # and the fits limit BLAS to one thread themselves


RUN_AS_PROGRAM_THEN_SHOW_GC = (
    "import gc, runpy, sys; sys.argv = ['crm_core', '--help']\n"
    "try:\n    runpy.run_module('crm_core', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    "print(gc.get_threshold())"
)


def test_the_cli_collects_garbage_less_often_than_pythons_default():
    shown = subprocess.run([sys.executable, "-c", RUN_AS_PROGRAM_THEN_SHOW_GC], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()[-1]
    assert shown == "(100000, 20, 10)"


def test_importing_the_cli_module_leaves_the_callers_collector_alone():
    shown = subprocess.run([sys.executable, "-c", "import gc, crm_core.__main__; print(gc.get_threshold())"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert shown == "(700, 10, 10)"


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


RUN_AS_PROGRAM_THEN_IMPORT_POLARS = (
    "import runpy, sys; sys.argv = ['crm_core', '--help']\n"
    "try:\n    runpy.run_module('crm_core', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    "import polars\n"
    "print('importlib.metadata' in sys.modules, 'email' in sys.modules, 'zipfile' in sys.modules)"
)


def test_the_cli_imports_polars_without_importlib_metadata():
    # Polars imports it (and email, zipfile, csv) as it loads; no command uses it.
    assert _run(RUN_AS_PROGRAM_THEN_IMPORT_POLARS).splitlines()[-1] == "True False False"


def test_importlib_metadata_still_works_when_first_used():
    shown = _run(
        "import sys, importlib\n"
        "from crm_core.deferred_import import defer_importlib_metadata\n"
        "print(defer_importlib_metadata())\n"
        "import polars, importlib.metadata\n"
        "stand_in = sys.modules['importlib.metadata']\n"
        "print('email' in sys.modules, importlib.metadata.version('polars') == polars.__version__)\n"
        "from importlib.metadata import PackageNotFoundError, version\n"
        "print(sys.modules['importlib.metadata'] is importlib.metadata, stand_in.version is version)\n"
        "print(defer_importlib_metadata())"
    )
    assert shown.splitlines() == ["True", "False True", "True True", "False"]


def test_importing_the_cli_module_leaves_importlib_metadata_alone():
    assert _run("import sys, crm_core.__main__; print(type(sys.modules.get('importlib.metadata')).__name__)") in (
        "module", "NoneType")
