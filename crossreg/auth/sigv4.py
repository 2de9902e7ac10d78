"""Server-side verification of AWS Signature Version 4 (the scheme boto3 and the AWS CLI use).

The canonical request is rebuilt exactly as botocore's `SigV4Auth` builds it, from the request
as it arrived on the wire:

* URI: the raw (still percent-encoded) path, dot segments and empty segments removed, then
  percent-encoded once more (non-S3 services sign the path double-encoded).
* Query: each name/value decoded ("+" meaning space, as botocore sends form-encoded params)
  and re-encoded keeping only RFC 3986 unreserved characters, sorted by name then value;
  `X-Amz-Signature` left out (presigned form).
* Headers: the ones named in SignedHeaders, lowercase names, values trimmed with inner runs of
  whitespace collapsed, repeated headers joined with ",".
* Payload: SHA-256 of the body. If the client sent X-Amz-Content-Sha256 that value is signed
  and must equal the body's hash; `UNSIGNED-PAYLOAD` is refused unless allowed, because then
  the body (the whole ECR request) would be unprotected.

Both the `Authorization: AWS4-HMAC-SHA256 ...` header form and the presigned query form
(X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
X-Amz-Signature) are accepted.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from crossreg.ecr import errors

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = _dt.timedelta(minutes=5)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # AWS's limit for X-Amz-Expires
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class SignedRequest:
    """An incoming HTTP request as seen on the wire.

    `path` is the raw, still percent-encoded path (ASGI `raw_path`), `query_string` the raw query
    without "?". `headers` is a mapping or a sequence of (name, value) pairs; use pairs when a
    header may repeat.
    """

    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_asgi(cls, scope: Mapping, body: bytes) -> SignedRequest:
        raw_path = scope.get("raw_path")
        if raw_path is None:
            path = quote(scope.get("path", "/"), safe="/~!$&'()*+,;=:@%")
        else:
            # surrogateescape keeps any non-UTF-8 byte, so the path re-encodes to the same bytes.
            path = raw_path.decode("utf-8", "surrogateescape")
        return cls(
            method=scope.get("method", "GET"),
            path=path,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            # HTTP header bytes are latin-1 (also how http.client sends botocore's str values).
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])],
            body=body,
        )


@dataclass(frozen=True)
class VerifiedCaller:
    access_key_id: str
    region: str
    service: str
    signed_at: _dt.datetime | None = None
    session_token: str | None = None  # X-Amz-Security-Token, if the client sent one


# --- canonical request pieces ----------------------------------------------------------------

def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, plus dropping empty segments (what botocore does for non-S3 services).
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and out else ""
    return lead + "/".join(out) + trail


def canonical_uri(raw_path: str) -> str:
    normalized = _remove_dot_segments(raw_path) if raw_path else "/"
    return quote(normalized.encode("utf-8", "surrogateescape"), safe="/~") or "/"


def _decode_component(text: str) -> bytes:
    # "+" on the wire is a space: botocore sends params form-encoded (urlencode) but signs them
    # as %20, and a real "+" arrives as %2B.
    return unquote_to_bytes(text.replace("+", " "))


def _encode_component(text: str) -> str:
    return quote(_decode_component(text), safe="-_.~")


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((_encode_component(k), _encode_component(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _header_lists(headers) -> dict[str, list[str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(name.strip().lower(), []).append(value)
    return out


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(headers: dict[str, list[str]], signed: list[str]) -> str:
    return "".join(f"{name}:{','.join(_trim(v) for v in headers.get(name, ()))}\n"
                   for name in signed)


@functools.lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning for one (secret, day, region, service); cached since it is the same all day."""
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _fmt(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime(_AMZ_DATE_FORMAT)


# --- parsing the signature parameters -----------------------------------------------------------

@dataclass
class _Auth:
    credential: str
    signed_headers: str
    signature: str
    amz_date: str | None
    expires: int | None  # presigned only
    query_pairs: list[tuple[str, str]]  # pairs that go into the canonical query


def _parse_authorization(value: str) -> tuple[str, str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.incomplete_signature(
            f"Unsupported AWS 'algorithm': '{algorithm}'. Authorization={value}")
    params: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, val = item.partition("=")
        if not eq:
            raise errors.incomplete_signature(
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization "
                f"header: '{value}'.")
        params[key.strip()] = val.strip()
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if not params.get(k)]
    if missing:
        raise errors.incomplete_signature(
            " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
            + f" Authorization={value}")
    return params["Credential"], params["SignedHeaders"], params["Signature"]


def _extract(request: SignedRequest, headers: dict[str, list[str]]) -> _Auth:
    pairs = _query_pairs(request.query_string)
    auth_header = headers.get("authorization")
    if auth_header:
        credential, signed_headers, signature = _parse_authorization(auth_header[0])
        amz = headers.get("x-amz-date")
        amz_date = amz[0].strip() if amz else None
        if amz_date is None and headers.get("date"):
            try:
                amz_date = _fmt(parsedate_to_datetime(headers["date"][0]))
            except (TypeError, ValueError, IndexError):
                amz_date = None
        return _Auth(credential, signed_headers, signature, amz_date, None, pairs)

    # Presigned form: the auth parameters travel in the query string (names are case-sensitive).
    q = {}
    for k, v in pairs:
        q.setdefault(_decode_component(k).decode("utf-8", "replace"),
                     _decode_component(v).decode("utf-8", "replace"))
    if "X-Amz-Algorithm" not in q and "X-Amz-Signature" not in q:
        raise errors.missing_authentication_token()
    if q.get("X-Amz-Algorithm") != ALGORITHM:
        raise errors.incomplete_signature(
            f"Unsupported AWS 'algorithm': '{q.get('X-Amz-Algorithm')}'.")
    missing = [k for k in ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
                           "X-Amz-Date") if not q.get(k)]
    if missing:
        raise errors.incomplete_signature(
            " ".join(f"AWS query-string parameters must include '{k}'." for k in missing))
    try:
        expires = int(q.get("X-Amz-Expires", "900"))
    except ValueError:
        raise errors.incomplete_signature("X-Amz-Expires should be a number") from None
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise errors.incomplete_signature(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_EXPIRES} seconds")
    signed_pairs = [(k, v) for k, v in pairs
                    if _decode_component(k) != b"X-Amz-Signature"]
    return _Auth(q["X-Amz-Credential"], q["X-Amz-SignedHeaders"], q["X-Amz-Signature"],
                 q["X-Amz-Date"], expires, signed_pairs)


