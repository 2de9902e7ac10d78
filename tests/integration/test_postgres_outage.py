"""PostgreSQL unavailable for a while: clear 503s with Retry-After on the OCI API and
ServerException (503, Retry-After) on the ECR API -- never a 500 --, nothing half-written, and
service back without any operator action once the database returns. Also: every connection
of the pool killed under the server's feet is replaced transparently."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

import botocore.config
import botocore.exceptions
import httpx
import pytest

from tests.support.deployment import REGION, OciClient
from tests.support.images import build_image
from tests.support.postgres import PostgresCluster, create_database, find_bindir
from tests.support.server import new_server

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]


@pytest.fixture
def cluster():
    """A PostgreSQL server of this test's own, so that stopping it disturbs no other test."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it)")
    c = PostgresCluster(tempfile.mkdtemp(prefix="crossreg-pg-outage-"))
    try:
        c.start()
    except Exception as exc:
        c.destroy()
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    yield c
    c.destroy()


def _no_retry_ecr(server, account):
    import boto3

    return boto3.client("ecr", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=account.access_key_id,
                        aws_secret_access_key=account.secret_access_key,
                        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_database_outage_gives_503_then_recovers_by_itself(tmp_path, cluster):
    srv = new_server(tmp_path, CROSSREG_DATABASE_URL=create_database(cluster.url))
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    try:
        ecr = _no_retry_ecr(srv, provider)
        ecr.create_repository(repositoryName="app")
        client = OciClient(srv.password(provider), timeout=30)
        base = client.base(srv, provider, "app")
        first = build_image(layers=2, layer_size=4096, seed=1)
        assert client.push_image([srv], provider, "app", first, "v1").status_code == 201
        # image 2: blobs uploaded before the outage, manifest pushed during it
        second = build_image(layers=2, layer_size=4096, seed=2)
        for blob in (second.config, *second.layers):
            client.push_blob_chunked([srv], provider, "app", blob)
        # an upload in progress across the outage
        location = client.http.post(f"{base}/blobs/uploads/").headers["Location"]
        part1 = os.urandom(10_000)
        assert client.http.patch(f"{srv.url}{location}", content=part1).status_code == 202

        cluster.stop("fast")
        deadline = time.time() + 4
        rounds = 0
        while time.time() < deadline or rounds < 2:
            rounds += 1
            for method, url, kwargs in [
                ("GET", f"{base}/manifests/v1", {}),
                ("GET", f"{base}/blobs/{first.layer_digests[0]}", {}),
                ("GET", f"{base}/tags/list", {}),
                ("PATCH", f"{srv.url}{location}", {"content": b"lost" * 100}),
                ("PUT", f"{base}/manifests/v2", {"content": second.manifest, "headers": {
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json"}}),
                ("POST", f"{base}/blobs/uploads/", {}),
            ]:
                r = client.http.request(method, url, **kwargs)
                assert r.status_code == 503, (method, url, r.status_code, r.text)
                assert r.headers.get("Retry-After", "").isdigit()
                assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
            with pytest.raises(botocore.exceptions.ClientError) as info:
                ecr.describe_images(repositoryName="app")
            err = info.value.response
            assert err["Error"]["Code"] == "ServerException"
            assert err["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after", "").isdigit()
            with pytest.raises(botocore.exceptions.ClientError) as info:
                ecr.create_repository(repositoryName="during-outage")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert httpx.get(f"{srv.url}/healthz").status_code == 200  # the process itself is fine
            time.sleep(0.3)

        cluster.start()
        # no restart, no operator: the next requests succeed
        deadline = time.time() + 30
        while True:
            r = client.http.get(f"{base}/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
            if r.status_code == 200 or time.time() > deadline:
                break
            assert r.status_code == 503
            time.sleep(0.2)
        assert r.status_code == 200
        client.verify_image(srv, provider, "app", "v1", first)
        # nothing of what was refused happened
        assert client.http.get(f"{base}/manifests/v2").status_code == 404
        names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
        assert names == ["app"]
        status = client.http.get(f"{srv.url}{location}")
        assert status.status_code == 204 and status.headers["Range"] == f"0-{len(part1) - 1}"
        # and everything carries on where it was
        part2 = os.urandom(5000)
        r = client.http.put(f"{srv.url}{location}", content=part2, params={
            "digest": "sha256:" + hashlib.sha256(part1 + part2).hexdigest()})
        assert r.status_code == 201, r.text
        r = client.http.put(f"{base}/manifests/v2", content=second.manifest,
                            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text
        client.verify_image(srv, provider, "app", "v2", second)
        assert {i["imageTag"] for i in ecr.list_images(repositoryName="app")["imageIds"]} == {"v1", "v2"}

        # every pooled connection killed by the database: replaced before use, no error at all
        import psycopg

        with psycopg.connect(cluster.url, autocommit=True) as admin:
            killed = admin.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                   "where application_name = 'crossreg'").fetchone()[0]
        assert killed >= 1
        for _ in range(10):
            client.verify_image(srv, provider, "app", "v1", first)
            ecr.describe_images(repositoryName="app")
        client.close()
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert "Exception in ASGI application" not in log, log[-3000:]
