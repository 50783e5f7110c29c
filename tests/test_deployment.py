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
import os
import re
import shutil
import subprocess
import sys
import time
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
    assert service["ports"] == ["${CRM_BIND:-0.0.0.0}:${CRM_PORT:-8501}:8501"]


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
    assert {"streamlit", "polars", "ibis-framework", "psycopg", "authlib"} <= names
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


# --- server defaults and the reverse proxy of docs/deployment.md ------------------------------


def nginx_config() -> str:
    """The nginx configuration block of docs/deployment.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", (ROOT / "docs" / "deployment.md").read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/deployment.md should hold one nginx block"
    return blocks[0]


def nginx_headers() -> dict[str, str]:
    """Header name -> value of its ``add_header ... always;`` lines."""
    return dict(re.findall(r'^\s*add_header\s+(\S+)\s+"([^"]*)"\s+always;', nginx_config(), re.MULTILINE))


def csp_directives(policy: str) -> dict[str, list[str]]:
    return {parts[0]: parts[1:] for parts in (d.split() for d in policy.split(";") if d.strip())}


def test_the_documented_proxy_adds_the_security_headers():
    headers = nginx_headers()
    assert headers["X-Frame-Options"] == "DENY"
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains", headers["Strict-Transport-Security"])
    assert int(re.search(r"max-age=(\d+)", headers["Strict-Transport-Security"])[1]) >= 15_552_000  # 180 days at least
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    # What Streamlit needs: its websocket, inline styles (emotion, Plotly, st.html CSS), data: images.
    assert "'unsafe-inline'" in csp["style-src"] and "data:" in csp["img-src"]
    assert any(source.startswith("wss://") for source in csp["connect-src"]) and "'self'" in csp["connect-src"]
    assert "'unsafe-inline'" not in csp["script-src"]  # no inline scripts: the policy still stops injected ones


def test_the_policy_allows_exactly_the_inline_scripts_of_the_installed_streamlit():
    import base64
    import hashlib

    import streamlit

    index = (Path(streamlit.__file__).parent / "static" / "index.html").read_text()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", index, re.DOTALL)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'" for body in inline}
    allowed = {source for source in csp_directives(nginx_headers()["Content-Security-Policy"])["script-src"]
               if source.startswith("'sha256-")}
    assert allowed == hashes, f"Streamlit's inline scripts changed: use {sorted(hashes)} in docs/deployment.md"


def test_the_documented_proxy_passes_websockets_and_uploads():
    config = nginx_config()
    assert "proxy_set_header Upgrade $http_upgrade;" in config and "proxy_set_header Connection $connection_upgrade;" in config
    assert "proxy_pass http://127.0.0.1:8501;" in config
    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.prod.toml").read_text())["server"]["maxUploadSize"]
    assert f"client_max_body_size {upload_mb}m;" in config
    assert "return 301 https://" in config  # plain HTTP only redirects


def test_single_user_runs_listen_on_loopback_with_xsrf_on():
    development = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert development["server"]["address"] == "127.0.0.1"
    assert development["server"]["enableXsrfProtection"] is True
    run = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True).stdout
    command = next(line for line in run.splitlines() if "streamlit run app.py" in line)
    assert "--server.address 127.0.0.1" in command
    assert "STREAMLIT_SERVER_ADDRESS=0.0.0.0" in _dockerfile()  # the container's port must be reachable (sign-in required)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp*, Linux)."""
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_a_plain_streamlit_run_listens_on_loopback_only(tmp_path):
    """No address flag (the helper's --server.address is left out): the development config decides."""
    from st_client import free_port

    port = free_port()
    env = {**os.environ, "CRM_WORKSPACE": str(tmp_path / "workspace")}
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.headless", "true"]
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(120):
                if _listening_addresses(port) or process.poll() is not None:
                    break
                time.sleep(0.5)
            assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else (no 0.0.0.0, no ::)
        finally:
            process.terminate()
            process.wait(timeout=20)
