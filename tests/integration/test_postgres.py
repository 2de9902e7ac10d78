"""The PostgreSQL metadata backend: the same migrations produce the declared schema on both
engines, concurrent migrators queue, every command takes --database-url / CROSSREG_DATABASE_URL,
and write transactions stay race-free when many writers run at once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crossreg.metadata.db import Database
from crossreg.metadata.schema import metadata
from tests.support.postgres import create_database
from tests.support.server import CROSSREG, REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]


@pytest.fixture
def pg_url(postgres_admin_url):
    return create_database(postgres_admin_url)


def _schema_diff(db: Database) -> list:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(ctx, metadata)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migrations_produce_the_declared_schema(engine, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'crossreg.db'}" if engine == "sqlite"
           else request.getfixturevalue("pg_url"))
    db = Database(url)
    try:
        db.migrate()
        db.migrate()  # idempotent
        assert _schema_diff(db) == []
        tables = set(inspect(db.engine).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        db.dispose()


def test_postgresql_types_fit_the_data(pg_url):
    """Dialect details: autoincrementing ids, real booleans, bytea manifests, double-precision
    timestamps, the named indexes."""
    db = Database(pg_url)
    try:
        db.migrate()
        insp = inspect(db.engine)
        cols = {c["name"]: c for c in insp.get_columns("manifests")}
        assert "nextval" in (cols["id"]["default"] or "")
        assert str(cols["replicated"]["type"]) == "BOOLEAN"
        assert str(cols["content"]["type"]) == "BYTEA"
        assert str(cols["pushed_at"]["type"]) in ("DOUBLE PRECISION", "DOUBLE_PRECISION", "FLOAT")
        assert {i["name"] for i in insp.get_indexes("manifests")} >= {"ix_manifests_subject"}
        assert {i["name"] for i in insp.get_indexes("replication_tasks")} >= {
            "ix_replication_tasks_claim", "ix_replication_tasks_image"}
        with db.engine.connect() as c:
            precision = c.exec_driver_sql(
                "select numeric_precision from information_schema.columns "
                "where table_name='manifests' and column_name='pushed_at'").scalar()
        assert precision == 53  # epoch seconds keep sub-millisecond precision
    finally:
        db.dispose()


def test_concurrent_first_start_migrates_once(pg_url, tmp_path):
    """Six processes start on an empty database at once (as `serve --workers` and workers do)."""
    env = {**os.environ, "CROSSREG_DATABASE_URL": pg_url, "CROSSREG_DATA_DIR": str(tmp_path)}
    procs = [subprocess.Popen([*CROSSREG, "--log-level", "WARNING", "accounts", "list"], env=env,
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err[-2000:] for _, err in results]
    db = Database(pg_url)
    try:
        with db.read() as c:
            versions = c.exec_driver_sql("select version_num from alembic_version").all()
            secrets = c.exec_driver_sql("select key from settings order by key").all()
        assert len(versions) == 1
        assert [k for (k,) in secrets] == ["pagination_key", "token_signing_key"]  # created once
        assert _schema_diff(db) == []
    finally:
        db.dispose()


def _cli(env, *args, check=True):
    return subprocess.run([*CROSSREG, "--log-level", "WARNING", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, check=check, timeout=120)


def test_every_command_takes_the_database_url(pg_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CROSSREG_DATABASE_URL"}
    env["CROSSREG_DATA_DIR"] = str(tmp_path / "data")
    # --database-url
    acct = json.loads(_cli(env, "accounts", "create", "--name", "a", "--account-id", "111111111111",
                           "--database-url", pg_url).stdout)
    assert acct["accountId"] == "111111111111"
    listed = json.loads(_cli(env, "accounts", "list", "--database-url", pg_url).stdout)
    assert [a["accountId"] for a in listed] == ["111111111111"]
    # CROSSREG_DATABASE_URL
    env_pg = {**env, "CROSSREG_DATABASE_URL": pg_url}
    assert json.loads(_cli(env_pg, "accounts", "list").stdout)[0]["accountId"] == "111111111111"
    _cli(env_pg, "replication", "status")
    report = json.loads(_cli(env_pg, "gc", "--dry-run").stdout)
    assert report["dry_run"] is True and report["blobs_deleted"] == 0
    # nothing went to an SQLite file by mistake
    assert not (tmp_path / "data" / "crossreg.db").exists()

    # a worker runs on it until told to stop
    worker = subprocess.Popen([*CROSSREG, "worker", "--database-url", pg_url], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first_line = worker.stdout.readline()  # once it runs, it says so
    assert "crossreg worker running" in first_line, first_line + worker.stdout.read()
    time.sleep(1)
    assert worker.poll() is None
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0

    # serve --workers N refuses SQLite with a clear message
    refused = _cli(env, "serve", "--workers", "2", "--port", "1", check=False)
    assert refused.returncode != 0 and "needs PostgreSQL" in refused.stderr


def test_concurrent_writers_never_collide(pg_url, tmp_path):
    """Many threads (each with its own connections) push the same blob and point the same tag
    at different manifests, through the service layer: the check-then-insert steps are
    serialised on PostgreSQL as on SQLite, so no request fails with a unique-key violation."""
    from crossreg.app import build
    from crossreg.config import Settings
    from crossreg.services.models import RepoKey

    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url)
    core = build(settings)
    try:
        core.accounts.create(name="a", account_id="111111111111")
        key = RepoKey("111111111111", "us-east-1", "race")
        repo = core.registry.create_repository(key)
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        errors: list[BaseException] = []
        barrier = threading.Barrier(12)

        def push(i: int) -> None:
            try:
                barrier.wait()
                upload = core.registry.start_upload(repo)
                chunk = core.registry.open_upload_chunk(repo, upload, 0)
                chunk.write(config)
                chunk.commit()
                core.registry.complete_upload(repo, upload, config_digest)
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": config_digest, "size": len(config)},
                    "layers": [], "annotations": {"n": str(i)}}).encode()
                core.registry.put_manifest(key, manifest, "application/vnd.oci.image.manifest.v1+json",
                                           tag="latest")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert core.registry.count_images(repo) == 12
        assert core.registry.list_tags(repo) == ["latest"]
        with core.db.read() as c:
            assert c.exec_driver_sql("select count(*) from blobs").scalar() == 1
            assert c.exec_driver_sql("select count(*) from repository_blobs").scalar() == 1
    finally:
        core.db.dispose()
