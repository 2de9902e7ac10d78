"""Repository creation templates end to end: Create/Describe/Update/Delete with their errors and
paging (boto3 and the AWS CLI), and templates applied when replication creates a repository."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.test_ecr_support import client_error, ecr_push_image, error_of, unique
from tests.support.images import build_image

pytestmark = pytest.mark.integration

LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "description": "keep 5 untagged",
                                   "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                                                 "countNumber": 5}, "action": {"type": "expire"}}]})


def repo_policy(account_id: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})


@pytest.fixture()
def ecr(server, provider):
    client = server.boto3(provider, region="eu-central-1")
    yield client
    for page in client.get_paginator("describe_repository_creation_templates").paginate():
        for t in page["repositoryCreationTemplates"]:
            client.delete_repository_creation_template(prefix=t["prefix"])


def aws_json(server, account, *args, region="eu-central-1", check=True):
    out = server.aws(account, "ecr", *args, region=region, check=check)
    return json.loads(out.stdout) if out.stdout.strip() else out


def test_create_describe_update_delete(server, provider, owner, ecr):
    created = ecr.create_repository_creation_template(
        prefix="prod", description="production images", appliedFor=["REPLICATION"],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        resourceTags=[{"Key": "team", "Value": "ml"}], repositoryPolicy=repo_policy(owner.account_id),
        lifecyclePolicy=LIFECYCLE, encryptionConfiguration={"encryptionType": "KMS"})
    assert created["registryId"] == provider.account_id
    template = created["repositoryCreationTemplate"]
    assert template["prefix"] == "prod"
    assert template["appliedFor"] == ["REPLICATION"]
    assert template["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert template["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]
    assert template["encryptionConfiguration"] == {"encryptionType": "KMS"}
    assert template["repositoryPolicy"] == repo_policy(owner.account_id)
    assert template["lifecyclePolicy"] == LIFECYCLE
    assert template["createdAt"] == template["updatedAt"]

    described = ecr.describe_repository_creation_templates(prefixes=["prod"])
    assert described["repositoryCreationTemplates"] == [template]
    # "prod/" names the same template: ECR assumes the trailing slash
    assert ecr.describe_repository_creation_templates(prefixes=["prod/"])["repositoryCreationTemplates"] == [template]

    time.sleep(0.01)
    updated = ecr.update_repository_creation_template(prefix="prod", imageTagMutability="MUTABLE",
                                                      description="")["repositoryCreationTemplate"]
    assert updated["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in updated  # they belonged to the old mode
    assert "description" not in updated
    assert updated["resourceTags"] == [{"Key": "team", "Value": "ml"}]  # untouched fields stay
    assert updated["createdAt"] == template["createdAt"] and updated["updatedAt"] > template["updatedAt"]

    deleted = ecr.delete_repository_creation_template(prefix="prod")["repositoryCreationTemplate"]
    assert deleted == updated
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


def test_errors(provider, ecr):
    ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["REPLICATION"])
    err = client_error(ecr.create_repository_creation_template, prefix="ROOT", appliedFor=["CREATE_ON_PUSH"])
    assert error_of(err) == ("TemplateAlreadyExistsException",
                             "The repository creation template with prefix 'ROOT' already exists in the "
                             f"registry with id '{provider.account_id}'")
    ecr.create_repository_creation_template(prefix="team/", appliedFor=["REPLICATION"])
    assert error_of(client_error(ecr.create_repository_creation_template, prefix="team",
                                 appliedFor=["REPLICATION"]))[0] == "TemplateAlreadyExistsException"
    for call in (ecr.delete_repository_creation_template, ecr.update_repository_creation_template):
        err = client_error(call, prefix="nope")
        assert error_of(err) == ("TemplateNotFoundException",
                                 "The repository creation template with prefix 'nope' does not exist in the "
                                 f"registry with id '{provider.account_id}'")
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("kwargs,code,words", [
    ({"prefix": "Bad_Prefix"}, "InvalidParameterException", "Member must satisfy regular expression pattern"),
    ({"prefix": "ok", "appliedFor": []}, "InvalidParameterException", "appliedFor"),
    ({"prefix": "ok", "appliedFor": ["SOMETIMES"]}, "InvalidParameterException", "enum value set"),
    ({"prefix": "ok", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "InvalidParameterException",
     "ImageTagMutabilityExclusionFilters can't be null"),
    ({"prefix": "ok", "repositoryPolicy": '{"Statement": "nope"}'}, "InvalidParameterException",
     "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: 'Invalid repository policy provided'"),
    ({"prefix": "ok", "lifecyclePolicy": '{"rules": [{"rulePriority": 1}]}'}, "InvalidParameterException",
     "Invalid parameter at 'lifecyclePolicy' failed to satisfy constraint: 'Lifecycle policy validation failure: "
     "object has missing required properties ([\"action\",\"selection\"])'"),
    ({"prefix": "ok", "encryptionConfiguration": {"encryptionType": "AES256",
                                                  "kmsKey": "arn:aws:kms:eu-central-1:111111111111:key/abc"}},
     "InvalidParameterException", "KMS key must not be specified"),
    ({"prefix": "ok", "resourceTags": [{"Key": "k" * 129, "Value": "v"}]}, "InvalidParameterException",
     "Tag keys must be between 1 and 128 characters long"),
    ({"prefix": "ok", "resourceTags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]},
     "InvalidParameterException", "at most 50 tags"),
    ({"prefix": "ok", "customRoleArn": "not-a-role"}, "InvalidParameterException", "Invalid ARN"),
    ({"prefix": "ok", "description": "d" * 257}, "InvalidParameterException",
     "Member must have length less than or equal to 256"),
])
def test_invalid_templates(ecr, kwargs, code, words):
    kwargs = {"appliedFor": ["REPLICATION"], **kwargs}
    err = client_error(ecr.create_repository_creation_template, **kwargs)
    assert err.response["Error"]["Code"] == code
    assert words in err.response["Error"]["Message"]
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


def test_describe_pages_and_filters(server, provider, ecr):
    prefixes = [f"p{i:02d}" for i in range(7)] + ["ROOT"]
    for p in prefixes:
        ecr.create_repository_creation_template(prefix=p, appliedFor=["REPLICATION"])
    pages = list(ecr.get_paginator("describe_repository_creation_templates").paginate(
        PaginationConfig={"PageSize": 3}))
    assert [len(p["repositoryCreationTemplates"]) for p in pages] == [3, 3, 2]
    assert [t["prefix"] for p in pages for t in p["repositoryCreationTemplates"]] == sorted(prefixes)
    only = ecr.describe_repository_creation_templates(prefixes=["p03", "ROOT", "absent"])
    assert [t["prefix"] for t in only["repositoryCreationTemplates"]] == ["ROOT", "p03"]
    err = client_error(ecr.describe_repository_creation_templates, nextToken="forged")
    assert err.response["Error"]["Code"] == "InvalidParameterException"
    # A token from the unfiltered listing does not work for a filtered one.
    token = ecr.describe_repository_creation_templates(maxResults=1)["nextToken"]
    err = client_error(ecr.describe_repository_creation_templates, prefixes=["p01"], nextToken=token)
    assert err.response["Error"]["Code"] == "InvalidParameterException"

    # The AWS CLI pages through everything by itself.
    out = aws_json(server, provider, "describe-repository-creation-templates", "--page-size", "2")
    assert [t["prefix"] for t in out["repositoryCreationTemplates"]] == sorted(prefixes)


def test_cli_create_update_delete(server, provider, ecr):
    out = aws_json(server, provider, "create-repository-creation-template", "--prefix", "ml/models",
                   "--applied-for", "REPLICATION", "--image-tag-mutability", "IMMUTABLE",
                   "--resource-tags", "Key=team,Value=ml")
    assert out["repositoryCreationTemplate"]["prefix"] == "ml/models"
    out = aws_json(server, provider, "update-repository-creation-template", "--prefix", "ml/models",
                   "--lifecycle-policy", LIFECYCLE)
    assert out["repositoryCreationTemplate"]["lifecyclePolicy"] == LIFECYCLE
    assert out["repositoryCreationTemplate"]["imageTagMutability"] == "IMMUTABLE"
    failed = server.aws(provider, "ecr", "create-repository-creation-template", "--prefix", "ml/models",
                        "--applied-for", "REPLICATION", region="eu-central-1", check=False)
    assert failed.returncode != 0 and "TemplateAlreadyExistsException" in failed.stderr
    aws_json(server, provider, "delete-repository-creation-template", "--prefix", "ml/models")
    failed = server.aws(provider, "ecr", "delete-repository-creation-template", "--prefix", "ml/models",
                        region="eu-central-1", check=False)
    assert "TemplateNotFoundException" in failed.stderr


def test_templates_are_per_registry(server, provider, owner, ecr):
    ecr.create_repository_creation_template(prefix="shared", appliedFor=["REPLICATION"])
    assert server.boto3(owner, region="eu-central-1").describe_repository_creation_templates()[
        "repositoryCreationTemplates"] == []
    assert server.boto3(provider, region="us-east-1").describe_repository_creation_templates()[
        "repositoryCreationTemplates"] == []


def test_replication_creates_repositories_from_the_longest_matching_template(server, provider, owner, ecr):
    """Same-account cross-region replication into eu-central-1: the destination repositories are
    created with the settings of the template that matches them best (ROOT as fallback)."""
    source = server.boto3(provider, region="us-east-1")
    ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["REPLICATION"],
                                            resourceTags=[{"Key": "from", "Value": "root"}])
    ecr.create_repository_creation_template(
        prefix="tpl", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "from", "Value": "tpl"}], lifecyclePolicy=LIFECYCLE,
        repositoryPolicy=repo_policy(owner.account_id))
    ecr.create_repository_creation_template(prefix="tpl/push-only", appliedFor=["CREATE_ON_PUSH"],
                                            imageTagMutability="MUTABLE")
    deep, other = unique("tpl/push-only/app"), unique("misc")
    source.put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": "eu-central-1", "registryId": provider.account_id}],
        "repositoryFilters": [{"filter": deep, "filterType": "PREFIX_MATCH"},
                              {"filter": other, "filterType": "PREFIX_MATCH"}]}]})
    try:
        for i, name in enumerate((deep, other)):
            source.create_repository(repositoryName=name)
            ecr_push_image(source, name, build_image(layers=1, layer_size=256, seed=2000 + i), "v1")
        repos = _wait_for_repositories(ecr, [deep, other])
    finally:
        source.put_replication_configuration(replicationConfiguration={"rules": []})

    # "tpl/push-only" is longer but not for REPLICATION: "tpl" applies.
    assert repos[deep]["imageTagMutability"] == "IMMUTABLE"
    arn = repos[deep]["repositoryArn"]
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "from", "Value": "tpl"}]
    assert ecr.get_lifecycle_policy(repositoryName=deep)["lifecyclePolicyText"] == LIFECYCLE
    assert ecr.get_repository_policy(repositoryName=deep)["policyText"] == repo_policy(owner.account_id)
    # Nothing but ROOT matches the other one.
    assert repos[other]["imageTagMutability"] == "MUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=repos[other]["repositoryArn"])["tags"] == \
        [{"Key": "from", "Value": "root"}]
    assert error_of(client_error(ecr.get_lifecycle_policy, repositoryName=other))[0] == \
        "LifecyclePolicyNotFoundException"


def _wait_for_repositories(client, names, timeout=20.0) -> dict:
    deadline = time.time() + timeout
    while True:
        found = {r["repositoryName"]: r for p in client.get_paginator("describe_repositories").paginate()
                 for r in p["repositories"] if r["repositoryName"] in names}
        if len(found) == len(names):
            return found
        if time.time() > deadline:
            pytest.fail(f"replication did not create {sorted(set(names) - set(found))}")
        time.sleep(0.1)
