"""The CLI's process-wide settings for the libraries it starts."""
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
