"""Blob uploads in the service layer, on a real (temporary) store: a final chunk whose digest was
checked records that digest together with its size, so the completion needs no hashing and no
transaction of its own for it; any later chunk clears it."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import event, select

from crossreg.app import build
from crossreg.config import Settings
from crossreg.metadata import schema as s
from crossreg.services import errors as e
from crossreg.services.models import RepoKey

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture()
def core(tmp_path):
    c = build(Settings(data_dir=tmp_path, embedded_workers=False))
    c.accounts.create("test", ACCOUNT)
    c.registry.create_repository(RepoKey(ACCOUNT, REGION, "repo"))
    yield c
    c.db.dispose()


@pytest.fixture()
def repo(core):
    return core.registry.get_repository(RepoKey(ACCOUNT, REGION, "repo"))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_row(core, upload_id):
    with core.db.read() as c:
        return c.execute(select(s.uploads.c.size, s.uploads.c.verified_digest).where(
            s.uploads.c.id == upload_id)).first()


def final_chunk(core, repo, upload_id, data: bytes, digest: str | None):
    """What the OCI API does for a PUT with a body: open, stream, check, record."""
    chunk = core.registry.open_upload_chunk(repo, upload_id, None, final=True)
    chunk.write(data)
    if digest is not None:
        assert "sha256:" + chunk.hasher.hexdigest() == digest
        chunk.verified_digest = digest
    return chunk.commit()


def count_write_transactions(core):
    begins = []

    def on_execute(conn, cursor, statement, *args):
        if statement.startswith("BEGIN IMMEDIATE"):
            begins.append(statement)

    event.listen(core.db.engine, "before_cursor_execute", on_execute)
    return begins


def test_monolithic_push_takes_three_write_transactions(core, repo):
    data = os.urandom(1024)
    begins = count_write_transactions(core)
    upload_id = core.registry.start_upload(repo)
    final_chunk(core, repo, upload_id, data, digest_of(data))
    assert upload_row(core, upload_id) == (1024, digest_of(data))
    core.registry.complete_upload(repo, upload_id, digest_of(data))
    # start, the chunk with its verified digest, the blob row + link + upload removal
    assert len(begins) == 3
    assert core.registry.blob_size(repo, digest_of(data)) == 1024
    assert b"".join(core.store.read_blob(digest_of(data))) == data
    assert upload_row(core, upload_id) is None


def test_completion_of_a_verified_upload_does_not_hash_again(core, repo, monkeypatch):
    data = os.urandom(3000)
    upload_id = core.registry.start_upload(repo)
    final_chunk(core, repo, upload_id, data, digest_of(data))
    core.registry._hashes.drop(upload_id)  # as in another process: no running hash here

    def no_reading(*a, **kw):
        raise AssertionError("the upload was read back to hash it")

    monkeypatch.setattr(core.store, "read_upload", no_reading)
    assert core.registry.complete_upload(repo, upload_id, digest_of(data)) == 3000
    assert core.registry.blob_size(repo, digest_of(data)) == 3000


def test_a_chunk_after_the_verified_one_clears_it(core, repo):
    first, more = os.urandom(500), os.urandom(700)
    upload_id = core.registry.start_upload(repo)
    final_chunk(core, repo, upload_id, first, digest_of(first))
    chunk = core.registry.open_upload_chunk(repo, upload_id, 500)
    chunk.write(more)
    chunk.commit()
    assert upload_row(core, upload_id) == (1200, None)
    with pytest.raises(e.DigestMismatch):
        core.registry.complete_upload(repo, upload_id, digest_of(first))
    assert core.registry.complete_upload(repo, upload_id, digest_of(first + more)) == 1200


def test_an_unchecked_final_chunk_is_verified_at_completion(core, repo):
    data = os.urandom(800)
    upload_id = core.registry.start_upload(repo)
    final_chunk(core, repo, upload_id, data, None)
    assert upload_row(core, upload_id) == (800, None)
    with pytest.raises(e.DigestMismatch):
        core.registry.complete_upload(repo, upload_id, digest_of(b"something else"))
    assert upload_row(core, upload_id) == (800, None)
    assert core.registry.complete_upload(repo, upload_id, digest_of(data)) == 800
