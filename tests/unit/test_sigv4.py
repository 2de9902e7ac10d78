"""SigV4 verification against requests signed by botocore itself (the signer boto3 and the AWS
CLI use)."""

import datetime as dt
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from crossreg.auth import sigv4
from crossreg.auth.sigv4 import SignedRequest, VerifiedCaller, verify
from crossreg.ecr.errors import EcrError

AKID, SECRET = "AKIACROSSREG0000001", "s3cr3t/with+chars=="
KEYS = {AKID: SECRET}
SIGNED_AT = dt.datetime(2026, 11, 28, 10, 15, 30, tzinfo=dt.timezone.utc)
TARGET = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"


def sign(method="POST", url="http://127.0.0.1:5000/", body=b"{}", headers=None, params=None,
         service="ecr", region="us-east-1", creds=None, at=SIGNED_AT, presign_expires=None):
    """Sign like boto3 does, then return the request as the server would see it on the wire
    (http.client adds Host from the URL)."""
    request = AWSRequest(method=method, url=url, data=body, params=params or {},
                         headers=headers if headers is not None else {
                             "X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"})
    creds = creds or Credentials(AKID, SECRET)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        if presign_expires is None:
            SigV4Auth(creds, service, region).add_auth(request)
        else:
            SigV4QueryAuth(creds, service, region, expires=presign_expires).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    wire_headers = list(prepared.headers.items())
    if not any(k.lower() == "host" for k, _ in wire_headers):
        wire_headers.append(("Host", parts.netloc))
    return SignedRequest(prepared.method, parts.path, parts.query, wire_headers, prepared.body or b"")


def check(request, now=SIGNED_AT, **kw):
    return verify(request, KEYS.get, now, **kw)


def fails(request, code, now=SIGNED_AT, **kw) -> EcrError:
    with pytest.raises(EcrError) as exc:
        check(request, now=now, **kw)
    assert exc.value.code == code, exc.value
    return exc.value


