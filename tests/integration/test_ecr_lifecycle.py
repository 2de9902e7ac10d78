"""Lifecycle policies end to end: Put/Get/Delete, previews with paging, and the policy really
running -- expired images disappear from the ECR API and the OCI API, and with
deleteReplication the expiry reaches the replicas -- with unmodified boto3 and the AWS CLI."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from crossreg.lifecycle import runner
from crossreg.services import lifecycle as store
from crossreg.services.models import RepoKey
from tests.integration.test_ecr_support import (
    aws_error, basic_auth, client_error, ecr_push_image, error_of, oci_base, oci_push_image, signed_post,
    unique,
)
from tests.support.images import build_image, build_index

pytestmark = pytest.mark.integration
REGION = "us-east-1"
DAY = 86400


def policy(*rules) -> str:
    return json.dumps({"rules": list(rules)}, indent=2)


def rule(priority, tag_status, count_type="imageCountMoreThan", count_number=1, **selection):
    sel = {"tagStatus": tag_status, "countType": count_type, "countNumber": count_number, **selection}
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    return {"rulePriority": priority, "description": f"rule {priority}", "selection": sel,
            "action": {"type": "expire"}}


KEEP_TWO_V_ONE_UNTAGGED = policy(rule(1, "tagged", count_number=2, tagPrefixList=["v"]),
                                 rule(2, "untagged", count_number=1))


@pytest.fixture(scope="module")
def core(server):
    """crossreg's services on the server's own data, in this process: how tests trigger a
    lifecycle run without waiting for the background schedule."""
    from crossreg.app import build
    from crossreg.config import Settings

    c = build(Settings(data_dir=server.data_dir, database_url=server.database_url), migrate=False)
    yield c
    c.db.dispose()


@pytest.fixture(scope="module")
def ecr(server, provider):
    return server.boto3(provider)


def aws_json(server, account, *args, check=True):
    out = server.aws(account, "ecr", *args, check=check)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def populate(ecr, name, seed, *, tagged=("v1", "v2", "v3", "v4", "v5"), untagged=2) -> dict[str, str]:
    """Push tagged images (oldest first) and untagged ones through ECR; returns name -> digest."""
    digests = {}
    for i, tag in enumerate(tagged):
        digests[tag] = ecr_push_image(ecr, name, build_image(layers=1, layer_size=512, seed=seed + i), tag)["imageId"]["imageDigest"]
        time.sleep(0.01)  # distinct push times
    for j in range(untagged):
        digests[f"untagged{j}"] = ecr_push_image(
            ecr, name, build_image(layers=1, layer_size=512, seed=seed + 100 + j), None)["imageId"]["imageDigest"]
        time.sleep(0.01)
    return digests


def put_policy(ecr, core, account_id, name, text) -> RepoKey:
    """PutLifecyclePolicy, then claim the repository's next run for this test process: the
    server's own background loop (run_due, every minute) then leaves it alone for an hour, so
    the test's apply_policy is the run that expires the images."""
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=text)
    key = RepoKey(account_id, REGION, name)
    (repo, updated_at), = [(r, u) for r, u in store.repositories_with_policies(core.db) if r.key == key]
    assert store.claim_evaluation(core.db, repo, updated_at, time.time(), runner.DEFAULT_INTERVAL), \
        "the server ran the policy first"
    return key


def remaining(ecr, name) -> set[str]:
    return {d["imageDigest"] for p in ecr.get_paginator("describe_images").paginate(repositoryName=name)
            for d in p["imageDetails"]}


# ------------------------------------------------------------------ Put / Get / Delete
def test_put_get_delete_with_the_cli(server, provider):
    name = unique("lc")
    aws_json(server, provider, "create-repository", "--repository-name", name)
    missing = server.aws(provider, "ecr", "get-lifecycle-policy", "--repository-name", name, check=False)
    assert missing.returncode != 0
    assert "LifecyclePolicyNotFoundException" in missing.stderr
    assert (f"Lifecycle policy does not exist for the repository with name '{name}' in the registry "
            f"with id '{provider.account_id}'") in missing.stderr

    put = aws_json(server, provider, "put-lifecycle-policy", "--repository-name", name,
                   "--lifecycle-policy-text", KEEP_TWO_V_ONE_UNTAGGED)
    assert put == {"registryId": provider.account_id, "repositoryName": name,
                   "lifecyclePolicyText": KEEP_TWO_V_ONE_UNTAGGED}
    got = aws_json(server, provider, "get-lifecycle-policy", "--repository-name", name)
    assert got["lifecyclePolicyText"] == KEEP_TWO_V_ONE_UNTAGGED  # byte for byte

    deleted = aws_json(server, provider, "delete-lifecycle-policy", "--repository-name", name)
    assert deleted["lifecyclePolicyText"] == KEEP_TWO_V_ONE_UNTAGGED
    again = server.aws(provider, "ecr", "delete-lifecycle-policy", "--repository-name", name, check=False)
    assert "LifecyclePolicyNotFoundException" in again.stderr


