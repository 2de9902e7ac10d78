"""Resource tags end to end (TagResource, UntagResource, ListTagsForResource) with boto3 and the
AWS CLI: ARN validation, merge semantics, ECR's limits, and another account's repository."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_ecr_support import client_error, error_of, unique

pytestmark = pytest.mark.integration
INVALID_ARN = "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'"


@pytest.fixture()
def repo(server, provider):
    ecr = server.boto3(provider)
    return ecr, ecr.create_repository(repositoryName=unique("tags"))["repository"]


def tags_of(ecr, arn) -> dict:
    return {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}


def test_tag_list_untag(repo):
    ecr, r = repo
    arn = r["repositoryArn"]
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == []
    assert ecr.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "ml"},
                                                   {"Key": "env", "Value": "dev"}])["ResponseMetadata"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "prod"}, {"Key": "empty", "Value": ""}])
    assert tags_of(ecr, arn) == {"team": "ml", "env": "prod", "empty": ""}  # a key given again is replaced
    ecr.untag_resource(resourceArn=arn, tagKeys=["env", "not-there"])
    assert tags_of(ecr, arn) == {"team": "ml", "empty": ""}


def test_with_the_cli(server, provider, repo):
    _, r = repo
    arn = r["repositoryArn"]
    server.aws(provider, "ecr", "tag-resource", "--resource-arn", arn, "--tags", "Key=a,Value=1", "Key=b,Value=2")
    out = json.loads(server.aws(provider, "ecr", "list-tags-for-resource", "--resource-arn", arn).stdout)
    assert sorted(out["tags"], key=lambda t: t["Key"]) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    server.aws(provider, "ecr", "untag-resource", "--resource-arn", arn, "--tag-keys", "a")
    out = json.loads(server.aws(provider, "ecr", "list-tags-for-resource", "--resource-arn", arn).stdout)
    assert out["tags"] == [{"Key": "b", "Value": "2"}]
    bad = server.aws(provider, "ecr", "list-tags-for-resource", "--resource-arn", "nonsense", check=False)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr and "Invalid ARN" in bad.stderr


@pytest.mark.parametrize("arn", [
    "nonsense",
    "arn:aws:s3:::bucket",
    "arn:aws:ecr:us-east-1:111111111111:repositories/x1",
    "arn:aws:ecr:us-east-1:1111:repository/x1",
    "arn:aws:ecr:eu-west-1:111111111111:repository/x1",  # another region than the request's
])
def test_invalid_arns(server, provider, arn):
    ecr = server.boto3(provider)
    for call in (lambda: ecr.list_tags_for_resource(resourceArn=arn),
                 lambda: ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v"}]),
                 lambda: ecr.untag_resource(resourceArn=arn, tagKeys=["k"])):
        assert error_of(client_error(call)) == ("InvalidParameterException", INVALID_ARN)


def test_missing_repository(server, provider):
    ecr = server.boto3(provider)
    arn = f"arn:aws:ecr:us-east-1:{provider.account_id}:repository/no-such-repo"
    err = client_error(ecr.list_tags_for_resource, resourceArn=arn)
    assert error_of(err) == ("RepositoryNotFoundException",
                             "The repository with name 'no-such-repo' does not exist in the registry with id "
                             f"'{provider.account_id}'")


def test_fifty_tags_at_most_counting_the_existing_ones(repo):
    ecr, r = repo
    arn = r["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k0", "Value": "again"}, {"Key": "k49", "Value": "v"}])
    assert len(tags_of(ecr, arn)) == 50
    err = client_error(ecr.tag_resource, resourceArn=arn, tags=[{"Key": "one-too-many", "Value": "v"}])
    assert err.response["Error"]["Code"] == "TooManyTagsException"
    assert isinstance(err, ecr.exceptions.TooManyTagsException)
    assert len(tags_of(ecr, arn)) == 50 and "one-too-many" not in tags_of(ecr, arn)


@pytest.mark.parametrize("tag", [{"Key": "k" * 129, "Value": "v"}, {"Key": "k", "Value": "v" * 257},
                                 {"Key": "", "Value": "v"}, {"Key": "aws:reserved", "Value": "v"}])
def test_invalid_tags(repo, tag):
    ecr, r = repo
    err = client_error(ecr.tag_resource, resourceArn=r["repositoryArn"], tags=[tag])
    assert err.response["Error"]["Code"] == "InvalidTagParameterException"
    assert tags_of(ecr, r["repositoryArn"]) == {}


def test_limits_at_the_edge_are_fine(repo):
    ecr, r = repo
    ecr.tag_resource(resourceArn=r["repositoryArn"], tags=[{"Key": "k" * 128, "Value": "v" * 256}])
    assert tags_of(ecr, r["repositoryArn"]) == {"k" * 128: "v" * 256}


def test_another_accounts_repository_needs_its_policy(server, provider, owner, repo):
    _, r = repo
    theirs = server.boto3(owner)
    err = client_error(theirs.list_tags_for_resource, resourceArn=r["repositoryArn"])
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert "ecr:ListTagsForResource" in err.response["Error"]["Message"]
    err = client_error(theirs.tag_resource, resourceArn=r["repositoryArn"], tags=[{"Key": "k", "Value": "v"}])
    assert err.response["Error"]["Code"] == "AccessDeniedException"
