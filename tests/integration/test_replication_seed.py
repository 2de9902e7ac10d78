"""The seed scenario end to end, as users do it: the AWS CLI for configuration, skopeo for
pushing and pulling. The model provider replicates `breast-cancer-classifier` into the data
owner's account; the owner grants permission with the console's cross-account statement."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from crossreg.iam.statements import replication_statement, merge_statement
from tests.conftest import require_tool
from tests.support.images import build_image_layout, build_multiarch_layout

pytestmark = pytest.mark.integration
REGION = "us-east-1"
REPO = "breast-cancer-classifier"


def aws_json(server, account, *args):
    return json.loads(server.aws(account, "ecr", *args).stdout or "{}")


def skopeo_copy(server, account, src: str, dest: str, *extra: str) -> None:
    require_tool("skopeo")
    password = server.password(account)
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                    *extra, src, dest], check=True, capture_output=True, text=True)


def wait_status(server, account, repo, digest, want=("COMPLETE", "FAILED"), timeout=20.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        out = aws_json(server, account, "describe-image-replication-status", "--repository-name", repo,
                       "--image-id", f"imageDigest={digest}")
        statuses = out["replicationStatuses"]
        if statuses and all(s["status"] in want for s in statuses):
            return statuses
        if time.time() > deadline:
            raise AssertionError(f"replication did not settle: {statuses}")
        time.sleep(0.1)


def seed_rule(owner_id: str) -> str:
    return json.dumps({"rules": [{
        "destinations": [{"region": REGION, "registryId": owner_id}],
        "repositoryFilters": [{"filter": REPO, "filterType": "PREFIX_MATCH"}]}]})


def owner_policy(provider_id: str, owner_id: str, actions=None) -> str:
    statement = replication_statement("ReplicationAccessCrossAccount", [provider_id], REGION, owner_id)
    if actions is not None:
        statement["Action"] = actions
    return merge_statement(None, statement)


@pytest.fixture(scope="module")
def configured(server, provider, owner):
    """Both parties' seed steps, in the order of the workshop."""
    aws_json(server, provider, "create-repository", "--repository-name", REPO)
    aws_json(server, provider, "create-repository", "--repository-name", "internal-tools")
    aws_json(server, provider, "put-replication-configuration", "--replication-configuration", seed_rule(owner.account_id))
    aws_json(server, owner, "put-registry-policy", "--policy-text", owner_policy(provider.account_id, owner.account_id))
    return True


def test_seed_push_appears_in_owner_registry(server, provider, owner, configured, tmp_path):
    image = build_image_layout(tmp_path / "img", tag="latest_eif", layers=3, layer_size=64 * 1024, seed=11)
    dest = f"docker://{server.host}/{provider.account_id}/{REGION}/{REPO}:latest_eif"
    skopeo_copy(server, provider, image.ref, dest)

    statuses = wait_status(server, provider, REPO, image.manifest_digest)
    assert statuses == [{"region": REGION, "registryId": owner.account_id, "status": "COMPLETE"}]

    # The owner's registry now has the repository (created by replication) and the image.
    repos = aws_json(server, owner, "describe-repositories")["repositories"]
    assert [r["repositoryName"] for r in repos] == [REPO]
    images = aws_json(server, owner, "describe-images", "--repository-name", REPO)["imageDetails"]
    assert [(i["imageDigest"], i["imageTags"]) for i in images] == [(image.manifest_digest, ["latest_eif"])]

    # ...and the owner can pull it with its own credentials; the bytes are the provider's.
    out = tmp_path / "pulled"
    password = server.password(owner)
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
                    f"docker://{server.host}/{owner.account_id}/{REGION}/{REPO}:latest_eif", f"oci:{out}:x"],
                   check=True, capture_output=True)
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest
    for digest in image.blob_digests:
        assert (out / "blobs" / "sha256" / digest.split(":")[1]).exists()


def test_other_repositories_do_not_replicate(server, provider, owner, configured, tmp_path):
    image = build_image_layout(tmp_path / "img", tag="v1", seed=12)
    skopeo_copy(server, provider, image.ref, f"docker://{server.host}/{provider.account_id}/{REGION}/internal-tools:v1")
    out = aws_json(server, provider, "describe-image-replication-status", "--repository-name", "internal-tools",
                   "--image-id", f"imageTag=v1")
    assert out["replicationStatuses"] == []
    names = [r["repositoryName"] for r in aws_json(server, owner, "describe-repositories")["repositories"]]
    assert "internal-tools" not in names


def test_multiarch_index_replicates_with_children(server, provider, owner, configured, tmp_path):
    index = build_multiarch_layout(tmp_path / "multi", tag="multi")
    skopeo_copy(server, provider, index.ref,
                f"docker://{server.host}/{provider.account_id}/{REGION}/{REPO}:multi", "--all")
    wait_status(server, provider, REPO, index.manifest_digest, want=("COMPLETE",))
    owner_images = {i["imageDigest"] for i in
                    aws_json(server, owner, "describe-images", "--repository-name", REPO)["imageDetails"]}
    assert index.manifest_digest in owner_images
    assert set(index.child_digests) <= owner_images


def test_new_tag_on_existing_digest_replicates(server, provider, owner, configured, tmp_path):
    image = build_image_layout(tmp_path / "img", tag="v2", seed=13)
    src = f"docker://{server.host}/{provider.account_id}/{REGION}/{REPO}"
    skopeo_copy(server, provider, image.ref, f"{src}:v2")
    wait_status(server, provider, REPO, image.manifest_digest)
    # re-tag the same digest: a push of its own, so it replicates the tag
    manifest = aws_json(server, provider, "batch-get-image", "--repository-name", REPO,
                        "--image-ids", "imageTag=v2")["images"][0]["imageManifest"]
    aws_json(server, provider, "put-image", "--repository-name", REPO, "--image-tag", "stable",
             "--image-manifest", manifest)
    deadline = time.time() + 10
    while time.time() < deadline:
        ids = aws_json(server, owner, "list-images", "--repository-name", REPO)["imageIds"]
        if {"imageDigest": image.manifest_digest, "imageTag": "stable"} in ids:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the new tag did not replicate")


def test_replicated_writes_do_not_chain(server, provider, owner, configured, tmp_path):
    """The owner also replicates onwards (owner -> provider in another region): an image that
    reached the owner by replication must not travel on."""
    aws_json(server, owner, "put-replication-configuration", "--replication-configuration", json.dumps(
        {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": owner.account_id}]}]}))
    try:
        image = build_image_layout(tmp_path / "img", tag="chain", seed=14)
        skopeo_copy(server, provider, image.ref, f"docker://{server.host}/{provider.account_id}/{REGION}/{REPO}:chain")
        wait_status(server, provider, REPO, image.manifest_digest)
        out = aws_json(server, owner, "describe-image-replication-status", "--repository-name", REPO,
                       "--image-id", "imageTag=chain")
        assert out["replicationStatuses"] == []
        eu = server.aws(owner, "ecr", "describe-repositories", region="eu-west-1")
        assert json.loads(eu.stdout)["repositories"] == []
    finally:
        aws_json(server, owner, "put-replication-configuration", "--replication-configuration", '{"rules": []}')
