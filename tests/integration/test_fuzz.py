"""Bad input against a running server, on SQLite and on PostgreSQL (which is stricter: NUL
characters, column lengths): hypothesis generates OCI requests (methods, paths with
path-traversal names, digests and upload ids, hostile headers, query strings and bodies) and
signed ECR requests (every state-changing operation and the main reads, model-shaped bodies
with hostile values). For every request: never a 5xx; and if it is refused, the database and
blob storage are exactly as before. Also: traversal attempts never reach the file system,
and oversized bodies are refused before they are read."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from crossreg.ecr import protocol
from crossreg.metadata.db import engine_url
from crossreg.metadata.schema import metadata
from tests.support.deployment import OciClient
from tests.support.images import build_image
from tests.support.postgres import create_database
from tests.support.server import new_server

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]

REGION = "us-east-1"
OWN, OTHER = "111111111111", "222222222222"
TARGET = "AmazonEC2ContainerRegistry_V20150921."
EXAMPLES = int(os.environ.get("CROSSREG_FUZZ_EXAMPLES", "150"))  # per API and engine; more: set it
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         derandomize=not os.environ.get("CROSSREG_FUZZ_RANDOM"),
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])


class Target:
    """A running server plus what the fuzz tests need to look at its state."""

    def __init__(self, server, image):
        self.server, self.image = server, image
        self.engine = create_engine(engine_url(server.database_url), poolclass=NullPool)
        self.storage = server.data_dir / "blobs"
        self.own = server.accounts["own"]
        self.other = server.accounts["other"]
        self.passwords = {OWN: server.password(self.own), OTHER: server.password(self.other)}
        self.upload_id = ""

    def snapshot(self) -> str:
        """A digest of every row of every table, and of every file in blob storage."""
        h = hashlib.sha256()
        with self.engine.connect() as conn:
            for table in metadata.sorted_tables:
                cols = [c for c in table.c if not (table.name == "events" and c.name == "delivered_at")]
                order = list(table.primary_key.columns) or cols
                for row in conn.execute(select(*cols).order_by(*order)):
                    h.update(repr(tuple(row)).encode())
                h.update(b"|" + table.name.encode())
        for path in sorted(self.storage.rglob("*")):
            if path.is_file():
                h.update(f"{path.relative_to(self.storage)}:{path.stat().st_size}".encode())
        return h.hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request, tmp_path_factory):
    env = {"CROSSREG_EMBEDDED_WORKERS": "0", "CROSSREG_LOG_LEVEL": "INFO"}  # no background writes
    if request.param == "postgresql":
        env["CROSSREG_DATABASE_URL"] = create_database(request.getfixturevalue("postgres_admin_url"))
    srv = new_server(tmp_path_factory.mktemp(f"fuzz-{request.param}"), **env)
    srv.create_account("own", OWN)
    srv.create_account("other", OTHER)
    srv.start()
    try:
        srv.boto3(srv.accounts["own"]).create_repository(repositoryName="fuzz/app")
        image = build_image(layers=1, layer_size=2000, seed=5)
        client = OciClient(srv.password(srv.accounts["own"]))
        assert client.push_image([srv], srv.accounts["own"], "fuzz/app", image, "latest").status_code == 201
        t = Target(srv, image)
        r = client.http.post(f"{client.base(srv, srv.accounts['own'], 'fuzz/app')}/blobs/uploads/")
        t.upload_id = r.headers["Docker-Upload-UUID"]
        client.close()
        yield t
    finally:
        srv.stop()
        files = _files_outside_layout(srv.data_dir)
        assert files == [], f"files outside the storage layout: {files}"
        log = srv.log_path.read_text()
        assert "Exception in ASGI application" not in log, log[-3000:]


def _files_outside_layout(data_dir: Path) -> list[str]:
    allowed = re.compile(r"^(blobs/blobs/sha(256/[0-9a-f]{2}/[0-9a-f]{64}|512/[0-9a-f]{2}/[0-9a-f]{128})"
                         r"|blobs/uploads/[0-9a-f-]{36}|crossreg\.db(-wal|-shm)?|server\.log)$")
    return [str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
            if p.is_file() and not allowed.match(str(p.relative_to(data_dir)))]


# ---------------------------------------------------------------------------------- strategies
HOSTILE = st.sampled_from([
    "..", "../..", "%2e%2e", "%2E%2E%2F", "..%2f..%2f", "%00", "\x00", ".", "/", "//", "\\..\\",
    "a" * 300, "Ā", "☃", "%", "%zz", "\r\n", " ", "~", "*", "?", "#", ";", "'", "\"", "<script>",
    "sha256:../../../../etc/passwd", "sha256:" + "g" * 64, "sha256:" + "a" * 63, "sha512:" + "0" * 64,
    "sha256:" + "0" * 64, "sha256:%2e%2e%2f", "file:///etc/passwd", "/etc/passwd", "${jndi:x}",
])
TEXT = st.one_of(HOSTILE, st.text(max_size=40), st.text(alphabet="abc./-_:%0", max_size=80))


def _mostly(good, bad, odds: int = 5):
    """`good` `odds` times out of `odds + 1`."""
    return st.one_of(*([good] * odds), bad)


def _digest_like(t: Target):
    return st.one_of(st.sampled_from([t.image.config_digest, t.image.layer_digests[0], t.image.manifest_digest]),
                     HOSTILE, TEXT)


UPLOAD = "{upload}"  # replaced by a fresh upload session's id when the request is sent


def _oci_request(t: Target):
    """Requests to every OCI endpoint: a well-formed request (own account, the fuzzed
    repository, a fresh upload session...) with, most of the time, one part replaced by
    something hostile -- so that requests get past routing and authentication into the
    handlers, and each hostile value meets otherwise valid surroundings."""
    manifest = json.loads(t.image.manifest)
    endpoint = st.one_of(
        st.tuples(st.sampled_from(["GET", "HEAD", "PUT", "PUT", "DELETE"]),
                  st.sampled_from(["manifests/latest", "manifests/v2", f"manifests/{t.image.manifest_digest}"])),
        st.tuples(st.sampled_from(["GET", "HEAD", "DELETE"]),
                  st.sampled_from([f"blobs/{t.image.config_digest}", f"blobs/{t.image.layer_digests[0]}"])),
        st.tuples(st.just("POST"), st.just("blobs/uploads/")),
        st.tuples(st.sampled_from(["PATCH", "PATCH", "PUT", "PUT", "GET", "DELETE"]), st.just(f"blobs/uploads/{UPLOAD}")),
        st.tuples(st.just("GET"), st.just("tags/list")),
        st.tuples(st.just("GET"), st.just(f"referrers/{t.image.manifest_digest}")),
    )
    valid_body = st.one_of(st.just(t.image.manifest), st.binary(max_size=512), st.just(b""))
    hostile_body = st.one_of(
        st.binary(max_size=2048), st.builds(lambda s: s.encode("utf-8", "replace"), TEXT),
        st.builds(lambda k, v: json.dumps({**manifest, k: v}).encode(),
                  st.sampled_from(["mediaType", "config", "layers", "subject", "schemaVersion", "annotations",
                                   "artifactType", "manifests"]),
                  st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=2),
                            st.dictionaries(TEXT, TEXT, max_size=2))))
    hostile_query = st.dictionaries(
        st.sampled_from(["digest", "digest", "n", "last", "mount", "from", "tag", "artifactType"]),
        st.one_of(TEXT, _digest_like(t), st.sampled_from(["-1", "0", "2", "99999999999999999999",
                                                          "fuzz/app", f"{OTHER}/{REGION}/fuzz/app"])),
        min_size=1, max_size=3)
    hostile_headers = st.fixed_dictionaries({}, optional={
        "Content-Type": st.one_of(TEXT, st.sampled_from(["application/vnd.oci.image.manifest.v1+json",
                                                         "application/octet-stream"])),
        "Content-Range": st.one_of(TEXT, st.sampled_from(["0-0", "0-99999999999", "5-2", "bytes=0-1", "10-19"])),
        "Range": st.one_of(TEXT, st.sampled_from(["bytes=0-", "bytes=-5", "bytes=5-2", "bytes=0-99999999999"])),
        "Accept": TEXT,
    })
    mutation = st.one_of(
        st.just(("none", None)), st.just(("none", None)),
        st.tuples(st.just("account"), st.one_of(st.sampled_from([OTHER, "333333333333"]), HOSTILE)),
        st.tuples(st.just("region"), HOSTILE),
        st.tuples(st.just("name"), st.one_of(HOSTILE, TEXT, st.just("fuzz/new"),
                                             st.builds(lambda h: f"fuzz/{h}/app", HOSTILE))),
        st.tuples(st.just("target"), st.one_of(HOSTILE, TEXT)),  # the reference, digest or upload id
        st.tuples(st.just("op"), TEXT),
        st.tuples(st.just("method"), st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])),
        st.tuples(st.just("query"), hostile_query),
        st.tuples(st.just("headers"), hostile_headers),
        st.tuples(st.just("body"), hostile_body),
        st.tuples(st.just("auth"), st.sampled_from(["other", "garbage", "none", "bearer-garbage"])),
    )

    def build(endpoint, body, mutation):
        method, op = endpoint
        parts = {"account": OWN, "region": REGION, "name": "fuzz/app", "op": op, "method": method,
                 "query": {}, "headers": {}, "body": body, "auth": "own"}
        if op.startswith("blobs/uploads/") and method == "PUT":
            parts["query"] = {"digest": t.image.layer_digests[0]}
        kind, value = mutation
        if kind == "target":
            head, _, _ = op.rpartition("/")
            parts["op"] = f"{head}/{value}" if head else value
        elif kind != "none":
            parts[kind] = value
        path = f"/v2/{parts['account']}/{parts['region']}/{parts['name']}/{parts['op']}"
        return (parts["method"], path, parts["query"], parts["auth"], parts["body"], parts["headers"])

    return st.builds(build, endpoint, valid_body, mutation)


def _safe_path(path: str) -> str:
    """Keep slashes, dots and existing %-escapes as sent (no normalisation); escape the rest."""
    return quote(path, safe="/%.:@-_~!$&'()*+,;=")


def _header_ok(value: str) -> bool:
    return all(32 <= ord(ch) < 127 for ch in value)


def _send_raw(t: Target, method: str, path: str, query: dict, auth: str, body: bytes, headers: dict) -> int:
    hdrs = {k: v for k, v in headers.items() if _header_ok(v)}
    if auth in ("own", "other"):
        import base64

        password = t.passwords[OWN if auth == "own" else OTHER]
        hdrs["Authorization"] = "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
    elif auth == "garbage":
        hdrs["Authorization"] = "Basic bm90OnZhbGlk"
    elif auth == "bearer-garbage":
        hdrs["Authorization"] = "Bearer crt1.e30.AAAA"
    url = _safe_path(path) + ("?" + urlencode(query) if query else "")
    conn = http.client.HTTPConnection("127.0.0.1", t.server.port, timeout=30)
    try:
        conn.request(method, url, body=body if method in ("POST", "PUT", "PATCH") else None, headers=hdrs)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


STATUSES: dict[str, int] = {}  # what the fuzzing reached (printed with -s)


def test_fuzz_oci_api(target):
    t = target
    before = [t.snapshot()]
    client = OciClient(t.passwords[OWN])

    @FUZZ_SETTINGS
    @given(_oci_request(t))
    def check(req):
        method, path, query, auth, body, headers = req
        base = client.base(t.server, t.own, "fuzz/app")
        if any(client.http.head(f"{base}/blobs/{d}").status_code != 200 for d in t.image.blob_digests):
            for blob in (t.image.config, *t.image.layers):  # deleted by an accepted request: back
                client.push_blob_chunked([t.server], t.own, "fuzz/app", blob)
            before[0] = t.snapshot()
        if UPLOAD in path:  # a fresh upload session holding a few bytes
            r = client.http.post(f"{client.base(t.server, t.own, 'fuzz/app')}/blobs/uploads/")
            r = client.http.patch(f"{t.server.url}{r.headers['Location']}", content=b"0123456789")
            path = path.replace(UPLOAD, r.headers["Docker-Upload-UUID"])
            before[0] = t.snapshot()
        status = _send_raw(t, method, path, query, auth, body, headers)
        STATUSES[f"oci {method} {status}"] = STATUSES.get(f"oci {method} {status}", 0) + 1
        if os.environ.get("CROSSREG_FUZZ_TRACE"):
            with open(os.environ["CROSSREG_FUZZ_TRACE"], "a") as trace:
                trace.write(f"{status} {method} {path[:150]!r} {query!r} {auth}\n")
        assert status < 500, (status, req)
        after = t.snapshot()
        if status >= 400:
            assert after == before[0], f"refused request ({status}) changed state: {req!r}"
        before[0] = after

    try:
        check()
        print(sorted(STATUSES.items()))
    finally:
        client.close()


# ------------------------------------------------------------------------------------- ECR
ECR_OPERATIONS = [
    "CreateRepository", "DeleteRepository", "DescribeRepositories", "PutImage", "BatchGetImage",
    "BatchDeleteImage", "ListImages", "DescribeImages", "PutImageTagMutability", "SetRepositoryPolicy",
    "DeleteRepositoryPolicy", "PutLifecyclePolicy", "TagResource", "UntagResource", "InitiateLayerUpload",
    "UploadLayerPart", "CompleteLayerUpload", "BatchCheckLayerAvailability", "GetDownloadUrlForLayer",
    "PutRegistryPolicy", "PutReplicationConfiguration", "CreateRepositoryCreationTemplate",
    "DescribeImageReplicationStatus", "StartLifecyclePolicyPreview", "PutImageScanningConfiguration",
    "PutAccountSetting", "GetAuthorizationToken",
]


def _ecr_value(shape, t: Target, depth: int = 0):
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        members = {n: _ecr_value(m, t, depth + 1) for n, m in shape.members.items()}
        required = {n: s for n, s in members.items() if n in shape.required_members}
        optional = {n: s for n, s in members.items() if n not in shape.required_members}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        return st.lists(_ecr_value(shape.member, t, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(TEXT, TEXT, max_size=2)
    if kind == "string":
        name = shape.name.lower()
        known = []
        if "repositoryname" in name:
            known = ["fuzz/app", "fuzz/new", "../fuzz/app", "fuzz/app/../../x"]
        elif "registryid" in name:
            known = [OWN, OTHER, "../" + OWN]
        elif "digest" in name:
            known = [t.image.manifest_digest, t.image.layer_digests[0]]
        elif "uploadid" in name:
            known = [t.upload_id]
        elif "tag" in name:
            known = ["latest", "v1"]
        elif "enum" in shape.metadata:
            known = list(shape.metadata["enum"])
        elif "policy" in name or "manifest" in name or "text" in name:
            known = [json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                       "Action": "ecr:*", "Resource": "*"}]}),
                     t.image.manifest.decode()]
        return st.one_of(st.sampled_from(known), TEXT) if known else TEXT
    if kind in ("integer", "long"):
        return st.one_of(st.integers(min_value=-5, max_value=5), st.sampled_from([2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30]))
    if kind == "boolean":
        return st.one_of(st.booleans(), st.just("true"))
    if kind == "blob":
        return st.binary(max_size=64).map(lambda b: __import__("base64").b64encode(b).decode())
    if kind == "timestamp":
        return st.one_of(st.integers(), TEXT)
    return st.none()


def _ecr_base_params(t: Target) -> dict[str, dict]:
    """A valid request for each fuzzed operation (the fuzzing replaces one field at a time)."""
    import base64

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "x", "Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": ["ecr:BatchGetImage"]}]})
    registry_policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "r", "Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
        "Resource": f"arn:aws:ecr:{REGION}:{OWN}:repository/*"}]})
    lifecycle = json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
        "action": {"type": "expire"}}]})
    arn = f"arn:aws:ecr:{REGION}:{OWN}:repository/fuzz/app"
    part = b"abcd"
    app = {"repositoryName": "fuzz/app"}
    return {
        "CreateRepository": {"repositoryName": "fuzz/x"},
        "DeleteRepository": {"repositoryName": "fuzz/x", "force": True},
        "DescribeRepositories": {"maxResults": 2},
        "PutImage": {**app, "imageManifest": t.image.manifest.decode(), "imageTag": "t"},
        "BatchGetImage": {**app, "imageIds": [{"imageTag": "latest"}]},
        "BatchDeleteImage": {**app, "imageIds": [{"imageTag": "t"}]},
        "ListImages": {**app, "maxResults": 1},
        "DescribeImages": {**app, "imageIds": [{"imageDigest": t.image.manifest_digest}]},
        "PutImageTagMutability": {**app, "imageTagMutability": "MUTABLE"},
        "SetRepositoryPolicy": {**app, "policyText": policy},
        "DeleteRepositoryPolicy": dict(app),
        "PutLifecyclePolicy": {**app, "lifecyclePolicyText": lifecycle},
        "TagResource": {"resourceArn": arn, "tags": [{"Key": "k", "Value": "v"}]},
        "UntagResource": {"resourceArn": arn, "tagKeys": ["k"]},
        "InitiateLayerUpload": dict(app),
        "UploadLayerPart": {**app, "uploadId": UPLOAD, "partFirstByte": 0, "partLastByte": 3,
                            "layerPartBlob": base64.b64encode(part).decode()},
        "CompleteLayerUpload": {**app, "uploadId": UPLOAD, "layerDigests": ["sha256:" + hashlib.sha256(part).hexdigest()]},
        "BatchCheckLayerAvailability": {**app, "layerDigests": t.image.layer_digests},
        "GetDownloadUrlForLayer": {**app, "layerDigest": t.image.layer_digests[0]},
        "PutRegistryPolicy": {"policyText": registry_policy},
        "PutReplicationConfiguration": {"replicationConfiguration": {"rules": [
            {"destinations": [{"region": REGION, "registryId": OTHER}]}]}},
        "CreateRepositoryCreationTemplate": {"prefix": "fuzz", "appliedFor": ["REPLICATION"]},
        "DescribeImageReplicationStatus": {**app, "imageId": {"imageTag": "latest"}},
        "StartLifecyclePolicyPreview": dict(app),
        "PutImageScanningConfiguration": {**app, "imageScanningConfiguration": {"scanOnPush": True}},
        "PutAccountSetting": {"name": "BASIC_SCAN_TYPE_VERSION", "value": "AWS_NATIVE"},
        "GetAuthorizationToken": {},
    }


HOSTILE_VALUE = st.one_of(HOSTILE, TEXT, st.integers(min_value=-2 ** 70, max_value=2 ** 70), st.none(),
                          st.booleans(), st.lists(TEXT, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2),
                          st.just([{"imageTag": "\x00"}]), st.just({"imageDigest": "sha256:../../x"}))


def _ecr_request(t: Target):
    """A valid request with, most of the time, one field replaced or added (hostile values,
    another account's registryId...), or a model-shaped request with random values."""
    model = protocol.service_model()
    bases = _ecr_base_params(t)

    def mutate(op, field, value):
        params = dict(bases[op])
        if field is not None:
            params[field] = value
        return (op, params)

    def mutation_for(op):
        shape = model.operation_model(op).input_shape
        fields = sorted(set(bases[op]) | (set(shape.members) if shape is not None else set()))
        field = st.one_of(st.none(), st.sampled_from(fields or ["registryId"]), st.just("registryId"), TEXT)
        return st.builds(mutate, st.just(op), field, st.one_of(HOSTILE_VALUE, st.just(OTHER)))

    def random_for(op):
        shape = model.operation_model(op).input_shape
        body = _ecr_value(shape, t) if shape is not None else st.just({})
        return st.tuples(st.just(op), body)

    mutated = st.one_of(*[mutation_for(op) for op in ECR_OPERATIONS])
    random_ = st.one_of(*[random_for(op) for op in ECR_OPERATIONS])
    return st.tuples(st.one_of(mutated, mutated, mutated, random_), st.sampled_from(["own"] * 4 + ["other"]))


def _signed_post(t: Target, account, operation: str, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation}
    request = AWSRequest(method="POST", url=t.server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(account.access_key_id, account.secret_access_key), "ecr", REGION).add_auth(request)
    return httpx.post(t.server.url + "/", content=body, headers=dict(request.headers.items()), timeout=60)


def test_fuzz_ecr_api(target):
    t = target
    before = [t.snapshot()]

    @FUZZ_SETTINGS
    @given(_ecr_request(t))
    def check(req):
        (operation, params), who = req
        account = t.own if who == "own" else t.other
        if UPLOAD in params.values():  # a fresh layer upload of the caller's own
            r = _signed_post(t, account, "InitiateLayerUpload", b'{"repositoryName": "fuzz/app"}')
            upload_id = r.json().get("uploadId", "none")
            params = {k: (upload_id if v == UPLOAD else v) for k, v in params.items()}
            before[0] = t.snapshot()
        try:
            body = json.dumps(params).encode()
        except (TypeError, ValueError):
            return
        r = _signed_post(t, account, operation, body)
        key = f"ecr {r.status_code} {r.headers.get('x-amzn-ErrorType', operation if r.status_code < 400 else '?')}"
        STATUSES[key] = STATUSES.get(key, 0) + 1
        assert r.status_code < 500, (r.status_code, r.text[:300], operation, params)
        after = t.snapshot()
        if r.status_code >= 400:
            assert after == before[0], f"refused {operation} ({r.status_code} {r.text[:200]}) changed state: {params!r}"
        before[0] = after

    check()
    print(sorted(STATUSES.items()))


# ------------------------------------------------------------------- targeted bad input
TRAVERSAL = [
    "/v2/111111111111/us-east-1/../../../etc/passwd/manifests/latest",
    "/v2/111111111111/us-east-1/fuzz/../../app/manifests/latest",
    "/v2/111111111111/us-east-1/fuzz/app/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd",
    "/v2/111111111111/us-east-1/fuzz/app/blobs/..%2f..%2fcrossreg.db",
    "/v2/111111111111/us-east-1/fuzz/app/blobs/uploads/..%2f..%2fcrossreg.db",
    "/v2/111111111111/us-east-1/fuzz/app/blobs/uploads/%2e%2e",
    "/v2/111111111111/us-east-1/fuzz/app/manifests/sha256:..%2f..%2f..%2fetc%2fpasswd",
    "/v2/111111111111/us-east-1/fuzz/app/referrers/sha256:%2e%2e%2f%2e%2e",
    "/v2/111111111111/..%2f..%2f/fuzz/app/tags/list",
    "/v2/..%2f222222222222/us-east-1/fuzz/app/tags/list",
    "/v2/111111111111/us-east-1/%2e%2e/222222222222/us-east-1/fuzz/app/manifests/latest",
]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_path_traversal_is_refused(target, method):
    t = target
    before = t.snapshot()
    for path in TRAVERSAL:
        status = _send_raw(t, method, path, {"digest": "sha256:../../x"} if method == "PUT" else {}, "own",
                           b"x" * 10, {"Content-Type": "application/octet-stream"})
        assert status in (400, 404, 405, 416), (method, path, status)
    assert t.snapshot() == before


def _raw_exchange(port: int, head: bytes, payload: bytes) -> tuple[int, float]:
    """Send headers promising a large body and only a little of it; return the status and how
    long the answer took (it must not wait for the rest of the body)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + payload)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), time.monotonic() - started


def test_oversized_bodies_are_refused_before_they_are_read(target):
    t = target
    before = t.snapshot()
    # ECR: a 64 MiB JSON body (the cap is 30 MiB)
    body_len = 64 << 20
    head = (f"POST / HTTP/1.1\r\nHost: {t.server.host}\r\nContent-Type: application/x-amz-json-1.1\r\n"
            f"X-Amz-Target: {TARGET}DescribeRepositories\r\nContent-Length: {body_len}\r\n\r\n").encode()
    status, took = _raw_exchange(t.server.port, head, b"{" + b" " * 1000)
    assert status == 400 and took < 10
    # OCI: a 64 MiB manifest (the cap is 4 MiB)
    import base64

    auth = "Basic " + base64.b64encode(f"AWS:{t.passwords[OWN]}".encode()).decode()
    head = (f"PUT /v2/{OWN}/{REGION}/fuzz/app/manifests/big HTTP/1.1\r\nHost: {t.server.host}\r\n"
            f"Authorization: {auth}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            f"Content-Length: {body_len}\r\n\r\n").encode()
    status, took = _raw_exchange(t.server.port, head, b"{" + b" " * 1000)
    assert status == 413 and took < 10
    # ... and without a Content-Length (chunked): refused once the cap is passed
    r = httpx.put(f"{t.server.url}/v2/{OWN}/{REGION}/fuzz/app/manifests/big",
                  content=(b" " * (1 << 20) for _ in range(8)),
                  headers={"Authorization": auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                  timeout=60)
    assert r.status_code == 413
    assert t.snapshot() == before
