"""crm_core.clv.special: scipy.special's ufuncs loaded without the package __init__, values unchanged."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHECK = """
import sys
import numpy as np
import crm_core.clv.special as light
assert "scipy.special" not in sys.modules, "the light path imported scipy.special's package"
import scipy.special as sp  # the real package afterwards: imports normally, reuses the compiled ufuncs
assert sp.gammaln is light.gammaln
x = np.array([1e-3, 0.1, 0.5, 1.0, 2.5, 25.5, 1e3, 1e6])
z = x / (x + 1.0)
pairs = [
    (light.gammaln(x), sp.gammaln(x)), (light.digamma(x), sp.digamma(x)),
    (light.trigamma(x), sp.polygamma(1, x)), (light.trigamma(2.5), sp.polygamma(1, 2.5)),
    (light.hyp2f1(0.3, 1.2, 2.5, z), sp.hyp2f1(0.3, 1.2, 2.5, z)), (light.betainc(2.0, 3.0, z), sp.betainc(2.0, 3.0, z)),
    (light.ndtri(z), sp.ndtri(z)),
]
assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)
print("ok")
"""


def test_light_special_functions_equal_scipy_bit_for_bit():
    done = subprocess.run([sys.executable, "-c", _CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_in_a_process_with_scipy_special_imported_the_plain_functions_are_used():
    import scipy.special as sp

    from crm_core.clv import special

    assert special.gammaln is sp.gammaln and special.ndtri is sp.ndtri
    assert special.trigamma(2.0) == sp.polygamma(1, 2.0)


_THREADS = """
import importlib.abc, importlib.machinery, sys, threading, time
import numpy as np

if AS_CLI:  # the program is `python -m crm_core`, as for the CLI
    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("crm_core.__main__", None)

entered, seen = threading.Event(), {}

class PauseInsideTheWindow(importlib.abc.MetaPathFinder):
    # Called while the placeholder stands in for scipy.special: hold the window open for the other thread.
    def find_spec(self, name, path=None, target=None):
        if name == "scipy.special._ufuncs" and not entered.is_set():
            module = sys.modules.get("scipy.special")
            seen["placeholder"] = module is not None and not hasattr(module, "__file__")
            entered.set()
            time.sleep(0.3)
        return None

def other_thread():
    entered.wait()
    import scipy.special
    seen["module"] = scipy.special

def load_light():
    import crm_core.clv.special as light
    seen["light"] = light

sys.meta_path.insert(0, PauseInsideTheWindow())
other = threading.Thread(target=other_thread)
other.start()
loader = threading.Thread(target=load_light)  # not the main thread, with another thread running
loader.start()
loader.join()
other.join()
real = seen["module"]
assert seen["placeholder"], "the light path was not taken"
assert hasattr(real, "gammaln") and getattr(real, "__file__", None), "the other thread got the placeholder"
assert sys.modules["scipy.special"] is real and seen["light"].gammaln is real.gammaln
print("ok")
"""


def test_the_light_path_on_a_thread_makes_other_threads_wait_for_the_real_package():
    """The CLI loads the models on a thread while it reads: the placeholder is never seen by another thread."""
    done = subprocess.run([sys.executable, "-c", "AS_CLI = True" + _THREADS], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_another_program_with_threads_imports_the_plain_package():
    """A server's threads may look scipy.special up in sys.modules: outside the CLI no placeholder is ever put there."""
    done = subprocess.run([sys.executable, "-c", "AS_CLI = False" + _THREADS], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert "the light path was not taken" in done.stderr, done.stderr[-2000:]
