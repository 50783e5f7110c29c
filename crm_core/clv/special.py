"""The special functions the CLV models use: scipy.special's compiled ufuncs, loaded cheaply.

``import scipy.special`` costs about a fifth of a second (more than Polars' whole import is
worth to the CLI): its package ``__init__`` wraps every function for the array API and, to do
so, clones numpy's namespace, importing numpy.f2py, numpy.polynomial and more. The compiled
ufuncs alone (``scipy.special._ufuncs``) load in a fiftieth of that. So, in a single-threaded
process that has not imported scipy.special yet (the CLI), this module loads ``_ufuncs`` under
a placeholder package that is removed again at once: a later ``import scipy.special`` runs its
``__init__`` as usual and reuses the same compiled module. The functions are the very objects
scipy.special exports (without ``SCIPY_ARRAY_API``), so every value is bit-for-bit the same.
While the placeholder is there, this thread holds Python's own import lock for ``scipy.special``
and the placeholder is marked as still initialising, as the import system marks a module it is
loading: another thread importing scipy.special meanwhile waits, then loads the real package. That
is how the CLI loads the models on a thread while its main thread reads the file. Any other process
with more than one thread (a server, whose libraries may look scipy.special up in ``sys.modules``
without importing it), another scipy layout, or the array API switched on, uses the plain
``from scipy.special import ...``.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any


def _light_ufuncs() -> Any | None:
    """``scipy.special._ufuncs`` without the package ``__init__``, or None when that is not safe here."""
    if "scipy.special" in sys.modules or os.environ.get("SCIPY_ARRAY_API"):
        return None
    try:
        spec = importlib.util.find_spec("scipy.special")
        if spec is None or not spec.submodule_search_locations:
            return None
        with _import_lock("scipy.special") as held:
            if threading.active_count() > 1 and not (held and _in_the_cli()):
                return None
            if "scipy.special" in sys.modules:  # imported by another thread meanwhile
                return None
            return _ufuncs_under_placeholder(spec)
    except Exception:  # noqa: BLE001 - any surprise: the ordinary import below
        return None


def _in_the_cli() -> bool:
    """Whether this process is the CLI (``python -m crm_core``): its other threads are its own (Polars', the pool's
    loading the models), which only ever reach scipy.special through an import, never by reading ``sys.modules``.
    A server's threads run libraries that may look it up there (and would find the bare placeholder)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == "crm_core.__main__"


def _ufuncs_under_placeholder(spec: importlib.machinery.ModuleSpec) -> Any:
    placeholder = types.ModuleType("scipy.special")
    placeholder.__path__ = list(spec.submodule_search_locations or [])
    placeholder.__spec__ = spec
    spec._initializing = True  # type: ignore[attr-defined]  # others' imports wait on the lock (see above)
    sys.modules["scipy.special"] = placeholder
    try:
        from scipy.special import _ufuncs
    finally:
        del sys.modules["scipy.special"]  # scipy.special._ufuncs stays: the real package reuses it
    return _ufuncs


@contextlib.contextmanager
def _import_lock(name: str) -> Iterator[bool]:
    """Python's per-module import lock for ``name``, held (True) when this Python has one to take."""
    manager = getattr(getattr(importlib, "_bootstrap", None), "_ModuleLockManager", None)
    if manager is None:
        yield False
        return
    with manager(name):
        yield True


def _functions() -> dict[str, Any]:
    """The functions by name: the compiled ufuncs themselves, else scipy.special's exports of them."""
    ufuncs = _light_ufuncs()
    names = {"gammaln": "gammaln", "digamma": "psi", "hyp2f1": "hyp2f1", "betainc": "betainc", "ndtri": "ndtri",
             "hurwitz_zeta": "_zeta"}
    if ufuncs is not None and all(hasattr(ufuncs, name) for name in names.values()):
        return {ours: getattr(ufuncs, theirs) for ours, theirs in names.items()}
    import scipy.special

    return {"gammaln": scipy.special.gammaln, "digamma": scipy.special.digamma, "hyp2f1": scipy.special.hyp2f1,
            "betainc": scipy.special.betainc, "ndtri": scipy.special.ndtri, "hurwitz_zeta": scipy.special.zeta}


_FUNCTIONS = _functions()
gammaln: Any = _FUNCTIONS["gammaln"]
digamma: Any = _FUNCTIONS["digamma"]
hyp2f1: Any = _FUNCTIONS["hyp2f1"]
betainc: Any = _FUNCTIONS["betainc"]
ndtri: Any = _FUNCTIONS["ndtri"]
_hurwitz_zeta: Any = _FUNCTIONS["hurwitz_zeta"]


def trigamma(x: Any) -> Any:
    """``scipy.special.polygamma(1, x)``, computed as scipy does: the Hurwitz zeta function ``zeta(2, x)``
    (polygamma multiplies it by (-1)**2 * gamma(2) = 1.0, so the values are the same bit for bit)."""
    return _hurwitz_zeta(2.0, x)


__all__ = ["betainc", "digamma", "gammaln", "hyp2f1", "ndtri", "trigamma"]