def test_policy_for_a_missing_repository(ecr, provider):
    err = client_error(ecr.put_lifecycle_policy, repositoryName="no-such-repo",
                       lifecyclePolicyText=KEEP_TWO_V_ONE_UNTAGGED)
    assert error_of(err) == ("RepositoryNotFoundException",
                             f"The repository with name 'no-such-repo' does not exist in the registry with id "
                             f"'{provider.account_id}'")
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _padded(doc: dict) -> str:
    text = json.dumps(doc)
    return text + " " * max(0, 100 - len(text))  # the model's minimum length is 100


INVALID = [
    ("x" * 100, "Could not map policyString into LifecyclePolicy."),
    (_padded({"rules": []}), "array is too short: must have at least 1 elements but instance has 0 elements"),
    (_padded({"rulez": [rule(1, "untagged")]}), 'object has missing required properties (["rules"])'),
    (_padded({"rules": [rule(1, "untagged"), rule(2, "untagged", "sinceImagePushed")]}),
     "Only one rule can select Untagged images per storage class."),
    (_padded({"rules": [rule(1, "any"), rule(2, "tagged", tagPrefixList=["a"])]}),
     "Rule for tagStatus=ANY must have the lowest priority per storage class"),
    (_padded({"rules": [{**rule(1, "untagged"), "selection": {
        "tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 1}}]}),
     "instance failed to match exactly one schema (matched 0 out of 2)"),
    (_padded({"rules": [rule(1, "untagged", count_number=0)]}),
     "numeric instance is lower than the required minimum (minimum: 1, found: 0)"),
    (_padded({"rules": [rule(1, "tagged")]}),
     "Rule for tagStatus=TAGGED must have a non-empty tagPrefixList or tagPatternList"),
    (_padded({"rules": [rule(1, "tagged", tagPatternList=["a*b*c*d*e*f"])]}),
     "Tag pattern 'a*b*c*d*e*f' has more than 4 wildcards (*)"),
]


@pytest.mark.parametrize("text,reason", INVALID)
def test_invalid_policies_are_refused_in_ecr_words(ecr, text, reason):
    name = unique("lc-invalid")
    ecr.create_repository(repositoryName=name)
    err = client_error(ecr.put_lifecycle_policy, repositoryName=name, lifecyclePolicyText=text)
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                             f"'Lifecycle policy validation failure: {reason}'")
    # nothing was stored
    assert error_of(client_error(ecr.get_lifecycle_policy, repositoryName=name))[0] == \
        "LifecyclePolicyNotFoundException"


def test_too_short_policy_text(server, provider, ecr):
    name = unique("lc-short")
    ecr.create_repository(repositoryName=name)
    # botocore enforces the minimum length itself, so send the request raw
    r = signed_post(server, provider, "PutLifecyclePolicy", {"repositoryName": name, "lifecyclePolicyText": "{}"})
    assert aws_error(r) == (400, "InvalidParameterException",
                            "Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: "
                            "'Member must have length greater than or equal to 100'")


def test_archive_rules_are_refused_because_crossreg_has_no_archive(ecr):
    name = unique("lc-archive")
    ecr.create_repository(repositoryName=name)
    text = policy({"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
                                                    "countUnit": "days", "countNumber": 30},
                   "action": {"type": "transition", "targetStorageClass": "archive"}})
    code, message = error_of(client_error(ecr.put_lifecycle_policy, repositoryName=name, lifecyclePolicyText=text))
    assert code == "InvalidParameterException"
    assert "crossreg has no archive storage class" in message


# ------------------------------------------------------------------ previews
def test_preview_lists_what_would_expire_with_paging(server, provider, ecr):
    name = unique("lc-preview")
    ecr.create_repository(repositoryName=name)
    digests = populate(ecr, name, seed=1000)
    err = client_error(ecr.get_lifecycle_policy_preview, repositoryName=name)
    assert err.response["Error"]["Code"] == "LifecyclePolicyPreviewNotFoundException"
    err = client_error(ecr.start_lifecycle_policy_preview, repositoryName=name)  # no text, no policy
    assert err.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"

    started = ecr.start_lifecycle_policy_preview(repositoryName=name, lifecyclePolicyText=KEEP_TWO_V_ONE_UNTAGGED)
    assert started["status"] == "COMPLETE"
    assert started["lifecyclePolicyText"] == KEEP_TWO_V_ONE_UNTAGGED
    # the CLI's waiter for previews is satisfied
    server.aws(provider, "ecr", "wait", "lifecycle-policy-preview-complete", "--repository-name", name)

    out = ecr.get_lifecycle_policy_preview(repositoryName=name)
    assert out["status"] == "COMPLETE"
    assert out["summary"]["expiringImageTotalCount"] == 4
    results = out["previewResults"]
    assert [(r["imageDigest"], r["appliedRulePriority"]) for r in results] == [
        (digests["v1"], 1), (digests["v2"], 1), (digests["v3"], 1), (digests["untagged0"], 2)]
    assert results[0]["imageTags"] == ["v1"] and results[3]["imageTags"] == []
    assert results[0]["action"] == {"type": "EXPIRE"}
    assert all(r["imagePushedAt"].timestamp() > time.time() - 600 for r in results)
    assert remaining(ecr, name) == set(digests.values())  # a preview expires nothing

    pages = list(ecr.get_paginator("get_lifecycle_policy_preview").paginate(
        repositoryName=name, PaginationConfig={"PageSize": 3}))
    assert [len(p["previewResults"]) for p in pages] == [3, 1]
    assert [r for p in pages for r in p["previewResults"]] == results

    tagged = ecr.get_lifecycle_policy_preview(repositoryName=name, filter={"tagStatus": "UNTAGGED"})
    assert [r["imageDigest"] for r in tagged["previewResults"]] == [digests["untagged0"]]
    by_id = ecr.get_lifecycle_policy_preview(repositoryName=name, imageIds=[{"imageTag": "v2"},
                                                                           {"imageDigest": digests["v3"]}])
    assert [r["imageDigest"] for r in by_id["previewResults"]] == [digests["v2"], digests["v3"]]
    err = client_error(ecr.get_lifecycle_policy_preview, repositoryName=name, imageIds=[{"imageTag": "v2"}],
                       maxResults=5)
    assert err.response["Error"]["Code"] == "InvalidParameterException"
    err = client_error(ecr.get_lifecycle_policy_preview, repositoryName=name, nextToken="forged")
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
    err = client_error(ecr.get_lifecycle_policy_preview, repositoryName=name, maxResults=101)
    assert err.response["Error"]["Code"] == "InvalidParameterException"

    # The CLI pages on its own too.
    cli = aws_json(server, provider, "get-lifecycle-policy-preview", "--repository-name", name,
                   "--page-size", "1")
    assert [r["imageDigest"] for r in cli["previewResults"]] == [r["imageDigest"] for r in results]


def test_preview_of_the_stored_policy(ecr, core, provider):
    name = unique("lc-preview2")
    ecr.create_repository(repositoryName=name)
    populate(ecr, name, seed=1100, tagged=("v1",), untagged=3)
    put_policy(ecr, core, provider.account_id, name, KEEP_TWO_V_ONE_UNTAGGED)
    assert ecr.start_lifecycle_policy_preview(repositoryName=name)["lifecyclePolicyText"] == KEEP_TWO_V_ONE_UNTAGGED
    assert ecr.get_lifecycle_policy_preview(repositoryName=name)["summary"]["expiringImageTotalCount"] == 2
    bad = "x" * 120
    err = client_error(ecr.start_lifecycle_policy_preview, repositoryName=name, lifecyclePolicyText=bad)
    assert err.response["Error"]["Code"] == "InvalidParameterException"


# ------------------------------------------------------------------ the policy runs
def test_expired_images_disappear_from_ecr_and_oci(server, provider, ecr, core):
    name = unique("lc-run")
    ecr.create_repository(repositoryName=name)
    digests = populate(ecr, name, seed=1200)
    key = put_policy(ecr, core, provider.account_id, name, KEEP_TWO_V_ONE_UNTAGGED)

    run = runner.apply_policy(core, key)
    gone = {digests[n] for n in ("v1", "v2", "v3", "untagged0")}
    assert {e.digest for e in run.expired} == gone
    assert remaining(ecr, name) == set(digests.values()) - gone
    tags = {i.get("imageTag") for i in ecr.list_images(repositoryName=name)["imageIds"]}
    assert tags == {"v4", "v5", None}

    auth = basic_auth(server.password(provider))
    for digest in gone:
        r = httpx.get(f"{oci_base(server, provider.account_id, name)}/manifests/{digest}", headers=auth)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    r = httpx.get(f"{oci_base(server, provider.account_id, name)}/manifests/v1", headers=auth)
    assert r.status_code == 404
    r = httpx.get(f"{oci_base(server, provider.account_id, name)}/manifests/v5", headers=auth)
    assert r.status_code == 200

    got = ecr.get_lifecycle_policy(repositoryName=name)
    assert got["lastEvaluatedAt"].timestamp() > time.time() - 600
    # Running again expires nothing more.
    assert runner.apply_policy(core, key).expired == []


def test_images_pushed_with_skopeo_style_oci_pushes_expire_by_age(server, provider, ecr, core):
    name = unique("lc-age")
    ecr.create_repository(repositoryName=name)
    auth = basic_auth(server.password(provider))
    images = [build_image(layers=1, layer_size=512, seed=1300 + i) for i in range(3)]
    for i, image in enumerate(images):
        oci_push_image(server, auth, provider.account_id, name, image, f"build-{i}")
    oci_push_image(server, auth, provider.account_id, name, build_image(layers=1, layer_size=512, seed=1399), "release-1")
    key = put_policy(ecr, core, provider.account_id, name, policy(
        rule(1, "tagged", "sinceImagePushed", 7, tagPatternList=["build-*"])))
    assert runner.apply_policy(core, key).expired == []  # nothing is 7 days old yet
    run = runner.apply_policy(core, key, now=time.time() + 8 * DAY)
    assert {e.digest for e in run.expired} == {i.manifest_digest for i in images}
    assert [i.get("imageTag") for i in ecr.list_images(repositoryName=name)["imageIds"]] == ["release-1"]


def test_manifest_list_children_follow_their_index(server, provider, ecr, core):
    name = unique("lc-index")
    ecr.create_repository(repositoryName=name)
    kept, dropped = build_index(seed=1400), build_index(seed=1500)
    for index, tag in ((kept, "stable"), (dropped, None)):
        for child in index.images:
            ecr_push_image(ecr, name, child, None)
        extra = {"imageTag": tag} if tag else {}
        ecr.put_image(repositoryName=name, imageManifest=index.manifest.decode(),
                      imageManifestMediaType=index.media_type, **extra)
    key = put_policy(ecr, core, provider.account_id, name, policy(rule(1, "untagged", "sinceImagePushed", 1)))
    run = runner.apply_policy(core, key, now=time.time() + 2 * DAY)
    assert {e.digest for e in run.expired} == {dropped.manifest_digest, *dropped.child_digests}
    assert run.skipped == []
    assert remaining(ecr, name) == {kept.manifest_digest, *kept.child_digests}


def test_run_due_runs_new_and_changed_policies_once(server, provider, ecr, core):
    # The server runs run_due by itself too (every minute); whichever process claims a
    # repository runs it, so this test looks at the outcome.
    name = unique("lc-due")
    ecr.create_repository(repositoryName=name)
    populate(ecr, name, seed=1600, tagged=(), untagged=3)
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy(rule(1, "untagged", count_number=2)))
    runner.run_due(core)
    _wait(lambda: len(remaining(ecr, name)) == 2, "the new policy did not run")
    populate(ecr, name, seed=1700, tagged=(), untagged=1)
    assert runner.run_due(core) == 0  # ran moments ago and unchanged: not due
    assert len(remaining(ecr, name)) == 3
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy(rule(1, "untagged", count_number=1)))
    runner.run_due(core)  # changed: due at once
    _wait(lambda: len(remaining(ecr, name)) == 1, "the changed policy did not run")
    assert ecr.get_lifecycle_policy(repositoryName=name)["lastEvaluatedAt"].timestamp() > time.time() - 60


def test_lifecycle_expiry_propagates_with_delete_replication(server, provider, ecr, core):
    """deleteReplication replicates lifecycle expiry (ECR user guide, replication-delete)."""
    name = unique("lc-repl")
    west = server.boto3(provider, region="us-west-2")
    ecr.create_repository(repositoryName=name)
    ecr.put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": "us-west-2", "registryId": provider.account_id}],
        "repositoryFilters": [{"filter": name, "filterType": "PREFIX_MATCH"}],
        "deleteReplication": {"enabled": True}}]})
    try:
        old = ecr_push_image(ecr, name, build_image(layers=1, layer_size=512, seed=1800), "old")["imageId"]["imageDigest"]
        time.sleep(0.01)
        new = ecr_push_image(ecr, name, build_image(layers=1, layer_size=512, seed=1801), "new")["imageId"]["imageDigest"]
        _wait(lambda: _digests(west, name) == {old, new}, "the images did not replicate")
        key = put_policy(ecr, core, provider.account_id, name, policy(rule(1, "any", count_number=1)))
        run = runner.apply_policy(core, key)
        assert [e.digest for e in run.expired] == [old]
        _wait(lambda: _digests(west, name) == {new}, "the lifecycle expiry did not replicate")
    finally:
        ecr.put_replication_configuration(replicationConfiguration={"rules": []})


def _digests(client, name) -> set[str] | None:
    try:
        return {d["imageDigest"] for d in client.describe_images(repositoryName=name)["imageDetails"]}
    except client.exceptions.RepositoryNotFoundException:
        return None


def _wait(condition, message, timeout=20.0):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            pytest.fail(message)
        time.sleep(0.1)
