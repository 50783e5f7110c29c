"""A throwaway PostgreSQL server for tests and benchmarks (Debian's postgresql package).

``PostgresCluster().start()`` runs ``initdb`` in a fresh temporary folder and
starts ``postgres`` on a free loopback port with trust authentication (the
server only listens on 127.0.0.1 and lives as long as the test). PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system
user (created by the Debian package) through ``runuser``.

``start()`` raises :class:`ClusterUnavailable` with a readable reason when the
binaries or a non-root user are missing, so tests can skip with that message.
"""
from __future__ import annotations

import glob
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import polars as pl

USER = "crm"
# Durability is irrelevant for a throwaway server; these make loading much faster.
FAST_SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                 "-c max_wal_size=4GB -c checkpoint_timeout=30min -c listen_addresses=127.0.0.1")
#: Parallel query on, and chosen even for the tests' small tables (so they run the parallel plans).
PARALLEL_SETTINGS = ("-c max_parallel_workers_per_gather=2 -c parallel_setup_cost=0 -c parallel_tuple_cost=0 "
                     "-c min_parallel_table_scan_size=0")


class ClusterUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why."""


def _binary_folder() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise ClusterUnavailable("PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does it).")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One PostgreSQL server in a temporary folder; ``uri`` once started."""

    def __init__(self, extra_settings: str = "", keep_in: Path | None = None) -> None:
        """``keep_in``: a folder that keeps the server's data between runs (benchmarks); default a fresh temporary one."""
        self.bin = _binary_folder()
        self.extra_settings = extra_settings
        self.keep_in = keep_in
        self.folder: Path | None = None
        self.port = 0
        self.uri = ""
        self._prefix: list[str] = []

    def _run_as(self) -> tuple[list[str], int | None, int | None]:
        """Command prefix and uid/gid that own the data folder."""
        if os.geteuid() != 0:
            return [], None, None
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ClusterUnavailable("running as root and there is no 'postgres' user to run the server as") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ClusterUnavailable("running as root and 'runuser' is missing")
        return [runuser, "-u", "postgres", "--"], account.pw_uid, account.pw_gid

    def _call(self, *args: str) -> None:
        result = subprocess.run([*self._prefix, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ClusterUnavailable(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()[-500:]}")

    def start(self) -> str:
        """Create and start the server; returns its SQLAlchemy URI."""
        self._prefix, uid, gid = self._run_as()
        self.folder = self.keep_in or Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if uid is not None:
            os.chown(self.folder, uid, gid)
        data = self.folder / "data"
        self.port = _free_port()
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)  # a half-made folder from an interrupted run
            self._call(str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                       "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.folder} {FAST_SETTINGS} {self.extra_settings}"
        self._call(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"),
                   "-o", options, "-w", "-t", "60", "start")
        self.uri = f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/postgres"
        return self.uri

    def stop(self) -> None:
        if self.folder is None:
            return
        kept = self.keep_in is not None  # a kept server stops cleanly, so its data is there next time
        subprocess.run([*self._prefix, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                        "fast" if kept else "immediate", "stop"], capture_output=True, timeout=120)
        if not kept:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


PG_TYPES = {pl.String: "text", pl.Date: "date", pl.Float64: "double precision", pl.Int64: "bigint", pl.Boolean: "boolean"}


def quote(name: str) -> str:
    """A PostgreSQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def load_frame(uri: str, table: str, frame: pl.DataFrame, rename: dict[str, str] | None = None) -> None:
    """Create ``table`` (dropping an old one) and COPY ``frame`` into it.

    ``rename`` maps frame columns to the table's column names, so tests can use
    awkward names (spaces, capitals) that need quoting.
    """
    import psycopg

    rename = rename or {}
    columns = [(rename.get(name, name), PG_TYPES[dtype.base_type()]) for name, dtype in frame.schema.items()]
    quoted = [quote(name) for name, _ in columns]
    definition = ", ".join(f"{q} {kind}" for q, (_, kind) in zip(quoted, columns))
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="\\N")
    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        connection.execute(f"CREATE TABLE {quote(table)} ({definition})")
        with connection.cursor().copy(f'COPY {quote(table)} ({", ".join(quoted)}) FROM STDIN WITH (FORMAT csv, NULL \'\\N\')') as copy:
            copy.write(buffer.getvalue())
        connection.execute(f"ANALYZE {quote(table)}")
