"""Registry authorization tokens (what GetAuthorizationToken returns and `docker login` uses).

The password is a signed, self-contained statement "account A, valid until T", so any API
process can check it without shared session state. The signing key lives in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database

TOKEN_LIFETIME_SECONDS = 12 * 3600
_PREFIX = "crt1"


class TokenInvalid(Exception):
    pass


class TokenExpired(Exception):
    pass


@dataclass(frozen=True)
class RegistryToken:
    account_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def server_secret(db: Database, name: str = "token_signing_key") -> bytes:
    """A random key created once per installation and shared by all its processes."""
    with db.read() as c:
        row = c.execute(select(s.settings.c.value).where(s.settings.c.key == name)).first()
    if row:
        return bytes.fromhex(row[0])
    try:
        with db.write() as c:
            c.execute(insert(s.settings).values(key=name, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process created it first
    with db.read() as c:
        return bytes.fromhex(c.execute(select(s.settings.c.value).where(s.settings.c.key == name)).scalar_one())


class TokenSigner:
    # Tokens that verified, so that a client's every request does not recompute the HMAC and
    # decode the payload again: a token is a pure function of this process's (immutable) key,
    # so a cached verification is exact. Expiry is still checked on every use.
    VERIFIED_CACHE_SIZE = 1024

    def __init__(self, key: bytes):
        self._key = key
        self._verified: dict[str, RegistryToken] = {}

    def issue(self, account_id: str, now: float | None = None) -> tuple[str, float]:
        """Returns (password, expires_at)."""
        expires = int((now or time.time()) + TOKEN_LIFETIME_SECONDS)
        payload = _b64(json.dumps({"a": account_id, "e": expires}, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._key, f"{_PREFIX}.{payload}".encode(), hashlib.sha256).digest())
        return f"{_PREFIX}.{payload}.{sig}", float(expires)

    def verify(self, password: str, now: float | None = None) -> RegistryToken:
        token = self._verified.get(password)
        if token is None:
            token = self._verify_signature(password)
            if len(self._verified) >= self.VERIFIED_CACHE_SIZE:
                self._verified.clear()  # simple bound; active clients re-verify once
            self._verified[password] = token
        if token.expires_at <= (now or time.time()):
            raise TokenExpired()
        return token

    def _verify_signature(self, password: str) -> RegistryToken:
        try:
            prefix, payload, sig = password.split(".")
        except ValueError:
            raise TokenInvalid("malformed token")
        if prefix != _PREFIX:
            raise TokenInvalid("malformed token")
        expected = _b64(hmac.new(self._key, f"{prefix}.{payload}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, sig):
            raise TokenInvalid("bad signature")
        try:
            data = json.loads(_unb64(payload))
            token = RegistryToken(str(data["a"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            raise TokenInvalid("malformed token")
        return token

    @staticmethod
    def basic_credentials(password: str) -> str:
        """ECR's authorizationToken: base64("AWS:<password>")."""
        return base64.b64encode(f"AWS:{password}".encode()).decode()
