"""What a page's first visit waits for on a fresh server: no page imports scikit-learn.

scikit-learn (with SciPy's stats and pandas) takes seconds to import on a busy machine, under the
module lock every other importer of it waits on: when the Segments page imported it, 30 sessions
opening the page on a fresh server all waited for that one import (the load bench's slowest page).
Only the functions that fit or describe clusters import it (:mod:`crm_core.clusters`).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

#: Run in a fresh interpreter: the imports at the top of app.py and of every page, then the heavy
#: modules found loaded.
_PROBE = textwrap.dedent("""
    import ast, sys
    from pathlib import Path
    root = Path(sys.argv[1])
    for path in [root / "app.py", *sorted((root / "app_pages").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(body=imports, type_ignores=[]), str(path), "exec"), {})
    print(" ".join(name for name in ("sklearn", "pandas", "scipy.stats") if name in sys.modules))
""")


def _heavy_modules_loaded(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_no_page_imports_scikit_learn_or_pandas():
    assert _heavy_modules_loaded(_PROBE) == set()


def test_the_probe_sees_scikit_learn_when_a_page_imports_it():
    """The check above can fail: the same probe after an import of scikit-learn reports it."""
    assert "sklearn" in _heavy_modules_loaded("import sklearn.cluster\n" + _PROBE)

