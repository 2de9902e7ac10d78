"""ECR JSON protocol layer: errors, model-driven validation, output serialization."""

import base64
import datetime as dt
import enum
import json
import re
import time

import pytest
from botocore.parsers import create_parser

from crossreg.ecr import errors, protocol
from crossreg.ecr.errors import EcrError
from crossreg.ecr.protocol import OutputShapeError, parse_request, serialize_output, validate_input

UPLOAD_ID = "0123abcd-0000-4000-8000-00000000cafe"
REPO_NAME_MSG = ("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy "
                 "regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")


def rejects(operation, params, code="InvalidParameterException"):
    with pytest.raises(EcrError) as exc:
        validate_input(operation, params)
    assert exc.value.code == code, exc.value
    return exc.value


# --- errors -----------------------------------------------------------------------------------

def test_error_body_and_status():
    err = errors.repository_not_found("web", "111111111111")
    assert json.loads(err.to_body()) == {
        "__type": "RepositoryNotFoundException",
        "message": "The repository with name 'web' does not exist in the registry with id '111111111111'"}
    assert err.http_status == 400
    assert errors.server_error().http_status == 500
    assert errors.unrecognized_client().http_status == 403
    assert errors.missing_authentication_token().http_status == 403
    assert errors.invalid_signature().http_status == 403
    assert errors.incomplete_signature("x").http_status == 400
    assert errors.throttled().http_status == 400
    assert EcrError("LimitExceededException", "m", http_status=429).http_status == 429


def test_resource_error_messages():
    acct = "111111111111"
    assert errors.repository_already_exists("a/b", acct).message == (
        "The repository with name 'a/b' already exists in the registry with id '111111111111'")
    assert errors.repository_not_empty("a", acct).message == (
        "The repository with name 'a' in registry with id '111111111111' cannot be deleted because "
        "it still contains images")
    assert errors.image_not_found({"imageTag": "latest"}, "web", acct).message == (
        "The image with imageId {imageDigest:'null', imageTag:'latest'} does not exist within the "
        "repository with name 'web' in the registry with id '111111111111'")
    assert errors.image_not_found({"imageDigest": "sha256:ab", "imageTag": "v1"}, "web", acct).message \
        .startswith("The image with imageId {imageDigest:'sha256:ab', imageTag:'v1'} does not exist")
    assert errors.repository_policy_not_found("web", acct).message == (
        "Repository policy does not exist for the repository with name 'web' in the registry with "
        "id '111111111111'")
    assert errors.lifecycle_policy_not_found("web", acct).code == "LifecyclePolicyNotFoundException"
    assert errors.registry_policy_not_found(acct).message == (
        "Registry policy does not exist in the registry with id '111111111111'")
    assert errors.upload_not_found("u1", "web", acct).message == (
        "Upload with id 'u1' could not be found for the repository with name 'web' in the registry "
        "with id '111111111111'")


def test_auth_error_messages():
    denied = errors.access_denied("ReplicateImage", "arn:aws:ecr:us-east-1:222222222222:repository/x",
                                  account_id="111111111111")
    assert denied.code == "AccessDeniedException" and denied.http_status == 403
    assert denied.message == (
        "User: arn:aws:iam::111111111111:root is not authorized to perform: ecr:ReplicateImage on "
        "resource: arn:aws:ecr:us-east-1:222222222222:repository/x because no resource-based policy "
        "allows the ecr:ReplicateImage action")
    explicit = errors.access_denied("ecr:BatchGetImage", "arn:r", account_id="1", explicit_deny=True)
    assert explicit.message.endswith("with an explicit deny in a resource-based policy")
    assert errors.signature_expired("20261128T100000Z", "20261128T100100Z", "20261128T100600Z").message == (
        "Signature expired: 20261128T100000Z is now earlier than 20261128T100100Z "
        "(20261128T100600Z - 5 min.)")
    assert errors.unsupported_operation("StartImageScan").message == (
        "The operation StartImageScan is not supported by crossreg")
    assert errors.unsupported_operation("StartImageScan").code == "ValidationException"


# --- model metadata ---------------------------------------------------------------------------

