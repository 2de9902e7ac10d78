"""Replication survives crashes and unreachable destinations: tasks are durable, leases expire,
each task ends COMPLETE exactly once. Also cross-region replication between two separate
crossreg servers (one per region, each with its own database and storage)."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_replication_seed import REGION, aws_json, owner_policy, seed_rule, skopeo_copy, wait_status
from tests.support.images import build_image, build_image_layout, write_image
from tests.support.server import new_server

pytestmark = pytest.mark.integration


def tasks(server) -> list[dict]:
    return server.sql("select * from replication_tasks order by id")


def replication_events(server) -> list[dict]:
    rows = server.sql("select body from events where detail_type = 'ECR Replication Action'")
    return [json.loads(r["body"]) for r in rows]


def test_kill_9_with_pending_and_half_done_replications_resumes_exactly_once(tmp_path):
    # First life: workers off, so the pushes' tasks are recorded but not run.
    srv = new_server(tmp_path, CROSSREG_EMBEDDED_WORKERS="0")
    provider = srv.create_account("provider", "111111111111")
    owner = srv.create_account("owner", "222222222222")
    srv.start()
    try:
        aws_json(srv, provider, "create-repository", "--repository-name", "breast-cancer-classifier")
        aws_json(srv, provider, "put-replication-configuration", "--replication-configuration",
                 seed_rule(owner.account_id))
        aws_json(srv, owner, "put-registry-policy", "--policy-text", owner_policy(provider.account_id, owner.account_id))
        images = []
        for i in range(3):
            image = build_image_layout(tmp_path / f"img{i}", tag=f"v{i}", seed=40 + i, layer_size=4096)
            skopeo_copy(srv, provider, image.ref,
                        f"docker://{srv.host}/{provider.account_id}/{REGION}/breast-cancer-classifier:v{i}")
            images.append(image)
        statuses = aws_json(srv, provider, "describe-image-replication-status", "--repository-name",
                            "breast-cancer-classifier", "--image-id", "imageTag=v0")["replicationStatuses"]
        assert statuses == [{"region": REGION, "registryId": owner.account_id, "status": "IN_PROGRESS"}]
    finally:
        srv.kill()  # kill -9
    # One task was mid-copy when its worker died: leased to a process that no longer exists.
    srv.sql("update replication_tasks set status='IN_PROGRESS', lease_owner='dead-worker', attempts=1, "
            "lease_expires_at=:t where id = (select min(id) from replication_tasks)", {"t": time.time() + 2})

    srv.env.pop("CROSSREG_EMBEDDED_WORKERS")
    srv.start()
    try:
        for image in images:
            assert wait_status(srv, provider, "breast-cancer-classifier", image.manifest_digest, timeout=30) == [
                {"region": REGION, "registryId": owner.account_id, "status": "COMPLETE"}]
        rows = tasks(srv)
        assert len(rows) == 3 and {r["status"] for r in rows} == {"COMPLETE"}
        assert rows[0]["attempts"] == 2  # the dead worker's attempt, then the resumed one
        # exactly one outcome recorded per task, however often it was attempted
        assert len(replication_events(srv)) == 3
        ids = aws_json(srv, owner, "list-images", "--repository-name", "breast-cancer-classifier")["imageIds"]
        assert {i["imageDigest"] for i in ids} == {im.manifest_digest for im in images}
    finally:
        srv.stop()


def test_cross_region_between_two_servers_copies_only_missing_blobs_and_retries(tmp_path):
    secret = "peer-secret-for-tests"
    west = new_server(tmp_path / "west", CROSSREG_REGIONS="eu-west-1", CROSSREG_PEER_SECRET=secret)
    east = new_server(tmp_path / "east", CROSSREG_REGIONS=REGION, CROSSREG_PEER_SECRET=secret,
                      CROSSREG_REGION_ENDPOINTS=f"eu-west-1=http://127.0.0.1:{west.port}")
    provider = east.create_account("provider", "111111111111")
    west_provider = west.create_account("provider", "111111111111")  # the same account, in the other region
    east.start()
    try:
        aws_json(east, provider, "create-repository", "--repository-name", "models/classifier")
        aws_json(east, provider, "put-replication-configuration", "--replication-configuration", json.dumps(
            {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": provider.account_id}]}]}))
        base = build_image(layers=3, layer_size=256 * 1024, seed=50)
        write_image(tmp_path / "img1", base, "v1")
        skopeo_copy(east, provider, f"oci:{tmp_path / 'img1'}:v1",
                    f"docker://{east.host}/{provider.account_id}/{REGION}/models/classifier:v1")
        # The west server is down: the replication waits and retries, it does not fail.
        time.sleep(1.5)
        statuses = aws_json(east, provider, "describe-image-replication-status", "--repository-name",
                            "models/classifier", "--image-id", "imageTag=v1")["replicationStatuses"]
        assert statuses == [{"region": "eu-west-1", "registryId": provider.account_id, "status": "IN_PROGRESS"}]
        west.start()
        assert wait_status(east, provider, "models/classifier", base.manifest_digest, timeout=60) == [
            {"region": "eu-west-1", "registryId": provider.account_id, "status": "COMPLETE"}]
        first = tasks(east)[-1]
        assert first["bytes_copied"] == sum(len(base.blobs[d]) for d in base.blob_digests)

        # A second image sharing two of three layers: only what the west region lacks travels.
        # (same seed, one more layer: the first three layers are byte-identical)
        second = build_image(layers=4, layer_size=256 * 1024, seed=50)
        assert set(base.layer_digests) < set(second.layer_digests)
        write_image(tmp_path / "img2", second, "v2")
        skopeo_copy(east, provider, f"oci:{tmp_path / 'img2'}:v2",
                    f"docker://{east.host}/{provider.account_id}/{REGION}/models/classifier:v2")
        assert wait_status(east, provider, "models/classifier", second.manifest_digest, timeout=30)[0]["status"] == "COMPLETE"
        missing = set(second.blob_digests) - set(base.blob_digests)
        assert tasks(east)[-1]["bytes_copied"] == sum(len(second.blobs[d]) for d in missing)

        # The west server holds the image under the same name, pullable there.
        west_ids = json.loads(west.aws(west_provider, "ecr", "list-images", "--repository-name",
                                       "models/classifier", region="eu-west-1").stdout)["imageIds"]
        assert {"imageDigest": second.manifest_digest, "imageTag": "v2"} in west_ids
    finally:
        east.stop()
        west.stop()
