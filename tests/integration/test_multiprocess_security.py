"""Security across processes (two API processes and a worker on one PostgreSQL database):
the account isolation matrix over every OCI endpoint, with each request sent to either
process; registry tokens that expired, were forged or tampered with; SigV4 requests replayed
outside the time window or altered; and no secret in any process's log, even at DEBUG."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from unittest import mock

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from crossreg.auth.tokens import TokenSigner
from tests.support.deployment import REGION, Deployment, OciClient
from tests.support.images import build_image

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]

A, B, C = "111111111111", "222222222222", "333333333333"
TARGET = "AmazonEC2ContainerRegistry_V20150921."


@pytest.fixture(scope="module")
def dep(tmp_path_factory, postgres_admin_url):
    d = Deployment.create(tmp_path_factory.mktemp("security"), postgres_admin_url, api_processes=2,
                          CROSSREG_LOG_LEVEL="DEBUG")
    d.create_account("a", A)
    d.create_account("b", B)
    d.create_account("c", C)
    d.start()
    d.start_worker("worker", log_level="DEBUG")
    d.passwords: list[str] = []
    yield d
    d.stop()


def _basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()}


def _password(dep, who: str, server_index: int = 0) -> str:
    pw = dep.servers[server_index].password(dep.accounts[who])
    dep.passwords.append(pw)
    return pw


def test_account_isolation_matrix_over_oci_endpoints(dep):
    a_srv, b_srv = dep.servers
    acct_a = dep.accounts["a"]
    ecr_a = a_srv.boto3(acct_a)
    ecr_a.create_repository(repositoryName="secure/app")
    # C may pull (and only pull) through the repository policy; B has no grant at all
    ecr_a.set_repository_policy(repositoryName="secure/app", policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow",
                                                "Principal": {"AWS": f"arn:aws:iam::{C}:root"},
                                                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}))
    image = build_image(layers=1, layer_size=1000, seed=11)
    owner = OciClient(_password(dep, "a"))
    assert owner.push_image([a_srv, b_srv], acct_a, "secure/app", image, "latest").status_code == 201
    upload = owner.http.post(f"{owner.base(a_srv, acct_a, 'secure/app')}/blobs/uploads/").headers["Docker-Upload-UUID"]
    owner.http.patch(f"{a_srv.url}/v2/{A}/{REGION}/secure/app/blobs/uploads/{upload}", content=b"mine")
    owner.close()
    for name in ("b", "c"):
        b_acct = dep.accounts[name]
        dep.servers[0].boto3(b_acct).create_repository(repositoryName="mine")

    layer = image.layer_digests[0]
    repo = f"/v2/{A}/{REGION}/secure/app"
    missing = f"/v2/{A}/{REGION}/secure/does-not-exist"
    manifest_headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    # (method, path, kwargs, expected status for A, for B, for C)
    matrix = [
        ("GET", f"{repo}/manifests/latest", {}, 200, 403, 200),
        ("HEAD", f"{repo}/manifests/latest", {}, 200, 403, 200),
        ("GET", f"{repo}/manifests/{image.manifest_digest}", {}, 200, 403, 200),
        ("GET", f"{repo}/blobs/{layer}", {}, 200, 403, 200),
        ("HEAD", f"{repo}/blobs/{layer}", {}, 200, 403, 200),
        ("GET", f"{repo}/tags/list", {}, 200, 403, 403),
        ("GET", f"{repo}/referrers/{image.manifest_digest}", {}, 200, 403, 200),
        ("PUT", f"{repo}/manifests/other", {"content": image.manifest, "headers": manifest_headers}, 201, 403, 403),
        ("DELETE", f"{repo}/manifests/other", {}, 202, 403, 403),
        ("POST", f"{repo}/blobs/uploads/", {}, 202, 403, 403),
        ("GET", f"{repo}/blobs/uploads/{upload}", {}, 204, 403, 403),
        ("PATCH", f"{repo}/blobs/uploads/{upload}", {"content": b"x", "headers": {"Content-Range": "4-4"}}, None, 403, 403),
        ("PUT", f"{repo}/blobs/uploads/{upload}?digest=sha256:{hashlib.sha256(b'minex').hexdigest()}", {}, None, 403, 403),
        ("DELETE", f"{repo}/blobs/uploads/{upload}", {}, None, 403, 403),
        ("DELETE", f"{repo}/blobs/{layer}", {}, None, 403, 403),
        ("DELETE", f"{repo}/manifests/{image.manifest_digest}", {}, None, 403, 403),
        # a repository that does not exist looks exactly like one that does
        ("GET", f"{missing}/manifests/latest", {}, 404, 403, 403),
        ("GET", f"{missing}/tags/list", {}, 404, 403, 403),
        ("POST", f"{missing}/blobs/uploads/", {}, 404, 403, 403),
    ]
    clients = {who: httpx.Client(headers=_basic(_password(dep, who, i % 2)), timeout=30)
               for i, who in enumerate(("a", "b", "c"))}
    before = _state(dep)
    try:
        for i, (method, path, kwargs, *expected) in enumerate(matrix):
            for who, want in zip(("b", "c", "a"), (expected[1], expected[2], expected[0])):
                if want is None:
                    continue
                srv = dep.servers[(i + len(who)) % 2]  # each check on one process or the other
                r = clients[who].request(method, f"{srv.url}{path}", **kwargs)
                assert r.status_code == want, (who, method, path, r.status_code, r.text[:200])
                if want == 403 and method != "HEAD":
                    assert r.json()["errors"][0]["code"] == "DENIED"
        # a mount of A's blob into B's own repository is not granted: an upload starts instead
        r = clients["b"].post(f"{b_srv.url}/v2/{B}/{REGION}/mine/blobs/uploads/",
                              params={"mount": layer, "from": f"{A}/{REGION}/secure/app"})
        assert r.status_code == 202
        assert clients["b"].get(f"{a_srv.url}/v2/{B}/{REGION}/mine/blobs/{layer}").status_code == 404
        # C may pull, so C may mount into its own repository
        r = clients["c"].post(f"{b_srv.url}/v2/{C}/{REGION}/mine/blobs/uploads/",
                              params={"mount": layer, "from": f"{A}/{REGION}/secure/app"})
        assert r.status_code == 201
        # the owner's upload and image are untouched by the refused requests
        after = _state(dep)
        assert [u for u in after["uploads"] if u["id"] == upload] == [{"id": upload, "size": 4}]
        assert after["manifests"] == before["manifests"]  # "other" was pushed and deleted by A
    finally:
        for c in clients.values():
            c.close()


def _state(dep) -> dict:
    return {"uploads": dep.sql("select id, size from uploads where repository_id in "
                               "(select id from repositories where name = 'secure/app') order by id"),
            "manifests": dep.sql("select digest from manifests where repository_id in "
                                 "(select id from repositories where name = 'secure/app') order by digest")}


def test_registry_tokens_expired_forged_or_tampered_are_refused(dep):
    key = bytes.fromhex(dep.sql("select value from settings where key = 'token_signing_key'")[0]["value"])
    url = lambda srv: f"{srv.url}/v2/{A}/{REGION}/secure/app/tags/list"  # noqa: E731
    genuine = _password(dep, "a", 1)
    for srv in dep.servers:  # issued by one process, honoured by both
        assert httpx.get(url(srv), headers=_basic(genuine)).status_code == 200
    expired, _ = TokenSigner(key).issue(A, now=time.time() - 13 * 3600)
    forged, _ = TokenSigner(b"\x00" * 32).issue(A)
    prefix, payload, sig = genuine.split(".")
    other_payload = base64.urlsafe_b64encode(json.dumps({"a": B, "e": int(time.time()) + 3600},
                                                        separators=(",", ":")).encode()).rstrip(b"=").decode()
    later_payload = base64.urlsafe_b64encode(json.dumps({"a": A, "e": int(time.time()) + 10 ** 6},
                                                        separators=(",", ":")).encode()).rstrip(b"=").decode()
    cases = {
        "expired": (_basic(expired), "expired"),
        "signed with another key": (_basic(forged), "invalid"),
        "another account's payload": (_basic(f"{prefix}.{other_payload}.{sig}"), "invalid"),
        "extended expiry": (_basic(f"{prefix}.{later_payload}.{sig}"), "invalid"),
        "truncated": (_basic(genuine[:-5]), "invalid"),
        "not a token": (_basic("AAAA"), "invalid"),
        "wrong user": ({"Authorization": "Basic " + base64.b64encode(f"admin:{genuine}".encode()).decode()}, "invalid"),
        "bearer forged": ({"Authorization": f"Bearer {forged}"}, "invalid"),
    }
    for name, (headers, word) in cases.items():
        for srv in dep.servers:
            r = httpx.get(url(srv), headers=headers)
            assert r.status_code == 403, (name, r.status_code)
            assert word in r.json()["errors"][0]["message"], (name, r.text)
    assert httpx.get(url(dep.servers[0])).status_code == 401  # no credentials: a challenge


def _signed(srv, account, operation: str, body: bytes, at: dt.datetime | None = None) -> tuple[dict, bytes]:
    request = AWSRequest(method="POST", url=srv.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation})
    creds = Credentials(account.access_key_id, account.secret_access_key)
    if at is None:
        SigV4Auth(creds, "ecr", REGION).add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
            SigV4Auth(creds, "ecr", REGION).add_auth(request)
    return dict(request.headers.items()), body


def test_sigv4_replay_outside_the_window_and_tampering_are_refused(dep):
    a_srv, b_srv = dep.servers
    acct = dep.accounts["a"]
    body = b'{"repositoryNames": ["secure/app"]}'
    # a request captured now replays within AWS's 5-minute window, on either process (behind
    # a load balancer both see the same Host)
    headers, _ = _signed(a_srv, acct, "DescribeRepositories", body)
    headers["Host"] = a_srv.host
    for srv in (a_srv, b_srv):
        r = httpx.post(srv.url + "/", content=body, headers=headers)
        assert r.status_code == 200, r.text
    # ... but not once the window has passed, nor before it opens
    for minutes, word in ((-20, "Signature expired"), (+20, "Signature not yet current")):
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
        headers, _ = _signed(a_srv, acct, "DescribeRepositories", body, at=at)
        headers["Host"] = a_srv.host
        for srv in (a_srv, b_srv):
            r = httpx.post(srv.url + "/", content=body, headers=headers)
            assert r.status_code in (400, 403) and r.json()["__type"] == "InvalidSignatureException", r.text
            assert word in r.json()["message"]
    # a captured signature does not cover another body, operation or account's secret
    headers, _ = _signed(a_srv, acct, "DescribeRepositories", body)
    r = httpx.post(a_srv.url + "/", content=b'{"repositoryNames": ["mine"]}', headers=headers)
    assert r.status_code == 403 and r.json()["__type"] == "InvalidSignatureException"
    r = httpx.post(a_srv.url + "/", content=body, headers={**headers, "X-Amz-Target": TARGET + "DeleteRepository"})
    assert r.status_code == 403 and r.json()["__type"] == "InvalidSignatureException"
    wrong = Credentials(acct.access_key_id, dep.accounts["b"].secret_access_key)
    request = AWSRequest(method="POST", url=a_srv.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + "DescribeRepositories"})
    SigV4Auth(wrong, "ecr", REGION).add_auth(request)
    r = httpx.post(a_srv.url + "/", content=body, headers=dict(request.headers.items()))
    assert r.status_code == 403 and r.json()["__type"] == "InvalidSignatureException"


def test_no_secret_in_any_log(dep):
    """Runs last in this module: every process logged at DEBUG through all of the above."""
    # some more traffic that carries secrets: registry logins, layer uploads, policies
    for who in ("a", "b", "c"):
        _password(dep, who, 0)
        _password(dep, who, 1)
    ecr = dep.servers[1].boto3(dep.accounts["a"])
    ecr.get_authorization_token()
    time.sleep(2)  # the worker delivers the events meanwhile
    logs = {str(p.relative_to(dep.root)): p.read_text() for p in dep.root.rglob("*.log")}
    assert len(logs) >= 3 and any(logs.values())
    secrets = {f"secret of {name}": acct.secret_access_key for name, acct in dep.accounts.items()}
    secrets.update({f"password {i}": pw for i, pw in enumerate(dep.passwords)})
    secrets.update({f"signature of password {i}": pw.rsplit(".", 1)[1] for i, pw in enumerate(dep.passwords)})
    for row in dep.sql("select key, value from settings"):  # signing keys (other rows are state)
        if len(row["value"]) >= 32 and all(ch in "0123456789abcdef" for ch in row["value"]):
            secrets[f"server key {row['key']}"] = row["value"]
    assert any(k.startswith("server key token_signing_key") for k in secrets)
    for name, text in logs.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} appears in {name}"
