"""Repositories through the ECR API: create (every parameter), describe (names, paging with
signed tokens), delete (force), settings and resource tags."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.test_ecr_support import (
    basic_auth,
    client_error,
    error_of,
    oci_push_image,
    signed_post,
    unique,
)
from tests.support.images import build_image, build_image_layout

pytestmark = pytest.mark.integration


def test_create_with_every_parameter(server, provider):
    ecr = server.boto3(provider)
    name = unique("team/full")
    filters = [{"filterType": "WILDCARD", "filter": "dev-*"}, {"filterType": "WILDCARD", "filter": "latest"}]
    repo = ecr.create_repository(
        repositoryName=name, tags=[{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": ""}],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=filters,
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS"})["repository"]
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:111111111111:repository/{name}"
    assert repo["registryId"] == "111111111111"
    assert repo["repositoryName"] == name
    assert repo["repositoryUri"] == f"{server.host}/111111111111/us-east-1/{name}"
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageTagMutabilityExclusionFilters"] == filters
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    # KMS without a key: the AWS managed key.
    assert repo["encryptionConfiguration"] == {
        "encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:111111111111:alias/aws/ecr"}
    [described] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert described == repo
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "cost", "Value": ""}, {"Key": "team", "Value": "ml"}]


def test_create_defaults_with_the_aws_cli(server, provider):
    name = unique("breast-cancer-classifier")
    out = json.loads(server.aws(provider, "ecr", "create-repository", "--repository-name", name).stdout)
    repo = out["repository"]
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert "imageTagMutabilityExclusionFilters" not in repo
    assert isinstance(repo["createdAt"], (int, float))


def test_explicit_kms_key_is_kept(server, provider):
    ecr = server.boto3(provider)
    key = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    repo = ecr.create_repository(repositoryName=unique("kms"), encryptionConfiguration={
        "encryptionType": "KMS_DSSE", "kmsKey": key})["repository"]
    assert repo["encryptionConfiguration"] == {"encryptionType": "KMS_DSSE", "kmsKey": key}


@pytest.mark.parametrize("mode", ["IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"])
def test_exclusion_modes_require_filters(server, provider, mode):
    err = client_error(server.boto3(provider).create_repository, repositoryName=unique("excl"),
                       imageTagMutability=mode)
    assert error_of(err) == ("InvalidParameterException",
                             f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}")


def test_create_existing_repository(server, provider):
    ecr = server.boto3(provider)
    name = unique("dup")
    ecr.create_repository(repositoryName=name)
    err = client_error(ecr.create_repository, repositoryName=name)
    assert error_of(err) == ("RepositoryAlreadyExistsException",
                             f"The repository with name '{name}' already exists in the registry with id '111111111111'")
    assert isinstance(err, ecr.exceptions.RepositoryAlreadyExistsException)


def test_too_many_and_invalid_tags(server, provider):
    ecr = server.boto3(provider)
    err = client_error(ecr.create_repository, repositoryName=unique("tags"),
                       tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert error_of(err)[0] == "TooManyTagsException"
    err = client_error(ecr.create_repository, repositoryName=unique("tags"), tags=[{"Key": "k" * 129, "Value": "v"}])
    assert error_of(err)[0] == "InvalidTagParameterException"


def test_describe_missing_repository(server, provider):
    err = client_error(server.boto3(provider).describe_repositories, repositoryNames=["no-such-repo"])
    assert error_of(err) == ("RepositoryNotFoundException",
                             "The repository with name 'no-such-repo' does not exist in the registry with id '111111111111'")


def test_describe_by_names_cannot_be_paged(server, provider):
    ecr = server.boto3(provider)
    name = unique("named")
    ecr.create_repository(repositoryName=name)
    err = client_error(ecr.describe_repositories, repositoryNames=[name], maxResults=10)
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                             "'maxResults cannot be used when repositoryNames are specified'")
    err = client_error(ecr.describe_repositories, repositoryNames=[name], nextToken="abc")
    assert error_of(err)[0] == "InvalidParameterException"


def test_paging_visits_every_repository_once(server, owner):
    ecr = server.boto3(owner)
    created = sorted(ecr.create_repository(repositoryName=unique(f"page{i}"))["repository"]["repositoryName"]
                     for i in range(7))
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"nextToken": token} if token else {}
        out = ecr.describe_repositories(maxResults=3, **kwargs)
        pages += 1
        assert len(out["repositories"]) <= 3
        seen += [r["repositoryName"] for r in out["repositories"]]
        token = out.get("nextToken")
        if not token:
            break
    assert pages >= 3
    assert len(seen) == len(set(seen))
    assert set(created) <= set(seen)
    assert seen == sorted(seen)
    # boto3's paginator and the CLI's automatic paging agree.
    paged = [r["repositoryName"] for page in ecr.get_paginator("describe_repositories").paginate(
        PaginationConfig={"PageSize": 2}) for r in page["repositories"]]
    assert paged == seen
    cli = json.loads(server.aws(owner, "ecr", "describe-repositories", "--page-size", "2").stdout)
    assert [r["repositoryName"] for r in cli["repositories"]] == seen


def test_default_page_size_is_100(server, owner):
    ecr = server.boto3(owner)
    existing = len(ecr.describe_repositories(maxResults=1000)["repositories"])
    for i in range(max(0, 101 - existing)):
        signed_post(server, owner, "CreateRepository", {"repositoryName": unique(f"bulk{i}")})
    out = ecr.describe_repositories()
    assert len(out["repositories"]) == 100
    assert out["nextToken"]


def test_tampered_and_foreign_tokens_are_rejected(server, provider, owner):
    ecr = server.boto3(owner)
    for i in range(3):
        ecr.create_repository(repositoryName=unique(f"tok{i}"))
    token = ecr.describe_repositories(maxResults=1)["nextToken"]
    body, _, sig = token.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig
    expected = ("InvalidParameterException",
                "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
    assert error_of(client_error(ecr.describe_repositories, nextToken=tampered)) == expected
    assert error_of(client_error(ecr.describe_repositories, nextToken="garbage")) == expected
    # A token belongs to its caller and listing: another account cannot replay it...
    assert error_of(client_error(server.boto3(provider).describe_repositories, nextToken=token)) == expected
    # ...nor is it valid for another operation.
    name = unique("tok-images")
    ecr.create_repository(repositoryName=name)
    assert error_of(client_error(ecr.list_images, repositoryName=name, nextToken=token)) == expected


def test_delete_repository(server, provider):
    ecr = server.boto3(provider)
    name = unique("gone")
    created = ecr.create_repository(repositoryName=name)["repository"]
    assert ecr.delete_repository(repositoryName=name)["repository"] == created
    err = client_error(ecr.delete_repository, repositoryName=name)
    assert error_of(err) == ("RepositoryNotFoundException",
                             f"The repository with name '{name}' does not exist in the registry with id '111111111111'")


def test_delete_requires_force_when_images_exist(server, provider):
    ecr = server.boto3(provider)
    name = unique("full")
    ecr.create_repository(repositoryName=name)
    auth = basic_auth(server.password(provider))
    oci_push_image(server, auth, "111111111111", name, build_image(layers=1, seed=11), "v1")
    err = client_error(ecr.delete_repository, repositoryName=name)
    assert error_of(err) == ("RepositoryNotEmptyException",
                             f"The repository with name '{name}' in registry with id '111111111111' cannot be "
                             "deleted because it still contains images")
    assert ecr.delete_repository(repositoryName=name, force=True)["repository"]["repositoryName"] == name
    assert error_of(client_error(ecr.list_images, repositoryName=name))[0] == "RepositoryNotFoundException"


def test_put_image_tag_mutability(server, provider):
    ecr = server.boto3(provider)
    name = unique("mut")
    ecr.create_repository(repositoryName=name)
    out = ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="MUTABLE_WITH_EXCLUSION",
                                       imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "rel-*"}])
    out.pop("ResponseMetadata")
    assert out == {"registryId": "111111111111", "repositoryName": name,
                   "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
                   "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "rel-*"}]}
    [repo] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repo["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION"
    out = ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    assert "imageTagMutabilityExclusionFilters" not in out
    err = client_error(ecr.put_image_tag_mutability, repositoryName=name,
                       imageTagMutability="IMMUTABLE_WITH_EXCLUSION")
    assert error_of(err)[0] == "InvalidParameterException"
    err = client_error(ecr.put_image_tag_mutability, repositoryName="missing-repo", imageTagMutability="MUTABLE")
    assert error_of(err)[0] == "RepositoryNotFoundException"


def test_put_image_scanning_configuration(server, provider):
    ecr = server.boto3(provider)
    name = unique("scan")
    ecr.create_repository(repositoryName=name)
    out = ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
    assert out["imageScanningConfiguration"] == {"scanOnPush": True}
    assert out["registryId"] == "111111111111" and out["repositoryName"] == name
    [repo] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}


def test_resource_tags(server, provider):
    ecr = server.boto3(provider)
    arn = ecr.create_repository(repositoryName=unique("tagged"), tags=[{"Key": "a", "Value": "1"}])["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    assert sorted(ecr.list_tags_for_resource(resourceArn=arn)["tags"], key=lambda t: t["Key"]) == [
        {"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]
    ecr.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "3"}]
    err = client_error(ecr.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket")
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'")


def test_repository_uri_is_pushable_with_skopeo(server, provider, tmp_path):
    from tests.conftest import require_tool
    require_tool("skopeo")
    ecr = server.boto3(provider)
    uri = ecr.create_repository(repositoryName=unique("skopeo/app"))["repository"]["repositoryUri"]
    image = build_image_layout(tmp_path / "layout", tag="v1", layers=2, seed=5)
    password = server.password(provider)
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                    image.ref, f"docker://{uri}:v1"], check=True, capture_output=True, text=True)
    name = uri.split("/", 3)[3]
    [detail] = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert detail["imageDigest"] == image.manifest_digest
    assert detail["imageTags"] == ["v1"]
