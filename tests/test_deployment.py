"""Team-server packaging: what can be checked without a Docker engine.

No Docker engine runs here, so the image is never built in tests. Instead:
the compose file and Dockerfile are parsed and checked (health check, volume,
config through the environment, secrets), ``docker-compose config`` validates
the compose file where that tool exists (it needs no engine), the production
Streamlit config is checked against the development one, and the server is
started the way the image starts it (production config, image environment)
to see it answer its health check and refuse to run open.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from st_client import connect, run_script, streamlit_server

ROOT = Path(__file__).resolve().parent.parent
HEALTH = "/_stcore/health"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_compose_has_health_check_volume_and_env_config():
    service = _compose()["services"]["crm"]
    assert HEALTH in " ".join(service["healthcheck"]["test"])
    environment = service["environment"]
    workspace = environment["CRM_WORKSPACE"]
    assert any(volume.split(":")[1] == workspace for volume in service["volumes"]), "the workspace must be a volume"
    assert "workspace" in _compose()["volumes"]
    assert environment["CRM_REQUIRE_SIGN_IN"].endswith(":-1}"), "a team server requires sign-in by default"
    assert environment["STREAMLIT_SECRETS_FILES"] == "/run/secrets/streamlit_secrets"
    assert service["secrets"] == ["streamlit_secrets"]
    assert service["ports"] == ["${CRM_PORT:-8501}:8501"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (validation needs no engine)")
def test_docker_compose_config_validates(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("")
    result = subprocess.run(["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CRM_SECRETS_FILE": str(secrets)},
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_dockerfile_matches_compose_and_production_config():
    dockerfile = _dockerfile()
    assert re.search(r"HEALTHCHECK .*\n?.*127\.0\.0\.1:8501" + re.escape(HEALTH), dockerfile)
    assert 'VOLUME ["/data/workspace"]' in dockerfile and "CRM_WORKSPACE=/data/workspace" in dockerfile
    assert "COPY .streamlit/config.prod.toml .streamlit/config.toml" in dockerfile
    assert re.search(r"^USER crm$", dockerfile, re.MULTILINE), "the server must not run as root"
    assert 'CMD ["python", "-m", "streamlit", "run", "app.py"]' in dockerfile
    assert _compose()["services"]["crm"]["environment"]["CRM_WORKSPACE"] == "/data/workspace"


def test_image_installs_runtime_requirements_only():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    runtime = lines[: next(i for i, line in enumerate(lines) if line.startswith("# Tests"))]  # what the sed keeps
    names = {re.split(r"[<>=\[ ]", line)[0].lower() for line in runtime if line and not line.startswith("#")}
    assert {"streamlit", "polars", "sqlalchemy", "psycopg", "authlib"} <= names
    assert not names & {"pytest", "playwright", "hypothesis", "pyyaml"}
    assert "sed '/^# Tests/,$d' requirements.txt" in _dockerfile()


def test_dockerignore_keeps_secrets_and_local_data_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".streamlit/secrets.toml", ".venv", "workspace", ".git", ".env"} <= ignored


def test_production_config_hides_errors_and_keeps_the_theme():
    production = tomllib.loads((ROOT / ".streamlit" / "config.prod.toml").read_text())
    development = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert production["client"]["showErrorDetails"] == "none"  # "false" would still show the trace
    assert production["client"]["toolbarMode"] == "viewer"
    assert production["server"]["fileWatcherType"] == "none" and production["server"]["runOnSave"] is False
    assert production["server"]["maxCacheDataSize"]
    assert production["server"]["enableXsrfProtection"] is True
    assert production["theme"] == development["theme"]
    assert production["server"]["maxUploadSize"] == development["server"]["maxUploadSize"]


def test_every_environment_variable_is_documented():
    code = "\n".join(path.read_text() for folder in ("crm_core", "ui", "pages") for path in (ROOT / folder).rglob("*.py"))
    code += (ROOT / "app.py").read_text() + (ROOT / "compose.yaml").read_text() + _dockerfile()
    used = set(re.findall(r"\b(CRM_[A-Z_]+|STREAMLIT_[A-Z_]+)\b", code))
    documented = (ROOT / "docs" / "deployment.md").read_text()
    missing = sorted(name for name in used if name not in documented)
    assert not missing, f"document these in docs/deployment.md: {missing}"


def test_server_started_like_the_image_is_healthy_and_refuses_to_run_open(tmp_path):
    """Production config (as the image installs it) plus the image's environment, no [auth] secrets."""
    cwd = tmp_path / "cwd"
    (cwd / ".streamlit").mkdir(parents=True)
    shutil.copy(ROOT / ".streamlit" / "config.prod.toml", cwd / ".streamlit" / "config.toml")
    env = {"CRM_REQUIRE_SIGN_IN": "1", "CRM_LOG_FORMAT": "json", "HOME": str(tmp_path)}  # no ~/.streamlit secrets

    async def first_run(port: int):
        async with connect(port) as ws:
            return await run_script(ws)

    with streamlit_server(tmp_path, env, cwd=cwd) as (port, _):
        run = asyncio.run(first_run(port))
    assert not run.problems
    assert any("CRM_REQUIRE_SIGN_IN" in alert for alert in run.alerts)
