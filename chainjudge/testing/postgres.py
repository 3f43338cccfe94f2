"""A throw-away PostgreSQL server for tests and benchmarks: a real server (the machine's own binaries),
started in a temporary folder on a free loopback port, removed when the block ends.

PostgreSQL refuses to run as root; started by root, the server runs as the unprivileged `postgres` user
(Debian's package makes it) and owns its folder.  Trust authentication on 127.0.0.1 only: nothing but
this machine can reach it, and it lives only as long as the test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "chainjudge"


class PostgresUnavailable(RuntimeError):
    pass


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: $PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """`with PostgresServer() as pg: Store(pg.new_database())`."""

    def __init__(self) -> None:
        found = find_binaries()
        if found is None or not (found / "initdb").exists():
            raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
        self.bin: Path = found
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="chainjudge-pg-"))
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(command[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> "PostgresServer":
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--locale=C")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start"
        )
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str | None = None) -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __exit__(self, *exc) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        except (PostgresUnavailable, subprocess.TimeoutExpired):
            pass
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.folder, ignore_errors=True)
