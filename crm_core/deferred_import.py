"""``importlib.metadata`` loaded when it is first used rather than when Polars is imported (the CLI only).

Polars imports ``importlib.metadata`` as it loads (``polars.io.iceberg``, to ask an optional plugin's version when
an Iceberg table is scanned), and with it ``email``, ``zipfile``, ``csv`` and their dependencies: about 50 modules,
15-20 ms of CPU time on this machine, a twentieth of a ``summary`` on 1M orders, on the path every command waits
for. No CLI command uses it. :func:`defer_importlib_metadata` puts a stand-in in ``sys.modules`` (and as
``importlib.metadata``) that imports the real module the first time any of its attributes is read, takes over
its namespace and steps aside, so code that uses it (``importlib.metadata.version(...)``, ``from importlib.metadata
import ...``) gets the real functions, only later. ``import importlib.metadata`` itself reads no attribute of it.

Only for the program (``python -m crm_core``), before anything has imported the module: a server or a test keeps
its imports as they are.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import sys
import threading
import types
from typing import Any

_NAME = "importlib.metadata"


class _OnFirstUse(types.ModuleType):
    """Stands for ``importlib.metadata`` until an attribute it does not have yet is read."""

    _lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # only called for attributes not found (none are, before loading)
        with self._lock:
            if sys.modules.get(_NAME) is self:
                del sys.modules[_NAME]
            real = importlib.import_module(_NAME)  # sets importlib.metadata to the real module, as any import does
            if self.__dict__.get("__file__") is None:
                vars(self).update(vars(real))  # a reference kept to this stand-in now reads the real namespace
        return getattr(real, name)


def defer_importlib_metadata() -> bool:
    """Put the stand-in in place; False when the module is already loaded or cannot be found."""
    if _NAME in sys.modules:
        return False
    spec = importlib.machinery.PathFinder.find_spec(_NAME, importlib.__path__)
    if spec is None:
        return False
    stand_in = _OnFirstUse(_NAME)
    stand_in.__spec__ = spec  # not marked initialising: `import importlib.metadata` takes it as loaded
    stand_in.__file__ = None
    sys.modules[_NAME] = stand_in
    importlib.metadata = stand_in  # type: ignore[attr-defined]  # what `import importlib.metadata` binds
    return True
