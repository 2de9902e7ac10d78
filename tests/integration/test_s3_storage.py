"""A real crossreg server on S3 storage (CROSSREG_STORAGE_URL=s3://...; Ceph's radosgw, see
tests/support/s3server.py): skopeo pushes and pulls, a chunked upload continued by a second
crossreg process on the same database and bucket, blob downloads redirected to pre-signed URLs,
replication within the server, and kill -9 in the middle of a chunk."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
import uuid

import httpx
import pytest

from tests.conftest import require_tool
from tests.integration.test_replication_seed import REPO, aws_json, owner_policy, seed_rule, skopeo_copy, wait_status
from tests.support.images import build_image, build_image_layout
from tests.support.server import Server, free_port, new_server

pytestmark = pytest.mark.integration
REGION = "us-east-1"
MiB = 1 << 20


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"registry-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory, s3_server, s3_bucket, prefix):
    """crossreg on S3, blob GETs redirected to pre-signed URLs. The URLs name the object store
    `localhost` while crossreg is 127.0.0.1, as two hosts would be: clients then do not send
    their registry credentials along to the object store."""
    server = new_server(tmp_path_factory.mktemp("crossreg-s3"), **s3_server.env(),
                        CROSSREG_STORAGE_URL=f"s3://{s3_bucket}/{prefix}", CROSSREG_S3_REDIRECT="1",
                        CROSSREG_S3_PRESIGN_ENDPOINT_URL=f"http://localhost:{s3_server.port}")
    server.create_account("provider", "111111111111")
    server.create_account("owner", "222222222222")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def peer(srv):
    """A second crossreg process on the same database and bucket, streaming blobs itself."""
    env = {**srv.env, "CROSSREG_S3_REDIRECT": "0", "CROSSREG_EMBEDDED_WORKERS": "0"}
    server = Server(data_dir=srv.data_dir, port=free_port(), env=env, accounts=dict(srv.accounts))
    server.start()
    yield server
    server.stop()


def stored_objects(s3_server, bucket: str, prefix: str) -> dict[str, int]:
    client = s3_server.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", ()):
            found[obj["Key"][len(prefix) + 1:]] = obj["Size"]
    return found


def assert_no_upload_leftovers(s3_server, bucket: str, prefix: str) -> None:
    assert not [k for k in stored_objects(s3_server, bucket, prefix) if k.startswith("uploads/")]
    assert not s3_server.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads")


def skopeo_pull(server, account, repo: str, tag: str, out) -> dict:
    require_tool("skopeo")
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds",
                    f"AWS:{server.password(account)}",
                    f"docker://{server.host}/{account.account_id}/{REGION}/{repo}:{tag}", f"oci:{out}:x"],
                   check=True, capture_output=True, text=True)
    return json.loads((out / "index.json").read_text())


def assert_pulled(out, image) -> None:
    for digest in image.blob_digests:
        data = (out / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


def test_skopeo_push_and_pull(srv, peer, s3_server, s3_bucket, prefix, tmp_path):
    provider = srv.accounts["provider"]
    srv.boto3(provider).create_repository(repositoryName="on-s3")
    # layers of 7 MiB: each is stored as a multipart segment, then composed
    image = build_image_layout(tmp_path / "img", tag="v1", layers=2, layer_size=7 * MiB, seed=21)
    skopeo_copy(srv, provider, image.ref, f"docker://{srv.host}/{provider.account_id}/{REGION}/on-s3:v1")

    stored = stored_objects(s3_server, s3_bucket, prefix)
    for digest, data in image.blobs.items():
        assert stored[f"blobs/sha256/{digest.split(':')[1]}"] == len(data)
    assert_no_upload_leftovers(s3_server, s3_bucket, prefix)

    # pulled through pre-signed URLs from one process, streamed by the other
    for server, name in ((srv, "redirected"), (peer, "streamed")):
        index = skopeo_pull(server, provider, "on-s3", "v1", tmp_path / name)
        assert index["manifests"][0]["digest"] == image.manifest_digest
        assert_pulled(tmp_path / name, image)


def test_chunked_upload_continued_by_another_process(srv, peer, s3_server, s3_bucket, prefix):
    provider = srv.accounts["provider"]
    srv.boto3(provider).create_repository(repositoryName="chunked")
    path = f"/v2/{provider.account_id}/{REGION}/chunked"
    data = hashlib.sha256(b"chunked").digest() * (9 * MiB // 32) + b"tail"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    chunks = [data[:3 * MiB], data[3 * MiB:7 * MiB], data[7 * MiB:7 * MiB + 10], data[7 * MiB + 10:]]
    auth = srv.basic_auth(provider)
    octets = {"Content-Type": "application/octet-stream"}
    with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as a, \
            httpx.Client(base_url=peer.url, headers=auth, timeout=60) as b:
        location = a.post(f"{path}/blobs/uploads/").headers["Location"]
        offset = 0
        for i, chunk in enumerate(chunks[:-1]):
            client = (a, b)[i % 2]  # each chunk on the other process
            r = client.patch(location, content=chunk, headers={
                **octets, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            assert r.status_code == 202, r.text
            offset += len(chunk)
            assert r.headers["Range"] == f"0-{offset - 1}"
            location = r.headers["Location"]
        assert a.get(location).headers["Range"] == f"0-{offset - 1}"
        r = b.put(location, params={"digest": digest}, content=chunks[-1], headers=octets)
        assert r.status_code == 201, r.text
        assert_no_upload_leftovers(s3_server, s3_bucket, prefix)

        # GET on the redirecting process: 307 to a pre-signed URL of the object store
        r = a.get(f"{path}/blobs/{digest}")
        assert r.status_code == 307 and r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Location"].startswith(f"http://localhost:{s3_server.port}/")
        fetched = httpx.get(r.headers["Location"])
        assert fetched.status_code == 200 and fetched.content == data
        # a client following the redirect with a Range gets the range from the object store
        r = a.get(f"{path}/blobs/{digest}", headers={"Range": "bytes=100-199"}, follow_redirects=True)
        assert r.status_code == 206 and r.content == data[100:200]
        # HEAD stays on crossreg
        r = a.head(f"{path}/blobs/{digest}")
        assert r.status_code == 200 and r.headers["Content-Length"] == str(len(data))

        # the other process streams from S3, ranges included
        r = b.get(f"{path}/blobs/{digest}")
        assert r.status_code == 200 and r.content == data
        r = b.get(f"{path}/blobs/{digest}", headers={"Range": f"bytes={5 * MiB}-{5 * MiB + 99}"})
        assert r.status_code == 206 and r.content == data[5 * MiB:5 * MiB + 100]
        # a blob of another repository is not reachable through this one, redirect or not
        srv.boto3(provider).create_repository(repositoryName="other")
        other = f"/v2/{provider.account_id}/{REGION}/other"
        assert a.get(f"{other}/blobs/{digest}").status_code == 404


def test_replication_within_the_server(srv, s3_server, s3_bucket, prefix, tmp_path):
    provider, owner = srv.accounts["provider"], srv.accounts["owner"]
    aws_json(srv, provider, "create-repository", "--repository-name", REPO)
    aws_json(srv, provider, "put-replication-configuration", "--replication-configuration",
             seed_rule(owner.account_id))
    aws_json(srv, owner, "put-registry-policy", "--policy-text",
             owner_policy(provider.account_id, owner.account_id))
    image = build_image_layout(tmp_path / "img", tag="latest_eif", layers=3, layer_size=2 * MiB, seed=22)
    skopeo_copy(srv, provider, image.ref, f"docker://{srv.host}/{provider.account_id}/{REGION}/{REPO}:latest_eif")
    statuses = wait_status(srv, provider, REPO, image.manifest_digest)
    assert statuses == [{"region": REGION, "registryId": owner.account_id, "status": "COMPLETE"}]

    index = skopeo_pull(srv, owner, REPO, "latest_eif", tmp_path / "pulled")
    assert index["manifests"][0]["digest"] == image.manifest_digest
    assert_pulled(tmp_path / "pulled", image)
    # one storage: the replica shares the provider's objects
    stored = stored_objects(s3_server, s3_bucket, prefix)
    for digest in image.blob_digests:
        assert f"blobs/sha256/{digest.split(':')[1]}" in stored
    assert_no_upload_leftovers(s3_server, s3_bucket, prefix)


def test_garbage_collection_in_the_bucket(srv, s3_server, s3_bucket, prefix):
    """`crossreg gc` on S3 storage: a layer no manifest references is deleted from the bucket,
    so are objects the database does not know; the images' blobs stay."""
    s3 = s3_server.client()
    orphan = b"an object the database never heard of"
    orphan_key = f"blobs/sha256/{hashlib.sha256(orphan).hexdigest()}"
    s3.put_object(Bucket=s3_bucket, Key=f"{prefix}/{orphan_key}", Body=orphan)
    stray_upload = f"uploads/{uuid.uuid4()}/{0:016x}"
    s3.put_object(Bucket=s3_bucket, Key=f"{prefix}/{stray_upload}", Body=b"left by a crash")
    chunked = hashlib.sha256(b"chunked").digest() * (9 * MiB // 32) + b"tail"  # (test above)
    chunked_key = f"blobs/sha256/{hashlib.sha256(chunked).hexdigest()}"
    assert chunked_key in stored_objects(s3_server, s3_bucket, prefix)

    report = json.loads(srv.cli("gc", "--grace-period", "0", "--list").stdout)
    assert "sha256:" + hashlib.sha256(chunked).hexdigest() in report["digests"]
    assert report["orphan_files_deleted"] == 2
    stored = stored_objects(s3_server, s3_bucket, prefix)
    assert chunked_key not in stored and orphan_key not in stored and stray_upload not in stored
    image = build_image(layers=2, layer_size=7 * MiB, seed=21)  # pushed by the first test
    for digest in image.blob_digests:
        assert f"blobs/sha256/{digest.split(':')[1]}" in stored


def test_kill_9_mid_chunk_keeps_acknowledged_bytes(tmp_path, s3_server, s3_bucket):
    """A server killed while a large chunk streams into a multipart upload: after a restart the
    upload holds exactly the acknowledged bytes, continues, and commits the right blob; the
    crashed writer's multipart upload is cleaned up by the commit."""
    prefix = f"crash-{uuid.uuid4().hex[:10]}"
    server = new_server(tmp_path, **s3_server.env(), CROSSREG_STORAGE_URL=f"s3://{s3_bucket}/{prefix}")
    provider = server.create_account("provider", "111111111111")
    server.start()
    path = f"/v2/{provider.account_id}/{REGION}/crash"
    octets = {"Content-Type": "application/octet-stream"}
    try:
        server.boto3(provider).create_repository(repositoryName="crash")
        auth = server.basic_auth(provider)
        first = hashlib.sha256(b"first").digest() * (6 * MiB // 32)
        with httpx.Client(base_url=server.url, headers=auth, timeout=60) as client:
            location = client.post(f"{path}/blobs/uploads/").headers["Location"]
            r = client.patch(location, content=first, headers=octets)
            assert r.headers["Range"] == f"0-{len(first) - 1}"
            location = r.headers["Location"]
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\n"
                      f"Authorization: {auth['Authorization']}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {32 * MiB}\r\n\r\n").encode() + b"x" * (20 * MiB))
        s3 = s3_server.client()
        deadline = time.time() + 30
        while not s3.list_multipart_uploads(Bucket=s3_bucket, Prefix=prefix + "/").get("Uploads"):
            assert time.time() < deadline, "the server never started sending parts"
            time.sleep(0.1)
        server.kill()
        sock.close()
        server.start()
        rest = b"rest" * 1000
        with httpx.Client(base_url=server.url, headers=server.basic_auth(provider), timeout=60) as client:
            status = client.get(location)
            assert status.status_code == 204 and status.headers["Range"] == f"0-{len(first) - 1}"
            digest = "sha256:" + hashlib.sha256(first + rest).hexdigest()
            r = client.put(location, params={"digest": digest}, content=rest, headers=octets)
            assert r.status_code == 201, r.text
            r = client.get(f"{path}/blobs/{digest}")
            assert r.status_code == 200 and r.content == first + rest
        assert_no_upload_leftovers(s3_server, s3_bucket, prefix)
    finally:
        server.stop()
