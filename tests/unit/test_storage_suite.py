"""One test suite for every blob store: the filesystem store and the S3 store (against a real
S3-compatible server, Ceph's radosgw; see tests/support/s3server.py).

Each test gets a fresh store location; `stores.new()` opens another instance on the same
location, as another process (or a restarted one) would.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossreg.storage.base import BlobNotFound, UploadNotFound
from crossreg.storage.filesystem import FilesystemBlobStore

MiB = 1 << 20
BACKENDS = ["filesystem", "s3"]
_s3_client = None  # one boto3 client for the module's S3 store instances


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def new_upload_id() -> str:
    return str(uuid.uuid4())


class Stores:
    """Opens store instances on one location of one backend."""

    def __init__(self, backend: str, request, tmp_path_factory):
        self.backend = backend
        if backend == "filesystem":
            self.root = tmp_path_factory.mktemp("blobs")
        else:
            server = request.getfixturevalue("s3_server")
            bucket = request.getfixturevalue("s3_bucket")
            monkeypatch = request.getfixturevalue("monkeypatch")
            for name, value in server.env().items():
                monkeypatch.setenv(name, value)
            self.server, self.bucket = server, bucket
            self.url = f"s3://{bucket}/suite-{uuid.uuid4().hex[:12]}"

    def new(self, **options):
        if self.backend == "filesystem":
            return FilesystemBlobStore(self.root)
        from crossreg.storage.base import open_blob_store
        from crossreg.storage.s3 import S3BlobStore

        global _s3_client
        if _s3_client is None:  # opened as crossreg does, from the URL and the environment
            store = open_blob_store(self.url)
            _s3_client = store.client
        else:  # a new instance: no state shared but the (stateless) client, slow to create
            bucket, _, prefix = self.url[len("s3://"):].partition("/")
            store = S3BlobStore(bucket, prefix, client=_s3_client)
        for name, value in options.items():
            setattr(store, name, value)
        return store


@pytest.fixture(params=BACKENDS)
def stores(request, tmp_path_factory) -> Stores:
    return Stores(request.param, request, tmp_path_factory)


def append(store, upload_id: str, offset: int, *writes: bytes) -> int:
    """One request's worth of writes, made durable; returns the new size."""
    writer = store.open_upload(upload_id, offset)
    for data in writes:
        writer.write(data)
    writer.close()
    return offset + sum(len(d) for d in writes)


def upload_bytes(store, upload_id: str) -> bytes:
    return b"".join(store.read_upload(upload_id))


def blob_bytes(store, digest: str, offset: int = 0, length: int | None = None, chunk_size: int = MiB) -> bytes:
    return b"".join(store.read_blob(digest, offset, length, chunk_size))


def no_multipart_leftovers(stores: Stores) -> bool:
    if stores.backend != "s3":
        return True
    prefix = stores.url.split("/", 3)[3] + "/"
    page = stores.server.client().list_multipart_uploads(Bucket=stores.bucket, Prefix=prefix)
    return not page.get("Uploads")


# ---------------------------------------------------------------------------------- uploads
def test_many_small_appends_from_several_instances(stores):
    data = data_of(300_000, seed=1)
    upload_id = new_upload_id()
    rng = random.Random(2)
    offset = 0
    while offset < len(data):
        n = rng.randint(1, 20_000)
        # every request through a new store instance, as if served by another process
        store = stores.new()
        offset = append(store, upload_id, offset, data[offset:offset + n])
        assert store.upload_size(upload_id) == offset
    store = stores.new()
    assert upload_bytes(store, upload_id) == data
    digest = digest_of(data)
    assert store.commit_upload(upload_id, digest) == len(data)
    assert store.blob_size(digest) == len(data)
    assert blob_bytes(stores.new(), digest) == data
    assert store.upload_size(upload_id) == 0
    assert no_multipart_leftovers(stores)


def test_appends_across_part_boundaries(stores):
    """Small, exactly-5-MiB and large requests, mixed, each from a fresh instance."""
    sizes = [3 * MiB, 3 * MiB, 5 * MiB, 1, 9 * MiB + 7, 100, 5 * MiB - 1, 2 * MiB]
    data = data_of(sum(sizes), seed=3)
    upload_id = new_upload_id()
    offset = 0
    for i, size in enumerate(sizes):
        chunk = data[offset:offset + size]
        # some requests arrive in many small writes, some in one
        writes = [chunk[j:j + 64 * 1024] for j in range(0, len(chunk), 64 * 1024)] if i % 2 else [chunk]
        offset = append(stores.new(), upload_id, offset, *writes)
    store = stores.new()
    assert store.upload_size(upload_id) == len(data)
    assert hashlib.sha256(upload_bytes(store, upload_id)).digest() == hashlib.sha256(data).digest()
    digest = digest_of(data)
    assert store.commit_upload(upload_id, digest) == len(data)
    assert blob_bytes(stores.new(), digest) == data
    assert no_multipart_leftovers(stores)


