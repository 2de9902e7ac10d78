"""Replication permissions, immutable destinations, deletion sync and backfill, end to end with
the AWS CLI and skopeo against a real server."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_replication_seed import (
    REGION, aws_json, owner_policy, seed_rule, skopeo_copy, wait_status,
)
from tests.support.images import build_image_layout

pytestmark = pytest.mark.integration


def push(server, account, tmp_path, repo, tag, seed):
    image = build_image_layout(tmp_path / f"img-{seed}", tag=tag, seed=seed, layer_size=2048)
    skopeo_copy(server, account, image.ref, f"docker://{server.host}/{account.account_id}/{REGION}/{repo}:{tag}")
    return image


def owner_repos(server, owner):
    return [r["repositoryName"] for r in aws_json(server, owner, "describe-repositories")["repositories"]]


def test_without_registry_policy_replication_fails_and_owner_is_untouched(server, provider, owner, tmp_path):
    aws_json(server, provider, "create-repository", "--repository-name", "breast-cancer-classifier")
    aws_json(server, provider, "put-replication-configuration", "--replication-configuration",
             seed_rule(owner.account_id))
    image = push(server, provider, tmp_path, "breast-cancer-classifier", "v1", 21)
    statuses = wait_status(server, provider, "breast-cancer-classifier", image.manifest_digest)
    assert statuses == [{"region": REGION, "registryId": owner.account_id, "status": "FAILED",
                         "failureCode": "DESTINATION_REGISTRY_ACCESS_DENIED"}]
    assert owner_repos(server, owner) == []


def test_policy_without_create_repository_needs_an_existing_repository(server, provider, owner, tmp_path):
    aws_json(server, owner, "put-registry-policy", "--policy-text",
             owner_policy(provider.account_id, owner.account_id, actions=["ecr:ReplicateImage"]))
    image = push(server, provider, tmp_path, "breast-cancer-classifier", "v2", 22)
    statuses = wait_status(server, provider, "breast-cancer-classifier", image.manifest_digest)
    assert statuses[0]["status"] == "FAILED"
    assert statuses[0]["failureCode"] == "DESTINATION_REPOSITORY_NOT_FOUND"
    assert owner_repos(server, owner) == []

    aws_json(server, owner, "create-repository", "--repository-name", "breast-cancer-classifier")
    image = push(server, provider, tmp_path, "breast-cancer-classifier", "v3", 23)
    statuses = wait_status(server, provider, "breast-cancer-classifier", image.manifest_digest)
    assert statuses[0]["status"] == "COMPLETE"
    tags = aws_json(server, owner, "list-images", "--repository-name", "breast-cancer-classifier")["imageIds"]
    assert {"imageDigest": image.manifest_digest, "imageTag": "v3"} in tags


def test_immutable_tag_at_destination_is_skipped_but_image_replicates(server, provider, owner, tmp_path):
    aws_json(server, owner, "put-image-tag-mutability", "--repository-name", "breast-cancer-classifier",
             "--image-tag-mutability", "IMMUTABLE")
    first = push(server, provider, tmp_path, "breast-cancer-classifier", "release", 24)
    wait_status(server, provider, "breast-cancer-classifier", first.manifest_digest, want=("COMPLETE",))
    second = push(server, provider, tmp_path, "breast-cancer-classifier", "release", 25)  # tag moves at source
    statuses = wait_status(server, provider, "breast-cancer-classifier", second.manifest_digest)
    assert statuses[0]["status"] == "COMPLETE"
    ids = aws_json(server, owner, "list-images", "--repository-name", "breast-cancer-classifier")["imageIds"]
    assert {"imageDigest": first.manifest_digest, "imageTag": "release"} in ids  # not overwritten
    assert {"imageDigest": second.manifest_digest} in ids  # replicated, untagged


def test_delete_replication_propagates_tag_removal_and_deletion(server, provider, owner, tmp_path):
    aws_json(server, owner, "put-image-tag-mutability", "--repository-name", "breast-cancer-classifier",
             "--image-tag-mutability", "MUTABLE")
    config = json.loads(seed_rule(owner.account_id))
    config["rules"][0]["deleteReplication"] = {"enabled": True}
    # boto3, because the AWS CLI release installed here predates deleteReplication in its model
    server.boto3(provider).put_replication_configuration(replicationConfiguration=config)
    image = push(server, provider, tmp_path, "breast-cancer-classifier", "tmp", 26)
    wait_status(server, provider, "breast-cancer-classifier", image.manifest_digest, want=("COMPLETE",))
    aws_json(server, provider, "batch-delete-image", "--repository-name", "breast-cancer-classifier",
             "--image-ids", "imageTag=tmp")
    deadline = time.time() + 10
    while time.time() < deadline:
        digests = {i["imageDigest"] for i in aws_json(
            server, owner, "list-images", "--repository-name", "breast-cancer-classifier")["imageIds"]}
        if image.manifest_digest not in digests:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the deletion did not replicate")


def test_backfill_replicates_images_pushed_before_the_configuration(server, provider, owner, tmp_path):
    aws_json(server, owner, "put-registry-policy", "--policy-text",
             owner_policy(provider.account_id, owner.account_id))
    aws_json(server, provider, "create-repository", "--repository-name", "breast-cancer-classifier-legacy")
    aws_json(server, provider, "put-replication-configuration", "--replication-configuration", '{"rules": []}')
    old = push(server, provider, tmp_path, "breast-cancer-classifier-legacy", "old", 27)
    aws_json(server, provider, "put-replication-configuration", "--replication-configuration",
             seed_rule(owner.account_id))
    # pushed before the configuration: not replicated by itself
    out = aws_json(server, provider, "describe-image-replication-status", "--repository-name",
                   "breast-cancer-classifier-legacy", "--image-id", "imageTag=old")
    assert out["replicationStatuses"] == []
    # boto3: backfill is newer than the AWS CLI release installed here
    ecr = server.boto3(provider)
    started = ecr.start_replication_backfill(destination={"region": REGION, "registryId": owner.account_id})
    backfill_id = started["replicationBackfillId"]
    deadline = time.time() + 20
    while True:
        result = ecr.describe_replication_backfill_results(replicationBackfillId=backfill_id)
        if result["status"] in ("COMPLETE", "FAILED") or time.time() > deadline:
            break
        time.sleep(0.2)
    assert result["status"] == "COMPLETE", result
    assert result["progress"]["failedReplicationCount"] == 0
    assert old.manifest_digest in {r["imageId"]["imageDigest"] for r in result["results"]}
    assert [b["replicationBackfillId"] for b in ecr.list_replication_backfills()["backfills"]] == [backfill_id]
    with pytest.raises(ecr.exceptions.ReplicationBackfillInvalidStatusException):
        ecr.stop_replication_backfill(replicationBackfillId=backfill_id)
    ids = aws_json(server, owner, "list-images", "--repository-name", "breast-cancer-classifier-legacy")["imageIds"]
    assert {"imageDigest": old.manifest_digest, "imageTag": "old"} in ids
