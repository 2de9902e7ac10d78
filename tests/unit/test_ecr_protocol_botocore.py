"""An unmodified boto3 ECR client against the protocol layer, without a server: a before-send
hook plays the server (SigV4 check, target routing, validation, serialization) and hands the
client the HTTP response it would get. Shows that what crossreg emits is what boto3 parses."""

import datetime as dt
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from crossreg.auth.sigv4 import SignedRequest, verify
from crossreg.ecr import errors, protocol
from crossreg.ecr.errors import EcrError
from crossreg.ecr.pagination import decode_token, encode_token, page_size, token_scope

ACCOUNT, REGION = "111111111111", "us-east-1"
AKID, SECRET = "AKIACROSSREGTEST0001", "test-secret"
PAGINATION_KEY = b"p" * 32
CREATED = dt.datetime(2026, 11, 28, 9, 0, 0, 500000, tzinfo=dt.timezone.utc)


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


class FakeEcr:
    """Just enough handlers to exercise requests, responses, errors and pagination."""

    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.seen: list[tuple[str, dict]] = []

    def repository(self, name):
        return {"repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}",
                "registryId": ACCOUNT, "repositoryName": name,
                "repositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}",
                "createdAt": CREATED, "imageTagMutability": "MUTABLE",
                "imageScanningConfiguration": {"scanOnPush": False},
                "encryptionConfiguration": {"encryptionType": "AES256"}}

    def CreateRepository(self, p):
        name = p["repositoryName"]
        if name in self.repos:
            raise errors.repository_already_exists(name, ACCOUNT)
        self.repos[name] = self.repository(name)
        return {"repository": self.repos[name]}

    def DescribeRepositories(self, p):
        names = sorted(self.repos)
        scope = token_scope("DescribeRepositories", ACCOUNT, REGION)
        start = decode_token(PAGINATION_KEY, scope, p["nextToken"])["after"] if "nextToken" in p else None
        rest = [n for n in names if start is None or n > start]
        size = page_size(p.get("maxResults"))
        page = rest[:size]
        token = encode_token(PAGINATION_KEY, scope, {"after": page[-1]}) if len(rest) > size else None
        return {"repositories": [self.repos[n] for n in page], "nextToken": token}

    def UploadLayerPart(self, p):
        return {"registryId": ACCOUNT, "repositoryName": p["repositoryName"], "uploadId": p["uploadId"],
                "lastByteReceived": p["partFirstByte"] + len(p["layerPartBlob"]) - 1}

    def handle(self, request, **_):
        parts = urlsplit(request.url)
        headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()]
        wire = SignedRequest(request.method, parts.path, parts.query,
                             headers + [("Host", parts.netloc)], request.body or b"")
        try:
            verify(wire, {AKID: SECRET}.get, dt.datetime.now(dt.timezone.utc))
            operation = protocol.operation_for_target(dict(headers).get("X-Amz-Target"))
            params = protocol.parse_request(operation, wire.body)
            self.seen.append((operation, params))
            handler = getattr(self, operation, None)
            if handler is None:
                raise errors.unsupported_operation(operation)
            status, body = 200, protocol.serialize_output(operation, handler(params))
        except EcrError as e:
            status, body = e.http_status, e.to_body()
        return AWSResponse(request.url, status, {"Content-Type": protocol.CONTENT_TYPE}, _Raw(body))


@pytest.fixture()
def ecr():
    fake = FakeEcr()
    client = boto3.client("ecr", region_name=REGION, endpoint_url="http://127.0.0.1:5999",
                          aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    client.meta.events.register("before-send.ecr.*", fake.handle)
    return client, fake


def test_create_and_describe_round_trip(ecr):
    client, _ = ecr
    repo = client.create_repository(repositoryName="team/web")["repository"]
    assert repo["createdAt"] == CREATED
    assert repo["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/web"
    with pytest.raises(client.exceptions.RepositoryAlreadyExistsException) as exc:
        client.create_repository(repositoryName="team/web")
    assert exc.value.response["Error"]["Message"] == (
        "The repository with name 'team/web' already exists in the registry with id '111111111111'")


def test_server_side_validation_reaches_boto3_as_modeled_exception(ecr):
    client, _ = ecr
    # botocore checks only min/required/types on the client; max/pattern/enum are ours.
    with pytest.raises(client.exceptions.InvalidParameterException) as exc:
        client.describe_repositories(maxResults=1001)
    assert exc.value.response["Error"]["Message"] == (
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(client.exceptions.InvalidParameterException, match="must satisfy regular expression"):
        client.create_repository(repositoryName="Upper/Case")
    with pytest.raises(client.exceptions.InvalidParameterException, match="enum value set"):
        client.create_repository(repositoryName="web", imageTagMutability="SOMETIMES")


def test_blob_arrives_as_bytes(ecr):
    client, fake = ecr
    out = client.upload_layer_part(repositoryName="web", uploadId="0123abcd-0000-4000-8000-00000000cafe",
                                   partFirstByte=10, partLastByte=14, layerPartBlob=b"\x00hello")
    assert out["lastByteReceived"] == 15
    assert fake.seen[-1][1]["layerPartBlob"] == b"\x00hello"


def test_paginator_walks_signed_tokens(ecr):
    client, _ = ecr
    for i in range(7):
        client.create_repository(repositoryName=f"repo{i}")
    pages = list(client.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["repositories"]) for p in pages] == [3, 3, 1]
    assert [r["repositoryName"] for p in pages for r in p["repositories"]] == [f"repo{i}" for i in range(7)]
    with pytest.raises(client.exceptions.InvalidParameterException, match="Invalid NextToken"):
        client.describe_repositories(nextToken="forged")


def test_unsupported_operation_and_bad_credentials(ecr):
    client, _ = ecr
    with pytest.raises(ClientError) as exc:
        client.start_image_scan(repositoryName="web", imageId={"imageTag": "v1"})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "StartImageScan is not supported by crossreg" in exc.value.response["Error"]["Message"]

    bad = boto3.client("ecr", region_name=REGION, endpoint_url="http://127.0.0.1:5999",
                       aws_access_key_id=AKID, aws_secret_access_key="wrong")
    bad.meta.events.register("before-send.ecr.*", FakeEcr().handle)
    with pytest.raises(ClientError) as exc:
        bad.describe_repositories()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_model_crossreg_loads_is_the_one_a_botocore_session_loads():
    import botocore.session

    from crossreg.ecr.model import service_model

    session_model = botocore.session.get_session().get_service_model("ecr")
    assert service_model()._service_description == session_model._service_description
    assert service_model().operation_names == session_model.operation_names
