"""The ECR JSON API as a protocol: authentication, operation routing, request validation and
error wire format, exercised with the real AWS CLI, boto3 and raw SigV4-signed requests."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.test_ecr_support import (
    aws_error,
    basic_auth,
    client_error,
    error_of,
    signed_post,
    unique,
)

pytestmark = pytest.mark.integration

NAME_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.")


# ---------------------------------------------------------------------------- authentication
def test_get_login_password_works_against_the_oci_api(server, provider):
    password = server.password(provider)  # `aws ecr get-login-password`
    r = httpx.get(f"{server.url}/v2/", headers=basic_auth(password))
    assert r.status_code == 200
    # The CLI's token is the password part of the ECR authorization token.
    data = server.boto3(provider).get_authorization_token()["authorizationData"][0]
    user, _, token_password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert httpx.get(f"{server.url}/v2/", headers=basic_auth(token_password)).status_code == 200


def test_get_authorization_token_shape(server, provider):
    out = json.loads(server.aws(provider, "ecr", "get-authorization-token").stdout)
    [data] = out["authorizationData"]
    assert data["proxyEndpoint"] == f"http://{server.host}"
    assert base64.b64decode(data["authorizationToken"]).startswith(b"AWS:")
    ecr = server.boto3(provider)
    [one, two] = ecr.get_authorization_token(registryIds=["111111111111", "222222222222"])["authorizationData"]
    assert one["authorizationToken"] == two["authorizationToken"]  # one token for the caller
    expires = one["expiresAt"].timestamp()
    assert 11 * 3600 < expires - time.time() <= 12 * 3600


def test_wrong_secret_is_an_invalid_signature(server, provider):
    r = signed_post(server, provider, "DescribeRepositories", {}, secret="x" * 40)
    assert aws_error(r) == (403, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_wrong_secret_with_the_aws_cli(server, provider):
    env = provider.env()
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    proc = subprocess.run([sys.executable, "-m", "awscli", "ecr", "describe-repositories",
                           "--endpoint-url", server.url, "--region", "us-east-1"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "InvalidSignatureException" in proc.stderr
    assert "does not match the signature you provided" in proc.stderr


def test_unknown_access_key_is_unrecognized(server, provider):
    r = signed_post(server, provider, "DescribeRepositories", {}, access_key="AKIAUNKNOWNUNKNOWN00")
    assert aws_error(r) == (403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")


def test_unsigned_request_is_rejected(server):
    r = httpx.post(server.url + "/", content=b"{}", headers={
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        "Content-Type": "application/x-amz-json-1.1"})
    assert aws_error(r) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")


def test_body_changed_after_signing_is_rejected(server, provider):
    # Same signature, different body: the payload hash no longer matches.
    req = AWSRequest(method="POST", url=server.url + "/", data=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"})
    SigV4Auth(Credentials(provider.access_key_id, provider.secret_access_key), "ecr", "us-east-1").add_auth(req)
    r = httpx.post(server.url + "/", content=b'{"maxResults": 5}', headers=dict(req.headers.items()))
    assert aws_error(r) == (403, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_signing_for_another_service_is_rejected(server, provider):
    req = AWSRequest(method="POST", url=server.url + "/", data=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"})
    SigV4Auth(Credentials(provider.access_key_id, provider.secret_access_key), "s3", "us-east-1").add_auth(req)
    r = httpx.post(server.url + "/", content=b"{}", headers=dict(req.headers.items()))
    status, code, _ = aws_error(r)
    assert (status, code) == (403, "InvalidSignatureException")


# ---------------------------------------------------------------------------- routing
def test_unknown_operation(server, provider):
    r = signed_post(server, provider, "MakeCoffee", {})
    status, code, _ = aws_error(r)
    assert (status, code) == (400, "UnknownOperationException")
    r = signed_post(server, provider, None, {})
    assert aws_error(r)[:2] == (400, "UnknownOperationException")


def test_modeled_but_unimplemented_operation_names_itself(server, provider):
    ecr = server.boto3(provider)
    err = client_error(ecr.start_image_scan, repositoryName="x1", imageId={"imageTag": "latest"})
    code, message = error_of(err)
    assert code == "ValidationException"
    assert message.startswith("The operation StartImageScan is not supported by crossreg: ")
    assert "scan" in message.split(": ", 1)[1]  # and says why
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_every_response_has_a_request_id(server, provider):
    ok = signed_post(server, provider, "DescribeRepositories", {})
    bad = signed_post(server, provider, "DescribeRepositories", {"maxResults": 0})
    assert ok.headers["x-amzn-RequestId"] and bad.headers["x-amzn-RequestId"]
    assert ok.headers["content-type"] == "application/x-amz-json-1.1"
    assert bad.headers["content-type"] == "application/x-amz-json-1.1"


# ---------------------------------------------------------------------------- bad bodies
def test_body_that_is_not_json(server, provider):
    r = signed_post(server, provider, "DescribeRepositories", b"{not json")
    status, code, _ = aws_error(r)
    assert (status, code) == (400, "SerializationException")


def test_wrong_json_types(server, provider):
    r = signed_post(server, provider, "CreateRepository", {"repositoryName": 5})
    assert aws_error(r) == (400, "SerializationException", "NUMBER_VALUE can not be converted to a String")
    r = signed_post(server, provider, "DescribeRepositories", [])
    assert aws_error(r)[:2] == (400, "SerializationException")


def test_body_over_the_limit(server, provider):
    r = signed_post(server, provider, "DescribeRepositories", b" " * (31 * 1024 * 1024))
    status, code, message = aws_error(r)
    assert (status, code) == (400, "InvalidParameterException")
    assert "exceeds the maximum" in message


# ---------------------------------------------------------------------------- validation
# botocore checks only required/type/min; max, pattern and enum are the server's job.
@pytest.mark.parametrize("operation,body,field,reason", [
    ("DescribeRepositories", {"maxResults": 1001}, "maxResults",
     "Member must have value less than or equal to 1000"),
    ("CreateRepository", {"repositoryName": "Upper/Case"}, "repositoryName",
     f"must satisfy regular expression '{NAME_PATTERN}'"),
    ("CreateRepository", {"repositoryName": "a" * 257}, "repositoryName",
     "Member must have length less than or equal to 256"),
    ("CreateRepository", {"repositoryName": "fine-name", "imageTagMutability": "SOMETIMES"},
     "imageTagMutability",
     "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]"),
    ("DescribeRepositories", {"registryId": "12345"}, "registryId",
     "Member must satisfy regular expression pattern: [0-9]{12}"),
    ("CreateRepository", {"repositoryName": "fine-name", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
                          "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "bad tag!"}]},
     "imageTagMutabilityExclusionFilters.1.member.filter",
     "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$"),
    ("PutImage", {"repositoryName": "fine-name", "imageManifest": "{}", "imageTag": "t" * 301}, "imageTag",
     "Member must have length less than or equal to 300"),
    ("ListImages", {"repositoryName": "fine-name", "filter": {"tagStatus": "MAYBE"}}, "filter.tagStatus",
     "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]"),
])
def test_constraints_botocore_does_not_check(server, provider, operation, body, field, reason):
    r = signed_post(server, provider, operation, body)
    assert aws_error(r) == (400, "InvalidParameterException",
                            f"Invalid parameter at '{field}' failed to satisfy constraint: '{reason}'")


def test_missing_required_member(server, provider):
    r = signed_post(server, provider, "CreateRepository", {})
    assert aws_error(r) == (400, "InvalidParameterException",
                            "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                            "'Member must not be null'")


def test_boto3_surfaces_server_validation(server, provider):
    ecr = server.boto3(provider)
    err = client_error(ecr.describe_repositories, maxResults=5000)
    assert error_of(err) == ("InvalidParameterException",
                             "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                             "'Member must have value less than or equal to 1000'")


def test_operations_are_counted(server, provider):
    signed_post(server, provider, "DescribeRepositories", {})
    signed_post(server, provider, "CreateRepository", {"repositoryName": "BAD"})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'crossreg_ecr_operations_total{operation="DescribeRepositories",outcome="success"}' in text
    assert 'crossreg_ecr_operations_total{operation="CreateRepository",outcome="InvalidParameterException"}' in text


def test_region_is_the_registry(server, provider):
    """Each (account, region) is its own registry: the signed region decides."""
    name = unique("regional")
    east, west = server.boto3(provider), server.boto3(provider, region="eu-west-1")
    east.create_repository(repositoryName=name)
    assert name not in [r["repositoryName"] for r in west.describe_repositories()["repositories"]]
    created = west.create_repository(repositoryName=name)["repository"]
    assert created["repositoryArn"] == f"arn:aws:ecr:eu-west-1:111111111111:repository/{name}"
    assert created["repositoryUri"].endswith(f"/111111111111/eu-west-1/{name}")
