"""Database access: engine creation, transactions and migrations.

The service layer talks to the database only through `Database.read()` and `Database.write()`,
so SQLite (embedded default) and PostgreSQL (scale-out) are interchangeable.

Write transactions have the same semantics on both engines: one writer at a time, each seeing
everything committed before it. SQLite gives that with `BEGIN IMMEDIATE`; on PostgreSQL every
write transaction first takes a transaction-scoped advisory lock, so the service layer's
check-then-insert steps (a blob row, a repository link, a tag) stay race-free when several
processes write at once. Reads are never blocked (WAL on SQLite, MVCC on PostgreSQL), and the
heavy work of a push (streaming and hashing bytes, storage commits) happens outside any
transaction, so the lock is held for milliseconds.

On SQLite, the writers of one process also queue on an in-process lock before `BEGIN IMMEDIATE`.
SQLite's own busy handler makes a waiting writer sleep with back-off (1, 2, 5, 10, ... 100 ms)
and retry, rather than wake when the lock is released, so with many concurrent pushes most of a
write's time was spent asleep while the lock was free. The in-process lock hands the write lock
over as soon as it is released; writers in other processes (CLI commands, `crossreg gc`) still
meet SQLite's busy handler as before.

A database that cannot be reached, is shutting down or is overloaded raises
`DatabaseUnavailable`; the HTTP layers answer it with 503 and Retry-After. Pooled connections are
checked before use, so service resumes by itself once the database is back.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

_MIGRATIONS = Path(__file__).with_name("migrations")

# Advisory lock keys (PostgreSQL): one for migrations, one that serialises write transactions.
MIGRATION_LOCK_KEY = 727274
WRITE_LOCK_KEY = 727275

# How long a SQLite writer waits for the other writers of its process (as long as SQLite's own
# busy_timeout below), then DatabaseUnavailable (503, retry later).
SQLITE_WRITE_WAIT_SECONDS = 30.0


class DatabaseUnavailable(Exception):
    """The metadata database cannot serve the request now; retrying later may succeed."""

    retry_after_seconds = 5

    def __str__(self) -> str:
        return "the metadata database is temporarily unavailable"


def is_unavailable_error(exc: BaseException) -> bool:
    """Whether `exc` means "the database is (temporarily) not there", as opposed to a bug or a
    constraint violation: lost or refused connections, server shutdown or start-up, too many
    connections, an exhausted connection pool, deadlocks, a locked SQLite file."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection became free in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgres extra is not installed
        psycopg = None
    if psycopg is not None and isinstance(orig, psycopg.OperationalError):
        return True  # connection errors, 57P0x shutdown/start-up, 53300, 40001/40P01
    if psycopg is not None and isinstance(orig, psycopg.InterfaceError):
        return True  # the connection was closed under us
    if isinstance(exc, sa_exc.OperationalError) and orig is not None:
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    return False


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if is_unavailable_error(exc):
            raise DatabaseUnavailable() from exc
        raise


