"""A throwaway PostgreSQL server for the tests: a fresh cluster in a temporary folder.

Debian's package puts ``initdb``, ``pg_ctl`` and ``postgres`` in
``/usr/lib/postgresql/<version>/bin`` (``make services`` installs it when missing). The cluster
is made with ``initdb`` (trust authentication, no fsync), listens on 127.0.0.1 at a free port
with its socket inside the folder, and is stopped and deleted at the end. PostgreSQL refuses to
run as root, and CI runs as root: then the folder is handed to the package's ``postgres`` user
and every server command runs as that user through ``runuser`` (``su`` where ``runuser`` is
missing). Each test gets a schema of its own in one database (:meth:`PostgresServer.create_schema`;
the URL's ``search_path`` points its connections there), dropped after the test.

The server runs in a time zone east of UTC on purpose, so a timestamp read back in the
server's zone instead of UTC shows in the tests.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

#: the zone of the test server: +05:30, never mistaken for UTC
SERVER_TIMEZONE = "Asia/Kolkata"
#: the database the tests' schemas live in
DATABASE = "brainlike_tests"


def find_bindir() -> Path | None:
    """The bin folder of the newest PostgreSQL server installed (holding initdb and pg_ctl)."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in path.parent.name.split(".") if x.isdigit())

    for path in sorted(candidates, key=version, reverse=True):
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    for name in ("pg_config", "initdb"):
        found = shutil.which(name)
        if not found:
            continue
        if name == "initdb":
            return Path(found).resolve().parent
        try:
            out = subprocess.run([found, "--bindir"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        path = Path(out.stdout.strip())
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster of its own in ``root``, started by :meth:`start`.

    Parameters
    ----------
    bindir : folder of ``initdb`` and ``pg_ctl``.
    """

    def __init__(self, bindir: Path):
        self.bindir = Path(bindir)
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="brainlike-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.running = False
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            if shutil.which("runuser"):
                command = ["runuser", "-u", "postgres", "--", *command]
            else:
                import shlex

                command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> PostgresServer:
        """initdb, then pg_ctl start on a free port (tried three times: a port can be taken
        between finding it and binding it); raises RuntimeError with the server's log."""
        done = self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        log = self.root / "server.log"
        for _ in range(3):
            self.port = _free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.root}",
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "-c max_connections=200",
                    f"-c timezone={SERVER_TIMEZONE}",
                ]
            )
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w",
                             "-t", "60", "start")  # fmt: skip
            if done.returncode == 0:
                self.running = True
                atexit.register(self.stop)  # should the fixture's own clean-up not run
                self._admin(f"CREATE DATABASE {DATABASE}", database="postgres")
                return self
        text = log.read_text(errors="replace")[-2000:] if log.is_file() else done.stderr
        raise RuntimeError(f"pg_ctl start failed: {text.strip()}")

    def url(self, database: str = DATABASE, schema: str | None = None) -> str:
        """The SQLAlchemy URL of one database of this server; with ``schema``, the connections
        it makes work in that schema (their ``search_path``)."""
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"
        return url if schema is None else f"{url}?options=-csearch_path%3D{schema}"

    def _admin(self, *statements: str, database: str = DATABASE) -> None:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)

    def create_schema(self) -> str:
        """A new empty schema in the tests' database; returns its name (a schema costs a
        fraction of a millisecond where CREATE DATABASE costs a tenth of a second or more)."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE SCHEMA "{name}"')
        return name

    def drop_schema(self, name: str) -> None:
        """Close every connection a test left open (engines it did not dispose of), then drop
        its schema with everything in it."""
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{DATABASE}' AND pid <> pg_backend_pid()",
            f'DROP SCHEMA IF EXISTS "{name}" CASCADE',
        )

    def stop(self) -> None:
        """Stop the server (immediate shutdown: nothing in it is kept) and delete its folder."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)