def _parse_amz_date(value: str | None) -> _dt.datetime:
    if not value:
        raise errors.incomplete_signature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header.")
    try:
        if len(value) != 16:
            raise ValueError
        return _dt.datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise errors.incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See "
            "http://en.wikipedia.org/wiki/ISO_8601") from None


# --- verification -------------------------------------------------------------------------

def verify(request: SignedRequest, lookup_secret: Callable[[str], str | None],
           now: _dt.datetime, service: str = "ecr", *, region: str | None = None,
           max_skew: _dt.timedelta = MAX_SKEW,
           allow_unsigned_payload: bool = False) -> VerifiedCaller:
    """Check a SigV4-signed request; return who signed it or raise the AWS error.

    `lookup_secret(access_key_id)` returns the secret access key or None for an unknown key.
    `region`, if given, is the only region the credential scope may name. Checks happen in
    this order: presence, syntax, scope, time window, key, signature.
    """
    headers = _header_lists(request.headers)
    auth = _extract(request, headers)

    parts = auth.credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise errors.incomplete_signature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not "
            f"'{parts[-1]}'." if len(parts) >= 5 else
            f"Credential '{auth.credential}' must be <key>/<date>/<region>/<service>/"
            f"{TERMINATOR}.")
    access_key_id, scope_date, scope_region, scope_service, terminator = parts
    if terminator != TERMINATOR:
        raise errors.incomplete_signature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not "
            f"'{terminator}'.")

    signed_names = auth.signed_headers.split(";")
    lowered = [n.strip().lower() for n in signed_names]
    if "host" not in lowered and ":authority" not in lowered:
        raise errors.incomplete_signature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    signed_at = _parse_amz_date(auth.amz_date)
    if scope_service != service:
        raise errors.invalid_signature(f"Credential should be scoped to correct service: "
                                       f"'{service}'. ")
    if region is not None and scope_region != region:
        raise errors.invalid_signature(f"Credential should be scoped to a valid region, not "
                                       f"'{scope_region}'. ")
    if scope_date != auth.amz_date[:8]:
        raise errors.invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{auth.amz_date[:8]}', from '{auth.amz_date}'.")

    now = now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)
    skew_min = int(max_skew.total_seconds() // 60)
    if auth.expires is not None:
        if now > signed_at + _dt.timedelta(seconds=auth.expires):
            raise errors.invalid_signature(
                f"Signature expired: {auth.amz_date} is now earlier than "
                f"{_fmt(now - _dt.timedelta(seconds=auth.expires))} "
                f"({_fmt(now)} - {auth.expires} sec.)")
    elif signed_at < now - max_skew:
        raise errors.signature_expired(auth.amz_date, _fmt(now - max_skew), _fmt(now), skew_min)
    if signed_at > now + max_skew:
        raise errors.signature_not_yet_current(auth.amz_date, _fmt(now + max_skew), _fmt(now),
                                               skew_min)

    secret = lookup_secret(access_key_id)
    if secret is None:
        raise errors.unrecognized_client()

    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    payload_hash = body_hash
    if declared:
        payload_hash = declared[0].strip()
        if payload_hash == UNSIGNED_PAYLOAD:
            if not allow_unsigned_payload:
                raise errors.invalid_signature(
                    "UNSIGNED-PAYLOAD is not accepted; sign the request body.")
        elif payload_hash.lower() != body_hash:
            raise errors.invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.")

    canonical = "\n".join((
        request.method.upper(),
        canonical_uri(request.path),
        canonical_query(auth.query_pairs),
        canonical_headers(headers, lowered),
        auth.signed_headers,
        payload_hash,
    ))
    string_to_sign = "\n".join((
        ALGORITHM,
        auth.amz_date,
        f"{scope_date}/{scope_region}/{scope_service}/{TERMINATOR}",
        hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest(),
    ))
    key = signing_key(secret, scope_date, scope_region, scope_service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(),
                               auth.signature.encode("utf-8", "surrogateescape")):
        raise errors.invalid_signature()

    token = headers.get("x-amz-security-token")
    return VerifiedCaller(access_key_id=access_key_id, region=scope_region, service=scope_service,
                          signed_at=signed_at, session_token=token[0] if token else None)
