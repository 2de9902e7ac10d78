"""Opaque, tamper-proof `nextToken`s and page sizes for the ECR list/describe operations.

A token is `base64url(json(state)) "." base64url(HMAC-SHA256(secret, scope \\0 json(state)))`,
without padding. The state (e.g. the last key returned) is whatever the handler needs to resume;
the scope binds the token to one call site, e.g. operation + account + region + repository, so
a token minted for one listing is rejected by every other one. Clients cannot forge or edit a
token, so handlers may trust the decoded state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from crossreg.ecr import errors

DEFAULT_PAGE_SIZE = 100  # ECR's page size when maxResults is omitted
MAX_PAGE_SIZE = 1000

_VERSION = 1


def token_scope(operation_name: str, *parts: str | None) -> str:
    """An unambiguous scope string, e.g. token_scope("ListImages", account, region, repo)."""
    return json.dumps([_VERSION, operation_name, *parts], separators=(",", ":"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, scope: str, payload: bytes) -> bytes:
    # The payload is compact JSON, which never holds a raw NUL, so the split is unambiguous.
    return hmac.new(secret, scope.encode() + b"\0" + payload, hashlib.sha256).digest()


def encode_token(secret: bytes, scope: str, state: dict[str, Any]) -> str:
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, scope, payload))}"


def decode_token(secret: bytes, scope: str, token: str) -> dict[str, Any]:
    """The state of a token minted by `encode_token` with the same secret and scope; anything
    else raises InvalidParameterException at 'nextToken'."""
    try:
        body, _, sig = token.partition(".")
        payload, mac = _unb64(body), _unb64(sig)
        # The signature check comes before any parsing of attacker-controlled JSON.
        if not sig or not hmac.compare_digest(mac, _mac(secret, scope, payload)):
            raise ValueError("bad signature")
        state = json.loads(payload)
        if not isinstance(state, dict):
            raise ValueError("state is not an object")
        return state
    except (ValueError, TypeError, binascii.Error, UnicodeError, AttributeError):
        raise errors.invalid_next_token() from None


def page_size(max_results: int | None, *, default: int = DEFAULT_PAGE_SIZE,
              maximum: int = MAX_PAGE_SIZE) -> int:
    """maxResults -> page size: `default` when omitted, else 1..maximum (model validation
    already rejects out-of-range values; this guards direct callers)."""
    if max_results is None:
        return default
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise errors.invalid_parameter("maxResults", "Member must be an integer")
    if max_results > maximum:
        raise errors.invalid_parameter("maxResults",
                                       f"Member must have value less than or equal to {maximum}")
    if max_results < 1:
        raise errors.invalid_parameter("maxResults",
                                       "Member must have value greater than or equal to 1")
    return max_results
