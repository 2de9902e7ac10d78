"""SQLite write transactions of one process queue on an in-process lock before BEGIN IMMEDIATE
(crossreg/metadata/db.py): every write still runs alone and sees the writes before it, and a
writer that cannot get its turn in time is refused with DatabaseUnavailable (503), not hung."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import insert, select, update

from crossreg.metadata import db as dbmod
from crossreg.metadata import schema as s
from crossreg.metadata.db import Database, DatabaseUnavailable


@pytest.fixture()
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    d.migrate()
    yield d
    d.dispose()


def test_concurrent_read_modify_write_transactions_never_lose_an_update(db):
    with db.write() as c:
        c.execute(insert(s.settings).values(key="counter", value="0"))

    def bump(times: int) -> None:
        for _ in range(times):
            with db.write() as c:
                value = int(c.execute(select(s.settings.c.value).where(s.settings.c.key == "counter")).scalar_one())
                time.sleep(0.0005)  # widen the window a lost update would need
                c.execute(update(s.settings).where(s.settings.c.key == "counter").values(value=str(value + 1)))

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with db.read() as c:
        assert c.execute(select(s.settings.c.value).where(s.settings.c.key == "counter")).scalar_one() == "300"


def test_a_writer_waits_for_its_turn_then_is_refused_with_503(db, monkeypatch):
    monkeypatch.setattr(dbmod, "SQLITE_WRITE_WAIT_SECONDS", 0.3)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.write():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            with db.write():
                pass
        assert 0.25 <= time.monotonic() - started < 5
        # Readers are not queued behind the writer.
        with db.read() as c:
            c.execute(select(s.settings.c.key)).all()
    finally:
        release.set()
        holder.join(10)
    with db.write() as c:  # the turn is free again once the holder committed
        c.execute(insert(s.settings).values(key="after", value="1"))


def test_a_failed_write_releases_the_turn(db):
    with pytest.raises(ZeroDivisionError):
        with db.write():
            1 / 0
    done = []

    def write_elsewhere() -> None:
        with db.write() as c:
            c.execute(insert(s.settings).values(key="elsewhere", value="1"))
        done.append(True)

    t = threading.Thread(target=write_elsewhere)
    t.start()
    t.join(10)
    assert done == [True]