def test_commit_is_idempotent(stores):
    data = data_of(70_000, seed=4)
    digest = digest_of(data)
    store = stores.new()
    first, second = new_upload_id(), new_upload_id()
    append(store, first, 0, data)
    append(store, second, 0, data[:1000], data[1000:])
    assert store.commit_upload(first, digest) == len(data)
    # committing again (a retry after a crash before the database update) is harmless
    assert stores.new().commit_upload(first, digest) == len(data)
    # another upload of the same content is dropped, the blob stays
    assert stores.new().commit_upload(second, digest) == len(data)
    assert store.upload_size(second) == 0
    assert blob_bytes(store, digest) == data


def test_empty_upload_commits_the_empty_blob(stores):
    store = stores.new()
    upload_id = new_upload_id()
    assert store.upload_size(upload_id) == 0
    assert upload_bytes(store, upload_id) == b""
    append(store, upload_id, 0)  # a request with no body
    assert store.commit_upload(upload_id, digest_of(b"")) == 0
    assert store.blob_size(digest_of(b"")) == 0
    assert blob_bytes(store, digest_of(b"")) == b""


@pytest.mark.parametrize("stored,acknowledged", [
    (300_000, 120_000),            # inside a small segment
    (12 * MiB, 7 * MiB + 3),       # inside a large segment
    (12 * MiB, 2 * MiB),           # a large segment cut back to a small one
    (12 * MiB + 5, 12 * MiB),      # at a segment boundary
    (6 * MiB, 0),                  # everything
])
def test_unacknowledged_bytes_are_cut_off(stores, stored, acknowledged):
    """A crash between storing a chunk and recording it in the database leaves bytes past the
    acknowledged size; the next request continues from the acknowledged size."""
    data = data_of(stored, seed=5)
    upload_id = new_upload_id()
    if stored > 12 * MiB:
        append(stores.new(), upload_id, 0, data[:12 * MiB])
        append(stores.new(), upload_id, 12 * MiB, data[12 * MiB:])
    else:
        append(stores.new(), upload_id, 0, data)
    tail = data_of(1_000_000, seed=6)
    store = stores.new()
    append(store, upload_id, acknowledged, tail)
    expected = data[:acknowledged] + tail
    assert store.upload_size(upload_id) == len(expected)
    assert upload_bytes(stores.new(), upload_id) == expected
    assert store.commit_upload(upload_id, digest_of(expected)) == len(expected)
    assert blob_bytes(store, digest_of(expected)) == expected


def test_reopen_without_writing_cuts_off(stores):
    data = data_of(9 * MiB, seed=7)
    upload_id = new_upload_id()
    append(stores.new(), upload_id, 0, data)
    append(stores.new(), upload_id, 6 * MiB)  # a request with an empty body at the acknowledged size
    assert stores.new().upload_size(upload_id) == 6 * MiB
    assert upload_bytes(stores.new(), upload_id) == data[:6 * MiB]


def test_abort_discards_the_request(stores):
    data = data_of(2 * MiB, seed=8)
    upload_id = new_upload_id()
    store = stores.new()
    append(store, upload_id, 0, data)
    writer = store.open_upload(upload_id, len(data))
    writer.write(data_of(10 * MiB, seed=9))  # enough to have started sending parts
    writer.abort()
    assert store.upload_size(upload_id) >= len(data)
    assert upload_bytes(store, upload_id)[:len(data)] == data
    # the next request continues from the acknowledged size
    append(stores.new(), upload_id, len(data), b"tail")
    assert upload_bytes(store, upload_id) == data + b"tail"
    assert no_multipart_leftovers(stores)