def test_operation_names_and_error_codes():
    names = protocol.operation_names()
    assert {"CreateRepository", "PutImage", "DescribeImageReplicationStatus"} <= set(names)
    assert len(names) == len(protocol.service_model().operation_names)
    codes = protocol.error_codes("CreateRepository")
    assert {"RepositoryAlreadyExistsException", "InvalidParameterException", "ServerException"} <= set(codes)
    with pytest.raises(EcrError) as exc:
        protocol.error_codes("NoSuchOperation")
    assert exc.value.code == "UnknownOperationException"


def test_operation_for_target():
    assert protocol.operation_for_target(
        "AmazonEC2ContainerRegistry_V20150921.ListImages") == "ListImages"
    for bad in (None, "", "ListImages", "AmazonEC2ContainerRegistry_V20150921.Nope",
                "DynamoDB_20120810.ListImages"):
        with pytest.raises(EcrError) as exc:
            protocol.operation_for_target(bad)
        assert exc.value.code == "UnknownOperationException" and exc.value.http_status == 400


# --- validation: real operations --------------------------------------------------------------

def test_create_repository_valid_input_passes_through():
    params = {"repositoryName": "team/web-app_1", "imageTagMutability": "IMMUTABLE",
              "imageScanningConfiguration": {"scanOnPush": True},
              "encryptionConfiguration": {"encryptionType": "AES256"},
              "tags": [{"Key": "env", "Value": "prod"}]}
    assert validate_input("CreateRepository", params) == params


@pytest.mark.parametrize("name", ["Web", "web/", "-web", "we b", "web:latest",
                                  "123456789012.dkr.ecr.us-east-2.amazonaws.com/x:1"])
def test_create_repository_bad_name(name):
    assert rejects("CreateRepository", {"repositoryName": name}).message == REPO_NAME_MSG


@pytest.mark.parametrize("name", ["ab", "a/b", "a.b", "a__b", "a--b", "a-b_c.d/e"])
def test_repository_names_the_model_allows(name):
    assert validate_input("CreateRepository", {"repositoryName": name})["repositoryName"] == name


def test_create_repository_name_too_long():
    assert rejects("CreateRepository", {"repositoryName": "a" * 257}).message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
        "'Member must have length less than or equal to 256'")
    validate_input("CreateRepository", {"repositoryName": "a" * 256})


def test_create_repository_bad_enum():
    assert rejects("CreateRepository", {"repositoryName": "web", "imageTagMutability": "mutable"}).message == (
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy "
        "enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'")
    assert "encryptionConfiguration.encryptionType" in rejects(
        "CreateRepository", {"repositoryName": "web",
                             "encryptionConfiguration": {"encryptionType": "ROT13"}}).message


def test_create_repository_bad_nested_exclusion_filter():
    params = {"repositoryName": "web", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
              "imageTagMutabilityExclusionFilters": [
                  {"filterType": "WILDCARD", "filter": "release-*"},
                  {"filterType": "WILDCARD", "filter": "bad/filter"}]}
    assert rejects("CreateRepository", params).message == (
        "Invalid parameter at 'imageTagMutabilityExclusionFilters.2.member.filter' failed to satisfy "
        "constraint: 'Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$'")
    params["imageTagMutabilityExclusionFilters"][1] = {"filter": "x"}
    assert rejects("CreateRepository", params).message == (
        "Invalid parameter at 'imageTagMutabilityExclusionFilters.2.member.filterType' failed to "
        "satisfy constraint: 'Member must not be null'")
    params["imageTagMutabilityExclusionFilters"] = [{"filterType": "WILDCARD", "filter": "a"}] * 6
    assert rejects("CreateRepository", params).message == (
        "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
        "'Member must have length less than or equal to 5'")


