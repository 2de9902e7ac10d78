"""Resource policies through the ECR API, and the cross-account access they govern: accounts are
isolated unless a repository or registry policy grants access, and the grant ends with it."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.test_ecr_support import (
    basic_auth,
    client_error,
    ecr_push_image,
    error_of,
    oci_base,
    unique,
)
from tests.support.images import OCI_MANIFEST, build_image

pytestmark = pytest.mark.integration
PROVIDER, OWNER = "111111111111", "222222222222"


def read_policy(principal_account: str, actions=None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowPull", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{principal_account}:root"},
        "Action": actions or ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages",
                              "ecr:ListImages", "ecr:BatchCheckLayerAvailability", "ecr:DescribeRepositories"]}]})


def denied(action: str, name: str, region: str = "us-east-1", caller: str = OWNER, registry: str = PROVIDER):
    return ("AccessDeniedException",
            f"User: arn:aws:iam::{caller}:root is not authorized to perform: ecr:{action} on resource: "
            f"arn:aws:ecr:{region}:{registry}:repository/{name} because no resource-based policy allows "
            f"the ecr:{action} action")


@pytest.fixture(scope="module")
def p_ecr(server, provider):
    return server.boto3(provider)


@pytest.fixture(scope="module")
def o_ecr(server, owner):
    return server.boto3(owner)


# ---------------------------------------------------------------------------- repository policies
def test_set_get_delete_repository_policy(p_ecr):
    name = unique("policy")
    p_ecr.create_repository(repositoryName=name)
    text = read_policy(OWNER)
    out = p_ecr.set_repository_policy(repositoryName=name, policyText=text)
    assert (out["registryId"], out["repositoryName"], out["policyText"]) == (PROVIDER, name, text)
    assert p_ecr.get_repository_policy(repositoryName=name)["policyText"] == text  # byte for byte
    assert p_ecr.delete_repository_policy(repositoryName=name)["policyText"] == text
    expected = ("RepositoryPolicyNotFoundException",
                f"Repository policy does not exist for the repository with name '{name}' in the registry "
                f"with id '{PROVIDER}'")
    assert error_of(client_error(p_ecr.get_repository_policy, repositoryName=name)) == expected
    assert error_of(client_error(p_ecr.delete_repository_policy, repositoryName=name)) == expected


def test_repository_policy_with_the_aws_cli(server, provider, p_ecr):
    name = unique("policy-cli")
    p_ecr.create_repository(repositoryName=name)
    # Repository policies may omit Resource and use the 2008 version, as in ECR.
    text = json.dumps({"Version": "2008-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
        "Action": ["ecr:BatchGetImage"]}]})
    out = json.loads(server.aws(provider, "ecr", "set-repository-policy", "--repository-name", name,
                                "--policy-text", text).stdout)
    assert out["policyText"] == text


@pytest.mark.parametrize("text", [
    "not json",
    json.dumps({"Version": "2012-10-17"}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                        "Action": "ecr:NoSuchAction"}]}),
])
def test_invalid_repository_policy(p_ecr, text):
    name = unique("badpolicy")
    p_ecr.create_repository(repositoryName=name)
    err = client_error(p_ecr.set_repository_policy, repositoryName=name, policyText=text)
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                             "'Invalid repository policy provided'")


def test_policy_text_over_the_limit(p_ecr):
    name = unique("bigpolicy")
    p_ecr.create_repository(repositoryName=name)
    err = client_error(p_ecr.set_repository_policy, repositoryName=name, policyText="x" * 10241)
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'policyText' failed to satisfy constraint: "
                             "'Member must have length less than or equal to 10240'")


# ---------------------------------------------------------------------------- registry policies
def test_put_get_delete_registry_policy(server, owner, o_ecr):
    expected = ("RegistryPolicyNotFoundException",
                f"Registry policy does not exist in the registry with id '{OWNER}'")
    west = server.boto3(owner, region="eu-west-2")
    assert error_of(client_error(west.get_registry_policy)) == expected
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROVIDER}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": [f"arn:aws:ecr:eu-west-2:{OWNER}:repository/*"]}]})
    out = west.put_registry_policy(policyText=text)
    assert (out["registryId"], out["policyText"]) == (OWNER, text)
    assert west.get_registry_policy()["policyText"] == text
    # One policy per registry: another region has none.
    assert error_of(client_error(server.boto3(owner, region="eu-west-3").get_registry_policy))[0] == \
        "RegistryPolicyNotFoundException"
    out = json.loads(server.aws(owner, "ecr", "delete-registry-policy", region="eu-west-2").stdout)
    assert out["policyText"] == text
    assert error_of(client_error(west.delete_registry_policy)) == expected


def test_invalid_registry_policy(server, owner):
    err = client_error(server.boto3(owner, region="eu-west-2").put_registry_policy, policyText="{}")
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                             "'Invalid registry policy provided'")


# ---------------------------------------------------------------------------- isolation
def test_accounts_are_isolated(server, owner, p_ecr, o_ecr):
    name = unique("private")
    p_ecr.create_repository(repositoryName=name)
    ecr_push_image(p_ecr, name, build_image(layers=1, seed=90), "v1")
    # The owner's own registry does not show it...
    assert name not in [r["repositoryName"] for r in o_ecr.describe_repositories()["repositories"]]
    # ...listing the provider's registry shows nothing the owner may not describe...
    assert name not in [r["repositoryName"] for r in
                        o_ecr.describe_repositories(registryId=PROVIDER)["repositories"]]
    # ...and every direct access is denied, existing repository or not.
    assert error_of(client_error(o_ecr.describe_repositories, registryId=PROVIDER, repositoryNames=[name])) == \
        denied("DescribeRepositories", name)
    assert error_of(client_error(o_ecr.describe_repositories, registryId=PROVIDER,
                                 repositoryNames=["does-not-exist"])) == denied("DescribeRepositories", "does-not-exist")
    assert error_of(client_error(o_ecr.delete_repository, registryId=PROVIDER, repositoryName=name, force=True)) == \
        denied("DeleteRepository", name)
    assert error_of(client_error(o_ecr.list_images, registryId=PROVIDER, repositoryName=name)) == \
        denied("ListImages", name)
    assert error_of(client_error(o_ecr.batch_delete_image, registryId=PROVIDER, repositoryName=name,
                                 imageIds=[{"imageTag": "v1"}])) == denied("BatchDeleteImage", name)
    assert error_of(client_error(o_ecr.set_repository_policy, registryId=PROVIDER, repositoryName=name,
                                 policyText=read_policy(OWNER))) == denied("SetRepositoryPolicy", name)
    assert error_of(client_error(o_ecr.create_repository, registryId=PROVIDER, repositoryName=unique("intrude"))
                    )[0] == "AccessDeniedException"
    err = client_error(o_ecr.list_images, registryId=PROVIDER, repositoryName=name)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # The OCI API agrees, and the repository is untouched.
    r = httpx.get(f"{oci_base(server, PROVIDER, name)}/manifests/v1", headers=basic_auth(server.password(owner)))
    assert r.status_code == 403
    assert p_ecr.list_images(repositoryName=name)["imageIds"][0]["imageTag"] == "v1"


def test_unauthorised_registry_id_is_refused_even_for_other_operations(server, owner):
    r = server.boto3(owner)
    err = client_error(r.describe_image_replication_status, registryId=PROVIDER, repositoryName="anything",
                       imageId={"imageTag": "v1"})
    assert error_of(err)[0] == "AccessDeniedException"


# ---------------------------------------------------------------------------- cross-account grants
def test_cross_account_read_allowed_by_repository_policy_then_revoked(server, owner, p_ecr, o_ecr):
    name = unique("shared/model")
    p_ecr.create_repository(repositoryName=name)
    image = build_image(layers=2, seed=91)
    ecr_push_image(p_ecr, name, image, "latest_eif")
    p_ecr.set_repository_policy(repositoryName=name, policyText=read_policy(OWNER))

    [repo] = o_ecr.describe_repositories(registryId=PROVIDER, repositoryNames=[name])["repositories"]
    assert repo["registryId"] == PROVIDER
    assert name in [r["repositoryName"] for r in o_ecr.describe_repositories(registryId=PROVIDER)["repositories"]]
    [got] = o_ecr.batch_get_image(registryId=PROVIDER, repositoryName=name,
                                  imageIds=[{"imageTag": "latest_eif"}])["images"]
    assert got["imageManifest"].encode() == image.manifest and got["registryId"] == PROVIDER
    assert o_ecr.list_images(registryId=PROVIDER, repositoryName=name)["imageIds"] == [
        {"imageDigest": image.manifest_digest, "imageTag": "latest_eif"}]
    url = o_ecr.get_download_url_for_layer(registryId=PROVIDER, repositoryName=name,
                                           layerDigest=image.layer_digests[0])["downloadUrl"]
    assert httpx.get(url).content == image.layers[0]
    # With the owner's own registry token, over the OCI API too.
    auth = basic_auth(server.password(owner))
    r = httpx.get(f"{oci_base(server, PROVIDER, name)}/manifests/latest_eif", headers={**auth, "Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.content == image.manifest
    # Reading is all the policy grants.
    assert error_of(client_error(o_ecr.put_image, registryId=PROVIDER, repositoryName=name,
                                 imageManifest=image.manifest.decode(), imageTag="hijack")) == denied("PutImage", name)
    assert error_of(client_error(o_ecr.batch_delete_image, registryId=PROVIDER, repositoryName=name,
                                 imageIds=[{"imageTag": "latest_eif"}])) == denied("BatchDeleteImage", name)
    assert error_of(client_error(o_ecr.get_repository_policy, registryId=PROVIDER, repositoryName=name)) == \
        denied("GetRepositoryPolicy", name)

    p_ecr.delete_repository_policy(repositoryName=name)
    assert error_of(client_error(o_ecr.batch_get_image, registryId=PROVIDER, repositoryName=name,
                                 imageIds=[{"imageTag": "latest_eif"}])) == denied("BatchGetImage", name)
    assert error_of(client_error(o_ecr.describe_images, registryId=PROVIDER, repositoryName=name)) == \
        denied("DescribeImages", name)
    r = httpx.get(f"{oci_base(server, PROVIDER, name)}/manifests/latest_eif", headers=auth)
    assert r.status_code == 403


def test_explicit_deny_wins(server, p_ecr, o_ecr):
    name = unique("denied")
    p_ecr.create_repository(repositoryName=name)
    policy = json.loads(read_policy(OWNER))
    policy["Statement"].append({"Sid": "NoList", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                                "Action": "ecr:ListImages"})
    p_ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))
    assert o_ecr.describe_images(registryId=PROVIDER, repositoryName=name)["imageDetails"] == []
    assert error_of(client_error(o_ecr.list_images, registryId=PROVIDER, repositoryName=name))[0] == \
        "AccessDeniedException"


def test_cross_account_create_allowed_by_registry_policy(server, provider, owner):
    """The seed scenario's grant: the owner's registry policy lets the provider create
    repositories in the owner's registry (used by replication; CreateRepository honours it too)."""
    region = "ap-southeast-1"
    p_ecr, o_ecr = server.boto3(provider, region=region), server.boto3(owner, region=region)
    name = unique("granted")
    assert error_of(client_error(p_ecr.create_repository, registryId=OWNER, repositoryName=name)) == \
        denied("CreateRepository", name, region, caller=PROVIDER, registry=OWNER)
    o_ecr.put_registry_policy(policyText=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROVIDER}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": [f"arn:aws:ecr:{region}:{OWNER}:repository/*"]}]}))
    repo = p_ecr.create_repository(registryId=OWNER, repositoryName=name)["repository"]
    assert repo["registryId"] == OWNER
    assert repo["repositoryArn"] == f"arn:aws:ecr:{region}:{OWNER}:repository/{name}"
    assert name in [r["repositoryName"] for r in o_ecr.describe_repositories()["repositories"]]
    # The grant is CreateRepository only.
    assert error_of(client_error(p_ecr.delete_repository, registryId=OWNER, repositoryName=name)) == \
        denied("DeleteRepository", name, region, caller=PROVIDER, registry=OWNER)
    o_ecr.delete_registry_policy()
    assert error_of(client_error(p_ecr.create_repository, registryId=OWNER, repositoryName=unique("late")))[0] == \
        "AccessDeniedException"