def test_writer_lost_mid_request_then_resumed(stores):
    """A process killed while streaming a request: its writer is never closed nor aborted."""
    data = data_of(6 * MiB, seed=10)
    upload_id = new_upload_id()
    append(stores.new(), upload_id, 0, data)
    lost = stores.new().open_upload(upload_id, len(data))
    lost.write(data_of(17 * MiB, seed=11))  # two parts sent, then the process dies
    del lost
    store = stores.new()
    append(store, upload_id, len(data), b"resumed")
    expected = data + b"resumed"
    assert upload_bytes(store, upload_id) == expected
    assert store.commit_upload(upload_id, digest_of(expected)) == len(expected)
    assert no_multipart_leftovers(stores)  # the commit cleaned up after the lost writer


def test_delete_upload(stores):
    store = stores.new()
    upload_id = new_upload_id()
    append(store, upload_id, 0, data_of(6 * MiB, seed=12))
    writer = store.open_upload(upload_id, 6 * MiB)
    writer.write(data_of(9 * MiB, seed=13))  # a multipart upload in progress
    stores.new().delete_upload(upload_id)
    assert store.upload_size(upload_id) == 0
    assert upload_bytes(store, upload_id) == b""
    assert no_multipart_leftovers(stores)
    store.delete_upload(upload_id)  # again: nothing to do


def test_missing_and_invalid_uploads(stores):
    store = stores.new()
    with pytest.raises(UploadNotFound):
        store.open_upload(new_upload_id(), 5)
    for bad in ("../escape", "a/b", "", "x" * 65, "sp ace"):
        with pytest.raises(UploadNotFound):
            store.open_upload(bad, 0)
        store.delete_upload(bad)
    store.delete_upload(new_upload_id())
    if stores.backend == "s3":  # (the filesystem store would leave a hole in the file)
        upload_id = new_upload_id()
        append(store, upload_id, 0, b"12345")
        with pytest.raises(UploadNotFound):  # bytes that were never stored
            store.open_upload(upload_id, 6)


# ---------------------------------------------------------------------------------- blobs
@pytest.fixture
def stored_blob(stores):
    data = data_of(3 * MiB + 12345, seed=14)
    digest = digest_of(data)
    stores.new().put_blob(digest, data)
    return stores, digest, data


@pytest.mark.parametrize("offset,length", [
    (0, None), (0, 1), (1, 10), (MiB - 1, 2), (3 * MiB, None), (3 * MiB, 12345), (3 * MiB, 12346),
    (3 * MiB + 12344, 1), (3 * MiB + 12344, None), (3 * MiB + 12345, None), (3 * MiB + 12345, 10),
    (10 * MiB, None), (100, 0), (0, 10 * MiB),
])
def test_range_reads(stored_blob, offset, length):
    stores, digest, data = stored_blob
    expected = data[offset:] if length is None else data[offset:offset + length]
    assert blob_bytes(stores.new(), digest, offset, length, chunk_size=65536) == expected


def test_read_streams_in_chunks(stored_blob):
    stores, digest, data = stored_blob
    chunks = list(stores.new().read_blob(digest, 0, None, 256 * 1024))
    assert len(chunks) > 4 and max(len(c) for c in chunks) <= 256 * 1024
    assert b"".join(chunks) == data
    # a reader that stops early (a client that went away) leaves nothing behind
    iterator = stores.new().read_blob(digest, 0, None, 1024)
    next(iterator)
    del iterator


def test_put_blob_is_idempotent(stored_blob):
    stores, digest, data = stored_blob
    store = stores.new()
    store.put_blob(digest, data)
    assert store.blob_size(digest) == len(data)
    assert blob_bytes(store, digest) == data


def test_missing_blobs(stores):
    store = stores.new()
    missing = digest_of(b"never stored")
    assert store.blob_size(missing) is None
    assert store.locate_blob(missing) is None
    with pytest.raises(BlobNotFound):
        store.read_blob(missing)
    with pytest.raises(BlobNotFound):
        store.read_blob(missing, 0, 0)
    store.delete_blob(missing)
    for bad in ("sha256:../../x", "sha256:" + "A" * 64, "md5:abc", "", "sha256:" + "a" * 63):
        assert store.blob_size(bad) is None
        try:
            assert store.locate_blob(bad) is None
        except BlobNotFound:  # (the filesystem store's answer)
            pass
        with pytest.raises(BlobNotFound):
            store.read_blob(bad)
        store.delete_blob(bad)


def test_delete_blob(stored_blob):
    stores, digest, data = stored_blob
    store = stores.new()
    store.delete_blob(digest)
    assert stores.new().blob_size(digest) is None
    with pytest.raises(BlobNotFound):
        store.read_blob(digest)
    store.delete_blob(digest)  # again


