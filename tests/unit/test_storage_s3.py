"""What is particular to the S3 store: configuration from the URL and the environment, the
object layout, outages mapped to StorageUnavailable, listings for the garbage collector.
(The behaviour every store shares is in test_storage_suite.py.)"""

from __future__ import annotations

import hashlib
import socket
import uuid

import httpx
import pytest
from botocore.exceptions import ClientError, ResponseStreamingError
from botocore.stub import Stubber

from crossreg.storage.base import StorageUnavailable, UploadNotFound, open_blob_store
from crossreg.storage.s3 import MIN_PART_SIZE, S3BlobStore, make_client

MiB = 1 << 20
AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "CROSSREG_S3_ADDRESSING_STYLE", "CROSSREG_S3_PRESIGN_ENDPOINT_URL",
                 "CROSSREG_S3_PRESIGN_EXPIRES", "AWS_MAX_ATTEMPTS", "AWS_PROFILE")


@pytest.fixture
def aws_env(monkeypatch):
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def live(s3_server, s3_bucket, monkeypatch):
    """A store on the test object store, under a prefix of its own."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return S3BlobStore.from_url(f"s3://{s3_bucket}/s3-{uuid.uuid4().hex[:12]}/nested")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------- configuration
def test_url_and_environment(aws_env):
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    aws_env.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")  # the S3-specific one wins
    aws_env.setenv("AWS_REGION", "eu-west-3")
    store = open_blob_store("s3://my-bucket/some/prefix/")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "some/prefix")
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert store.client.meta.region_name == "eu-west-3"
    assert store.client.meta.config.s3["addressing_style"] == "path"
    assert store._blob_key(digest_of(b"x")) == "some/prefix/blobs/sha256/" + hashlib.sha256(b"x").hexdigest()
    assert store._segment_key("u-1", 5 * MiB) == "some/prefix/uploads/u-1/0000000000500000"


def test_defaults_without_endpoint(aws_env):
    store = S3BlobStore.from_url("s3://bucket-only")
    assert store.prefix == ""
    assert store.client.meta.region_name == "us-east-1"
    assert store.client.meta.config.s3["addressing_style"] == "auto"
    assert store._blob_key(digest_of(b"")).startswith("blobs/sha256/")


def test_presign_settings(aws_env):
    aws_env.setenv("AWS_ENDPOINT_URL_S3", "http://10.0.0.1:9000")
    aws_env.setenv("CROSSREG_S3_PRESIGN_ENDPOINT_URL", "https://objects.example.test")
    aws_env.setenv("CROSSREG_S3_PRESIGN_EXPIRES", "60")
    store = S3BlobStore.from_url("s3://b/p")
    assert store.presign_expires == 60
    url = store.presign_client.generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert url.startswith("https://objects.example.test/b/k?") and "X-Amz-Signature=" in url
    assert store.client.meta.endpoint_url == "http://10.0.0.1:9000"


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "file://x"])
def test_bad_urls(aws_env, url):
    with pytest.raises(ValueError):
        S3BlobStore.from_url(url)


def test_part_size_limits():
    with pytest.raises(ValueError):
        S3BlobStore("b", client=object(), part_size=MIN_PART_SIZE - 1)
    with pytest.raises(ValueError):
        S3BlobStore("b", client=object(), segment_max=6 << 30)


# ---------------------------------------------------------------------------------- outages
def test_unreachable_store_is_unavailable(aws_env):
    aws_env.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    aws_env.setenv("AWS_MAX_ATTEMPTS", "1")
    store = S3BlobStore.from_url("s3://bucket/prefix")
    digest = digest_of(b"data")
    for call in (lambda: store.blob_size(digest), lambda: store.read_blob(digest),
                 lambda: store.locate_blob(digest), lambda: store.put_blob(digest, b"data"),
                 lambda: store.open_upload("u1", 0), lambda: store.upload_size("u1"),
                 lambda: list(store.read_upload("u1")), lambda: store.commit_upload("u1", digest),
                 lambda: store.delete_upload("u1"), lambda: store.delete_blob(digest)):
        with pytest.raises(StorageUnavailable):
            call()


def stubbed_store():
    client = make_client("http://127.0.0.1:1")
    return S3BlobStore("bucket", "p", client=client), Stubber(client)


@pytest.mark.parametrize("code,status", [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_server_errors_are_unavailable(aws_env, code, status):
    store, stub = stubbed_store()
    stub.add_client_error("head_object", service_error_code=code, http_status_code=status)
    with stub, pytest.raises(StorageUnavailable):
        store.blob_size(digest_of(b"x"))


def test_client_errors_are_not_swallowed(aws_env):
    store, stub = stubbed_store()
    stub.add_client_error("head_object", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(ClientError):
        store.blob_size(digest_of(b"x"))


def test_failure_while_streaming_is_unavailable(aws_env):
    class Body:
        closed = False

        def read(self, size=-1):  # (a file-like object, for the stub's validation)
            return b""

        def iter_chunks(self, size):
            yield b"first"
            raise ResponseStreamingError(error="connection reset")

        def close(self):
            Body.closed = True

    store, stub = stubbed_store()
    stub.add_response("get_object", {"Body": Body(), "ContentLength": 100})
    with stub:
        chunks = store.read_blob(digest_of(b"x"))
        assert next(chunks) == b"first"
        with pytest.raises(StorageUnavailable):
            next(chunks)
    assert Body.closed


# ---------------------------------------------------------------------------------- live layout
def objects(store: S3BlobStore) -> dict[str, int]:
    return {o["Key"][len(store.prefix) + 1:]: o["Size"] for o in store._list(store.prefix + "/")}


def test_object_layout(live):
    data = b"a" * (6 * MiB) + b"b" * 100
    upload_id = str(uuid.uuid4())
    writer = live.open_upload(upload_id, 0)
    writer.write(data[:3 * MiB])
    writer.close()
    for start in (3 * MiB, 6 * MiB):  # a small segment grows past 5 MiB, then a new one starts
        writer = live.open_upload(upload_id, start)
        writer.write(data[start:start + 3 * MiB])
        writer.close()
    assert objects(live) == {f"uploads/{upload_id}/{0:016x}": 6 * MiB,
                             f"uploads/{upload_id}/{6 * MiB:016x}": 100}
    digest = digest_of(data)
    live.commit_upload(upload_id, digest)
    assert objects(live) == {f"blobs/sha256/{digest[7:]}": len(data)}
    raw = live.client.get_object(Bucket=live.bucket, Key=f"{live.prefix}/blobs/sha256/{digest[7:]}")
    assert hashlib.sha256(raw["Body"].read()).hexdigest() == digest[7:]


def test_segments_stay_large_enough_to_compose(live):
    """Every segment but the last is at least 5 MiB, whatever the requests' sizes."""
    upload_id = str(uuid.uuid4())
    offset = 0
    for size in (MiB, 2 * MiB, 3 * MiB, 100, 5 * MiB, 4 * MiB, 1, 7 * MiB):
        writer = live.open_upload(upload_id, offset)
        writer.write(b"x" * size)
        writer.close()
        offset += size
        sizes = [s.size for s in live._segments(upload_id)]
        assert sum(sizes) == offset
        assert all(s >= MIN_PART_SIZE for s in sizes[:-1]), sizes


