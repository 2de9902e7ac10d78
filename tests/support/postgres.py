"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl into a directory of our own
(no systemd, no system cluster touched), listening on 127.0.0.1 and a unix socket there.

Used by scripts/test.sh (`python -m tests.support.postgres start|stop DIR`), which exports the
URL as CROSSREG_TEST_POSTGRES_URL, and by tests that must stop and restart a database of their
own (the outage test). As root, the server runs as the `postgres` system user (PostgreSQL
refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ENV_URL = "CROSSREG_TEST_POSTGRES_URL"


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian keeps them off PATH)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                            reverse=True):
        if (Path(candidate) / "postgres").exists() and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One PostgreSQL server in `root` (data, socket and log all live there)."""

    def __init__(self, root: Path | str, port: int | None = None):
        self.root = Path(root).resolve()
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port_file = self.root / "port"
        if port is None and self.port_file.exists():
            port = int(self.port_file.read_text())
        self.port = port or _free_port()
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.user = "postgres"  # the database superuser name

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    # -- running commands as the right OS user --
    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout,
                              cwd="/")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o755)
            # the server must be able to reach its directory (use a directory under /tmp)
            parent = self.root.parent
            while parent != parent.parent:
                if not parent.stat().st_mode & 0o001:
                    raise RuntimeError(f"{parent} is not traversable by the postgres user")
                parent = parent.parent
        if (self.data / "PG_VERSION").exists():
            return
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        # Test settings: fast (the tests never crash the machine, only processes), and enough
        # connections for several servers with pools of their own.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# crossreg test cluster\n"
                       "listen_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\n"
                       "max_connections = 300\n"
                       "shared_buffers = 64MB\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                       "log_min_messages = warning\n")

    def start(self, timeout: float = 60) -> None:
        self.init()
        self.port_file.write_text(str(self.port))
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", f"-p {self.port}",
                  "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        import psycopg

        deadline = time.time() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def create_database(admin_url: str, prefix: str = "crossreg_test") -> str:
    """A new, empty database on the server at `admin_url`; returns its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass


def main(argv: list[str]) -> int:
    """`start DIR` prints the admin URL on stdout; `stop DIR` stops the server."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.support.postgres start|stop DIR", file=sys.stderr)
        return 2
    command, root = argv
    try:
        cluster = PostgresCluster(root)
    except RuntimeError as exc:
        print(f"postgres: {exc}", file=sys.stderr)
        return 1
    if command == "start":
        try:
            cluster.start()
        except Exception as exc:  # report why, so that the suite says why PostgreSQL tests skip
            print(f"postgres: could not start a server in {root}: {exc}", file=sys.stderr)
            if cluster.log.exists():
                print(cluster.log.read_text()[-2000:], file=sys.stderr)
            return 1
        print(cluster.url)
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