def test_locate_blob(stored_blob):
    stores, digest, data = stored_blob
    location = stores.new().locate_blob(digest)
    if stores.backend == "filesystem":
        assert location.path and open(location.path, "rb").read() == data
    else:
        assert location.url and location.path is None
        response = httpx.get(location.url)  # a pre-signed URL needs no credentials
        assert response.status_code == 200 and response.content == data
        response = httpx.get(location.url, headers={"Range": "bytes=10-19"})
        assert response.status_code == 206 and response.content == data[10:20]


def test_sha512_blobs(stores):
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    store = stores.new()
    upload_id = new_upload_id()
    append(store, upload_id, 0, data)
    assert store.commit_upload(upload_id, digest) == len(data)
    assert blob_bytes(store, digest) == data


# ---------------------------------------------------------------------------------- large
def test_large_blob_with_bounded_memory(stores):
    """64 MiB in three requests of many 1 MiB writes, from different instances; memory stays
    bounded (about one part for S3), whatever the blob size."""
    size, write = 64 * MiB, MiB
    rng = random.Random(15)
    hasher = hashlib.sha256()
    upload_id = new_upload_id()
    options = {"segment_max": 24 * MiB} if stores.backend == "s3" else {}  # several segments
    instances = [stores.new(**options) for _ in range(5)]  # (made first: boto3 loads its models)
    tracemalloc.start()
    try:
        offset = 0
        for instance, request_end in zip(instances, (20 * MiB + 3, 45 * MiB, size)):
            writer = instance.open_upload(upload_id, offset)
            while offset < request_end:
                chunk = rng.randbytes(min(write, request_end - offset))
                hasher.update(chunk)
                writer.write(chunk)
                offset += len(chunk)
                del chunk
            writer.close()
        digest = "sha256:" + hasher.hexdigest()
        store = instances[3]
        assert store.upload_size(upload_id) == size
        check = hashlib.sha256()
        for chunk in store.read_upload(upload_id):
            check.update(chunk)
        assert "sha256:" + check.hexdigest() == digest
        assert store.commit_upload(upload_id, digest) == size
        check = hashlib.sha256()
        for chunk in instances[4].read_blob(digest):
            check.update(chunk)
        assert "sha256:" + check.hexdigest() == digest
        assert b"".join(store.read_blob(digest, size - 10, 10)) == b"".join(
            instances[4].read_blob(digest, size - 10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # S3: the part of 8 MiB being filled (and sent), a chunk being read, some overhead
    assert peak < 20 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    assert no_multipart_leftovers(stores)


# ---------------------------------------------------------------------------------- properties
SIZES = st.one_of(st.integers(0, 200_000), st.sampled_from([5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 11 * MiB]))


@st.composite
def chunkings(draw):
    """Data split into writes, writes grouped into requests, and maybe a lost last request."""
    size = draw(SIZES)
    cuts = sorted(set(draw(st.lists(st.integers(0, size), max_size=6))))
    writes = [b - a for a, b in zip([0, *cuts], [*cuts, size])]
    groups = draw(st.lists(st.integers(1, 3), min_size=1, max_size=len(writes) + 1))
    requests, i = [], 0
    for g in groups:
        if i >= len(writes):
            break
        requests.append(writes[i:i + g])
        i += g
    if i < len(writes):
        requests.append(writes[i:])
    return size, requests, draw(st.booleans()), draw(st.integers(0, 2**32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_chunking_gives_the_same_blob(backend, request, tmp_path_factory):
    stores = Stores(backend, request, tmp_path_factory)

    @settings(max_examples=25 if backend == "filesystem" else 12, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(chunkings())
    def check(example):
        size, requests, lose_last, seed = example
        data = data_of(size, seed)
        upload_id = new_upload_id()
        offset = 0
        for number, sizes in enumerate(requests):
            writer = stores.new().open_upload(upload_id, offset)
            position = offset
            for n in sizes:
                writer.write(data[position:position + n])
                position += n
            if lose_last and number == len(requests) - 1 and sizes:
                writer.close()  # stored, but the "database" never heard of it: not acknowledged
                break
            writer.close()
            offset = position
        store = stores.new()
        # the service hashes the acknowledged bytes, then continues or commits from there
        assert b"".join(store.read_upload(upload_id))[:offset] == data[:offset]
        append(store, upload_id, offset, data[offset:])
        digest = digest_of(data)
        assert store.commit_upload(upload_id, digest) == size
        assert blob_bytes(stores.new(), digest) == data
        store.delete_blob(digest)

    check()