def replace_header(request, name, value):
    headers = [(k, v) for k, v in request.headers if k.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return SignedRequest(request.method, request.path, request.query_string, headers, request.body)


@pytest.mark.parametrize("method,url,body,params", [
    ("POST", "http://127.0.0.1:5000/", b'{"repositoryName":"web"}', None),
    ("POST", "http://localhost/", b"{}", None),
    ("GET", "http://127.0.0.1:5000/v2/team/web/tags/list", b"", {"n": "100", "last": "v1.0"}),
    ("PUT", "http://127.0.0.1:8080/v2/a%20b/blobs/uploads/1", b"\x00\xff" * 1000,
     {"digest": "sha256:abc", "x": "a b/c?d&e=f+g"}),
    ("DELETE", "http://[::1]:5000/v2/web/manifests/sha256:abc", b"", None),
    ("HEAD", "http://127.0.0.1:5000/v2/x//y/./z/../w", b"", None),
])
def test_botocore_signed_requests_verify(method, url, body, params):
    caller = check(sign(method, url, body, params=params))
    assert caller == VerifiedCaller(AKID, "us-east-1", "ecr", signed_at=SIGNED_AT)


def test_real_ecr_client_request_verifies():
    import boto3

    seen = []

    def capture(request, **_):
        seen.append(request)
        raise RuntimeError("stop before sending")

    client = boto3.client("ecr", region_name="eu-west-1", endpoint_url="http://127.0.0.1:5999",
                          aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    client.meta.events.register("before-send.ecr.*", capture)
    with pytest.raises(RuntimeError):
        client.describe_repositories(repositoryNames=["web"])
    prepared = seen[0]
    parts = urlsplit(prepared.url)
    # What the server sees: header bytes decoded as latin-1, plus the Host http.client adds.
    headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in prepared.headers.items()]
    request = SignedRequest(prepared.method, parts.path, parts.query,
                            headers + [("Host", parts.netloc)], prepared.body)
    signed_at = dt.datetime.strptime(dict(headers)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.timezone.utc)
    assert check(request, now=signed_at).region == "eu-west-1"


def test_tampering_fails():
    request = sign(body=b'{"repositoryName":"web"}')
    mismatch = sigv4.errors.SIGNATURE_MISMATCH_MESSAGE
    cases = [
        SignedRequest(request.method, request.path, request.query_string, request.headers,
                      b'{"repositoryName":"evil"}'),
        SignedRequest("PUT", request.path, request.query_string, request.headers, request.body),
        SignedRequest(request.method, "/other", request.query_string, request.headers, request.body),
        SignedRequest(request.method, request.path, "a=1", request.headers, request.body),
        replace_header(request, "X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository"),
        replace_header(request, "Host", "evil.example:5000"),
        replace_header(request, "X-Amz-Date", "20261128T101531Z"),
    ]
    for tampered in cases:
        err = fails(tampered, "InvalidSignatureException")
        assert err.message == mismatch and err.http_status == 403


def test_unsigned_headers_may_change():
    request = sign()
    assert check(replace_header(request, "User-Agent", "something else"))


def test_wrong_secret_and_unknown_key():
    request = sign(creds=Credentials(AKID, "wrong"))
    assert fails(request, "InvalidSignatureException").http_status == 403
    err = fails(sign(creds=Credentials("AKIAUNKNOWN", SECRET)), "UnrecognizedClientException")
    assert err.message == "The security token included in the request is invalid."
    assert err.http_status == 403


def test_time_window():
    request = sign()
    assert check(request, now=SIGNED_AT + dt.timedelta(minutes=4, seconds=59))
    assert check(request, now=SIGNED_AT - dt.timedelta(minutes=4, seconds=59))
    err = fails(request, "InvalidSignatureException", now=SIGNED_AT + dt.timedelta(minutes=6))
    assert err.message == ("Signature expired: 20261128T101530Z is now earlier than 20261128T101630Z "
                           "(20261128T102130Z - 5 min.)")
    assert err.http_status == 403
    err = fails(request, "InvalidSignatureException", now=SIGNED_AT - dt.timedelta(minutes=6))
    assert err.message == ("Signature not yet current: 20261128T101530Z is still later than "
                           "20261128T101430Z (20261128T100930Z + 5 min.)")
    # A naive "now" is taken as UTC.
    assert check(request, now=SIGNED_AT.replace(tzinfo=None))


def test_missing_authentication():
    request = replace_header(sign(), "Authorization", None)
    err = fails(request, "MissingAuthenticationTokenException")
    assert err.message == "Missing Authentication Token" and err.http_status == 403


@pytest.mark.parametrize("value,fragment", [
    ("Basic QVdTOnB3", "Unsupported AWS 'algorithm'"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, SignedHeaders=host",
     "requires 'Signature' parameter"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, garbage",
     "missing equal-sign"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1, SignedHeaders=host, Signature=ab",
     "Credential"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws5_request, SignedHeaders=host, "
     "Signature=ab", "valid terminator: 'aws4_request', not 'aws5_request'"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, "
     "SignedHeaders=x-amz-date, Signature=ab", "'Host' or ':authority' must be a 'SignedHeader'"),
])
def test_malformed_authorization_is_incomplete_signature(value, fragment):
    err = fails(replace_header(sign(), "Authorization", value), "IncompleteSignatureException")
    assert fragment in err.message
    assert err.http_status == 400


def test_missing_or_bad_date():
    request = sign()
    err = fails(replace_header(request, "X-Amz-Date", None), "IncompleteSignatureException")
    assert "'X-Amz-Date' or a 'Date' header" in err.message
    err = fails(replace_header(request, "X-Amz-Date", "2026-11-28T10:15:30Z"), "IncompleteSignatureException")
    assert "ISO-8601 'basic format'" in err.message


def test_scope_checks():
    err = fails(sign(service="s3"), "InvalidSignatureException")
    assert err.message.startswith("Credential should be scoped to correct service: 'ecr'.")
    err = fails(sign(region="eu-west-1"), "InvalidSignatureException", region="us-east-1")
    assert "valid region, not 'eu-west-1'" in err.message
    assert check(sign(region="eu-west-1")).region == "eu-west-1"
    # Credential date must be the date of X-Amz-Date.
    request = sign()
    auth = dict(request.headers)["Authorization"].replace("/20261128/", "/20261127/")
    err = fails(replace_header(request, "Authorization", auth), "InvalidSignatureException")
    assert "Date in Credential scope does not match" in err.message


def test_other_service_name_can_be_verified():
    assert check(sign(service="peer"), service="peer").service == "peer"


def test_content_sha256_header():
    import hashlib
    body = b'{"repositoryName":"web"}'
    good = {"X-Amz-Target": TARGET, "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    assert check(sign(body=body, headers=good))
    # Signed claim that does not match the body actually sent.
    lying = {"X-Amz-Target": TARGET, "X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()}
    err = fails(sign(body=body, headers=lying), "InvalidSignatureException")
    assert "x-amz-content-sha256" in err.message
    unsigned = sign(body=body, headers={"X-Amz-Target": TARGET, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    fails(unsigned, "InvalidSignatureException")
    assert check(unsigned, allow_unsigned_payload=True)


def test_date_header_instead_of_x_amz_date():
    request = sign(headers={"X-Amz-Target": TARGET, "Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert "X-Amz-Date" not in dict(request.headers)
    assert check(request).signed_at == SIGNED_AT


def test_session_token_is_reported():
    request = sign(creds=Credentials(AKID, SECRET, "session-token-1"))
    assert check(request).session_token == "session-token-1"


def test_repeated_headers_are_joined_like_botocore():
    # botocore's AWSRequest cannot send a header twice, so compare the canonical form directly
    # with botocore's for an HTTPHeaders that holds duplicates (other SDKs/proxies may send them).
    from botocore.compat import HTTPHeaders

    pairs = [("Host", "h"), ("X-Dup", "one"), ("x-dup", "  two   words "), ("X-Amz-Date", "d")]
    theirs = HTTPHeaders()
    for k, v in pairs:
        theirs[k.lower()] = v  # email.message semantics: appends
    expected = SigV4Auth(Credentials(AKID, SECRET), "ecr", "us-east-1").canonical_headers(theirs) + "\n"
    ours = sigv4.canonical_headers(sigv4._header_lists(pairs), ["host", "x-amz-date", "x-dup"])
    assert ours == expected == "host:h\nx-amz-date:d\nx-dup:one,two words\n"


def test_presigned_query_form():
    request = sign("GET", "http://127.0.0.1:5000/v2/web/tags/list", b"", params={"n": "5"},
                   headers={}, presign_expires=300)
    assert "X-Amz-Signature=" in request.query_string
    assert check(request, now=SIGNED_AT + dt.timedelta(seconds=299)).access_key_id == AKID
    err = fails(request, "InvalidSignatureException", now=SIGNED_AT + dt.timedelta(seconds=301))
    assert err.message.startswith("Signature expired: 20261128T101530Z")
    tampered = SignedRequest(request.method, request.path, request.query_string.replace("n=5", "n=6"),
                             request.headers, request.body)
    fails(tampered, "InvalidSignatureException")
    too_long = request.query_string.replace("X-Amz-Expires=300", "X-Amz-Expires=604801")
    fails(SignedRequest(request.method, request.path, too_long, request.headers, b""),
          "IncompleteSignatureException")


def test_from_asgi_scope():
    wire = sign(url="http://127.0.0.1:5000/v2/a%20b/x", params={"q": "a b"})
    scope = {"type": "http", "method": wire.method, "path": "/v2/a b/x",
             "raw_path": wire.path.encode(), "query_string": wire.query_string.encode(),
             "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in wire.headers]}
    request = SignedRequest.from_asgi(scope, wire.body)
    assert request.path == "/v2/a%20b/x"
    assert check(request)
    # Without raw_path the decoded path is re-quoted.
    scope.pop("raw_path")
    assert check(SignedRequest.from_asgi(scope, wire.body))


def test_signing_keys_are_cached():
    sigv4.signing_key.cache_clear()
    request = sign()
    check(request)
    check(request)
    info = sigv4.signing_key.cache_info()
    assert info.misses == 1 and info.hits == 1


# --- properties ---------------------------------------------------------------------------

HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from(" \t"),
                       min_size=1, max_size=40).filter(lambda v: v.strip())
QUERY_TEXT = st.text(alphabet=st.sampled_from("aZ09-_.~ !*'();:@&=+$,/?#[]%\"<>{}|\\^`é€"), max_size=12)
SEGMENT = st.text(alphabet=st.sampled_from("az09-_.~!$&'()*+,;=:@%20"), min_size=1, max_size=8) \
    .filter(lambda s: s not in (".", ".."))


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=2048),
       value=HEADER_VALUE,
       params=st.dictionaries(QUERY_TEXT.filter(bool), QUERY_TEXT, max_size=4),
       segments=st.lists(SEGMENT, max_size=4),
       method=st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE"]))
def test_property_botocore_signatures_always_verify(body, value, params, segments, method):
    from urllib.parse import quote
    path = "/" + "/".join(quote(s, safe="!$&'()*+,;=:@%") for s in segments)
    headers = {"X-Amz-Target": TARGET, "X-Custom-Odd": value}
    request = sign(method, "http://127.0.0.1:5000" + path, body, headers=headers, params=params)
    assert check(request).access_key_id == AKID
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        fails(SignedRequest(request.method, request.path, request.query_string, request.headers, flipped),
              "InvalidSignatureException")


@settings(max_examples=100, deadline=None)
@given(value=HEADER_VALUE, other=HEADER_VALUE)
def test_property_signed_header_change_is_detected(value, other):
    request = sign(headers={"X-Amz-Target": TARGET, "X-Custom-Odd": value})
    changed = replace_header(request, "X-Custom-Odd", other)
    if " ".join(value.split()) == " ".join(other.split()):
        assert check(changed)  # whitespace-only difference: same canonical value
    else:
        fails(changed, "InvalidSignatureException")
