"""Where the app's files live (no Streamlit, no other ui module: anything may import it)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_FOLDER = ROOT / "data" / "demo"


def workspace_root() -> Path:
    """Workspace folder: $CRM_WORKSPACE, else ./workspace (git-ignored)."""
    return Path(os.environ.get("CRM_WORKSPACE", ROOT / "workspace"))
