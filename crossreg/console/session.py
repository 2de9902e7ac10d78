"""Console sessions and CSRF tokens.

A session is a signed, self-contained cookie ("account A signed in with access key K, session
S, valid until T"), so any crossreg process of an installation accepts it: the HMAC key is a
per-installation secret kept in the database. Every request also checks that the access key
still belongs to the account, so a removed account's sessions end at once.

CSRF tokens are HMACs of the session id (or, before sign-in, of a random per-browser id kept in
an HTTP-only cookie): a token from another session never verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "crossreg_console_session"
ANON_COOKIE = "crossreg_console_anon"
FLASH_COOKIE = "crossreg_console_flash"
LANG_COOKIE = "crossreg_console_lang"
REGION_COOKIE = "crossreg_console_region"
SESSION_SECONDS = 12 * 3600
_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    session_id: str
    account_id: str
    access_key_id: str
    expires_at: float


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{payload}".encode(), hashlib.sha256).digest())

    # ---------------------------------------------------------------- signed values
    def sign(self, purpose: str, data: dict) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{_VERSION}.{payload}.{self._mac(purpose, payload)}"

    def unsign(self, purpose: str, value: str | None) -> dict | None:
        if not value:
            return None
        try:
            version, payload, mac = value.split(".")
        except ValueError:
            return None
        if version != _VERSION or not hmac.compare_digest(mac, self._mac(purpose, payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # ---------------------------------------------------------------- sessions
    def new_session(self, account_id: str, access_key_id: str, now: float | None = None) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(18), account_id, access_key_id,
                          (now or time.time()) + SESSION_SECONDS)
        cookie = self.sign("session", {"s": session.session_id, "a": account_id, "k": access_key_id,
                                       "e": int(session.expires_at)})
        return session, cookie

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        data = self.unsign("session", cookie)
        if data is None:
            return None
        try:
            session = Session(str(data["s"]), str(data["a"]), str(data["k"]), float(data["e"]))
        except (KeyError, TypeError, ValueError):
            return None
        if session.expires_at <= (now or time.time()):
            return None
        return session

    # ---------------------------------------------------------------- CSRF
    def csrf_token(self, binding: str) -> str:
        return self._mac("csrf", binding)

    def csrf_ok(self, binding: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(binding), token)


def new_anonymous_id() -> str:
    return secrets.token_urlsafe(18)
