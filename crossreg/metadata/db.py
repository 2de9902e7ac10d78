"""Database access: engine creation, transactions and migrations.

The service layer talks to the database only through `Database.read()` and `Database.write()`,
so SQLite (embedded default) and PostgreSQL (scale-out) are interchangeable.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine

_MIGRATIONS = Path(__file__).with_name("migrations")


class Database:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._make_engine(url)

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
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
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success and rolled back on any error.
        Callbacks registered with `after_commit(conn, fn)` run once the commit succeeded."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["crossreg_begin"] = "BEGIN IMMEDIATE"
            conn.info["crossreg_after_commit"] = []
            try:
                with conn.begin():
                    yield conn
                callbacks = conn.info["crossreg_after_commit"]
            finally:
                conn.info.pop("crossreg_after_commit", None)
        for fn in callbacks:
            fn()

    @staticmethod
    def after_commit(conn: Connection, fn) -> None:
        """Run `fn` after the surrounding write transaction commits (never if it rolls back)."""
        conn.info["crossreg_after_commit"].append(fn)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to call from several processes)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["crossreg_begin"] = "BEGIN IMMEDIATE"
            elif conn.dialect.name == "postgresql":
                # Serialise concurrent migrators (several API processes starting at once).
                conn.exec_driver_sql("SELECT pg_advisory_lock(727274)")
                conn.commit()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_unlock(727274)")
                conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()