def test_listings_for_the_garbage_collector(live):
    blob = b"listed blob"
    live.put_blob(digest_of(blob), blob)
    upload_id = str(uuid.uuid4())
    writer = live.open_upload(upload_id, 0)
    writer.write(b"z" * 100)
    writer.close()
    dangling = str(uuid.uuid4())  # only an unfinished multipart upload (a crashed writer)
    writer = live.open_upload(dangling, 0)
    writer.write(b"y" * (9 * MiB))
    assert [d for d, _ in live.iter_blob_digests()] == [digest_of(blob)]
    assert sorted(u for u, _ in live.iter_upload_ids()) == sorted([upload_id, dangling])
    assert all(t > 0 for _, t in live.iter_upload_ids())
    assert live.abort_stale_multipart_uploads(older_than=3600) == 0
    assert live.abort_stale_multipart_uploads(older_than=-60) == 1
    assert [u for u, _ in live.iter_upload_ids()] == [upload_id]


def test_presigned_url_on_another_endpoint(live, s3_server, monkeypatch):
    """Clients may reach the object store by another name than crossreg does."""
    monkeypatch.setenv("CROSSREG_S3_PRESIGN_ENDPOINT_URL", f"http://localhost:{s3_server.port}")
    store = S3BlobStore.from_url(f"s3://{live.bucket}/{live.prefix}")
    data = b"presigned"
    store.put_blob(digest_of(data), data)
    url = store.locate_blob(digest_of(data)).url
    assert url.startswith(f"http://localhost:{s3_server.port}/")
    assert httpx.get(url).content == data
    tampered = url.replace(digest_of(data)[7:], digest_of(b"other")[7:])
    assert httpx.get(tampered).status_code == 403


@pytest.mark.parametrize("stored,verified", [(9 * MiB, 6 * MiB + 5), (9 * MiB, 3 * MiB), (300, 100), (300, 0)])
def test_commit_only_the_verified_bytes(live, stored, verified):
    """Bytes stored past the size the caller verified (a crash after storing a chunk, before
    recording it) stay out of the blob when the caller passes that size."""
    data = bytes(range(256)) * (stored // 256) + b"x" * (stored % 256)
    upload_id = str(uuid.uuid4())
    first = min(6 * MiB, stored)
    for start, end in ((0, first), (first, stored)):
        if end > start:
            writer = live.open_upload(upload_id, start)
            writer.write(data[start:end])
            writer.close()
    digest = digest_of(data[:verified])
    assert live.commit_upload(upload_id, digest, verified) == verified
    assert b"".join(live.read_blob(digest)) == data[:verified]
    assert live.upload_size(upload_id) == 0
    with pytest.raises(UploadNotFound):  # more than was stored
        other = str(uuid.uuid4())
        writer = live.open_upload(other, 0)
        writer.write(b"abc")
        writer.close()
        live.commit_upload(other, digest_of(b"abcd"), 4)