def test_nested_structure_path_and_type_errors():
    err = rejects("CreateRepository", {"repositoryName": "web",
                                       "imageScanningConfiguration": {"scanOnPush": "yes"}},
                  code="SerializationException")
    assert err.message == "STRING_VALUE can not be converted to a Boolean"
    assert rejects("CreateRepository", {"repositoryName": "web", "encryptionConfiguration": {}}).message == (
        "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: "
        "'Member must not be null'")
    assert rejects("CreateRepository", {"repositoryName": 5}, code="SerializationException").message == (
        "NUMBER_VALUE can not be converted to a String")
    assert rejects("CreateRepository", {"repositoryName": {"a": 1}},
                   code="SerializationException").message == (
        "Start of structure or map found where not expected.")
    assert rejects("CreateRepository", {"repositoryName": "web", "tags": {"Key": "k"}},
                   code="SerializationException")


def test_missing_required_member():
    assert rejects("CreateRepository", {}).message == (
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must not be null'")
    # JSON null is the same as absent.
    rejects("CreateRepository", {"repositoryName": None})


@pytest.mark.parametrize("value,bound", [(0, "greater than or equal to 1"),
                                         (1001, "less than or equal to 1000"),
                                         (-5, "greater than or equal to 1")])
def test_describe_repositories_max_results_out_of_range(value, bound):
    assert rejects("DescribeRepositories", {"maxResults": value}).message == (
        f"Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value {bound}'")


def test_describe_repositories_max_results_in_range_and_types():
    assert validate_input("DescribeRepositories", {"maxResults": 1}) == {"maxResults": 1}
    assert validate_input("DescribeRepositories", {"maxResults": 1000}) == {"maxResults": 1000}
    # Jackson accepts an integral float for an int field; a fraction or a bool is a type error.
    assert validate_input("DescribeRepositories", {"maxResults": 5.0}) == {"maxResults": 5}
    rejects("DescribeRepositories", {"maxResults": 5.5}, code="SerializationException")
    rejects("DescribeRepositories", {"maxResults": True}, code="SerializationException")
    rejects("DescribeRepositories", {"maxResults": "5"}, code="SerializationException")
    rejects("DescribeRepositories", {"maxResults": 2 ** 31}, code="SerializationException")


def test_list_of_scalars_reports_wrapped_constraint_at_the_list():
    # Exactly the text real ECR returned (aws-actions/amazon-ecr-login#225).
    assert rejects("GetAuthorizationToken", {"registryIds": ["12345678901"]}).message == (
        "Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must satisfy "
        "constraint: [Member must satisfy regular expression pattern: [0-9]{12}]'")
    assert rejects("DescribeRepositories", {"repositoryNames": []}).message == (
        "Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have "
        "length greater than or equal to 1'")
    assert rejects("DescribeRepositories", {"repositoryNames": ["ok", "NOT/OK"]}).message == REPO_NAME_MSG
    assert rejects("DescribeRepositories", {"repositoryNames": ["ok", None]}).message == (
        "Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must satisfy "
        "constraint: [Member must not be null]'")


def test_registry_id_pattern_matches_whole_value():
    rejects("DescribeRepositories", {"registryId": "1111111111112"})
    rejects("DescribeRepositories", {"registryId": "x111111111111"})
    rejects("DescribeRepositories", {"registryId": "111111111111\n"})
    assert validate_input("DescribeRepositories", {"registryId": "111111111111"})


def test_put_image_manifest_too_large():
    base = {"repositoryName": "web", "imageTag": "v1"}
    assert rejects("PutImage", {**base, "imageManifest": "x" * 4194305}).message == (
        "Invalid parameter at 'imageManifest' failed to satisfy constraint: "
        "'Member must have length less than or equal to 4194304'")
    assert len(validate_input("PutImage", {**base, "imageManifest": "x" * 4194304})["imageManifest"]) == 4194304
    assert "imageTag" in rejects("PutImage", {**base, "imageManifest": "{}", "imageTag": "t" * 301}).message


def test_upload_layer_part_blob_is_decoded():
    params = {"repositoryName": "web", "uploadId": UPLOAD_ID, "partFirstByte": 0,
              "partLastByte": 4, "layerPartBlob": base64.b64encode(b"\x00\x01hello").decode()}
    out = validate_input("UploadLayerPart", params)
    assert out["layerPartBlob"] == b"\x00\x01hello"
    assert out["partLastByte"] == 4
    err = rejects("UploadLayerPart", {**params, "layerPartBlob": "not base64!"},
                  code="SerializationException")
    assert err.http_status == 400
    rejects("UploadLayerPart", {**params, "layerPartBlob": "YWJ"}, code="SerializationException")
    rejects("UploadLayerPart", {**params, "layerPartBlob": b"raw"}, code="SerializationException")
    assert "uploadId" in rejects("UploadLayerPart", {**params, "uploadId": "nope"}).message
    assert rejects("UploadLayerPart", {**params, "partFirstByte": -1}).message == (
        "Invalid parameter at 'partFirstByte' failed to satisfy constraint: "
        "'Member must have value greater than or equal to 0'")
    # Longs go beyond 32 bits (layers up to 52,000 MiB).
    assert validate_input("UploadLayerPart", {**params, "partLastByte": 2 ** 40})["partLastByte"] == 2 ** 40


def test_upload_layer_part_blob_too_large():
    big = base64.b64encode(b"\0" * (20971520 + 1)).decode()
    params = {"repositoryName": "web", "uploadId": UPLOAD_ID, "partFirstByte": 0,
              "partLastByte": 20971520, "layerPartBlob": big}
    assert rejects("UploadLayerPart", params).message == (
        "Invalid parameter at 'layerPartBlob' failed to satisfy constraint: "
        "'Member must have length less than or equal to 20971520'")


def test_unknown_members_are_dropped_and_nothing_is_mutated():
    params = {"repositoryName": "web", "futureField": {"x": 1},
              "imageScanningConfiguration": {"scanOnPush": False, "other": 1}}
    snapshot = json.loads(json.dumps(params))
    out = validate_input("CreateRepository", params)
    assert out == {"repositoryName": "web", "imageScanningConfiguration": {"scanOnPush": False}}
    assert params == snapshot


def test_top_level_must_be_an_object_and_unknown_operations():
    for body in ([], "x", 3, None, True):
        rejects("ListImages", body, code="SerializationException")
    rejects("NoSuchOperation", {}, code="UnknownOperationException")


def test_parse_request():
    assert parse_request("DescribeRepositories", b"") == {}
    assert parse_request("DescribeRepositories", b"{}") == {}
    assert parse_request("DescribeRepositories", b'{"maxResults": 10}') == {"maxResults": 10}
    for body in (b"{", b"{'a': 1}", b'{"maxResults": NaN}', b"\xff\xfe", b"[" * 100000):
        with pytest.raises(EcrError) as exc:
            parse_request("DescribeRepositories", body)
        assert exc.value.code == "SerializationException"


# --- patterns ---------------------------------------------------------------------------------

def _model_patterns():
    model = protocol.service_model()
    out = []
    for name in model.shape_names:
        meta = model.shape_for(name).metadata
        if "pattern" in meta:
            out.append((name, meta["pattern"], meta.get("max")))
    return out


def test_every_model_pattern_compiles_and_is_fast_on_adversarial_input():
    # A backtracking regex on a 255-char value must not become a denial of service. Lengths
    # grow step by step so an exponential pattern fails at ~20 chars instead of hanging.
    for name, pattern, max_len in _model_patterns():
        match = protocol._compile_pattern(pattern)
        alphabet = set(re.sub(r"\\.", "", pattern)) | set("a0*-._/:")
        for n in (8, 12, 16, 20, 24, 32, 64, 128, 256, 512):
            if n > (max_len or 512):
                break
            for c in sorted(alphabet):
                for candidate in (c * (n - 1) + "!", (c + "a") * (n // 2 - 1) + "!", "a" + c * (n - 2) + "!"):
                    start = time.perf_counter()
                    match(candidate)
                    assert time.perf_counter() - start < 0.05, (name, n, candidate[:20])


def test_safe_pattern_rewrites_are_equivalent():
    from hypothesis import given, settings, strategies as st

    for original, safe in protocol._SAFE_PATTERNS.items():
        slow, fast = re.compile(original, re.ASCII), re.compile(safe, re.ASCII)

        @settings(max_examples=3000, deadline=None)
        @given(st.text(alphabet="ab9*._-/!A ", max_size=10))
        def same(s):
            assert bool(slow.fullmatch(s)) == bool(fast.fullmatch(s)), s

        same()
        assert fast.fullmatch("prod/*") and fast.fullmatch("a") and not fast.fullmatch("a//b")


# --- output serialization ---------------------------------------------------------------------

def _client_parse(operation, body: bytes):
    op = protocol.service_model().operation_model(operation)
    return create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)


REPO = {
    "repositoryArn": "arn:aws:ecr:us-east-1:111111111111:repository/web",
    "registryId": "111111111111",
    "repositoryName": "web",
    "repositoryUri": "111111111111.dkr.ecr.us-east-1.amazonaws.com/web",
    "createdAt": dt.datetime(2026, 11, 28, 10, 15, 30, 250000, tzinfo=dt.timezone.utc),
    "imageTagMutability": "MUTABLE",
    "imageScanningConfiguration": {"scanOnPush": False},
    "encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": None},
}


def test_serialize_output_round_trips_through_botocore_parser():
    body = serialize_output("CreateRepository", {"repository": REPO})
    raw = json.loads(body)
    assert raw["repository"]["createdAt"] == pytest.approx(1795860930.25)
    assert "kmsKey" not in raw["repository"]["encryptionConfiguration"]  # None dropped
    parsed = _client_parse("CreateRepository", body)
    assert parsed["repository"]["createdAt"] == REPO["createdAt"]
    assert parsed["repository"]["repositoryUri"] == REPO["repositoryUri"]


def test_serialize_output_naive_datetime_is_utc_and_enums_are_values():
    class Mutability(enum.Enum):
        IMMUTABLE = "IMMUTABLE"

    repo = {**REPO, "createdAt": dt.datetime(2026, 11, 28, 10, 15, 30), "imageTagMutability": Mutability.IMMUTABLE}
    raw = json.loads(serialize_output("CreateRepository", {"repository": repo}))
    assert raw["repository"]["createdAt"] == dt.datetime(2026, 11, 28, 10, 15, 30,
                                                         tzinfo=dt.timezone.utc).timestamp()
    assert raw["repository"]["imageTagMutability"] == "IMMUTABLE"


def test_serialize_output_rejects_fields_outside_the_model():
    with pytest.raises(OutputShapeError, match="repository.failureReason"):
        serialize_output("CreateRepository", {"repository": {**REPO, "failureReason": "x"}})
    with pytest.raises(OutputShapeError):
        serialize_output("ListImages", {"imageIds": [], "total": 3})
    with pytest.raises(OutputShapeError):
        serialize_output("ListImages", {"imageIds": "not a list"})
    with pytest.raises(OutputShapeError):
        serialize_output("ListImages", {"imageIds": [{"imageTag": 5}]})
    relaxed = serialize_output("ListImages", {"imageIds": [], "total": 3}, strict=False)
    assert json.loads(relaxed) == {"imageIds": []}


def test_serialize_output_empty_and_lists():
    assert serialize_output("DeleteRegistryPolicy", {}) == b"{}"
    body = serialize_output("ListImages", {"imageIds": [{"imageDigest": "sha256:" + "a" * 64, "imageTag": "v1"},
                                                        {"imageDigest": "sha256:" + "b" * 64}],
                                           "nextToken": None})
    assert json.loads(body) == {"imageIds": [{"imageDigest": "sha256:" + "a" * 64, "imageTag": "v1"},
                                             {"imageDigest": "sha256:" + "b" * 64}]}
    auth = serialize_output("GetAuthorizationToken", {"authorizationData": [{
        "authorizationToken": "QVdTOnB3", "expiresAt": dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc),
        "proxyEndpoint": "https://111111111111.dkr.ecr.us-east-1.amazonaws.com"}]})
    parsed = _client_parse("GetAuthorizationToken", auth)
    assert parsed["authorizationData"][0]["expiresAt"] == dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


def test_errors_parse_as_botocore_client_errors():
    err = errors.invalid_parameter("maxResults", "Member must have value less than or equal to 1000")
    parsed = create_parser("json").parse(
        {"body": err.to_body(), "headers": {}, "status_code": err.http_status}, None)
    assert parsed["Error"]["Code"] == "InvalidParameterException"
    assert parsed["Error"]["Message"] == (
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'")
