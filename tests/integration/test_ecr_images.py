"""Images through the ECR API, sharing state with the OCI API: what skopeo or an HTTP client
pushes is listed and described here, and what PutImage stores is pullable there."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from tests.conftest import require_tool
from tests.integration.test_ecr_support import (
    basic_auth,
    client_error,
    ecr_push_blob,
    ecr_push_image,
    error_of,
    oci_base,
    oci_push_blob,
    oci_push_image,
    unique,
)
from tests.support.images import (
    OCI_CONFIG,
    OCI_MANIFEST,
    SPDX_JSON,
    build_image,
    build_index,
    build_sbom_referrer,
    canonical_json,
)

pytestmark = pytest.mark.integration
PROVIDER = "111111111111"


@pytest.fixture(scope="module")
def ecr(server, provider):
    return server.boto3(provider)


@pytest.fixture(scope="module")
def auth(server, provider):
    return basic_auth(server.password(provider))


@pytest.fixture
def repo(ecr):
    name = unique("images/app")
    ecr.create_repository(repositoryName=name)
    return name


def not_found_message(name: str, digest: str | None = None, tag: str | None = None) -> str:
    return (f"The image with imageId {{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}} does not "
            f"exist within the repository with name '{name}' in the registry with id '{PROVIDER}'")


# ---------------------------------------------------------------------------- OCI <-> ECR
def test_oci_push_shows_up_in_the_ecr_api(server, ecr, auth, repo):
    image = build_image(layers=2, seed=1)
    oci_push_image(server, auth, PROVIDER, repo, image, "v1")
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [
        {"imageDigest": image.manifest_digest, "imageTag": "v1"}]
    [detail] = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["registryId"] == PROVIDER
    assert detail["repositoryName"] == repo
    assert detail["imageDigest"] == image.manifest_digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == image.image_size
    assert detail["imageManifestMediaType"] == OCI_MANIFEST
    assert detail["artifactMediaType"] == OCI_CONFIG
    assert abs(detail["imagePushedAt"].timestamp() - time.time()) < 120
    assert "lastRecordedPullTime" not in detail
    [got] = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["images"]
    assert got["imageManifest"].encode() == image.manifest
    assert got["imageId"] == {"imageDigest": image.manifest_digest, "imageTag": "v1"}
    assert got["imageManifestMediaType"] == OCI_MANIFEST
    # BatchGetImage is a pull: it is recorded.
    [detail] = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"]
    assert abs(detail["lastRecordedPullTime"].timestamp() - time.time()) < 120


def test_put_image_is_pullable_over_http(server, ecr, auth, repo):
    image = build_image(layers=3, seed=2)
    put = ecr_push_image(ecr, repo, image, "release")
    assert put["imageId"] == {"imageDigest": image.manifest_digest, "imageTag": "release"}
    assert put["imageManifest"].encode() == image.manifest
    assert put["registryId"] == PROVIDER and put["repositoryName"] == repo
    base = oci_base(server, PROVIDER, repo)
    r = httpx.get(f"{base}/manifests/release", headers={**auth, "Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.content == image.manifest
    assert r.headers["Docker-Content-Digest"] == image.manifest_digest
    for digest, data in image.blobs.items():
        r = httpx.get(f"{base}/blobs/{digest}", headers=auth)
        assert r.status_code == 200 and r.content == data


def test_put_image_is_pullable_with_skopeo(server, provider, ecr, repo, tmp_path):
    require_tool("skopeo")
    image = build_image(layers=2, seed=3)
    ecr_push_image(ecr, repo, image, "v3")
    [repository] = ecr.describe_repositories(repositoryNames=[repo])["repositories"]
    password = server.password(provider)
    out = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
                    f"docker://{repository['repositoryUri']}:v3", f"oci:{out}:v3"],
                   check=True, capture_output=True, text=True)
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest


def test_put_image_with_the_aws_cli(server, provider, ecr, repo):
    image = build_image(layers=1, seed=4)
    for digest, data in image.blobs.items():
        oci_push_blob(server, basic_auth(server.password(provider)), PROVIDER, repo, data, digest)
    out = json.loads(server.aws(provider, "ecr", "put-image", "--repository-name", repo, "--image-tag", "cli",
                                "--image-manifest", image.manifest.decode()).stdout)
    assert out["image"]["imageId"]["imageDigest"] == image.manifest_digest
    assert out["image"]["imageManifestMediaType"] == OCI_MANIFEST  # taken from the manifest itself


# ---------------------------------------------------------------------------- PutImage errors
def test_put_same_image_and_tag_again(ecr, repo):
    image = build_image(layers=1, seed=5)
    ecr_push_image(ecr, repo, image, "same")
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest=image.manifest.decode(), imageTag="same")
    assert error_of(err) == ("ImageAlreadyExistsException",
                             f"Image with digest '{image.manifest_digest}' and tag 'same' already exists in the "
                             f"repository with name '{repo}' in registry with id '{PROVIDER}'")
    # A new tag on the same manifest is a change.
    ecr.put_image(repositoryName=repo, imageManifest=image.manifest.decode(), imageTag="other")
    tags = ecr.describe_images(repositoryName=repo)["imageDetails"][0]["imageTags"]
    assert tags == ["other", "same"]


def test_mutable_tag_moves_and_leaves_the_old_image_untagged(ecr, repo):
    first, second = build_image(layers=1, seed=6), build_image(layers=1, seed=7)
    ecr_push_image(ecr, repo, first, "latest")
    ecr_push_image(ecr, repo, second, "latest")
    assert ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"] == [
        {"imageDigest": first.manifest_digest}]
    assert ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"] == [
        {"imageDigest": second.manifest_digest, "imageTag": "latest"}]


def test_immutable_tag_cannot_be_overwritten(server, ecr, auth):
    name = unique("immutable")
    ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    first, second = build_image(layers=1, seed=8), build_image(layers=1, seed=9)
    ecr_push_image(ecr, name, first, "v1")
    err = client_error(ecr_push_image, ecr, name, second, "v1")
    assert error_of(err) == ("ImageTagAlreadyExistsException",
                             f"The image tag 'v1' already exists in the '{name}' repository and cannot be "
                             "overwritten because the repository is immutable.")
    # The OCI API enforces the same rule.
    r = httpx.put(f"{oci_base(server, PROVIDER, name)}/manifests/v1", content=second.manifest,
                  headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "TAG_INVALID"


def test_exclusion_filters_keep_matching_tags_mutable(ecr):
    name = unique("excluded")
    ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                          imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}])
    first, second = build_image(layers=1, seed=10), build_image(layers=1, seed=11)
    ecr_push_image(ecr, name, first, "dev-1")
    ecr_push_image(ecr, name, second, "dev-1")  # excluded: mutable
    ecr_push_image(ecr, name, first, "v1")
    err = client_error(ecr.put_image, repositoryName=name, imageManifest=second.manifest.decode(), imageTag="v1")
    assert error_of(err)[0] == "ImageTagAlreadyExistsException"


def test_put_image_with_missing_layers(ecr, repo):
    image = build_image(layers=2, seed=12)
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest=image.manifest.decode(), imageTag="x")
    code, message = error_of(err)
    assert code == "LayersNotFoundException"
    assert image.config_digest in message and image.layer_digests[0] in message


def test_put_index_with_missing_children(ecr, repo):
    index = build_index(seed=13)
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest=index.manifest.decode(), imageTag="multi")
    code, message = error_of(err)
    assert code == "ReferencedImagesNotFoundException"
    assert index.child_digests[0] in message


def test_put_image_digest_mismatch(ecr, repo):
    image = build_image(layers=1, seed=14)
    for digest, data in image.blobs.items():
        ecr_push_blob(ecr, repo, data, digest)
    wrong = "sha256:" + "0" * 64
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest=image.manifest.decode(), imageDigest=wrong)
    assert error_of(err) == ("ImageDigestDoesNotMatchException",
                             f"The provided image digest '{wrong}' does not match the digest "
                             f"'{image.manifest_digest}' calculated for the image manifest")
    ok = ecr.put_image(repositoryName=repo, imageManifest=image.manifest.decode(), imageDigest=image.manifest_digest)
    assert ok["image"]["imageId"]["imageDigest"] == image.manifest_digest


def test_put_invalid_manifest(ecr, repo):
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest="{not json", imageTag="bad")
    code, message = error_of(err)
    assert code == "InvalidParameterException"
    assert message.startswith("Invalid parameter at 'ImageManifest' failed to satisfy constraint: ")
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest='{"schemaVersion": 2}', imageTag="bad")
    assert error_of(err)[0] == "InvalidParameterException"  # no media type anywhere


def test_put_image_into_missing_repository(ecr):
    image = build_image(layers=1, seed=15)
    err = client_error(ecr.put_image, repositoryName="no-such-repo", imageManifest=image.manifest.decode())
    assert error_of(err) == ("RepositoryNotFoundException",
                             f"The repository with name 'no-such-repo' does not exist in the registry with id '{PROVIDER}'")


# ---------------------------------------------------------------------------- listing
def test_list_images_one_entry_per_tag_and_paging(ecr, repo):
    tagged, untagged = build_image(layers=1, seed=16), build_image(layers=1, seed=17)
    ecr_push_image(ecr, repo, tagged, "a")
    ecr.put_image(repositoryName=repo, imageManifest=tagged.manifest.decode(), imageTag="b")
    ecr.put_image(repositoryName=repo, imageManifest=tagged.manifest.decode(), imageTag="c")
    ecr_push_image(ecr, repo, untagged, None)
    everything = ecr.list_images(repositoryName=repo)["imageIds"]
    assert sorted(everything, key=lambda i: (i["imageDigest"], i.get("imageTag", ""))) == everything
    assert {(i["imageDigest"], i.get("imageTag")) for i in everything} == {
        (tagged.manifest_digest, "a"), (tagged.manifest_digest, "b"), (tagged.manifest_digest, "c"),
        (untagged.manifest_digest, None)}
    pages, token, seen = 0, None, []
    while True:
        out = ecr.list_images(repositoryName=repo, maxResults=1, **({"nextToken": token} if token else {}))
        pages += 1
        seen += out["imageIds"]
        token = out.get("nextToken")
        if not token:
            break
    assert seen == everything and pages == 4
    paged = [i for page in ecr.get_paginator("list_images").paginate(
        repositoryName=repo, PaginationConfig={"PageSize": 3}) for i in page["imageIds"]]
    assert paged == everything


def test_describe_images_filters_and_paging(ecr, repo):
    images = [build_image(layers=1, seed=20 + i) for i in range(3)]
    for i, image in enumerate(images):
        ecr_push_image(ecr, repo, image, f"t{i}" if i else None)
    details = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert len(details) == 3
    assert [d["imageDigest"] for d in ecr.describe_images(
        repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageDetails"]] == [images[0].manifest_digest]
    assert len(ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageDetails"]) == 2
    assert ecr.describe_images(repositoryName=repo, filter={"imageStatus": "ARCHIVED"})["imageDetails"] == []
    first = ecr.describe_images(repositoryName=repo, maxResults=2)
    second = ecr.describe_images(repositoryName=repo, maxResults=2, nextToken=first["nextToken"])
    assert [d["imageDigest"] for d in first["imageDetails"] + second["imageDetails"]] == [
        d["imageDigest"] for d in details]
    assert "nextToken" not in second


def test_describe_images_by_id(ecr, repo):
    image = build_image(layers=1, seed=30)
    ecr_push_image(ecr, repo, image, "known")
    [detail] = ecr.describe_images(repositoryName=repo, imageIds=[
        {"imageTag": "known"}, {"imageDigest": image.manifest_digest}])["imageDetails"]
    assert detail["imageDigest"] == image.manifest_digest
    err = client_error(ecr.describe_images, repositoryName=repo, imageIds=[{"imageTag": "unknown"}])
    assert error_of(err) == ("ImageNotFoundException", not_found_message(repo, tag="unknown"))
    missing = "sha256:" + "1" * 64
    err = client_error(ecr.describe_images, repositoryName=repo, imageIds=[{"imageDigest": missing}])
    assert error_of(err) == ("ImageNotFoundException", not_found_message(repo, digest=missing))
    err = client_error(ecr.describe_images, repositoryName=repo, imageIds=[{"imageTag": "known"}], maxResults=5)
    assert error_of(err)[0] == "InvalidParameterException"


def test_index_size_is_its_largest_image(server, ecr, auth, repo):
    index = build_index(seed=31)
    for image in index.images:
        ecr_push_image(ecr, repo, image, None)
    put = ecr.put_image(repositoryName=repo, imageManifest=index.manifest.decode(), imageTag="multi")
    assert put["image"]["imageManifestMediaType"] == index.media_type
    [detail] = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "multi"}])["imageDetails"]
    assert detail["imageSizeInBytes"] == max(image.image_size for image in index.images)
    assert "artifactMediaType" not in detail
    r = httpx.get(f"{oci_base(server, PROVIDER, repo)}/manifests/multi", headers=auth)
    assert r.content == index.manifest


# ---------------------------------------------------------------------------- BatchGetImage
def test_batch_get_image_failures(ecr, repo):
    image = build_image(layers=1, seed=40)
    ecr_push_image(ecr, repo, image, "here")
    out = ecr.batch_get_image(repositoryName=repo, imageIds=[
        {"imageTag": "here"}, {"imageTag": "absent"}, {"imageDigest": "not-a-digest"}, {},
        {"imageDigest": image.manifest_digest, "imageTag": "absent"},
        {"imageDigest": "sha256:" + "2" * 64}])
    assert [i["imageId"] for i in out["images"]] == [{"imageDigest": image.manifest_digest, "imageTag": "here"}]
    assert out["failures"] == [
        {"imageId": {"imageTag": "absent"}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"},
        {"imageId": {"imageDigest": "not-a-digest"}, "failureCode": "InvalidImageDigest",
         "failureReason": "Invalid request parameters: image digest should satisfy the regex "
                          "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"},
        {"imageId": {}, "failureCode": "MissingDigestAndTag",
         "failureReason": "Invalid request parameters: both tag and digest cannot be null"},
        {"imageId": {"imageDigest": image.manifest_digest, "imageTag": "absent"}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"},
        {"imageId": {"imageDigest": "sha256:" + "2" * 64}, "failureCode": "ImageNotFound",
         "failureReason": "Requested image not found"},
    ]


def test_batch_get_image_tag_digest_mismatch_and_media_types(ecr, repo):
    a, b = build_image(layers=1, seed=41), build_image(layers=1, seed=42)
    ecr_push_image(ecr, repo, a, "a")
    ecr_push_image(ecr, repo, b, "b")
    out = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageDigest": b.manifest_digest, "imageTag": "a"}])
    assert out["failures"][0]["failureCode"] == "ImageTagDoesNotMatchDigest"
    out = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "a"}],
                              acceptedMediaTypes=["application/vnd.docker.distribution.manifest.v2+json"])
    assert out["images"] == [] and out["failures"][0]["failureCode"] == "ImageNotFound"
    out = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "a"}], acceptedMediaTypes=[OCI_MANIFEST])
    assert len(out["images"]) == 1 and out["failures"] == []


def test_batch_get_image_from_missing_repository(ecr):
    err = client_error(ecr.batch_get_image, repositoryName="nowhere", imageIds=[{"imageTag": "x"}])
    assert error_of(err)[0] == "RepositoryNotFoundException"


# ---------------------------------------------------------------------------- BatchDeleteImage
def test_delete_by_tag_removes_only_that_tag(server, ecr, auth, repo):
    image = build_image(layers=1, seed=50)
    ecr_push_image(ecr, repo, image, "one")
    ecr.put_image(repositoryName=repo, imageManifest=image.manifest.decode(), imageTag="two")
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "one"}])
    assert out["imageIds"] == [{"imageDigest": image.manifest_digest, "imageTag": "one"}]
    assert out["failures"] == []
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [
        {"imageDigest": image.manifest_digest, "imageTag": "two"}]
    # Removing the last tag deletes the image.
    ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "two"}])
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []
    r = httpx.get(f"{oci_base(server, PROVIDER, repo)}/manifests/{image.manifest_digest}", headers=auth)
    assert r.status_code == 404


def test_delete_by_digest_removes_all_tags(ecr, repo):
    image = build_image(layers=1, seed=51)
    ecr_push_image(ecr, repo, image, "x")
    ecr.put_image(repositoryName=repo, imageManifest=image.manifest.decode(), imageTag="y")
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": image.manifest_digest}])
    assert sorted(out["imageIds"], key=lambda i: i["imageTag"]) == [
        {"imageDigest": image.manifest_digest, "imageTag": "x"},
        {"imageDigest": image.manifest_digest, "imageTag": "y"}]
    assert ecr.describe_images(repositoryName=repo)["imageDetails"] == []


def test_delete_failures(ecr, repo):
    index = build_index(seed=52)
    for image in index.images:
        ecr_push_image(ecr, repo, image, None)
    ecr.put_image(repositoryName=repo, imageManifest=index.manifest.decode(), imageTag="multi")
    child = index.child_digests[0]
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[
        {"imageDigest": child}, {}, {"imageTag": "absent"}, {"imageDigest": "bogus"}])
    assert out["imageIds"] == []
    codes = [(f["imageId"], f["failureCode"]) for f in out["failures"]]
    assert codes == [({"imageDigest": child}, "ImageReferencedByManifestList"), ({}, "MissingDigestAndTag"),
                     ({"imageTag": "absent"}, "ImageNotFound"), ({"imageDigest": "bogus"}, "InvalidImageDigest")]
    assert out["failures"][1]["failureReason"] == "Invalid request parameters: both tag and digest cannot be null"
    # Deleting the index first frees its children.
    ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "multi"}])
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": child}])
    assert out["imageIds"] == [{"imageDigest": child}]


def test_delete_with_the_aws_cli(server, provider, ecr, repo):
    image = build_image(layers=1, seed=53)
    ecr_push_image(ecr, repo, image, "cli")
    out = json.loads(server.aws(provider, "ecr", "batch-delete-image", "--repository-name", repo,
                                "--image-ids", "imageTag=cli").stdout)
    assert out["imageIds"] == [{"imageDigest": image.manifest_digest, "imageTag": "cli"}]


# ---------------------------------------------------------------------------- referrers
def test_list_image_referrers(server, ecr, auth, repo):
    image = build_image(layers=1, seed=60)
    ecr_push_image(ecr, repo, image, "v1")
    sbom = build_sbom_referrer(image, seed=60)
    ecr_push_image(ecr, repo, sbom, None)
    out = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": image.manifest_digest})
    assert out["referrers"] == [{
        "digest": sbom.manifest_digest, "mediaType": OCI_MANIFEST, "artifactType": SPDX_JSON,
        "size": sbom.manifest_size, "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        "artifactStatus": "ACTIVE"}]
    filtered = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": image.manifest_digest},
                                        filter={"artifactTypes": ["application/vnd.other"]})
    assert filtered["referrers"] == []
    [detail] = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": sbom.manifest_digest}])["imageDetails"]
    assert detail["subjectManifestDigest"] == image.manifest_digest
    assert detail["artifactMediaType"] == "application/vnd.oci.empty.v1+json"
    # The OCI referrers API sees the same referrer.
    r = httpx.get(f"{oci_base(server, PROVIDER, repo)}/referrers/{image.manifest_digest}", headers=auth)
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom.manifest_digest]


def test_list_image_referrers_paging(ecr, repo):
    image = build_image(layers=1, seed=61)
    ecr_push_image(ecr, repo, image, "v1")
    referrers = [build_sbom_referrer(image, seed=100 + i) for i in range(3)]
    for sbom in referrers:
        ecr_push_image(ecr, repo, sbom, None)
    seen, token = [], None
    while True:
        out = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": image.manifest_digest},
                                       maxResults=2, **({"nextToken": token} if token else {}))
        seen += [r["digest"] for r in out["referrers"]]
        token = out.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(s.manifest_digest for s in referrers) and len(seen) == 3


# ---------------------------------------------------------------------------- push hooks
def test_put_image_triggers_replication_like_an_oci_push(server, provider, owner):
    """PutImage goes through the same push path as an OCI push, so it replicates."""
    name = unique("replicated/app")
    src, dst = server.boto3(provider), server.boto3(owner)
    src.create_repository(repositoryName=name)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROVIDER}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": "arn:aws:ecr:us-east-1:222222222222:repository/*"}]}
    dst.put_registry_policy(policyText=json.dumps(policy))
    src.put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": "us-east-1", "registryId": "222222222222"}],
        "repositoryFilters": [{"filter": name, "filterType": "PREFIX_MATCH"}]}]})
    try:
        image = build_image(layers=1, seed=70)
        ecr_push_image(src, name, image, "v1")
        deadline = time.time() + 60
        while True:
            try:
                ids = dst.list_images(repositoryName=name)["imageIds"]
            except dst.exceptions.RepositoryNotFoundException:
                ids = []
            if ids:
                break
            assert time.time() < deadline, "PutImage did not replicate"
            time.sleep(0.2)
        assert ids == [{"imageDigest": image.manifest_digest, "imageTag": "v1"}]
    finally:
        src.put_replication_configuration(replicationConfiguration={"rules": []})
        dst.delete_registry_policy()


def test_manifest_without_media_type_needs_one(ecr, repo):
    """An OCI manifest may omit mediaType; then imageManifestMediaType says what it is."""
    image = build_image(layers=1, seed=80)
    doc = json.loads(image.manifest)
    doc.pop("mediaType")
    manifest = canonical_json(doc)
    for digest, data in image.blobs.items():
        ecr_push_blob(ecr, repo, data, digest)
    err = client_error(ecr.put_image, repositoryName=repo, imageManifest=manifest.decode(), imageTag="bare")
    assert error_of(err)[0] == "InvalidParameterException"
    put = ecr.put_image(repositoryName=repo, imageManifest=manifest.decode(), imageTag="bare",
                        imageManifestMediaType=OCI_MANIFEST)
    assert put["image"]["imageManifestMediaType"] == OCI_MANIFEST
