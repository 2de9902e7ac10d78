"""Object storage unavailable for a while (the S3 gateway killed, the Ceph cluster behind it
intact): requests that need blob bytes get a clear 503 with Retry-After on the OCI API and
ServerException (503, Retry-After) on the ECR API -- never a 500 --, a refused chunk leaves its
upload where it was, nothing half-written becomes visible, and once the gateway is back the same
server process carries on without any operator action."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time

import botocore.config
import botocore.exceptions
import httpx
import pytest

from tests.support.deployment import REGION, OciClient
from tests.support.images import build_image
from tests.support.server import new_server

pytestmark = pytest.mark.integration


@pytest.fixture
def ceph():
    """An object store of this test's own, so that its outage disturbs no other test."""
    from tests.support.s3server import CephS3Server, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.skip(f"Ceph is not installed (missing {', '.join(missing)}; scripts/setup.sh installs it)")
    server = CephS3Server(tempfile.mkdtemp(prefix="crossreg-s3-outage-"))
    server.start()
    yield server
    server.stop()


def _no_retry_ecr(server, account):
    import boto3

    return boto3.client("ecr", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=account.access_key_id,
                        aws_secret_access_key=account.secret_access_key,
                        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def _assert_unavailable(r: httpx.Response, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert r.headers.get("Retry-After", "").isdigit(), (what, r.headers)
    assert r.json()["errors"][0]["code"] == "UNAVAILABLE", (what, r.text)


def _assert_server_exception(call) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    err = info.value.response
    assert err["Error"]["Code"] == "ServerException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after", "").isdigit()


def test_storage_outage_gives_503_then_recovers_by_itself(tmp_path, ceph):
    bucket = ceph.create_bucket("outage")
    # Few, quick S3 retries: the outage is seen within a second or two, not after a minute.
    srv = new_server(tmp_path, **ceph.env(), AWS_MAX_ATTEMPTS="2",
                     CROSSREG_STORAGE_URL=f"s3://{bucket}/registry")
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    try:
        ecr = _no_retry_ecr(srv, provider)
        ecr.create_repository(repositoryName="app")
        client = OciClient(srv.password(provider), timeout=60)
        base = client.base(srv, provider, "app")
        first = build_image(layers=2, layer_size=200_000, seed=1)
        assert client.push_image([srv], provider, "app", first, "v1").status_code == 201
        # an upload in progress across the outage (OCI), and one through the ECR layer API
        location = client.http.post(f"{base}/blobs/uploads/").headers["Location"]
        part1 = os.urandom(100_000)
        assert client.http.patch(f"{srv.url}{location}", content=part1).status_code == 202
        ecr_upload = ecr.initiate_layer_upload(repositoryName="app")["uploadId"]
        ecr_part1 = os.urandom(50_000)
        ecr.upload_layer_part(repositoryName="app", uploadId=ecr_upload, partFirstByte=0,
                              partLastByte=len(ecr_part1) - 1, layerPartBlob=ecr_part1)
        second = build_image(layers=2, layer_size=100_000, seed=2)
        second_layer = second.layers[0]
        second_digest = "sha256:" + hashlib.sha256(second_layer).hexdigest()
        before = {i["imageDigest"] for i in ecr.list_images(repositoryName="app")["imageIds"]}

        ceph.stop_gateway()
        for _ in range(2):
            _assert_unavailable(client.http.get(f"{base}/blobs/{first.layer_digests[0]}"), "GET blob")
            _assert_unavailable(client.http.patch(f"{srv.url}{location}", content=b"lost" * 1000), "PATCH")
            _assert_unavailable(client.http.post(f"{base}/blobs/uploads/", params={"digest": second_digest},
                                                 content=second_layer), "monolithic POST")
            _assert_server_exception(lambda: ecr.upload_layer_part(
                repositoryName="app", uploadId=ecr_upload, partFirstByte=len(ecr_part1),
                partLastByte=len(ecr_part1) + 3, layerPartBlob=b"lost"))
            assert httpx.get(f"{srv.url}/healthz").status_code == 200  # the process itself is fine
            time.sleep(0.3)

        ceph.start_gateway()
        # no restart, no operator: the next requests succeed
        deadline = time.time() + 60
        while True:
            r = client.http.get(f"{base}/blobs/{first.layer_digests[0]}")
            if r.status_code == 200 or time.time() > deadline:
                break
            assert r.status_code == 503, r.text
            time.sleep(0.3)
        assert r.status_code == 200
        client.verify_image(srv, provider, "app", "v1", first)
        # nothing of what was refused happened
        assert client.http.head(f"{base}/blobs/{second_digest}").status_code == 404
        assert {i["imageDigest"] for i in ecr.list_images(repositoryName="app")["imageIds"]} == before
        status = client.http.get(f"{srv.url}{location}")
        assert status.status_code == 204 and status.headers["Range"] == f"0-{len(part1) - 1}"
        # and everything carries on where it was
        part2 = os.urandom(30_000)
        r = client.http.put(f"{srv.url}{location}", content=part2, params={
            "digest": "sha256:" + hashlib.sha256(part1 + part2).hexdigest()})
        assert r.status_code == 201, r.text
        r = client.http.get(f"{base}/blobs/sha256:{hashlib.sha256(part1 + part2).hexdigest()}")
        assert r.status_code == 200 and r.content == part1 + part2
        ecr_part2 = os.urandom(20_000)
        ecr.upload_layer_part(repositoryName="app", uploadId=ecr_upload, partFirstByte=len(ecr_part1),
                              partLastByte=len(ecr_part1) + len(ecr_part2) - 1, layerPartBlob=ecr_part2)
        ecr_digest = "sha256:" + hashlib.sha256(ecr_part1 + ecr_part2).hexdigest()
        done = ecr.complete_layer_upload(repositoryName="app", uploadId=ecr_upload, layerDigests=[ecr_digest])
        assert done["layerDigest"] == ecr_digest
        assert client.push_image([srv], provider, "app", second, "v2").status_code == 201
        client.verify_image(srv, provider, "app", "v2", second)
        client.verify_image(srv, provider, "app", "v1", first)
        client.close()
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert "Exception in ASGI application" not in log, log[-3000:]