def engine_url(url: str) -> str:
    """SQLAlchemy's URL for a user-facing database URL (postgresql:// means psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgresql = url.startswith(("postgresql", "postgres://"))
        self.engine = self._make_engine(url)
        # SQLite: this process's writers queue here before BEGIN IMMEDIATE (see the module
        # docstring). Re-entrant, so a write opened inside another write on the same thread
        # meets SQLite's busy timeout as before instead of waiting for itself.
        self._sqlite_writers = threading.RLock() if self.is_sqlite else None

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            # Per process: up to pool_size + max_overflow connections (see docs/deployment.md for
            # sizing PostgreSQL's max_connections). A stale connection (database restarted) is
            # detected before use and replaced, so recovery needs no operator action.
            pool_size = int(os.environ.get("CROSSREG_DATABASE_POOL_SIZE", "10"))
            max_overflow = int(os.environ.get("CROSSREG_DATABASE_MAX_OVERFLOW", "20"))
            connect_args = {}
            if self.is_postgresql:
                # Bounded waits: a writer queues at most 30 s for the write lock (then 503), and a
                # process that hangs inside a transaction loses it (and its locks) after 2 minutes.
                connect_args = {"connect_timeout": 5, "application_name": "crossreg",
                                "options": "-c lock_timeout=30s -c idle_in_transaction_session_timeout=120s"}
            return create_engine(engine_url(url), pool_size=pool_size, max_overflow=max_overflow,
                                 pool_pre_ping=True, pool_timeout=10, connect_args=connect_args)
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=16, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" hook issue BEGIN itself, so writers can use IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; NORMAL sync is crash-safe for process crashes
            # (kill -9) because the WAL is fsynced at checkpoints and committed frames survive.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection):
            # Writers take the write lock up front so two writers never deadlock on upgrade.
            conn.exec_driver_sql(conn.info.pop("crossreg_begin", "BEGIN"))

        return engine

    @contextmanager
    def write(self, *, serialize: bool = True) -> Iterator[Connection]:
        """A read-write transaction, committed on success and rolled back on any error.
        Callbacks registered with `after_commit(conn, fn)` run once the commit succeeded.

        `serialize=False` (PostgreSQL only; SQLite always serialises writers) skips the write
        lock, for statements that are safe under concurrency by themselves: single conditional
        UPDATEs, or claims with `FOR UPDATE SKIP LOCKED`."""
        callbacks: list = []
        with self._sqlite_writer_turn(), _unavailable_as_503():
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn.info["crossreg_begin"] = "BEGIN IMMEDIATE"
                conn.info["crossreg_after_commit"] = []
                try:
                    with conn.begin():
                        if serialize and not self.is_sqlite and conn.dialect.name == "postgresql":
                            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
                        yield conn
                    callbacks = conn.info["crossreg_after_commit"]
                finally:
                    conn.info.pop("crossreg_after_commit", None)
        for fn in callbacks:
            fn()

    @contextmanager
    def _sqlite_writer_turn(self) -> Iterator[None]:
        """SQLite: wait for this process's other writers (held until commit or rollback)."""
        lock = self._sqlite_writers
        if lock is None:
            yield
            return
        if not lock.acquire(timeout=SQLITE_WRITE_WAIT_SECONDS):
            raise DatabaseUnavailable()
        try:
            yield
        finally:
            lock.release()

    @staticmethod
    def after_commit(conn: Connection, fn) -> None:
        """Run `fn` after the surrounding write transaction commits (never if it rolls back)."""
        conn.info["crossreg_after_commit"].append(fn)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _unavailable_as_503():
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to call from several processes at once:
        on PostgreSQL migrators queue on an advisory lock, on SQLite on the write lock).

        A schema already at the newest revision (every start but the first after an upgrade) is
        recognised without Alembic, which is then never imported: Alembic and Mako are about
        11 MiB of a server process's memory that it would otherwise keep for its whole life."""
        head = head_revision()
        if head is not None and head == self.current_revision():
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self._sqlite_writer_turn(), _unavailable_as_503(), self.engine.connect() as conn:
            postgresql = conn.dialect.name == "postgresql"
            if self.is_sqlite:
                conn.info["crossreg_begin"] = "BEGIN IMMEDIATE"
            elif postgresql:
                # Serialise concurrent migrators (several API processes starting at once).
                conn.exec_driver_sql("SET lock_timeout = 0")
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
                conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            finally:
                if postgresql and not conn.invalidated:
                    # (a lost connection released its session lock with it)
                    if conn.in_transaction():
                        conn.rollback()
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                    conn.exec_driver_sql("RESET lock_timeout")
                    conn.commit()

    def current_revision(self) -> str | None:
        """The schema revision Alembic recorded, or None (no schema yet, or not recorded)."""
        try:
            with self.read() as c:
                return c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except (sa_exc.ProgrammingError, sa_exc.OperationalError):
            return None  # no alembic_version table: a new database (an outage raised above)

    def dispose(self) -> None:
        self.engine.dispose()


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration scripts' `revision` and
    `down_revision` lines; None when they do not form one simple chain (Alembic decides then)."""
    revisions, parents = set(), set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]\s*$", text, re.M)
        down = re.search(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)\s*$", text, re.M)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None
