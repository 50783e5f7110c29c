"""The CLI's process-wide settings for the libraries it starts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOW_BLAS_THREADS = "import crm_core.__main__, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


def _blas_threads(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    done = subprocess.run([sys.executable, "-c", SHOW_BLAS_THREADS], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_cli_runs_blas_on_one_thread_before_numpy_starts_its_pool():
    # OpenBLAS reads the variable once, when numpy is first imported: the CLI sets it first.
    assert _blas_threads(None) == "1"


def test_a_users_own_blas_setting_wins():
    assert _blas_threads("3") == "3"
