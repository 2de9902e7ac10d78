"""nextToken encoding and page sizes."""

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossreg.ecr.errors import EcrError
from crossreg.ecr.pagination import decode_token, encode_token, page_size, token_scope

SECRET = b"k" * 32
SCOPE = token_scope("ListImages", "111111111111", "us-east-1", "web")
INVALID = "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"


def assert_rejected(token, scope=SCOPE, secret=SECRET):
    with pytest.raises(EcrError) as exc:
        decode_token(secret, scope, token)
    assert exc.value.code == "InvalidParameterException"
    assert exc.value.message == INVALID
    assert exc.value.http_status == 400


def test_round_trip_and_url_safe():
    state = {"after": "sha256:abc/+=", "tag": "v1", "n": 3}
    token = encode_token(SECRET, SCOPE, state)
    assert decode_token(SECRET, SCOPE, token) == state
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_token_from_another_scope_or_secret_is_rejected():
    token = encode_token(SECRET, SCOPE, {"after": "x"})
    assert_rejected(token, scope=token_scope("ListImages", "111111111111", "us-east-1", "other"))
    assert_rejected(token, scope=token_scope("DescribeImages", "111111111111", "us-east-1", "web"))
    assert_rejected(token, scope=token_scope("ListImages", "222222222222", "us-east-1", "web"))
    assert_rejected(token, secret=b"another secret")


def test_scope_parts_cannot_be_shifted():
    # ("a/b", "c") and ("a", "b/c") must be different scopes.
    assert token_scope("Op", "a/b", "c") != token_scope("Op", "a", "b/c")
    assert token_scope("Op", "a|b", "c") != token_scope("Op", "a", "b|c")


def test_tampered_state_is_rejected():
    token = encode_token(SECRET, SCOPE, {"after": "a"})
    body, sig = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"after": "z"}).encode()).rstrip(b"=").decode()
    assert_rejected(f"{forged}.{sig}")
    assert_rejected(body)
    assert_rejected(body + ".")
    assert_rejected("")
    assert_rejected("garbage!!")
    assert_rejected(token + "x")


def test_signed_non_object_state_is_rejected():
    # Even a correctly signed payload must decode to an object.
    import hashlib
    import hmac
    payload = b"[1,2]"
    mac = hmac.new(SECRET, SCOPE.encode() + b"\0" + payload, hashlib.sha256).digest()
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    assert_rejected(f"{enc(payload)}.{enc(mac)}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_random_tokens_never_decode(token):
    assert_rejected(token)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=20), max_size=5),
       st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_rejected(state, position, replacement):
    token = encode_token(SECRET, SCOPE, state)
    assert decode_token(SECRET, SCOPE, token) == state
    i = position % len(token)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    new_char = alphabet[replacement % len(alphabet)]
    if new_char == token[i]:
        return
    mutated = token[:i] + new_char + token[i + 1:]
    try:
        assert decode_token(SECRET, SCOPE, mutated) == state  # only padding bits may change
    except EcrError as e:
        assert e.message == INVALID


def test_page_size():
    assert page_size(None) == 100
    assert page_size(1) == 1
    assert page_size(1000) == 1000
    assert page_size(None, default=50, maximum=50) == 50
    for bad, text in ((0, "greater than or equal to 1"), (1001, "less than or equal to 1000")):
        with pytest.raises(EcrError) as exc:
            page_size(bad)
        assert exc.value.message == (
            f"Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value {text}'")
    with pytest.raises(EcrError):
        page_size(51, maximum=50)
    with pytest.raises(EcrError):
        page_size(True)
